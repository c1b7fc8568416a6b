import type { Counted, Finding, ForensicsData, OverviewData, Page, SimilarFinding } from './api.ts';

// The API's JSON mapped onto what the pages draw. Each reader accepts the route's documented
// shape (see /openapi.json) and tolerates the obvious alternatives, so a renamed field shows up
// as an empty chart rather than a crash.

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function num(...vs: unknown[]): number {
  for (const v of vs) if (typeof v === 'number' && Number.isFinite(v)) return v;
  return 0;
}

function arr(...vs: unknown[]): unknown[] {
  for (const v of vs) if (Array.isArray(v)) return v;
  return [];
}

/** [{value|key|id|ip|port, count, name?}] or {key: count} → Counted[] */
export function counted(v: unknown): Counted[] {
  if (Array.isArray(v))
    return v.map((item) => {
      const o = obj(item);
      const key = o['id'] ?? o['key'] ?? o['value'] ?? o['ip'] ?? o['port'] ?? o['tactic'] ?? '';
      const label = o['name'] ?? o['label'];
      return {
        key: String(key),
        ...(typeof label === 'string' ? { label } : {}),
        count: num(o['count'], o['sequences'], o['findings'], o['value']),
        ...(typeof o['first_seen_ms'] === 'number' ? { first_seen_ms: o['first_seen_ms'] } : {}),
        ...(typeof o['last_seen_ms'] === 'number' ? { last_seen_ms: o['last_seen_ms'] } : {}),
      };
    });
  return Object.entries(obj(v)).map(([key, count]) => ({ key, count: num(count) }));
}

function timeBuckets(v: unknown) {
  return arr(v).map((item) => {
    const o = obj(item);
    return {
      t: num(o['t'], o['bucket_start_ms'], o['start_ms'], o['time_ms'], o['ts']),
      count: num(o['count'], o['sequences'], o['total']),
      suspicious: num(o['suspicious'], o['malicious']),
      fwd_bytes: num(o['fwd_bytes']),
      bwd_bytes: num(o['bwd_bytes']),
      connections: num(o['connections']),
    };
  });
}

export function normaliseOverview(v: unknown): OverviewData {
  const o = obj(v);
  const totals = obj(o['totals']);
  return {
    unique_pairs: num(
      o['unique_pairs'],
      o['unique_ip_pairs'],
      totals['unique_pairs'],
      totals['unique_ip_pairs'],
    ),
    sequences: num(o['sequences'], o['total_sequences'], totals['sequences']),
    flows: num(o['flows'], o['total_flows'], totals['flows']),
    suspicious: num(o['suspicious'], totals['suspicious']),
    unclassified: num(o['unclassified'], totals['unclassified']),
    tactics: counted(o['tactics'] ?? o['tactic_distribution']),
    top_src_ips: counted(o['top_src_ips'] ?? o['top_sources']),
    top_dst_ports: counted(o['top_dst_ports'] ?? o['top_ports']),
    over_time: timeBuckets(o['over_time'] ?? o['findings_over_time'] ?? o['timeline']),
  };
}

export function normaliseForensics(v: unknown): ForensicsData {
  const o = obj(v);
  const totals = obj(o['totals']);
  return {
    connections: num(o['connections'], totals['connections']),
    fwd_bytes: num(o['fwd_bytes'], totals['fwd_bytes']),
    bwd_bytes: num(o['bwd_bytes'], totals['bwd_bytes']),
    sequences: num(o['sequences'], totals['sequences']),
    suspicious: num(o['suspicious'], totals['suspicious']),
    tactics: counted(o['tactics'] ?? o['tactic_distribution']),
    truncated: o['truncated'] === true,
  };
}

export function normalisePage<T>(v: unknown): Page<T> {
  const o = obj(v);
  const next = o['next_cursor'] ?? o['nextCursor'] ?? o['cursor'];
  const total = o['total'];
  return {
    items: arr(o['items'], o['findings'], o['data'], v) as T[],
    next_cursor: typeof next === 'string' && next ? next : null,
    ...(typeof total === 'number' ? { total } : {}),
  };
}

export function normaliseSimilar(v: unknown): SimilarFinding[] {
  return arr(obj(v)['items'], obj(v)['similar'], obj(v)['neighbours'], v).map((item) => {
    const o = obj(item);
    const finding = (o['finding'] ?? o['payload'] ?? o) as Finding;
    return { finding, similarity: num(o['similarity'], o['score']) };
  });
}

export function unwrapFinding(v: unknown): Finding {
  const o = obj(v);
  return (o['finding'] && typeof o['finding'] === 'object' ? o['finding'] : o) as Finding;
}

/** The tactic a finding is shown with: the top candidate of a malicious verdict, if confident. */
export function topTactic(f: Finding) {
  const t = f.verdict === 'malicious' ? f.tactics?.[0] : undefined;
  return t && t.probability >= TACTIC_CONFIDENCE ? t : undefined;
}

/** Same cut as the API's overview: below it a suspicious finding counts as unclassified. */
export const TACTIC_CONFIDENCE = 0.5;
