import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sequence, SequenceFlow } from '@tidewatch/contracts';
import { SequenceBatch } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import {
  connectionView,
  credentialGuessingAt,
  inboundScanAt,
  SUB_SCORE_COUNT,
  SUB_SCORES_V6_HASH,
  type SubScores,
  subScores,
  subScoresInto,
} from '../src/index.ts';
import { close, FIVE, readGolden } from './golden-sub-scores.ts';
import { randomSequence } from './random-sequence.ts';

// subscores.v6 (spec/subscores.v6.json): v5 over the sequence's connections. Golden vectors written by
// model/golden_features.py, which the Python suite checks too (model/tests/test_sub_scores_v6.py).

const golden = readGolden<{ v5: SubScores; v6: SubScores }>('golden.subscores.v6.json');
const caseOf = (name: string) => {
  const c = golden.cases.find((x) => x.name === name);
  assert.ok(c, name);
  return c;
};

/** The spec's connections, written out plainly (an independent formulation of connectionView). */
function mergedAsSpecSays(input: Sequence): Sequence {
  const GAP = 1000;
  // Bytes without packets read one packet.
  const s = {
    ...input,
    flows: input.flows.map((f) => ({
      ...f,
      fwd_pkts: f.fwd_pkts === 0 && f.fwd_bytes > 0 ? 1 : f.fwd_pkts,
      bwd_pkts: f.bwd_pkts === 0 && f.bwd_bytes > 0 ? 1 : f.bwd_pkts,
    })),
  };
  const keyOf = (f: SequenceFlow) => `${f.protocol}/${f.src_port}/${f.dst_port}`;
  const tcpLike = (f: SequenceFlow) => f.protocol === 6 || f.protocol === 0;
  const answered = new Set(s.flows.filter((f) => tcpLike(f) && f.bwd_pkts > 0).map(keyOf));
  // Each connection as the list of its records.
  const groups: SequenceFlow[][] = [];
  const open = new Map<string, { records: SequenceFlow[]; end: number }>();
  const byStart = [...s.flows].sort((a, b) => a.start_ms - b.start_ms || a.end_ms - b.end_ms);
  for (const f of byStart) {
    const c = open.get(keyOf(f));
    if (c && (tcpLike(f) ? answered.has(keyOf(f)) : f.start_ms - c.end <= GAP)) {
      c.records.push(f);
      c.end = Math.max(c.end, f.end_ms);
      continue;
    }
    const fresh = { records: [f], end: f.end_ms };
    open.set(keyOf(f), fresh);
    groups.push(fresh.records);
  }
  const out = groups.map((g): SequenceFlow => {
    const sum = (k: 'fwd_bytes' | 'fwd_pkts' | 'bwd_bytes' | 'bwd_pkts') => g.reduce((a, f) => a + f[k], 0);
    return {
      ...(g[0] as SequenceFlow),
      start_ms: Math.min(...g.map((f) => f.start_ms)),
      end_ms: Math.max(...g.map((f) => f.end_ms)),
      fwd_bytes: sum('fwd_bytes'),
      fwd_pkts: sum('fwd_pkts'),
      bwd_bytes: sum('bwd_bytes'),
      bwd_pkts: sum('bwd_pkts'),
      tcp_flags: g.reduce((a, f) => a | f.tcp_flags, 0),
      sampling_rate: Math.max(...g.map((f) => f.sampling_rate ?? 1)),
    };
  });
  const key = (f: SequenceFlow) => [
    f.start_ms,
    f.end_ms,
    f.protocol,
    f.src_port,
    f.dst_port,
    f.fwd_bytes,
    f.bwd_bytes,
    f.fwd_pkts,
    f.bwd_pkts,
    f.tcp_flags,
  ];
  out.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
    return 0;
  });
  return { ...s, flows: out };
}

describe('subscores.v6 golden vectors', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V6_HASH);
    assert.equal(golden.cases.length, 154);
  });
  for (const c of golden.cases) {
    it(`v5 and v6 match: ${c.name}`, () => {
      for (const version of ['v5', 'v6'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FIVE) close(got[k], c.expected[version][k], `${version} ${k}`);
      }
    });
  }

  it('lower only what a connection exported as several records raised', () => {
    const changed = golden.cases.filter((c) => FIVE.some((k) => c.expected.v5[k] !== c.expected.v6[k]));
    assert.deepEqual(
      changed.map((c) => c.name),
      [
        // v1's cases hold a DNS flow with 50 bytes back and no packet count: answered under v6.
        'every port bucket once',
        'every port bucket once, responder fan-in 4000',
        'every port bucket once, probing fan-in 8',
        'ssh session, a record every 60 s',
        'ssh session, a record every 30 s',
        'postgresql session, a record every 30 s',
        'https session, a record every 30 s',
        'ssh guessing: 12 attempts, each exported as 2 records',
        'protocol 0: an answered connection and its unanswered tail, fan-out 30 hosts',
        'wireguard stream, a record every 30 s (records 100 ms apart)',
        'openvpn stream, a record every 30 s, one 2 s pause (records 100 ms and 2 s apart)',
        'icmp echo stream cut every 30 s (type 8 in the port)',
        'nsel teardown: bytes both ways, no packet counts, fan-out 30 hosts, probing fan-in 12',
        'nsel create (no counters) and teardown (bytes only) of one connection, fan-out 30 hosts',
      ],
    );
    // A raw-socket scanner sends every probe from one source port: never answered, so still probes.
    const scanner =
      'raw-socket scanner: 7 unanswered SYNs to port 23 from one source port, probing fan-in 12';
    assert.equal(caseOf(scanner).expected.v6.scan, 1);
    // NSEL counts bytes, not packets: an answered teardown is no silent look; a deny still is.
    for (const name of [
      'nsel teardown: bytes both ways, no packet counts, fan-out 30 hosts, probing fan-in 12',
      'nsel create (no counters) and teardown (bytes only) of one connection, fan-out 30 hosts',
    ])
      assert.equal(caseOf(name).expected.v6.scan, 0, name);
    assert.equal(
      caseOf('nsel deny: no counters, fan-out 30 ports (still a silent look)').expected.v6.scan,
      1,
    );
    // UDP and ICMP records merge only where they tile (an exporter's cut), at most a second apart.
    const edge = caseOf('udp records exactly 1000 ms apart continue, 1001 ms do not').sequence;
    const batch = new SequenceBatch();
    batch.push(edge);
    assert.equal(connectionView(batch, 0)?.flowsOf(0), 2);
    const vpn = caseOf(
      'openvpn stream, a record every 30 s, one 2 s pause (records 100 ms and 2 s apart)',
    ).sequence;
    batch.push(vpn);
    assert.equal(connectionView(batch, 1)?.flowsOf(0), 2);
    // An idle session's records were 5 or 10 "login attempts" and a perfect rhythm; it is one connection.
    assert.equal(caseOf('ssh session, a record every 60 s').expected.v5.brute_force, 0.8);
    assert.equal(caseOf('ssh session, a record every 30 s').expected.v5.brute_force, 1);
    assert.ok(caseOf('ssh session, a record every 30 s').expected.v5.beacon > 0.9);
    for (const name of [
      'ssh session, a record every 60 s',
      'ssh session, a record every 30 s',
      'postgresql session, a record every 30 s',
      'https session, a record every 30 s',
    ]) {
      const v6 = caseOf(name).expected.v6;
      for (const k of FIVE) assert.equal(v6[k], 0, `${name} ${k}`);
    }
    // Guessing opens a connection per attempt: still brute force, re-exported records or not.
    assert.equal(caseOf('ssh guessing: 12 attempts, a connection each').expected.v6.brute_force, 1);
    assert.equal(caseOf('ssh guessing: 12 attempts, each exported as 2 records').expected.v6.brute_force, 1);
    // A tail of an answered connection is not a silent look; UDP exchanges stay separate.
    assert.equal(
      caseOf('protocol 0: an answered connection and its unanswered tail, fan-out 30 hosts').expected.v6.scan,
      0,
    );
    assert.ok(caseOf('ntp 123 -> 123, 10 polls (udp: not merged)').expected.v6.beacon > 0.9);
    assert.equal(caseOf('unanswered SYN re-exported with its retry, fan-out 30 ports').expected.v6.scan, 1);
  });
});

describe('subscores.v6 connections', () => {
  const shape = {
    maxFlows: 40,
    answered: 0.5,
    protocols: [6, 0, 17, 1],
    // Few source ports, so port pairs repeat often.
    srcPort: (_i: number, pick: <T>(xs: readonly T[]) => T) => pick([50000, 50001, 50002, 123, 5353]),
    dstPort: (_sp: number, pick: <T>(xs: readonly T[]) => T) => pick([22, 53, 88, 443, 3389]),
    minPkts: 0,
    distinctSrcs: [1, 5, 40],
    distinctProbeSrcs: [0, 3, 12],
  };

  it('equal v5 over the spec’s merged flows on 2,000 random sequences, alone and in a batch', () => {
    const r = rng(66);
    const batch = new SequenceBatch();
    const seqs: Sequence[] = [];
    for (let t = 0; t < 2000; t++) {
      const s = randomSequence(r, shape);
      // Records of 0-20 s, so some port pairs tile within a second and most do not.
      for (const f of s.flows) f.end_ms = f.start_ms + Math.floor(r() * 20_000);
      s.flows.sort((a, b) => a.start_ms - b.start_ms || a.end_ms - b.end_ms);
      s.context = { ...s.context, distinct_dsts: 1 + (t % 40), distinct_dst_ports: 1 + (t % 30) };
      seqs.push(s);
      batch.push(s);
    }
    const out = new Float64Array(seqs.length * SUB_SCORE_COUNT);
    for (let i = 0; i < seqs.length; i++) subScoresInto(batch, i, out, i * SUB_SCORE_COUNT, 'v6');
    let merged = 0;
    for (let i = 0; i < seqs.length; i++) {
      const s = seqs[i] as Sequence;
      const want = subScores(mergedAsSpecSays(s), 'v5');
      const alone = subScores(s, 'v6');
      FIVE.forEach((k, j) => {
        close(alone[k], want[k], `${i} ${k}`);
        close(out[i * SUB_SCORE_COUNT + j] as number, want[k], `${i} ${k} (batch)`);
      });
      const view = connectionView(batch, i);
      if (view === null) assert.equal(mergedAsSpecSays(s).flows.length, s.flows.length, `${i}`);
      else {
        merged++;
        assert.equal(view.flowsOf(0), mergedAsSpecSays(s).flows.length, `${i}`);
      }
    }
    assert.ok(merged > 500, `${merged} sequences had an answered repeated port pair`);
  });

  it('name no tactic for a long-lived session: the credential and inbound terms read connections', () => {
    const ssh = caseOf('ssh session, a record every 30 s').sequence;
    const batch = new SequenceBatch();
    batch.push(ssh);
    assert.ok(credentialGuessingAt(batch, 0, 'v5') >= 0.8);
    assert.equal(credentialGuessingAt(batch, 0, 'v6'), 0);
    // Unanswered looks from one source port stay looks (a raw-socket scanner's probes); once one of
    // them is answered they are one connection (a client's records), of 10 packets: no probe.
    const probes = (answered: boolean): Sequence => ({
      ...ssh,
      // One packet each, 30 s apart: nothing tiles.
      flows: ssh.flows.map((f, k) => ({
        ...f,
        end_ms: f.start_ms,
        fwd_pkts: 1,
        bwd_pkts: answered && k === 0 ? 1 : 0,
        bwd_bytes: answered && k === 0 ? 40 : 0,
        dst_port: 23,
      })),
      context: { ...ssh.context, distinct_probe_srcs: 12 },
    });
    batch.push(probes(false));
    batch.push(probes(true));
    assert.equal(connectionView(batch, 1), null);
    assert.equal(inboundScanAt(batch, 1, 'v5'), 1);
    assert.equal(inboundScanAt(batch, 1, 'v6'), 1);
    assert.equal(connectionView(batch, 2)?.flowsOf(0), 1);
    assert.equal(inboundScanAt(batch, 2, 'v5'), 0.9);
    assert.equal(inboundScanAt(batch, 2, 'v6'), 0);
  });
});
