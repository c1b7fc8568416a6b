import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { componentLogger, defaultLogger, type Logger, type ServiceMetrics } from '@tidewatch/observability';
import { BusMetrics } from './bus-metrics.ts';
import { BatchProcessor, deliveryOptions, nextOffset, prepareAhead } from './batch-processor.ts';
import { forEachConcurrently } from './concurrent-partitions.ts';
import type {
  BatchHandler,
  BusConsumer,
  BusMessage,
  BusProducer,
  ConsumerOptions,
  MessageBus,
  OutgoingMessage,
  TopicPartitionOffset,
  TopicSpec,
} from './bus.ts';
import { deadLetterHeaders, deadLetterTopic, describeError, errorClass } from './errors.ts';
import { partitionForKey } from './partitioner.ts';
import { sendCollected } from './record-sink.ts';

export interface InProcessBusSettings {
  logger?: Logger;
  /** Registers the bus metrics (BusMetrics) in this service's registry. */
  metrics?: ServiceMetrics;
  /** Partitions of topics created without an explicit count (default 4). */
  defaultPartitions?: number;
  /**
   * Keep the log and committed offsets in this directory so a restarted process resumes where it
   * committed (one-process mode). Without it everything lives in memory.
   */
  dir?: string;
  /**
   * Messages kept in memory per partition; older ones are dropped like Kafka retention (default
   * 100 000). Messages every reading group has committed are dropped sooner.
   */
  retainPerPartition?: number;
  /** How long stop() may take to drain (default 30 s). */
  stopDeadlineMs?: number;
}

interface StoredRecord {
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  timestampMs: number;
}

interface PersistedRecord {
  p: number;
  k: string | null;
  v: string;
  h: Record<string, string>;
  t: number;
}

/** One partition's log: records from `base` on (older ones fell out of retention). */
class PartitionLog {
  base = 0n;
  readonly records: StoredRecord[] = [];

  get end(): bigint {
    return this.base + BigInt(this.records.length);
  }

  append(record: StoredRecord, retain: number): bigint {
    const offset = this.end;
    this.records.push(record);
    const excess = this.records.length - retain;
    if (excess > 0) {
      this.records.splice(0, excess);
      this.base += BigInt(excess);
    }
    return offset;
  }

  trimBefore(offset: bigint): void {
    const drop = Number((offset < this.end ? offset : this.end) - this.base);
    if (drop <= 0) return;
    this.records.splice(0, drop);
    this.base += BigInt(drop);
  }

  read(from: bigint, max: number): { offset: bigint; record: StoredRecord }[] {
    const start = from < this.base ? this.base : from;
    const index = Number(start - this.base);
    return this.records.slice(index, index + max).map((record, i) => ({ offset: start + BigInt(i), record }));
  }
}

class TopicLog {
  readonly partitions: PartitionLog[];
  #roundRobin = 0;

  constructor(
    readonly name: string,
    count: number,
  ) {
    this.partitions = Array.from({ length: count }, () => new PartitionLog());
  }

  pick(message: OutgoingMessage): number {
    const count = this.partitions.length;
    if (message.partition !== undefined) {
      if (!Number.isInteger(message.partition) || message.partition < 0 || message.partition >= count) {
        throw new Error(`topic ${this.name} has no partition ${message.partition} (it has ${count})`);
      }
      return message.partition;
    }
    if (message.key !== null) return partitionForKey(message.key, count);
    this.#roundRobin = (this.#roundRobin + 1) % count;
    return this.#roundRobin;
  }
}

class ConsumerGroup {
  readonly committed = new Map<string, bigint>();
  readonly members: InProcessConsumer[] = [];

  /** Spreads every subscribed partition over the members subscribed to its topic (round robin). */
  rebalance(topics: Map<string, TopicLog>): void {
    const owners = new Map<InProcessConsumer, { topic: string; partition: number }[]>();
    for (const member of this.members) owners.set(member, []);
    const names = [...new Set(this.members.flatMap((m) => m.topics))].sort();
    for (const name of names) {
      const subscribers = this.members.filter((m) => m.topics.includes(name));
      const log = topics.get(name);
      if (!log || subscribers.length === 0) continue;
      log.partitions.forEach((_, partition) => {
        owners.get(subscribers[partition % subscribers.length]!)!.push({ topic: name, partition });
      });
    }
    for (const [member, assignment] of owners) member.assign(assignment);
  }
}

const tpKey = (topic: string, partition: number) => `${topic}|${partition}`;

/**
 * MessageBus in memory with Kafka's semantics: partitions by key hash (murmur2), consumer groups
 * with committed offsets (a restarted consumer resumes after its last commit), the same
 * retry/poison/DLQ handling as KafkaBus. Optionally persisted to a directory.
 */
export class InProcessBus implements MessageBus {
  readonly logger: Logger;
  readonly metrics: BusMetrics | undefined;
  readonly #topics = new Map<string, TopicLog>();
  readonly #groups = new Map<string, ConsumerGroup>();
  readonly #waiters = new Set<() => void>();
  readonly #consumers = new Set<InProcessConsumer>();
  readonly #settings: InProcessBusSettings;
  readonly #retain: number;

  constructor(settings: InProcessBusSettings = {}) {
    this.#settings = settings;
    this.logger = componentLogger(settings.logger ?? defaultLogger(), 'bus');
    this.metrics = settings.metrics ? BusMetrics.for(settings.metrics) : undefined;
    this.#retain = settings.retainPerPartition ?? 100_000;
    if (settings.dir) this.#load(settings.dir);
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    for (const spec of specs) {
      const partitions = spec.partitions ?? this.#settings.defaultPartitions ?? 4;
      this.#createTopic(spec.topic, partitions);
      if (spec.withDeadLetter !== false) this.#createTopic(deadLetterTopic(spec.topic), partitions);
    }
    this.#persistTopics();
    for (const group of this.#groups.values()) group.rebalance(this.#topics);
  }

  #createTopic(name: string, partitions: number): void {
    if (!this.#topics.has(name)) this.#topics.set(name, new TopicLog(name, partitions));
  }

  topic(name: string): TopicLog {
    const log = this.#topics.get(name);
    if (!log) throw new Error(`topic ${name} does not exist (ensureTopics creates it)`);
    return log;
  }

  async producer(): Promise<BusProducer> {
    let closed = false;
    return {
      send: async (topic, messages) => {
        if (closed) throw new Error('producer is closed');
        this.append(topic, messages);
        this.metrics?.produced.inc({ topic }, messages.length);
      },
      sendRecords: (topic, write) =>
        sendCollected(async (messages) => {
          if (closed) throw new Error('producer is closed');
          this.append(topic, messages);
          this.metrics?.produced.inc({ topic }, messages.length);
        }, write),
      close: async () => {
        closed = true;
      },
    };
  }

  append(topic: string, messages: OutgoingMessage[]): void {
    const log = this.topic(topic);
    const persisted: PersistedRecord[] = [];
    for (const message of messages) {
      const partition = log.pick(message);
      const record: StoredRecord = {
        key: message.key === null ? null : Buffer.from(message.key),
        value: Buffer.from(message.value),
        headers: { ...message.headers },
        timestampMs: Date.now(),
      };
      log.partitions[partition]!.append(record, this.#retain);
      if (this.#settings.dir) {
        persisted.push({
          p: partition,
          k: record.key?.toString('base64') ?? null,
          v: record.value.toString('base64'),
          h: record.headers,
          t: record.timestampMs,
        });
      }
    }
    if (this.#settings.dir && persisted.length > 0) {
      appendFileSync(this.#logFile(topic), `${persisted.map((r) => JSON.stringify(r)).join('\n')}\n`);
    }
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  /** Resolves when a message is appended anywhere, on abort, or after `ms`. */
  waitForData(signal: AbortSignal, ms: number): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async deadLetter(message: BusMessage, error: unknown): Promise<void> {
    this.logger.warn(
      { topic: message.topic, partition: message.partition, offset: message.offset },
      `dead-lettering message: ${describeError(error)}`,
    );
    this.append(deadLetterTopic(message.topic), [
      { key: message.key, value: message.value, headers: deadLetterHeaders(message, error) },
    ]);
    this.metrics?.deadLettered.inc({ topic: message.topic, error: errorClass(error) });
  }

  group(id: string): ConsumerGroup {
    let group = this.#groups.get(id);
    if (!group) {
      group = new ConsumerGroup();
      this.#groups.set(id, group);
    }
    return group;
  }

  join(consumer: InProcessConsumer): void {
    const group = this.group(consumer.groupId);
    group.members.push(consumer);
    group.rebalance(this.#topics);
  }

  leave(consumer: InProcessConsumer): void {
    const group = this.group(consumer.groupId);
    const index = group.members.indexOf(consumer);
    if (index >= 0) group.members.splice(index, 1);
    this.#consumers.delete(consumer);
    group.rebalance(this.#topics);
  }

  commit(groupId: string, offsets: TopicPartitionOffset[]): void {
    const group = this.group(groupId);
    for (const { topic, partition, offset } of offsets)
      group.committed.set(tpKey(topic, partition), BigInt(offset));
    this.#persistOffsets();
    for (const { topic, partition } of offsets) this.#trimConsumed(topic, partition);
  }

  /**
   * Drops from memory what every group reading a partition has committed, so a long one-process
   * run holds only the unconsumed tail. Partitions nobody reads (DLQs) keep the retention cap.
   */
  #trimConsumed(topic: string, partition: number): void {
    const log = this.#topics.get(topic)?.partitions[partition];
    if (!log) return;
    const key = tpKey(topic, partition);
    let floor: bigint | undefined;
    for (const group of this.#groups.values()) {
      const committed = group.committed.get(key);
      const reads = group.members.some((m) => m.topics.includes(topic));
      if (committed === undefined) {
        if (reads) return;
        continue;
      }
      floor = floor === undefined || committed < floor ? committed : floor;
    }
    if (floor !== undefined) log.trimBefore(floor);
  }

  consumer(options: ConsumerOptions): BusConsumer {
    const consumer = new InProcessConsumer(this, options, this.#settings.stopDeadlineMs ?? 30_000);
    this.#consumers.add(consumer);
    return consumer;
  }

  async close(): Promise<void> {
    const stopped = await Promise.allSettled([...this.#consumers].map((c) => c.stop()));
    this.#consumers.clear();
    const failed = stopped.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #logFile(topic: string): string {
    return join(this.#settings.dir!, 'log', `${encodeURIComponent(topic)}.jsonl`);
  }

  #persistTopics(): void {
    const dir = this.#settings.dir;
    if (!dir) return;
    const topics = Object.fromEntries([...this.#topics].map(([name, log]) => [name, log.partitions.length]));
    writeAtomically(join(dir, 'topics.json'), JSON.stringify(topics));
  }

  #persistOffsets(): void {
    const dir = this.#settings.dir;
    if (!dir) return;
    const groups = Object.fromEntries(
      [...this.#groups].map(([id, g]) => [
        id,
        Object.fromEntries([...g.committed].map(([k, v]) => [k, String(v)])),
      ]),
    );
    writeAtomically(join(dir, 'offsets.json'), JSON.stringify(groups));
  }

  #load(dir: string): void {
    mkdirSync(join(dir, 'log'), { recursive: true });
    const topicsFile = join(dir, 'topics.json');
    if (!existsSync(topicsFile)) return;
    const topics = JSON.parse(readFileSync(topicsFile, 'utf8')) as Record<string, number>;
    for (const [name, partitions] of Object.entries(topics)) {
      const log = new TopicLog(name, partitions);
      this.#topics.set(name, log);
      const file = this.#logFile(name);
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line) continue;
        let r: PersistedRecord;
        try {
          r = JSON.parse(line) as PersistedRecord;
        } catch {
          // A line cut short by a crash mid-append: everything before it is intact.
          this.logger.warn({ file }, 'skipping a truncated log line');
          continue;
        }
        log.partitions[r.p]?.append(
          {
            key: r.k === null ? null : Buffer.from(r.k, 'base64'),
            value: Buffer.from(r.v, 'base64'),
            headers: r.h,
            timestampMs: r.t,
          },
          this.#retain,
        );
      }
    }
    const offsetsFile = join(dir, 'offsets.json');
    if (!existsSync(offsetsFile)) return;
    const groups = JSON.parse(readFileSync(offsetsFile, 'utf8')) as Record<string, Record<string, string>>;
    for (const [id, offsets] of Object.entries(groups)) {
      const group = this.group(id);
      for (const [key, offset] of Object.entries(offsets)) group.committed.set(key, BigInt(offset));
    }
    for (const [name, log] of this.#topics) {
      for (let p = 0; p < log.partitions.length; p++) this.#trimConsumed(name, p);
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

function writeAtomically(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

type Assignment = { topic: string; partition: number }[];

class InProcessConsumer implements BusConsumer {
  readonly #abort = new AbortController();
  readonly #logger: Logger;
  readonly #positions = new Map<string, bigint>();
  #assigned: Assignment = [];
  /** Set by a rebalance, applied by the loop between batches (as Kafka does). */
  #pendingAssignment: Assignment | undefined;
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #untrackLag: (() => void) | undefined;

  constructor(
    private readonly bus: InProcessBus,
    private readonly options: ConsumerOptions,
    private readonly stopDeadlineMs: number,
  ) {
    this.#logger = bus.logger.child({ groupId: options.groupId });
  }

  get groupId(): string {
    return this.options.groupId;
  }

  get topics(): string[] {
    return this.options.topics;
  }

  assign(assignment: Assignment): void {
    this.#pendingAssignment = assignment;
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.#loop || this.#abort.signal.aborted)
      throw new Error(`consumer of group ${this.groupId} already ran`);
    for (const topic of this.topics) this.bus.topic(topic);
    this.bus.join(this);
    this.#untrackLag = this.bus.metrics?.trackLag(() => this.lag());
    await this.#applyAssignment();
    this.#loop = this.#consume(handler).catch((error: unknown) => {
      this.#logger.error({ err: error }, 'consumer loop failed');
    });
  }

  async #applyAssignment(): Promise<void> {
    const next = this.#pendingAssignment;
    if (!next) return;
    this.#pendingAssignment = undefined;
    const revoked = this.#assigned.filter(
      (a) => !next.some((n) => n.topic === a.topic && n.partition === a.partition),
    );
    if (revoked.length > 0) await this.#callback(this.options.onPartitionsRevoked, revoked);
    for (const tp of revoked) this.#positions.delete(tpKey(tp.topic, tp.partition));
    this.#assigned = next;
    await this.#callback(this.options.onPartitionsAssigned, next);
  }

  async #callback(fn: ((p: Assignment) => void | Promise<void>) | undefined, partitions: Assignment) {
    try {
      await fn?.(partitions);
    } catch (error) {
      this.#logger.error({ err: error }, 'partition callback failed');
    }
  }

  #owns(topic: string, partition: number): boolean {
    if (this.#pendingAssignment) {
      return this.#pendingAssignment.some((a) => a.topic === topic && a.partition === partition);
    }
    return this.#assigned.some((a) => a.topic === topic && a.partition === partition);
  }

  #position(topic: string, partition: number): bigint {
    const key = tpKey(topic, partition);
    const known = this.#positions.get(key);
    if (known !== undefined) return known;
    const log = this.bus.topic(topic).partitions[partition]!;
    const committed = this.bus.group(this.groupId).committed.get(key);
    // Resolved once per assignment, as Kafka resets a fetch position: "latest" must not move on.
    const start = committed ?? (this.options.fromBeginning === false ? log.end : log.base);
    this.#positions.set(key, start);
    return start;
  }

  async #consume(handler: BatchHandler): Promise<void> {
    const maxBatch = this.options.maxBatchSize ?? 500;
    while (!this.#abort.signal.aborted) {
      await this.#applyAssignment();
      let worked = false;
      const concurrency = this.options.partitionConcurrency ?? 1;
      // Handled at once or prepared ahead, a partition goes on with its next batches (a few, then
      // the assignment is looked at again) rather than waiting for the slowest partition of the turn.
      const batchesPerTurn = concurrency > 1 || this.options.prepare ? 8 : 1;
      await forEachConcurrently(this.#assigned, concurrency, async ({ topic, partition }) => {
        if (!this.#owns(topic, partition)) return true;
        // One batch is read (and prepared) ahead while the one before it is handled.
        let batch = this.#read(topic, partition, this.#position(topic, partition), maxBatch);
        let prepared = prepareAhead(this.options.prepare, batch, this.#logger);
        for (let turn = 0; batch && turn < batchesPerTurn; turn++) {
          if (this.#abort.signal.aborted) return false;
          const next =
            turn + 1 < batchesPerTurn
              ? this.#read(topic, partition, BigInt(nextOffset(batch.at(-1)!)), maxBatch)
              : null;
          const nextPrepared = prepareAhead(this.options.prepare, next, this.#logger);
          worked = true;
          if (!(await this.#handle(handler, batch, prepared))) break;
          batch = next;
          prepared = nextPrepared;
        }
        return true;
      });
      if (!worked) await this.bus.waitForData(this.#abort.signal, 1_000);
    }
  }

  /** The partition's records from `from` as messages (at most `maxBatch`); null when there are none. */
  #read(topic: string, partition: number, from: bigint, maxBatch: number): BusMessage[] | null {
    const records = this.bus.topic(topic).partitions[partition]!.read(from, maxBatch);
    if (records.length === 0) return null;
    return records.map(({ offset, record }) => ({
      topic,
      partition,
      offset: offset.toString(),
      key: record.key,
      value: record.value,
      headers: { ...record.headers },
      timestampMs: record.timestampMs,
    }));
  }

  /** Handles one batch of a partition; true when it is done and the position moved past it. */
  async #handle(handler: BatchHandler, messages: BusMessage[], prepared: unknown): Promise<boolean> {
    const { topic, partition } = messages[0]!;
    const processor = new BatchProcessor({
      handler,
      ...deliveryOptions(this.options),
      logger: this.#logger,
      metrics: this.bus.metrics,
      commit: async (offsets) => this.bus.commit(this.groupId, offsets),
      deadLetter: (message, error) => this.bus.deadLetter(message, error),
      stopSignal: this.#abort.signal,
      isStale: () => !this.#owns(topic, partition),
    });
    let done = false;
    try {
      if ((await processor.process(messages, prepared)) === 'done') {
        this.#positions.set(tpKey(topic, partition), BigInt(nextOffset(messages.at(-1)!)));
        done = true;
      }
    } catch (error) {
      // Dead-lettering or committing failed (as a broker error would in kafkajs): the batch is
      // not done, so it is delivered again after a pause.
      this.#logger.error({ err: error, topic, partition }, 'batch failed outside the handler; redelivering');
      await pause(1_000, this.#abort.signal);
    }
    // Let producers and other consumers in this process run between batches.
    await new Promise((r) => setImmediate(r));
    return done;
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#drain();
    return this.#stopped;
  }

  async #drain(): Promise<void> {
    this.#abort.abort();
    this.#untrackLag?.();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.stopDeadlineMs);
    });
    const result = await Promise.race([this.#loop ?? Promise.resolve(), deadline]);
    clearTimeout(timer);
    if (this.#loop) this.bus.leave(this);
    if (result === 'deadline') {
      throw new Error(`consumer of group ${this.groupId} did not drain within ${this.stopDeadlineMs} ms`);
    }
  }

  async lag(): Promise<{ topic: string; partition: number; lag: number }[]> {
    const group = this.bus.group(this.groupId);
    return this.topics.flatMap((topic) =>
      this.bus.topic(topic).partitions.map((log, partition) => {
        const committed = group.committed.get(tpKey(topic, partition));
        const from = committed ?? (this.options.fromBeginning === false ? log.end : log.base);
        return { topic, partition, lag: Number(log.end - from) };
      }),
    );
  }
}
