import {
  FINDING_STATUSES,
  type Finding,
  type FindingStatus,
  SEVERITIES,
  type Severity,
  VERDICTS,
  type Verdict,
} from '@tidewatch/contracts';
import type { FindingFilter, SortField, VectorStore } from '@tidewatch/vector-store';
import type { DeviceTypeIndex } from './device-types.ts';
import { addressError } from './device-types.ts';
import { badRequest, notFound } from './errors.ts';
import type { OverviewAggregates } from './overview-aggregates.ts';
import type { Evidence, QueryStores } from './stores/domain.ts';

export type ApiFinding = Finding & {
  id: string;
  src_device_type: string | null;
  dst_device_type: string | null;
};

/** Query-string form of a findings filter (the REST API, MCP tools and /v1/ask share it). */
export interface FilterParams {
  from?: string | number;
  to?: string | number;
  verdict?: string;
  severity?: string;
  tactic?: string;
  technique?: string;
  src_ip?: string;
  dst_ip?: string;
  status?: string;
  model_version?: string;
  min_score?: number;
}

export const SORTS = ['score', 'window_start_ms', 'anomaly', 'scored_at_ms'] as const;
/** Statuses the finding list shows when no status filter is given: everything but suppressed. */
export const DEFAULT_STATUSES: FindingStatus[] = FINDING_STATUSES.filter((s) => s !== 'suppressed');

export function parseTime(value: string | number | undefined, field: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return value;
  if (/^\d+$/.test(value)) return Number(value);
  const rel = /^now(?:-(\d+)([smhd]))?$/.exec(value);
  if (rel) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[rel[2] as 's' | 'm' | 'h' | 'd'] ?? 0;
    return Date.now() - Number(rel[1] ?? 0) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw badRequest(field, `${field} must be epoch milliseconds, an ISO-8601 time or now-<n><s|m|h|d>`);
  return t;
}

function csvEnum<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  field: string,
): T[] | undefined {
  if (!value) return undefined;
  const parts = value.split(',').map((s) => s.trim());
  for (const p of parts)
    if (!allowed.includes(p as T))
      throw badRequest(field, `${field} must be one of ${allowed.join(', ')}; got "${p}"`);
  return parts as T[];
}

export function toFilter(p: FilterParams, opts: { defaultStatus?: boolean } = {}): FindingFilter {
  const f: FindingFilter = {};
  const from = parseTime(p.from, 'from');
  const to = parseTime(p.to, 'to');
  if (from !== undefined) f.fromMs = from;
  if (to !== undefined) f.toMs = to;
  if (from !== undefined && to !== undefined && from >= to)
    throw badRequest('from', 'from must be before to');
  if (p.verdict) {
    if (!VERDICTS.includes(p.verdict as Verdict))
      throw badRequest('verdict', `verdict must be one of ${VERDICTS.join(', ')}`);
    f.verdict = p.verdict as Verdict;
  }
  const sev = csvEnum<Severity>(p.severity, SEVERITIES, 'severity');
  if (sev) f.severity = sev;
  const status = csvEnum<FindingStatus>(p.status, FINDING_STATUSES, 'status');
  if (status) f.status = status;
  else if (opts.defaultStatus !== false) f.status = DEFAULT_STATUSES;
  if (p.tactic) f.tactic = p.tactic;
  if (p.technique) f.technique = p.technique;
  for (const [key, field] of [
    ['src_ip', 'srcIp'],
    ['dst_ip', 'dstIp'],
  ] as const) {
    const v = p[key];
    if (!v) continue;
    const err = addressError(v);
    if (err) throw badRequest(key, `${key}: ${err}`);
    f[field] = v;
  }
  if (p.model_version) f.modelVersion = p.model_version;
  if (p.min_score !== undefined) f.minScore = p.min_score;
  return f;
}

export function parseSort(sort: string | undefined): { field: SortField; order: 'asc' | 'desc' } {
  if (!sort) return { field: 'window_start_ms', order: 'desc' };
  const desc = sort.startsWith('-');
  const field = (desc ? sort.slice(1) : sort) as SortField;
  if (!SORTS.includes(field))
    throw badRequest('sort', `sort must be one of ${SORTS.join(', ')} (prefix - for descending)`);
  return { field, order: desc ? 'desc' : 'asc' };
}

export interface ForensicsResult {
  src_ip: string | null;
  dst_ip: string | null;
  from_ms: number | null;
  to_ms: number | null;
  sequences: number;
  connections: number;
  fwd_bytes: number;
  bwd_bytes: number;
  fwd_pkts: number;
  bwd_pkts: number;
  suspicious: number;
  first_seen_ms: number | null;
  last_seen_ms: number | null;
  tactics: { id: string; name: string; count: number; first_seen_ms: number; last_seen_ms: number }[];
  techniques: { id: string; name: string; count: number; first_seen_ms: number; last_seen_ms: number }[];
  top_dst_ports: { port: number; count: number }[];
  /** True when more findings matched than the scan limit; the sums cover the first ones. */
  truncated: boolean;
}

export interface RollupEntry {
  id: string;
  name: string;
  count: number;
  first_seen_ms: number;
  last_seen_ms: number;
  max_score: number;
}

/** The read side shared by the REST routes, the MCP tools and /v1/ask. */
export class FindingQueries {
  constructor(
    readonly store: VectorStore,
    readonly stores: QueryStores,
    readonly aggregates: OverviewAggregates,
    readonly devices: DeviceTypeIndex,
    private readonly forensicsScanLimit = 100_000,
  ) {}

  async decorate(findings: Finding[]): Promise<ApiFinding[]> {
    await this.devices.refresh();
    return findings.map((f) => ({
      ...f,
      id: f.sequence_id,
      src_device_type: this.devices.lookup(f.src_ip),
      dst_device_type: this.devices.lookup(f.dst_ip),
    }));
  }

  async list(params: FilterParams & { sort?: string; limit?: number; cursor?: string }) {
    const filter = toFilter(params);
    const { items, nextCursor } = await this.store.list({
      filter,
      sort: parseSort(params.sort),
      limit: params.limit ?? 50,
      cursor: params.cursor ?? null,
    });
    return { items: await this.decorate(items), next_cursor: nextCursor };
  }

  async get(id: string): Promise<ApiFinding> {
    const point = await this.store.get(id, { withVector: false });
    if (!point) throw notFound(`finding ${id}`);
    const [f] = await this.decorate([point.payload]);
    return f as ApiFinding;
  }

  async vectorOf(id: string): Promise<{ vector: number[]; payload: Finding }> {
    const point = await this.store.get(id, { withVector: true });
    if (!point) throw notFound(`finding ${id}`);
    return point;
  }

  async similarTo(
    vector: number[],
    k: number,
    params: FilterParams & { min_similarity?: number },
    excludeId?: string,
  ) {
    const filter = toFilter(params, { defaultStatus: false });
    const hits = await this.store.similar(vector, { k, filter, ...(excludeId ? { excludeId } : {}) });
    const kept = hits.filter((h) => h.similarity >= (params.min_similarity ?? -1));
    const decorated = await this.decorate(kept.map((h) => h.payload));
    return decorated.map((f, i) => ({ similarity: kept[i]?.similarity ?? 0, finding: f }));
  }

  async similar(id: string, k: number, params: FilterParams & { min_similarity?: number }) {
    const { vector } = await this.vectorOf(id);
    return this.similarTo(vector, k, params, id);
  }

  async evidence(id: string): Promise<Evidence> {
    const ev = await this.stores.evidence.get(id);
    if (ev) return ev;
    if (!(await this.store.get(id))) throw notFound(`finding ${id}`);
    throw notFound(`evidence for finding ${id}`);
  }

  /** Findings matched by a filter, paged through the store up to the scan limit. */
  async *scan(filter: FindingFilter, limit = this.forensicsScanLimit): AsyncGenerator<Finding> {
    let cursor: string | null = null;
    let n = 0;
    do {
      const page: { items: Finding[]; nextCursor: string | null } = await this.store.list({
        filter,
        sort: { field: 'window_start_ms', order: 'asc' },
        limit: Math.min(1000, limit - n),
        cursor,
      });
      for (const f of page.items) {
        yield f;
        n++;
      }
      cursor = page.nextCursor;
    } while (cursor && n < limit);
  }

  async forensics(params: FilterParams): Promise<ForensicsResult> {
    const filter = toFilter({ ...params }, { defaultStatus: false });
    const out: ForensicsResult = {
      src_ip: params.src_ip ?? null,
      dst_ip: params.dst_ip ?? null,
      from_ms: filter.fromMs ?? null,
      to_ms: filter.toMs ?? null,
      sequences: 0,
      connections: 0,
      fwd_bytes: 0,
      bwd_bytes: 0,
      fwd_pkts: 0,
      bwd_pkts: 0,
      suspicious: 0,
      first_seen_ms: null,
      last_seen_ms: null,
      tactics: [],
      techniques: [],
      top_dst_ports: [],
      truncated: false,
    };
    const tactics = new Map<string, RollupEntry>();
    const techniques = new Map<string, RollupEntry>();
    const ports = new Map<number, number>();
    let n = 0;
    for await (const f of this.scan(filter, this.forensicsScanLimit + 1)) {
      if (++n > this.forensicsScanLimit) {
        out.truncated = true;
        break;
      }
      out.sequences++;
      out.connections += f.connections;
      out.fwd_bytes += f.fwd_bytes;
      out.bwd_bytes += f.bwd_bytes;
      out.fwd_pkts += f.fwd_pkts;
      out.bwd_pkts += f.bwd_pkts;
      out.first_seen_ms = Math.min(out.first_seen_ms ?? f.first_seen_ms, f.first_seen_ms);
      out.last_seen_ms = Math.max(out.last_seen_ms ?? f.last_seen_ms, f.last_seen_ms);
      for (const p of f.dst_ports) ports.set(p, (ports.get(p) ?? 0) + 1);
      if (f.verdict !== 'malicious') continue;
      out.suspicious++;
      roll(tactics, f, f.tactics[0]);
      roll(techniques, f, f.techniques[0]);
    }
    const strip = ({ max_score: _m, ...r }: RollupEntry) => r;
    out.tactics = [...tactics.values()].sort((a, b) => b.count - a.count).map(strip);
    out.techniques = [...techniques.values()].sort((a, b) => b.count - a.count).map(strip);
    out.top_dst_ports = [...ports]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, 10)
      .map(([port, count]) => ({ port, count }));
    return out;
  }

  /** Techniques seen (top technique of malicious findings) with counts and first/last seen. */
  async techniqueRollup(
    params: FilterParams,
  ): Promise<{ techniques: RollupEntry[]; tactics: RollupEntry[]; truncated: boolean }> {
    const filter = toFilter(params, { defaultStatus: false });
    filter.verdict = 'malicious';
    const tactics = new Map<string, RollupEntry>();
    const techniques = new Map<string, RollupEntry>();
    let n = 0;
    let truncated = false;
    for await (const f of this.scan(filter, this.forensicsScanLimit + 1)) {
      if (++n > this.forensicsScanLimit) {
        truncated = true;
        break;
      }
      roll(tactics, f, f.tactics[0]);
      roll(techniques, f, f.techniques[0]);
    }
    const sorted = (m: Map<string, RollupEntry>) =>
      [...m.values()].sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : 1));
    return { techniques: sorted(techniques), tactics: sorted(tactics), truncated };
  }
}

function roll(into: Map<string, RollupEntry>, f: Finding, c: { id: string; name: string } | undefined): void {
  if (!c) return;
  const e = into.get(c.id);
  if (!e) {
    into.set(c.id, {
      id: c.id,
      name: c.name,
      count: 1,
      first_seen_ms: f.first_seen_ms,
      last_seen_ms: f.last_seen_ms,
      max_score: f.score,
    });
    return;
  }
  e.count++;
  e.first_seen_ms = Math.min(e.first_seen_ms, f.first_seen_ms);
  e.last_seen_ms = Math.max(e.last_seen_ms, f.last_seen_ms);
  e.max_score = Math.max(e.max_score, f.score);
}
