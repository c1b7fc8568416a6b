import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import { SequenceBatch } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import {
  SUB_SCORE_COUNT,
  SUB_SCORES_V3_HASH,
  type SubScores,
  subScores,
  subScoresInto,
} from '../src/index.ts';
import { type RandomSequenceShape, randomSequence } from './random-sequence.ts';

// subscores.v3 (spec/subscores.v3.json): golden vectors written by model/golden_features.py, which the
// Python suite checks too (model/tests/test_sub_scores_v3.py).

interface Case {
  name: string;
  sequence: Sequence;
  expected: { v1: Omit<SubScores, 'reflection'>; v2: Omit<SubScores, 'reflection'>; v3: SubScores };
}
const golden = JSON.parse(
  readFileSync(new URL('../spec/golden.subscores.v3.json', import.meta.url), 'utf8'),
) as { sub_score_spec_hash: string; cases: Case[] };

const KEYS = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-12, `${what}: ${a} vs ${b}`);
const named = (name: string): Case => {
  const c = golden.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c;
};

describe('subscores.v3 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V3_HASH);
    assert.equal(golden.cases.length, 59);
  });
  for (const c of golden.cases) {
    it(`v1, v2 and v3 match: ${c.name}`, () => {
      const got = { v1: subScores(c.sequence, 'v1'), v2: subScores(c.sequence, 'v2') };
      const v3 = subScores(c.sequence, 'v3');
      for (const k of KEYS) {
        close(got.v1[k], c.expected.v1[k], `v1 ${k}`);
        close(got.v2[k], c.expected.v2[k], `v2 ${k}`);
        close(v3[k], c.expected.v3[k], `v3 ${k}`);
      }
      close(v3.reflection, c.expected.v3.reflection, 'v3 reflection');
      assert.equal(got.v1.reflection, 0);
      assert.equal(got.v2.reflection, 0);
    });
  }
  it('flag the reflection shapes and none of the look-alikes', () => {
    const flagged = golden.cases.filter((c) => c.expected.v3.reflection >= 0.8).map((c) => c.name);
    assert.deepEqual(flagged, [
      'snmp reflection: one unanswered packet from 161, fan-in 4276',
      'snmp reflection, fan-in 300 (ramp end)',
      'snmp reflection, fan-in 250 (0.8)',
      'dns amplification: 3 large replies from 53 to port 80',
      'memcached amplification from 11211',
      'ntp monlist replies from 123',
      'cldap, chargen, qotd, ssdp replies',
    ]);
    assert.equal(named('snmp reflection, fan-in 250 (0.8)').expected.v3.reflection, 0.8);
    assert.equal(named('snmp reflection, fan-in 175 (0.5)').expected.v3.reflection, 0.5);
    assert.equal(named('half reflection: 2 of 4 flows from 161').expected.v3.reflection, 0.5);
    assert.equal(
      named('snmp reflection shape from a producer without distinct_srcs').expected.v3.reflection,
      0,
    );
  });
});

/** Amplification ports and their look-alikes, fan-ins on both sides of the ramp, both sides of 10 flows. */
const V3_SHAPE: RandomSequenceShape = {
  maxFlows: 17,
  answered: 0.4,
  protocols: [17, 17, 6, 1, 0],
  srcPort: (i, pick) => pick([161, 53, 123, 1900, 11211, 40000 + i, 162, 0]),
  dstPort: (sport, pick) => pick([sport, 41000, 80, 53, 161, 22]),
  minPkts: 1,
  distinctSrcs: [0, 1, 49, 50, 120, 250, 300, 5000],
};
const randomV3 = (r: () => number): Sequence => randomSequence(r, V3_SHAPE);

describe('subscores.v3 against v2', () => {
  it("keeps v2's four scores (beacon from 10 flows) and adds reflection only for unanswered UDP from an amplification port", () => {
    const r = rng(11);
    let raised = 0;
    const batch = new SequenceBatch();
    const out = new Float64Array(SUB_SCORE_COUNT * 2);
    for (let t = 0; t < 3000; t++) {
      const s = randomV3(r);
      const v2 = subScores(s, 'v2');
      const v3 = subScores(s, 'v3');
      for (const k of KEYS)
        assert.equal(
          v3[k],
          k === 'beacon' && s.flows.length < 10 ? 0 : v2[k],
          `${k} (${s.flows.length} flows)`,
        );
      const amp = s.flows.filter(
        (f) =>
          f.protocol === 17 &&
          f.bwd_pkts === 0 &&
          f.src_port !== f.dst_port &&
          [161, 53, 123, 1900, 11211].includes(f.src_port),
      ).length;
      const fan = Math.min(1, Math.max(0, ((s.context.distinct_srcs ?? 0) - 50) / 250));
      close(v3.reflection, s.flows.length ? (fan * amp) / s.flows.length : 0, 'reflection');
      if (v3.reflection >= 0.8) raised++;
      // The batch path writes the same five numbers at any offset.
      batch.clear();
      batch.push(s);
      subScoresInto(batch, 0, out, SUB_SCORE_COUNT, 'v3');
      assert.deepEqual(Array.from(out.subarray(SUB_SCORE_COUNT)), [
        v3.beacon,
        v3.scan,
        v3.brute_force,
        v3.exfiltration,
        v3.reflection,
      ]);
    }
    assert.ok(raised > 5, `${raised} raised`);
  });
});
