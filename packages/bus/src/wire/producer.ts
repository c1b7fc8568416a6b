import type { Logger } from '@tidewatch/observability';
import type { OutgoingMessage, RecordSink } from '../bus.ts';
import { murmur2, murmur2Ascii, NOT_ASCII } from '../partitioner.ts';
import { checkRecord, checkValueEnd } from '../record-sink.ts';
import { initProducerId, produce } from './apis.ts';
import { type Cluster, isRetriable, sleep } from './cluster.ts';
import { ErrorCode, KafkaProtocolError, needsMetadataRefresh } from './protocol-errors.ts';
import { RecordBatchBuilder } from './record-batch.ts';

export interface WireProducerSettings {
  /** Attempts after the first for a batch (and for metadata of an unknown topic). */
  retries: number;
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** Broker-side wait for acks=-1 replication. */
  ackTimeoutMs?: number;
  /** A batch is closed at this size and a new one started (the broker's default limit is 1 MB). */
  maxBatchBytes?: number;
  logger?: Logger | undefined;
  /** How long close() waits for unacknowledged sends (default 30 s). */
  closeDeadlineMs?: number;
}

interface Batch {
  topic: string;
  partition: number;
  builder: RecordBatchBuilder;
  baseSequence: number;
  sealedWith: number; // producer id the header was written for (-1: not sealed)
  attempts: number;
  lastError: Error | undefined;
  /** The send() call that last appended to it (each send awaits every batch it touched once). */
  stamp: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface PartitionQueue {
  topic: string;
  partition: number;
  batches: Batch[];
  inFlight: boolean;
  notBefore: number;
}

const NO_HEADERS: [string, string][] = [];
const METADATA_MAX_AGE_MS = 300_000;

/**
 * Idempotent producer on the Kafka wire protocol: records are encoded once, straight into one open
 * batch per partition; one Produce request per broker at a time carries the first batch of every
 * partition it leads (sends issued meanwhile coalesce into the next request), acks=-1, with
 * per-partition sequence numbers so that retries are deduplicated by the broker.
 */
export class WireProducer {
  readonly #cluster: Cluster;
  readonly #settings: WireProducerSettings;
  readonly #queues = new Map<string, PartitionQueue>();
  /** The same queues by topic, indexed by partition (the per-message lookup). */
  readonly #queuesByTopic = new Map<string, PartitionQueue[]>();
  /** Partition counts of topics already sent to. */
  readonly #partitionCounts = new Map<string, number>();
  #countsLoadedAt = Date.now();
  readonly #sequences = new Map<string, number>();
  readonly #busyNodes = new Set<number>();
  readonly #pool: RecordBatchBuilder[] = [];
  #scratch = Buffer.allocUnsafe(1024);
  #roundRobin = 0;
  #sendStamp = 0;
  #producerId = -1;
  #producerEpoch = 0;
  #initializing: Promise<void> | undefined;
  #drainScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #outstanding = 0;
  #idle: (() => void)[] = [];
  #closed = false;

  constructor(cluster: Cluster, settings: WireProducerSettings) {
    this.#cluster = cluster;
    this.#settings = settings;
  }

  async connect(): Promise<void> {
    await this.#ensureProducerId();
  }

  #ensureProducerId(): Promise<void> {
    if (this.#producerId >= 0) return Promise.resolve();
    this.#initializing ??= this.#withRetries('InitProducerId', async () => {
      const conn = await this.#cluster.anyConnection();
      const res = await conn.request(initProducerId());
      if (res.errorCode !== 0) throw new KafkaProtocolError(res.errorCode, 'InitProducerId');
      this.#producerId = res.producerId;
      this.#producerEpoch = res.producerEpoch;
      this.#sequences.clear();
    }).finally(() => {
      this.#initializing = undefined;
    });
    return this.#initializing;
  }

  async #withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!isRetriable(error) || attempt >= this.#settings.retries) throw error;
        this.#settings.logger?.warn({ attempt, err: error }, `${what} failed, retrying`);
        await sleep(this.#backoff(attempt + 1));
      }
    }
  }

  #backoff(attempt: number): number {
    const initial = this.#settings.initialRetryMs ?? 100;
    return Math.min(this.#settings.maxRetryMs ?? 30_000, initial * 2 ** (attempt - 1));
  }

  async #partitions(topic: string): Promise<number> {
    return this.#withRetries(`metadata of ${topic}`, async () => {
      const layout = await this.#cluster.topic(topic);
      return layout.leaders.length;
    });
  }

  /** Sends the messages; resolves once every one is acknowledged by all in-sync replicas. */
  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (this.#closed) throw new Error('producer is closed');
    if (messages.length === 0) return;
    const { partitions, queues } = await this.#target(topic);
    for (const m of messages) {
      const p = m.partition;
      if (p !== undefined && (!Number.isInteger(p) || p < 0 || p >= partitions)) {
        throw new RangeError(`partition ${p} does not exist in ${topic} (${partitions} partitions)`);
      }
    }
    const now = Date.now();
    const maxBytes = this.#settings.maxBatchBytes ?? 1_000_000;
    const touched: Batch[] = [];
    const stamp = ++this.#sendStamp;
    for (const m of messages) {
      let partition = m.partition;
      const key = m.key;
      let keyBytes: Uint8Array | null = null;
      let keyEnd = 0;
      let hash = 0;
      if (typeof key === 'string') {
        if (key.length * 3 > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(key.length * 3 + 64);
        const scratch = this.#scratch;
        keyBytes = scratch;
        // ASCII (the usual key): hashed and copied in one pass over its char codes, no encoder call.
        hash = murmur2Ascii(key, scratch);
        if (hash !== NOT_ASCII) keyEnd = key.length;
        else {
          keyEnd = scratch.write(key, 0, 'utf8');
          hash = murmur2(scratch, 0, keyEnd);
        }
      } else if (key) {
        keyBytes = key;
        keyEnd = key.length;
        if (partition === undefined) hash = murmur2(key, 0, keyEnd);
      }
      if (partition === undefined) {
        partition = keyBytes === null ? this.#roundRobin++ % partitions : (hash & 0x7fffffff) % partitions;
      }
      const queue = queues[partition] ?? this.#queue(topic, partition, queues);
      let batch = queue.batches[queue.batches.length - 1];
      if (batch === undefined || batch.sealedWith !== -1 || batch.builder.pos >= maxBytes) {
        batch = this.#newBatch(topic, partition);
        queue.batches.push(batch);
      }
      if (batch.stamp !== stamp) {
        batch.stamp = stamp;
        touched.push(batch);
      }
      const headers = m.headers ? Object.entries(m.headers) : NO_HEADERS;
      batch.builder.append(keyBytes, 0, keyEnd, m.value, now, headers);
    }
    await this.#acknowledged(touched);
  }

  /**
   * BusProducer.sendRecords: `write` encodes each record straight into its partition's open batch
   * (the key's murmur2 hash picks the partition, as in send()); when it throws, every batch it
   * wrote to is put back as it was and nothing is sent.
   */
  async sendRecords(topic: string, write: (sink: RecordSink) => void): Promise<number> {
    if (this.#closed) throw new Error('producer is closed');
    const { partitions, queues } = await this.#target(topic);
    const maxBytes = this.#settings.maxBatchBytes ?? 1_000_000;
    const touched: Batch[] = [];
    /** Per touched batch: its builder's pos, count and timestamps before this call (pos -1: new). */
    const before: number[] = [];
    const stamp = ++this.#sendStamp;
    const sink = new WireRecordSink(Date.now(), (hash) => {
      const partition = (hash & 0x7fffffff) % partitions;
      const queue = queues[partition] ?? this.#queue(topic, partition, queues);
      let batch = queue.batches[queue.batches.length - 1];
      let created = false;
      if (batch === undefined || batch.sealedWith !== -1 || batch.builder.pos >= maxBytes) {
        batch = this.#newBatch(topic, partition);
        queue.batches.push(batch);
        created = true;
      }
      if (batch.stamp !== stamp) {
        batch.stamp = stamp;
        touched.push(batch);
        const b = batch.builder;
        before.push(created ? -1 : b.pos, b.count, b.baseTimestamp, b.maxTimestamp);
      }
      return batch.builder;
    });
    try {
      write(sink);
      sink.close();
    } catch (error) {
      sink.abort();
      touched.forEach((batch, i) => {
        const b = batch.builder;
        if (before[4 * i] === -1) {
          const queue = queues[batch.partition] as PartitionQueue;
          this.#remove(queue, batch);
          this.#release(batch);
          return;
        }
        b.pos = before[4 * i] as number;
        b.count = before[4 * i + 1] as number;
        b.baseTimestamp = before[4 * i + 2] as number;
        b.maxTimestamp = before[4 * i + 3] as number;
      });
      throw error;
    }
    if (sink.count > 0) await this.#acknowledged(touched);
    return sink.count;
  }

  /** Resolves once every batch a send wrote to is acknowledged. */
  async #acknowledged(touched: Batch[]): Promise<void> {
    this.#scheduleDrain();
    this.#outstanding++;
    try {
      if (touched.length === 1) await touched[0]!.done;
      else await Promise.all(touched.map((b) => b.done));
    } finally {
      if (--this.#outstanding === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** The topic's partition count and queues (a producer id first, metadata when not known). */
  async #target(topic: string): Promise<{ partitions: number; queues: PartitionQueue[] }> {
    if (this.#producerId < 0) await this.#ensureProducerId();
    if (Date.now() - this.#countsLoadedAt > METADATA_MAX_AGE_MS) {
      // Partitions added to a topic are picked up like the Java client's metadata.max.age.ms.
      this.#countsLoadedAt = Date.now();
      for (const t of this.#partitionCounts.keys()) this.#cluster.invalidate(t);
      this.#partitionCounts.clear();
    }
    let partitions = this.#partitionCounts.get(topic);
    if (partitions === undefined) {
      partitions = await this.#partitions(topic);
      this.#partitionCounts.set(topic, partitions);
    }
    let queues = this.#queuesByTopic.get(topic);
    if (!queues) {
      queues = [];
      this.#queuesByTopic.set(topic, queues);
    }
    return { partitions, queues };
  }

  #queue(topic: string, partition: number, queues: PartitionQueue[]): PartitionQueue {
    const queue: PartitionQueue = {
      topic,
      partition,
      batches: [],
      inFlight: false,
      notBefore: 0,
    };
    this.#queues.set(`${topic}\0${partition}`, queue);
    queues[partition] = queue;
    return queue;
  }

  #newBatch(topic: string, partition: number): Batch {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Every send awaiting this batch sees its failure; this only keeps it from being unhandled.
    done.catch(() => {});
    const builder = this.#pool.pop() ?? new RecordBatchBuilder();
    builder.pos = 61;
    builder.count = 0;
    return {
      topic,
      partition,
      builder,
      baseSequence: 0,
      sealedWith: -1,
      attempts: 0,
      lastError: undefined,
      stamp: 0,
      done,
      resolve,
      reject,
    };
  }

  #release(batch: Batch): void {
    if (this.#pool.length < 16 && batch.builder.buf.length <= 2 * 1024 * 1024) this.#pool.push(batch.builder);
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(() => {
      this.#drainScheduled = false;
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    if (this.#closed) return;
    if (this.#producerId < 0) {
      try {
        await this.#ensureProducerId();
      } catch (error) {
        this.#failAll(error as Error);
        return;
      }
    }
    const now = Date.now();
    let nextWake = Number.POSITIVE_INFINITY;
    const byNode = new Map<number, PartitionQueue[]>();
    const unknownLeader = new Set<string>();
    for (const queue of this.#queues.values()) {
      if (queue.inFlight || queue.batches.length === 0) continue;
      if (queue.notBefore > now) {
        nextWake = Math.min(nextWake, queue.notBefore);
        continue;
      }
      let leader = -1;
      try {
        const layout = await this.#cluster.topic(queue.topic);
        leader = layout.leaders[queue.partition] ?? -1;
      } catch (error) {
        this.#failBatch(queue, queue.batches[0]!, error as Error);
        continue;
      }
      if (leader < 0) {
        unknownLeader.add(queue.topic);
        this.#failBatch(
          queue,
          queue.batches[0]!,
          new KafkaProtocolError(ErrorCode.LEADER_NOT_AVAILABLE, `${queue.topic}[${queue.partition}]`),
        );
        continue;
      }
      if (this.#busyNodes.has(leader)) continue;
      const list = byNode.get(leader) ?? [];
      list.push(queue);
      byNode.set(leader, list);
    }
    for (const topic of unknownLeader) this.#cluster.invalidate(topic);
    for (const [node, queues] of byNode) void this.#sendTo(node, queues);
    if (nextWake !== Number.POSITIVE_INFINITY && !this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#scheduleDrain();
      }, nextWake - now);
    }
  }

  async #sendTo(node: number, queues: PartitionQueue[]): Promise<void> {
    if (this.#busyNodes.has(node)) return;
    if (this.#producerId < 0) {
      // Reset by a response meanwhile: the next drain gets a new id first.
      this.#scheduleDrain();
      return;
    }
    this.#busyNodes.add(node);
    const inRequest: [PartitionQueue, Batch][] = [];
    const topics = new Map<string, { partition: number; records: Buffer }[]>();
    for (const queue of queues) {
      if (queue.inFlight) continue;
      const batch = queue.batches[0];
      if (!batch) continue;
      if (batch.sealedWith !== this.#producerId) {
        const id = `${queue.topic}\0${queue.partition}`;
        const seq = this.#sequences.get(id) ?? 0;
        batch.baseSequence = seq;
        const next = seq + batch.builder.count;
        this.#sequences.set(id, next > 0x7fffffff ? next - 0x80000000 : next);
      }
      const records = batch.builder.seal(this.#producerId, this.#producerEpoch, batch.baseSequence);
      batch.sealedWith = this.#producerId;
      queue.inFlight = true;
      inRequest.push([queue, batch]);
      const list = topics.get(queue.topic) ?? [];
      list.push({ partition: queue.partition, records });
      topics.set(queue.topic, list);
    }
    try {
      if (inRequest.length === 0) return;
      const request = produce(
        -1,
        this.#settings.ackTimeoutMs ?? 30_000,
        [...topics].map(([topic, partitions]) => ({ topic, partitions })),
      );
      let results: Awaited<ReturnType<typeof request.decode>>;
      try {
        const conn = await this.#cluster.connectionTo(node, 'produce');
        results = await conn.request(request, (this.#settings.ackTimeoutMs ?? 30_000) + 5_000);
      } catch (error) {
        for (const [queue, batch] of inRequest) {
          queue.inFlight = false;
          this.#failBatch(queue, batch, error as Error);
        }
        return;
      }
      let refresh = false;
      for (const [queue, batch] of inRequest) {
        queue.inFlight = false;
        const result = results.get(queue.topic)?.find((r) => r.partition === queue.partition);
        const code = result ? result.errorCode : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        if (code === ErrorCode.NONE || code === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) {
          this.#remove(queue, batch);
          batch.resolve();
          this.#release(batch);
          continue;
        }
        if (needsMetadataRefresh(code)) {
          refresh = true;
          this.#cluster.invalidate(queue.topic);
          this.#partitionCounts.delete(queue.topic);
        }
        const error = new KafkaProtocolError(code, `produce to ${queue.topic}[${queue.partition}]`);
        if (
          code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER ||
          code === ErrorCode.UNKNOWN_PRODUCER_ID ||
          code === ErrorCode.INVALID_PRODUCER_EPOCH
        ) {
          // The broker lost or rejected our sequence state: start over under a new producer id.
          this.#producerId = -1;
          this.#failBatch(queue, batch, error, true);
        } else this.#failBatch(queue, batch, error);
      }
      if (refresh) await this.#cluster.refresh([...topics.keys()]).catch(() => {});
    } finally {
      this.#busyNodes.delete(node);
      this.#scheduleDrain();
    }
  }

  /** A batch attempt failed: retry it later (same sequence) or reject it when out of attempts. */
  #failBatch(queue: PartitionQueue, batch: Batch, error: Error, retryUnderNewId = false): void {
    batch.attempts++;
    batch.lastError = error;
    const retriable = retryUnderNewId || isRetriable(error);
    if (retriable && batch.attempts <= this.#settings.retries && !this.#closed) {
      queue.notBefore = Date.now() + this.#backoff(batch.attempts);
      this.#settings.logger?.warn(
        { topic: queue.topic, partition: queue.partition, attempt: batch.attempts, err: error },
        'produce failed, retrying',
      );
      this.#scheduleDrain();
      return;
    }
    this.#remove(queue, batch);
    // Later batches were numbered after this one; they must be renumbered to follow the gap-free
    // sequence the broker expects, so the partition's sequence restarts under a fresh producer id.
    this.#producerId = -1;
    batch.reject(error);
    this.#scheduleDrain();
  }

  #remove(queue: PartitionQueue, batch: Batch): void {
    const at = queue.batches.indexOf(batch);
    if (at >= 0) queue.batches.splice(at, 1);
  }

  /** Rejects every batch not in flight (those in flight settle with their response). */
  #failAll(error: Error): void {
    for (const queue of this.#queues.values()) {
      const kept = queue.inFlight ? queue.batches.slice(0, 1) : [];
      for (const batch of queue.batches.slice(kept.length)) batch.reject(error);
      queue.batches = kept;
    }
  }

  /** Waits for every send in flight, then closes the connections. */
  /**
   * Waits for the sends in flight (at most `deadlineMs`: a broker that stays away does not hold a
   * shutdown for the whole retry budget), fails what is left, then closes the connections.
   */
  async close(deadlineMs = this.#settings.closeDeadlineMs ?? 30_000): Promise<void> {
    if (this.#outstanding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, deadlineMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#failAll(
      new Error(`producer closed before these messages were acknowledged (waited ${deadlineMs} ms)`),
    );
    this.#cluster.close();
  }
}

/**
 * The RecordSink of one WireProducer.sendRecords call: a record is begun in the open batch of its
 * key's partition and written there by the caller, nothing in between.
 */
class WireRecordSink implements RecordSink {
  buf: Buffer = EMPTY;
  count = 0;
  readonly #timestamp: number;
  readonly #builderFor: (hash: number) => RecordBatchBuilder;
  #builder: RecordBatchBuilder | undefined;
  #valueStart = 0;
  #maxValueBytes = 0;

  constructor(timestamp: number, builderFor: (hash: number) => RecordBatchBuilder) {
    this.#timestamp = timestamp;
    this.#builderFor = builderFor;
  }

  begin(key: Uint8Array, keyStart: number, keyEnd: number, maxValueBytes: number): number {
    if (this.#builder !== undefined)
      throw new Error('RecordSink.begin: the record begun before was not ended');
    checkRecord(keyStart, keyEnd, key.length, maxValueBytes);
    const builder = this.#builderFor(murmur2(key, keyStart, keyEnd));
    const at = builder.beginRecord(key, keyStart, keyEnd, maxValueBytes, this.#timestamp);
    this.#builder = builder;
    this.#valueStart = at;
    this.#maxValueBytes = maxValueBytes;
    this.buf = builder.buf;
    return at;
  }

  end(valueEnd: number): void {
    const builder = this.#builder;
    if (builder === undefined) throw new Error('RecordSink.end: no record was begun');
    checkValueEnd(valueEnd, this.#valueStart, this.#valueStart + this.#maxValueBytes);
    builder.endRecord(valueEnd);
    this.#builder = undefined;
    this.count++;
  }

  /** After the writer returned: a record it began and did not end is an error. */
  close(): void {
    if (this.#builder !== undefined) {
      throw new Error('sendRecords: the writer returned with a record begun but not ended');
    }
    this.buf = EMPTY;
  }

  /** The writer threw: a record begun is dropped (its batch's pos never moved past it). */
  abort(): void {
    this.#builder = undefined;
    this.buf = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);
