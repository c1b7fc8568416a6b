import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequenceBatch } from '@tidewatch/contracts';
import { seededRandom as rng } from '@tidewatch/testing';
import {
  SUB_SCORE_COUNT,
  SUB_SCORES_V7_HASH,
  type SubScores,
  subScores,
  subScoresInto,
} from '../src/index.ts';
import { close, FIVE, readGolden } from './golden-sub-scores.ts';
import { randomSequence } from './random-sequence.ts';

// subscores.v7 (spec/subscores.v7.json): v6 with ICMP error messages left out of scan. Golden vectors written
// by model/golden_features.py, which the Python suite checks too (model/tests/test_sub_scores_v7.py).

const golden = readGolden<{ v6: SubScores; v7: SubScores }>('golden.subscores.v7.json');

describe('subscores.v7: ICMP errors are no scan evidence', () => {
  it('were generated from this exact spec file', () => {
    assert.equal(golden.sub_score_spec_hash, SUB_SCORES_V7_HASH);
    assert.equal(golden.cases.length, 165);
  });
  for (const c of golden.cases) {
    it(`v6 and v7 match: ${c.name}`, () => {
      for (const version of ['v6', 'v7'] as const) {
        const got = subScores(c.sequence, version);
        for (const k of FIVE) close(got[k], c.expected[version][k], `${version} ${k}`);
      }
    });
  }

  it('lower only the scan of sequences whose ICMP flows are errors', () => {
    const changed = golden.cases.filter((c) => FIVE.some((k) => c.expected.v6[k] !== c.expected.v7[k]));
    assert.deepEqual(
      changed.map((c) => c.name),
      [
        'netflow: port unreachable to a host, fan-out 40',
        'netflow: time exceeded to a host, fan-out 30',
        'netflow: two unreachables and a redirect, fan-out 40',
        'zeek: port unreachable (type 3 as src_port, code 3), fan-out 40',
        'zeek: time exceeded (type 11, code 0), fan-out 30',
        'icmpv6 netflow: unreachable and packet too big, fan-out 40',
      ],
    );
    for (const c of changed) {
      assert.equal(c.expected.v6.scan, 1);
      assert.equal(c.expected.v7.scan, 0);
      for (const k of FIVE) if (k !== 'scan') assert.equal(c.expected.v7[k], c.expected.v6[k]);
    }
  });

  it('scores a batch as it scores each sequence alone, and equals v6 where no flow is an ICMP error', () => {
    const random = rng(17);
    // ICMP and ICMPv6 with types in either encoding (NetFlow's destination port, Zeek's source port), UDP and TCP.
    const shape = {
      maxFlows: 20,
      answered: 0.3,
      protocols: [1, 58, 17, 6],
      srcPort: (_i: number, pick: <T>(xs: readonly T[]) => T) => pick([0, 3, 8, 11, 1, 40_000]),
      dstPort: (_sp: number, pick: <T>(xs: readonly T[]) => T) => pick([0, 3, 771, 2816, 2048, 513, 53, 443]),
      minPkts: 0,
      distinctSrcs: [1, 40],
      distinctProbeSrcs: [0, 12],
    };
    const seqs = Array.from({ length: 2_000 }, () => {
      const s = randomSequence(random, shape);
      s.context = { ...s.context, distinct_dsts: 1 + Math.floor(random() * 60) };
      return s;
    });
    const batch = new SequenceBatch();
    for (const s of seqs) batch.push(s);
    const out = new Float64Array(seqs.length * SUB_SCORE_COUNT);
    for (let i = 0; i < seqs.length; i++) subScoresInto(batch, i, out, i * SUB_SCORE_COUNT, 'v7');
    let withErrors = 0;
    for (const [i, s] of seqs.entries()) {
      const alone = subScores(s, 'v7');
      for (const [j, k] of FIVE.entries())
        close(out[i * SUB_SCORE_COUNT + j] as number, alone[k], `${i} ${k}`);
      const errors = s.flows.some(
        (f) =>
          (f.protocol === 1 &&
            [3, 4, 5, 11, 12].includes(f.dst_port >= 256 ? f.dst_port >> 8 : f.src_port)) ||
          (f.protocol === 58 && [1, 2, 3, 4].includes(f.dst_port >= 256 ? f.dst_port >> 8 : f.src_port)),
      );
      if (errors) withErrors++;
      else assert.deepEqual(alone, subScores(s, 'v6'), `${i}`);
    }
    assert.ok(withErrors > 100 && withErrors < seqs.length, `${withErrors}`);
  });
});
