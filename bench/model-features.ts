// Throughput of @tidewatch/features (sequenceFeatures + subScores) on the model benchmark sequences, beside
// a baseline measured in the same run: JSON round-trip of the same sequences (a per-message cost every
// consumer pays anyway). Run: node --import tsx bench/model-features.ts [count]
import { sequenceFeatures, subScores } from '@tidewatch/features';
import { modelBenchSequences } from './model-inputs.ts';

const count = Number(process.argv[2] ?? 20_000);
const seqs = modelBenchSequences(count, 7);
/** The bench sequences with each one's flows made records of one answered TCP port pair. */
const sessions = seqs.map((s) => ({
  ...s,
  flows: s.flows.map((f) => ({
    ...f,
    protocol: 6,
    src_port: 51_514,
    dst_port: 5432,
    bwd_pkts: f.bwd_pkts || 1,
  })),
}));

function measure(name: string, fn: () => number): { name: string; wall: number; cpu: number } {
  fn();
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    if (fn() < 0) throw new Error('unreachable');
    walls.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  return { name, wall: count / median(walls), cpu: count / median(cpus) };
}

const rows = [
  measure('JSON round-trip (baseline)', () => {
    let n = 0;
    for (const s of seqs) n += (JSON.parse(JSON.stringify(s)) as { flows: unknown[] }).flows.length;
    return n;
  }),
  measure('sequenceFeatures', () => {
    let n = 0;
    for (const s of seqs) n += sequenceFeatures(s).length;
    return n;
  }),
  measure('subScores', () => {
    let n = 0;
    for (const s of seqs) n += subScores(s).scan;
    return n;
  }),
  // The service's versions: v4, v5 (silence from packets and sampling, Kerberos), v6 (v5 over
  // connections; the bench sequences rarely repeat an answered TCP port pair) and v7 (the default: v6
  // with ICMP errors left out of scan, one type test per flow).
  ...(['v4', 'v5', 'v6', 'v7'] as const).map((v) =>
    measure(`subScores ${v}`, () => {
      let n = 0;
      for (const s of seqs) n += subScores(s, v).brute_force;
      return n;
    }),
  ),
  // v6's worst common case: every sequence one session split into records (each merged anew).
  ...(['v5', 'v6'] as const).map((v) =>
    measure(`subScores ${v}, split sessions`, () => {
      let n = 0;
      for (const s of sessions) n += subScores(s, v).brute_force;
      return n;
    }),
  ),
];
const base = rows[0]?.cpu ?? 1;
console.log(`${count} sequences, load average ${(await import('node:os')).loadavg()[0]?.toFixed(1)}`);
for (const r of rows) {
  console.log(
    `${r.name.padEnd(28)} ${r.wall.toFixed(0).padStart(9)} seq/s wall ${r.cpu.toFixed(0).padStart(9)} seq/CPU-s  ${(r.cpu / base).toFixed(2)}x baseline`,
  );
}
