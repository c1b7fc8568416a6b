import type { EntityContext } from '@tidewatch/contracts';
import type { ContextKey, EntityStats, PartitionCheckpoint, WindowContribution } from '@tidewatch/sequencing';
import type { Redis } from 'ioredis';
import { decodeCheckpoint, encodeCheckpoint, type SequencerCoordination } from './coordination.ts';

/** Observes the duration of one Redis round trip (the Redis latency metric). */
export type RedisTimer = <T>(op: string, run: () => Promise<T>) => Promise<T>;

const untimed: RedisTimer = (_op, run) => run();

/**
 * Adds one sealed conversation-window to its initiator's context and its pair counters, once:
 * the marker key makes a replayed window a no-op, and the script runs atomically, so a crash
 * leaves either all of a window's increments or none.
 * KEYS: marker, dsts HLL, ports HLL, connections counter, pair hash.
 * ARGV: ttl seconds, responder, connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, ports...
 */
const APPLY_WINDOW = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local ttl = ARGV[1]
redis.call('PFADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ttl)
if #ARGV >= 8 then
  for i = 8, #ARGV, 1000 do
    redis.call('PFADD', KEYS[3], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[3], ttl)
end
redis.call('INCRBY', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('HINCRBY', KEYS[5], 'connections', ARGV[3])
redis.call('HINCRBY', KEYS[5], 'fwd_bytes', ARGV[4])
redis.call('HINCRBY', KEYS[5], 'bwd_bytes', ARGV[5])
redis.call('HINCRBY', KEYS[5], 'fwd_pkts', ARGV[6])
redis.call('HINCRBY', KEYS[5], 'bwd_pkts', ARGV[7])
redis.call('EXPIRE', KEYS[5], ttl)
return 1
`;

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
    if (!('twApplyWindow' in redis))
      redis.defineCommand('twApplyWindow', { numberOfKeys: 5, lua: APPLY_WINDOW });
  }

  async applyWindows(contributions: WindowContribution[]): Promise<void> {
    if (contributions.length === 0) return;
    const k = this.keys;
    const ttl = String(this.settings.ttlSeconds);
    await this.#timer('apply_windows', async () => {
      const pipeline = this.redis.pipeline();
      for (const c of contributions) {
        const bucket = Math.floor(c.windowStartMs / this.settings.pairBucketMs) * this.settings.pairBucketMs;
        (pipeline as unknown as Record<string, (...args: string[]) => unknown>)['twApplyWindow']?.(
          k.applied(c.initiator, c.responder, c.windowStartMs),
          k.entity(c.initiator, c.windowStartMs, 'dsts'),
          k.entity(c.initiator, c.windowStartMs, 'ports'),
          k.entity(c.initiator, c.windowStartMs, 'conns'),
          k.pair(c.initiator, c.responder, bucket),
          ttl,
          c.responder,
          String(c.connections),
          String(c.fwdBytes),
          String(c.bwdBytes),
          String(c.fwdPkts),
          String(c.bwdPkts),
          ...c.dstPorts.map(String),
        );
      }
      await execOrThrow(pipeline);
    });
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    if (keys.length === 0) return [];
    return this.#timer('contexts', async () => {
      const pipeline = this.redis.pipeline();
      for (const key of keys) {
        pipeline.pfcount(this.keys.entity(key.initiator, key.windowStartMs, 'dsts'));
        pipeline.pfcount(this.keys.entity(key.initiator, key.windowStartMs, 'ports'));
        pipeline.get(this.keys.entity(key.initiator, key.windowStartMs, 'conns'));
      }
      const results = await execOrThrow(pipeline);
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
