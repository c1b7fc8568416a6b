import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MessageBus } from '@tidewatch/bus';
import type { Finding, Sequence, SequenceFlow } from '@tidewatch/contracts';
import { uniqueName } from '@tidewatch/testing';
import { EmbeddedStore, type StoredPoint } from '@tidewatch/vector-store';
import { Redis } from 'ioredis';
import { createApp, type QueryApi, type QueryApiDeps } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import {
  type DocumentStore,
  EmbeddedDocumentStore,
  RedisDocumentStore,
} from '../src/stores/document-store.ts';

export const DIM = 8;
export const ADMIN_KEY = 'test-admin-key-0123456789abcdef';
export const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

/** A deterministic UUID-shaped id for test finding n. */
export function seqId(n: number): string {
  const h = createHash('sha256').update(`finding-${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const TACTICS = [
  { id: 'TA0007', name: 'Discovery' },
  { id: 'TA0011', name: 'Command and Control' },
  { id: 'TA0010', name: 'Exfiltration' },
  { id: 'TA0006', name: 'Credential Access' },
];
const TECHNIQUES = [
  { id: 'T1046', name: 'Network Service Discovery' },
  { id: 'T1071', name: 'Application Layer Protocol' },
  { id: 'T1048', name: 'Exfiltration Over Alternative Protocol' },
  { id: 'T1110', name: 'Brute Force' },
];

/** Finding n: every 3rd one malicious, tactic by n mod 4, 10 sources, one hour apart per 10. */
export function makeFinding(n: number, over: Partial<Finding> = {}): Finding {
  const malicious = n % 3 === 0;
  const t = n % 4;
  const start = T0 + Math.floor(n / 10) * 3_600_000;
  return {
    sequence_id: seqId(n),
    window_start_ms: start,
    window_end_ms: start + 300_000,
    first_seen_ms: start + 1000,
    last_seen_ms: start + 200_000,
    src_ip: `10.0.0.${(n % 10) + 1}`,
    dst_ip: `192.168.1.${(n % 5) + 1}`,
    dst_ports: [[22, 80, 443, 53][t] as number],
    protocols: [6],
    connections: 2 + (n % 3),
    fwd_bytes: 1000 + n,
    bwd_bytes: 500 + n,
    fwd_pkts: 10,
    bwd_pkts: 5,
    score: malicious ? 0.9 : 0.1,
    anomaly: 0.2,
    verdict: malicious ? 'malicious' : 'benign',
    tactics: malicious ? [{ ...(TACTICS[t] as { id: string; name: string }), probability: 0.8 }] : [],
    techniques: malicious ? [{ ...(TECHNIQUES[t] as { id: string; name: string }), probability: 0.7 }] : [],
    severity: malicious ? (n % 2 === 0 ? 'high' : 'medium') : 'info',
    model_version: 'flow-0.1.0',
    status: 'new',
    explanation: {
      subscores: { beacon: 0, scan: 0, brute_force: 0, exfiltration: 0, reflection: 0 },
      top_features: [],
      neighbours: [],
    },
    suppressed_by: null,
    label: null,
    scored_at_ms: start + 310_000,
    ...over,
  };
}

/** Vector of finding n: one of four directions by tactic, slightly perturbed. */
export function makeVector(n: number): number[] {
  const v = new Array<number>(DIM).fill(0.01);
  v[n % 4] = 1;
  v[4 + (n % 4)] = 0.05 * ((n % 7) / 7);
  return v;
}

export function makeFlows(n: number, count = 3): SequenceFlow[] {
  const f = makeFinding(n);
  return Array.from({ length: count }, (_, i) => ({
    start_ms: f.window_start_ms + i * 1000,
    end_ms: f.window_start_ms + i * 1000 + 500,
    protocol: 6,
    src_port: 40000 + i,
    dst_port: f.dst_ports[0] as number,
    fwd_bytes: 100 + i,
    fwd_pkts: 2,
    bwd_bytes: 50,
    bwd_pkts: 1,
    tcp_flags: 0x1b,
    label: null,
    attack: null,
    origin: `test:${n}`,
    sampling_rate: 1,
  }));
}

export function makeSequence(n: number): Sequence {
  const f = makeFinding(n);
  return {
    sequence_id: f.sequence_id,
    src_ip: f.src_ip,
    dst_ip: f.dst_ip,
    window_start_ms: f.window_start_ms,
    window_end_ms: f.window_end_ms,
    part: 0,
    flows: makeFlows(n),
    context: { distinct_dsts: 1, distinct_dst_ports: 1, connections: 3 },
  };
}

export interface Keys {
  admin: string;
  read: string;
  write: string;
}

// biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
export type Json = any;

export interface Harness {
  api: QueryApi;
  url: string;
  keys: Keys;
  store: EmbeddedStore;
  docs: DocumentStore;
  dataDir: string;
  call(
    method: string,
    path: string,
    opts?: { key?: string | null; body?: unknown },
  ): Promise<{ status: number; body: Json; text: string; headers: Headers }>;
  close(): Promise<void>;
}

export type Backend = 'embedded' | 'redis';

/** Starts the app on port 0 with the embedded vector store and the chosen document-store backend. */
export async function startHarness(
  opts: {
    backend?: Backend;
    seed?: number;
    env?: Record<string, string>;
    deps?: Partial<QueryApiDeps>;
    bus?: MessageBus;
  } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'tw-query-api-'));
  const store = new EmbeddedStore({ dir: join(dir, 'vectors'), dim: DIM, fsync: false });
  await store.init();
  if (opts.seed) {
    const points: StoredPoint[] = [];
    for (let n = 0; n < opts.seed; n++)
      points.push({ id: seqId(n), vector: makeVector(n), payload: makeFinding(n) });
    await store.upsert(points);
  }
  const namespace = uniqueName('twq');
  let redis: Redis | null = null;
  let docs: DocumentStore;
  if (opts.backend === 'redis') {
    redis = new Redis(process.env['REDIS_URL'] as string);
    docs = new RedisDocumentStore(redis, namespace);
  } else docs = new EmbeddedDocumentStore(join(dir, 'query-api'));
  const config = loadConfig({
    TIDEWATCH_HTTP_PORT: '0',
    TIDEWATCH_HTTP_HOST: '127.0.0.1',
    TIDEWATCH_DATA_DIR: dir,
    TIDEWATCH_ADMIN_KEY: ADMIN_KEY,
    TIDEWATCH_NAMESPACE: namespace,
    TIDEWATCH_WEBHOOK_RETRY_MS: '200,200,200',
    TIDEWATCH_WEBHOOK_TIMEOUT_MS: '2000',
    ...(opts.env ?? {}),
  });
  const api = await createApp(config, {
    store,
    docs,
    ui: false,
    ...(opts.bus ? { bus: opts.bus } : {}),
    ...(opts.deps ?? {}),
  });
  await api.start();
  const url = api.url;
  const call: Harness['call'] = async (method, path, o = {}) => {
    const key = o.key === undefined ? ADMIN_KEY : o.key;
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(o.body !== undefined ? { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, body, text, headers: res.headers };
  };
  const mk = async (scope: string) => {
    const r = await call('POST', '/v1/keys', { body: { name: `${scope}-key`, scopes: [scope] } });
    if (r.status !== 201) throw new Error(`key creation failed: ${r.text}`);
    return r.body.key as string;
  };
  const keys: Keys = { admin: ADMIN_KEY, read: await mk('read'), write: await mk('write') };
  return {
    api,
    url,
    keys,
    store,
    docs,
    dataDir: dir,
    call,
    async close() {
      await api.stop();
      await store.close();
      if (redis) {
        const found = await redis.keys(`${namespace}:*`);
        if (found.length) await redis.del(...found);
        await redis.quit();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
