import {
  type AttackCandidate,
  FINDING_STATUSES,
  type Finding,
  type Sequence,
  SequenceBatch,
  type Severity,
  SEVERITIES,
  SUB_SCORE_NAMES,
  type SubScores,
  VERDICTS,
} from '@tidewatch/contracts';
import type { FindingRows } from '@tidewatch/vector-store';
import { sortPrefix } from '@tidewatch/features';
import { technique } from '@tidewatch/attack';
import { DEFAULT_TECHNIQUE_BY_TACTIC, TACTIC_NAMES, type TechniqueGuess } from './attack-names.ts';
import type { ModelManifest } from './manifest.ts';

/** A tactic is listed when its probability reaches this (the top trained tactic is always listed). */
export const TACTIC_MIN_PROBABILITY = 0.2;
const MAX_PORTS = 16;

/**
 * How much a tactic raises the urgency of a detection: actions on objectives (impact,
 * exfiltration, C2, credential theft, lateral movement) weigh more than reconnaissance.
 */
export const TACTIC_WEIGHT: Readonly<Record<string, number>> = {
  TA0040: 1,
  TA0010: 1,
  TA0011: 0.95,
  TA0006: 0.95,
  TA0008: 0.95,
  TA0001: 0.9,
  TA0002: 0.9,
  TA0003: 0.9,
  TA0004: 0.9,
  TA0005: 0.9,
  TA0009: 0.9,
  TA0007: 0.8,
  TA0043: 0.75,
  TA0042: 0.7,
};
const UNKNOWN_TACTIC_WEIGHT = 0.85;

/**
 * Severity, defined once:
 * - benign verdict: `info`, or `low` when a baseline sub-score flagged the sequence;
 * - malicious: risk = score × tactic weight (TACTIC_WEIGHT of the top tactic, 0.85 when none)
 *   + 0.1 × anomaly, then critical ≥ 0.9, high ≥ 0.75, medium ≥ 0.5, else low.
 */
export function severityOf(
  verdict: Finding['verdict'],
  score: number,
  anomaly: number,
  topTactic: string | null,
  flagged: boolean,
): Severity {
  if (verdict === 'benign') return flagged ? 'low' : 'info';
  const weight = topTactic ? (TACTIC_WEIGHT[topTactic] ?? UNKNOWN_TACTIC_WEIGHT) : UNKNOWN_TACTIC_WEIGHT;
  const risk = score * weight + 0.1 * Math.min(1, Math.max(0, anomaly));
  if (risk >= 0.9) return 'critical';
  if (risk >= 0.75) return 'high';
  if (risk >= 0.5) return 'medium';
  return 'low';
}

/**
 * Tactic candidates from the model's trained heads only, most probable first: the top one, and
 * the others whose (rounded) probability reaches TACTIC_MIN_PROBABILITY. Objects are made only for
 * the listed tactics (ties keep manifest order, as a stable sort of all of them would).
 */
export function tacticCandidates(
  probs: Float32Array,
  manifest: ModelManifest,
  trained: Set<string>,
): AttackCandidate[] {
  const ids = manifest.tactics;
  let top = -1;
  let topP = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < ids.length; i++) {
    if (!trained.has(ids[i] as string)) continue;
    const p = round6(probs[i] ?? 0);
    if (top < 0 || p > topP) {
      top = i;
      topP = p;
    }
  }
  if (top < 0) return [];
  const out: AttackCandidate[] = [candidate(ids[top] as string, topP)];
  for (let i = 0; i < ids.length; i++) {
    if (i === top || !trained.has(ids[i] as string)) continue;
    const p = round6(probs[i] ?? 0);
    if (p >= TACTIC_MIN_PROBABILITY) out.push(candidate(ids[i] as string, p));
  }
  if (out.length > 2) out.sort((a, b) => b.probability - a.probability);
  return out;
}

function candidate(id: string, probability: number): AttackCandidate {
  return { id, name: TACTIC_NAMES[id] ?? id, probability };
}

export function techniqueTable(manifest: ModelManifest): Record<string, TechniqueGuess[]> {
  const t = manifest['technique_by_tactic'];
  if (t && typeof t === 'object' && !Array.isArray(t)) {
    const out: Record<string, TechniqueGuess[]> = { ...DEFAULT_TECHNIQUE_BY_TACTIC };
    for (const [tactic, list] of Object.entries(t as Record<string, unknown>)) {
      const items = (Array.isArray(list) ? list : [list]) as Partial<TechniqueGuess>[];
      const guesses = items
        .filter((x) => x && typeof x.id === 'string')
        .map((x) => ({
          id: x.id as string,
          name: x.name ?? (x.id as string),
          prior: typeof x.prior === 'number' ? x.prior : 1,
        }));
      if (guesses.length > 0) out[tactic] = guesses;
    }
    return out;
  }
  return { ...DEFAULT_TECHNIQUE_BY_TACTIC };
}

/** Technique candidates: each listed tactic's likely techniques, P = P(tactic) × prior. */
export function techniqueCandidates(
  tactics: AttackCandidate[],
  table: Record<string, TechniqueGuess[]>,
): AttackCandidate[] {
  if (tactics.length === 0) return []; // every benign verdict
  // The best guess per technique id, in order of first appearance (what a Map keyed by id kept),
  // in one array: a few techniques per alert, so a linear search beats a Map and its iterators.
  const best: AttackCandidate[] = [];
  for (let ti = 0; ti < tactics.length; ti++) {
    const t = tactics[ti] as AttackCandidate;
    const guesses = table[t.id];
    if (guesses == null) continue;
    for (let gi = 0; gi < guesses.length; gi++) {
      const g = guesses[gi] as TechniqueGuess;
      const p = round6(t.probability * g.prior);
      let i = 0;
      while (i < best.length && (best[i] as AttackCandidate).id !== g.id) i++;
      if (i === best.length || (best[i] as AttackCandidate).probability < p) {
        best[i] = { id: g.id, name: g.name, probability: p };
      }
    }
  }
  return best.sort((a, b) => b.probability - a.probability);
}

/**
 * A reflection flag (subscores.v3 / v4 reflection at the flag threshold) as ATT&CK: Impact (TA0040)
 * at the sub-score's value, or the model's own TA0040 probability when higher, and Reflection
 * Amplification (T1498.002) in place of its parent Network Denial of Service (T1498), which the
 * technique table proposes for TA0040. Both lists stay sorted by probability, descending (ties keep
 * their order, the added one after).
 */
export function withReflection(
  tactics: AttackCandidate[],
  techniques: AttackCandidate[],
  reflection: number,
): { tactics: AttackCandidate[]; techniques: AttackCandidate[] } {
  return withRule(tactics, techniques, IMPACT, REFLECTION_AMPLIFICATION, NETWORK_DOS, reflection);
}

/**
 * An inbound-scan flag (subscores.v4's inbound term at the flag threshold; the finding explains it
 * as `scan`) as ATT&CK: Reconnaissance (TA0043) and Active Scanning (T1595), each at the term's
 * value or the probability the model's tactics already gave it, when higher. Sorted as withReflection.
 */
export function withInboundScan(
  tactics: AttackCandidate[],
  techniques: AttackCandidate[],
  inbound: number,
): { tactics: AttackCandidate[]; techniques: AttackCandidate[] } {
  return withRule(tactics, techniques, RECONNAISSANCE, ACTIVE_SCANNING, null, inbound);
}

/**
 * A scan flag raised by the initiator's own fan-out (subscores.v5's scan at the flag threshold, its
 * inbound term below it: a host probing many hosts or ports) as ATT&CK: Discovery (TA0007) and
 * Network Service Discovery (T1046), each at the sub-score or the model's probability, when higher.
 */
export function withServiceDiscovery(
  tactics: AttackCandidate[],
  techniques: AttackCandidate[],
  scan: number,
): { tactics: AttackCandidate[]; techniques: AttackCandidate[] } {
  return withRule(tactics, techniques, DISCOVERY, NETWORK_SERVICE_DISCOVERY, null, scan);
}

/**
 * A credential-guessing flag (subscores.v5 brute force raised by repeated logins or Kerberos
 * refusals, at the flag threshold) as ATT&CK: Credential Access (TA0006) and Brute Force (T1110),
 * each at the term's value or the model's probability, when higher. Sorted as withReflection.
 */
export function withCredentialGuessing(
  tactics: AttackCandidate[],
  techniques: AttackCandidate[],
  guessing: number,
): { tactics: AttackCandidate[]; techniques: AttackCandidate[] } {
  return withRule(tactics, techniques, CREDENTIAL_ACCESS, BRUTE_FORCE, null, guessing);
}

/**
 * A rule's flag merged into the model's candidates: `tactic` and `tech` at max(the rule's value,
 * their probabilities in the lists, and `parent`'s, which `tech` replaces), re-sorted descending.
 */
function withRule(
  tactics: AttackCandidate[],
  techniques: AttackCandidate[],
  tactic: string,
  tech: string,
  parent: string | null,
  value: number,
): { tactics: AttackCandidate[]; techniques: AttackCandidate[] } {
  const p = round6(value);
  const had = tactics.find((t) => t.id === tactic);
  const tacticsOut = tactics.filter((t) => t.id !== tactic);
  tacticsOut.push({
    id: tactic,
    name: TACTIC_NAMES[tactic] ?? tactic,
    probability: Math.max(p, had?.probability ?? 0),
  });
  const same = techniques.find((t) => t.id === tech);
  const replaced = parent === null ? undefined : techniques.find((t) => t.id === parent);
  const techniquesOut = techniques.filter((t) => t.id !== tech && t.id !== parent);
  techniquesOut.push({
    id: tech,
    name: technique(tech)?.name ?? tech,
    probability: Math.max(p, same?.probability ?? 0, replaced?.probability ?? 0),
  });
  const byProbability = (x: AttackCandidate, y: AttackCandidate): number => y.probability - x.probability;
  return { tactics: tacticsOut.sort(byProbability), techniques: techniquesOut.sort(byProbability) };
}

const IMPACT = 'TA0040';
const NETWORK_DOS = 'T1498';
const REFLECTION_AMPLIFICATION = 'T1498.002';
const RECONNAISSANCE = 'TA0043';
const ACTIVE_SCANNING = 'T1595';
const CREDENTIAL_ACCESS = 'TA0006';
const BRUTE_FORCE = 'T1110';
const DISCOVERY = 'TA0007';
const NETWORK_SERVICE_DISCOVERY = 'T1046';

export function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** One sequence at a time for the Sequence-object entry points (copied in, then read as columns). */
const scratch = new SequenceBatch();

function scratchOf(seq: Sequence): SequenceBatch {
  scratch.clear();
  scratch.push(seq);
  return scratch;
}

/** Ground truth of a sequence from its flows: 1 if any flow is malicious, 0 if all benign, else null. */
export function sequenceLabel(seq: Sequence): number | null {
  return sequenceLabelAt(scratchOf(seq), 0);
}

/** `sequenceLabel` of sequence `s` of a SequenceBatch (a null flow label is NaN there). */
export function sequenceLabelAt(batch: SequenceBatch, s: number): number | null {
  const from = batch.flowStart[s] as number;
  const to = batch.flowStart[s + 1] as number;
  const labels = batch.label;
  let allKnown = to > from;
  for (let j = from; j < to; j++) {
    const label = labels[j] as number;
    if (label === 1) return 1;
    if (label !== 0) allKnown = false;
  }
  return allKnown ? 0 : null;
}

/** What the model and the sub-scores said about a sequence (the rest of a Finding comes from it). */
export interface FindingScoring {
  score: number;
  anomaly: number;
  verdict: Finding['verdict'];
  tactics: AttackCandidate[];
  techniques: AttackCandidate[];
  severity: Severity;
  model_version: string;
  subscores: SubScores;
  scored_at_ms: number;
}

/**
 * The new finding of `seq`: the fields that come from the sequence alone (times, endpoints,
 * totals, label) and its scoring, as one object literal in the findings.v1 field order (no
 * intermediate facts object copied by a spread: this runs once per sequence).
 */
export function newFinding(seq: Sequence, s: FindingScoring): Finding {
  return newFindingAt(scratchOf(seq), 0, s);
}

/** `newFinding` of sequence `i` of a SequenceBatch, read from its columns. */
export function newFindingAt(batch: SequenceBatch, i: number, s: FindingScoring): Finding {
  const n = batch.flowsOf(i);
  const j = batch.flowStart[i] as number;
  let first: number;
  let last: number;
  let fb = 0;
  let bb = 0;
  let fp = 0;
  let bp = 0;
  let dstPorts: number[];
  let protocols: number[];
  let label: number | null;
  if (n === 1) {
    // The common case (most sequences hold one flow), without the sorts below.
    first = batch.startMs[j] as number;
    last = batch.endMs[j] as number;
    fb = batch.fwdBytes[j] as number;
    bb = batch.bwdBytes[j] as number;
    fp = batch.fwdPkts[j] as number;
    bp = batch.bwdPkts[j] as number;
    dstPorts = [batch.dstPort[j] as number];
    protocols = [batch.protocol[j] as number];
    const l = batch.label[j] as number;
    label = l === 1 ? 1 : l === 0 ? 0 : null;
  } else {
    flowFacts(batch, i);
    first = facts.first;
    last = facts.last;
    fb = facts.fb;
    bb = facts.bb;
    fp = facts.fp;
    bp = facts.bp;
    dstPorts = [];
    for (let k = 0; k < facts.ports; k++) dstPorts.push(factPorts[k] as number);
    protocols = [];
    for (let k = 0; k < facts.protocols; k++) protocols.push(factProtocols[k] as number);
    label = sequenceLabelAt(batch, i);
  }
  return {
    sequence_id: batch.ids[i] as string,
    window_start_ms: batch.windowStart[i] as number,
    window_end_ms: batch.windowEnd[i] as number,
    first_seen_ms: first,
    last_seen_ms: last,
    src_ip: batch.srcIp[i] as string,
    dst_ip: batch.dstIp[i] as string,
    dst_ports: dstPorts,
    protocols,
    connections: n,
    fwd_bytes: fb,
    bwd_bytes: bb,
    fwd_pkts: fp,
    bwd_pkts: bp,
    label,
    score: s.score,
    anomaly: s.anomaly,
    verdict: s.verdict,
    tactics: s.tactics,
    techniques: s.techniques,
    severity: s.severity,
    model_version: s.model_version,
    status: 'new',
    explanation: { subscores: s.subscores, top_features: [], neighbours: [] },
    suppressed_by: null,
    scored_at_ms: s.scored_at_ms,
  };
}

/** flowFacts' results (one sequence at a time): times, totals, and how many of factPorts / factProtocols hold it. */
const facts = { first: 0, last: 0, fb: 0, bb: 0, fp: 0, bp: 0, ports: 0, protocols: 0 };
/** The top MAX_PORTS destination ports (count descending, then port ascending) and the distinct protocols ascending. */
const factPorts = new Float64Array(MAX_PORTS);
let factProtocols = new Float64Array(64);
/** Scratch: every flow's port (sorted in place), then the distinct ports and their counts. */
let sortedPorts = new Float64Array(64);
let distinctPorts = new Float64Array(64);
let portCounts = new Float64Array(64);

/**
 * The sequence facts of a sequence of any number of flows but one (newFinding's and addQuietRow's
 * general case) into `facts`, without a Map, a Set, their iterators and sorted entry arrays:
 * ports and protocols are sorted in scratch typed arrays and the top ports picked by count.
 */
function flowFacts(batch: SequenceBatch, s: number): void {
  const from = batch.flowStart[s] as number;
  const n = batch.flowsOf(s);
  const { startMs, endMs, fwdBytes, bwdBytes, fwdPkts, bwdPkts, dstPort, protocol } = batch;
  if (sortedPorts.length < n) {
    sortedPorts = new Float64Array(2 * n);
    distinctPorts = new Float64Array(2 * n);
    portCounts = new Float64Array(2 * n);
    factProtocols = new Float64Array(2 * n);
  }
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let fb = 0;
  let bb = 0;
  let fp = 0;
  let bp = 0;
  for (let k = 0; k < n; k++) {
    const j = from + k;
    first = Math.min(first, startMs[j] as number);
    last = Math.max(last, endMs[j] as number);
    fb += fwdBytes[j] as number;
    bb += bwdBytes[j] as number;
    fp += fwdPkts[j] as number;
    bp += bwdPkts[j] as number;
    sortedPorts[k] = dstPort[j] as number;
    factProtocols[k] = protocol[j] as number;
  }
  facts.first = Number.isFinite(first) ? first : (batch.windowStart[s] as number);
  facts.last = Number.isFinite(last) ? last : (batch.windowStart[s] as number);
  facts.fb = fb;
  facts.bb = bb;
  facts.fp = fp;
  facts.bp = bp;
  const ports = sortedPorts;
  sortPrefix(ports, n);
  let d = 0;
  for (let k = 0; k < n; ) {
    const port = ports[k] as number;
    let e = k + 1;
    while (e < n && ports[e] === port) e++;
    distinctPorts[d] = port;
    portCounts[d++] = e - k;
    k = e;
  }
  // Distinct ports are ascending: the first of the highest counts left is the next one (ties by port ascending).
  const top = Math.min(d, MAX_PORTS);
  for (let t = 0; t < top; t++) {
    let best = -1;
    let bestCount = 0;
    for (let k = 0; k < d; k++) {
      const c = portCounts[k] as number;
      if (c > bestCount) {
        best = k;
        bestCount = c;
      }
    }
    factPorts[t] = distinctPorts[best] as number;
    portCounts[best] = 0;
  }
  facts.ports = top;
  const protocols = factProtocols;
  sortPrefix(protocols, n);
  let p = 0;
  for (let k = 0; k < n; k++)
    if (k === 0 || protocols[k] !== protocols[k - 1]) protocols[p++] = protocols[k] as number;
  facts.protocols = p;
}

/**
 * Adds `seq` as a quiet row of `rows` (what `newFinding` would build for a benign, unflagged verdict:
 * the sequence facts here, score, anomaly and sub-scores by the caller) and returns its index:
 * verdict benign, severity info, status new.
 */
export function addQuietRow(rows: FindingRows, seq: Sequence): number {
  return addQuietRowAt(rows, scratchOf(seq), 0);
}

/** `addQuietRow` of sequence `s` of a SequenceBatch, read from its columns. */
export function addQuietRowAt(rows: FindingRows, batch: SequenceBatch, s: number): number {
  const n = batch.flowsOf(s);
  const i = quietRow(
    rows,
    batch.ids[s] as string,
    batch.windowStart[s] as number,
    batch.windowEnd[s] as number,
    batch.srcIp[s] as string,
    batch.dstIp[s] as string,
    n,
  );
  if (n === 1) {
    const j = batch.flowStart[s] as number;
    rows.firstSeen[i] = batch.startMs[j] as number;
    rows.lastSeen[i] = batch.endMs[j] as number;
    rows.fwdBytes[i] = batch.fwdBytes[j] as number;
    rows.bwdBytes[i] = batch.bwdBytes[j] as number;
    rows.fwdPkts[i] = batch.fwdPkts[j] as number;
    rows.bwdPkts[i] = batch.bwdPkts[j] as number;
    rows.pushPort(batch.dstPort[j] as number);
    rows.pushProtocol(batch.protocol[j] as number);
    const label = batch.label[j] as number;
    rows.label[i] = label === 1 ? 1 : label === 0 ? 0 : -1;
    return i;
  }
  flowFacts(batch, s);
  rows.firstSeen[i] = facts.first;
  rows.lastSeen[i] = facts.last;
  rows.fwdBytes[i] = facts.fb;
  rows.bwdBytes[i] = facts.bb;
  rows.fwdPkts[i] = facts.fp;
  rows.bwdPkts[i] = facts.bp;
  for (let k = 0; k < facts.ports; k++) rows.pushPort(factPorts[k] as number);
  for (let k = 0; k < facts.protocols; k++) rows.pushProtocol(factProtocols[k] as number);
  const label = sequenceLabelAt(batch, s);
  rows.label[i] = label === null ? -1 : label;
  return i;
}

function quietRow(
  rows: FindingRows,
  id: string,
  windowStart: number,
  windowEnd: number,
  srcIp: string,
  dstIp: string,
  flows: number,
): number {
  const i = rows.addRow(id);
  rows.windowStart[i] = windowStart;
  rows.windowEnd[i] = windowEnd;
  rows.srcIp[i] = srcIp;
  rows.dstIp[i] = dstIp;
  rows.verdict[i] = BENIGN;
  rows.severity[i] = INFO;
  rows.status[i] = NEW;
  rows.connections[i] = flows;
  return i;
}

const BENIGN = VERDICTS.indexOf('benign');
const INFO = SEVERITIES.indexOf('info');
const NEW = FINDING_STATUSES.indexOf('new');

/** The sub-scores that reach their flag threshold (`flagAt`, in SUB_SCORE_NAMES order; Infinity: never flags). */
export function flaggedBy(sub: SubScores, flagAt: ArrayLike<number>): (keyof SubScores)[] {
  const flags: (keyof SubScores)[] = [];
  for (let k = 0; k < SUB_SCORE_NAMES.length; k++) {
    const name = SUB_SCORE_NAMES[k] as keyof SubScores;
    if (sub[name] >= (flagAt[k] as number)) flags.push(name);
  }
  return flags;
}
