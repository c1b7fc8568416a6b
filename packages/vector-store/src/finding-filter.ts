import type { Finding } from '@tidewatch/contracts';
import { type IpMatcher, ipMatches, parseIpFilter } from './ip-range.ts';
import type { FacetField, FindingFilter, SortField } from './store.ts';

/** The top tactic / technique id: what the `tactic` / `technique` filters and facets look at. */
export function topTactic(f: Finding): string | null {
  return f.tactics[0]?.id ?? null;
}

export function topTechnique(f: Finding): string | null {
  return f.techniques[0]?.id ?? null;
}

/** Compiles a filter once into a predicate (the embedded store runs it per point). */
export function compileFilter(filter: FindingFilter | undefined): ((f: Finding) => boolean) | null {
  if (!filter) return null;
  const tests: ((f: Finding) => boolean)[] = [];
  const { fromMs, toMs, verdict, severity, tactic, technique, srcIp, dstIp, status, modelVersion, minScore } =
    filter;
  if (fromMs !== undefined) tests.push((f) => f.window_end_ms >= fromMs);
  if (toMs !== undefined) tests.push((f) => f.window_start_ms < toMs);
  if (verdict !== undefined) tests.push((f) => f.verdict === verdict);
  if (severity !== undefined) {
    const set = new Set<string>(severity);
    tests.push((f) => set.has(f.severity));
  }
  if (status !== undefined) {
    const set = new Set<string>(status);
    tests.push((f) => set.has(f.status));
  }
  if (tactic !== undefined) tests.push((f) => topTactic(f) === tactic);
  if (technique !== undefined) tests.push((f) => topTechnique(f) === technique);
  if (srcIp !== undefined) {
    const m: IpMatcher = parseIpFilter(srcIp);
    tests.push((f) => ipMatches(m, f.src_ip));
  }
  if (dstIp !== undefined) {
    const m: IpMatcher = parseIpFilter(dstIp);
    tests.push((f) => ipMatches(m, f.dst_ip));
  }
  if (modelVersion !== undefined) tests.push((f) => f.model_version === modelVersion);
  if (minScore !== undefined) tests.push((f) => f.score >= minScore);
  if (filter.sequenceIds !== undefined) {
    const set = new Set(filter.sequenceIds);
    tests.push((f) => set.has(f.sequence_id));
  }
  if (filter.labelled !== undefined) {
    const want = filter.labelled;
    tests.push((f) => (f.label !== null && f.label !== undefined) === want);
  }
  if (tests.length === 0) return null;
  if (tests.length === 1) return tests[0] ?? null;
  return (f) => {
    for (const t of tests) if (!t(f)) return false;
    return true;
  };
}

export function sortValue(f: Finding, field: SortField): number {
  return f[field];
}

/** The values a point contributes to a facet (dst_port: each distinct responder port). */
export function facetValues(f: Finding, field: FacetField): string[] {
  switch (field) {
    case 'tactic': {
      const t = topTactic(f);
      return t === null ? [] : [t];
    }
    case 'technique': {
      const t = topTechnique(f);
      return t === null ? [] : [t];
    }
    case 'dst_port':
      return [...new Set(f.dst_ports)].map(String);
    default:
      return [String(f[field])];
  }
}

/** Facet order shared by every backend: count descending, then value ascending. */
export function orderFacets(counts: Map<string, number>, limit: number): { value: string; count: number }[] {
  return [...counts]
    .map(([value, count]) => ({ value, count }))
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
    .slice(0, limit);
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

export interface SortCursor {
  /** Sort value of the last item returned (absent when listing in id order). */
  v?: number;
  /** Id of the last item returned. */
  id: string;
  /** Qdrant only: ids already returned that share the value `v` (order_by has no tie-breaker). */
  seen?: string[];
}

export function encodeCursor(c: SortCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(text: string): SortCursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as SortCursor;
    if (typeof c.id !== 'string') throw new Error('no id');
    return c;
  } catch (e) {
    throw new InvalidCursorError(`invalid cursor: ${e instanceof Error ? e.message : String(e)}`);
  }
}
