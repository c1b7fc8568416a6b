import type { Logger } from '@tidewatch/observability';
import { BatchProcessor, deliveryOptions, prepareAhead } from '../batch-processor.ts';
import type { BusMetrics } from '../bus-metrics.ts';
import type { BatchHandler, BusConsumer, BusMessage, ConsumerOptions } from '../bus.ts';
import { forEachConcurrently } from '../concurrent-partitions.ts';
import { fetch } from './apis.ts';
import { Cluster, type ClusterSettings, isRetriable, sleep } from './cluster.ts';
import { GroupMember, type TopicPartition } from './group-member.ts';
import { listPartitionOffsets } from './offsets.ts';
import { ErrorCode, KafkaProtocolError, needsMetadataRefresh } from './protocol-errors.ts';
import { CorruptRecordBatchError, RecordBatchReader } from './record-batch.ts';

export interface WireConsumerDeps {
  /** Where to connect, or a Cluster to use (and close on stop). */
  cluster: ClusterSettings | Cluster;
  logger: Logger;
  metrics: BusMetrics | undefined;
  deadLetter(message: BusMessage, error: unknown): Promise<void>;
  lag(): Promise<{ topic: string; partition: number; lag: number }[]>;
  stopDeadlineMs: number;
  maxWaitMs?: number;
  /** Fetch size per partition (bytes). */
  partitionMaxBytes?: number;
}

type State = 'idle' | 'running' | 'stopping' | 'stopped';

const METADATA_CHECK_MS = 30_000;
const JOIN_TIMEOUT_MS = 60_000;
const key = (topic: string, partition: number) => `${topic}\0${partition}`;

/**
 * A BusConsumer on the wire client: one group member, a fetch loop over the assigned partitions
 * (one Fetch per leader), record batches decoded straight into BusMessages, each partition's
 * messages handled in chunks by the shared BatchProcessor.
 */
export class WireConsumer implements BusConsumer {
  readonly #options: ConsumerOptions;
  readonly #deps: WireConsumerDeps;
  readonly #cluster: Cluster;
  readonly #member: GroupMember;
  readonly #abort = new AbortController();
  readonly #logger: Logger;
  #state: State = 'idle';
  #positions = new Map<string, number>();
  /** Partitions whose fetched data was corrupt wait before they are fetched again. */
  readonly #pausedUntil = new Map<string, number>();
  #assigned: TopicPartition[] = [];
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #untrackLag: (() => void) | undefined;
  /** Partition counts of the subscribed topics when the group was last joined (-1: absent). */
  #subscribedCounts = new Map<string, number>();
  #metadataCheckedAt = 0;
  /** Wakes the fetch loop's idle wait (rejoin or stop). */
  #wake: (() => void) | undefined;

  constructor(options: ConsumerOptions, deps: WireConsumerDeps) {
    this.#options = options;
    this.#deps = deps;
    this.#logger = deps.logger.child({ groupId: options.groupId });
    this.#cluster = deps.cluster instanceof Cluster ? deps.cluster : new Cluster(deps.cluster);
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.#member = new GroupMember(this.#cluster, {
      groupId: options.groupId,
      topics: options.topics,
      sessionTimeoutMs,
      rebalanceTimeoutMs: 60_000,
      heartbeatIntervalMs: Math.max(500, Math.floor(sessionTimeoutMs / 5)),
      logger: this.#logger,
    });
    this.#member.onRejoinNeeded(() => this.#wake?.());
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.#state !== 'idle') throw new Error(`consumer of group ${this.#options.groupId} already ran`);
    this.#state = 'running';
    let timer: NodeJS.Timeout | undefined;
    try {
      const joining = (async () => {
        // A broker still starting is waited for, up to the join deadline.
        for (let attempt = 1; ; attempt++) {
          try {
            await this.#cluster.refresh(this.#options.topics);
            await this.#join();
            return;
          } catch (error) {
            if (!isRetriable(error) || this.#abort.signal.aborted) throw error;
            this.#logger.warn({ err: error, attempt }, 'joining the group failed, retrying');
            await sleep(Math.min(5_000, 100 * 2 ** attempt), this.#abort.signal);
          }
        }
      })();
      // Settles after the deadline too (then nobody waits for it).
      joining.catch(() => {});
      await Promise.race([
        joining,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`consumer of group ${this.#options.groupId} did not join within 60 s`)),
            JOIN_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      this.#abort.abort();
      this.#state = 'stopped';
      this.#member.close();
      this.#cluster.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    this.#untrackLag = this.#deps.metrics?.trackLag(() => this.lag());
    this.#loop = this.#fetchLoop(handler);
  }

  async #join(): Promise<void> {
    const signal = this.#abort.signal;
    this.#subscribedCounts = await this.#partitionCounts();
    this.#metadataCheckedAt = Date.now();
    const assignment = await this.#member.join(signal);
    this.#assigned = assignment;
    this.#positions = new Map();
    if (assignment.length > 0) {
      const committed = await this.#member.committed(assignment);
      const missing = assignment.filter((p) => (committed.get(key(p.topic, p.partition)) ?? -1) < 0);
      const reset = missing.length > 0 ? await this.#resetOffsets(missing) : new Map<string, number>();
      for (const { topic, partition } of assignment) {
        const k = key(topic, partition);
        const at = committed.get(k) ?? -1;
        this.#positions.set(k, at >= 0 ? at : reset.get(k)!);
      }
    }
    try {
      await this.#options.onPartitionsAssigned?.(assignment);
    } catch (error) {
      this.#logger.error({ err: error }, 'onPartitionsAssigned failed');
    }
  }

  async #partitionCounts(): Promise<Map<string, number>> {
    await this.#cluster.refresh(this.#options.topics);
    const counts = new Map<string, number>();
    for (const topic of this.#options.topics) {
      counts.set(
        topic,
        await this.#cluster.topic(topic).then(
          (t) => t.leaders.length,
          () => -1,
        ),
      );
    }
    return counts;
  }

  /**
   * Every 30 s: when a subscribed topic appeared or gained partitions since the group was joined,
   * rejoin so that the leader assigns them (the Java consumer's metadata-change rebalance).
   */
  async #checkMetadata(): Promise<void> {
    if (Date.now() - this.#metadataCheckedAt < METADATA_CHECK_MS) return;
    this.#metadataCheckedAt = Date.now();
    for (const topic of this.#options.topics) this.#cluster.invalidate(topic);
    const counts = await this.#partitionCounts();
    for (const [topic, count] of counts) {
      if (count !== this.#subscribedCounts.get(topic)) {
        this.#logger.info({ topic, partitions: count }, 'subscribed topic changed: rejoining the group');
        this.#member.requestRejoin();
        return;
      }
    }
  }

  #resetOffsets(partitions: TopicPartition[]): Promise<Map<string, number>> {
    return listPartitionOffsets(this.#cluster, partitions, this.#options.fromBeginning === false ? -1 : -2);
  }

  async #revoke(): Promise<void> {
    const revoked = this.#assigned;
    this.#assigned = [];
    this.#positions = new Map();
    if (revoked.length === 0) return;
    try {
      await this.#options.onPartitionsRevoked?.(revoked);
    } catch (error) {
      this.#logger.error({ err: error }, 'onPartitionsRevoked failed');
    }
  }

  async #fetchLoop(handler: BatchHandler): Promise<void> {
    const signal = this.#abort.signal;
    let failures = 0;
    let prefetched: Promise<RecordBatchReader[]> | undefined;
    while (!signal.aborted) {
      try {
        await this.#checkMetadata();
        if (this.#member.rejoinNeeded) {
          prefetched = undefined;
          await this.#revoke();
          await this.#join();
          continue;
        }
        if (this.#assigned.length === 0) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
            setTimeout(resolve, 1000).unref();
          });
          this.#wake = undefined;
          continue;
        }
        const fetched = await (prefetched ?? this.#fetchOnce());
        prefetched = undefined;
        failures = 0;
        // Data fetched ahead is used only where the partition's position is still where it began.
        const usable = fetched.filter((r) => this.#positions.get(key(r.topic, r.partition)) === r.from);
        if (usable.length > 0 && !signal.aborted && !this.#member.rejoinNeeded) {
          // The next fetch (from the end of these batches) runs on the broker while these are handled.
          prefetched = this.#fetchOnce(new Map(usable.map((r) => [key(r.topic, r.partition), r.scanEnd()])));
          prefetched.catch(() => {}); // a failure surfaces when it is awaited
        }
        await forEachConcurrently(usable, this.#options.partitionConcurrency ?? 1, (reader) =>
          signal.aborted || this.#member.rejoinNeeded
            ? Promise.resolve(false)
            : this.#process(handler, reader),
        );
      } catch (error) {
        prefetched = undefined;
        if (signal.aborted) break;
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures, 6));
        this.#logger[failures > 3 ? 'error' : 'warn'](
          { err: error, delayMs: delay },
          'consumer loop failed, retrying',
        );
        for (const topic of this.#options.topics) this.#cluster.invalidate(topic);
        await sleep(delay, signal);
      }
    }
  }

  /**
   * One Fetch per partition leader, in parallel, from each partition's position (or from `ahead`);
   * returns a record reader per partition with data.
   */
  async #fetchOnce(ahead?: Map<string, number>): Promise<RecordBatchReader[]> {
    const byLeader = new Map<number, Map<string, { partition: number; offset: number }[]>>();
    for (const { topic, partition } of this.#assigned) {
      const position = this.#positions.get(key(topic, partition));
      if (position === undefined) continue;
      const offset = ahead?.get(key(topic, partition)) ?? position;
      const paused = this.#pausedUntil.get(key(topic, partition));
      if (paused !== undefined) {
        if (paused > Date.now()) continue;
        this.#pausedUntil.delete(key(topic, partition));
      }
      const leader = (await this.#cluster.topic(topic)).leaders[partition] ?? -1;
      if (leader < 0) {
        this.#cluster.invalidate(topic);
        continue;
      }
      const topics = byLeader.get(leader) ?? new Map();
      const list = topics.get(topic) ?? [];
      list.push({ partition, offset });
      topics.set(topic, list);
      byLeader.set(leader, topics);
    }
    if (byLeader.size === 0) {
      await sleep(200, this.#abort.signal);
      return [];
    }
    const maxWaitMs = this.#deps.maxWaitMs ?? 500;
    const partitionMaxBytes = this.#deps.partitionMaxBytes ?? 2 * 1024 * 1024;
    const results = await Promise.all(
      [...byLeader].map(async ([leader, topics]) => {
        const conn = await this.#cluster.connectionTo(leader, 'fetch');
        const request = fetch(
          maxWaitMs,
          64 * 1024 * 1024,
          partitionMaxBytes,
          [...topics].map(([topic, partitions]) => ({ topic, partitions })),
        );
        return { topics, response: await conn.request(request, maxWaitMs + 30_000) };
      }),
    );
    const out: RecordBatchReader[] = [];
    const resets: TopicPartition[] = [];
    for (const { topics, response } of results) {
      if (response.errorCode !== 0) throw new KafkaProtocolError(response.errorCode, 'Fetch');
      for (const [topic, partitions] of response.topics) {
        for (const p of partitions) {
          const from = topics.get(topic)?.find((x) => x.partition === p.partition)?.offset;
          if (from === undefined) continue;
          if (p.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
            // Reset only a position that is still the one fetched from (not one fetched ahead of).
            if (this.#positions.get(key(topic, p.partition)) === from)
              resets.push({ topic, partition: p.partition });
            continue;
          }
          if (p.errorCode !== 0) {
            if (needsMetadataRefresh(p.errorCode)) this.#cluster.invalidate(topic);
            this.#logger.warn(
              { topic, partition: p.partition, error: new KafkaProtocolError(p.errorCode).message },
              'fetch of partition failed',
            );
            continue;
          }
          if (!p.records || p.records.length === 0) continue;
          out.push(new RecordBatchReader(p.records, 0, p.records.length, topic, p.partition, from));
        }
      }
    }
    if (resets.length > 0) {
      const fresh = await this.#resetOffsets(resets);
      for (const [k, offset] of fresh) {
        this.#logger.warn({ partition: k.replace('\0', ':'), offset }, 'offset out of range: reset');
        if (this.#positions.has(k)) this.#positions.set(k, offset);
      }
    }
    return out;
  }

  /** Handles one partition's fetched records in chunks; false when the rest must wait (stop, rebalance). */
  async #process(handler: BatchHandler, reader: RecordBatchReader): Promise<boolean> {
    const { topic, partition } = reader;
    const k = key(topic, partition);
    const generation = this.#member.generationId;
    const processor = new BatchProcessor({
      handler,
      ...deliveryOptions(this.#options),
      logger: this.#logger,
      metrics: this.#deps.metrics,
      commit: (offsets) => this.#member.commit(offsets),
      deadLetter: (message, error) => this.#deps.deadLetter(message, error),
      stopSignal: this.#abort.signal,
      isStale: () =>
        this.#member.generationLost || this.#member.generationId !== generation || !this.#positions.has(k),
    });
    const maxBatch = this.#options.maxBatchSize ?? 500;
    let corrupt = false;
    /** The reader's next chunk; null when it has no more (or stopped at a corrupt record batch). */
    const read = (): BusMessage[] | null => {
      if (corrupt) return null;
      const chunk: BusMessage[] = [];
      try {
        if (reader.read(maxBatch, chunk) === 0) return null;
      } catch (error) {
        if (!(error instanceof CorruptRecordBatchError)) throw error;
        // Never skipped silently: reported, and the partition is fetched again from here later.
        this.#logger.error({ topic, partition, offset: this.#positions.get(k), err: error }, error.message);
        this.#pausedUntil.set(k, Date.now() + 5_000);
        corrupt = true;
        if (chunk.length === 0) return null;
      }
      return chunk;
    };
    // One chunk is read (and prepared) ahead while the one before it is handled.
    let chunk = read();
    let prepared = prepareAhead(this.#options.prepare, chunk, this.#logger);
    while (chunk) {
      if (this.#abort.signal.aborted || this.#member.rejoinNeeded) return false;
      const next = read();
      const nextPrepared = prepareAhead(this.#options.prepare, next, this.#logger);
      let outcome: 'done' | 'abandoned';
      try {
        outcome = await processor.process(chunk, prepared);
      } catch (error) {
        // The commit failed (the group moved on): the chunk comes again after the rejoin.
        this.#logger.warn({ err: error, topic, partition }, 'batch not committed');
        return false;
      }
      if (outcome === 'abandoned') return false;
      if (this.#positions.has(k)) this.#positions.set(k, Number(chunk.at(-1)!.offset) + 1);
      chunk = next;
      prepared = nextPrepared;
    }
    if (corrupt) return true;
    const position = this.#positions.get(k);
    if (position !== undefined && reader.nextOffset > position) this.#positions.set(k, reader.nextOffset);
    return true;
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
    this.#wake?.();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.#deps.stopDeadlineMs);
    });
    const drained = (async () => {
      if (wasRunning) {
        await this.#loop;
        await this.#member.leave();
      }
      return 'drained' as const;
    })();
    const result = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    this.#state = 'stopped';
    this.#member.close();
    this.#cluster.close();
    if (result === 'deadline') {
      this.#logger.error(
        { deadlineMs: this.#deps.stopDeadlineMs },
        'consumer did not drain before the deadline',
      );
      throw new Error(
        `consumer of group ${this.#options.groupId} did not drain within ${this.#deps.stopDeadlineMs} ms`,
      );
    }
  }

  lag(): Promise<{ topic: string; partition: number; lag: number }[]> {
    return this.#deps.lag();
  }
}
