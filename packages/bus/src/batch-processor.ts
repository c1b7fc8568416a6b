import type { Logger } from '@tidewatch/observability';
import type { BusMetrics } from './bus-metrics.ts';
import type {
  BatchContext,
  BatchHandler,
  BusMessage,
  ConsumerOptions,
  RetryPolicy,
  TopicPartitionOffset,
} from './bus.ts';
import { classifyError, describeError } from './errors.ts';

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 5_000, maxAttempts: 3 };

export interface BatchProcessorOptions {
  handler: BatchHandler;
  commitMode: 'after-batch' | 'manual';
  retry: RetryPolicy;
  logger: Logger;
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  deadLetter(message: BusMessage, error: unknown): Promise<void>;
  metrics?: BusMetrics | undefined;
  /** Aborted when stop() is called. */
  stopSignal: AbortSignal;
  /** Keeps the group membership alive during long retries (Kafka). */
  heartbeat?: () => Promise<void>;
  /** True when a rebalance took the partition away: the batch is abandoned, not committed. */
  isStale?: () => boolean;
}

/** What every bus takes from its consumer's options for each partition's BatchProcessor. */
export function deliveryOptions(
  options: Pick<ConsumerOptions, 'commitMode' | 'retry'>,
): Pick<BatchProcessorOptions, 'commitMode' | 'retry'> {
  return { commitMode: options.commitMode ?? 'after-batch', retry: { ...DEFAULT_RETRY, ...options.retry } };
}

/**
 * ConsumerOptions.prepare of a batch read ahead (undefined without one). A throw only costs the
 * head start: it is logged and the handler does the work itself; a returned promise that rejects
 * is observed here so it never surfaces as unhandled when the batch is abandoned.
 */
export function prepareAhead(
  prepare: ((messages: BusMessage[]) => unknown) | undefined,
  messages: BusMessage[] | null,
  logger: Logger,
): unknown {
  if (!prepare || !messages || messages.length === 0) return undefined;
  try {
    const prepared = prepare(messages);
    if (prepared instanceof Promise) prepared.catch(() => undefined);
    return prepared;
  } catch (error) {
    logger.warn(
      { err: error, topic: messages[0]!.topic, partition: messages[0]!.partition },
      'prepare failed',
    );
    return undefined;
  }
}

export type BatchOutcome =
  /** Every message was handled or dead-lettered; offsets up to the last one may be resolved. */
  | 'done'
  /** Stopped (or lost the partition) before the batch finished: nothing resolved or committed. */
  | 'abandoned';

/**
 * The delivery semantics both buses share, for one batch of one partition: run the handler, retry
 * what is retriable without committing, send poison messages to the DLQ and go on, then commit the
 * batch (after-batch mode) once its output is written.
 */
export class BatchProcessor {
  constructor(private readonly options: BatchProcessorOptions) {}

  get stopping(): boolean {
    return this.options.stopSignal.aborted;
  }

  /** `prepared`: what ConsumerOptions.prepare returned for `messages` (the handler's first call gets it). */
  async process(messages: BusMessage[], prepared?: unknown): Promise<BatchOutcome> {
    const last = messages.at(-1);
    if (!last) return 'done';
    const outcome = await this.#handleAll(messages, prepared);
    if (outcome === 'abandoned') return outcome;
    if (this.options.commitMode === 'after-batch') {
      if (this.options.isStale?.()) return 'abandoned';
      await this.options.commit([{ topic: last.topic, partition: last.partition, offset: nextOffset(last) }]);
    }
    this.options.metrics?.consumed.inc({ topic: last.topic }, messages.length);
    return 'done';
  }

  #context(prepared?: unknown): BatchContext {
    const { commit, deadLetter, stopSignal } = this.options;
    return {
      commit,
      deadLetter,
      get stopping() {
        return stopSignal.aborted;
      },
      prepared,
    };
  }

  async #handleAll(messages: BusMessage[], prepared: unknown): Promise<BatchOutcome> {
    let pending = messages;
    let attempt = 0;
    let first = true;
    while (pending.length > 0) {
      if (this.options.isStale?.()) return 'abandoned';
      try {
        const ctx = this.#context(first ? prepared : undefined);
        first = false;
        await this.options.handler(pending, ctx);
        return 'done';
      } catch (error) {
        const kind = classifyError(error);
        if (kind === 'poison') {
          const culprit = (error as { busMessage?: BusMessage }).busMessage;
          const index = culprit ? pending.findIndex((m) => sameMessage(m, culprit)) : -1;
          if (index < 0) return this.#handleOneByOne(pending);
          await this.options.deadLetter(pending[index]!, error);
          pending = pending.filter((_, i) => i !== index);
          continue;
        }
        attempt += 1;
        if (kind === 'unknown' && attempt > this.options.retry.maxAttempts) {
          return this.#handleOneByOne(pending);
        }
        if (!(await this.#backoff(attempt, pending, error))) return 'abandoned';
      }
    }
    return 'done';
  }

  async #handleOneByOne(messages: BusMessage[]): Promise<BatchOutcome> {
    for (const message of messages) {
      let attempt = 0;
      for (;;) {
        if (this.options.isStale?.()) return 'abandoned';
        try {
          await this.options.handler([message], this.#context());
          break;
        } catch (error) {
          const kind = classifyError(error);
          attempt += 1;
          if (kind === 'poison' || (kind === 'unknown' && attempt > this.options.retry.maxAttempts)) {
            await this.options.deadLetter(message, error);
            break;
          }
          if (!(await this.#backoff(attempt, [message], error))) return 'abandoned';
        }
      }
    }
    return 'done';
  }

  /** Waits before the next attempt; false when the consumer is stopping (give the batch up). */
  async #backoff(attempt: number, messages: BusMessage[], error: unknown): Promise<boolean> {
    if (this.stopping) return false;
    const { initialDelayMs, maxDelayMs } = this.options.retry;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
    const first = messages[0]!;
    this.options.metrics?.retried.inc({ topic: first.topic });
    this.options.logger.warn(
      { topic: first.topic, partition: first.partition, offset: first.offset, attempt, delayMs: delay },
      `batch failed, retrying: ${describeError(error)}`,
    );
    await sleep(delay, this.options.stopSignal);
    if (this.stopping) return false;
    await this.options.heartbeat?.();
    return true;
  }
}

export function nextOffset(message: BusMessage): string {
  return (BigInt(message.offset) + 1n).toString();
}

function sameMessage(a: BusMessage, b: BusMessage): boolean {
  return a.topic === b.topic && a.partition === b.partition && a.offset === b.offset;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
