import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isProbeFlow, PROBE_MAX_PKTS, SequenceBatch } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import {
  inboundScanAt,
  SUB_SCORE_COUNT,
  SUB_SCORES_V4_HASH,
  type SubScores,
  subScores,
  subScoresInto,
} from '../src/index.ts';
import { close, FIVE, FOUR, type Four, readGolden } from './golden-sub-scores.ts';
import { type RandomSequenceShape, randomSequence } from './random-sequence.ts';

// subscores.v4 (spec/subscores.v4.json): golden vectors written by model/golden_features.py, which the
// Python suite checks too (model/tests/test_sub_scores_v4.py).

const golden = readGolden<{ v1: Four; v2: Four; v3: SubScores; v4: SubScores }>('golden.subscores.v4.json');

const scanOf = (name: string, version: 'v3' | 'v4' = 'v4'): number => {
  const c = golden.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c.expected[version].scan;
};

describe('subscores.v4 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V4_HASH);
    assert.equal(golden.cases.length, 100);
  });
  for (const c of golden.cases) {
    it(`v1 to v4 match: ${c.name}`, () => {
      for (const version of ['v1', 'v2'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FOUR) close(got[k], c.expected[version][k], `${version} ${k}`);
        assert.equal(got.reflection, 0);
      }
      for (const version of ['v3', 'v4'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FIVE) close(got[k], c.expected[version][k], `${version} ${k}`);
      }
    });
  }
  it('raise the inbound-scan shapes and none of the look-alikes', () => {
    // v4 differs from v3 in scan only, and only where the sequence carries distinct_probe_srcs.
    for (const c of golden.cases) {
      const { v3, v4 } = c.expected;
      assert.deepEqual({ ...v4, scan: 0 }, { ...v3, scan: 0 }, c.name);
      assert.ok(v4.scan >= v3.scan, c.name);
      if (c.sequence.context.distinct_probe_srcs === undefined) assert.equal(v4.scan, v3.scan, c.name);
    }
    assert.equal(scanOf('inbound scan: one unanswered SYN to 23, probing fan-in 8'), 1);
    assert.equal(scanOf('inbound scan, probing fan-in 7 (0.8)'), 0.8);
    assert.equal(scanOf('inbound scan, probing fan-in 5 (0.4)'), 0.4);
    assert.equal(scanOf('half probes: 1 of 2 flows unanswered, probing fan-in 8'), 0.5);
    for (const name of [
      'reply-shaped unanswered flow 80 -> 51000, probing fan-in 8',
      'inbound scan, probing fan-in 2',
      'inbound scan shape from a producer without distinct_probe_srcs',
      'answered: a RST came back (bwd_pkts 1), probing fan-in 8',
    ]) {
      assert.equal(scanOf(name), scanOf(name, 'v3'), name);
      assert.equal(scanOf(name), 0, name);
    }
    const raised = golden.cases.filter((c) => c.expected.v4.scan >= 0.8 && c.expected.v3.scan < 0.8);
    assert.equal(raised.length, 13);
  });
  it("names the contract's probe shape (isProbeFlow) in its constants", () => {
    const c = JSON.parse(readFileSync(new URL('../spec/subscores.v4.json', import.meta.url), 'utf8'))
      .constants.inbound_scan;
    assert.equal(c.max_probe_pkts, PROBE_MAX_PKTS);
    const { reply_src_port_min: lo, reply_src_port_max: hi, reply_dst_port_min: eph } = c;
    assert.equal(isProbeFlow(6, lo, eph, 1, 0), false);
    assert.equal(isProbeFlow(6, hi, eph, 1, 0), false);
    assert.equal(isProbeFlow(6, lo - 1, eph, 1, 0), true);
    assert.equal(isProbeFlow(6, hi + 1, eph + 1, 1, 0), true);
    assert.equal(isProbeFlow(6, hi, eph - 2, 1, 0), true);
    assert.equal(isProbeFlow(6, 47000, 23, c.max_probe_pkts, 0), true);
    assert.equal(isProbeFlow(6, 47000, 23, c.max_probe_pkts + 1, 0), false);
  });
});

/** Probes, answers and reply-shaped flows toward responders on both sides of the fan-in ramp. */
const V4_SHAPE: RandomSequenceShape = {
  maxFlows: 14,
  answered: 0.4,
  protocols: [6, 6, 17, 1, 0],
  srcPort: (i, pick) => pick([0, 1, 22, 80, 443, 1023, 1024, 47000 + i]),
  dstPort: (sport, pick) => pick([sport, 23, 445, 1023, 1024, 51000]),
  minPkts: 0,
  pktsSpan: 10,
  distinctSrcs: [0, 1, 300],
  distinctProbeSrcs: [0, 1, 2, 3, 5, 7, 8, 40],
};

describe('subscores.v4 against v3', () => {
  it("keeps v3's scores and takes scan as the larger of v3's and the inbound term", () => {
    const r = rng(12);
    let raised = 0;
    const batch = new SequenceBatch();
    const out = new Float64Array(SUB_SCORE_COUNT * 2);
    for (let t = 0; t < 3000; t++) {
      const s = randomSequence(r, V4_SHAPE);
      const v3 = subScores(s, 'v3');
      const v4 = subScores(s, 'v4');
      // An independent formulation of the spec's inbound term.
      const probes = s.flows.filter(
        (f) =>
          f.bwd_pkts === 0 &&
          f.fwd_pkts <= 7 &&
          !(f.src_port >= 1 && f.src_port <= 1023 && f.dst_port >= 1024) &&
          !(f.src_port >= 1 && f.src_port === f.dst_port && f.protocol !== 1 && f.protocol !== 58),
      ).length;
      const fan = Math.min(1, Math.max(0, ((s.context.distinct_probe_srcs ?? 0) - 3) / 5));
      const inbound = s.flows.length ? fan * (probes / s.flows.length) : 0;
      assert.deepEqual({ ...v4, scan: 0 }, { ...v3, scan: 0 });
      close(v4.scan, Math.max(v3.scan, inbound), 'scan');
      if (v4.scan >= 0.8 && v3.scan < 0.8) raised++;
      batch.clear();
      batch.push(s);
      close(inboundScanAt(batch, 0), inbound, 'inboundScanAt');
      // The batch path writes the same five numbers at any offset.
      subScoresInto(batch, 0, out, SUB_SCORE_COUNT, 'v4');
      assert.deepEqual(
        Array.from(out.subarray(SUB_SCORE_COUNT)),
        FIVE.map((k) => v4[k]),
      );
    }
    assert.ok(raised > 10, `${raised} raised`);
  });
});
