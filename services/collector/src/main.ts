import { runMain } from '@tidewatch/observability';
import { createApp } from './app.ts';
import { collectorConfigFromEnv } from './config.ts';

// Process concerns only: config from the environment, logger, /metrics /livez /readyz, signals.
await runMain({
  name: 'collector',
  loadConfig: collectorConfigFromEnv,
  healthPort: (config) => config.httpPort ?? undefined,
  stopDeadlineMs: 30_000,
  createApp: (config, { logger, metrics }) => {
    // runMain serves the health endpoints on the metrics registry; the app registers into it.
    const app = createApp({ ...config, httpPort: null }, { logger, registry: metrics.registry });
    return { start: () => app.start(), stop: () => app.stop(), isReady: () => app.ready };
  },
});
