export { type CollectorApp, type CollectorDeps, type CollectorPorts, createApp } from './app.ts';
export { CollectorMetrics } from './collector-metrics.ts';
export { type CollectorConfig, ConfigError, collectorConfigFromEnv, DEFAULT_CONFIG } from './config.ts';
export { ExporterAllowList } from './exporter-allow-list.ts';
export { FlowPublisher, type FlowPublisherOptions, type PublisherEvents } from './flow-publisher.ts';
export { udpSocketDrops } from './socket-drops.ts';
