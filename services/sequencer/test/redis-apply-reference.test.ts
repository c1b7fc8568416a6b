import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SequenceFlow } from '@tidewatch/contracts';
import { OpenWindow, type WindowContribution } from '@tidewatch/sequencing';
import { needsServices, seededRandom, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import {
  applyArgument,
  EXACT_DISTINCT_LIMIT,
  msgpackArray,
  RedisSequencerState,
  sealedApplyValues,
} from '../src/redis-state.ts';
import { referenceApplyScript } from './reference-apply-script.ts';
import { dumpKeys } from './redis-dump.ts';

const BUCKET_MS = 3_600_000;
/** Three window starts in one pair bucket and one in the next. */
const WS0 = 1_700_002_800_000 - (1_700_002_800_000 % BUCKET_MS) + 2_700_000;
const STARTS = [WS0, WS0 + 300_000, WS0 + 600_000, WS0 + 900_000];
const TTL_S = 600;

/**
 * Contributions of every shape the script takes: initiators with one window (most of them, one
 * port: the script's fast path) and with several per window start, no port, repeated ports, more
 * than EXACT_DISTINCT_LIMIT ports in one window, scanners past the limit over several windows,
 * byte counts past 2^32, IPv4 and IPv6.
 */
function contributions(count: number, seed: number): WindowContribution[] {
  const r = seededRandom(seed);
  const int = (n: number) => Math.floor(r() * n);
  const out: WindowContribution[] = [];
  for (let k = 0; k < count; k++) {
    const shape = int(10);
    const scanner = shape === 0;
    const i = scanner ? int(4) : shape < 6 ? 1000 + k : 10 + int(300);
    const initiator = i % 3 === 0 ? `fd00::${i.toString(16)}` : `10.${i >> 8}.1.${i & 255}`;
    const responder = scanner ? `172.30.${k >> 8}.${k & 255}` : `192.168.${int(4)}.${int(40)}`;
    let dstPorts: number[];
    if (scanner) dstPorts = Array.from({ length: 1 + int(40) }, () => 1 + int(5000));
    else if (shape === 1) dstPorts = [];
    else if (shape === 2) dstPorts = [443, 80, 443, 8080].slice(0, 1 + int(4));
    else dstPorts = [[22, 80, 443, 53][int(4)] as number];
    const connections = 1 + int(30);
    out.push({
      initiator,
      responder,
      windowStartMs: STARTS[int(STARTS.length)] as number,
      dstPorts,
      connections,
      fwdBytes: int(3) === 0 ? 5_000_000_000 + int(1000) : int(100_000),
      bwdBytes: int(1_000_000),
      fwdPkts: connections + int(50),
      bwdPkts: int(60),
      probe: k % 3 === 0,
    });
  }
  return out;
}

/** Sealed windows of the same mix (one to 40 flows; a window's ports are its distinct ports). */
function sealedWindows(count: number, seed: number): OpenWindow[] {
  return contributions(count, seed).map((c, k) => {
    const ports = c.dstPorts.length > 0 ? c.dstPorts : [0];
    const flows: SequenceFlow[] = ports.map((dst_port, f) => ({
      start_ms: c.windowStartMs + f,
      end_ms: c.windowStartMs + f + 1,
      protocol: 6,
      // Probe-shaped windows (nothing back), some of them reply-shaped instead (from port 53).
      src_port: k % 8 === 5 ? 53 : 40_000 + f,
      dst_port,
      fwd_bytes: f === 0 ? c.fwdBytes : k,
      // A probe-shaped window's flows are attempts of at most 7 packets (isProbeFlow).
      fwd_pkts: c.probe ? 1 + (c.fwdPkts % 7) : c.fwdPkts,
      bwd_bytes: c.bwdBytes,
      bwd_pkts: c.probe ? 0 : c.bwdPkts,
      tcp_flags: 0,
      label: null,
      attack: null,
      origin: 'test',
    }));
    return OpenWindow.of(c.initiator, c.responder, c.windowStartMs, c.windowStartMs + 300_000, flows);
  });
}

/** Batches as a restarted sequencer gives them: overlapping, a window twice in one call, all again. */
function batches<T>(items: T[]): T[][] {
  const n = items.length;
  const doubled = items.slice(0, 1500).flatMap((x, i) => (i % 4 === 0 ? [x, x] : [x]));
  return [
    items.slice(0, Math.floor(n * 0.6)),
    items.slice(Math.floor(n * 0.45)),
    doubled,
    items,
    [...items].reverse(),
  ];
}

describe('Redis statistics script: the state the reference (030c6be) script leaves', needsServices(), () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(serviceEndpoints()?.redisUrl as string);
  });
  after(async () => {
    await redis?.quit();
  });

  const dump = (prefix: string) => dumpKeys(redis, prefix);

  /** The reference script over one batch, in the calls of 1,000 windows the state makes. */
  async function reference(script: string, prefix: string, args: (string | Buffer)[]): Promise<void> {
    for (const arg of args) await redis.eval(script, 0, prefix, String(TTL_S), String(BUCKET_MS), arg);
  }

  const settings = (keyPrefix: string) => ({ keyPrefix, ttlSeconds: TTL_S, pairBucketMs: BUCKET_MS });

  function assertCovers(state: Map<string, unknown>): void {
    const keys = [...state.keys()];
    for (const kind of [':ent:', ':pair:', ':dsts:', ':ports:', ':fanin:'])
      assert.ok(
        keys.some((k) => k.startsWith(kind)),
        `input reaches ${kind} keys (past EXACT_DISTINCT_LIMIT)`,
      );
    const fanIn = [...state.entries()].filter(([k]) => k.startsWith(':fanin:'));
    const fields = fanIn.flatMap(([, v]) => (v as { value: [string, string][] }).value);
    assert.ok(
      fields.some(([f, v]) => f.endsWith(':p') && Number(v) > 1) && fields.some(([f]) => !f.endsWith(':p')),
      'probing initiators counted (distinct_probe_srcs fields)',
    );
  }

  it('applyWindows (JSON): same hashes, HyperLogLogs and expiries as the reference, replays and overlaps included', async () => {
    assert.equal(EXACT_DISTINCT_LIMIT, 32, 'the reference script keeps 32 exactly');
    const script = referenceApplyScript('cjson.decode');
    const refPrefix = uniqueName('apply-ref');
    const newPrefix = uniqueName('apply-new');
    const state = new RedisSequencerState(redis, settings(newPrefix));
    for (const batch of batches(contributions(4000, 3))) {
      const args: string[] = [];
      for (let from = 0; from < batch.length; from += 1000)
        args.push(applyArgument(batch.slice(from, from + 1000)));
      await reference(script, refPrefix, args);
      await state.applyWindows(batch);
      assert.deepEqual(await dump(newPrefix), await dump(refPrefix));
    }
    const expected = await dump(refPrefix);
    assertCovers(expected);
    assert.ok(expected.size > 60, `${expected.size} keys`);
  });

  it('applySealed (MessagePack): same hashes, HyperLogLogs and expiries as the reference, replays and overlaps included', async () => {
    const script = referenceApplyScript('cmsgpack.unpack');
    const refPrefix = uniqueName('sealed-ref');
    const newPrefix = uniqueName('sealed-new');
    const state = new RedisSequencerState(redis, settings(newPrefix));
    for (const batch of batches(sealedWindows(4000, 5))) {
      const args: Buffer[] = [];
      for (let from = 0; from < batch.length; from += 1000)
        args.push(msgpackArray(sealedApplyValues(batch, from, Math.min(from + 1000, batch.length))));
      await reference(script, refPrefix, args);
      await state.applySealed(batch);
      assert.deepEqual(await dump(newPrefix), await dump(refPrefix));
    }
    assertCovers(await dump(refPrefix));
  });
});
