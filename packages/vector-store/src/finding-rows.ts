import {
  FINDING_STATUSES,
  type Finding,
  type FindingStatus,
  SEVERITIES,
  type Severity,
  VERDICTS,
  type Verdict,
} from '@tidewatch/contracts';
import type { UpsertPoint } from './store.ts';

/** Sub-scores per row in `FindingRows.subscores`: findings.v1's explanation.subscores in order. */
export const SUBSCORES_PER_ROW = 5;

/**
 * Points given as columns, one row per point, in the order they are to be written: what a scorer
 * holds after a model run. Row i is the point `{ id: ids[i], vector: row i of vectors, payload }`
 * whose payload is `findings[i]` when the scorer built one (alerts: tactics, explanation, ...), else
 * the quiet finding the columns describe (`findingOfRow`): no tactics, techniques, top features or
 * neighbours. A store that implements `upsertRows` writes those from the columns without a Finding
 * object per point; what it stores and returns is the same as `upsert(pointsOfRows(rows))`.
 */
export class FindingRows {
  count = 0;
  readonly capacity: number;
  readonly dim: number;
  /** Row-major, `dim` floats per row (a model run's embedding output as it is). */
  vectors: Float32Array;
  readonly ids: string[];
  /** A full payload for row i, or undefined when the columns describe it. */
  readonly findings: (Finding | undefined)[];
  readonly windowStart: Float64Array;
  readonly windowEnd: Float64Array;
  readonly firstSeen: Float64Array;
  readonly lastSeen: Float64Array;
  readonly srcIp: string[];
  readonly dstIp: string[];
  /** Row i's dst_ports are `ports[portsAt[i] .. portsAt[i + 1])`; protocols likewise. */
  ports: Int32Array;
  readonly portsAt: Int32Array;
  protocols: Int32Array;
  readonly protocolsAt: Int32Array;
  readonly connections: Float64Array;
  readonly fwdBytes: Float64Array;
  readonly bwdBytes: Float64Array;
  readonly fwdPkts: Float64Array;
  readonly bwdPkts: Float64Array;
  /** 0 / 1, or -1 for null. */
  readonly label: Int8Array;
  readonly score: Float64Array;
  readonly anomaly: Float64Array;
  /** Index into VERDICTS / SEVERITIES / FINDING_STATUSES. */
  readonly verdict: Uint8Array;
  readonly severity: Uint8Array;
  readonly status: Uint8Array;
  /** Set only where a row's suppressed_by is not null. */
  readonly suppressedBy: (string | null)[];
  /** beacon, scan, brute_force, exfiltration, reflection per row (SUBSCORES_PER_ROW each). */
  readonly subscores: Float64Array;
  /** The same for every row of a batch. */
  readonly modelVersion: string;
  readonly scoredAtMs: number;

  constructor(
    capacity: number,
    dim: number,
    modelVersion: string,
    scoredAtMs: number,
    vectors?: Float32Array,
  ) {
    this.capacity = capacity;
    this.dim = dim;
    this.modelVersion = modelVersion;
    this.scoredAtMs = scoredAtMs;
    if (vectors && vectors.length < capacity * dim)
      throw new Error(`FindingRows: ${vectors.length} floats for ${capacity} rows of ${dim}`);
    this.vectors = vectors ?? new Float32Array(capacity * dim);
    this.ids = new Array<string>(capacity);
    this.findings = new Array<Finding | undefined>(capacity);
    this.srcIp = new Array<string>(capacity);
    this.dstIp = new Array<string>(capacity);
    this.suppressedBy = new Array<string | null>(capacity);
    // Every numeric column in one buffer (one allocation per batch, not twenty).
    const c = capacity;
    const f64 = (11 + SUBSCORES_PER_ROW) * c;
    const i32 = 4 * c + 22;
    const buf = new ArrayBuffer(8 * f64 + 4 * i32 + 4 * c);
    let at = 0;
    const f = (n: number) => {
      const a = new Float64Array(buf, at, n);
      at += 8 * n;
      return a;
    };
    const i = (n: number) => {
      const a = new Int32Array(buf, at, n);
      at += 4 * n;
      return a;
    };
    this.windowStart = f(c);
    this.windowEnd = f(c);
    this.firstSeen = f(c);
    this.lastSeen = f(c);
    this.connections = f(c);
    this.fwdBytes = f(c);
    this.bwdBytes = f(c);
    this.fwdPkts = f(c);
    this.bwdPkts = f(c);
    this.score = f(c);
    this.anomaly = f(c);
    this.subscores = f(SUBSCORES_PER_ROW * c);
    this.ports = i(c + 16);
    this.portsAt = i(c + 1);
    this.protocols = i(c + 4);
    this.protocolsAt = i(c + 1);
    this.label = new Int8Array(buf, at, c);
    this.verdict = new Uint8Array(buf, at + c, c);
    this.severity = new Uint8Array(buf, at + 2 * c, c);
    this.status = new Uint8Array(buf, at + 3 * c, c);
  }

  /** Adds a row whose payload is `finding` (its vector is written by the caller into `vectors`). */
  addFinding(finding: Finding): number {
    const i = this.next();
    this.ids[i] = finding.sequence_id;
    this.findings[i] = finding;
    this.portsAt[i + 1] = this.portsAt[i] as number;
    this.protocolsAt[i + 1] = this.protocolsAt[i] as number;
    return i;
  }

  /**
   * Adds a column row (status `new`, suppressed_by null) and returns its index; the caller then
   * fills its columns and appends its ports and protocols (`pushPort`, `pushProtocol`) before the
   * next row is added.
   */
  addRow(id: string): number {
    const i = this.next();
    this.ids[i] = id;
    this.portsAt[i + 1] = this.portsAt[i] as number;
    this.protocolsAt[i + 1] = this.protocolsAt[i] as number;
    return i;
  }

  /** Appends a dst_port to the last row. */
  pushPort(p: number): void {
    const at = this.portsAt[this.count] as number;
    if (at >= this.ports.length) this.ports = grow(this.ports);
    this.ports[at] = p;
    this.portsAt[this.count] = at + 1;
  }

  /** Appends a protocol to the last row. */
  pushProtocol(p: number): void {
    const at = this.protocolsAt[this.count] as number;
    if (at >= this.protocols.length) this.protocols = grow(this.protocols);
    this.protocols[at] = p;
    this.protocolsAt[this.count] = at + 1;
  }

  setStatus(i: number, status: FindingStatus, suppressedBy: string | null): void {
    const f = this.findings[i];
    if (f) {
      f.status = status;
      f.suppressed_by = suppressedBy;
      return;
    }
    this.status[i] = FINDING_STATUSES.indexOf(status);
    this.suppressedBy[i] = suppressedBy;
  }

  statusOf(i: number): FindingStatus {
    const f = this.findings[i];
    return f ? f.status : (FINDING_STATUSES[this.status[i] as number] as FindingStatus);
  }

  /** Row i's vector (a view). */
  vector(i: number): Float32Array {
    return this.vectors.subarray(i * this.dim, (i + 1) * this.dim);
  }

  private next(): number {
    if (this.count >= this.capacity) throw new Error(`FindingRows: more than ${this.capacity} rows`);
    return this.count++;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** The payload of row i: its Finding, or the quiet finding its columns describe (findings.v1 field order). */
export function findingOfRow(rows: FindingRows, i: number): Finding {
  const given = rows.findings[i];
  if (given) return given;
  const label = rows.label[i] as number;
  const s = i * SUBSCORES_PER_ROW;
  return {
    sequence_id: rows.ids[i] as string,
    window_start_ms: rows.windowStart[i] as number,
    window_end_ms: rows.windowEnd[i] as number,
    first_seen_ms: rows.firstSeen[i] as number,
    last_seen_ms: rows.lastSeen[i] as number,
    src_ip: rows.srcIp[i] as string,
    dst_ip: rows.dstIp[i] as string,
    dst_ports: Array.from(rows.ports.subarray(rows.portsAt[i], rows.portsAt[i + 1])),
    protocols: Array.from(rows.protocols.subarray(rows.protocolsAt[i], rows.protocolsAt[i + 1])),
    connections: rows.connections[i] as number,
    fwd_bytes: rows.fwdBytes[i] as number,
    bwd_bytes: rows.bwdBytes[i] as number,
    fwd_pkts: rows.fwdPkts[i] as number,
    bwd_pkts: rows.bwdPkts[i] as number,
    label: label < 0 ? null : label,
    score: rows.score[i] as number,
    anomaly: rows.anomaly[i] as number,
    verdict: VERDICTS[rows.verdict[i] as number] as Verdict,
    tactics: [],
    techniques: [],
    severity: SEVERITIES[rows.severity[i] as number] as Severity,
    model_version: rows.modelVersion,
    status: FINDING_STATUSES[rows.status[i] as number] as FindingStatus,
    explanation: {
      subscores: {
        beacon: rows.subscores[s] as number,
        scan: rows.subscores[s + 1] as number,
        brute_force: rows.subscores[s + 2] as number,
        exfiltration: rows.subscores[s + 3] as number,
        reflection: rows.subscores[s + 4] as number,
      },
      top_features: [],
      neighbours: [],
    },
    suppressed_by: rows.suppressedBy[i] ?? null,
    scored_at_ms: rows.scoredAtMs,
  };
}

/** The rows as UpsertPoints (what a store without `upsertRows` is given; the reference for one with it). */
export function pointsOfRows(rows: FindingRows): UpsertPoint[] {
  const out = new Array<UpsertPoint>(rows.count);
  for (let i = 0; i < rows.count; i++)
    out[i] = { id: rows.ids[i] as string, vector: rows.vector(i), payload: findingOfRow(rows, i) };
  return out;
}
