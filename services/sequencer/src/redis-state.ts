import type { EntityContext } from '@tidewatch/contracts';
import {
  appendContribution,
  type ContextKey,
  type ContributionWriter,
  type EntityStats,
  type OpenWindow,
  type PartitionCheckpoint,
  type WindowContribution,
  writeContribution,
} from '@tidewatch/sequencing';
import { Redis } from 'ioredis';
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
  twApplySealed(
    numberOfKeys: 0,
    prefix: string,
    ttl: string,
    bucketMs: string,
    windows: Buffer,
  ): Promise<number>;
  /** The Buffer variant ioredis defines beside twReadContexts: the reply's bytes as they came. */
  twReadContextsBuffer(numberOfKeys: 0, prefix: string, keys: Buffer): Promise<Buffer>;
}

/** Observes the duration of one Redis round trip (the Redis latency metric). */
export type RedisTimer = <T>(op: string, run: () => Promise<T>) => Promise<T>;

const untimed: RedisTimer = (_op, run) => run();

/**
 * Distinct responders / ports of an initiator-window are kept exactly up to this many, then moved
 * into a HyperLogLog (bounded memory for scanners).
 */
export const EXACT_DISTINCT_LIMIT = 32;

/**
 * Statistics live in hashes per time slot and shard (fields per initiator or pair) rather than
 * in keys per window: one HMGET and one HSET per slot hash and script call instead of a few
 * commands per window, and one expiry per slot hash. The shard (of the initiator) bounds a hash's
 * size, so the expiry of a busy slot frees it in pieces.
 */
export const SLOT_SHARDS = 16;

/**
 * FNV-1a of the address text, folded to a shard: an initiator's for its entity and pair fields, a
 * responder's for its fan-in field.
 */
export function initiatorShard(ip: string): number {
  return initiatorHash(ip) % SLOT_SHARDS;
}

/** FNV-1a of the address text (UTF-16 code units), unsigned. */
function initiatorHash(ip: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Adds sealed conversation-windows to their initiators' context and their pair counters, each
 * window once: its offset in the pair bucket is recorded in the pair's value, so a replayed window
 * is a no-op, and the script runs atomically, so a crash leaves all of a call's increments or none.
 * The argument is one flat JSON array, grouped by (window start, shard), then initiator:
 *   window start, shard, initiator count,
 *     initiator, window count,
 *       responder, connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, port count, ports...,
 *       probe (1: a flow of the window is probe-shaped, isProbeFlow), the responder's shard
 * Values (README, key layout):
 *   pair field `<src>><dst>`: "connections fwd_bytes bwd_bytes fwd_pkts bwd_pkts|<offset>|<offset>|"
 *   entity field `<initiator>`: "connections distinct_dsts distinct_ports ,<dst>,... ,<port>,..."
 *     (a set is "*" and its count -1 once moved into the `dsts` / `ports` HyperLogLog)
 *   fan-in field `<responder>` (hash of the window start and the responder's shard): its distinct
 *     initiators, a count: each applied window is a new (initiator, responder) of its window start
 *     (the pair's offset mark makes a window count once), so no set is needed and the count is
 *     exact at any fan-in. Summed per fan-in hash and written once per call (one HMGET and one
 *     HSET per hash, not a command per window).
 *   fan-in field `<responder>:p` (same hash): of those initiators, the ones whose window holds a
 *     probe-shaped flow (context.distinct_probe_srcs), counted in the same step when the window's
 *     probe flag is 1, so also once per conversation-window; absent (read as 0) until the
 *     responder has one. A separate field, so a value an earlier script reads stays a number.
 * A slot hash's expiry is set when the script creates it (EXPIRE NX). One Redis is assumed.
 * Redis runs one script at a time, so its CPU per window bounds the sequencers' wall throughput:
 * per window the script builds as few Lua strings and tables as it can (README, Redis CPU per
 * window); test/reference-apply-script.ts is the earlier script whose state it must leave.
 * ARGV: key prefix, ttl seconds, pair bucket ms, the array. Returns the number of windows applied.
 */
const applyScript = (decode: string) => `
local prefix, ttl, bucketMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
local a = ${decode}(ARGV[4])
local fmt, call, find, match, unpack, concat, min, floor =
  string.format, redis.call, string.find, string.match, unpack, table.concat, math.min, math.floor
local LIMIT = ${EXACT_DISTINCT_LIMIT}
local function hmget(key, fields, n)
  if n == 0 then return {} end
  if n <= 1000 then return call('HMGET', key, unpack(fields, 1, n)) end
  local out, m = {}, 0
  for i = 1, n, 1000 do
    local r = call('HMGET', key, unpack(fields, i, min(i + 999, n)))
    for j = 1, #r do m = m + 1; out[m] = r[j] end
  end
  return out
end
local function hset(key, kv, n)
  for i = 1, n, 1000 do call('HSET', key, unpack(kv, i, min(i + 999, n))) end
  call('EXPIRE', key, ttl, 'NX')
end
local function pfadd(key, values)
  for i = 1, #values, 1000 do call('PFADD', key, unpack(values, i, min(i + 999, #values))) end
end
local portTexts = {}
local function portText(port)
  local t = portTexts[port]
  if not t then t = fmt('%d', port); portTexts[port] = t end
  return t
end
-- Adds new members to one distinct set ("*" once in the HyperLogLog); returns set, count.
local function addDistinct(set, count, members, kind, start, initiator)
  if count < 0 then
    pfadd(prefix .. kind .. start .. ':' .. initiator, members)
    return set, count
  end
  local new = {}
  for k = 1, #members do
    if not find(set, ',' .. members[k] .. ',', 1, true) then new[#new + 1] = members[k] end
  end
  if #new == 0 then return set, count end
  if count + #new <= LIMIT then return set .. concat(new, ',') .. ',', count + #new end
  local hll = prefix .. kind .. start .. ':' .. initiator
  local old = {}
  for m in set:gmatch('[^,]+') do old[#old + 1] = m end
  pfadd(hll, old)
  pfadd(hll, new)
  call('EXPIRE', hll, ttl)
  return '*', -1
end
-- An initiator's applied windows in one slot: the first is kept as its index in a; a table
-- (connections, responders, ports in order of appearance) only from the second on.
local function addWindow(e, p)
  e.conns = e.conns + a[p + 1]
  local dsts, ports, seen = e.dsts, e.ports, e.seen
  dsts[#dsts + 1] = a[p]
  for q = p + 7, p + 6 + a[p + 6] do
    local port = a[q]
    if not seen[port] then
      seen[port] = true
      ports[#ports + 1] = portText(port)
    end
  end
end
local function entity(p)
  local e = { conns = 0, dsts = {}, ports = {}, seen = {} }
  addWindow(e, p)
  return e
end
-- Fan-in increments of this call: window start text -> responder shard -> { n, fields, count }.
local fanStarts, fanByStart = {}, {}
local applied, i, n = 0, 1, #a
while i <= n do
  local ws, shard, initiators = a[i], a[i + 1], a[i + 2]
  i = i + 3
  local start = fmt('%d', ws)
  local fan = fanByStart[start]
  if not fan then
    fan = {}
    fanByStart[start] = fan
    fanStarts[#fanStarts + 1] = start
  end
  local bucketStart = floor(ws / bucketMs) * bucketMs
  local mark = fmt('%d|', ws - bucketStart)
  local barMark = '|' .. mark
  local pairKey = prefix .. ':pair:' .. fmt('%d', bucketStart) .. ':' .. shard
  local entKey = prefix .. ':ent:' .. start .. ':' .. shard
  local pf, npf, j = {}, 0, i
  for _ = 1, initiators do
    local initiator, windows = a[j], a[j + 1]
    j = j + 2
    for _ = 1, windows do
      npf = npf + 1
      pf[npf] = initiator .. '>' .. a[j]
      j = j + 9 + a[j + 6]
    end
  end
  local pv = hmget(pairKey, pf, npf)
  -- kv: the pair fields and values to write; at: a field's value index in kv (applied in this slot).
  local kv, nkv, at, ec, ef, nef, k = {}, 0, {}, {}, {}, 0, 0
  for _ = 1, initiators do
    local initiator, windows = a[i], a[i + 1]
    i = i + 2
    for _ = 1, windows do
      k = k + 1
      local field = pf[k]
      local pos = at[field]
      local v
      if pos then v = kv[pos] else v = pv[k] end
      if not (v and find(v, barMark, 1, true)) then
        applied = applied + 1
        if v then
          local c, fb, bb, fp, bp, marks = match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)(|.*)$')
          v = fmt('%d %d %d %d %d', c + a[i + 1], fb + a[i + 2], bb + a[i + 3], fp + a[i + 4], bp + a[i + 5]) .. marks .. mark
        else
          v = fmt('%d %d %d %d %d|%s', a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], mark)
        end
        if pos then
          kv[pos] = v
        else
          nkv = nkv + 2
          kv[nkv - 1] = field
          kv[nkv] = v
          at[field] = nkv
        end
        local e = ec[initiator]
        if e == nil then
          ec[initiator] = i
          nef = nef + 1
          ef[nef] = initiator
        else
          if type(e) == 'number' then
            e = entity(e)
            ec[initiator] = e
          end
          addWindow(e, i)
        end
        local g = fan[a[i + 8 + a[i + 6]]]
        if g == nil then
          g = { n = 0, fields = {}, count = {}, probes = {} }
          fan[a[i + 8 + a[i + 6]]] = g
        end
        local responder = a[i]
        local c = g.count[responder]
        if c then
          g.count[responder] = c + 1
        else
          g.n = g.n + 1
          g.fields[g.n] = responder
          g.count[responder] = 1
        end
        if a[i + 7 + a[i + 6]] == 1 then g.probes[responder] = (g.probes[responder] or 0) + 1 end
      end
      i = i + 9 + a[i + 6]
    end
  end
  if nkv > 0 then hset(pairKey, kv, nkv) end
  if nef > 0 then
    local ev = hmget(entKey, ef, nef)
    local ekv = {}
    for q = 1, nef do
      local initiator, e, v = ef[q], ec[ef[q]], ev[q]
      local value
      if not v and type(e) == 'number' and a[e + 6] == 1 then
        -- The common case, one new window with one port: what the general path below writes.
        value = fmt('%d 1 1 ,', a[e + 1]) .. a[e] .. ', ,' .. portText(a[e + 7]) .. ','
      else
        if type(e) == 'number' then e = entity(e) end
        local conns, nd, np, dsts, ports = 0, 0, 0, ',', ','
        if v then
          conns, nd, np, dsts, ports = match(v, '^(%d+) (%-?%d+) (%-?%d+) (%S+) (%S+)$')
          nd, np = tonumber(nd), tonumber(np)
        end
        dsts, nd = addDistinct(dsts, nd, e.dsts, ':dsts:', start, initiator)
        ports, np = addDistinct(ports, np, e.ports, ':ports:', start, initiator)
        value = fmt('%d %d %d ', conns + e.conns, nd, np) .. dsts .. ' ' .. ports
      end
      ekv[2 * q - 1] = initiator
      ekv[2 * q] = value
    end
    hset(entKey, ekv, 2 * nef)
  end
end
for s = 1, #fanStarts do
  local start = fanStarts[s]
  for shard, g in pairs(fanByStart[start]) do
    local key = prefix .. ':fanin:' .. start .. ':' .. shard
    -- The responders' fields, then the probe fields of those with probing initiators in this call.
    local fields, add, nf = g.fields, {}, g.n
    for q = 1, g.n do add[q] = g.count[g.fields[q]] end
    for q = 1, g.n do
      local p = g.probes[g.fields[q]]
      if p then
        nf = nf + 1
        fields[nf] = g.fields[q] .. ':p'
        add[nf] = p
      end
    end
    local old = hmget(key, fields, nf)
    local kv = {}
    for q = 1, nf do
      kv[2 * q - 1] = fields[q]
      kv[2 * q] = fmt('%d', (tonumber(old[q]) or 0) + add[q])
    end
    hset(key, kv, 2 * nf)
  end
end
return applied
`;
const APPLY_WINDOWS = applyScript('cjson.decode');
/**
 * The same script with the array as MessagePack (`msgpackArray`): cmsgpack.unpack makes the table
 * cjson.decode makes of the JSON text, at about half the Redis CPU (README), and the client writes
 * bytes instead of building JSON text and encoding it.
 */
const APPLY_SEALED = applyScript('cmsgpack.unpack');

/**
 * The contexts of many initiator-windows and the fan-in of many responder-windows in one call.
 * ARGV: key prefix, a flat MessagePack array, per slot hash (window start, shard):
 * [window start, shard, initiator count, initiator..., responder count, responder...]
 * (ArrayPacker). Returns, per slot, 3 integers per initiator (distinct responders, distinct ports,
 * connections), then 2 per responder (distinct initiators, probing ones), as one MessagePack array in a bulk
 * string (cmsgpack.pack): the client reads them from the reply's bytes (readPackedIntegers)
 * instead of parsing an integer reply per value.
 */
const READ_CONTEXTS = `
local prefix = ARGV[1]
local a = cmsgpack.unpack(ARGV[2])
local fmt, call, match = string.format, redis.call, string.match
local function hmget(key, fields, count)
  local values = {}
  for k = 1, count, 1000 do
    local r = call('HMGET', key, unpack(fields, k, math.min(k + 999, count)))
    for q = 1, #r do values[#values + 1] = r[q] end
  end
  return values
end
local out, i = {}, 1
while i <= #a do
  local start, shard, count = fmt('%d', a[i]), a[i + 1], a[i + 2]
  local fields = {}
  for k = 1, count do fields[k] = a[i + 2 + k] end
  local values = hmget(prefix .. ':ent:' .. start .. ':' .. shard, fields, count)
  for k = 1, count do
    local v = values[k]
    if v then
      local c, d, p = match(v, '^(%d+) (%-?%d+) (%-?%d+)')
      d, p = tonumber(d), tonumber(p)
      if d < 0 then d = call('PFCOUNT', prefix .. ':dsts:' .. start .. ':' .. fields[k]) end
      if p < 0 then p = call('PFCOUNT', prefix .. ':ports:' .. start .. ':' .. fields[k]) end
      out[#out + 1] = d
      out[#out + 1] = p
      out[#out + 1] = tonumber(c)
    else
      out[#out + 1] = 0
      out[#out + 1] = 0
      out[#out + 1] = 0
    end
  end
  i = i + 3 + count
  local responders = a[i]
  if responders > 0 then
    local rf = {}
    for k = 1, responders do
      rf[k] = a[i + k]
      rf[responders + k] = a[i + k] .. ':p'
    end
    local fan = hmget(prefix .. ':fanin:' .. start .. ':' .. shard, rf, 2 * responders)
    for k = 1, responders do
      out[#out + 1] = tonumber(fan[k]) or 0
      out[#out + 1] = tonumber(fan[responders + k]) or 0
    end
  end
  i = i + 1 + responders
end
return cmsgpack.pack(out)
`;

/**
 * Appends the numbers of one MessagePack array of integers (what cmsgpack.pack writes for a Lua
 * array of numbers: fixint, int/uint 8-64, float 32/64 for a non-integer) to `out`.
 */
export function readPackedIntegers(buf: Buffer, out: number[]): void {
  const end = buf.length;
  const truncated = (at: number) => new Error(`contexts reply: truncated at byte ${at} of ${end}`);
  if (end === 0) throw truncated(0);
  const head = buf[0] as number;
  let count: number;
  let pos: number;
  if (head >= 0x90 && head <= 0x9f) {
    count = head & 0x0f;
    pos = 1;
  } else if (head === 0xdc && end >= 3) {
    count = buf.readUInt16BE(1);
    pos = 3;
  } else if (head === 0xdd && end >= 5) {
    count = buf.readUInt32BE(1);
    pos = 5;
  } else if (head === 0xdc || head === 0xdd) throw truncated(1);
  else throw new Error(`contexts reply: expected a MessagePack array, got type byte 0x${head.toString(16)}`);
  for (let k = 0; k < count; k++) {
    if (pos >= end) throw truncated(pos);
    const t = buf[pos] as number;
    if (t < 0x80) {
      out.push(t);
      pos += 1;
      continue;
    }
    if (t >= 0xe0) {
      out.push(t - 0x100);
      pos += 1;
      continue;
    }
    const at = pos + 1;
    let v: number;
    switch (t) {
      case 0xcc:
      case 0xd0:
        pos = at + 1;
        if (pos > end) throw truncated(at - 1);
        v = t === 0xcc ? (buf[at] as number) : buf.readInt8(at);
        break;
      case 0xcd:
      case 0xd1:
        pos = at + 2;
        if (pos > end) throw truncated(at - 1);
        v = t === 0xcd ? buf.readUInt16BE(at) : buf.readInt16BE(at);
        break;
      case 0xce:
      case 0xd2:
      case 0xca:
        pos = at + 4;
        if (pos > end) throw truncated(at - 1);
        v = t === 0xce ? buf.readUInt32BE(at) : t === 0xd2 ? buf.readInt32BE(at) : buf.readFloatBE(at);
        break;
      case 0xcf:
      case 0xd3:
      case 0xcb:
        pos = at + 8;
        if (pos > end) throw truncated(at - 1);
        v =
          t === 0xcf
            ? Number(buf.readBigUInt64BE(at))
            : t === 0xd3
              ? Number(buf.readBigInt64BE(at))
              : buf.readDoubleBE(at);
        break;
      default:
        throw new Error(
          `contexts reply: value ${k} has MessagePack type byte 0x${t.toString(16)}, not a number`,
        );
    }
    out.push(v);
  }
  if (pos !== end) throw new Error(`contexts reply: ${end - pos} bytes after the array`);
}

/** Windows per script call: bounds one call's run time inside Redis (it blocks other clients). */
const WINDOWS_PER_CALL = 1000;

/** Items by window start, then by shard of their initiator (in order of appearance). */
function bySlot<T>(
  items: T[],
  windowStart: (x: T) => number,
  initiator: (x: T) => string,
): Map<number, T[][]> {
  const slots = new Map<number, T[][]>();
  let recentStart = Number.NaN;
  let recent: T[][] = [];
  for (const x of items) {
    const ws = windowStart(x);
    if (ws !== recentStart) {
      let shards = slots.get(ws);
      if (!shards) {
        shards = [];
        slots.set(ws, shards);
      }
      recent = shards;
      recentStart = ws;
    }
    const shard = initiatorShard(initiator(x));
    const list = recent[shard];
    if (list) list.push(x);
    else recent[shard] = [x];
  }
  return slots;
}

const startOf = (c: WindowContribution) => c.windowStartMs;
const initiatorOf = (c: WindowContribution) => c.initiator;

/**
 * The APPLY_WINDOWS argument of some contributions: grouped by slot hash, one initiator block per
 * window (the script merges the blocks of one initiator).
 */
export function applyArgument(contributions: WindowContribution[]): string {
  const out: (string | number)[] = [];
  for (const [ws, shards] of bySlot(contributions, startOf, initiatorOf)) {
    for (let shard = 0; shard < shards.length; shard++) {
      const list = shards[shard];
      if (!list) continue;
      out.push(ws, shard, list.length);
      for (const c of list) {
        const ports = c.dstPorts;
        out.push(
          c.initiator,
          1,
          c.responder,
          c.connections,
          c.fwdBytes,
          c.bwdBytes,
          c.fwdPkts,
          c.bwdPkts,
          ports.length,
        );
        for (let i = 0; i < ports.length; i++) out.push(ports[i] as number);
        out.push(c.probe ? 1 : 0, initiatorShard(c.responder));
      }
    }
  }
  return JSON.stringify(out);
}

/**
 * applyArgument(windows.slice(from, to).map(windowContribution)), the same text, built from the
 * sealed windows: no contribution objects, and the grouping by slot hash a counting sort of
 * window indexes (window starts in order of first appearance, then shard) instead of arrays per
 * slot built through callbacks.
 */
export function sealedApplyArgument(windows: readonly OpenWindow[], from: number, to: number): string {
  return JSON.stringify(sealedApplyValues(windows, from, to));
}

/**
 * Items 0..n-1 grouped by slot hash, a counting sort of their indexes (no arrays per slot, no
 * callbacks per group): window starts in order of first appearance, then shard. Slot s is
 * (index in `starts`) * SLOT_SHARDS + shard; its items are order[first[s]] .. order[first[s + 1] - 1],
 * in their original order.
 */
interface SlotOrder {
  starts: number[];
  first: Int32Array;
  order: Int32Array;
  /** Per item, initiatorHash of its initiator (its shard is this mod SLOT_SHARDS). */
  hashes: Uint32Array;
}

function slotOrder(
  n: number,
  windowStartOf: (i: number) => number,
  initiatorOf: (i: number) => string,
): SlotOrder {
  const starts: number[] = [];
  /** Per item, its slot. */
  const slotOf = new Int32Array(n);
  const hashes = new Uint32Array(n);
  let recentStart = Number.NaN;
  let recentIndex = -1;
  for (let k = 0; k < n; k++) {
    const ws = windowStartOf(k);
    if (ws !== recentStart) {
      recentIndex = starts.indexOf(ws);
      if (recentIndex < 0) recentIndex = starts.push(ws) - 1;
      recentStart = ws;
    }
    const h = initiatorHash(initiatorOf(k));
    hashes[k] = h;
    slotOf[k] = recentIndex * SLOT_SHARDS + (h % SLOT_SHARDS);
  }
  const slots = starts.length * SLOT_SHARDS;
  const first = new Int32Array(slots + 1);
  for (let k = 0; k < n; k++) {
    const s = (slotOf[k] as number) + 1;
    first[s] = (first[s] as number) + 1;
  }
  for (let s = 0; s < slots; s++) first[s + 1] = (first[s + 1] as number) + (first[s] as number);
  const order = new Int32Array(n);
  const fill = first.slice(0, slots);
  for (let k = 0; k < n; k++) {
    const s = slotOf[k] as number;
    const at = fill[s] as number;
    order[at] = k;
    fill[s] = at + 1;
  }
  return { starts, first, order, hashes };
}

/**
 * The distinct names of slot `s`'s items into `names` (in order of appearance; returns how many),
 * and for each of its items `at[item] = base + stride * (its name's index)`. Deduped by the hashes
 * slotOrder computed: an open-addressing table of name index + 1 (a Map of strings would hash
 * every address again and grow per slot).
 */
function distinctInSlot(
  slots: SlotOrder,
  s: number,
  nameOf: (i: number) => string,
  names: string[],
  at: Int32Array,
  base: number,
  stride: number,
): number {
  const lo = slots.first[s] as number;
  const hi = slots.first[s + 1] as number;
  names.length = 0;
  if (lo === hi) return 0;
  const { order, hashes } = slots;
  const size = 2 ** Math.ceil(Math.log2(2 * (hi - lo)));
  if (dedupe.length < size) {
    dedupe = new Int32Array(size);
    dedupeHashes = new Uint32Array(size);
  }
  const table = dedupe;
  const tableHash = dedupeHashes;
  table.fill(0, 0, size);
  const mask = size - 1;
  for (let q = lo; q < hi; q++) {
    const i = order[q] as number;
    const h = hashes[i] as number;
    const name = nameOf(i);
    // The low bits are the shard, the same for the whole slot.
    let slot = (h >>> 4) & mask;
    let index: number;
    for (;;) {
      const e = table[slot] as number;
      if (e === 0) {
        index = names.push(name) - 1;
        table[slot] = index + 1;
        tableHash[slot] = h;
        break;
      }
      if (tableHash[slot] === h && names[e - 1] === name) {
        index = e - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    at[i] = base + stride * index;
  }
  return names.length;
}

/** The array sealedApplyArgument writes as JSON text. */
export function sealedApplyValues(
  windows: readonly OpenWindow[],
  from: number,
  to: number,
): (string | number)[] {
  const { starts, first, order } = sealedSlotOrder(windows, from, to);
  const out: (string | number)[] = [];
  for (let s = 0; s < starts.length * SLOT_SHARDS; s++) {
    const lo = first[s] as number;
    const hi = first[s + 1] as number;
    if (lo === hi) continue;
    out.push(starts[(s / SLOT_SHARDS) | 0] as number, s % SLOT_SHARDS, hi - lo);
    for (let q = lo; q < hi; q++) {
      const w = windows[from + (order[q] as number)] as OpenWindow;
      out.push(w.src_ip, 1);
      appendContribution(out, w);
      out.push(initiatorShard(w.dst_ip));
    }
  }
  return out;
}

/**
 * msgpackArray(sealedApplyValues(windows, from, to)), the same bytes, written straight from the
 * windows: no array of values in between, and no type test per value.
 */
export function sealedApplyMsgpack(windows: readonly OpenWindow[], from: number, to: number): Buffer {
  const { starts, first, order } = sealedSlotOrder(windows, from, to);
  const w = packer.begin();
  for (let s = 0; s < starts.length * SLOT_SHARDS; s++) {
    const lo = first[s] as number;
    const hi = first[s + 1] as number;
    if (lo === hi) continue;
    w.number(starts[(s / SLOT_SHARDS) | 0] as number);
    w.number(s % SLOT_SHARDS);
    w.number(hi - lo);
    for (let q = lo; q < hi; q++) {
      const win = windows[from + (order[q] as number)] as OpenWindow;
      w.string(win.src_ip);
      w.number(1);
      writeContribution(w, win);
      w.number(initiatorShard(win.dst_ip));
    }
  }
  return w.end();
}

function sealedSlotOrder(windows: readonly OpenWindow[], from: number, to: number): SlotOrder {
  return slotOrder(
    to - from,
    (k) => (windows[from + k] as OpenWindow).window_start_ms,
    (k) => (windows[from + k] as OpenWindow).src_ip,
  );
}

/**
 * Writes one MessagePack array of strings and finite numbers (array 32; str 8 / str 32; unsigned
 * integers in their smallest form up to 2^53, other numbers float 64) into a buffer reused across
 * calls; `end` returns a copy (calls are queued back to back before ioredis writes them).
 */
class ArrayPacker implements ContributionWriter {
  #buf = Buffer.allocUnsafe(1 << 16);
  #pos = 5;
  #count = 0;

  begin(): this {
    this.#pos = 5;
    this.#count = 0;
    return this;
  }

  #room(need: number): Buffer {
    const buf = this.#buf;
    if (buf.length - this.#pos >= need) return buf;
    const bigger = Buffer.allocUnsafe(Math.max(2 * buf.length, this.#pos + need));
    buf.copy(bigger, 0, 0, this.#pos);
    this.#buf = bigger;
    return bigger;
  }

  value(v: string | number): void {
    const i = this.#count++;
    if (typeof v === 'string') this.#string(v);
    else this.#number(v, i);
  }

  string(v: string): void {
    this.#count++;
    this.#string(v);
  }

  number(v: number): void {
    this.#number(v, this.#count++);
  }

  #string(v: string): void {
    const len = v.length;
    const buf = this.#room(5 + 3 * len);
    let pos = this.#pos;
    if (len <= 85) {
      // At most 255 UTF-8 bytes: str 8. ASCII (addresses) copied here, anything else by buf.write.
      let p = pos + 2;
      for (let k = 0; k < len; k++) {
        const c = v.charCodeAt(k);
        if (c >= 0x80) {
          p = pos + 2 + buf.write(v, pos + 2);
          break;
        }
        buf[p++] = c;
      }
      buf[pos] = 0xd9;
      buf[pos + 1] = p - pos - 2;
      pos = p;
    } else {
      const n = buf.write(v, pos + 5);
      buf[pos] = 0xdb;
      buf.writeUInt32BE(n, pos + 1);
      pos += 5 + n;
    }
    this.#pos = pos;
  }

  #number(v: number, index: number): void {
    const buf = this.#room(9);
    const pos = this.#pos;
    if (Number.isSafeInteger(v) && v >= 0) {
      if (v < 128) {
        buf[pos] = v;
        this.#pos = pos + 1;
      } else if (v < 0x10000) {
        // Byte stores: writeUInt16BE / writeUInt32BE range-check again (~10 % of writing a window).
        buf[pos] = 0xcd;
        buf[pos + 1] = v >>> 8;
        buf[pos + 2] = v & 0xff;
        this.#pos = pos + 3;
      } else if (v < 0x100000000) {
        buf[pos] = 0xce;
        buf[pos + 1] = v >>> 24;
        buf[pos + 2] = (v >>> 16) & 0xff;
        buf[pos + 3] = (v >>> 8) & 0xff;
        buf[pos + 4] = v & 0xff;
        this.#pos = pos + 5;
      } else {
        buf[pos] = 0xcf;
        buf.writeUInt32BE(Math.floor(v / 0x100000000), pos + 1);
        buf.writeUInt32BE(v >>> 0, pos + 5);
        this.#pos = pos + 9;
      }
    } else if (Number.isFinite(v)) {
      buf[pos] = 0xcb;
      buf.writeDoubleBE(v, pos + 1);
      this.#pos = pos + 9;
    } else {
      throw new RangeError(`script argument ${index} is ${v}: statistics must be finite numbers`);
    }
  }

  end(): Buffer {
    const buf = this.#buf;
    buf[0] = 0xdd;
    buf.writeUInt32BE(this.#count, 1);
    return Buffer.from(buf.subarray(0, this.#pos));
  }
}

const packer = new ArrayPacker();
/** The contexts read's dedupe table, reused (grown to the largest slot hash's items). */
let dedupe = new Int32Array(1024);
let dedupeHashes = new Uint32Array(1024);

/**
 * A flat array of strings and finite numbers as one MessagePack array (ArrayPacker): what
 * cmsgpack.unpack turns into the same Lua table cjson.decode makes of JSON.stringify(values).
 */
export function msgpackArray(values: readonly (string | number)[]): Buffer {
  const w = packer.begin();
  for (let i = 0; i < values.length; i++) w.value(values[i] as string | number);
  return w.end();
}

/** A pair bucket's counters as stored (for the forensic views and tests). */
export interface PairCounters {
  connections: number;
  fwd_bytes: number;
  bwd_bytes: number;
  fwd_pkts: number;
  bwd_pkts: number;
}

/** Key layout (documented in services/sequencer/README.md). */
export class SequencerKeys {
  constructor(readonly prefix: string) {}
  /** Initiator-window contexts of one shard: field = initiator. */
  entities(windowStartMs: number, shard: number): string {
    return `${this.prefix}:ent:${windowStartMs}:${shard}`;
  }
  /** Pair counters of one bucket and shard (of the initiator): field = `<src>><dst>`. */
  pairs(bucketStartMs: number, shard: number): string {
    return `${this.prefix}:pair:${bucketStartMs}:${shard}`;
  }
  /**
   * Responder-windows' distinct initiators (context.distinct_srcs) of one shard (of the responder):
   * field = responder; field `<responder>:p` = the probing ones (context.distinct_probe_srcs).
   */
  fanIn(windowStartMs: number, shard: number): string {
    return `${this.prefix}:fanin:${windowStartMs}:${shard}`;
  }
  /** An initiator-window's distinct responders / ports once past EXACT_DISTINCT_LIMIT. */
  distinct(what: 'dsts' | 'ports', windowStartMs: number, ip: string): string {
    return `${this.prefix}:${what}:${windowStartMs}:${ip}`;
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
    if (!('twApplySealed' in redis)) redis.defineCommand('twApplySealed', { lua: APPLY_SEALED });
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

  /** applyWindows(windows.map(windowContribution)), the script argument built from the windows. */
  async applySealed(windows: readonly OpenWindow[]): Promise<void> {
    if (windows.length === 0) return;
    const { keyPrefix, ttlSeconds, pairBucketMs } = this.settings;
    const commands = this.redis as unknown as ScriptCommands;
    await this.#timer('apply_windows', async () => {
      const calls: Promise<number>[] = [];
      for (let from = 0; from < windows.length; from += WINDOWS_PER_CALL) {
        const to = Math.min(from + WINDOWS_PER_CALL, windows.length);
        const argument = sealedApplyMsgpack(windows, from, to);
        // Sent back to back: one round trip for all of them.
        calls.push(commands.twApplySealed(0, keyPrefix, String(ttlSeconds), String(pairBucketMs), argument));
      }
      await Promise.all(calls);
    });
  }

  /** contexts() of the windows' (initiator, responder, window start) keys. */
  windowContexts(windows: readonly OpenWindow[]): Promise<EntityContext[]> {
    return this.#readContexts(
      windows.length,
      (i) => (windows[i] as OpenWindow).window_start_ms,
      (i) => (windows[i] as OpenWindow).src_ip,
      (i) => (windows[i] as OpenWindow).dst_ip,
    );
  }

  contexts(keys: ContextKey[]): Promise<EntityContext[]> {
    return this.#readContexts(
      keys.length,
      (i) => (keys[i] as ContextKey).windowStartMs,
      (i) => (keys[i] as ContextKey).initiator,
      (i) => (keys[i] as ContextKey).responder,
    );
  }

  /**
   * The contexts of items 0..count-1: initiators grouped by slot hash of their shard, responders by
   * slot hash of theirs (the same window starts in the same order), each deduped within its slot
   * in one pass, so each distinct (initiator, window start) and (responder, window start) is read
   * once; a slot's initiators and responders in one HMGET each.
   */
  async #readContexts(
    count: number,
    windowStartOf: (i: number) => number,
    initiatorOf: (i: number) => string,
    responderOf: (i: number) => string,
  ): Promise<EntityContext[]> {
    if (count === 0) return [];
    const commands = this.redis as unknown as ScriptCommands;
    return this.#timer('contexts', async () => {
      const calls: Promise<Buffer>[] = [];
      const bySrc = slotOrder(count, windowStartOf, initiatorOf);
      const byDst = slotOrder(count, windowStartOf, responderOf);
      /** Per item, the index of its initiator's triple / its responder's fan-in pair in the results. */
      const tripleAt = new Int32Array(count);
      const fanInAt = new Int32Array(count);
      /** Numbers the replies hold before the current slot's. */
      let results = 0;
      const initiators: string[] = [];
      const responders: string[] = [];
      let values = 0;
      let w = packer.begin();
      for (let s = 0; s < bySrc.starts.length * SLOT_SHARDS; s++) {
        const nInitiators = distinctInSlot(bySrc, s, initiatorOf, initiators, tripleAt, results, 3);
        const nResponders = distinctInSlot(
          byDst,
          s,
          responderOf,
          responders,
          fanInAt,
          results + 3 * nInitiators,
          2,
        );
        if (nInitiators + nResponders === 0) continue;
        results += 3 * nInitiators + 2 * nResponders;
        w.number(bySrc.starts[(s / SLOT_SHARDS) | 0] as number);
        w.number(s % SLOT_SHARDS);
        w.number(nInitiators);
        for (let k = 0; k < nInitiators; k++) w.string(initiators[k] as string);
        w.number(nResponders);
        for (let k = 0; k < nResponders; k++) w.string(responders[k] as string);
        values += 4 + nInitiators + nResponders;
        if (values >= WINDOWS_PER_CALL) {
          calls.push(commands.twReadContextsBuffer(0, this.settings.keyPrefix, w.end()));
          w = packer.begin();
          values = 0;
        }
      }
      if (values > 0) calls.push(commands.twReadContextsBuffer(0, this.settings.keyPrefix, w.end()));
      const numbers: number[] = [];
      for (const reply of await Promise.all(calls)) readPackedIntegers(reply, numbers);
      if (numbers.length !== results)
        throw new Error(`contexts reply: ${numbers.length} numbers where ${results} were asked for`);
      const contexts: EntityContext[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const t = tripleAt[i] as number;
        contexts[i] = {
          distinct_dsts: numbers[t] as number,
          distinct_dst_ports: numbers[t + 1] as number,
          connections: numbers[t + 2] as number,
          distinct_srcs: numbers[fanInAt[i] as number] as number,
          distinct_probe_srcs: numbers[(fanInAt[i] as number) + 1] as number,
        };
      }
      return contexts;
    });
  }

  /** One pair bucket's counters, undefined if none were applied. */
  async pairCounters(src: string, dst: string, bucketStartMs: number): Promise<PairCounters | undefined> {
    const v = await this.redis.hget(this.keys.pairs(bucketStartMs, initiatorShard(src)), `${src}>${dst}`);
    if (v === null) return undefined;
    const [connections, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts] = (v.split('|')[0] as string)
      .split(' ')
      .map(Number);
    return {
      connections: connections ?? 0,
      fwd_bytes: fwd_bytes ?? 0,
      bwd_bytes: bwd_bytes ?? 0,
      fwd_pkts: fwd_pkts ?? 0,
      bwd_pkts: bwd_pkts ?? 0,
    };
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

/** A RedisSequencerState on its own connection (benchmarks, tools); `close` quits the connection. */
export async function connectRedisState(
  url: string,
  settings: RedisStateSettings,
): Promise<{ state: RedisSequencerState; redis: Redis; close(): Promise<void> }> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  return {
    state: new RedisSequencerState(redis, settings),
    redis,
    close: async () => {
      await redis.quit();
    },
  };
}
