import { ConfigError, loadConfig, maskedConfig } from './config.ts';
import { createApp } from './app.ts';

/** Process concerns only: configuration, signals, exit codes. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`query-api: bad configuration: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const app = await createApp(config);
  app.fastify.log.info({ config: maskedConfig(config) }, 'effective configuration');
  if (!config.adminKey)
    app.fastify.log.warn(
      'no TIDEWATCH_ADMIN_KEY / TIDEWATCH_ADMIN_KEY_FILE: only existing API keys can sign in',
    );
  await app.start();
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.fastify.log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      console.error('query-api: shutdown deadline passed, exiting');
      process.exit(1);
    }, 25_000);
    deadline.unref();
    app.stop().then(
      () => process.exit(0),
      (e) => {
        console.error('query-api: shutdown failed', e);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

await main();
