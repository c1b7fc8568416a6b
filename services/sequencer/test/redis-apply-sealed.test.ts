import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { windowContribution } from '@tidewatch/sequencing';
import { needsServices, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import {
  applyArgument,
  EXACT_DISTINCT_LIMIT,
  msgpackArray,
  RedisSequencerState,
  sealedApplyArgument,
  sealedApplyMsgpack,
  sealedApplyValues,
} from '../src/redis-state.ts';
import { sealedWindows } from './sealed-windows.ts';
import { dumpKeys } from './redis-dump.ts';

const BUCKET_MS = 3_600_000;
/** Slices of a 5,000-window batch: whole, halves, the tail, one window. */
const SLICES = [
  [0, 1000],
  [1000, 2000],
  [0, 5000],
  [4990, 5000],
  [17, 18],
] as const;

describe('Redis applySealed: the same script argument and Redis state as applyWindows of the contributions', () => {
  it('builds the text applyArgument builds from the contributions, byte for byte', () => {
    const windows = sealedWindows(5000, 7);
    for (const [from, to] of SLICES) {
      assert.equal(
        sealedApplyArgument(windows, from, to),
        applyArgument(windows.slice(from, to).map(windowContribution)),
        `windows ${from}..${to}`,
      );
    }
  });

  it('sealedApplyMsgpack writes the bytes msgpackArray writes of the same values', () => {
    const windows = sealedWindows(5000, 11);
    for (const [from, to] of SLICES) {
      const expected = msgpackArray(sealedApplyValues(windows, from, to));
      assert.deepEqual(sealedApplyMsgpack(windows, from, to), expected, `windows ${from}..${to}`);
    }
  });

  describe('on the real Redis', needsServices(), () => {
    let redis: Redis;
    before(() => {
      redis = new Redis(serviceEndpoints()?.redisUrl as string);
    });
    after(async () => {
      await redis?.quit();
    });

    const dump = (prefix: string) => dumpKeys(redis, prefix);

    it('msgpackArray: cmsgpack.unpack in Redis gives the values cjson.decode gives of the JSON text', async () => {
      const values: (string | number)[] = [
        '',
        '10.0.0.1',
        'fd00::1',
        'é日本😀',
        'x'.repeat(85),
        'y'.repeat(86),
        'z'.repeat(70_000),
        '€'.repeat(85),
        // ASCII, then not: the encoder's ASCII copy hands over to buf.write mid-string.
        '10.0.0.1é',
        `${'a'.repeat(84)}é`,
        `fd00::1${'😀'.repeat(26)}`,
      ];
      for (const v of [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3])
        values.push(v, v + 0.5, -v);
      values.push(Number.MAX_SAFE_INTEGER, 2 ** 53, 3_000_000_123, 1e300, -(2 ** 31));
      // Enough to grow the encoder's buffer past its first size.
      for (let i = 0; i < 20_000; i++) values.push(`172.16.${i >> 8}.${i & 255}`, i * 7919);
      const show = `local function show(a)
  local o = {}
  for i = 1, #a do
    local v = a[i]
    if type(v) == 'number' then o[i] = 'n' .. string.format('%.17g', v) else o[i] = type(v) .. ':' .. v end
  end
  return o
end
return {show(cmsgpack.unpack(ARGV[1])), show(cjson.decode(ARGV[2]))}`;
      const [fromMsgpack, fromJson] = (await redis.eval(
        show,
        0,
        msgpackArray(values),
        JSON.stringify(values),
      )) as [string[], string[]];
      assert.equal(fromJson.length, values.length);
      assert.deepEqual(fromMsgpack, fromJson);
      assert.throws(() => msgpackArray(['a', Number.NaN]), /script argument 1 is NaN/);
      assert.throws(() => msgpackArray([Number.POSITIVE_INFINITY]), /script argument 0 is Infinity/);
    });

    it('applySealed (MessagePack script) leaves the hashes, HyperLogLogs and contexts applyWindows (JSON script) leaves, replays included', async () => {
      const settings = (keyPrefix: string) => ({ keyPrefix, ttlSeconds: 600, pairBucketMs: BUCKET_MS });
      const oldPrefix = uniqueName('sealed-old');
      const newPrefix = uniqueName('sealed-new');
      const viaContributions = new RedisSequencerState(redis, settings(oldPrefix));
      const viaSealed = new RedisSequencerState(redis, settings(newPrefix));
      const windows = sealedWindows(3500, 11);
      // Two batches overlapping by 300 windows (a replay after a restart), then everything again.
      const batches = [windows.slice(0, 2000), windows.slice(1700), windows];
      for (const batch of batches) {
        await viaContributions.applyWindows(batch.map(windowContribution));
        await viaSealed.applySealed(batch);
      }
      const before = await dump(oldPrefix);
      const afterSealed = await dump(newPrefix);
      assert.ok(
        [...before.keys()].some((k) => k.startsWith(':dsts:')) &&
          [...before.keys()].some((k) => k.startsWith(':ports:')),
        `scanners pass EXACT_DISTINCT_LIMIT (${EXACT_DISTINCT_LIMIT}) into HyperLogLogs`,
      );
      assert.ok(before.size > 50, `${before.size} keys`);
      assert.deepEqual(afterSealed, before);
      const contexts = await viaSealed.windowContexts(windows);
      assert.deepEqual(contexts, await viaContributions.windowContexts(windows));
      assert.equal(
        contexts.reduce((sum, c) => sum + (c.connections > 0 ? 1 : 0), 0),
        windows.length,
        'every window applied',
      );
      await viaSealed.applySealed([]);
    });
  });
});
