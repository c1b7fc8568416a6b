export * from './health-server.ts';
export * from './logger.ts';
export * from './metrics.ts';
export * from './run-main.ts';
