import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Finding, FindingStatus, Severity } from '@tidewatch/contracts';
import {
  compileFilter,
  EmbeddedStore,
  type FindingFilter,
  type SortField,
  type StoredPoint,
} from '../src/index.ts';
import { testUuid } from './contract.ts';
import { seededRandom } from '@tidewatch/testing';

const SEVERITIES: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
const STATUSES: FindingStatus[] = ['new', 'in_progress', 'suppressed', 'resolved'];
const TACTICS = ['TA0007', 'TA0011', 'TA0010', 'TA0006'];
const TECHNIQUES = ['T1046', 'T1071', 'T1048', 'T1110'];
const T0 = Date.UTC(2026, 0, 1);
const DIM = 8;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randomFinding(r: () => number, id: string): Finding {
  const malicious = r() < 0.4;
  const start = T0 + Math.floor(r() * 40) * 60_000;
  const v6 = r() < 0.15;
  return {
    sequence_id: id,
    window_start_ms: start,
    window_end_ms: start + (r() < 0.9 ? 60_000 : 300_000),
    first_seen_ms: start,
    last_seen_ms: start + 10,
    src_ip: v6
      ? `2001:db8:${Math.floor(r() * 3)}::${Math.floor(r() * 200) + 1}`
      : `10.${Math.floor(r() * 3)}.${Math.floor(r() * 4)}.${Math.floor(r() * 20)}`,
    dst_ip:
      r() < 0.1
        ? `fd00::${Math.floor(r() * 9) + 1}`
        : `192.168.${Math.floor(r() * 3)}.${Math.floor(r() * 10)}`,
    dst_ports: [pick(r, [22, 53, 443, 8080])],
    protocols: [6],
    connections: 1 + Math.floor(r() * 20),
    fwd_bytes: Math.floor(r() * 1000),
    bwd_bytes: Math.floor(r() * 1000),
    fwd_pkts: 1,
    bwd_pkts: 1,
    // Coarse values so sorts meet many ties.
    score: Math.floor(r() * 20) / 20,
    anomaly: Math.floor(r() * 10) / 10,
    verdict: malicious ? 'malicious' : 'benign',
    tactics: malicious ? [{ id: pick(r, TACTICS), name: 'x', probability: 0.9 }] : [],
    techniques: malicious ? [{ id: pick(r, TECHNIQUES), name: 'x', probability: 0.8 }] : [],
    severity: pick(r, SEVERITIES),
    model_version: pick(r, ['v1', 'v2', 'v3']),
    status: pick(r, STATUSES),
    explanation: {
      subscores: { beacon: 0, scan: 0, brute_force: 0, exfiltration: 0, reflection: 0 },
      top_features: [],
      neighbours: [],
    },
    suppressed_by: null,
    label: r() < 0.2 ? (r() < 0.5 ? 0 : 1) : null,
    scored_at_ms: start + Math.floor(r() * 5) * 1000,
  };
}

function randomFilter(r: () => number): FindingFilter | undefined {
  if (r() < 0.1) return undefined;
  const f: FindingFilter = {};
  if (r() < 0.3) f.fromMs = T0 + Math.floor(r() * 40) * 60_000;
  if (r() < 0.3) f.toMs = T0 + Math.floor(r() * 40) * 60_000 + 1;
  if (r() < 0.25) f.verdict = pick(r, ['malicious', 'benign'] as const);
  if (r() < 0.25) f.severity = SEVERITIES.filter(() => r() < 0.4);
  if (r() < 0.25) f.status = STATUSES.filter(() => r() < 0.6);
  if (r() < 0.2) f.tactic = pick(r, [...TACTICS, 'TA9999']);
  if (r() < 0.15) f.technique = pick(r, TECHNIQUES);
  if (r() < 0.25)
    f.srcIp = pick(r, [
      '10.1.0.0/16',
      '10.0.2.0/24',
      '10.2.1.7',
      '10.0.0.0/8',
      '2001:db8:1::/48',
      '2001:db8::5',
    ]);
  if (r() < 0.2) f.dstIp = pick(r, ['192.168.1.0/24', '192.168.0.3', 'fd00::/16', '0.0.0.0/0']);
  if (r() < 0.15) f.modelVersion = pick(r, ['v1', 'v2', 'v9']);
  if (r() < 0.2) f.minScore = Math.floor(r() * 20) / 20;
  if (r() < 0.1) f.labelled = r() < 0.5;
  return f;
}

/** The list semantics by brute force: filter, order by (value, id) with the id ascending on ties. */
function referenceList(
  all: Finding[],
  filter: FindingFilter | undefined,
  sort: { field: SortField; order: 'asc' | 'desc' } | undefined,
): string[] {
  const pred = compileFilter(filter);
  const rows = all.filter((f) => !pred || pred(f));
  const byId = (a: Finding, b: Finding) =>
    a.sequence_id < b.sequence_id ? -1 : a.sequence_id > b.sequence_id ? 1 : 0;
  if (!sort) rows.sort(byId);
  else {
    const dir = sort.order === 'desc' ? -1 : 1;
    rows.sort((a, b) => dir * (a[sort.field] - b[sort.field]) || byId(a, b));
  }
  return rows.map((f) => f.sequence_id);
}

async function pageAll(
  store: EmbeddedStore,
  filter: FindingFilter | undefined,
  sort: { field: SortField; order: 'asc' | 'desc' } | undefined,
  limit: number,
): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 10_000; pages++) {
    const res: { items: Finding[]; nextCursor: string | null } = await store.list({
      ...(filter ? { filter } : {}),
      ...(sort ? { sort } : {}),
      limit,
      cursor,
    });
    out.push(...res.items.map((f) => f.sequence_id));
    assert.ok(res.items.length <= limit);
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return out;
}

const SORTS: ({ field: SortField; order: 'asc' | 'desc' } | undefined)[] = [
  undefined,
  { field: 'window_start_ms', order: 'desc' },
  { field: 'window_start_ms', order: 'asc' },
  { field: 'score', order: 'desc' },
  { field: 'score', order: 'asc' },
  { field: 'anomaly', order: 'desc' },
  { field: 'scored_at_ms', order: 'asc' },
];

describe('EmbeddedStore list indexes against a brute-force reference', () => {
  let dir: string;
  let store: EmbeddedStore;
  const r = seededRandom(7);
  const live = new Map<string, Finding>();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-embedded-idx-'));
    store = new EmbeddedStore({ dir, dim: DIM, fsync: false });
    await store.init();
    const pts: StoredPoint[] = [];
    for (let i = 0; i < 2500; i++) {
      const id = testUuid(`idx-${i}`);
      const f = randomFinding(r, id);
      live.set(id, f);
      pts.push({ id, vector: Array.from({ length: DIM }, () => r() - 0.5), payload: f });
    }
    await store.upsert(pts);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function checkRandomQueries(rounds: number): Promise<void> {
    const all = [...live.values()];
    for (let q = 0; q < rounds; q++) {
      const filter = randomFilter(r);
      const sort = pick(r, SORTS);
      const limit = pick(r, [1, 7, 50, 400]);
      const want = referenceList(all, filter, sort);
      const got = await pageAll(store, filter, sort, limit);
      assert.deepEqual(
        got,
        want,
        `filter ${JSON.stringify(filter)} sort ${JSON.stringify(sort)} limit ${limit}`,
      );
      assert.equal(await store.count(filter), want.length, `count ${JSON.stringify(filter)}`);
    }
  }

  it('every filter, sort and page size pages exactly like the reference', async () => {
    await checkRandomQueries(120);
  });

  it('facets count what the reference counts', async () => {
    for (let q = 0; q < 20; q++) {
      const filter = randomFilter(r);
      const pred = compileFilter(filter);
      const counts = new Map<string, number>();
      for (const f of live.values())
        if (!pred || pred(f)) counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1);
      const got = await store.facet('severity', filter, 10);
      assert.deepEqual(
        new Map(got.map((x) => [x.value, x.count])),
        counts,
        `facet severity ${JSON.stringify(filter)}`,
      );
    }
  });

  it('stays equal to the reference under overwrites, payload patches, deletes and retention', async () => {
    for (let round = 0; round < 4; round++) {
      const ids = [...live.keys()];
      // Overwrite some points with new times, scores, addresses and categories.
      const over: StoredPoint[] = [];
      for (let i = 0; i < 150; i++) {
        const id = pick(r, ids);
        const f = randomFinding(r, id);
        live.set(id, f);
        over.push({ id, vector: Array.from({ length: DIM }, () => r() - 0.5), payload: f });
      }
      // And new points (some reuse slots freed by deletes).
      for (let i = 0; i < 100; i++) {
        const id = testUuid(`idx-new-${round}-${i}`);
        const f = randomFinding(r, id);
        live.set(id, f);
        over.push({ id, vector: Array.from({ length: DIM }, () => r() - 0.5), payload: f });
      }
      await store.upsert(over);
      const patched = ids.filter(() => r() < 0.05).filter((id) => live.has(id));
      const patch = { status: pick(r, STATUSES), score: Math.floor(r() * 20) / 20 };
      await store.updatePayload(patched, patch);
      for (const id of patched) live.set(id, { ...(live.get(id) as Finding), ...patch });
      const cut = T0 + (round + 1) * 4 * 60_000;
      const expired = [...live.values()].filter((f) => f.window_end_ms < cut).length;
      assert.equal(await store.deleteOlderThan(cut), expired);
      for (const [id, f] of live) if (f.window_end_ms < cut) live.delete(id);
      await checkRandomQueries(25);
    }
  });

  it('rebuilds the same indexes from the log after a restart', async () => {
    await store.close();
    store = new EmbeddedStore({ dir, dim: DIM, fsync: false });
    await store.init();
    await checkRandomQueries(25);
  });
});

describe('EmbeddedStore IVF kNN', () => {
  let dir: string;
  let store: EmbeddedStore;
  const dim = 16;
  const r = seededRandom(11);
  const vectors = new Map<string, number[]>();
  const payloads = new Map<string, Finding>();
  const unit = (v: number[]) => {
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  const cos = (a: number[], b: number[]) => {
    const x = unit(a);
    const y = unit(b);
    return x.reduce((s, v, i) => s + v * (y[i] as number), 0);
  };
  // Clustered data: 40 centres, points scattered around them.
  const centres = Array.from({ length: 40 }, () => Array.from({ length: dim }, () => r() * 2 - 1));
  const clustered = () => (pick(r, centres) as number[]).map((x) => x + (r() - 0.5) * 0.5);

  function exact(q: number[], k: number, filter?: FindingFilter, exclude?: string): string[] {
    const pred = compileFilter(filter);
    return [...vectors]
      .filter(([id]) => id !== exclude && (!pred || pred(payloads.get(id) as Finding)))
      .map(([id, v]) => ({ id, s: cos(q, v) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, k)
      .map((x) => x.id);
  }

  function recall(got: string[], want: string[]): number {
    const g = new Set(got);
    return want.length === 0 ? 1 : want.filter((id) => g.has(id)).length / want.length;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-embedded-ivf-'));
    store = new EmbeddedStore({ dir, dim, fsync: false, annMinPoints: 1000 });
    await store.init();
    const pts: StoredPoint[] = [];
    for (let i = 0; i < 6000; i++) {
      const id = testUuid(`ivf-${i}`);
      const f = randomFinding(r, id);
      const v = clustered();
      vectors.set(id, v);
      payloads.set(id, f);
      pts.push({ id, vector: v, payload: f });
    }
    await store.upsert(pts);
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers exactly until the index is built, then builds one whose calibrated recall@20 meets the target', async () => {
    assert.equal(store.annStats(), null);
    const [first] = [...vectors.keys()];
    const v0 = vectors.get(first as string) as number[];
    const before = await store.similar(v0, { k: 20, excludeId: first });
    assert.deepEqual(
      before.map((h) => h.id),
      exact(v0, 20, undefined, first),
    );
    await store.warm();
    const stats = store.annStats();
    assert.ok(stats, 'IVF index built');
    assert.equal(stats.trainedOn, 6000);
    assert.equal(stats.lists, Math.round(Math.sqrt(6000)));
    assert.ok(stats.recall >= 0.97, `calibration recall ${stats.recall}`);
    assert.ok(stats.probePoints < 6000, `probes ${stats.probePoints} of 6000 points`);
    const ids = [...vectors.keys()];
    let sum = 0;
    const Q = 40;
    for (let q = 0; q < Q; q++) {
      const id = pick(r, ids);
      const v = vectors.get(id) as number[];
      const hits = await store.similar(v, { k: 20, excludeId: id });
      assert.equal(hits.length, 20);
      for (let i = 1; i < hits.length; i++)
        assert.ok((hits[i - 1]?.similarity as number) >= (hits[i]?.similarity as number));
      for (const h of hits) assert.ok(Math.abs(h.similarity - cos(v, vectors.get(h.id) as number[])) < 1e-5);
      const exactHits = await store.similarExact(v, { k: 20, excludeId: id });
      assert.deepEqual(
        exactHits.map((h) => h.id),
        exact(v, 20, undefined, id),
      );
      sum += recall(
        hits.map((h) => h.id),
        exact(v, 20, undefined, id),
      );
    }
    assert.ok(sum / Q >= 0.9, `recall@20 on fresh queries ${sum / Q}`);
  });

  it('applies filters during the probe: only matches, recall kept for broad and selective filters', async () => {
    const ids = [...vectors.keys()];
    for (const filter of [
      { verdict: 'benign' },
      { severity: ['high', 'critical'] },
      { tactic: 'TA0011', minScore: 0.3 },
      { srcIp: '10.1.0.0/16', status: ['new', 'resolved'] },
    ] as FindingFilter[]) {
      const pred = compileFilter(filter) as (f: Finding) => boolean;
      let sum = 0;
      for (let q = 0; q < 15; q++) {
        const id = pick(r, ids);
        const v = vectors.get(id) as number[];
        const hits = await store.similar(v, { k: 20, filter, excludeId: id });
        for (const h of hits) assert.ok(pred(h.payload), `hit ${h.id} matches ${JSON.stringify(filter)}`);
        const want = exact(v, 20, filter, id);
        assert.equal(hits.length, want.length);
        sum += recall(
          hits.map((h) => h.id),
          want,
        );
      }
      assert.ok(sum / 15 >= 0.85, `filtered recall ${sum / 15} for ${JSON.stringify(filter)}`);
    }
  });

  it('follows upserts, moved vectors and deletes without a rebuild', async () => {
    const ids = [...vectors.keys()];
    // A new point exactly at a query: found first (from pending, before any assignment).
    const q = clustered();
    const fresh = testUuid('ivf-fresh');
    const f = randomFinding(r, fresh);
    await store.upsert([{ id: fresh, vector: q, payload: f }]);
    vectors.set(fresh, q);
    payloads.set(fresh, f);
    assert.equal((await store.similar(q, { k: 1 }))[0]?.id, fresh);
    // Move 3,000 points (enough to trigger assignment of pending points to lists) and delete 500.
    const moved: StoredPoint[] = [];
    for (const id of ids.slice(0, 3000)) {
      const v = clustered();
      vectors.set(id, v);
      moved.push({ id, vector: v, payload: payloads.get(id) as Finding });
    }
    await store.upsert(moved);
    const gone = ids.slice(3000, 3500);
    await store.deleteOlderThan(0);
    const deleted = new Set(gone);
    for (const id of gone) {
      const p = payloads.get(id) as Finding;
      await store.updatePayload([id], { window_end_ms: 1 });
      payloads.set(id, { ...p, window_end_ms: 1 });
    }
    assert.equal(await store.deleteOlderThan(2), 500);
    for (const id of gone) {
      vectors.delete(id);
      payloads.delete(id);
    }
    let sum = 0;
    for (let i = 0; i < 30; i++) {
      const id = pick(r, ids.slice(0, 3000));
      const v = vectors.get(id) as number[];
      const hits = await store.similar(v, { k: 20, excludeId: id });
      for (const h of hits) assert.ok(!deleted.has(h.id), `deleted ${h.id} returned`);
      sum += recall(
        hits.map((h) => h.id),
        exact(v, 20, undefined, id),
      );
    }
    assert.ok(sum / 30 >= 0.85, `recall after updates ${sum / 30}`);
    // The queries started assigning the pending points to lists in the background.
    await store.warm();
    assert.ok((store.annStats()?.pending ?? 0) < 3000, 'pending points were assigned to lists');
  });
});
