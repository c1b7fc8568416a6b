import type { ConnectionOptions } from 'node:tls';
import { componentLogger, defaultLogger, type Logger, type ServiceMetrics } from '@tidewatch/observability';
import {
  type Admin,
  type Consumer,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  logLevel,
  type LogEntry,
  type OffsetsByTopicPartition,
  Partitioners,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import { BusMetrics } from './bus-metrics.ts';
import { BatchProcessor, deliveryOptions } from './batch-processor.ts';
import type {
  BatchHandler,
  BusConsumer,
  BusMessage,
  BusProducer,
  ConsumerOptions,
  MessageBus,
  OutgoingMessage,
  RecordSink,
  TopicPartitionOffset,
  TopicSpec,
} from './bus.ts';
import { deadLetterHeaders, deadLetterTopic, describeError, errorClass } from './errors.ts';
import { sendCollected } from './record-sink.ts';
import { createMissingTopics } from './wire/admin.ts';
import { Cluster, type ClusterSettings, isRetriable, sleep } from './wire/cluster.ts';
import { WireConsumer } from './wire/consumer.ts';
import { groupLag } from './wire/offsets.ts';
import { WireProducer } from './wire/producer.ts';

export interface KafkaSasl {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

export interface KafkaBusSettings {
  brokers: string[];
  clientId: string;
  /** TLS: true for the system CAs, or explicit options (ca, cert, key). */
  ssl?: boolean | ConnectionOptions;
  sasl?: KafkaSasl;
  logger?: Logger;
  /** Registers the bus metrics (BusMetrics) in this service's registry. */
  metrics?: ServiceMetrics;
  /** Partitions of topics ensureTopics creates without an explicit count (default 4). */
  defaultPartitions?: number;
  /** How long stop() may take to drain before it disconnects anyway (default 30 s). */
  stopDeadlineMs?: number;
  /** Retries of a failed request before it fails (default 8, with backoff from 100 ms). */
  retries?: number;
  /** kafkajs' own log level forwarded to pino (default 'warn'). */
  clientLogLevel?: 'error' | 'warn' | 'info' | 'debug';
  /**
   * The client for produce, fetch and commit: 'wire' (this package's Kafka protocol client,
   * src/wire/) or 'kafkajs'. Topic administration uses kafkajs either way.
   */
  client?: 'wire' | 'kafkajs';
}

/** The client KafkaBus uses when settings.client is not given. */
export const DEFAULT_KAFKA_CLIENT: 'wire' | 'kafkajs' = 'wire';

const KAFKAJS_LEVELS = {
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
} as const;

const IDEMPOTENT_RETRY_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/** kafkajs' logger, routed into pino instead of its default console output. */
function pinoLogCreator(logger: Logger) {
  return () =>
    ({ namespace, level, log }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      // Our producers bound their retries on purpose (see #connectProducer): not worth a warning.
      if (message === IDEMPOTENT_RETRY_WARNING) return;
      const fields = { kafkajs: namespace, ...extra };
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else if (level === logLevel.INFO) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

/** The kafkajs client for a broker list, with optional TLS and SASL. */
export function createKafkaClient(settings: KafkaBusSettings): Kafka {
  const logger = componentLogger(settings.logger ?? defaultLogger(), 'kafka');
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ...(settings.ssl !== undefined ? { ssl: settings.ssl } : {}),
    ...(settings.sasl ? { sasl: settings.sasl as SASLOptions } : {}),
    logLevel: KAFKAJS_LEVELS[settings.clientLogLevel ?? 'warn'],
    logCreator: pinoLogCreator(logger),
    retry: { initialRetryTime: 100, retries: settings.retries ?? 8 },
  });
}

function headerText(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined) return undefined;
  return typeof first === 'string' ? first : first.toString('utf8');
}

function toBusMessage(topic: string, partition: number, m: KafkaMessage): BusMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(m.headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) headers[name] = text;
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ?? null,
    value: m.value ?? Buffer.alloc(0),
    headers,
    timestampMs: Number(m.timestamp),
  };
}

function toKafkaMessages(messages: OutgoingMessage[]) {
  return messages.map((m) => ({
    key: m.key,
    value: m.value,
    ...(m.headers ? { headers: m.headers } : {}),
    ...(m.partition !== undefined ? { partition: m.partition } : {}),
  }));
}

function byTopic(offsets: TopicPartitionOffset[]): OffsetsByTopicPartition {
  const topics = new Map<string, { partition: number; offset: string }[]>();
  for (const { topic, partition, offset } of offsets) {
    const list = topics.get(topic) ?? [];
    list.push({ partition, offset });
    topics.set(topic, list);
  }
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
}

class KafkaBusProducer implements BusProducer {
  constructor(
    private readonly producer: Producer,
    private readonly metrics: BusMetrics | undefined,
  ) {}

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ topic, acks: -1, messages: toKafkaMessages(messages) });
    this.metrics?.produced.inc({ topic }, messages.length);
  }

  sendRecords(topic: string, write: (sink: RecordSink) => void): Promise<number> {
    return sendCollected((messages) => this.send(topic, messages), write);
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

class WireBusProducer implements BusProducer {
  constructor(
    private readonly producer: WireProducer,
    private readonly metrics: BusMetrics | undefined,
  ) {}

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send(topic, messages);
    this.metrics?.produced.inc({ topic }, messages.length);
  }

  async sendRecords(topic: string, write: (sink: RecordSink) => void): Promise<number> {
    const n = await this.producer.sendRecords(topic, write);
    this.metrics?.produced.inc({ topic }, n);
    return n;
  }

  close(): Promise<void> {
    return this.producer.close();
  }
}

/**
 * MessageBus on Apache Kafka: idempotent producers, at-least-once consumers, DLQ topics, through
 * this package's Kafka wire-protocol client (src/wire/) or kafkajs (settings.client). admin() is
 * kafkajs' admin client either way (tools and tests).
 */
export class KafkaBus implements MessageBus {
  readonly kafka: Kafka;
  readonly client: 'wire' | 'kafkajs';
  readonly logger: Logger;
  readonly metrics: BusMetrics | undefined;
  readonly #settings: KafkaBusSettings;
  #admin: Promise<Admin> | undefined;
  #dlqProducer: Promise<Producer> | undefined;
  readonly #consumers = new Set<BusConsumer>();
  readonly #producers = new Set<BusProducer>();
  #wireDlqProducer: Promise<WireProducer> | undefined;
  #wireAdmin: Cluster | undefined;

  constructor(settings: KafkaBusSettings) {
    this.#settings = settings;
    this.client = settings.client ?? DEFAULT_KAFKA_CLIENT;
    this.logger = componentLogger(settings.logger ?? defaultLogger(), 'bus');
    this.metrics = settings.metrics ? BusMetrics.for(settings.metrics) : undefined;
    this.kafka = createKafkaClient(settings);
  }

  /** A connected admin client shared by this bus (topic creation, lag). */
  admin(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })();
    return this.#admin;
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    const wanted = new Map<string, number>();
    for (const spec of specs) {
      const partitions = spec.partitions ?? this.#settings.defaultPartitions ?? 4;
      wanted.set(spec.topic, partitions);
      if (spec.withDeadLetter !== false) wanted.set(deadLetterTopic(spec.topic), partitions);
    }
    if (this.client === 'wire') {
      const retries = this.#settings.retries ?? 8;
      for (let attempt = 0; ; attempt++) {
        try {
          const created = await createMissingTopics(this.wireAdmin(), wanted, this.logger);
          if (created.length > 0) this.logger.info({ topics: created }, 'created topics');
          return;
        } catch (error) {
          // A broker still starting (connection refused, coordinator loading) is worth waiting for.
          if (!isRetriable(error) || attempt >= retries) throw error;
          this.logger.warn({ err: error, attempt: attempt + 1 }, 'ensuring topics failed, retrying');
          await sleep(Math.min(5_000, 100 * 2 ** attempt));
        }
      }
    }
    const admin = await this.admin();
    const existing = new Set(await admin.listTopics());
    const missing = [...wanted].filter(([topic]) => !existing.has(topic));
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map(([topic, numPartitions]) => ({ topic, numPartitions, replicationFactor: -1 })),
      });
    } catch (error) {
      // Another process created them first: what we wanted exists.
      if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
    }
    this.logger.info({ topics: missing.map(([t]) => t) }, 'created topics');
  }

  #clusterSettings(): ClusterSettings {
    return {
      brokers: this.#settings.brokers,
      clientId: this.#settings.clientId,
      ssl: this.#settings.ssl,
      sasl: this.#settings.sasl,
    };
  }

  /** The wire client's shared connections for lookups (lag), apart from producers and consumers. */
  wireAdmin(): Cluster {
    this.#wireAdmin ??= new Cluster(this.#clusterSettings());
    return this.#wireAdmin;
  }

  async #connectWireProducer(): Promise<WireProducer> {
    const producer = new WireProducer(new Cluster(this.#clusterSettings()), {
      retries: this.#settings.retries ?? 12,
      logger: this.logger,
      closeDeadlineMs: this.#settings.stopDeadlineMs ?? 30_000,
    });
    try {
      await producer.connect();
    } catch (error) {
      await producer.close();
      throw error;
    }
    return producer;
  }

  async producer(): Promise<BusProducer> {
    const producer =
      this.client === 'wire'
        ? new WireBusProducer(await this.#connectWireProducer(), this.metrics)
        : new KafkaBusProducer(await this.#connectProducer(), this.metrics);
    this.#producers.add(producer);
    return producer;
  }

  async #connectProducer(): Promise<Producer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      // About two minutes of backoff (100 ms doubling to 30 s), like the Java client's
      // delivery.timeout.ms, instead of kafkajs' unbounded default for idempotent producers: a send
      // that still fails surfaces as an error, the batch is retried uncommitted, and a duplicate
      // that may cause is absorbed downstream by deterministic ids (at-least-once end to end).
      retry: { initialRetryTime: 100, maxRetryTime: 30_000, retries: this.#settings.retries ?? 12 },
    });
    await producer.connect();
    return producer;
  }

  /** Sends a message that cannot be processed to `<topic>.dlq` with its error headers. */
  async deadLetter(message: BusMessage, error: unknown): Promise<void> {
    this.logger.warn(
      { topic: message.topic, partition: message.partition, offset: message.offset },
      `dead-lettering message: ${describeError(error)}`,
    );
    const dead = { key: message.key, value: message.value, headers: deadLetterHeaders(message, error) };
    if (this.client === 'wire') {
      this.#wireDlqProducer ??= this.#connectWireProducer();
      this.#wireDlqProducer.catch(() => {
        this.#wireDlqProducer = undefined;
      });
      await (await this.#wireDlqProducer).send(deadLetterTopic(message.topic), [dead]);
    } else {
      this.#dlqProducer ??= this.#connectProducer();
      const producer = await this.#dlqProducer;
      await producer.send({ topic: deadLetterTopic(message.topic), acks: -1, messages: [dead] });
    }
    this.metrics?.deadLettered.inc({ topic: message.topic, error: errorClass(error) });
  }

  consumer(options: ConsumerOptions): BusConsumer {
    const stopDeadlineMs = this.#settings.stopDeadlineMs ?? 30_000;
    const consumer =
      this.client === 'wire'
        ? new WireConsumer(options, {
            cluster: this.#clusterSettings(),
            logger: this.logger,
            metrics: this.metrics,
            deadLetter: (message, error) => this.deadLetter(message, error),
            lag: () =>
              groupLag(this.wireAdmin(), options.groupId, options.topics, options.fromBeginning !== false),
            stopDeadlineMs,
          })
        : new KafkaBusConsumer(this, options, stopDeadlineMs);
    this.#consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    const stopped = await Promise.allSettled([...this.#consumers].map((c) => c.stop()));
    this.#consumers.clear();
    await Promise.all([...this.#producers].map((p) => p.close()));
    this.#producers.clear();
    if (this.#dlqProducer) await (await this.#dlqProducer).disconnect();
    this.#dlqProducer = undefined;
    if (this.#wireDlqProducer) await (await this.#wireDlqProducer.catch(() => undefined))?.close();
    this.#wireDlqProducer = undefined;
    this.#wireAdmin?.close();
    this.#wireAdmin = undefined;
    if (this.#admin) await (await this.#admin).disconnect();
    this.#admin = undefined;
    const failed = stopped.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

type ConsumerState = 'idle' | 'running' | 'stopping' | 'stopped';

class KafkaBusConsumer implements BusConsumer {
  readonly #consumer: Consumer;
  readonly #abort = new AbortController();
  readonly #logger: Logger;
  #state: ConsumerState = 'idle';
  #assigned: { topic: string; partition: number }[] = [];
  #stopped: Promise<void> | undefined;
  #untrackLag: (() => void) | undefined;

  constructor(
    private readonly bus: KafkaBus,
    private readonly options: ConsumerOptions,
    private readonly stopDeadlineMs: number,
  ) {
    this.#logger = bus.logger.child({ groupId: options.groupId });
    const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
    this.#consumer = bus.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 5)),
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
    });
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`consumer of group ${this.options.groupId} already ran`);
    this.#state = 'running';
    const { events } = this.#consumer;
    const joined = new Promise<void>((resolve) => {
      this.#consumer.on(events.GROUP_JOIN, async (event) => {
        const assignment = event.payload.memberAssignment;
        this.#assigned = Object.entries(assignment).flatMap(([topic, partitions]) =>
          partitions.map((partition) => ({ topic, partition })),
        );
        try {
          await this.options.onPartitionsAssigned?.(this.#assigned);
        } catch (error) {
          this.#logger.error({ err: error }, 'onPartitionsAssigned failed');
        }
        resolve();
      });
    });
    this.#consumer.on(events.REBALANCING, async () => {
      const revoked = this.#assigned;
      this.#assigned = [];
      if (revoked.length === 0) return;
      try {
        await this.options.onPartitionsRevoked?.(revoked);
      } catch (error) {
        this.#logger.error({ err: error }, 'onPartitionsRevoked failed');
      }
    });
    this.#consumer.on(events.CRASH, (event) => {
      this.#logger.error({ err: event.payload.error, restart: event.payload.restart }, 'consumer crashed');
    });

    await this.#consumer.connect();
    await this.#consumer.subscribe({
      topics: this.options.topics,
      fromBeginning: this.options.fromBeginning ?? true,
    });
    const maxBatch = this.options.maxBatchSize ?? 500;
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionConcurrency ?? 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isStale, commitOffsetsIfNecessary }) => {
        const messages = batch.messages.map((m) => toBusMessage(batch.topic, batch.partition, m));
        const processor = new BatchProcessor({
          handler,
          ...deliveryOptions(this.options),
          logger: this.#logger,
          metrics: this.bus.metrics,
          // The batch payload's commit, not consumer.commitOffsets(): kafkajs turns the latter into a
          // no-op once stop() was called, which would lose the commit of the batch being drained.
          commit: (offsets) => commitOffsetsIfNecessary(byTopic(offsets)),
          deadLetter: (message, error) => this.bus.deadLetter(message, error),
          stopSignal: this.#abort.signal,
          heartbeat,
          isStale,
        });
        for (let i = 0; i < messages.length; i += maxBatch) {
          // Stop fetching: a batch already running finishes, the next chunk is left for a restart.
          if (this.#abort.signal.aborted) return;
          const chunk = messages.slice(i, i + maxBatch);
          if ((await processor.process(chunk)) === 'abandoned') return;
          resolveOffset(chunk.at(-1)!.offset);
          await heartbeat();
        }
      },
    });
    this.#untrackLag = this.bus.metrics?.trackLag(() => this.lag());
    await Promise.race([
      joined,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`consumer of group ${this.options.groupId} did not join within 60 s`)),
          60_000,
        ).unref(),
      ),
    ]);
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  async #drain(): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#untrackLag?.();
    this.#abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.stopDeadlineMs);
    });
    const drained = (async () => {
      // kafkajs' stop() waits for the batch in flight (which commits its own offsets), then leaves.
      if (wasRunning) await this.#consumer.stop();
      await this.#consumer.disconnect();
      return 'drained' as const;
    })();
    const result = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    this.#state = 'stopped';
    if (result === 'deadline') {
      this.#logger.error({ deadlineMs: this.stopDeadlineMs }, 'consumer did not drain before the deadline');
      await this.#consumer.disconnect().catch(() => {});
      throw new Error(
        `consumer of group ${this.options.groupId} did not drain within ${this.stopDeadlineMs} ms`,
      );
    }
  }

  async lag(): Promise<{ topic: string; partition: number; lag: number }[]> {
    const admin = await this.bus.admin();
    const committed = await admin.fetchOffsets({
      groupId: this.options.groupId,
      topics: this.options.topics,
    });
    const result: { topic: string; partition: number; lag: number }[] = [];
    for (const { topic, partitions } of committed) {
      const ends = await admin.fetchTopicOffsets(topic);
      for (const end of ends) {
        const high = BigInt(end.high);
        const at = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
        const from =
          BigInt(at) >= 0n ? BigInt(at) : this.options.fromBeginning === false ? high : BigInt(end.low);
        result.push({ topic, partition: end.partition, lag: Number(high - from) });
      }
    }
    return result.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }
}
