import { createLogger } from '@tidewatch/observability';
import { createApp } from './app.ts';
import { ConfigError, collectorConfigFromEnv } from './config.ts';

const logger = createLogger({ name: 'collector' });
let config: ReturnType<typeof collectorConfigFromEnv>;
try {
  config = collectorConfigFromEnv();
} catch (e) {
  if (e instanceof ConfigError) {
    logger.fatal(e.message);
    process.stderr.write(`collector: ${e.message}\n`);
    process.exit(2);
  }
  throw e;
}
logger.info({ config }, 'effective configuration');
const app = createApp(config, { logger });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, config.stopDeadlineMs + 5000);
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

try {
  await app.start();
} catch (e) {
  logger.fatal({ err: e }, 'collector failed to start');
  await app.stop().catch(() => undefined);
  process.exit(1);
}
