export * from './batch-processor.ts';
export * from './bus-metrics.ts';
export * from './bus.ts';
export * from './errors.ts';
export * from './in-process-bus.ts';
export * from './kafka-bus.ts';
export * from './partitioner.ts';
export * from './create-bus.ts';
