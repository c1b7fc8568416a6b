export const VERDICTS = ['malicious', 'benign'] as const;
export type Verdict = (typeof VERDICTS)[number];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const FINDING_STATUSES = ['new', 'in_progress', 'suppressed', 'resolved'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

export interface AttackCandidate {
  id: string;
  name: string;
  probability: number;
}

export interface SubScores {
  beacon: number;
  scan: number;
  brute_force: number;
  exfiltration: number;
  /**
   * subscores.v3: unsolicited amplification-port replies toward a responder of high fan-in (ATT&CK
   * T1498.002). Appended to findings.v1 with default 0: findings written before it read as 0.
   */
  reflection: number;
}

/** The keys of SubScores in findings.v1's field order. */
export const SUB_SCORE_NAMES = ['beacon', 'scan', 'brute_force', 'exfiltration', 'reflection'] as const;

export interface FeatureContribution {
  name: string;
  value: number;
  contribution: number;
}

export interface Neighbour {
  sequence_id: string;
  similarity: number;
  verdict: Verdict | null;
  label: string | null;
}

export interface Explanation {
  subscores: SubScores;
  top_features: FeatureContribution[];
  neighbours: Neighbour[];
}

/** A scored sequence (`findings.v1`, the vector-store payload and the API's finding). */
export interface Finding {
  sequence_id: string;
  window_start_ms: number;
  window_end_ms: number;
  first_seen_ms: number;
  last_seen_ms: number;
  src_ip: string;
  dst_ip: string;
  /** Responder ports seen, most frequent first (bounded). */
  dst_ports: number[];
  protocols: number[];
  connections: number;
  fwd_bytes: number;
  bwd_bytes: number;
  fwd_pkts: number;
  bwd_pkts: number;
  score: number;
  anomaly: number;
  verdict: Verdict;
  tactics: AttackCandidate[];
  techniques: AttackCandidate[];
  severity: Severity;
  model_version: string;
  status: FindingStatus;
  explanation: Explanation;
  /** Id of the suppression rule that matched, if any (recorded, never silently dropped). */
  suppressed_by: string | null;
  /** Ground truth carried from labelled input: 1 malicious, 0 benign, null unknown. */
  label: number | null;
  scored_at_ms: number;
}
