// The query API as the UI sees it. Field names follow packages/contracts (Finding) and the
// query-api route schemas (/openapi.json); the UI only reads what it shows.

import type { Finding as ContractFinding, SequenceFlow } from '@tidewatch/contracts/types';

export type {
  AttackCandidate,
  FindingStatus,
  Neighbour,
  Severity,
  Verdict,
} from '@tidewatch/contracts/types';

/** A finding as the API returns it: the contract plus what the query API adds. */
export interface Finding extends ContractFinding {
  src_device_type?: string | null;
  dst_device_type?: string | null;
  feedback?: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total?: number;
}

export interface SimilarFinding {
  finding: Finding;
  similarity: number;
}

export interface Counted {
  key: string;
  label?: string;
  count: number;
  first_seen_ms?: number;
  last_seen_ms?: number;
}

export interface OverviewData {
  unique_pairs: number;
  sequences: number;
  flows: number;
  suspicious: number;
  unclassified: number;
  tactics: Counted[];
  top_src_ips: Counted[];
  top_dst_ports: Counted[];
  over_time: { t: number; count: number; suspicious: number }[];
}

export interface ForensicsData {
  connections: number;
  fwd_bytes: number;
  bwd_bytes: number;
  sequences: number;
  suspicious: number;
  tactics: Counted[];
  truncated: boolean;
}

/** One flow of a sequence, initiator → responder. */
export type EvidenceFlow = SequenceFlow;

export interface Evidence {
  sequence_id: string;
  src_ip: string;
  dst_ip: string;
  window_start_ms: number;
  window_end_ms: number;
  flows: EvidenceFlow[];
}

export interface Case {
  id: string;
  title: string;
  description: string;
  status: 'open' | 'in_progress' | 'closed';
  priority: 'low' | 'medium' | 'high' | 'critical';
  notes: { at_ms: number; author: string; text: string }[];
  finding_ids: string[];
  created_by: string;
  created_at_ms: number;
  updated_at_ms: number;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const KEY_STORAGE = 'tidewatch.apiKey';

export const session = {
  key(): string | null {
    return sessionStorage.getItem(KEY_STORAGE);
  },
  signIn(key: string): void {
    sessionStorage.setItem(KEY_STORAGE, key);
  },
  signOut(): void {
    sessionStorage.removeItem(KEY_STORAGE);
  },
};

type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function queryString(q: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v)) for (const item of v) params.append(k, item);
    else params.set(k, String(v));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

/** Thrown-away listeners hear about a 401 so the shell can send the analyst back to sign-in. */
const unauthorisedListeners = new Set<() => void>();
export function onUnauthorised(fn: () => void): () => void {
  unauthorisedListeners.add(fn);
  return () => unauthorisedListeners.delete(fn);
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  key = session.key(),
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers['authorization'] = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) for (const fn of unauthorisedListeners) fn();
  const text = await res.text();
  if (!res.ok) {
    let message = `${method} ${path}: HTTP ${res.status}`;
    try {
      const err = JSON.parse(text) as { message?: string; error?: string };
      message = err.message ?? err.error ?? message;
    } catch {
      if (text) message = text.slice(0, 200);
    }
    throw new ApiError(res.status, message);
  }
  if (!text) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  return (type.includes('json') ? JSON.parse(text) : text) as T;
}

/** GETs started before the app code arrived (see main.tsx), consumed once by the page that asks. */
const early = new Map<string, Promise<unknown>>();

export function prefetch(url: string): void {
  const p = request('GET', url);
  p.catch(() => undefined); // the page that consumes it reports the error
  early.set(url, p);
}

export const api = {
  get: <T>(path: string, q: Query = {}): Promise<T> => {
    const url = path + queryString(q);
    const started = early.get(url);
    if (started) {
      early.delete(url);
      return started as Promise<T>;
    }
    return request<T>('GET', url);
  },
  post: <T>(path: string, body: unknown = {}) => request<T>('POST', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  del: <T>(path: string) => request<T>('DELETE', path),
  /** Downloads a non-JSON export with the key attached (a plain link cannot carry the header). */
  async download(path: string, filename: string): Promise<void> {
    const key = session.key();
    const res = await fetch(path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
    if (!res.ok) throw new ApiError(res.status, `${path}: HTTP ${res.status}`);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = filename;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  },
};
