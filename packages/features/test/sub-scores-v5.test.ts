import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import { SequenceBatch } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import {
  SUB_SCORE_COUNT,
  SUB_SCORES_V5_HASH,
  type SubScores,
  subScores,
  subScoresInto,
} from '../src/index.ts';
import { type RandomSequenceShape, randomSequence } from './random-sequence.ts';

// subscores.v5 (spec/subscores.v5.json): golden vectors written by model/golden_features.py, which the
// Python suite checks too (model/tests/test_sub_scores_v5.py).

type Four = Omit<SubScores, 'reflection'>;
interface Case {
  name: string;
  sequence: Sequence;
  expected: { v1: Four; v2: Four; v3: SubScores; v4: SubScores; v5: SubScores };
}
const golden = JSON.parse(
  readFileSync(new URL('../spec/golden.subscores.v5.json', import.meta.url), 'utf8'),
) as { sub_score_spec_hash: string; cases: Case[] };
const spec = JSON.parse(readFileSync(new URL('../spec/subscores.v5.json', import.meta.url), 'utf8'));
const v1Spec = JSON.parse(readFileSync(new URL('../spec/features.v1.json', import.meta.url), 'utf8'));

const FOUR = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;
const FIVE = [...FOUR, 'reflection'] as const;
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);
const bruteOf = (name: string, version: 'v4' | 'v5' = 'v5'): number => {
  const c = golden.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c.expected[version].brute_force;
};

describe('subscores.v5 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V5_HASH);
    assert.equal(golden.cases.length, 112);
  });
  for (const c of golden.cases) {
    it(`v1 to v5 match: ${c.name}`, () => {
      for (const version of ['v1', 'v2'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FOUR) close(got[k], c.expected[version][k], `${version} ${k}`);
      }
      for (const version of ['v3', 'v4', 'v5'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FIVE) close(got[k], c.expected[version][k], `${version} ${k}`);
      }
    });
  }
  it('differ from v4 only in brute force, only where 443 is the most attempted port', () => {
    for (const c of golden.cases) {
      const { v4, v5 } = c.expected;
      assert.deepEqual({ ...v5, brute_force: 0 }, { ...v4, brute_force: 0 }, c.name);
      assert.ok(v5.brute_force <= v4.brute_force, c.name);
    }
    assert.equal(bruteOf('25 connections to 443', 'v4'), 0.8);
    assert.equal(bruteOf('25 connections to 443'), 0.4);
    assert.equal(bruteOf('30 connections to 443'), 0.5);
    assert.equal(bruteOf('64 connections to 443'), 0.5);
    for (const name of [
      '25 connections to 80',
      '25 connections to 8080',
      '25 connections to 993',
      'tie: 25 connections each to 443 and 80 (80, the lower port, is p)',
      '30 connections to 443 and 5 ssh logins (the login term stands)',
    ])
      assert.equal(bruteOf(name), 0.8, name);
    const lowered = golden.cases.filter((c) => c.expected.v5.brute_force < c.expected.v4.brute_force);
    assert.equal(lowered.length, 7);
  });
  it("lists features.v1's authentication ports without 443", () => {
    assert.deepEqual(
      spec.constants.brute_force.auth_ports,
      v1Spec.sub_score_constants.brute_force.auth_ports.filter((p: number) => p !== 443),
    );
  });
});

/** Connection counts toward 443, its neighbours and login ports, on both sides of the ramp. */
const V5_SHAPE: RandomSequenceShape = {
  maxFlows: 40,
  answered: 0.8,
  protocols: [6, 6, 6, 17, 0],
  srcPort: (i, pick) => pick([47000 + i, 50000 + i]),
  dstPort: (_sport, pick) => pick([443, 443, 443, 80, 22, 8443]),
  minPkts: 1,
  pktsSpan: 12,
  distinctSrcs: [0, 1],
  distinctProbeSrcs: [0, 8],
};

describe('subscores.v5 against v4', () => {
  it("keeps v4's scores but brute force, where 443's connection count weighs as a non-authentication port", () => {
    const r = rng(15);
    let lowered = 0;
    const batch = new SequenceBatch();
    const out = new Float64Array(SUB_SCORE_COUNT * 2);
    for (let t = 0; t < 3000; t++) {
      const s = randomSequence(r, V5_SHAPE);
      const v4 = subScores(s, 'v4');
      const v5 = subScores(s, 'v5');
      assert.deepEqual({ ...v5, brute_force: 0 }, { ...v4, brute_force: 0 });
      // 443 renamed to 444 (in no list; the shape draws no port between them, so ties resolve alike)
      // gives v5's score under v4's formulas.
      const renamed = { ...s, flows: s.flows.map((f) => (f.dst_port === 443 ? { ...f, dst_port: 444 } : f)) };
      close(v5.brute_force, subScores(renamed, 'v4').brute_force, 'brute_force');
      if (v5.brute_force < v4.brute_force) lowered++;
      batch.clear();
      batch.push(s);
      subScoresInto(batch, 0, out, SUB_SCORE_COUNT, 'v5');
      assert.deepEqual(
        Array.from(out.subarray(SUB_SCORE_COUNT)),
        FIVE.map((k) => v5[k]),
      );
    }
    assert.ok(lowered > 100, `${lowered} lowered`);
  });
});
