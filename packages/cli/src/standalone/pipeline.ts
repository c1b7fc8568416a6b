import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InProcessBus } from '@tidewatch/bus';
import {
  type CollectorApp,
  collectorConfigFromEnv,
  createApp as createCollector,
} from '@tidewatch/collector';
import { ModelRepository, readManifest } from '@tidewatch/detector';
import { importFiles } from '@tidewatch/flow-importers';
import { createApp as createInference, type InferenceApp, loadInferenceConfig } from '@tidewatch/inference';
import { createLogger } from '@tidewatch/observability';
import {
  createApp as createQueryApi,
  loadConfig as loadQueryApiConfig,
  type QueryApi,
} from '@tidewatch/query-api';
import { createApp as createSequencer, loadSequencerConfig, type SequencerApp } from '@tidewatch/sequencer';
import { InMemoryEntityStats } from '@tidewatch/sequencing';
import { EmbeddedSuppressionStore } from '@tidewatch/suppression';
import { EmbeddedStore } from '@tidewatch/vector-store';
import { resolveAdminKey } from './admin-key.ts';

const TOPIC_PARTITIONS = 4;

export interface StandaloneOptions {
  env?: NodeJS.ProcessEnv;
}

export interface Standalone {
  readonly dataDir: string;
  readonly adminKey: { key: string; source: string; created: boolean };
  readonly apiUrl: string;
  readonly ports: { http: number; netflow: number | null; ipfix: number | null; sflow: number | null };
  readonly collector: CollectorApp;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Imports flow files into the pipeline (as `tidewatch import` does in Kafka mode). */
  importFiles(files: string[], format: string): Promise<{ rows: number; imported: number; rejected: number }>;
}

/**
 * The whole pipeline in one process: the same four apps as the microservices, wired to an
 * in-process bus (persisted under the data dir) instead of Kafka, the embedded vector store
 * instead of Qdrant, and in-memory / file-backed state instead of Redis. Moving to Kafka mode is
 * configuration: run the services' own mains with KAFKA_BROKERS, REDIS_URL and QDRANT_URL.
 */
export async function createStandalone(opts: StandaloneOptions = {}): Promise<Standalone> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) };
  // The embedded mode never talks to external services, whatever the shell exports.
  for (const name of ['KAFKA_BROKERS', 'REDIS_URL', 'QDRANT_URL']) delete env[name];
  const dataDir = resolve(env['TIDEWATCH_DATA_DIR'] ?? './data');
  env['TIDEWATCH_DATA_DIR'] = dataDir;
  mkdirSync(dataDir, { recursive: true });
  const adminKey = resolveAdminKey(env, dataDir);
  env['TIDEWATCH_ADMIN_KEY'] = adminKey.key;
  delete env['TIDEWATCH_ADMIN_KEY_FILE'];

  const logger = createLogger({ name: 'tidewatch' });
  const bus = new InProcessBus({ dir: join(dataDir, 'bus'), defaultPartitions: TOPIC_PARTITIONS, logger });
  const inferenceConfig = loadInferenceConfig(env);
  const repository = new ModelRepository(inferenceConfig.modelDir);
  const manifest = await readManifest(
    repository.dirOf(inferenceConfig.modelVersion ?? (await repository.defaultVersion())),
  );
  const store = new EmbeddedStore({
    dir: join(dataDir, `vectors-d${manifest.embedding_dim}`),
    dim: manifest.embedding_dim,
  });
  const suppressions = new EmbeddedSuppressionStore(join(dataDir, 'query-api'));

  const queryApi: QueryApi = await createQueryApi(
    {
      ...loadQueryApiConfig(env),
      httpPort: Number(env['TIDEWATCH_HTTP_PORT'] ?? 8080),
      redisUrl: null,
      kafkaBrokers: [],
      embeddingDim: manifest.embedding_dim,
    },
    {
      store,
      bus,
      modelRepository: repository,
      // inference and collector exist by the time a request can arrive (they are built below, before start).
      modelControl: {
        active: () => (inference.ready() ? inference.detector.model.version : null),
        activate: (version) => inference.swapModel(version),
      },
      status: () => {
        if (!collector.ready) return {};
        const decoded = collector.decoder.snapshot();
        return {
          exporters: decoded.domains,
          collector: {
            ...decoded.totals,
            errors_by_reason: decoded.errorsByReason,
            ...collector.metrics.counters,
            socket_drops: collector.metrics.socketDrops(),
            ports: collector.ports,
          },
        };
      },
    },
  );
  const registry = queryApi.services.metrics;
  const sequencerConfig = {
    ...loadSequencerConfig(env),
    redisUrl: undefined,
    kafkaBrokers: [],
    flowsPartitions: TOPIC_PARTITIONS,
    sequencesPartitions: TOPIC_PARTITIONS,
  };
  const sequencer: SequencerApp = createSequencer(sequencerConfig, {
    bus,
    entityStats: new InMemoryEntityStats(),
    logger,
    registry,
  });
  const inference: InferenceApp = createInference(
    { ...inferenceConfig, kafkaBrokers: [], redisUrl: undefined, qdrantUrl: undefined, dataDir },
    { bus, store, suppressions, repository, logger, registry, serve: false },
  );
  const collector: CollectorApp = createCollector(
    { ...collectorConfigFromEnv(env), httpPort: null, kafkaBrokers: [], topicPartitions: TOPIC_PARTITIONS },
    { bus, logger, registry },
  );

  // Start downstream first so nothing produced waits for a consumer; stop in reverse.
  const apps = [queryApi, inference, sequencer, collector] as const;
  let apiUrl = '';
  return {
    dataDir,
    adminKey,
    collector,
    get apiUrl() {
      return apiUrl;
    },
    get ports() {
      return {
        http: Number(new URL(queryApi.url).port),
        netflow: collector.ports.netflow ?? null,
        ipfix: collector.ports.ipfix ?? null,
        sflow: collector.ports.sflow ?? null,
      };
    },
    async start() {
      for (const app of apps) await app.start();
      apiUrl = queryApi.url;
    },
    async stop() {
      for (const app of [...apps].reverse()) await app.stop();
      await bus.close();
      await store.close();
    },
    async importFiles(files, format) {
      const summaries = await importFiles(files, format as never, collector.publisher);
      await collector.publisher.flush();
      return summaries.reduce(
        (t, s) => ({
          rows: t.rows + s.rows,
          imported: t.imported + s.imported,
          rejected: t.rejected + s.rejected,
        }),
        { rows: 0, imported: 0, rejected: 0 },
      );
    },
  };
}
