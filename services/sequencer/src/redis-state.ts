import type { EntityContext } from '@tidewatch/contracts';
import type { ContextKey, EntityStats, PartitionCheckpoint, WindowContribution } from '@tidewatch/sequencing';
import type { Redis } from 'ioredis';
import { decodeCheckpoint, encodeCheckpoint, type SequencerCoordination } from './coordination.ts';

/** The scripts above, as ioredis defines them (numberOfKeys given per call). */
interface ScriptCommands {
  twApplyWindows(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number>;
  twReadContexts(numberOfKeys: number, ...keys: string[]): Promise<number[]>;
}

/** Observes the duration of one Redis round trip (the Redis latency metric). */
export type RedisTimer = <T>(op: string, run: () => Promise<T>) => Promise<T>;

const untimed: RedisTimer = (_op, run) => run();

/**
 * Adds sealed conversation-windows to their initiators' context and their pair counters, each
 * window once: its marker key makes a replayed window a no-op, and the script runs atomically, so
 * a crash leaves either all of a call's increments or none. One call carries many windows (one
 * round trip and one command per batch, not per window).
 * KEYS: per window 5 keys: marker, dsts HLL, ports HLL, connections counter, pair hash.
 * ARGV: ttl seconds, then per window: responder, connections, fwd_bytes, bwd_bytes, fwd_pkts,
 * bwd_pkts, port count n, n ports.
 * Returns the number of windows applied (not already marked).
 */
const APPLY_WINDOWS = `
local ttl = ARGV[1]
local a = 2
local applied = 0
for k = 1, #KEYS, 5 do
  local ports = tonumber(ARGV[a + 6])
  if redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl) then
    applied = applied + 1
    redis.call('PFADD', KEYS[k + 1], ARGV[a])
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    if ports > 0 then
      local first = a + 7
      local last = a + 6 + ports
      for i = first, last, 1000 do
        redis.call('PFADD', KEYS[k + 2], unpack(ARGV, i, math.min(i + 999, last)))
      end
      redis.call('EXPIRE', KEYS[k + 2], ttl)
    end
    redis.call('INCRBY', KEYS[k + 3], ARGV[a + 1])
    redis.call('EXPIRE', KEYS[k + 3], ttl)
    redis.call('HINCRBY', KEYS[k + 4], 'connections', ARGV[a + 1])
    redis.call('HINCRBY', KEYS[k + 4], 'fwd_bytes', ARGV[a + 2])
    redis.call('HINCRBY', KEYS[k + 4], 'bwd_bytes', ARGV[a + 3])
    redis.call('HINCRBY', KEYS[k + 4], 'fwd_pkts', ARGV[a + 4])
    redis.call('HINCRBY', KEYS[k + 4], 'bwd_pkts', ARGV[a + 5])
    redis.call('EXPIRE', KEYS[k + 4], ttl)
  end
  a = a + 7 + ports
end
return applied
`;

/**
 * The contexts of many (initiator, window) keys in one call.
 * KEYS: per context 3 keys: dsts HLL, ports HLL, connections counter. Returns 3 integers each.
 */
const READ_CONTEXTS = `
local out = {}
for k = 1, #KEYS, 3 do
  out[#out + 1] = redis.call('PFCOUNT', KEYS[k])
  out[#out + 1] = redis.call('PFCOUNT', KEYS[k + 1])
  out[#out + 1] = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
end
return out
`;

/** Windows per script call: bounds one call's run time inside Redis (it blocks other clients). */
const WINDOWS_PER_CALL = 500;

/** Key layout (documented in services/sequencer/README.md). */
export class SequencerKeys {
  constructor(readonly prefix: string) {}
  entity(ip: string, windowStartMs: number, what: 'dsts' | 'ports' | 'conns'): string {
    return `${this.prefix}:ent:${ip}:${windowStartMs}:${what}`;
  }
  pair(src: string, dst: string, bucketStartMs: number): string {
    return `${this.prefix}:pair:${src}>${dst}:${bucketStartMs}`;
  }
  applied(src: string, dst: string, windowStartMs: number): string {
    return `${this.prefix}:applied:${src}>${dst}:${windowStartMs}`;
  }
  watermarks(topic: string): string {
    return `${this.prefix}:wm:${topic}`;
  }
  checkpoints(group: string, topic: string, partition: number): string {
    return `${this.prefix}:ckpt:${group}:${topic}:${partition}`;
  }
}

export interface RedisStateSettings {
  keyPrefix: string;
  ttlSeconds: number;
  pairBucketMs: number;
  timer?: RedisTimer;
}

/** Entity statistics and coordination in Redis, shared by every sequencer instance and partition. */
export class RedisSequencerState implements EntityStats, SequencerCoordination {
  readonly keys: SequencerKeys;
  /** Checkpoint offsets this process saved, per checkpoint hash (pruned without listing the hash). */
  readonly #saved = new Map<string, number[]>();
  readonly #timer: RedisTimer;

  constructor(
    private readonly redis: Redis,
    private readonly settings: RedisStateSettings,
  ) {
    this.keys = new SequencerKeys(settings.keyPrefix);
    this.#timer = settings.timer ?? untimed;
    if (!('twApplyWindows' in redis)) redis.defineCommand('twApplyWindows', { lua: APPLY_WINDOWS });
    if (!('twReadContexts' in redis)) redis.defineCommand('twReadContexts', { lua: READ_CONTEXTS });
  }

  async applyWindows(contributions: WindowContribution[]): Promise<void> {
    if (contributions.length === 0) return;
    const k = this.keys;
    const bucketMs = this.settings.pairBucketMs;
    const ttl = String(this.settings.ttlSeconds);
    const commands = this.redis as unknown as ScriptCommands;
    await this.#timer('apply_windows', async () => {
      const calls: Promise<unknown>[] = [];
      for (let from = 0; from < contributions.length; from += WINDOWS_PER_CALL) {
        const chunk = contributions.slice(from, from + WINDOWS_PER_CALL);
        const keys: string[] = [];
        const args: (string | number)[] = [ttl];
        for (const c of chunk) {
          const bucket = Math.floor(c.windowStartMs / bucketMs) * bucketMs;
          keys.push(
            k.applied(c.initiator, c.responder, c.windowStartMs),
            k.entity(c.initiator, c.windowStartMs, 'dsts'),
            k.entity(c.initiator, c.windowStartMs, 'ports'),
            k.entity(c.initiator, c.windowStartMs, 'conns'),
            k.pair(c.initiator, c.responder, bucket),
          );
          args.push(
            c.responder,
            c.connections,
            c.fwdBytes,
            c.bwdBytes,
            c.fwdPkts,
            c.bwdPkts,
            c.dstPorts.length,
            ...c.dstPorts,
          );
        }
        // Sent together: ioredis writes them back to back, so this is one round trip.
        calls.push(commands.twApplyWindows(keys.length, ...keys, ...args));
      }
      await Promise.all(calls);
    });
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    if (keys.length === 0) return [];
    const commands = this.redis as unknown as ScriptCommands;
    return this.#timer('contexts', async () => {
      const calls: Promise<unknown>[] = [];
      for (let from = 0; from < keys.length; from += WINDOWS_PER_CALL) {
        const redisKeys: string[] = [];
        for (const key of keys.slice(from, from + WINDOWS_PER_CALL)) {
          redisKeys.push(
            this.keys.entity(key.initiator, key.windowStartMs, 'dsts'),
            this.keys.entity(key.initiator, key.windowStartMs, 'ports'),
            this.keys.entity(key.initiator, key.windowStartMs, 'conns'),
          );
        }
        calls.push(commands.twReadContexts(redisKeys.length, ...redisKeys));
      }
      const results = ((await Promise.all(calls)) as number[][]).flat();
      return keys.map((_, i) => ({
        distinct_dsts: Number(results[3 * i] ?? 0),
        distinct_dst_ports: Number(results[3 * i + 1] ?? 0),
        connections: Number(results[3 * i + 2] ?? 0),
      }));
    });
  }

  async publishWatermarks(topic: string, watermarks: Map<number, number>): Promise<void> {
    const fields: string[] = [];
    for (const [p, w] of watermarks) if (Number.isFinite(w)) fields.push(String(p), String(w));
    if (fields.length === 0) return;
    await this.#timer('publish_watermarks', () => this.redis.hset(this.keys.watermarks(topic), ...fields));
  }

  async exchangeWatermarks(
    topic: string,
    watermarks: Map<number, number>,
    partitions: number,
  ): Promise<number> {
    const fields: string[] = [];
    for (const [p, w] of watermarks) if (Number.isFinite(w)) fields.push(String(p), String(w));
    const key = this.keys.watermarks(topic);
    const partitionFields = Array.from({ length: partitions }, (_, p) => String(p));
    const results = await this.#timer('exchange_watermarks', () => {
      const pipeline = this.redis.pipeline();
      if (fields.length > 0) pipeline.hset(key, ...fields);
      pipeline.hmget(key, ...partitionFields);
      return execOrThrow(pipeline);
    });
    return lowest(results.at(-1) as (string | null)[]);
  }

  async lowWatermark(topic: string, partitions: number): Promise<number> {
    const fields = Array.from({ length: partitions }, (_, p) => String(p));
    const values = await this.#timer('low_watermark', () =>
      this.redis.hmget(this.keys.watermarks(topic), ...fields),
    );
    let low = Number.POSITIVE_INFINITY;
    for (const v of values) low = Math.min(low, v === null ? Number.NEGATIVE_INFINITY : Number(v));
    return low;
  }

  async saveCheckpoint(
    group: string,
    topic: string,
    partition: number,
    c: PartitionCheckpoint,
  ): Promise<void> {
    const key = this.keys.checkpoints(group, topic, partition);
    this.#saved.set(key, [...(this.#saved.get(key) ?? []), c.offset]);
    await this.#timer('save_checkpoint', () =>
      this.redis
        .multi()
        .hset(key, String(c.offset), encodeCheckpoint(c))
        .expire(key, this.settings.ttlSeconds)
        .exec(),
    );
  }

  async loadCheckpoint(group: string, topic: string, partition: number, offset: number) {
    const key = this.keys.checkpoints(group, topic, partition);
    const text = await this.#timer('load_checkpoint', () => this.redis.hget(key, String(offset)));
    if (text !== null) this.#saved.set(key, [...(this.#saved.get(key) ?? []), offset]);
    return text === null ? undefined : decodeCheckpoint(text);
  }

  async hasCheckpoints(group: string, topic: string, partition: number): Promise<boolean> {
    return (await this.redis.hlen(this.keys.checkpoints(group, topic, partition))) > 0;
  }

  async pruneCheckpoints(
    group: string,
    topic: string,
    partition: number,
    committedOffset: number,
  ): Promise<void> {
    const key = this.keys.checkpoints(group, topic, partition);
    const saved = this.#saved.get(key) ?? [];
    const old = saved.filter((o) => o < committedOffset);
    this.#saved.set(
      key,
      saved.filter((o) => o >= committedOffset),
    );
    if (old.length > 0)
      await this.#timer('prune_checkpoints', () => this.redis.hdel(key, ...old.map(String)));
  }
}

function lowest(values: (string | null)[]): number {
  let low = Number.POSITIVE_INFINITY;
  for (const v of values) low = Math.min(low, v === null ? Number.NEGATIVE_INFINITY : Number(v));
  return low;
}

async function execOrThrow(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, value]) => {
    if (error) throw error;
    return value;
  });
}
