export * from './embedded-store.ts';
export * from './finding-filter.ts';
export * from './ip-range.ts';
export * from './qdrant-store.ts';
export * from './store.ts';
export { readPointLog } from './point-log.ts';
export * from './finding-rows.ts';
