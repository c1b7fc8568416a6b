export { createApp, type SequencerApp, type SequencerDeps } from './app.ts';
export { ConfigError, loadSequencerConfig, type SequencerConfig } from './config.ts';
export { IDLE_WATERMARK, MemoryCoordination, type SequencerCoordination } from './coordination.ts';
export { createSequencerMetrics, type SequencerMetrics } from './metrics.ts';
export { connectRedisState, RedisSequencerState, SequencerKeys } from './redis-state.ts';
