import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EntityContext } from '@tidewatch/contracts';
import { OpenWindow } from '@tidewatch/sequencing';
import { needsServices, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import { initiatorShard, RedisSequencerState, readPackedIntegers } from '../src/redis-state.ts';
import { sealedWindows } from './sealed-windows.ts';

/**
 * READ_CONTEXTS as it was before the contexts read went MessagePack both ways (36c656c): a JSON
 * argument, 3 integers per initiator as an integer reply.
 */
const REFERENCE_READ_CONTEXTS = `
local prefix = ARGV[1]
local a = cjson.decode(ARGV[2])
local fmt, call, match = string.format, redis.call, string.match
local out, i = {}, 1
while i <= #a do
  local start, shard, count = fmt('%d', a[i]), a[i + 1], a[i + 2]
  local fields = {}
  for k = 1, count do fields[k] = a[i + 2 + k] end
  local values = {}
  for k = 1, count, 1000 do
    local r = call('HMGET', prefix .. ':ent:' .. start .. ':' .. shard, unpack(fields, k, math.min(k + 999, count)))
    for q = 1, #r do values[#values + 1] = r[q] end
  end
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
end
return out
`;

/**
 * Each window's context read through the reference script, one call per slot hash, and its
 * responder's fan-in (distinct_srcs) by one HGET of its field.
 */
async function referenceContexts(
  redis: Redis,
  prefix: string,
  windows: readonly OpenWindow[],
): Promise<EntityContext[]> {
  const slots = new Map<string, { ws: number; shard: number; initiators: string[] }>();
  for (const w of windows) {
    const shard = initiatorShard(w.src_ip);
    const slot = `${w.window_start_ms}:${shard}`;
    let s = slots.get(slot);
    if (!s) {
      s = { ws: w.window_start_ms, shard, initiators: [] };
      slots.set(slot, s);
    }
    if (!s.initiators.includes(w.src_ip)) s.initiators.push(w.src_ip);
  }
  const byKey = new Map<string, EntityContext>();
  for (const { ws, shard, initiators } of slots.values()) {
    const reply = (await redis.eval(
      REFERENCE_READ_CONTEXTS,
      0,
      prefix,
      JSON.stringify([ws, shard, initiators.length, ...initiators]),
    )) as number[];
    initiators.forEach((initiator, k) => {
      byKey.set(`${initiator}|${ws}`, {
        distinct_dsts: Number(reply[3 * k]),
        distinct_dst_ports: Number(reply[3 * k + 1]),
        connections: Number(reply[3 * k + 2]),
      });
    });
  }
  const out: EntityContext[] = [];
  for (const w of windows) {
    const fanInKey = `${prefix}:fanin:${w.window_start_ms}:${initiatorShard(w.dst_ip)}`;
    const fanIn = await redis.hget(fanInKey, w.dst_ip);
    const probes = await redis.hget(fanInKey, `${w.dst_ip}:p`);
    out.push({
      ...(byKey.get(`${w.src_ip}|${w.window_start_ms}`) as EntityContext),
      distinct_srcs: fanIn === null ? 0 : Number(fanIn),
      distinct_probe_srcs: probes === null ? 0 : Number(probes),
    });
  }
  return out;
}

describe('Redis contexts read (MessagePack argument and reply)', () => {
  describe('on the real Redis', needsServices(), () => {
    let redis: Redis;
    before(() => {
      redis = new Redis(serviceEndpoints()?.redisUrl as string);
    });
    after(async () => {
      await redis?.quit();
    });

    it('windowContexts and contexts give what the reference script gives, for applied, half-applied and unknown initiators', async () => {
      const prefix = uniqueName('contexts-ref');
      const state = new RedisSequencerState(redis, {
        keyPrefix: prefix,
        ttlSeconds: 600,
        pairBucketMs: 3_600_000,
      });
      // 7,000 windows of ~530 initiators over three window starts (scanners past the exact limit:
      // PFCOUNT), applied in part and in an overlapping replay; then read with 3,000 windows nothing
      // was applied for (zero contexts), in an order that interleaves window starts and shards.
      const windows = sealedWindows(7000, 23);
      await state.applySealed(windows.slice(0, 4000));
      await state.applySealed(windows.slice(3500, 6000));
      const unknown = sealedWindows(3000, 29).map(
        (w) => new OpenWindow(`198.51.${w.src_ip}`, w.dst_ip, w.bounds, w.columns, w.firstRow, w.flowCount),
      );
      const read = [...windows, ...unknown];
      for (let i = read.length - 1; i > 0; i -= 3)
        [read[i], read[i - 1]] = [read[i - 1] as OpenWindow, read[i] as OpenWindow];
      const expected = await referenceContexts(redis, prefix, read);
      assert.ok(
        expected.some((c) => c.distinct_dsts > 32) && expected.some((c) => c.distinct_dst_ports > 32),
      );
      assert.ok(expected.some((c) => c.connections === 0) && expected.some((c) => c.connections > 1));
      assert.deepEqual(await state.windowContexts(read), expected);
      assert.ok(
        expected.some((c) => (c.distinct_srcs ?? 0) > 1) && expected.some((c) => c.distinct_srcs === 0),
      );
      assert.ok(
        expected.some((c) => (c.distinct_probe_srcs ?? 0) > 1) &&
          expected.some((c) => c.distinct_probe_srcs === 0 && (c.distinct_srcs ?? 0) > 0),
        'responders with probing initiators and without',
      );
      const keys = read.map((w) => ({
        initiator: w.src_ip,
        responder: w.dst_ip,
        windowStartMs: w.window_start_ms,
      }));
      assert.deepEqual(await state.contexts(keys), expected);
      // One window at a time (one slot, one initiator per call) and an empty read.
      for (const w of read.slice(0, 40))
        assert.deepEqual(await state.windowContexts([w]), await referenceContexts(redis, prefix, [w]));
      assert.deepEqual(await state.windowContexts([]), []);
    });

    it('windowContexts keeps initiators apart whose address hashes are equal (same slot hash)', async () => {
      const prefix = uniqueName('contexts-collide');
      const state = new RedisSequencerState(redis, {
        keyPrefix: prefix,
        ttlSeconds: 600,
        pairBucketMs: 3_600_000,
      });
      // FNV-1a of both texts is 1178116800: the same shard, the same dedupe hash.
      const [a, b] = ['10.0.107.237', '10.2.219.40'];
      const like = sealedWindows(6, 31);
      const windows = like.map(
        (w, k) =>
          new OpenWindow(
            k % 3 === 0 ? b : a,
            w.dst_ip,
            like[0]?.bounds as OpenWindow['bounds'],
            w.columns,
            w.firstRow,
            w.flowCount,
          ),
      );
      assert.equal(initiatorShard(a), initiatorShard(b));
      await state.applySealed(windows.slice(0, 4));
      const read = [...windows, ...windows.slice(0, 3)];
      const contexts = await state.windowContexts(read);
      assert.deepEqual(contexts, await referenceContexts(redis, prefix, read));
      assert.notDeepEqual(contexts[0], contexts[1]);
    });

    it('readPackedIntegers reads what cmsgpack.pack writes for a Lua array of numbers', async () => {
      const edges = [
        0,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        2 ** 31,
        2 ** 32 - 1,
        2 ** 32,
        2 ** 40 + 3,
        2 ** 53,
      ];
      const numbers = [
        ...edges,
        ...edges.map((v) => -v).filter((v) => v !== 0),
        -31,
        -32,
        -33,
        -128,
        -129,
        1.5,
        -0.25,
        1e300,
      ];
      for (const count of [0, 1, 15, 16, 65_535, 65_536]) {
        const values = Array.from({ length: count }, (_, i) => numbers[i % numbers.length] as number);
        const packed = (await redis.callBuffer(
          'EVAL',
          `local t = {}
for i = 1, #ARGV do t[i] = tonumber(ARGV[i]) end
return cmsgpack.pack(t)`,
          0,
          ...values.map(String),
        )) as Buffer;
        const out: number[] = [7];
        readPackedIntegers(packed, out);
        assert.deepEqual(out, [7, ...values], `${count} numbers`);
      }
    });
  });

  it('readPackedIntegers refuses what is not one array of numbers', () => {
    const read = (bytes: number[]) => readPackedIntegers(Buffer.from(bytes), []);
    assert.throws(() => read([]), /truncated at byte 0 of 0/);
    assert.throws(() => read([0x81, 0x01, 0x02]), /expected a MessagePack array, got type byte 0x81/);
    assert.throws(() => read([0x92, 0x01]), /truncated at byte 2 of 2/);
    assert.throws(() => read([0x91, 0xcd, 0x01]), /truncated at byte 1 of 3/);
    assert.throws(
      () => read([0x92, 0x01, 0xa1, 0x61]),
      /value 1 has MessagePack type byte 0xa1, not a number/,
    );
    assert.throws(() => read([0x91, 0x01, 0x02]), /1 bytes after the array/);
    assert.throws(() => read([0xdc, 0x00]), /truncated at byte 1 of 2/);
  });
});
