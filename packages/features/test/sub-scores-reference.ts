// Test-only reference: packages/features/src/sub-scores.ts as of c5fc126 (arrays, sorts with a comparator,
// iterators and a Map), kept to prove the scratch-buffer implementation returns bit-identical scores.
import type { Sequence } from '@tidewatch/contracts';
import { SUB_SCORE_CONSTANTS } from '../src/spec.ts';

/** Explainable baseline scores in [0,1] (RITA beacon, Slips scan / brute force / exfiltration). */
interface SubScores {
  beacon: number;
  scan: number;
  brute_force: number;
  exfiltration: number;
}

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const ramp = (x: number, a: number, b: number): number => clamp01((x - a) / (b - a));

/** Linear-interpolated quantile of an ascending-sorted, non-empty array. */
function quantile(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  const vlo = sorted[lo] ?? 0;
  return vlo + (h - lo) * ((sorted[hi] ?? 0) - vlo);
}

const ascending = (a: number, b: number): number => a - b;

/** Sorts and then overwrites `values` (the caller's scratch array). */
function dispersion(values: number[]): { skew: number; madm: number; median: number } {
  const v = values.sort(ascending);
  const q1 = quantile(v, 0.25);
  const q2 = quantile(v, 0.5);
  const q3 = quantile(v, 0.75);
  const bowley = q3 === q1 || q2 === q1 || q2 === q3 ? 0 : (q3 + q1 - 2 * q2) / (q3 - q1);
  for (let i = 0; i < v.length; i++) v[i] = Math.abs((v[i] as number) - q2);
  const mad = quantile(v.sort(ascending), 0.5);
  return { skew: 1 - Math.abs(bowley), madm: q2 > 0 ? clamp01(1 - mad / q2) : 0, median: q2 };
}

function beacon(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.beacon;
  const flows = seq.flows;
  const n = flows.length;
  if (n < c.min_flows) return 0;
  const intervals: number[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = flows[i];
    if (f === undefined) continue;
    sizes.push(f.fwd_bytes + f.bwd_bytes);
    const next = flows[i + 1];
    if (next !== undefined) intervals.push(next.start_ms - f.start_ms);
  }
  const ts = dispersion(intervals);
  const ds = dispersion(sizes);
  const tsScore = (ts.skew + ts.madm + clamp01(n / c.full_count)) / 3;
  const dsScore = (ds.skew + ds.madm + clamp01(1 - ds.median / c.small_bytes)) / 3;
  return clamp01((tsScore + dsScore) / 2);
}

function scan(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.scan;
  const n = seq.flows.length;
  if (n === 0) return 0;
  let silent = 0;
  for (const f of seq.flows) if (f.bwd_bytes === 0) silent++;
  const fan = Math.max(
    ramp(seq.context.distinct_dst_ports, c.min_ports, c.full_ports),
    ramp(seq.context.distinct_dsts, c.min_dsts, c.full_dsts),
  );
  return clamp01(fan * (silent / n));
}

const AUTH_PORTS: ReadonlySet<number> = new Set(SUB_SCORE_CONSTANTS.brute_force.auth_ports);

function bruteForce(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.brute_force;
  let m = 0;
  let port = 0;
  const only = seq.flows.length === 1 ? seq.flows[0] : undefined;
  if (only)
    return clamp01(
      ramp(1, c.min_attempts, c.full_attempts) * (AUTH_PORTS.has(only.dst_port) ? 1 : c.non_auth_weight),
    );
  const counts = new Map<number, number>();
  for (const f of seq.flows) counts.set(f.dst_port, (counts.get(f.dst_port) ?? 0) + 1);
  for (const [p, k] of counts) {
    if (k > m || (k === m && p < port)) {
      m = k;
      port = p;
    }
  }
  const auth = AUTH_PORTS.has(port) ? 1 : c.non_auth_weight;
  return clamp01(ramp(m, c.min_attempts, c.full_attempts) * auth);
}

function exfiltration(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.exfiltration;
  let up = 0;
  let down = 0;
  for (const f of seq.flows) {
    up += f.fwd_bytes;
    down += f.bwd_bytes;
  }
  const ratio = up + down > 0 ? up / (up + down) : 0;
  return clamp01(ramp(Math.log10(up + 1), c.min_log10_bytes, c.full_log10_bytes) * ramp(ratio, 0.5, 0.9));
}

export function referenceSubScores(seq: Sequence): SubScores {
  return {
    beacon: beacon(seq),
    scan: scan(seq),
    brute_force: bruteForce(seq),
    exfiltration: exfiltration(seq),
  };
}
