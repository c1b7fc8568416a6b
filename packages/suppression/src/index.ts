export * from './builtin-rules.ts';
export * from './embedded-suppression-store.ts';
export * from './redis-suppression-store.ts';
export * from './rules.ts';
export * from './suppression-matcher.ts';
