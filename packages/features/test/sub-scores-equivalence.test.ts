import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence, SequenceFlow } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import { subScores } from '../src/index.ts';
import { referenceSubScores } from './sub-scores-reference.ts';

// subScores (scratch typed arrays, index loops) must return exactly what the array/Map formulation
// (sub-scores-reference.ts) returns, bit for bit (Object.is: -0, NaN included), on any input.

const KEYS = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;

function assertSame(seq: Sequence, what: string): void {
  const want = referenceSubScores(seq);
  const got = subScores(seq);
  for (const k of KEYS) {
    assert.ok(Object.is(got[k], want[k]), `${what} ${k}: ${got[k]} vs reference ${want[k]}`);
  }
}

const ODD = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1e308, -1e308];
const POOL_PORTS = [22, 80, 443, 3389, 53, 8080, 5353, 0];

function randomSequence(r: () => number, n: number, odd: number): Sequence {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const maybeOdd = (x: number): number => (r() < odd ? pick(ODD) : x);
  const timeMode = Math.floor(r() * 4); // periodic, jittered, duplicates, unordered
  const bytesMode = Math.floor(r() * 4); // constant, few values, wide, fractional
  const portMode = Math.floor(r() * 4); // one port, pool, any, odd values
  const period = 1 + Math.floor(r() * 60_000);
  const base = 1_700_000_000_000 + Math.floor(r() * 1e9);
  const size = Math.floor(r() * 5000);
  const flows: SequenceFlow[] = [];
  let t = base;
  for (let i = 0; i < n; i++) {
    if (timeMode === 0) t += period;
    else if (timeMode === 1) t += period + Math.floor((r() - 0.5) * period * 0.2);
    else if (timeMode === 2) t += r() < 0.5 ? 0 : period;
    else t = base + Math.floor(r() * 1e7);
    const bytes = (): number => {
      if (bytesMode === 0) return size;
      if (bytesMode === 1) return pick([0, size, 2 * size, 60]);
      if (bytesMode === 2) return Math.floor(r() * 2 ** (r() * 34));
      return r() * 1e5;
    };
    let port: number;
    if (portMode === 0) port = 22;
    else if (portMode === 1) port = pick(POOL_PORTS);
    else if (portMode === 2) port = Math.floor(r() * 65536);
    else port = pick([22, 443, 1.5, -1, 65536, 70000, Number.NaN, -0, 0, 3389]);
    flows.push({
      start_ms: maybeOdd(t),
      end_ms: t + 10,
      protocol: 6,
      src_port: 40000 + i,
      dst_port: port,
      fwd_bytes: maybeOdd(bytes()),
      fwd_pkts: 1,
      bwd_bytes: r() < 0.3 ? 0 : maybeOdd(bytes()),
      bwd_pkts: 1,
      tcp_flags: 2,
      label: null,
      attack: null,
      origin: 'test',
    });
  }
  return {
    sequence_id: `s${n}`,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    window_start_ms: base,
    window_end_ms: t,
    part: 0,
    flows,
    context: {
      distinct_dsts: Math.floor(r() * 40),
      distinct_dst_ports: Math.floor(r() * 40),
      connections: n,
    },
  };
}

describe('subScores matches the reference formulation bit for bit', () => {
  it('on the golden sequences (features.v1 and v2)', () => {
    for (const file of ['golden.v1.json', 'golden.v2.json']) {
      const golden = JSON.parse(readFileSync(new URL(`../spec/${file}`, import.meta.url), 'utf8')) as {
        cases: { name: string; sequence: Sequence }[];
      };
      assert.ok(golden.cases.length > 0);
      for (const c of golden.cases) assertSame(c.sequence, `${file} ${c.name}`);
    }
  });

  it('on empty, one-flow and short sequences', () => {
    const r = rng(1);
    for (let n = 0; n <= 5; n++)
      for (let k = 0; k < 200; k++) assertSame(randomSequence(r, n, 0), `n=${n} #${k}`);
  });

  it('on 4,000 random finite sequences up to 200 flows (insertion and native sorts, scratch growth)', () => {
    const r = rng(2);
    for (let k = 0; k < 4000; k++) {
      const n = Math.floor(r() * (k % 10 === 0 ? 200 : 70));
      assertSame(randomSequence(r, n, 0), `finite #${k} n=${n}`);
    }
  });

  it('on 3,000 random sequences with NaN, ±Infinity, -0 and huge values and odd ports', () => {
    const r = rng(3);
    for (let k = 0; k < 3000; k++) {
      const n = Math.floor(r() * 90);
      assertSame(randomSequence(r, n, 0.05 + r() * 0.3), `odd #${k} n=${n}`);
    }
  });

  it('leaves no state behind: port-count ties after many calls still pick the lowest port', () => {
    const r = rng(4);
    for (let k = 0; k < 500; k++) subScores(randomSequence(r, 40, 0));
    const seq = randomSequence(r, 0, 0);
    for (let i = 0; i < 6; i++) {
      for (const port of [9000, 22]) {
        seq.flows.push({ ...(randomSequence(r, 1, 0).flows[0] as SequenceFlow), dst_port: port });
      }
    }
    assertSame(seq, 'ties');
    // 9000 (not an auth port) and 22 (auth) tie at six attempts: the lowest, 22, counts at full weight.
    assert.equal(subScores(seq).brute_force, (6 - 5) / (30 - 5));
    assertSame(seq, 'ties again');
  });
});
