import type { Sequence, SequenceFlow as Flow } from '@tidewatch/contracts';
import { SUB_SCORE_CONSTANTS } from './spec.ts';
import { sortPrefix } from './sort-prefix.ts';

/** Explainable baseline scores in [0,1] (RITA beacon, Slips scan / brute force / exfiltration). */
export interface SubScores {
  beacon: number;
  scan: number;
  brute_force: number;
  exfiltration: number;
}

// Allocation-free on the hot path: index loops instead of iterators, module-level typed-array scratch
// instead of per-sequence arrays and Maps. Results are bit-identical to the array/Map formulation kept in
// test/sub-scores-reference.ts (test/sub-scores-equivalence.test.ts compares them on random sequences).

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const ramp = (x: number, a: number, b: number): number => clamp01((x - a) / (b - a));

/**
 * Linear-interpolated quantile of the ascending-sorted first `n` values of `sorted` (0 when n is 0,
 * as the array formulation's `?? 0` gives for an empty array).
 */
function quantile(sorted: Float64Array, n: number, q: number): number {
  if (n === 0) return 0;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  const vlo = sorted[lo] as number;
  return vlo + (h - lo) * ((sorted[hi] as number) - vlo);
}

let dSkew = 0;
let dMadm = 0;
let dMedian = 0;

const ascending = (a: number, b: number): number => a - b;

/**
 * Non-finite values: the array formulation exactly (a comparator sort's order with NaN depends on the
 * sort algorithm, so it is kept rather than reasoned about). Rare; allocates.
 */
function dispersionArray(v: number[]): void {
  v.sort(ascending);
  const q = (sorted: readonly number[], p: number): number => {
    const h = (sorted.length - 1) * p;
    const lo = Math.floor(h);
    const hi = Math.min(sorted.length - 1, lo + 1);
    const vlo = sorted[lo] ?? 0;
    return vlo + (h - lo) * ((sorted[hi] ?? 0) - vlo);
  };
  const q1 = q(v, 0.25);
  const q2 = q(v, 0.5);
  const q3 = q(v, 0.75);
  const bowley = q3 === q1 || q2 === q1 || q2 === q3 ? 0 : (q3 + q1 - 2 * q2) / (q3 - q1);
  for (let i = 0; i < v.length; i++) v[i] = Math.abs((v[i] as number) - q2);
  const mad = q(v.sort(ascending), 0.5);
  dSkew = 1 - Math.abs(bowley);
  dMadm = q2 > 0 ? clamp01(1 - mad / q2) : 0;
  dMedian = q2;
}

/** Dispersion of the first `n` values of `v` (overwritten) into dSkew / dMadm / dMedian. */
function dispersion(v: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(v[i] as number)) {
      dispersionArray(Array.from(v.subarray(0, n)));
      return;
    }
  }
  // Only finite values: their sorted order is unique up to -0 / +0, which no quantile can observe
  // (both come out as +0, and the median only enters through |v - q2|, q2 > 0 and a division).
  sortPrefix(v, n);
  const q1 = quantile(v, n, 0.25);
  const q2 = quantile(v, n, 0.5);
  const q3 = quantile(v, n, 0.75);
  const bowley = q3 === q1 || q2 === q1 || q2 === q3 ? 0 : (q3 + q1 - 2 * q2) / (q3 - q1);
  for (let i = 0; i < n; i++) v[i] = Math.abs((v[i] as number) - q2);
  sortPrefix(v, n);
  const mad = quantile(v, n, 0.5);
  dSkew = 1 - Math.abs(bowley);
  dMadm = q2 > 0 ? clamp01(1 - mad / q2) : 0;
  dMedian = q2;
}

let intervals = new Float64Array(64);
let sizes = new Float64Array(64);

function beacon(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.beacon;
  const flows = seq.flows;
  const n = flows.length;
  if (n < c.min_flows) return 0;
  if (sizes.length < n) {
    let cap = sizes.length;
    while (cap < n) cap *= 2;
    intervals = new Float64Array(cap);
    sizes = new Float64Array(cap);
  }
  let ni = 0;
  let ns = 0;
  for (let i = 0; i < n; i++) {
    const f = flows[i];
    if (f === undefined) continue;
    sizes[ns++] = f.fwd_bytes + f.bwd_bytes;
    const next = flows[i + 1];
    if (next !== undefined) intervals[ni++] = next.start_ms - f.start_ms;
  }
  dispersion(intervals, ni);
  const tsScore = (dSkew + dMadm + clamp01(n / c.full_count)) / 3;
  dispersion(sizes, ns);
  const dsScore = (dSkew + dMadm + clamp01(1 - dMedian / c.small_bytes)) / 3;
  return clamp01((tsScore + dsScore) / 2);
}

function scan(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.scan;
  const flows = seq.flows;
  const n = flows.length;
  if (n === 0) return 0;
  let silent = 0;
  for (let i = 0; i < n; i++) if ((flows[i] as Flow).bwd_bytes === 0) silent++;
  const fan = Math.max(
    ramp(seq.context.distinct_dst_ports, c.min_ports, c.full_ports),
    ramp(seq.context.distinct_dsts, c.min_dsts, c.full_dsts),
  );
  return clamp01(fan * (silent / n));
}

const AUTH_PORTS: ReadonlySet<number> = new Set(SUB_SCORE_CONSTANTS.brute_force.auth_ports);

/** Per-port attempt counts, all zero between calls. */
const portCounts = new Uint32Array(65536);

const isPortIndex = (p: number): boolean => p >>> 0 === p && p < 65536;

/** The most attempted port (ties: the lowest) and its count, as the Map formulation finds them. */
function topPortMap(flows: readonly Flow[]): [number, number] {
  let m = 0;
  let port = 0;
  const counts = new Map<number, number>();
  for (const f of flows) counts.set(f.dst_port, (counts.get(f.dst_port) ?? 0) + 1);
  for (const [p, k] of counts) {
    if (k > m || (k === m && p < port)) {
      m = k;
      port = p;
    }
  }
  return [m, port];
}

function bruteForce(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.brute_force;
  const flows = seq.flows;
  const n = flows.length;
  if (n === 1) {
    const only = flows[0] as Flow;
    return clamp01(
      ramp(1, c.min_attempts, c.full_attempts) * (AUTH_PORTS.has(only.dst_port) ? 1 : c.non_auth_weight),
    );
  }
  let m = 0;
  let port = 0;
  let indexable = true;
  for (let i = 0; i < n; i++) {
    if (!isPortIndex((flows[i] as Flow).dst_port)) {
      indexable = false;
      break;
    }
  }
  if (indexable) {
    for (let i = 0; i < n; i++) {
      const p = (flows[i] as Flow).dst_port;
      portCounts[p] = (portCounts[p] as number) + 1;
    }
    // Visiting a port again with its final count changes nothing, so this is the Map's distinct-key pass.
    for (let i = 0; i < n; i++) {
      const p = (flows[i] as Flow).dst_port;
      const k = portCounts[p] as number;
      if (k > m || (k === m && p < port)) {
        m = k;
        port = p;
      }
    }
    for (let i = 0; i < n; i++) portCounts[(flows[i] as Flow).dst_port] = 0;
  } else {
    [m, port] = topPortMap(flows);
  }
  const auth = AUTH_PORTS.has(port) ? 1 : c.non_auth_weight;
  return clamp01(ramp(m, c.min_attempts, c.full_attempts) * auth);
}

function exfiltration(seq: Sequence): number {
  const c = SUB_SCORE_CONSTANTS.exfiltration;
  const flows = seq.flows;
  let up = 0;
  let down = 0;
  for (let i = 0; i < flows.length; i++) {
    const f = flows[i] as Flow;
    up += f.fwd_bytes;
    down += f.bwd_bytes;
  }
  const ratio = up + down > 0 ? up / (up + down) : 0;
  return clamp01(ramp(Math.log10(up + 1), c.min_log10_bytes, c.full_log10_bytes) * ramp(ratio, 0.5, 0.9));
}

export function subScores(seq: Sequence): SubScores {
  return {
    beacon: beacon(seq),
    scan: scan(seq),
    brute_force: bruteForce(seq),
    exfiltration: exfiltration(seq),
  };
}
