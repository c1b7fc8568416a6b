import { readFileSync } from 'node:fs';
import type { Sequence, SequenceFlow } from '@tidewatch/contracts';
import { seededRandom } from '@tidewatch/testing';

/**
 * Deterministic benchmark sequences whose lengths follow the labelled captures (bench/model-lengths.json).
 * model/bench_inputs.py generates the very same sequences (same PRNG, same draws) for the PyTorch side.
 */
const lengths = JSON.parse(readFileSync(new URL('./model-lengths.json', import.meta.url), 'utf8')) as {
  histogram: Record<string, number>;
};

const LENGTHS = Object.entries(lengths.histogram).map(([k, v]) => [Number(k), v] as const);
const TOTAL = LENGTHS.reduce((s, [, v]) => s + v, 0);
const PROTOCOLS = [6, 6, 6, 17, 17, 1];
const PORTS = [443, 80, 53, 22, 445, 3389, 8080, 123, 0];

function drawLength(r: number): number {
  let acc = 0;
  for (const [len, count] of LENGTHS) {
    acc += count;
    if (r * TOTAL < acc) return len;
  }
  return 1;
}

const pick = <T>(xs: readonly T[], r: number): T => xs[Math.floor(r * xs.length)] as T;

export function modelBenchSequences(count: number, seed = 42): Sequence[] {
  const rand = seededRandom(seed);
  const out: Sequence[] = [];
  for (let s = 0; s < count; s++) {
    const len = drawLength(rand());
    let t = 1_700_000_000_000 + Math.floor(rand() * 300_000);
    const flows: SequenceFlow[] = [];
    for (let i = 0; i < len; i++) {
      t += Math.floor(rand() * 5_000);
      const port = pick(PORTS, rand());
      flows.push({
        start_ms: t,
        end_ms: t + Math.floor(rand() * 5_000),
        protocol: pick(PROTOCOLS, rand()),
        src_port: 1024 + Math.floor(rand() * 64_000),
        dst_port: port === 0 ? 1024 + Math.floor(rand() * 64_000) : port,
        fwd_bytes: Math.floor(Math.exp(rand() * 12)),
        fwd_pkts: 1 + Math.floor(rand() * 50),
        bwd_bytes: Math.floor(Math.exp(rand() * 12)),
        bwd_pkts: Math.floor(rand() * 50),
        tcp_flags: Math.floor(rand() * 64),
        label: null,
        attack: null,
        origin: 'bench',
      });
    }
    out.push({
      sequence_id: `bench-${s}`,
      src_ip: '192.0.2.1',
      dst_ip: '198.51.100.1',
      window_start_ms: 1_700_000_000_000,
      window_end_ms: 1_700_000_300_000,
      part: 0,
      flows,
      context: {
        distinct_dsts: 1 + Math.floor(rand() * 50),
        distinct_dst_ports: 1 + Math.floor(rand() * 50),
        connections: len + Math.floor(rand() * 100),
      },
    });
  }
  return out;
}
