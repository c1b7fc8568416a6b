import type { Finding, FindingStatus, Severity, Verdict } from '@tidewatch/contracts';
import type { FindingRows } from './finding-rows.ts';

/**
 * The vector store: one point per sequence (id = sequence id, a UUID), vector = embedding,
 * payload = the Finding. Backends: QdrantStore (production) and EmbeddedStore (local disk; the
 * one-process mode and CI). Both pass the one contract-test suite in test/contract.ts.
 */
export interface FindingFilter {
  fromMs?: number; // window_end_ms >= fromMs
  toMs?: number; // window_start_ms < toMs
  verdict?: Verdict;
  severity?: Severity[];
  tactic?: string; // ATT&CK tactic id, e.g. TA0043 (matches tactics[0].id, the top tactic)
  technique?: string;
  srcIp?: string; // exact address or CIDR
  dstIp?: string;
  status?: FindingStatus[];
  modelVersion?: string;
  minScore?: number;
  sequenceIds?: string[];
  /** true: only points with ground truth (label 0/1: labelled imports or analyst-confirmed); false: only unlabelled. */
  labelled?: boolean;
}

export type SortField = 'score' | 'window_start_ms' | 'anomaly' | 'scored_at_ms';

export interface ListQuery {
  filter?: FindingFilter;
  sort?: { field: SortField; order: 'asc' | 'desc' };
  limit: number;
  /** Opaque cursor from the previous page. */
  cursor?: string | null;
}

export interface StoredPoint {
  id: string;
  vector: number[];
  payload: Finding;
}

/** What `upsert` takes: a StoredPoint whose vector may be any array of numbers (a Float32Array embedding as is). */
export interface UpsertPoint {
  id: string;
  vector: ArrayLike<number>;
  payload: Finding;
}

export interface SimilarHit {
  id: string;
  similarity: number;
  payload: Finding;
}

/** A kNN hit carrying only what neighbour evidence needs: the neighbour's verdict and ground truth. */
export interface EvidenceHit {
  id: string;
  similarity: number;
  verdict: Verdict | null;
  label: 0 | 1 | null;
}

export type FacetField =
  | 'src_ip'
  | 'dst_ip'
  | 'verdict'
  | 'severity'
  | 'status'
  | 'tactic'
  | 'technique'
  | 'dst_port'
  | 'model_version';

export interface VectorStore {
  /** Creates the collection and payload indexes if missing (idempotent). */
  init(): Promise<void>;
  /** Insert or overwrite by id (reprocessing overwrites, never duplicates). */
  upsert(points: UpsertPoint[]): Promise<void>;
  get(id: string, opts?: { withVector?: boolean }): Promise<StoredPoint | null>;
  list(query: ListQuery): Promise<{ items: Finding[]; nextCursor: string | null }>;
  count(filter?: FindingFilter): Promise<number>;
  facet(
    field: FacetField,
    filter?: FindingFilter,
    limit?: number,
  ): Promise<{ value: string; count: number }[]>;
  /** k nearest by cosine similarity, optional payload filter. */
  similar(
    vector: number[],
    opts: { k: number; filter?: FindingFilter; excludeId?: string },
  ): Promise<SimilarHit[]>;
  /**
   * Optional: many kNN queries in one call (one pass over an embedded store; one request to
   * Qdrant). Same semantics as `similar` per query; `excludeIds[i]` applies to query i.
   */
  similarMany?(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<SimilarHit[][]>;
  /**
   * Optional: `similarMany` whose hits carry the neighbour's verdict and label instead of its
   * payload (an explanation lists nothing else), so a store can answer from its indexes without
   * decoding a payload per hit. Same neighbours, in the same order, as `similarMany`.
   */
  similarEvidence?(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<EvidenceHit[][]>;
  /**
   * Optional: `upsert(batches.flatMap(pointsOfRows))` (one write) from a scorer's columns
   * (finding-rows.ts) without a Finding object per quiet row. What is stored and returned
   * afterwards is identical to that upsert.
   */
  upsertRows?(batches: FindingRows[]): Promise<void>;
  /** Partial payload update (status, suppressed_by, ...) for the given ids. */
  updatePayload(ids: string[], patch: Partial<Finding>): Promise<void>;
  /** Retention: deletes points whose window ended before `ms`; returns how many. */
  deleteOlderThan(ms: number): Promise<number>;
  close(): Promise<void>;
}
