import type { Finding } from '@tidewatch/contracts';
import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { decodeCursor, encodeCursor, orderFacets, topTactic, topTechnique } from './finding-filter.ts';
import { type FindingRows, pointsOfRows } from './finding-rows.ts';
import { withReflectionDefault } from './payload-codec.ts';
import { ipNumeric, parseIpFilter, splitV6 } from './ip-range.ts';
import type {
  FacetField,
  FindingFilter,
  ListQuery,
  SimilarHit,
  SortField,
  StoredPoint,
  UpsertPoint,
  VectorStore,
} from './store.ts';

export interface QdrantStoreOptions {
  url: string;
  apiKey?: string;
  /** Embedding space name (one collection per model embedding space), e.g. `d64`. */
  space: string;
  dim: number;
  /** Collection name prefix (default `tidewatch_findings`); tests use a unique one. */
  prefix?: string;
}

type Condition = Schemas['Condition'];
type Filter = Schemas['Filter'];

/** Payload fields Tidewatch adds beside the Finding so Qdrant can index and facet them. */
const DERIVED_KEYS = [
  'tactic',
  'technique',
  'src_ip4',
  'dst_ip4',
  'src_ip6_hi',
  'src_ip6_mid',
  'src_ip6_lo',
  'dst_ip6_hi',
  'dst_ip6_mid',
  'dst_ip6_lo',
] as const;

const KEYWORD_INDEXES = [
  'src_ip',
  'dst_ip',
  'tactic',
  'technique',
  'verdict',
  'severity',
  'status',
  'model_version',
];
const INTEGER_INDEXES = [
  'window_start_ms',
  'window_end_ms',
  'scored_at_ms',
  'dst_ports',
  ...DERIVED_KEYS.filter((k) => k.includes('_ip')),
];
const FLOAT_INDEXES = ['score', 'anomaly'];

const FACET_KEY: Record<FacetField, string> = {
  src_ip: 'src_ip',
  dst_ip: 'dst_ip',
  verdict: 'verdict',
  severity: 'severity',
  status: 'status',
  tactic: 'tactic',
  technique: 'technique',
  dst_port: 'dst_ports',
  model_version: 'model_version',
};

/**
 * Qdrant backend: one collection per embedding space (cosine), point id = sequence id, payload =
 * the Finding plus derived index fields (top tactic/technique; IPv4 as a uint32 and IPv6 as three
 * exact parts of 48/48/32 bits, so any CIDR becomes equality on the high parts plus one range).
 * Ordering uses order_by on indexed numeric fields; since order_by has no tie-breaker, the cursor
 * remembers the ids already returned at the last value.
 */
export class QdrantStore implements VectorStore {
  readonly collection: string;
  readonly dim: number;
  private readonly client: QdrantClient;

  constructor(opts: QdrantStoreOptions) {
    this.collection = `${opts.prefix ?? 'tidewatch_findings'}_${opts.space}`;
    this.dim = opts.dim;
    this.client = new QdrantClient({
      url: opts.url,
      ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
      checkCompatibility: false,
    });
  }

  async init(): Promise<void> {
    const { exists } = await this.client.collectionExists(this.collection);
    if (!exists) {
      try {
        await this.client.createCollection(this.collection, {
          vectors: { size: this.dim, distance: 'Cosine' },
        });
      } catch (e) {
        // Another replica created it between our check and create.
        const again = await this.client.collectionExists(this.collection);
        if (!again.exists) throw e;
      }
    }
    const schemas: [string, Schemas['PayloadFieldSchema']][] = [
      ...KEYWORD_INDEXES.map((f): [string, Schemas['PayloadFieldSchema']] => [f, 'keyword']),
      ...INTEGER_INDEXES.map((f): [string, Schemas['PayloadFieldSchema']] => [f, 'integer']),
      ...FLOAT_INDEXES.map((f): [string, Schemas['PayloadFieldSchema']] => [f, 'float']),
    ];
    for (const [field_name, field_schema] of schemas) {
      await this.client.createPayloadIndex(this.collection, { field_name, field_schema, wait: true });
    }
  }

  async upsert(points: UpsertPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.client.upsert(this.collection, {
      wait: true,
      points: points.map((p) => ({ id: p.id, vector: Array.from(p.vector), payload: toPayload(p.payload) })),
    });
  }

  /** The same points `upsert` builds from the rows' findings (parity: Qdrant takes JSON either way). */
  async upsertRows(batches: FindingRows[]): Promise<void> {
    await this.upsert(batches.flatMap(pointsOfRows));
  }

  async get(id: string, opts?: { withVector?: boolean }): Promise<StoredPoint | null> {
    const withVector = opts?.withVector !== false;
    const [p] = await this.client.retrieve(this.collection, {
      ids: [id],
      with_payload: true,
      with_vector: withVector,
    });
    if (!p) return null;
    return {
      id: String(p.id),
      vector: withVector ? (p.vector as number[]) : [],
      payload: fromPayload(p.payload),
    };
  }

  async list(query: ListQuery): Promise<{ items: Finding[]; nextCursor: string | null }> {
    const limit = Math.max(0, Math.floor(query.limit));
    const filter = toFilter(query.filter);
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    if (limit === 0) return { items: [], nextCursor: null };
    if (!query.sort) {
      const res = await this.client.scroll(this.collection, {
        limit,
        with_payload: true,
        with_vector: false,
        ...(filter ? { filter } : {}),
        ...(cursor ? { offset: cursor.id } : {}),
      });
      const next = res.next_page_offset;
      return {
        items: res.points.map((p) => fromPayload(p.payload)),
        nextCursor:
          next === null || next === undefined || typeof next === 'object'
            ? null
            : encodeCursor({ id: String(next) }),
      };
    }
    const { field, order } = query.sort;
    const seen = new Set(cursor?.seen ?? []);
    const res = await this.client.scroll(this.collection, {
      limit: limit + seen.size + 1,
      with_payload: true,
      with_vector: false,
      ...(filter ? { filter } : {}),
      order_by: {
        key: field,
        direction: order,
        ...(cursor?.v !== undefined ? { start_from: cursor.v } : {}),
      },
    });
    const fresh = res.points.map((p) => fromPayload(p.payload)).filter((f) => !seen.has(f.sequence_id));
    const page = fresh.slice(0, limit);
    const last = page[page.length - 1];
    if (!last || fresh.length <= limit) return { items: page, nextCursor: null };
    const v = last[field as SortField];
    const sameValue = page.filter((f) => f[field] === v).map((f) => f.sequence_id);
    const carried = cursor?.v === v ? [...seen] : [];
    return {
      items: page,
      nextCursor: encodeCursor({ v, id: last.sequence_id, seen: [...carried, ...sameValue] }),
    };
  }

  async count(filter?: FindingFilter): Promise<number> {
    const f = toFilter(filter);
    const res = await this.client.count(this.collection, { exact: true, ...(f ? { filter: f } : {}) });
    return res.count;
  }

  async facet(
    field: FacetField,
    filter?: FindingFilter,
    limit = 10,
  ): Promise<{ value: string; count: number }[]> {
    const f = toFilter(filter);
    // Over-fetch so the shared tie order (count desc, value asc) decides the cut, not Qdrant's.
    const res = await this.client.facet(this.collection, {
      key: FACET_KEY[field],
      limit: limit + 100,
      exact: true,
      ...(f ? { filter: f } : {}),
    });
    const counts = new Map<string, number>();
    for (const h of res.hits) counts.set(String(h.value), h.count);
    return orderFacets(counts, limit);
  }

  async similar(
    vector: number[],
    opts: { k: number; filter?: FindingFilter; excludeId?: string },
  ): Promise<SimilarHit[]> {
    if (opts.k <= 0) return [];
    const base = toFilter(opts.filter);
    const filter: Filter | undefined =
      opts.excludeId === undefined ? base : { ...(base ?? {}), must_not: [{ has_id: [opts.excludeId] }] };
    const res = await this.client.query(this.collection, {
      query: vector,
      limit: Math.floor(opts.k),
      with_payload: true,
      ...(filter ? { filter } : {}),
    });
    return res.points.map((p) => ({
      id: String(p.id),
      similarity: p.score,
      payload: fromPayload(p.payload),
    }));
  }

  async similarMany(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<SimilarHit[][]> {
    if (opts.k <= 0 || vectors.length === 0) return vectors.map(() => []);
    const base = toFilter(opts.filter);
    const res = await this.client.queryBatch(this.collection, {
      searches: vectors.map((v, i) => {
        const ex = opts.excludeIds?.[i];
        const filter: Filter | undefined =
          ex === undefined
            ? base
            : {
                ...(base ?? {}),
                must_not: [...((base?.must_not as Condition[] | undefined) ?? []), { has_id: [ex] }],
              };
        return {
          query: Array.from(v),
          limit: Math.floor(opts.k),
          with_payload: true,
          ...(filter ? { filter } : {}),
        };
      }),
    });
    return res.map((r) =>
      r.points.map((p) => ({ id: String(p.id), similarity: p.score, payload: fromPayload(p.payload) })),
    );
  }

  async updatePayload(ids: string[], patch: Partial<Finding>): Promise<void> {
    if (ids.length === 0) return;
    const derived: Record<string, unknown> = {};
    if (patch.tactics) derived['tactic'] = patch.tactics[0]?.id ?? null;
    if (patch.techniques) derived['technique'] = patch.techniques[0]?.id ?? null;
    if (patch.src_ip !== undefined || patch.dst_ip !== undefined) {
      throw new Error('updatePayload cannot change src_ip/dst_ip: upsert the point instead');
    }
    // Only existing points are patched, like the embedded store (setPayload on a missing id fails).
    const existing = await this.client.retrieve(this.collection, {
      ids,
      with_payload: false,
      with_vector: false,
    });
    if (existing.length === 0) return;
    await this.client.setPayload(this.collection, {
      wait: true,
      points: existing.map((p) => p.id),
      payload: { ...patch, ...derived },
    });
  }

  async deleteOlderThan(ms: number): Promise<number> {
    const filter: Filter = { must: [{ key: 'window_end_ms', range: { lt: ms } }] };
    const { count } = await this.client.count(this.collection, { filter, exact: true });
    if (count > 0) await this.client.delete(this.collection, { wait: true, filter });
    return count;
  }

  /** Drops the collection (tests clean up with it). */
  async drop(): Promise<void> {
    await this.client.deleteCollection(this.collection);
  }

  async close(): Promise<void> {}
}

function toPayload(f: Finding): Record<string, unknown> {
  const src = ipNumeric(f.src_ip);
  const dst = ipNumeric(f.dst_ip);
  const p: Record<string, unknown> = { ...f, tactic: topTactic(f), technique: topTechnique(f) };
  if (src.v4 !== null) p['src_ip4'] = src.v4;
  if (dst.v4 !== null) p['dst_ip4'] = dst.v4;
  if (src.v6) [p['src_ip6_hi'], p['src_ip6_mid'], p['src_ip6_lo']] = src.v6;
  if (dst.v6) [p['dst_ip6_hi'], p['dst_ip6_mid'], p['dst_ip6_lo']] = dst.v6;
  return p;
}

function fromPayload(payload: Record<string, unknown> | null | undefined): Finding {
  const p = { ...(payload ?? {}) };
  for (const k of DERIVED_KEYS) delete p[k];
  return withReflectionDefault(p) as Finding;
}

function ipConditions(side: 'src' | 'dst', text: string): Condition[] {
  const m = parseIpFilter(text);
  if (m.kind === 'exact') return [{ key: `${side}_ip`, match: { value: m.ip } }];
  if (m.kind === 'v4') return [{ key: `${side}_ip4`, range: { gte: m.lo, lte: m.hi } }];
  const lo = splitV6(m.lo);
  const hi = splitV6(m.hi);
  const keys = [`${side}_ip6_hi`, `${side}_ip6_mid`, `${side}_ip6_lo`];
  // The first part whose bits the prefix does not fully fix carries the range; earlier ones are equal.
  const rangePart = m.prefix <= 48 ? 0 : m.prefix <= 96 ? 1 : 2;
  const out: Condition[] = [];
  for (let i = 0; i <= rangePart; i++) {
    out.push({ key: keys[i] as string, range: { gte: lo[i] as number, lte: hi[i] as number } });
  }
  return out;
}

export function toFilter(filter: FindingFilter | undefined): Filter | undefined {
  if (!filter) return undefined;
  const must: Condition[] = [];
  if (filter.fromMs !== undefined) must.push({ key: 'window_end_ms', range: { gte: filter.fromMs } });
  if (filter.toMs !== undefined) must.push({ key: 'window_start_ms', range: { lt: filter.toMs } });
  if (filter.verdict !== undefined) must.push({ key: 'verdict', match: { value: filter.verdict } });
  if (filter.severity !== undefined) must.push({ key: 'severity', match: { any: [...filter.severity] } });
  if (filter.status !== undefined) must.push({ key: 'status', match: { any: [...filter.status] } });
  if (filter.tactic !== undefined) must.push({ key: 'tactic', match: { value: filter.tactic } });
  if (filter.technique !== undefined) must.push({ key: 'technique', match: { value: filter.technique } });
  if (filter.srcIp !== undefined) must.push(...ipConditions('src', filter.srcIp));
  if (filter.dstIp !== undefined) must.push(...ipConditions('dst', filter.dstIp));
  if (filter.modelVersion !== undefined)
    must.push({ key: 'model_version', match: { value: filter.modelVersion } });
  if (filter.minScore !== undefined) must.push({ key: 'score', range: { gte: filter.minScore } });
  if (filter.sequenceIds !== undefined) must.push({ has_id: filter.sequenceIds });
  const noLabel: Condition[] = [{ is_null: { key: 'label' } }, { is_empty: { key: 'label' } }];
  if (filter.labelled === false) must.push({ should: noLabel });
  const mustNot = filter.labelled === true ? noLabel : [];
  if (must.length === 0 && mustNot.length === 0) return undefined;
  return { ...(must.length > 0 ? { must } : {}), ...(mustNot.length > 0 ? { must_not: mustNot } : {}) };
}
