import { join } from 'node:path';
import {
  type BatchContext,
  type BusConsumer,
  type BusMessage,
  type BusProducer,
  KafkaBus,
  type MessageBus,
} from '@tidewatch/bus';
import {
  type ContractCodecs,
  createCodecs,
  SequenceBatch,
  SequenceReader,
  UnknownSchemaError,
} from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository, readManifest, type ScoredRun } from '@tidewatch/detector';
import { componentLogger, defaultLogger, type Logger } from '@tidewatch/observability';
import {
  BUILTIN_RULES,
  EmbeddedSuppressionStore,
  RedisSuppressionStore,
  SuppressionMatcher,
  type SuppressionStore,
} from '@tidewatch/suppression';
import { EmbeddedStore, QdrantStore, type VectorStore } from '@tidewatch/vector-store';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { InferenceConfig } from './config.ts';
import { FindingPipeline } from './finding-pipeline.ts';
import { InferenceGrpcServer, modelInfo } from './grpc-server.ts';
import { InferenceHttpServer } from './http-server.ts';
import { latestIndexById } from './latest-by-id.ts';
import { createInferenceMetrics, type InferenceMetrics } from './metrics.ts';

export interface InferenceDeps {
  bus?: MessageBus;
  store?: VectorStore;
  suppressions?: SuppressionStore;
  repository?: ModelRepository;
  logger?: Logger;
  registry?: Registry;
  /** Serve gRPC and HTTP (default true; the one-process mode may leave them to the query API). */
  serve?: boolean;
}

export interface InferenceApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
  readonly registry: Registry;
  readonly metrics: InferenceMetrics;
  /** Available after start(). */
  readonly detector: Detector;
  readonly store: VectorStore;
  readonly ports: { http: number; grpc: number };
  /** Hot-swap to `version` (default: the repository's DEFAULT); between batches. */
  swapModel(version?: string): Promise<void>;
  rollbackModel(): Promise<void>;
}

/**
 * sequences.v1 as inference reads it (SEQUENCE_SCORING_SCHEMA: flows without `attack` and `origin`)
 * appended to `batch`, messages of the contract's own schema by hand into its columns. Synchronous
 * for writer schemas already seen (the hot path); a new schema id asks the registry. A refused
 * message leaves the batch as it was.
 */
function decodeSequence(
  reader: SequenceReader,
  batch: SequenceBatch,
  value: Buffer,
): number | Promise<number> {
  try {
    return reader.decodeInto(batch, value);
  } catch (e) {
    if (e instanceof UnknownSchemaError) return reader.decodeIntoAsync(batch, value);
    throw e;
  }
}

export function createApp(config: InferenceConfig, deps: InferenceDeps = {}): InferenceApp {
  const logger = componentLogger(deps.logger ?? defaultLogger(), 'inference');
  const registry = deps.registry ?? new Registry();
  const metrics = createInferenceMetrics(registry);
  const repository = deps.repository ?? new ModelRepository(config.modelDir);
  const ownsBus = !deps.bus;
  const ownsStore = !deps.store;
  const serve = deps.serve ?? true;

  let host: ModelHost | undefined;
  let detector: Detector | undefined;
  let store: VectorStore | undefined = deps.store;
  let bus: MessageBus | undefined = deps.bus;
  let redis: Redis | undefined;
  let suppressions: SuppressionStore | undefined = deps.suppressions;
  let producer: BusProducer | undefined;
  let consumer: BusConsumer | undefined;
  let codecs: ContractCodecs | undefined;
  let sequenceReader: SequenceReader | undefined;
  let pipeline: FindingPipeline | undefined;
  let grpcServer: InferenceGrpcServer | undefined;
  let httpServer: InferenceHttpServer | undefined;
  let lagTimer: NodeJS.Timeout | undefined;
  let retentionTimer: NodeJS.Timeout | undefined;
  let consuming = false;
  let stopping = false;
  const ports = { http: 0, grpc: 0 };

  const setModelGauge = () => {
    metrics.modelInfo.reset();
    if (host) metrics.modelInfo.set({ version: host.current.version, device: host.current.device }, 1);
  };

  async function swapModel(version?: string): Promise<void> {
    if (!host || !store) throw new Error('inference is not started');
    const target = version ?? (await repository.defaultVersion());
    const manifest = await readManifest(repository.dirOf(target));
    const dim = (store as { dim?: number }).dim;
    if (dim !== undefined && manifest.embedding_dim !== dim) {
      metrics.modelSwaps.inc({ outcome: 'refused' });
      throw new Error(
        `model ${target} embeds in ${manifest.embedding_dim} dimensions but the store holds ${dim}: a new embedding space needs its own collection (restart with the new model)`,
      );
    }
    try {
      const prev = host.current.version;
      await host.swap(target);
      metrics.modelSwaps.inc({ outcome: 'swapped' });
      setModelGauge();
      logger.info({ from: prev, to: target }, 'model swapped');
    } catch (e) {
      metrics.modelSwaps.inc({ outcome: 'failed' });
      throw e;
    }
  }

  async function rollbackModel(): Promise<void> {
    if (!host) throw new Error('inference is not started');
    const from = host.current.version;
    await host.rollback();
    metrics.modelSwaps.inc({ outcome: 'rolled_back' });
    setModelGauge();
    logger.info({ from, to: host.current.version }, 'model rolled back');
  }

  /** Decoded batches not in use (a handler takes one and gives it back: its buffers are kept). */
  const idleBatches: SequenceBatch[] = [];

  /**
   * A consumer batch decoded and its model runs dispatched while the batch before it is still being
   * stored (ConsumerOptions.prepare), so the model worker is not idle between batches. No output:
   * undecodable messages are only noted, the handler dead-letters them.
   */
  interface PreparedBatch {
    batch: SequenceBatch;
    refused: { message: BusMessage; error: Error }[];
    scoring: Promise<ScoredRun>[];
  }

  function prepare(messages: BusMessage[]): PreparedBatch | undefined {
    if (!pipeline || !sequenceReader) return undefined;
    const batch = idleBatches.pop() ?? new SequenceBatch();
    batch.clear();
    const refused: PreparedBatch['refused'] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as BusMessage;
      let at: number;
      try {
        at = sequenceReader.decodeInto(batch, m.value);
      } catch (e) {
        // A writer schema not seen yet needs the registry (async): the handler decodes this batch.
        if (e instanceof UnknownSchemaError) {
          batch.clear();
          idleBatches.push(batch);
          return undefined;
        }
        refused.push({ message: m, error: e instanceof Error ? e : new Error(String(e)) });
        continue;
      }
      if (batch.flowsOf(at) === 0) {
        const id = batch.ids[at] as string;
        batch.dropLast();
        refused.push({ message: m, error: new Error(`sequence ${id} has no flows`) });
      }
    }
    const latest = latestIndexById(batch.ids, batch.count);
    const scoring = pipeline.scoreBatch(latest.length === batch.count ? batch : batch.select(latest));
    if (!scoring) {
      batch.clear();
      idleBatches.push(batch);
      return undefined;
    }
    return { batch, refused, scoring };
  }

  async function handle(messages: BusMessage[], ctx: BatchContext): Promise<void> {
    const prepared = ctx.prepared as PreparedBatch | undefined;
    if (prepared && pipeline) {
      for (const { message, error } of prepared.refused) await refuse(message, error, ctx);
      await pipeline.storeScored(prepared.scoring);
      prepared.batch.clear();
      idleBatches.push(prepared.batch);
      return;
    }
    const batch = idleBatches.pop() ?? new SequenceBatch();
    batch.clear();
    await handleInto(batch, messages, ctx);
    // Reused only after success: when scoring failed, later model runs may still read it.
    batch.clear();
    idleBatches.push(batch);
  }

  async function refuse(m: BusMessage, e: unknown, ctx: BatchContext): Promise<void> {
    metrics.deadLettered.inc();
    logger.warn({ err: e, partition: m.partition, offset: m.offset }, 'undecodable sequence sent to the DLQ');
    await ctx.deadLetter(m, e);
  }

  async function handleInto(batch: SequenceBatch, messages: BusMessage[], ctx: BatchContext): Promise<void> {
    if (!codecs || !pipeline || !sequenceReader) throw new Error('inference is not started');
    // An index loop: across the `await` below, a for-of iterator would be allocated with its results.
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i] as BusMessage;
      try {
        const decoded = decodeSequence(sequenceReader, batch, m.value);
        // Only an unknown writer schema needs the registry: no microtask per message otherwise.
        const at = decoded instanceof Promise ? await decoded : decoded;
        if (batch.flowsOf(at) === 0) {
          const id = batch.ids[at] as string;
          batch.dropLast();
          throw new Error(`sequence ${id} has no flows`);
        }
      } catch (e) {
        await refuse(m, e, ctx);
      }
    }
    const latest = latestIndexById(batch.ids, batch.count);
    await pipeline.processBatch(latest.length === batch.count ? batch : batch.select(latest));
  }

  async function applyRetention(): Promise<void> {
    if (!store || config.retentionMs <= 0) return;
    try {
      const deleted = await store.deleteOlderThan(Date.now() - config.retentionMs);
      if (deleted > 0) logger.info({ deleted }, 'retention: deleted old points');
    } catch (e) {
      logger.warn({ err: e }, 'retention pass failed');
    }
  }

  async function pollLag(): Promise<void> {
    if (!consumer) return;
    try {
      for (const p of await consumer.lag())
        metrics.consumerLag.set({ partition: String(p.partition) }, p.lag);
    } catch (e) {
      logger.debug({ err: e }, 'lag poll failed');
    }
  }

  const app: InferenceApp = {
    registry,
    metrics,
    ports,
    get detector() {
      if (!detector) throw new Error('inference is not started');
      return detector;
    },
    get store() {
      if (!store) throw new Error('inference is not started');
      return store;
    },
    ready: () => consuming && !stopping,
    swapModel,
    rollbackModel,

    async start() {
      host = await ModelHost.open(repository, config.modelVersion, {
        device: config.device,
        ...(config.intraOpThreads ? { intraOpThreads: config.intraOpThreads } : {}),
        maxBatch: config.batchSize,
        worker: config.modelWorker,
        allowSpinning: config.threadSpinning,
      });
      setModelGauge();
      detector = new Detector(host, {
        flagThreshold: config.flagThreshold,
        neighbourK: config.neighbours,
        subScores: config.subScores,
        flagSubScores: config.flagSubScores,
        flagThresholds: config.flagThresholds,
      });
      const dim = host.current.manifest.embedding_dim;
      if (!store) {
        store = config.qdrantUrl
          ? new QdrantStore({
              url: config.qdrantUrl,
              ...(config.qdrantApiKey ? { apiKey: config.qdrantApiKey } : {}),
              space: `d${dim}`,
              dim,
            })
          : new EmbeddedStore({ dir: join(config.dataDir, 'inference', `vectors-d${dim}`), dim });
      }
      await store.init();
      if (!suppressions) {
        if (config.redisUrl) {
          redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
          await redis.connect();
          suppressions = new RedisSuppressionStore(redis, config.namespace);
        } else {
          suppressions = new EmbeddedSuppressionStore(join(config.dataDir, 'query-api'));
        }
      }
      codecs = await createCodecs();
      sequenceReader = new SequenceReader(codecs.sequences);
      bus ??= new KafkaBus({ brokers: config.kafkaBrokers, clientId: config.clientId, logger });
      await bus.ensureTopics([{ topic: config.sequencesTopic }, { topic: config.findingsTopic }]);
      producer = await bus.producer();
      pipeline = new FindingPipeline({
        detector,
        store,
        producer,
        findingsCodec: codecs.findings,
        findingsTopic: config.findingsTopic,
        suppression: new SuppressionMatcher(suppressions, config.suppressionRefreshMs),
        builtinRules: config.builtinSuppressions ? BUILTIN_RULES : [],
        metrics,
        batchSize: config.batchSize,
        maxWaitMs: config.maxWaitMs,
      });
      if (serve) {
        const d = detector;
        const s = store;
        grpcServer = new InferenceGrpcServer({
          detector: d,
          store: s,
          adminKey: config.adminKey,
          ready: () => app.ready(),
          swap: swapModel,
          rollback: rollbackModel,
        });
        ports.grpc = await grpcServer.listen(config.grpcPort);
        httpServer = new InferenceHttpServer({
          registry,
          live: () => !stopping,
          ready: () => app.ready(),
          adminKey: config.adminKey,
          modelInfo: () => modelInfo(d),
          swap: swapModel,
          rollback: rollbackModel,
        });
        ports.http = await httpServer.listen(config.httpPort);
      }
      consumer = bus.consumer({
        groupId: config.groupId,
        topics: [config.sequencesTopic],
        commitMode: 'after-batch',
        maxBatchSize: config.maxPollRecords,
        partitionConcurrency: config.partitionConcurrency,
        ...(config.prepareAhead ? { prepare } : {}),
        sessionTimeoutMs: config.sessionTimeoutMs,
      });
      await consumer.run(handle);
      consuming = true;
      grpcServer?.notifyHealth();
      lagTimer = setInterval(() => void pollLag(), 5_000);
      lagTimer.unref();
      if (config.retentionMs > 0) {
        void applyRetention();
        retentionTimer = setInterval(() => void applyRetention(), 3_600_000);
        retentionTimer.unref();
      }
      logger.info(
        { model: host.current.version, device: host.current.device, grpc: ports.grpc, http: ports.http },
        'inference started',
      );
    },

    async stop() {
      if (stopping) return;
      stopping = true;
      grpcServer?.notifyHealth();
      if (lagTimer) clearInterval(lagTimer);
      if (retentionTimer) clearInterval(retentionTimer);
      await consumer?.stop();
      consuming = false;
      await producer?.close();
      await grpcServer?.close();
      await httpServer?.close();
      if (ownsStore) await store?.close();
      await host?.close();
      if (ownsBus) await bus?.close();
      if (redis) redis.disconnect();
      logger.info('inference stopped');
    },
  };
  return app;
}
