import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sequence, SubScores } from '@tidewatch/contracts';
import { FindingRows, findingOfRow } from '@tidewatch/vector-store';
import { addQuietRow, newFinding } from '../src/index.ts';

const MAX_PORTS = 16;

/** The previous formulation of the multi-flow facts (finding-builder.ts before scratch arrays): a Map, a Set and sorts. */
function reference(seq: Sequence) {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let fb = 0;
  let bb = 0;
  let fp = 0;
  let bp = 0;
  const ports = new Map<number, number>();
  const protos = new Set<number>();
  for (const f of seq.flows) {
    first = Math.min(first, f.start_ms);
    last = Math.max(last, f.end_ms);
    fb += f.fwd_bytes;
    bb += f.bwd_bytes;
    fp += f.fwd_pkts;
    bp += f.bwd_pkts;
    ports.set(f.dst_port, (ports.get(f.dst_port) ?? 0) + 1);
    protos.add(f.protocol);
  }
  if (!Number.isFinite(first)) first = seq.window_start_ms;
  if (!Number.isFinite(last)) last = seq.window_start_ms;
  const dstPorts = [...ports]
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, MAX_PORTS)
    .map(([p]) => p);
  const protocols = [...protos].sort((a, b) => a - b);
  return { first, last, fb, bb, fp, bp, dstPorts, protocols };
}

let x = 11;
// A linear congruential draw: only the mix of cases matters.
const rand = () => {
  x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  return x / 2 ** 32;
};

/** Sequences of 0 or 2–400 flows; ports and protocols from pools of varied size (ties, > 16 distinct, Avro int extremes). */
function randomSequence(i: number): Sequence {
  const u = rand();
  const n =
    u < 0.05
      ? 0
      : u < 0.7
        ? 2 + Math.floor(rand() * 10)
        : u < 0.95
          ? 12 + Math.floor(rand() * 60)
          : 65 + Math.floor(rand() * 340);
  const portPool = 1 + Math.floor(rand() * (rand() < 0.5 ? 8 : 200));
  const protoPool = [6, 17, 1, 0, 255, 2 ** 31 - 1, -(2 ** 31)];
  const flows: Sequence['flows'] = [];
  for (let k = 0; k < n; k++) {
    const start = 1_700_000_000_000 + Math.floor(rand() * 1e9) - (rand() < 0.05 ? 2e12 : 0);
    const port =
      rand() < 0.05
        ? [0, 65535, 2 ** 31 - 1, -(2 ** 31), -1][Math.floor(rand() * 5)]
        : Math.floor(rand() * portPool) * 7;
    flows.push({
      start_ms: start,
      end_ms: start + Math.floor(rand() * 1e6),
      protocol: protoPool[Math.floor(rand() * (rand() < 0.8 ? 3 : protoPool.length))] as number,
      src_port: 40000 + k,
      dst_port: port as number,
      fwd_bytes: Math.floor(rand() * 2 ** 40),
      fwd_pkts: Math.floor(rand() * 1e6),
      bwd_bytes: Math.floor(rand() * 2 ** 33),
      bwd_pkts: Math.floor(rand() * 1e3),
      tcp_flags: 0x1b,
      label: rand() < 0.5 ? null : rand() < 0.5 ? 0 : 1,
      attack: null,
      origin: '',
    });
  }
  return {
    sequence_id: `s${i}`,
    src_ip: '10.0.0.1',
    dst_ip: '10.0.0.2',
    window_start_ms: 1_700_000_000_000 + i,
    window_end_ms: 1_700_000_060_000 + i,
    part: 0,
    flows,
    context: { distinct_dsts: 1, distinct_dst_ports: 1, connections: n },
  };
}

const SUB: SubScores = { beacon: 0, scan: 0, brute_force: 0, exfiltration: 0, reflection: 0 };

describe('multi-flow sequence facts in scratch arrays', () => {
  it('equal the Map/Set formulation in newFinding and in quiet rows, on 5,000 random sequences', () => {
    let manyPorts = 0;
    let large = 0;
    const rows = new FindingRows(5000, 1, 'm', 1);
    for (let i = 0; i < 5000; i++) {
      const seq = randomSequence(i);
      const want = reference(seq);
      if (want.dstPorts.length === MAX_PORTS) manyPorts++;
      if (seq.flows.length > 64) large++;
      const f = newFinding(seq, {
        score: 0,
        anomaly: 0,
        verdict: 'benign',
        tactics: [],
        techniques: [],
        severity: 'info',
        model_version: 'm',
        subscores: SUB,
        scored_at_ms: 1,
      });
      const got = {
        first: f.first_seen_ms,
        last: f.last_seen_ms,
        fb: f.fwd_bytes,
        bb: f.bwd_bytes,
        fp: f.fwd_pkts,
        bp: f.bwd_pkts,
        dstPorts: f.dst_ports,
        protocols: f.protocols,
      };
      assert.deepStrictEqual(got, want, `sequence ${i} (${seq.flows.length} flows), newFinding`);
      const r = addQuietRow(rows, seq);
      const q = findingOfRow(rows, r);
      assert.deepStrictEqual(
        {
          first: q.first_seen_ms,
          last: q.last_seen_ms,
          fb: q.fwd_bytes,
          bb: q.bwd_bytes,
          fp: q.fwd_pkts,
          bp: q.bwd_pkts,
          dstPorts: q.dst_ports,
          protocols: q.protocols,
        },
        want,
        `sequence ${i}, quiet row`,
      );
    }
    assert.ok(manyPorts > 200 && large > 100, `${manyPorts} with ${MAX_PORTS} ports, ${large} over 64 flows`);
  });
});
