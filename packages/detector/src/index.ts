export * from './attack-names.ts';
export * from './detector.ts';
export * from './feature-baseline.ts';
export * from './finding-builder.ts';
export * from './manifest.ts';
export * from './model-host.ts';
export * from './model-repository.ts';
export * from './onnx-model.ts';
