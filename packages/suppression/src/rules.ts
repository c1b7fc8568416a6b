/**
 * An analyst-marked commonplace pattern. Same document the query API writes (POST /v1/suppressions):
 * a finding matches when the rule is enabled, its exact fields (src_ip / dst_ip, when set) are
 * equal, and — when the rule carries an example embedding — the cosine similarity of the finding's
 * embedding to it is at least `threshold`.
 */
export interface SuppressionRule {
  id: string;
  /** The finding the rule was made from. */
  finding_id: string;
  reason: string;
  threshold: number;
  /** Example embedding; empty means "match on the exact fields only". */
  vector: number[];
  src_ip: string | null;
  dst_ip: string | null;
  created_by: string;
  created_at_ms: number;
  retroactive_count: number;
  enabled: boolean;
}

/**
 * Where rules live. Redis in production, a file in the one-process mode; both use the query API's
 * document layout (collection `suppressions`), so the API writes and inference reads the same rules.
 */
export interface SuppressionStore {
  list(): Promise<SuppressionRule[]>;
  get(id: string): Promise<SuppressionRule | null>;
  put(rule: SuppressionRule): Promise<void>;
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}
