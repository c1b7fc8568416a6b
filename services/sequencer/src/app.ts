import {
  type BatchContext,
  type BusMessage,
  type BusProducer,
  KafkaBus,
  type MessageBus,
  RetriableError,
} from '@tidewatch/bus';
import {
  type ContractCodecs,
  conversationKey,
  createCodecs,
  type EntityContext,
  type FlowRecord,
} from '@tidewatch/contracts';
import { componentLogger, defaultLogger, type Logger } from '@tidewatch/observability';
import {
  type EncodedSequence,
  type EntityStats,
  encodeWindow,
  FlowDecoder,
  InMemoryEntityStats,
  type OpenWindow,
  PartitionSequencer,
  SequenceEncoder,
  windowContribution,
  writeWindow,
} from '@tidewatch/sequencing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { SequencerConfig } from './config.ts';
import { IDLE_WATERMARK, MemoryCoordination, type SequencerCoordination } from './coordination.ts';
import { createSequencerMetrics, type SequencerMetrics } from './metrics.ts';
import { RedisSequencerState } from './redis-state.ts';

export interface SequencerDeps {
  bus?: MessageBus;
  redis?: Redis;
  /** One-process mode: exact in-memory statistics (with in-memory coordination unless given). */
  entityStats?: EntityStats;
  coordination?: SequencerCoordination;
  logger?: Logger;
  registry?: Registry;
}

export interface SequencerApp {
  start(): Promise<void>;
  /** Graceful: stop intake, flush what may be emitted, commit, close what the app created. */
  stop(): Promise<void>;
  readonly registry: Registry;
  readonly metrics: SequencerMetrics;
  /** Readiness: consuming. */
  ready(): boolean;
}

interface LateRecord {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

interface PartitionState {
  sequencer: PartitionSequencer;
  /** Sealed windows whose statistics are not applied yet (kept across a failed attempt). */
  unapplied: OpenWindow[];
  /** Windows taken for emission but not yet written. */
  unemitted: OpenWindow[];
  /** Late records not yet written to the late topic. */
  late: LateRecord[];
  lastInputAt: number;
  idle: boolean;
  committed: number;
}

/** Runs one async step at a time (the consumer's batches and the idle ticker share the state). */
class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(step, step);
    this.#tail = next.catch(() => {});
    return next;
  }
}

export function createApp(config: SequencerConfig, deps: SequencerDeps = {}): SequencerApp {
  const logger = componentLogger(deps.logger ?? defaultLogger(), 'sequencer');
  const registry = deps.registry ?? new Registry();
  const metrics = createSequencerMetrics(registry);
  const timer = async <T>(op: string, run: () => Promise<T>): Promise<T> => {
    const end = metrics.redisSeconds.startTimer({ op });
    try {
      return await run();
    } finally {
      end();
    }
  };

  const ownsBus = !deps.bus;
  const ownsRedis = !deps.redis && !deps.entityStats;
  let bus: MessageBus | undefined = deps.bus;
  let redis: Redis | undefined = deps.redis;
  let stats: EntityStats | undefined = deps.entityStats;
  let coordination: SequencerCoordination | undefined = deps.coordination;

  const states = new Map<number, PartitionState>();
  const assignedAt = new Map<number, number>();
  const staleReads = new Map<number, { offset: number; attempts: number }>();
  const queue = new SerialQueue();
  let codecs: ContractCodecs | undefined;
  let decoder: FlowDecoder | undefined;
  let encoder: SequenceEncoder | undefined;
  let producer: BusProducer | undefined;
  let consumer: ReturnType<MessageBus['consumer']> | undefined;
  let lastContext: BatchContext | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let running = false;

  function requireReady() {
    if (!codecs || !decoder || !encoder || !producer || !stats || !coordination)
      throw new Error('sequencer used before start()');
    return { codecs, decoder, encoder, producer, stats, coordination };
  }

  async function stateFor(partition: number, firstOffset: number): Promise<PartitionState> {
    const existing = states.get(partition);
    if (existing) return existing;
    const { coordination } = requireReady();
    const checkpoint = await coordination.loadCheckpoint(
      config.groupId,
      config.flowsTopic,
      partition,
      firstOffset,
    );
    if (
      !checkpoint &&
      firstOffset > 0 &&
      (await coordination.hasCheckpoints(config.groupId, config.flowsTopic, partition))
    ) {
      // Checkpoints exist but none for this offset: a batch delivered from the previous generation
      // after a rebalance (the committed offset is elsewhere). Retrying lets the bus drop it; an
      // operator's offset reset, which also lands here, proceeds after a few attempts.
      const seen = staleReads.get(partition);
      const attempts = seen?.offset === firstOffset ? seen.attempts + 1 : 1;
      staleReads.set(partition, { offset: firstOffset, attempts });
      if (attempts <= 5) {
        throw new RetriableError(`partition ${partition}: no replay checkpoint for offset ${firstOffset}`);
      }
    }
    staleReads.delete(partition);
    if (!checkpoint && firstOffset > 0) {
      logger.warn(
        { partition, offset: firstOffset },
        'no replay checkpoint for this offset: starting with empty state',
      );
    }
    const state: PartitionState = {
      sequencer: new PartitionSequencer(config.spec, checkpoint),
      unapplied: [],
      unemitted: [],
      late: [],
      lastInputAt: Date.now(),
      idle: false,
      committed: firstOffset,
    };
    if (!checkpoint) state.sequencer.skip(firstOffset - 1);
    logger.info(
      { partition, offset: firstOffset, restored: checkpoint !== undefined },
      'partition state built; open windows are rebuilt by re-reading',
    );
    states.set(partition, state);
    return state;
  }

  async function handle(messages: BusMessage[], ctx: BatchContext): Promise<void> {
    lastContext = ctx;
    await queue.run(async () => {
      const { decoder } = requireReady();
      const touched = new Set<number>();
      const fed = new Set<PartitionState>();
      const counts = { accepted: 0, late: 0, replayed: 0, not_a_flow: 0, merged: 0, invalid: 0 };
      let partition = -1;
      let state: PartitionState | undefined;
      try {
        for (const message of messages) {
          if (message.topic !== config.flowsTopic) continue;
          const offset = Number(message.offset);
          if (message.partition !== partition || !state) {
            state = states.get(message.partition) ?? (await stateFor(message.partition, offset));
            partition = message.partition;
            touched.add(partition);
          }
          const sequencer = state.sequencer;
          if (offset < sequencer.nextOffset) continue;
          let flow: FlowRecord;
          try {
            flow = decoder.decodeDeferred(message.value);
          } catch (error) {
            counts.invalid++;
            sequencer.skip(offset);
            await ctx.deadLetter(message, error);
            continue;
          }
          // Addresses stay bytes unless the flow goes elsewhere than a window (then they are set).
          const outcome = sequencer.pushTransient(flow, offset, decoder.addresses);
          counts[outcome]++;
          if (outcome === 'late') {
            state.late.push({
              key: message.key?.toString() ?? conversationKey(flow.src_ip, flow.dst_ip),
              value: message.value,
              headers: lateHeaders(sequencer.watermark),
            });
          }
          fed.add(state);
        }
      } finally {
        for (const outcome of ['accepted', 'late', 'replayed', 'not_a_flow', 'merged', 'invalid'] as const) {
          if (counts[outcome] > 0) metrics.flowsInBy[outcome].inc(counts[outcome]);
        }
        const now = Date.now();
        for (const s of fed) {
          s.lastInputAt = now;
          s.idle = false;
        }
      }
      await flush(touched, ctx);
    });
  }

  function lateHeaders(watermark: number): Record<string, string> {
    return { 'tidewatch-late': 'window-closed', 'tidewatch-watermark-ms': String(watermark) };
  }

  /**
   * Seal → apply statistics → publish watermarks → emit what every partition has passed → commit.
   * Restartable: a failed step leaves its work in the partition state for the next attempt.
   */
  async function flush(partitions: Iterable<number>, ctx: BatchContext | undefined): Promise<void> {
    const { codecs, producer, stats, coordination } = requireReady();
    const active = [...partitions].filter((p) => states.has(p));
    for (const p of active) {
      const state = states.get(p) as PartitionState;
      append(state.unapplied, state.sequencer.seal());
      for (const flow of state.sequencer.takeLate()) {
        state.late.push({
          key: conversationKey(flow.src_ip, flow.dst_ip),
          value: codecs.flows.encode(flow),
          headers: lateHeaders(state.sequencer.watermark),
        });
      }
    }
    const late = active.flatMap((p) => (states.get(p) as PartitionState).late);
    if (late.length > 0) {
      await producer.send(config.lateTopic, late);
      metrics.lateFlows.inc(late.length);
      for (const p of active) (states.get(p) as PartitionState).late = [];
    }
    const unapplied = active.flatMap((p) => (states.get(p) as PartitionState).unapplied);
    if (stats.applySealed) await stats.applySealed(unapplied);
    else await stats.applyWindows(unapplied.map(windowContribution));
    const published = new Map<number, number>();
    for (const p of active) {
      const state = states.get(p) as PartitionState;
      state.unapplied = [];
      published.set(p, state.idle ? IDLE_WATERMARK : state.sequencer.watermark);
    }
    const low = await coordination.exchangeWatermarks(config.flowsTopic, published, config.flowsPartitions);
    for (const p of active) {
      const state = states.get(p) as PartitionState;
      append(state.unemitted, state.sequencer.takeEmittable(low));
    }
    await emit(active);
    if (ctx) await commit(active, ctx);
    updateGauges();
  }

  async function emit(partitions: number[]): Promise<void> {
    const { encoder, producer, stats } = requireReady();
    const windows = partitions.flatMap((p) => (states.get(p) as PartitionState).unemitted);
    if (windows.length === 0) return;
    const contextOf = await windowContexts(windows, stats);
    const { spec, sequencesTopic } = config;
    let emitted = 0;
    if (producer.sendRecords) {
      // Each sequence is encoded once, straight into the producer's record batch.
      emitted = await producer.sendRecords(sequencesTopic, (sink) => {
        for (let i = 0; i < windows.length; i++) {
          writeWindow(windows[i] as OpenWindow, contextOf(i), spec, encoder, sink);
        }
      });
    } else {
      // A producer with send() only (a wrapper, a test double): the same messages, each its own Buffer view.
      const out: EncodedSequence[] = [];
      for (let i = 0; i < windows.length; i++) {
        encodeWindow(windows[i] as OpenWindow, contextOf(i), spec, encoder, out);
      }
      await producer.send(sequencesTopic, out);
      emitted = out.length;
    }
    metrics.sequencesOut.inc(emitted);
    for (const p of partitions) (states.get(p) as PartitionState).unemitted = [];
  }

  /** The context of each window (by its index), read in one round trip for the whole batch. */
  async function windowContexts(
    windows: OpenWindow[],
    stats: EntityStats,
  ): Promise<(i: number) => EntityContext> {
    if (stats instanceof InMemoryEntityStats) {
      // A context is a map lookup here: no round trip to save, so no index of distinct keys
      // (building it cost about twice the lookups themselves).
      return (i) => {
        const w = windows[i] as OpenWindow;
        return stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms);
      };
    }
    if (stats.windowContexts) {
      const contexts = await stats.windowContexts(windows);
      return (i) => contexts[i] as EntityContext;
    }
    // A window is one conversation: its own (initiator, responder, window start) key.
    const contexts = await stats.contexts(
      windows.map((w) => ({ initiator: w.src_ip, responder: w.dst_ip, windowStartMs: w.window_start_ms })),
    );
    return (i) =>
      contexts[i] ?? {
        distinct_dsts: 0,
        distinct_dst_ports: 0,
        connections: 0,
        distinct_srcs: 0,
        distinct_probe_srcs: 0,
      };
  }

  async function commit(partitions: number[], ctx: BatchContext): Promise<void> {
    const { coordination } = requireReady();
    for (const p of partitions) {
      const state = states.get(p) as PartitionState;
      const checkpoint = state.sequencer.checkpoint();
      if (checkpoint.offset <= state.committed) continue;
      await coordination.saveCheckpoint(config.groupId, config.flowsTopic, p, checkpoint);
      try {
        await ctx.commit([{ topic: config.flowsTopic, partition: p, offset: String(checkpoint.offset) }]);
      } catch (error) {
        // Lost the partition in a rebalance: its new owner replays from the last commit.
        logger.warn({ partition: p, err: error }, 'offset commit failed');
        continue;
      }
      metrics.commits.inc();
      const previous = state.committed;
      state.committed = checkpoint.offset;
      if (previous < checkpoint.offset) {
        await coordination.pruneCheckpoints(config.groupId, config.flowsTopic, p, checkpoint.offset);
      }
    }
  }

  function updateGauges(): void {
    let open = 0;
    let pending = 0;
    let low = Number.POSITIVE_INFINITY;
    for (const s of states.values()) {
      open += s.sequencer.openWindows;
      pending += s.sequencer.pendingHalves;
      if (!s.idle) low = Math.min(low, s.sequencer.watermark);
    }
    metrics.openWindows.set(open);
    metrics.pendingHalves.set(pending);
    if (Number.isFinite(low)) metrics.watermarkLag.set((Date.now() - low) / 1000);
  }

  /** One-process mode: forget initiator-windows every partition here has emitted (bounded memory). */
  function evictInMemoryStats(): void {
    if (!(stats instanceof InMemoryEntityStats) || states.size === 0) return;
    let emitted = Number.POSITIVE_INFINITY;
    for (const s of states.values()) emitted = Math.min(emitted, s.sequencer.emittedThrough);
    if (Number.isFinite(emitted)) stats.evictBefore(emitted - 2 * config.spec.window_ms);
  }

  /** Records not yet read per assigned partition (from the group's lag and what is held here). */
  async function unreadByPartition(): Promise<Map<number, number>> {
    const unread = new Map<number, number>();
    if (!consumer) return unread;
    for (const { topic, partition, lag } of await consumer.lag()) {
      if (topic !== config.flowsTopic) continue;
      const state = states.get(partition);
      unread.set(partition, state ? lag - (state.sequencer.nextOffset - state.committed) : lag);
    }
    return unread;
  }

  /** Idle partitions flush; windows held back by other partitions are emitted once they pass. */
  async function tick(): Promise<void> {
    await queue.run(async () => {
      if (!running) return;
      const { coordination } = requireReady();
      const now = Date.now();
      const silentFor = (since: number) => now - since >= config.idleFlushMs;
      const candidates = [...states].some(([, st]) => !st.idle && silentFor(st.lastInputAt));
      const silentAssigned = [...assignedAt].filter(([p, since]) => !states.has(p) && silentFor(since));
      if (!candidates && silentAssigned.length === 0) {
        await flush(states.keys(), lastContext);
        return;
      }
      // Wall-clock silence alone is not idleness: a partition may just wait behind another
      // partition's backlog. Idle also needs nothing left to read (high watermark reached).
      const unread = await unreadByPartition();
      for (const [p, state] of states) {
        if (!state.idle && silentFor(state.lastInputAt) && unread.get(p) === 0) {
          state.sequencer.idleFlush();
          state.idle = true;
          logger.debug({ partition: p }, 'partition idle: open windows flushed');
        }
      }
      const silent = new Map<number, number>();
      for (const [p] of silentAssigned) if (unread.get(p) === 0) silent.set(p, IDLE_WATERMARK);
      if (silent.size > 0) await coordination.publishWatermarks(config.flowsTopic, silent);
      await flush(states.keys(), lastContext);
      evictInMemoryStats();
    });
  }

  return {
    registry,
    metrics,
    ready: () => running,
    async start() {
      if (!bus) {
        if (config.kafkaBrokers.length === 0) throw new Error('KAFKA_BROKERS is required');
        bus = new KafkaBus({ brokers: config.kafkaBrokers, clientId: config.clientId, logger });
      }
      if (!stats) {
        if (!redis) {
          if (!config.redisUrl)
            throw new Error('REDIS_URL is required (or pass entityStats for one-process mode)');
          redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
          await redis.connect();
        }
        const state = new RedisSequencerState(redis, {
          keyPrefix: config.redisKeyPrefix,
          ttlSeconds: config.statsTtlSeconds,
          pairBucketMs: config.pairBucketMs,
          timer,
        });
        stats = state;
        coordination ??= state;
      }
      coordination ??= new MemoryCoordination();
      codecs = await createCodecs();
      decoder = new FlowDecoder(codecs.flows);
      encoder = new SequenceEncoder(codecs.sequences);
      await bus.ensureTopics([
        { topic: config.flowsTopic, partitions: config.flowsPartitions },
        { topic: config.sequencesTopic, partitions: config.sequencesPartitions },
        { topic: config.lateTopic, partitions: config.flowsPartitions, withDeadLetter: false },
      ]);
      producer = await bus.producer();
      running = true;
      consumer = bus.consumer({
        groupId: config.groupId,
        topics: [config.flowsTopic],
        commitMode: 'manual',
        maxBatchSize: config.maxBatchSize,
        sessionTimeoutMs: config.sessionTimeoutMs,
        onPartitionsAssigned: (partitions) => {
          logger.info({ partitions: partitions.map((p) => p.partition) }, 'partitions assigned');
          const now = Date.now();
          for (const { partition } of partitions)
            if (!assignedAt.has(partition)) assignedAt.set(partition, now);
        },
        onPartitionsRevoked: (partitions) =>
          queue.run(async () => {
            // The next owner (maybe this instance again) rebuilds from the committed offset.
            for (const { partition } of partitions) {
              states.delete(partition);
              assignedAt.delete(partition);
            }
            updateGauges();
          }),
      });
      await consumer.run(async (messages, ctx) => {
        try {
          await handle(messages, ctx);
        } catch (error) {
          if (error instanceof RetriableError) throw error;
          throw new RetriableError(`sequencer batch failed: ${(error as Error).message}`, { cause: error });
        }
      });
      ticker = setInterval(() => {
        tick().catch((error: unknown) =>
          logger.warn({ err: error }, 'idle flush failed; retrying on the next tick'),
        );
      }, config.tickMs);
      ticker.unref();
      logger.info({ group: config.groupId, topic: config.flowsTopic }, 'sequencer consuming');
    },
    async stop() {
      running = false;
      if (ticker) clearInterval(ticker);
      await consumer?.stop();
      await queue.run(async () => {});
      await producer?.close();
      if (ownsBus) await bus?.close();
      if (ownsRedis) await redis?.quit().catch(() => {});
    },
  };
}

/**
 * Appends in place without spreading: a window group seals at once, and `push(...items)` throws
 * (call stack size) past ~150,000 items, which one busy window start of one partition can reach.
 */
function append<T>(target: T[], items: readonly T[]): void {
  for (let i = 0; i < items.length; i++) target.push(items[i] as T);
}
