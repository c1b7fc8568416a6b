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
 * Distinct responders / ports of an initiator-window are kept exactly as hash fields up to this
 * many, then moved into a HyperLogLog (bounded memory for scanners).
 */
export const EXACT_DISTINCT_LIMIT = 32;

/**
 * Adds sealed conversation-windows to their initiators' context and their pair counters, each
 * window once: its marker field in the pair-bucket hash makes a replayed window a no-op, and the
 * script runs atomically, so a crash leaves either all of a call's increments or none. The
 * argument is one flat JSON array, grouped by initiator-window so the entity hash is read and
 * written once per group:
 *   initiator, window start, window count,
 *     then per window: responder, connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, port count, ports...
 * Entity hash fields: n (connections), d / p (distinct responders / ports; -1: in the :dsts / :ports
 * HyperLogLog), d:<responder> and p:<port> (the exact members while at most EXACT_DISTINCT_LIMIT).
 * Expiry is set when the script creates a key (keys are per window or pair bucket, far shorter
 * than the TTL). One Redis is assumed (the script names its keys, see the README).
 * ARGV: key prefix, ttl seconds, pair bucket ms, the array. Returns the number of windows applied.
 */
const APPLY_WINDOWS = `
local prefix, ttl, bucketMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local a = cjson.decode(ARGV[4])
local fmt, call, unpack = string.format, redis.call, unpack
local LIMIT = ${EXACT_DISTINCT_LIMIT}
local function chunked(command, key, values, out)
  for i = 1, #values, 1000 do
    local r = call(command, key, unpack(values, i, math.min(i + 999, #values)))
    if out then for j = 1, #r do out[#out + 1] = r[j] end end
  end
  return out
end
-- New members (not yet fields) of one distinct set: exact fields, promoted to a HyperLogLog past LIMIT.
local function addDistinct(ent, tag, count, members, found, set)
  local new = {}
  for k = 1, #members do if not found[k] then new[#new + 1] = members[k] end end
  if #new == 0 then return end
  local hll = ent .. ':' .. (tag == 'd' and 'dsts' or 'ports')
  if count < 0 then
    chunked('PFADD', hll, new)
    return
  end
  if count + #new <= LIMIT then
    for k = 1, #new do set[#set + 1] = tag .. ':' .. new[k]; set[#set + 1] = '1' end
    set[#set + 1] = tag; set[#set + 1] = fmt('%d', count + #new)
    return
  end
  local old = {}
  if count > 0 then
    local keys = call('HKEYS', ent)
    local p = tag .. ':'
    for k = 1, #keys do if keys[k]:sub(1, 2) == p then old[#old + 1] = keys[k] end end
    call('HDEL', ent, unpack(old))
    for k = 1, #old do old[k] = old[k]:sub(3) end
  end
  chunked('PFADD', hll, old)
  chunked('PFADD', hll, new)
  local pttl = call('PTTL', ent)
  call('PEXPIRE', hll, pttl > 0 and pttl or ttl * 1000)
  set[#set + 1] = tag; set[#set + 1] = '-1'
end
local applied, i, n = 0, 1, #a
while i <= n do
  local initiator, ws, count = a[i], a[i + 1], a[i + 2]
  i = i + 3
  local start = fmt('%d', ws)
  local bucket = fmt('%d', math.floor(ws / bucketMs) * bucketMs)
  local mark = 'w:' .. start
  local dsts, ports, seen, conns = {}, {}, {}, 0
  for _ = 1, count do
    local responder, c, portCount = a[i], a[i + 1], a[i + 6]
    local pair = prefix .. ':pair:' .. initiator .. '>' .. responder .. ':' .. bucket
    local v = call('HMGET', pair, mark, 'connections', 'fwd_bytes', 'bwd_bytes', 'fwd_pkts', 'bwd_pkts')
    if not v[1] then
      applied = applied + 1
      call('HSET', pair, mark, '1',
        'connections', fmt('%d', (tonumber(v[2]) or 0) + c),
        'fwd_bytes', fmt('%d', (tonumber(v[3]) or 0) + a[i + 2]),
        'bwd_bytes', fmt('%d', (tonumber(v[4]) or 0) + a[i + 3]),
        'fwd_pkts', fmt('%d', (tonumber(v[5]) or 0) + a[i + 4]),
        'bwd_pkts', fmt('%d', (tonumber(v[6]) or 0) + a[i + 5]))
      if not v[2] then call('EXPIRE', pair, ttl) end
      dsts[#dsts + 1] = responder
      conns = conns + c
      for k = i + 7, i + 6 + portCount do
        local port = a[k]
        if not seen[port] then
          seen[port] = true
          ports[#ports + 1] = fmt('%d', port)
        end
      end
    end
    i = i + 7 + portCount
  end
  if #dsts > 0 then
    local ent = prefix .. ':ent:' .. initiator .. ':' .. start
    local fields = { 'n', 'd', 'p' }
    for k = 1, #dsts do fields[#fields + 1] = 'd:' .. dsts[k] end
    for k = 1, #ports do fields[#fields + 1] = 'p:' .. ports[k] end
    local v = chunked('HMGET', ent, fields, {})
    local fd, fp = {}, {}
    for k = 1, #dsts do fd[k] = v[3 + k] end
    for k = 1, #ports do fp[k] = v[3 + #dsts + k] end
    local existed = v[1]
    local set = { 'n', fmt('%d', (tonumber(existed) or 0) + conns) }
    addDistinct(ent, 'd', tonumber(v[2]) or 0, dsts, fd, set)
    addDistinct(ent, 'p', tonumber(v[3]) or 0, ports, fp, set)
    call('HSET', ent, unpack(set))
    if not existed then call('EXPIRE', ent, ttl) end
  end
end
return applied
`;

/**
 * The contexts of many (initiator, window start) pairs in one call.
 * ARGV: key prefix, flat JSON [initiator, window start, ...]. Returns 3 integers per pair.
 */
const READ_CONTEXTS = `
local prefix = ARGV[1]
local a = cjson.decode(ARGV[2])
local fmt, call = string.format, redis.call
local out = {}
for i = 1, #a, 2 do
  local ent = prefix .. ':ent:' .. a[i] .. ':' .. fmt('%d', a[i + 1])
  local v = call('HMGET', ent, 'n', 'd', 'p')
  local d, p = tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if d < 0 then d = call('PFCOUNT', ent .. ':dsts') end
  if p < 0 then p = call('PFCOUNT', ent .. ':ports') end
  out[#out + 1] = d
  out[#out + 1] = p
  out[#out + 1] = tonumber(v[1]) or 0
end
return out
`;

/** Windows per script call: bounds one call's run time inside Redis (it blocks other clients). */
const WINDOWS_PER_CALL = 1000;

/**
 * The flat APPLY_WINDOWS argument of some contributions: grouped by initiator-window (in order of
 * each group's first window).
 */
export function applyArgument(contributions: WindowContribution[]): string {
  const groups = new Map<number, Map<string, WindowContribution[]>>();
  for (const c of contributions) {
    let byInitiator = groups.get(c.windowStartMs);
    if (!byInitiator) {
      byInitiator = new Map();
      groups.set(c.windowStartMs, byInitiator);
    }
    const group = byInitiator.get(c.initiator);
    if (group) group.push(c);
    else byInitiator.set(c.initiator, [c]);
  }
  const out: (string | number)[] = [];
  for (const [windowStartMs, byInitiator] of groups) {
    for (const [initiator, group] of byInitiator) {
      out.push(initiator, windowStartMs, group.length);
      for (const c of group) {
        out.push(c.responder, c.connections, c.fwdBytes, c.bwdBytes, c.fwdPkts, c.bwdPkts, c.dstPorts.length);
        for (const port of c.dstPorts) out.push(port);
      }
    }
  }
  return JSON.stringify(out);
}

/** Key layout (documented in services/sequencer/README.md). */
export class SequencerKeys {
  constructor(readonly prefix: string) {}
  /** The initiator-window hash; with `what`, its HyperLogLog of responders or ports once promoted. */
  entity(ip: string, windowStartMs: number, what?: 'dsts' | 'ports'): string {
    return what
      ? `${this.prefix}:ent:${ip}:${windowStartMs}:${what}`
      : `${this.prefix}:ent:${ip}:${windowStartMs}`;
  }
  pair(src: string, dst: string, bucketStartMs: number): string {
    return `${this.prefix}:pair:${src}>${dst}:${bucketStartMs}`;
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
        const windows = applyArgument(contributions.slice(from, from + WINDOWS_PER_CALL));
        // Sent back to back: one round trip for all of them.
        calls.push(commands.twApplyWindows(0, keyPrefix, String(ttlSeconds), String(pairBucketMs), windows));
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
        const flat: (string | number)[] = [];
        const to = Math.min(from + WINDOWS_PER_CALL, keys.length);
        for (let i = from; i < to; i++) {
          const k = keys[i] as ContextKey;
          flat.push(k.initiator, k.windowStartMs);
        }
        calls.push(commands.twReadContexts(0, this.settings.keyPrefix, JSON.stringify(flat)));
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
