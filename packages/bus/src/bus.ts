/**
 * The message bus every service talks through. Two implementations share this interface and one
 * test suite: KafkaBus (kafkajs, production) and InProcessBus (one-process mode, tests). Values are
 * already-encoded bytes (Avro with the Confluent header, see @tidewatch/contracts).
 */
export interface OutgoingMessage {
  key: Buffer | string | null;
  value: Buffer;
  headers?: Record<string, string>;
  /** Explicit partition; by default the key's hash picks it (murmur2, Kafka's default). */
  partition?: number;
}

export interface BusMessage {
  topic: string;
  partition: number;
  /** Offset as a decimal string (Kafka offsets exceed 2^53 in principle). */
  offset: string;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
  timestampMs: number;
}

export interface TopicSpec {
  topic: string;
  partitions?: number;
  /** Creates `<topic>.dlq` beside it (default true). */
  withDeadLetter?: boolean;
}

/**
 * Where BusProducer.sendRecords' writer puts records: each is begun with its key, its value written
 * by the caller into `buf` from the position begin() returned, and ended at the value's end.
 */
export interface RecordSink {
  /** The buffer the record begun last is written into (read it after begin(); it may change there). */
  readonly buf: Buffer;
  /**
   * Starts a record keyed by key[keyStart, keyEnd), on the partition the key's murmur2 hash picks
   * (as send() does), with room for up to `maxValueBytes` of value; returns where the value starts.
   */
  begin(key: Uint8Array, keyStart: number, keyEnd: number, maxValueBytes: number): number;
  /** Ends the record begun last: its value is buf[start, valueEnd). */
  end(valueEnd: number): void;
}

export interface BusProducer {
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /**
   * Calls `write` once, synchronously, to write records (no headers) straight into the producer's
   * buffers, then resolves like send() once they are acknowledged, with how many there were. If
   * `write` throws, none of its records is sent. Optional: a producer without it takes send().
   */
  sendRecords?(topic: string, write: (sink: RecordSink) => void): Promise<number>;
  close(): Promise<void>;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (last processed + 1), as Kafka commits it. */
  offset: string;
}

export interface BatchContext {
  /** Commit explicitly (for consumers that hold state, e.g. the sequencer's open windows). */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Send a message that cannot be processed to `<topic>.dlq` with its error; the stream goes on. */
  deadLetter(message: BusMessage, error: unknown): Promise<void>;
  /** True once stop() was called: finish the batch quickly. */
  readonly stopping: boolean;
  /**
   * What ConsumerOptions.prepare returned for exactly these messages, on the handler's first call
   * for the batch; undefined on retries (a retry may hold fewer messages) and where the bus does
   * not read ahead.
   */
  readonly prepared?: unknown;
}

/** Thrown by a handler for a message that will never succeed: it goes to the DLQ and is skipped. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
  /**
   * The offending message when the handler knows it. Without it the bus replays the batch one
   * message at a time to find the poison one (earlier messages are reprocessed: handlers are
   * idempotent under at-least-once anyway).
   */
  readonly busMessage: BusMessage | undefined;

  constructor(message: string, options?: ErrorOptions & { busMessage?: BusMessage }) {
    super(message, options);
    this.busMessage = options?.busMessage;
  }
}

/** Thrown by a handler for a transient failure: the batch is retried with backoff, not committed. */
export class RetriableError extends Error {
  override name = 'RetriableError';
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts (default: earliest). */
  fromBeginning?: boolean;
  /**
   * 'after-batch' (default): offsets of a batch are committed after the handler resolved, i.e.
   * after its output was written (at-least-once). 'manual': only ctx.commit() commits.
   */
  commitMode?: 'after-batch' | 'manual';
  maxBatchSize?: number;
  /**
   * How many partitions' batches are handled at once (default 1). Each partition's batches stay in
   * offset order and each is committed after its own handler resolved; above 1 the handler is called
   * concurrently for different partitions, so a service whose handler waits on another thread or on
   * I/O (a model worker, a store's fsync) overlaps one partition's waiting with another's work.
   */
  partitionConcurrency?: number;
  /**
   * Called with a partition's next batch as soon as it is read, while the handler still works on
   * the batch before it (wire client and InProcessBus; kafkajs does not read ahead). Its result
   * reaches the handler as `ctx.prepared`. It must have no effect outside the process (no output,
   * no commit): the batch may be abandoned, or handled again without it. Lets a handler start
   * work that waits on another thread (e.g. queue model runs) before the batch ahead is stored,
   * while commits stay one batch after another.
   */
  prepare?: (messages: BusMessage[]) => unknown;
  /** Retry policy for RetriableError and unclassified errors (see RetryPolicy). */
  retry?: Partial<RetryPolicy>;
  /** Kafka session timeout: how soon a crashed member's partitions move to another (default 10 s). */
  sessionTimeoutMs?: number;
  onPartitionsAssigned?: (partitions: { topic: string; partition: number }[]) => void | Promise<void>;
  onPartitionsRevoked?: (partitions: { topic: string; partition: number }[]) => void | Promise<void>;
}

/**
 * How a failing batch is retried: RetriableError is retried with capped exponential backoff for as
 * long as the consumer runs (nothing is committed meanwhile); any other unclassified error is
 * retried `maxAttempts` times, then the batch is replayed message by message and a message that
 * still fails goes to the DLQ.
 */
export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

export type BatchHandler = (messages: BusMessage[], ctx: BatchContext) => Promise<void>;

export interface BusConsumer {
  /** Starts consuming; resolves once the consumer has joined its group. */
  run(handler: BatchHandler): Promise<void>;
  /** Graceful drain: stop fetching, finish the in-flight batch, commit, leave the group. */
  stop(): Promise<void>;
  /** Consumer lag per partition (messages behind the high watermark). */
  lag(): Promise<{ topic: string; partition: number; lag: number }[]>;
}

export interface MessageBus {
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  producer(): Promise<BusProducer>;
  consumer(options: ConsumerOptions): BusConsumer;
  close(): Promise<void>;
}
