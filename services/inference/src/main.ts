import { createLogger } from '@tidewatch/observability';
import { createApp } from './app.ts';
import { ConfigError, describeConfig, loadInferenceConfig } from './config.ts';

const logger = createLogger({ name: 'inference' });

let config: ReturnType<typeof loadInferenceConfig>;
try {
  config = loadInferenceConfig();
  if (config.kafkaBrokers.length === 0)
    throw new ConfigError('KAFKA_BROKERS', 'must list at least one broker');
} catch (e) {
  process.stderr.write(`tidewatch-inference: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
}
logger.info({ config: describeConfig(config) }, 'configuration');

const app = createApp(config, { logger });
const SHUTDOWN_DEADLINE_MS = 30_000;
let shuttingDown = false;

async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  try {
    await app.stop();
    process.exit(0);
  } catch (e) {
    logger.error({ err: e }, 'shutdown failed');
    process.exit(1);
  }
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
// SIGHUP: hot-swap to model/versions/DEFAULT (re-read), between batches.
process.on('SIGHUP', () => {
  app.swapModel().catch((e: unknown) => logger.error({ err: e }, 'model swap on SIGHUP failed'));
});

app.start().catch((e: unknown) => {
  logger.fatal({ err: e }, 'inference failed to start');
  process.exit(1);
});
