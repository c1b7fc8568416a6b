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
import { close, FIVE, FOUR, type Four, readGolden } from './golden-sub-scores.ts';
import { type RandomSequenceShape, randomSequence } from './random-sequence.ts';

// subscores.v5 (spec/subscores.v5.json): golden vectors written by model/golden_features.py, which the
// Python suite checks too (model/tests/test_sub_scores_v5.py).

const golden = readGolden<{ v1: Four; v2: Four; v3: SubScores; v4: SubScores; v5: SubScores }>(
  'golden.subscores.v5.json',
);
const spec = JSON.parse(readFileSync(new URL('../spec/subscores.v5.json', import.meta.url), 'utf8'));
const v1Spec = JSON.parse(readFileSync(new URL('../spec/features.v1.json', import.meta.url), 'utf8'));

const expectedOf = (name: string, version: 'v4' | 'v5' = 'v5'): SubScores => {
  const c = golden.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c.expected[version];
};
const bruteOf = (name: string, version: 'v4' | 'v5' = 'v5'): number => expectedOf(name, version).brute_force;
const scanOf = (name: string, version: 'v4' | 'v5' = 'v5'): number => expectedOf(name, version).scan;

/**
 * The sequence with v5's silence written into bwd_bytes for v4 to read: 0 exactly when no packet came
 * back from an unsampled flow (an IP-byte producer's count, with sampled flows taken as answered).
 */
const silenceAsBytes = (s: Sequence): Sequence => ({
  ...s,
  flows: s.flows.map((f) => ({
    ...f,
    bwd_bytes: f.bwd_pkts === 0 && (f.sampling_rate ?? 1) <= 1 ? 0 : Math.max(1, f.bwd_bytes),
  })),
});
/** 443 renamed to 444 (in no list; no test sequence has a port between them, so ties resolve alike). */
const off443 = (s: Sequence): Sequence => ({
  ...s,
  flows: s.flows.map((f) => (f.dst_port === 443 ? { ...f, dst_port: 444 } : f)),
});
/** The Kerberos refusal term as the spec words it, from its constants (an independent formulation). */
const kerberosOf = (s: Sequence): number => {
  const c = spec.constants.kerberos;
  const ramp = (x: number, a: number, b: number) => Math.min(1, Math.max(0, (x - a) / (b - a)));
  const exchanges = s.flows.filter(
    (f) => f.dst_port === c.port && [0, 6, 17].includes(f.protocol) && f.bwd_pkts >= 1,
  );
  const refusals = exchanges.filter((f) => f.bwd_bytes <= c.max_answer_bytes).length;
  if (refusals === 0) return 0;
  return (
    ramp(refusals, c.min_refusals, c.full_refusals) *
    ramp(refusals / exchanges.length, c.min_share, c.full_share)
  );
};
/** v5's brute force by v4's formulas: 443 renamed, and the larger of that and the Kerberos term. */
const bruteByV4 = (s: Sequence): number => Math.max(subScores(off443(s), 'v4').brute_force, kerberosOf(s));

describe('subscores.v5 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V5_HASH);
    assert.equal(golden.cases.length, 131);
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
  it('differ from v4 in scan (silence) and in brute force (443, Kerberos refusals) only', () => {
    for (const c of golden.cases) {
      const { v4, v5 } = c.expected;
      assert.deepEqual({ ...v5, brute_force: 0, scan: 0 }, { ...v4, brute_force: 0, scan: 0 }, c.name);
      if (kerberosOf(c.sequence) === 0) assert.ok(v5.brute_force <= v4.brute_force, c.name);
      close(v5.scan, subScores(silenceAsBytes(c.sequence), 'v4').scan, `${c.name} scan`);
      close(v5.brute_force, bruteByV4(c.sequence), `${c.name} brute_force`);
    }
    assert.equal(scanOf('tail fragment: 3 packets, one empty answer, initiator fan-out 30 hosts', 'v4'), 1);
    for (const name of [
      'tail fragment: 3 packets, one empty answer, initiator fan-out 30 hosts',
      'refused SYN: one empty answer (a RST), fan-out 30 ports',
      'udp datagram with an empty answer, fan-out 30 hosts',
    ])
      assert.equal(scanOf(name), 0, name);
    assert.equal(scanOf('unanswered SYN, fan-out 30 ports'), 1);
    assert.equal(scanOf('2 refused and 2 unanswered SYNs, fan-out 30 ports'), 0.5);
    // subscores.v2's ICMP term counts an echo whether or not it was answered.
    assert.equal(scanOf('icmp echo with an empty answer, 18 hosts swept'), 1);
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
    const quieter = golden.cases.filter((c) => c.expected.v5.scan < c.expected.v4.scan);
    assert.equal(quieter.length, 6);
    assert.equal(scanOf('sampled server reply, nothing back (sFlow 1 in 1000), fan-out 30 hosts', 'v4'), 1);
    assert.equal(scanOf('sampled server reply, nothing back (sFlow 1 in 1000), fan-out 30 hosts'), 0);
    assert.equal(scanOf('2 sampled and 2 unsampled unanswered SYNs, fan-out 30 ports'), 0.5);
    assert.equal(bruteOf('kerberos spray: 13 refusals and 1 ticket', 'v4'), 0.18);
    for (const [name, want] of [
      ['kerberos spray: 13 refusals and 1 ticket', 1],
      ['kerberos: 10 refusals, no ticket (0.8)', 0.8],
      ['kerberos: 12 refusals and 4 tickets (share 0.75)', 1],
      ['kerberos over tcp: 12 refusals of 512 B', 1],
    ] as const)
      close(bruteOf(name), want, name);
    for (const name of [
      'kerberos logons: 10 refusals and 10 tickets (share 0.5)',
      'kerberos: 12 unanswered requests',
      'kerberos over tcp: 12 answers of 513 B',
      'kerberos: 12 small answers over icmp are not exchanges',
    ])
      close(bruteOf(name), bruteOf(name, 'v4'), name);
    const raised = golden.cases.filter(
      (c) => c.expected.v5.brute_force >= 0.8 && c.expected.v4.brute_force < 0.8,
    );
    assert.deepEqual(
      raised.map((c) => c.name),
      [
        'kerberos spray: 13 refusals and 1 ticket',
        'kerberos: 10 refusals, no ticket (0.8)',
        'kerberos: 12 refusals and 4 tickets (share 0.75)',
        'kerberos over tcp: 12 refusals of 512 B',
      ],
    );
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
  answered: 0.6,
  protocols: [6, 6, 6, 17, 0],
  srcPort: (i, pick) => pick([47000 + i, 50000 + i]),
  dstPort: (_sport, pick) => pick([443, 443, 443, 80, 22, 8443, 88, 88]),
  minPkts: 1,
  pktsSpan: 12,
  distinctSrcs: [0, 1],
  distinctProbeSrcs: [0, 8],
};

describe('subscores.v5 against v4', () => {
  it("keeps v4's scores but scan (silent = no packet back) and brute force (443 weighs as any port)", () => {
    const r = rng(15);
    let lowered = 0;
    let quieter = 0;
    const batch = new SequenceBatch();
    const out = new Float64Array(SUB_SCORE_COUNT * 2);
    for (let t = 0; t < 3000; t++) {
      const drawn = randomSequence(r, V5_SHAPE);
      // Some answers carry packets but no payload bytes (a SYN-ACK or RST as a payload counter records
      // it), and some flows come from sampled packets.
      const s = {
        ...drawn,
        flows: drawn.flows.map((f, i) =>
          i % 3 === 0 && f.bwd_pkts > 0
            ? { ...f, bwd_bytes: 0 }
            : i % 4 === 1
              ? { ...f, sampling_rate: [1, 2, 1000][i % 3] as number }
              : f,
        ),
      };
      const v4 = subScores(s, 'v4');
      const v5 = subScores(s, 'v5');
      assert.deepEqual({ ...v5, brute_force: 0, scan: 0 }, { ...v4, brute_force: 0, scan: 0 });
      close(v5.scan, subScores(silenceAsBytes(s), 'v4').scan, 'scan');
      close(v5.brute_force, bruteByV4(s), 'brute_force');
      if (v5.scan < v4.scan) quieter++;
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
    assert.ok(quieter > 100, `${quieter} quieter`);
  });
});
