import type { BusProducer, OutgoingMessage } from '@tidewatch/bus';
import { type AvroCodec, CONTRACTS, conversationKey, type FlowRecord } from '@tidewatch/contracts';
import { FlowAvroWriter } from './flow-avro-writer.ts';

export interface FlowPublisherOptions {
  topic?: string;
  /** Messages per produce request (default 2000). */
  batchSize?: number;
  /** How long a partial batch waits for more flows before it is sent (default 20 ms). */
  lingerMs?: number;
  /**
   * Encoded flows held in memory, queued and in flight (default 50 000: ~170 ms at 300k flows/s,
   * ~20 MB of ours plus what the bus client holds for the sends in flight). Past it, offer()
   * refuses (counted).
   */
  capacity?: number;
  /** Produce requests in flight at once (default 4; each needs its own BusProducer). */
  concurrency?: number;
  /** First retry delay after a failed produce; doubles up to 5 s (default 100 ms). */
  retryDelayMs?: number;
}

/** What the publisher reports; the collector turns these into Prometheus metrics. */
export interface PublisherEvents {
  onProduced?(count: number, latencyMs: number): void;
  onProduceError?(error: unknown, count: number): void;
}

export interface PublisherStats {
  accepted: number;
  published: number;
  refused: number;
  produceErrors: number;
  queued: number;
  inFlight: number;
  encodeErrors: number;
}

/**
 * Publishes FlowRecords to `flows.v1`: Avro-encoded (Confluent framing), keyed by the canonical
 * conversation key, sent in batches (size or linger, whichever first) over a few concurrent
 * producers. Memory is bounded by `capacity`: `offer()` (UDP path) refuses flows when full and the
 * caller counts them as dropped; `write()` (files, TCP) waits for room instead. A failed produce is
 * retried with backoff until it succeeds or the publisher is closed, so nothing accepted is lost
 * while the process runs. Bus-agnostic: works with KafkaBus and InProcessBus.
 */
export class FlowPublisher {
  readonly topic: string;
  readonly #writer: FlowAvroWriter;
  readonly #producers: BusProducer[];
  readonly #idle: BusProducer[];
  readonly #events: PublisherEvents;
  readonly #batchSize: number;
  readonly #lingerMs: number;
  readonly #capacity: number;
  readonly #retryDelayMs: number;
  /** Full batches waiting for a producer, oldest first. */
  #ready: OutgoingMessage[][] = [];
  /** The batch being filled. */
  #current: OutgoingMessage[] = [];
  #queued = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #roomWaiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  readonly stats: PublisherStats = {
    accepted: 0,
    published: 0,
    refused: 0,
    produceErrors: 0,
    queued: 0,
    inFlight: 0,
    encodeErrors: 0,
  };

  constructor(
    codec: AvroCodec<FlowRecord>,
    producers: BusProducer | BusProducer[],
    options: FlowPublisherOptions = {},
    events: PublisherEvents = {},
  ) {
    this.#writer = new FlowAvroWriter(codec);
    this.#producers = Array.isArray(producers) ? producers : [producers];
    if (this.#producers.length === 0) throw new Error('FlowPublisher needs at least one producer');
    this.#idle = [...this.#producers];
    this.topic = options.topic ?? CONTRACTS.flows.topic;
    this.#batchSize = options.batchSize ?? 2000;
    this.#lingerMs = options.lingerMs ?? 20;
    this.#capacity = options.capacity ?? 50_000;
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#events = events;
  }

  /** Flows held (queued + in flight). */
  get pending(): number {
    return this.#queued + this.#inFlight;
  }

  get full(): boolean {
    return this.pending >= this.#capacity;
  }

  /** Encodes one flow into a message (key: conversation key). Throws on a value the schema refuses. */
  message(flow: FlowRecord): OutgoingMessage {
    return { key: conversationKey(flow.src_ip, flow.dst_ip), value: this.#writer.encode(flow) };
  }

  /**
   * Queues flows if there is room for all of them; returns how many were refused for lack of room
   * (0 = all taken; flows the schema refuses count in `stats.encodeErrors`). Never waits: the UDP
   * path cannot push back on exporters, it can only count.
   */
  offer(flows: FlowRecord[]): number {
    if (this.#closed || this.pending + flows.length > this.#capacity) {
      this.stats.refused += flows.length;
      return flows.length;
    }
    let bad = 0;
    for (let i = 0; i < flows.length; i++) {
      let m: OutgoingMessage;
      try {
        m = this.message(flows[i] as FlowRecord);
      } catch {
        bad++;
        continue;
      }
      this.#push(m);
    }
    this.stats.encodeErrors += bad;
    this.stats.accepted += flows.length - bad;
    this.#schedule();
    return 0;
  }

  /** Same as offer() for pre-encoded messages (decode workers encode off the main thread). */
  offerEncoded(messages: OutgoingMessage[]): number {
    if (this.#closed || this.pending + messages.length > this.#capacity) {
      this.stats.refused += messages.length;
      return messages.length;
    }
    for (let i = 0; i < messages.length; i++) this.#push(messages[i] as OutgoingMessage);
    this.stats.accepted += messages.length;
    this.#schedule();
    return 0;
  }

  /** Queues one flow, waiting while the publisher is full (backpressure for files and TCP). */
  async write(flow: FlowRecord): Promise<void> {
    while (this.full && !this.#closed) await new Promise<void>((r) => this.#roomWaiters.push(r));
    if (this.#closed) throw new Error('FlowPublisher is closed');
    this.#push(this.message(flow));
    this.stats.accepted++;
    this.#schedule();
  }

  /** Resolves once everything accepted so far has been published. */
  async flush(): Promise<void> {
    this.#pump(true);
    if (this.pending === 0) return;
    await new Promise<void>((r) => this.#drainWaiters.push(r));
  }

  /** Flushes (up to `deadlineMs`), then refuses new flows. Does not close the producers it was given. */
  async close(deadlineMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((r) => {
        timer = setTimeout(r, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#roomWaiters.splice(0)) w();
  }

  #push(m: OutgoingMessage): void {
    this.#current.push(m);
    this.#queued++;
    if (this.#current.length >= this.#batchSize) {
      this.#ready.push(this.#current);
      this.#current = [];
    }
  }

  #schedule(): void {
    if (this.#ready.length > 0) this.#pump(false);
    else if (this.#timer === undefined && this.#current.length > 0)
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump(true);
      }, this.#lingerMs);
  }

  /** Starts sends while producers are idle and there is a full batch (or any, when `partial`). */
  #pump(partial: boolean): void {
    while (this.#idle.length > 0) {
      let batch = this.#ready.shift();
      if (batch === undefined) {
        if (!partial || this.#current.length === 0) break;
        batch = this.#current;
        this.#current = [];
      }
      const producer = this.#idle.pop() as BusProducer;
      this.#queued -= batch.length;
      this.#inFlight += batch.length;
      void this.#send(producer, batch);
    }
    if (this.#queued > 0 && this.#timer === undefined && this.#idle.length > 0)
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump(true);
      }, this.#lingerMs);
    this.stats.queued = this.#queued;
    this.stats.inFlight = this.#inFlight;
  }

  async #send(producer: BusProducer, batch: OutgoingMessage[]): Promise<void> {
    let delay = this.#retryDelayMs;
    for (;;) {
      const started = performance.now();
      try {
        await producer.send(this.topic, batch);
        this.stats.published += batch.length;
        this.#events.onProduced?.(batch.length, performance.now() - started);
        break;
      } catch (error) {
        this.stats.produceErrors++;
        this.#events.onProduceError?.(error, batch.length);
        if (this.#closed) break;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
    this.#inFlight -= batch.length;
    this.#idle.push(producer);
    for (const w of this.#roomWaiters.splice(0)) w();
    this.#pump(this.#drainWaiters.length > 0);
    if (this.pending === 0) for (const w of this.#drainWaiters.splice(0)) w();
  }
}
