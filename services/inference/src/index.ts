export * from './app.ts';
export * from './config.ts';
export * from './finding-pipeline.ts';
export * from './grpc-server.ts';
export * from './http-server.ts';
export * from './metrics.ts';
export * from './micro-batcher.ts';
