import type { EntityContext } from '@tidewatch/contracts';
import type { ContextKey, EntityStats, PartitionCheckpoint, WindowContribution } from '@tidewatch/sequencing';
import type { Redis } from 'ioredis';
import { decodeCheckpoint, encodeCheckpoint, type SequencerCoordination } from './coordination.ts';

/** The scripts below, as ioredis defines them (no KEYS: the scripts name their keys). */
interface ScriptCommands {
  twApplyWindows(
    numberOfKeys: 0,
    prefix: string,
    ttl: string,
    bucketMs: string,
    windows: string,
  ): Promise<number>;
  twReadContexts(numberOfKeys: 0, prefix: string, keys: string): Promise<number[]>;
}

/** Observes the duration of one Redis round trip (the Redis latency metric). */
export type RedisTimer = <T>(op: string, run: () => Promise<T>) => Promise<T>;

const untimed: RedisTimer = (_op, run) => run();

/**
 * Adds sealed conversation-windows to their initiators' context and their pair counters, each
 * window once: its marker key makes a replayed window a no-op, and the script runs atomically, so
 * a crash leaves either all of a call's increments or none. One call carries many windows as one
 * JSON argument (the client encodes one string, not a dozen arguments per window) and the script
 * names the keys itself (one Redis is assumed, see the README); windows of one initiator and
 * window start are added to its context together. A key's expiry is set when the script creates
 * it (keys are per window or per pair bucket, far shorter than the TTL).
 * ARGV: key prefix, ttl seconds, pair bucket ms,
 *       [[initiator, responder, window start, connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, [ports]], ...]
 * Returns the number of windows applied (not already marked).
 */
const APPLY_WINDOWS = `
local prefix, ttl, bucketMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local windows = cjson.decode(ARGV[4])
local fmt = string.format
local entities, order = {}, {}
local applied = 0
local function addAll(key, values)
  for i = 1, #values, 1000 do
    redis.call('PFADD', key, unpack(values, i, math.min(i + 999, #values)))
  end
end
for i = 1, #windows do
  local w = windows[i]
  local initiator, responder, start = w[1], w[2], fmt('%d', w[3])
  if redis.call('SET', prefix .. ':applied:' .. initiator .. '>' .. responder .. ':' .. start, '1', 'NX', 'EX', ttl) then
    applied = applied + 1
    local ent = prefix .. ':ent:' .. initiator .. ':' .. start
    local e = entities[ent]
    if not e then
      e = { dsts = {}, ports = {}, connections = 0 }
      entities[ent] = e
      order[#order + 1] = ent
    end
    e.dsts[#e.dsts + 1] = responder
    for _, port in ipairs(w[9]) do e.ports[#e.ports + 1] = fmt('%d', port) end
    e.connections = e.connections + w[4]
    local pair = prefix .. ':pair:' .. initiator .. '>' .. responder .. ':' .. fmt('%d', math.floor(w[3] / bucketMs) * bucketMs)
    if redis.call('HINCRBY', pair, 'connections', fmt('%d', w[4])) == w[4] then redis.call('EXPIRE', pair, ttl) end
    redis.call('HINCRBY', pair, 'fwd_bytes', fmt('%d', w[5]))
    redis.call('HINCRBY', pair, 'bwd_bytes', fmt('%d', w[6]))
    redis.call('HINCRBY', pair, 'fwd_pkts', fmt('%d', w[7]))
    redis.call('HINCRBY', pair, 'bwd_pkts', fmt('%d', w[8]))
  end
end
for _, ent in ipairs(order) do
  local e = entities[ent]
  addAll(ent .. ':dsts', e.dsts)
  addAll(ent .. ':ports', e.ports)
  if redis.call('INCRBY', ent .. ':conns', fmt('%d', e.connections)) == e.connections then
    redis.call('EXPIRE', ent .. ':dsts', ttl)
    redis.call('EXPIRE', ent .. ':ports', ttl)
    redis.call('EXPIRE', ent .. ':conns', ttl)
  end
end
return applied
`;

/**
 * The contexts of many (initiator, window start) pairs in one call.
 * ARGV: key prefix, [[initiator, window start], ...]. Returns 3 integers per pair.
 */
const READ_CONTEXTS = `
local prefix = ARGV[1]
local keys = cjson.decode(ARGV[2])
local out = {}
for i = 1, #keys do
  local ent = prefix .. ':ent:' .. keys[i][1] .. ':' .. string.format('%d', keys[i][2])
  out[#out + 1] = redis.call('PFCOUNT', ent .. ':dsts')
  out[#out + 1] = redis.call('PFCOUNT', ent .. ':ports')
  out[#out + 1] = tonumber(redis.call('GET', ent .. ':conns') or '0')
end
return out
`;

/** Windows per script call: bounds one call's run time inside Redis (it blocks other clients). */
const WINDOWS_PER_CALL = 1000;

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
    const { keyPrefix, ttlSeconds, pairBucketMs } = this.settings;
    const commands = this.redis as unknown as ScriptCommands;
    await this.#timer('apply_windows', async () => {
      const calls: Promise<number>[] = [];
      for (let from = 0; from < contributions.length; from += WINDOWS_PER_CALL) {
        const windows = contributions
          .slice(from, from + WINDOWS_PER_CALL)
          .map((c) => [
            c.initiator,
            c.responder,
            c.windowStartMs,
            c.connections,
            c.fwdBytes,
            c.bwdBytes,
            c.fwdPkts,
            c.bwdPkts,
            c.dstPorts,
          ]);
        // Sent back to back: one round trip for all of them.
        calls.push(
          commands.twApplyWindows(
            0,
            keyPrefix,
            String(ttlSeconds),
            String(pairBucketMs),
            JSON.stringify(windows),
          ),
        );
      }
      await Promise.all(calls);
    });
  }

  async contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    if (keys.length === 0) return [];
    const commands = this.redis as unknown as ScriptCommands;
    return this.#timer('contexts', async () => {
      const calls: Promise<number[]>[] = [];
      for (let from = 0; from < keys.length; from += WINDOWS_PER_CALL) {
        const pairs = keys.slice(from, from + WINDOWS_PER_CALL).map((k) => [k.initiator, k.windowStartMs]);
        calls.push(commands.twReadContexts(0, this.settings.keyPrefix, JSON.stringify(pairs)));
      }
      const results = (await Promise.all(calls)).flat();
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
