import { KafkaBus } from '@tidewatch/bus';
import { QdrantStore } from '@tidewatch/vector-store';
import { createApp } from './app.ts';
import { ConfigError, loadConfig, maskedConfig } from './config.ts';

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
  // Production wiring: Kafka when brokers are configured, Qdrant when QDRANT_URL is set; otherwise
  // the embedded vector store under TIDEWATCH_DATA_DIR and no consumers.
  const bus = config.kafkaBrokers.length
    ? new KafkaBus({ brokers: config.kafkaBrokers, clientId: 'query-api' })
    : undefined;
  const qdrantUrl = process.env['QDRANT_URL'];
  const store = qdrantUrl
    ? new QdrantStore({
        url: qdrantUrl,
        ...(process.env['QDRANT_API_KEY'] ? { apiKey: process.env['QDRANT_API_KEY'] } : {}),
        space: `d${config.embeddingDim}`,
        dim: config.embeddingDim,
      })
    : undefined;
  // Topic overrides (isolated deployments and the e2e suite); defaults are the contract's names.
  const topics = {
    sequences: process.env['TIDEWATCH_SEQUENCES_TOPIC'] || 'sequences.v1',
    findings: process.env['TIDEWATCH_FINDINGS_TOPIC'] || 'findings.v1',
    webhookDeadLetter: process.env['TIDEWATCH_WEBHOOKS_DLQ_TOPIC'] || 'webhooks.v1.dlq',
  };
  const app = await createApp(config, {
    topics,
    ...(bus ? { bus } : {}),
    ...(store ? { store } : {}),
  });
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
    app
      .stop()
      .then(() => Promise.all([bus?.close(), store?.close()]))
      .then(
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
