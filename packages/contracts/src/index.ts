export * from './codec.ts';
export * from './avro-bounds.ts';
export * from './finding.ts';
export * from './flow.ts';
export * from './sequence.ts';
export * from './ip-address.ts';
export * from './sequence-reader.ts';
export * from './finding-writer.ts';
