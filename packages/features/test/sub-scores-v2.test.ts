import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import { SUB_SCORES_V2_HASH, type SubScores, subScores } from '../src/index.ts';
import { type RandomSequenceShape, randomSequence } from './random-sequence.ts';

// subscores.v2 (spec/subscores.v2.json): golden vectors written by model/golden_features.py, which the
// Python suite checks too (model/tests/test_sub_scores_v2.py).

interface Case {
  name: string;
  sequence: Sequence;
  expected: { v1: SubScores; v2: SubScores };
}
const golden = JSON.parse(
  readFileSync(new URL('../spec/golden.subscores.v2.json', import.meta.url), 'utf8'),
) as { sub_score_spec_hash: string; cases: Case[] };

const KEYS = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);

describe('subscores.v2 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V2_HASH);
    assert.equal(golden.cases.length, 29);
  });
  for (const c of golden.cases) {
    it(`v1 and v2 match: ${c.name}`, () => {
      const v1 = subScores(c.sequence, 'v1');
      const v2 = subScores(c.sequence, 'v2');
      for (const k of KEYS) {
        close(v1[k], c.expected.v1[k], `v1 ${k}`);
        close(v2[k], c.expected.v2[k], `v2 ${k}`);
      }
    });
  }
  it('the cases reach both new rules past the flag threshold and below it', () => {
    const up = (k: 'scan' | 'brute_force') =>
      golden.cases.filter((c) => c.expected.v2[k] >= 0.8 && c.expected.v1[k] < 0.8).length;
    assert.ok(up('scan') >= 3 && up('brute_force') >= 3);
    const below = golden.cases.filter(
      (c) => c.expected.v2.scan > c.expected.v1.scan && c.expected.v2.scan < 0.8,
    );
    assert.ok(below.length >= 2);
  });
});

/** Login ports, web ports, ICMP and pings beside v1's shapes. */
const V2_SHAPE: RandomSequenceShape = {
  maxFlows: 12,
  answered: 0.6,
  protocols: [6, 6, 17, 1, 58, 0, 47],
  srcPort: (i) => 40000 + i,
  dstPort: (_, pick) => pick([22, 23, 21, 3389, 5900, 443, 80, 0, 2048, 53, 8080]),
  minPkts: 0,
};
const randomV2 = (r: () => number): Sequence => randomSequence(r, V2_SHAPE);

describe('subscores.v2 against features.v1', () => {
  it('never scores below v1, and equals it without ICMP or login-port flows', () => {
    const r = rng(5);
    let same = 0;
    for (let t = 0; t < 3000; t++) {
      const s = randomV2(r);
      const v1 = subScores(s, 'v1');
      const v2 = subScores(s, 'v2');
      for (const k of KEYS) assert.ok(v2[k] >= v1[k], `${k}: v2 ${v2[k]} < v1 ${v1[k]}`);
      assert.equal(v2.beacon, v1.beacon);
      assert.equal(v2.exfiltration, v1.exfiltration);
      const icmp = s.flows.some((f) => f.protocol === 1 || f.protocol === 58);
      if (!icmp) assert.equal(v2.scan, v1.scan);
      const login = s.flows.some((f) => [21, 22, 23, 3389, 5900].includes(f.dst_port));
      if (!login) {
        assert.equal(v2.brute_force, v1.brute_force);
        same++;
      }
    }
    assert.ok(same > 100);
  });
  it('is the default of neither subScores (features.v1 stays the default there)', () => {
    const c = golden.cases.find((x) => x.name.startsWith('answered ping to one host')) as Case;
    assert.equal(subScores(c.sequence).scan, 0);
    assert.equal(subScores(c.sequence, 'v2').scan, 1);
  });
});
