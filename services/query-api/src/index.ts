export * from './app.ts';
export * from './config.ts';
export * from './overview-aggregates.ts';
export * from './push/sinks.ts';
export * from './push/webhooks.ts';
export * from './stores/document-store.ts';
export * from './stores/domain.ts';
