import {
  compareSequenceFlows,
  isProbeFlow,
  type Sequence,
  SequenceBatch,
  type SequenceFlow,
} from '@tidewatch/contracts';
import {
  SUB_SCORE_CONSTANTS,
  SUB_SCORE_V2_CONSTANTS,
  SUB_SCORE_V3_CONSTANTS,
  SUB_SCORE_V4_CONSTANTS,
  SUB_SCORE_V5_CONSTANTS,
  SUB_SCORE_V6_CONSTANTS,
  SUB_SCORE_V7_CONSTANTS,
} from './spec.ts';
import { sortPrefix } from './sort-prefix.ts';

/**
 * Which sub-score formulas: features.v1 (a model's in-graph evidence, the golden vectors of
 * features.v1/v2), subscores.v2 (ICMP sweeps, repeated logins; every score >= v1's), subscores.v3
 * (v2's four plus reflection), subscores.v4 (v3 with an inbound-scan term in scan) or subscores.v5
 * (what the service flags and explains: v4 with silence read from the packets of unsampled flows,
 * brute force's connection count off 443, and a Kerberos refusal term in brute force) or
 * subscores.v6 (v5 over the sequence's connections, so a TCP connection exported as one record per
 * active timeout counts once; `connectionView`) or subscores.v7 (what the service flags and explains:
 * v6 with ICMP error messages left out of scan's ICMP term).
 */
export type SubScoreVersion = 'v1' | 'v2' | 'v3' | 'v4' | 'v5' | 'v6' | 'v7';

export const SUB_SCORE_VERSIONS: readonly SubScoreVersion[] = ['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7'];

/** Whether a version reads the sequence's connections (`connectionView`): subscores.v6 and later. */
const overConnections = (version: SubScoreVersion): boolean => version === 'v6' || version === 'v7';

/**
 * Explainable baseline scores in [0,1] (RITA beacon, Slips scan / brute force / exfiltration,
 * reflection: unsolicited amplification-port replies toward a responder of high fan-in). v1 and v2
 * have no reflection rule: it is 0 there. v4's and v5's scan include the inbound-scan term
 * (`inboundScanAt`).
 */
export interface SubScores {
  beacon: number;
  scan: number;
  brute_force: number;
  exfiltration: number;
  reflection: number;
}

/** How many sub-scores `subScoresInto` writes per sequence. */
export const SUB_SCORE_COUNT = 5;

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

// The sub-scores of sequence `s` of a SequenceBatch, its flows at [from, from + n) of the flow columns.

function beacon(b: SequenceBatch, from: number, n: number): number {
  const c = SUB_SCORE_CONSTANTS.beacon;
  if (n < c.min_flows) return 0;
  if (sizes.length < n) {
    let cap = sizes.length;
    while (cap < n) cap *= 2;
    intervals = new Float64Array(cap);
    sizes = new Float64Array(cap);
  }
  const { fwdBytes, bwdBytes, startMs } = b;
  let ni = 0;
  let ns = 0;
  for (let i = 0; i < n; i++) {
    const j = from + i;
    sizes[ns++] = (fwdBytes[j] as number) + (bwdBytes[j] as number);
    if (i + 1 < n) intervals[ni++] = (startMs[j + 1] as number) - (startMs[j] as number);
  }
  dispersion(intervals, ni);
  const tsScore = (dSkew + dMadm + clamp01(n / c.full_count)) / 3;
  dispersion(sizes, ns);
  const dsScore = (dSkew + dMadm + clamp01(1 - dMedian / c.small_bytes)) / 3;
  return clamp01((tsScore + dsScore) / 2);
}

/** Flow `j` is silent: its `answer` is 0 and, where `sampling` is given, it was exported unsampled. */
const silentAt = (answer: Float64Array, sampling: Float64Array | undefined, j: number): boolean =>
  answer[j] === 0 && (sampling === undefined || (sampling[j] as number) <= 1);

/**
 * `answer` is the column whose 0 makes a flow silent: bwd_bytes (features.v1 to subscores.v4) or
 * bwd_pkts (subscores.v5: nothing came back, whether the producer counts payload or packet bytes).
 * `sampling` (subscores.v5): a flow whose sampling_rate is above 1 is never silent (its answer may
 * just not have been sampled).
 */
function scan(
  b: SequenceBatch,
  s: number,
  from: number,
  n: number,
  answer: Float64Array = b.bwdBytes,
  sampling?: Float64Array,
): number {
  const c = SUB_SCORE_CONSTANTS.scan;
  if (n === 0) return 0;
  let silent = 0;
  for (let j = from; j < from + n; j++) if (silentAt(answer, sampling, j)) silent++;
  const fan = Math.max(
    ramp(b.distinctDstPorts[s] as number, c.min_ports, c.full_ports),
    ramp(b.distinctDsts[s] as number, c.min_dsts, c.full_dsts),
  );
  return clamp01(fan * (silent / n));
}

const AUTH_PORTS: ReadonlySet<number> = new Set(SUB_SCORE_CONSTANTS.brute_force.auth_ports);
/** subscores.v5's authentication ports for the connection-count term (features.v1's without 443). */
const AUTH_PORTS_V5: ReadonlySet<number> = new Set(SUB_SCORE_V5_CONSTANTS.brute_force.auth_ports);

/** Per-port attempt counts, all zero between calls. */
const portCounts = new Uint32Array(65536);

const isPortIndex = (p: number): boolean => p >>> 0 === p && p < 65536;

/** The most attempted port (ties: the lowest) and its count, as the Map formulation finds them. */
function topPortMap(dstPort: Float64Array, from: number, n: number): [number, number] {
  let m = 0;
  let port = 0;
  const counts = new Map<number, number>();
  for (let j = from; j < from + n; j++) {
    const p = dstPort[j] as number;
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  for (const [p, k] of counts) {
    if (k > m || (k === m && p < port)) {
      m = k;
      port = p;
    }
  }
  return [m, port];
}

function bruteForce(
  b: SequenceBatch,
  from: number,
  n: number,
  authPorts: ReadonlySet<number> = AUTH_PORTS,
): number {
  const c = SUB_SCORE_CONSTANTS.brute_force;
  const dstPort = b.dstPort;
  if (n === 1) {
    return clamp01(
      ramp(1, c.min_attempts, c.full_attempts) *
        (authPorts.has(dstPort[from] as number) ? 1 : c.non_auth_weight),
    );
  }
  let m = 0;
  let port = 0;
  let indexable = true;
  for (let j = from; j < from + n; j++) {
    if (!isPortIndex(dstPort[j] as number)) {
      indexable = false;
      break;
    }
  }
  if (indexable) {
    for (let j = from; j < from + n; j++) {
      const p = dstPort[j] as number;
      portCounts[p] = (portCounts[p] as number) + 1;
    }
    // Visiting a port again with its final count changes nothing, so this is the Map's distinct-key pass.
    for (let j = from; j < from + n; j++) {
      const p = dstPort[j] as number;
      const k = portCounts[p] as number;
      if (k > m || (k === m && p < port)) {
        m = k;
        port = p;
      }
    }
    for (let j = from; j < from + n; j++) portCounts[dstPort[j] as number] = 0;
  } else {
    [m, port] = topPortMap(dstPort, from, n);
  }
  const auth = authPorts.has(port) ? 1 : c.non_auth_weight;
  return clamp01(ramp(m, c.min_attempts, c.full_attempts) * auth);
}

function exfiltration(b: SequenceBatch, from: number, n: number): number {
  const c = SUB_SCORE_CONSTANTS.exfiltration;
  const { fwdBytes, bwdBytes } = b;
  let up = 0;
  let down = 0;
  for (let j = from; j < from + n; j++) {
    up += fwdBytes[j] as number;
    down += bwdBytes[j] as number;
  }
  const ratio = up + down > 0 ? up / (up + down) : 0;
  return clamp01(ramp(Math.log10(up + 1), c.min_log10_bytes, c.full_log10_bytes) * ramp(ratio, 0.5, 0.9));
}

const isIcmp = (p: number): boolean => p === 1 || p === 58;

const ICMP_ERROR_TYPES: Readonly<Record<number, ReadonlySet<number>>> = Object.fromEntries(
  Object.entries(SUB_SCORE_V7_CONSTANTS.icmp_error_types).map(([p, types]) => [Number(p), new Set(types)]),
);
const ICMP_TYPE_IN_DST_PORT_FROM: number = SUB_SCORE_V7_CONSTANTS.icmp_type_in_dst_port_from;

/**
 * subscores.v7: whether flow `j` is an ICMP error message (its type from the ports: NetFlow's
 * type * 256 + code in the destination port, else Zeek's type in the source port).
 */
function isIcmpErrorAt(b: SequenceBatch, j: number): boolean {
  const errors = ICMP_ERROR_TYPES[b.protocol[j] as number];
  if (errors === undefined) return false;
  const dst = b.dstPort[j] as number;
  return errors.has(dst >= ICMP_TYPE_IN_DST_PORT_FROM ? dst >> 8 : (b.srcPort[j] as number));
}

/**
 * subscores.v2 scan: an ICMP exchange is a probe whether or not it was answered (`answer` and
 * `sampling` as in `scan`). `skipIcmpErrors` (subscores.v7): ICMP error messages count nowhere.
 */
function scanV2(
  b: SequenceBatch,
  s: number,
  from: number,
  flows: number,
  answer: Float64Array = b.bwdBytes,
  sampling?: Float64Array,
  skipIcmpErrors = false,
): number {
  const c = SUB_SCORE_CONSTANTS.scan;
  const ci = SUB_SCORE_V2_CONSTANTS.scan_icmp;
  const protocol = b.protocol;
  let n = flows;
  let quiet = 0;
  let icmp = 0;
  let icmpSilent = 0;
  for (let j = from; j < from + flows; j++) {
    if (skipIcmpErrors && isIcmpErrorAt(b, j)) {
      n--;
      continue;
    }
    const silent = silentAt(answer, sampling, j);
    if (isIcmp(protocol[j] as number)) {
      icmp++;
      if (silent) icmpSilent++;
    } else if (silent) quiet++;
  }
  if (n === 0) return 0;
  const dsts = b.distinctDsts[s] as number;
  const fan = Math.max(
    ramp(b.distinctDstPorts[s] as number, c.min_ports, c.full_ports),
    ramp(dsts, c.min_dsts, c.full_dsts),
  );
  const v1 = clamp01(fan * ((quiet + icmpSilent) / n));
  if (icmp === 0) return v1;
  const fanIcmp = Math.max(fan, ramp(dsts, ci.min_dsts, ci.full_dsts));
  return Math.max(v1, clamp01(fan * (quiet / n) + fanIcmp * (icmp / n)));
}

const LOGIN = SUB_SCORE_V2_CONSTANTS.brute_force_login;
const LOGIN_PORTS: readonly number[] = LOGIN.ports;
/** Attempts per login port (LOGIN_PORTS order), all zero between calls. */
const loginCounts = new Uint32Array(LOGIN_PORTS.length);

/**
 * subscores.v2 brute force: v1's, or repeated login exchanges to one interactive-login port
 * (subscores.v5 passes its own authentication ports for v1's term).
 */
function bruteForceV2(
  b: SequenceBatch,
  from: number,
  n: number,
  authPorts: ReadonlySet<number> = AUTH_PORTS,
): number {
  return Math.max(bruteForce(b, from, n, authPorts), repeatedLogins(b, from, n));
}

/** subscores.v2's repeated-login term: login exchanges to one interactive-login port. */
function repeatedLogins(b: SequenceBatch, from: number, n: number): number {
  const { protocol, dstPort, fwdPkts, bwdPkts } = b;
  let a = 0;
  for (let j = from; j < from + n; j++) {
    const p = protocol[j] as number;
    if (
      (p !== 6 && p !== 0) ||
      (fwdPkts[j] as number) < LOGIN.min_pkts ||
      (bwdPkts[j] as number) < LOGIN.min_pkts
    )
      continue;
    const k = LOGIN_PORTS.indexOf(dstPort[j] as number);
    if (k < 0) continue;
    const m = (loginCounts[k] as number) + 1;
    loginCounts[k] = m;
    if (m > a) a = m;
  }
  if (a > 0) loginCounts.fill(0);
  return clamp01(ramp(a, LOGIN.min_attempts, LOGIN.full_attempts));
}

const KERBEROS = SUB_SCORE_V5_CONSTANTS.kerberos;

/**
 * subscores.v5's Kerberos refusal term: many answered Kerberos exchanges whose answers are too
 * small to carry a ticket (KRB-ERRORs), and nearly all of them so (a password spray or guessing run).
 */
function kerberosRefusals(b: SequenceBatch, from: number, n: number): number {
  const { protocol, dstPort, bwdPkts, bwdBytes } = b;
  let exchanges = 0;
  let refusals = 0;
  for (let j = from; j < from + n; j++) {
    const p = protocol[j] as number;
    if (dstPort[j] !== KERBEROS.port || (p !== 17 && p !== 6 && p !== 0) || (bwdPkts[j] as number) < 1)
      continue;
    exchanges++;
    if ((bwdBytes[j] as number) <= KERBEROS.max_answer_bytes) refusals++;
  }
  if (refusals === 0) return 0;
  return clamp01(
    ramp(refusals, KERBEROS.min_refusals, KERBEROS.full_refusals) *
      ramp(refusals / exchanges, KERBEROS.min_share, KERBEROS.full_share),
  );
}

const BEACON_V3_MIN_FLOWS = SUB_SCORE_V3_CONSTANTS.beacon.min_flows;

/** subscores.v3 beacon: features.v1's, but 0 below a window's worth of beats (the spec's rationale). */
function beaconV3(b: SequenceBatch, from: number, n: number): number {
  return n < BEACON_V3_MIN_FLOWS ? 0 : beacon(b, from, n);
}

const REFLECTION = SUB_SCORE_V3_CONSTANTS.reflection;
/** 1 at the amplification source ports of subscores.v3. */
const AMP_PORT = new Uint8Array(65536);
for (const p of REFLECTION.amplification_ports) AMP_PORT[p] = 1;

/** subscores.v3 reflection: unanswered UDP replies from an amplification port × the responder's fan-in. */
function reflection(b: SequenceBatch, s: number, from: number, n: number): number {
  if (n === 0) return 0;
  const { protocol, srcPort, dstPort, bwdPkts } = b;
  let amp = 0;
  for (let j = from; j < from + n; j++) {
    const sp = srcPort[j] as number;
    if (protocol[j] === 17 && bwdPkts[j] === 0 && isPortIndex(sp) && AMP_PORT[sp] === 1 && dstPort[j] !== sp)
      amp++;
  }
  if (amp === 0) return 0;
  const fanIn = ramp(b.distinctSrcs[s] as number, REFLECTION.min_srcs, REFLECTION.full_srcs);
  return clamp01(fanIn * (amp / n));
}

const INBOUND = SUB_SCORE_V4_CONSTANTS.inbound_scan;

/**
 * subscores.v4's inbound (distributed) scan term of sequence `s`: the responder's probing fan-in
 * (context.distinct_probe_srcs) × the share of probe-shaped flows. v4's scan is the larger of it and
 * v3's scan; a caller that needs to know which raised a scan flag asks for it.
 */
export function inboundScanAt(b: SequenceBatch, s: number, version: SubScoreVersion = 'v5'): number {
  if (overConnections(version)) {
    const view = connectionView(b, s);
    if (view !== null) return inboundScanAt(view, 0);
  }
  return inboundScan(b, s, b.flowStart[s] as number, b.flowsOf(s));
}

/**
 * The credential-guessing part of sequence `s`'s subscores.v5 brute force: the larger of the
 * repeated-login term and the Kerberos refusal term (not the connection count, which a
 * connection-flood DoS raises too). A caller that must know what a brute-force flag means asks for it.
 */
export function credentialGuessingAt(b: SequenceBatch, s: number, version: SubScoreVersion = 'v5'): number {
  if (overConnections(version)) {
    const view = connectionView(b, s);
    if (view !== null) return credentialGuessingAt(view, 0);
  }
  const from = b.flowStart[s] as number;
  const n = b.flowsOf(s);
  return Math.max(repeatedLogins(b, from, n), kerberosRefusals(b, from, n));
}

function inboundScan(b: SequenceBatch, s: number, from: number, n: number): number {
  const fanIn = ramp(b.distinctProbeSrcs[s] as number, INBOUND.min_srcs, INBOUND.full_srcs);
  if (n === 0 || fanIn === 0) return 0;
  const { protocol, srcPort, dstPort, fwdPkts, bwdPkts } = b;
  let probes = 0;
  for (let j = from; j < from + n; j++)
    if (
      isProbeFlow(
        protocol[j] as number,
        srcPort[j] as number,
        dstPort[j] as number,
        fwdPkts[j] as number,
        bwdPkts[j] as number,
      )
    )
      probes++;
  return clamp01(fanIn * (probes / n));
}

/** One sequence at a time for `subScores` (copied in, then read as columns). */
const scratch = new SequenceBatch();

export function subScores(seq: Sequence, version: SubScoreVersion = 'v1'): SubScores {
  scratch.clear();
  scratch.push(seq);
  return subScoresAt(scratch, 0, version);
}

/** `subScores` of sequence `s` of a SequenceBatch, read from its columns. */
export function subScoresAt(batch: SequenceBatch, s: number, version: SubScoreVersion = 'v1'): SubScores {
  subScoresInto(batch, s, one, 0, version);
  return {
    beacon: one[0] as number,
    scan: one[1] as number,
    brute_force: one[2] as number,
    exfiltration: one[3] as number,
    reflection: one[4] as number,
  };
}

const one = new Float64Array(SUB_SCORE_COUNT);

/**
 * `subScoresAt` without an object: beacon, scan, brute force, exfiltration and reflection at
 * `out[at…at + 4]` (a caller that needs the object only for some sequences builds it from there).
 */
export function subScoresInto(
  batch: SequenceBatch,
  s: number,
  out: Float64Array,
  at: number,
  version: SubScoreVersion = 'v1',
): void {
  if (overConnections(version)) {
    const view = connectionView(batch, s);
    subScoresV5Into(view ?? batch, view === null ? s : 0, out, at, version === 'v7');
    return;
  }
  if (version === 'v5') {
    subScoresV5Into(batch, s, out, at, false);
    return;
  }
  const from = batch.flowStart[s] as number;
  const n = batch.flowsOf(s);
  const v2 = version !== 'v1';
  const v3 = version === 'v3' || version === 'v4';
  const inbound = version === 'v4';
  out[at] = v3 ? beaconV3(batch, from, n) : beacon(batch, from, n);
  const sc = !v2 ? scan(batch, s, from, n) : scanV2(batch, s, from, n);
  out[at + 1] = inbound ? Math.max(sc, inboundScan(batch, s, from, n)) : sc;
  out[at + 2] = !v2 ? bruteForce(batch, from, n) : bruteForceV2(batch, from, n);
  out[at + 3] = exfiltration(batch, from, n);
  out[at + 4] = v3 ? reflection(batch, s, from, n) : 0;
}

/** subscores.v5 (`skipIcmpErrors`: with subscores.v7's scan) of sequence `s`, into `out[at…at + 4]`. */
function subScoresV5Into(
  batch: SequenceBatch,
  s: number,
  out: Float64Array,
  at: number,
  skipIcmpErrors: boolean,
): void {
  const from = batch.flowStart[s] as number;
  const n = batch.flowsOf(s);
  out[at] = beaconV3(batch, from, n);
  const sc = scanV2(batch, s, from, n, batch.bwdPkts, batch.samplingRate, skipIcmpErrors);
  out[at + 1] = Math.max(sc, inboundScan(batch, s, from, n));
  out[at + 2] = Math.max(bruteForceV2(batch, from, n, AUTH_PORTS_V5), kerberosRefusals(batch, from, n));
  out[at + 3] = exfiltration(batch, from, n);
  out[at + 4] = reflection(batch, s, from, n);
}

/** subscores.v6: the protocols whose flows with one port pair are one connection (TCP; 0, not in the source). */
const CONNECTION_PROTOCOL = new Uint8Array(256);
for (const p of SUB_SCORE_V6_CONSTANTS.connection_protocols) CONNECTION_PROTOCOL[p] = 1;
/** subscores.v6: a record starting this soon after the previous one of its port pair ended continues it. */
const CONTINUATION_GAP_MS: number = SUB_SCORE_V6_CONSTANTS.continuation_gap_ms;

/** Sequence 0 of it is the last view `connectionView` made (reused: valid until the next call). */
const viewScratch = new SequenceBatch();

/**
 * subscores.v6's connections of sequence `s`: null when none of its records merge or need a packet
 * (the connections are its flows), else a batch whose sequence 0 is `s` read as connections. First
 * a record with bytes but no packets in a direction reads 1 packet there; then the records of each
 * connection merge into one flow (start the smallest, end the largest, counters summed, flags
 * ORed, sampling rate the largest): every record of an answered TCP / protocol-0 port pair, and
 * another protocol's record starting within continuation_gap_ms of the end of its port pair's
 * connection so far. The result is in sequencing.v1's rule 4 order. The batch is reused by the
 * next call. A sequence without a repeated port pair or a packet-less record pays two passes over
 * its flows.
 */
export function connectionView(b: SequenceBatch, s: number): SequenceBatch | null {
  const floors = needsPacketFloor(b, s);
  if (!floors && !hasRepeatedPair(b, s)) return null;
  const seq = b.sequence(s);
  // Bytes without packets (an exporter that counts none, e.g. NSEL): at least one packet came.
  if (floors)
    for (const f of seq.flows) {
      if (f.fwd_bytes > 0 && f.fwd_pkts === 0) f.fwd_pkts = 1;
      if (f.bwd_bytes > 0 && f.bwd_pkts === 0) f.bwd_pkts = 1;
    }
  // Protocol in the key too: a TCP and a protocol-0 flow are not one connection.
  const keyOf = (f: SequenceFlow): number => (f.protocol * 65536 + f.src_port) * 65536 + f.dst_port;
  const answered = new Set<number>();
  for (const f of seq.flows)
    if (CONNECTION_PROTOCOL[f.protocol] === 1 && f.bwd_pkts > 0) answered.add(keyOf(f));
  // (b) reads records in start order; sort is stable, and sequences arrive in rule 4 order anyway.
  const flows = [...seq.flows].sort((x, y) => x.start_ms - y.start_ms || x.end_ms - y.end_ms);
  const merged: SequenceFlow[] = [];
  const current = new Map<number, SequenceFlow>();
  for (const f of flows) {
    const key = keyOf(f);
    const c = current.get(key);
    // (a) every record of an answered TCP / protocol-0 port pair (a raw-socket scanner's unanswered
    // probes from one source port stay apart); (b) another protocol's record the exporter cut from
    // the running flow before it (fixed-port UDP exchanges further apart stay apart).
    const joins =
      c !== undefined &&
      (CONNECTION_PROTOCOL[f.protocol] === 1
        ? answered.has(key)
        : f.start_ms - c.end_ms <= CONTINUATION_GAP_MS);
    if (!joins) {
      const own = { ...f };
      current.set(key, own);
      merged.push(own);
      continue;
    }
    c.start_ms = Math.min(c.start_ms, f.start_ms);
    c.end_ms = Math.max(c.end_ms, f.end_ms);
    c.fwd_bytes += f.fwd_bytes;
    c.fwd_pkts += f.fwd_pkts;
    c.bwd_bytes += f.bwd_bytes;
    c.bwd_pkts += f.bwd_pkts;
    c.tcp_flags |= f.tcp_flags;
    c.sampling_rate = Math.max(c.sampling_rate ?? 1, f.sampling_rate ?? 1);
  }
  if (merged.length === flows.length && !floors) return null;
  merged.sort(compareSequenceFlows);
  viewScratch.clear();
  viewScratch.push({ ...seq, flows: merged });
  return viewScratch;
}

/** Whether some flow of sequence `s` has bytes but no packets in a direction (subscores.v6 reads 1). */
function needsPacketFloor(b: SequenceBatch, s: number): boolean {
  const from = b.flowStart[s] as number;
  const to = from + b.flowsOf(s);
  const { fwdBytes, fwdPkts, bwdBytes, bwdPkts } = b;
  for (let j = from; j < to; j++)
    if (
      ((fwdPkts[j] as number) === 0 && (fwdBytes[j] as number) > 0) ||
      ((bwdPkts[j] as number) === 0 && (bwdBytes[j] as number) > 0)
    )
      return true;
  return false;
}

/** Port-pair keys of a sequence's flows (hasRepeatedPair's scratch). */
let pairKeys = new Float64Array(64);

/**
 * Whether two of sequence `s`'s flows share a port pair (protocol, src_port, dst_port): the only
 * sequences `connectionView` may merge. Keys sorted, then neighbours compared.
 */
function hasRepeatedPair(b: SequenceBatch, s: number): boolean {
  const from = b.flowStart[s] as number;
  const n = b.flowsOf(s);
  if (n < 2) return false;
  const { protocol, srcPort, dstPort } = b;
  if (n > pairKeys.length) pairKeys = new Float64Array(2 * n);
  for (let k = 0; k < n; k++) {
    const j = from + k;
    // Below 2^40: exact in a double.
    pairKeys[k] = ((protocol[j] as number) * 65536 + (srcPort[j] as number)) * 65536 + (dstPort[j] as number);
  }
  sortPrefix(pairKeys, n);
  for (let k = 1; k < n; k++) if (pairKeys[k] === pairKeys[k - 1]) return true;
  return false;
}
