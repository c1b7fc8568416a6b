import { createServer } from 'node:http';
import { createLogger } from '@tidewatch/observability';
import { createApp } from './app.ts';
import { ConfigError, loadSequencerConfig } from './config.ts';

// Process concerns only: configuration, logger, HTTP probes and metrics, signals.
const logger = createLogger({ name: 'sequencer' });
let config: ReturnType<typeof loadSequencerConfig>;
try {
  config = loadSequencerConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`sequencer: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
logger.info(
  { config: { ...config, redisUrl: config.redisUrl ? '[set]' : undefined } },
  'effective configuration',
);

const app = createApp(config, { logger });
const server = createServer((req, res) => {
  if (req.url === '/livez') {
    res.writeHead(200).end('ok');
  } else if (req.url === '/readyz') {
    res.writeHead(app.ready() ? 200 : 503).end(app.ready() ? 'ready' : 'not ready');
  } else if (req.url === '/metrics') {
    app.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': app.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  } else {
    res.writeHead(404).end();
  }
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, 30_000);
  deadline.unref();
  try {
    await app.stop();
    server.close();
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

if (config.httpPort > 0) server.listen(config.httpPort);
try {
  await app.start();
} catch (error) {
  logger.fatal({ err: error }, 'sequencer failed to start');
  process.exit(1);
}
