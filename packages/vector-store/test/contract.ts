import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type Finding, SEVERITIES as SEVERITY_ORDER, type Severity, VERDICTS } from '@tidewatch/contracts';
import {
  type FindingFilter,
  FindingRows,
  findingOfRow,
  SUBSCORES_PER_ROW,
  type StoredPoint,
  type VectorStore,
} from '../src/index.ts';

export const CONTRACT_DIM = 8;

export interface StoreUnderTest {
  store: VectorStore;
  /** Removes whatever the store created (collection, directory). */
  cleanup(): Promise<void>;
}

export function testUuid(seed: string): string {
  const b = createHash('sha256').update(seed).digest();
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const SEVERITIES: Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
const TACTICS = ['TA0043', 'TA0006', 'TA0011', 'TA0010'];
const T0 = Date.UTC(2026, 0, 1);
const WINDOW = 60_000;

/** 60 findings spread over fields so every filter selects a known, non-trivial subset. */
export function contractFinding(i: number, overrides: Partial<Finding> = {}): Finding {
  const malicious = i % 3 === 0;
  const tactic = malicious ? TACTICS[i % TACTICS.length] : undefined;
  const src =
    i % 4 === 3 ? `2001:db8:${(i % 2).toString(16)}::${(i + 1).toString(16)}` : `10.0.${i % 5}.${i + 1}`;
  return {
    sequence_id: testUuid(`contract-${i}`),
    window_start_ms: T0 + (i % 10) * WINDOW,
    window_end_ms: T0 + ((i % 10) + 1) * WINDOW,
    first_seen_ms: T0 + (i % 10) * WINDOW + 5,
    last_seen_ms: T0 + (i % 10) * WINDOW + 50,
    src_ip: src,
    dst_ip: i % 2 === 0 ? '192.168.1.10' : '192.168.2.20',
    dst_ports: i % 2 === 0 ? [22, 443] : [443],
    protocols: [6],
    connections: i + 1,
    fwd_bytes: 100 * i,
    bwd_bytes: 50 * i,
    fwd_pkts: i,
    bwd_pkts: i,
    // Distinct scores except a deliberate tie every 10th point, to test pagination across ties.
    score: i % 10 === 5 ? 0.5 : Math.round((i / 60) * 1000) / 1000,
    anomaly: (i % 7) / 7,
    verdict: malicious ? 'malicious' : 'benign',
    tactics: tactic ? [{ id: tactic, name: tactic, probability: 0.9 }] : [],
    techniques: tactic ? [{ id: `T1${100 + (i % TACTICS.length)}`, name: 'x', probability: 0.5 }] : [],
    severity: SEVERITIES[i % 5] as Severity,
    model_version: i < 40 ? 'v1' : 'v2',
    status: 'new',
    explanation: {
      subscores: {
        beacon: 0,
        scan: i / 60,
        brute_force: 0,
        exfiltration: 0,
        reflection: i % 7 === 3 ? 0.85 : 0,
      },
      top_features: [{ name: 'fwd_bytes_log', value: i, contribution: 0.1 }],
      neighbours: [],
    },
    suppressed_by: null,
    label: i % 8 === 7 ? null : malicious ? 1 : 0,
    scored_at_ms: T0 + 1000 * i,
    ...overrides,
  };
}

export function contractVector(i: number): number[] {
  // Points on a few distinct directions with small offsets: nearest neighbours are predictable.
  const v = new Array<number>(CONTRACT_DIM).fill(0.01);
  v[i % CONTRACT_DIM] = 1;
  v[(i + 1) % CONTRACT_DIM] = (i % 10) / 20;
  return v;
}

/**
 * `findings` as FindingRows in the given order (the test-side inverse of findingOfRow): a finding
 * the columns can describe (no tactics, techniques, top features or neighbours; the batch's model
 * version and scoring time) becomes a column row unless `asFinding(i)`, every other a row with its
 * Finding.
 */
export function rowsOf(
  findings: Finding[],
  vectors: ArrayLike<number>[],
  modelVersion: string,
  scoredAtMs: number,
  asFinding: (i: number) => boolean = () => false,
): FindingRows {
  const dim = vectors[0]?.length ?? 0;
  const rows = new FindingRows(findings.length, dim, modelVersion, scoredAtMs);
  for (const [k, f] of findings.entries()) {
    const quiet =
      !asFinding(k) &&
      f.tactics.length === 0 &&
      f.techniques.length === 0 &&
      f.explanation.top_features.length === 0 &&
      f.explanation.neighbours.length === 0 &&
      f.model_version === modelVersion &&
      f.scored_at_ms === scoredAtMs;
    const i = quiet ? rows.addRow(f.sequence_id) : rows.addFinding(f);
    rows.vectors.set(vectors[k] as ArrayLike<number>, i * dim);
    if (!quiet) continue;
    rows.windowStart[i] = f.window_start_ms;
    rows.windowEnd[i] = f.window_end_ms;
    rows.firstSeen[i] = f.first_seen_ms;
    rows.lastSeen[i] = f.last_seen_ms;
    rows.srcIp[i] = f.src_ip;
    rows.dstIp[i] = f.dst_ip;
    for (const p of f.dst_ports) rows.pushPort(p);
    for (const p of f.protocols) rows.pushProtocol(p);
    rows.connections[i] = f.connections;
    rows.fwdBytes[i] = f.fwd_bytes;
    rows.bwdBytes[i] = f.bwd_bytes;
    rows.fwdPkts[i] = f.fwd_pkts;
    rows.bwdPkts[i] = f.bwd_pkts;
    rows.label[i] = f.label === null ? -1 : f.label;
    rows.score[i] = f.score;
    rows.anomaly[i] = f.anomaly;
    rows.verdict[i] = VERDICTS.indexOf(f.verdict);
    rows.severity[i] = SEVERITY_ORDER.indexOf(f.severity);
    rows.setStatus(i, f.status, f.suppressed_by);
    const sub = f.explanation.subscores;
    rows.subscores.set(
      [sub.beacon, sub.scan, sub.brute_force, sub.exfiltration, sub.reflection],
      i * SUBSCORES_PER_ROW,
    );
  }
  return rows;
}

const N = 60;
const all = Array.from({ length: N }, (_, i) => contractFinding(i));
const points: StoredPoint[] = all.map((f, i) => ({
  id: f.sequence_id,
  vector: contractVector(i),
  payload: f,
}));

function expectedCount(pred: (f: Finding, i: number) => boolean): number {
  return all.filter(pred).length;
}

/** The one contract every VectorStore backend passes. */
export function vectorStoreContract(
  name: string,
  factory: () => Promise<StoreUnderTest>,
  opts: { skip?: string | false } = {},
): void {
  describe(`VectorStore contract: ${name}`, { skip: opts.skip ?? false }, () => {
    let sut: StoreUnderTest;
    let store: VectorStore;
    before(async () => {
      sut = await factory();
      store = sut.store;
      await store.init();
      await store.init();
      for (let i = 0; i < N; i += 25) await store.upsert(points.slice(i, i + 25));
    });
    after(async () => {
      await sut?.store.close();
      await sut?.cleanup();
    });

    it('get returns the payload as written and the vector normalised; null for an unknown id', async () => {
      const p = await store.get(all[7]?.sequence_id as string);
      assert.ok(p);
      assert.deepEqual(p.payload, all[7]);
      const v = contractVector(7);
      const norm = Math.hypot(...v);
      assert.equal(p.vector.length, CONTRACT_DIM);
      for (const [j, x] of p.vector.entries()) assert.ok(Math.abs(x - (v[j] as number) / norm) < 1e-5);
      const noVec = await store.get(all[7]?.sequence_id as string, { withVector: false });
      assert.deepEqual(noVec?.vector, []);
      assert.equal(await store.get(testUuid('nope')), null);
    });

    it('upsert overwrites by id: replaying a batch never duplicates', async () => {
      await store.upsert(points.slice(0, 10));
      assert.equal(await store.count(), N);
    });

    const cases: [string, FindingFilter, (f: Finding, i: number) => boolean][] = [
      ['verdict', { verdict: 'malicious' }, (f) => f.verdict === 'malicious'],
      [
        'severity list',
        { severity: ['high', 'critical'] },
        (f) => f.severity === 'high' || f.severity === 'critical',
      ],
      ['tactic (top)', { tactic: 'TA0011' }, (f) => f.tactics[0]?.id === 'TA0011'],
      ['technique (top)', { technique: 'T1101' }, (f) => f.techniques[0]?.id === 'T1101'],
      ['exact src ip', { srcIp: '10.0.2.3' }, (f) => f.src_ip === '10.0.2.3'],
      ['IPv4 CIDR /24', { srcIp: '10.0.1.0/24' }, (f) => f.src_ip.startsWith('10.0.1.')],
      ['IPv4 CIDR /8', { srcIp: '10.0.0.0/8' }, (f) => f.src_ip.startsWith('10.')],
      ['IPv6 CIDR /48', { srcIp: '2001:db8:1::/48' }, (f) => f.src_ip.startsWith('2001:db8:1:')],
      ['IPv6 CIDR /32', { srcIp: '2001:db8::/32' }, (f) => f.src_ip.startsWith('2001:db8:')],
      ['IPv6 CIDR /120', { srcIp: '2001:db8:1::/120' }, (f) => f.src_ip.startsWith('2001:db8:1:')],
      ['dst ip', { dstIp: '192.168.2.0/24' }, (f) => f.dst_ip === '192.168.2.20'],
      [
        'time range',
        { fromMs: T0 + 3 * WINDOW + 1, toMs: T0 + 6 * WINDOW },
        (f) => f.window_end_ms >= T0 + 3 * WINDOW + 1 && f.window_start_ms < T0 + 6 * WINDOW,
      ],
      ['min score', { minScore: 0.5 }, (f) => f.score >= 0.5],
      ['model version', { modelVersion: 'v2' }, (f) => f.model_version === 'v2'],
      ['status', { status: ['new'] }, () => true],
      [
        'sequence ids',
        { sequenceIds: [all[1]?.sequence_id as string, all[2]?.sequence_id as string, testUuid('absent')] },
        (_f, i) => i === 1 || i === 2,
      ],
      ['labelled', { labelled: true }, (f) => f.label !== null],
      ['unlabelled', { labelled: false }, (f) => f.label === null],
      [
        'combined',
        { verdict: 'malicious', srcIp: '10.0.0.0/16', minScore: 0.3 },
        (f) => f.verdict === 'malicious' && f.src_ip.startsWith('10.0.') && f.score >= 0.3,
      ],
    ];
    for (const [label, filter, pred] of cases) {
      it(`count and list honour the filter: ${label}`, async () => {
        const want = expectedCount(pred);
        assert.ok(
          want > 0 && (want < N || label === 'status'),
          `fixture selects a proper subset for ${label}`,
        );
        assert.equal(await store.count(filter), want);
        const { items } = await store.list({ filter, limit: 100 });
        assert.deepEqual(
          items.map((f) => f.sequence_id).sort(),
          all
            .filter(pred)
            .map((f) => f.sequence_id)
            .sort(),
        );
      });
    }

    it('list sorts by score desc and pages through ties without loss or duplicates', async () => {
      const seen: Finding[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { items: Finding[]; nextCursor: string | null } = await store.list({
          sort: { field: 'score', order: 'desc' },
          limit: 7,
          cursor,
        });
        assert.ok(res.items.length <= 7);
        seen.push(...res.items);
        cursor = res.nextCursor;
        pages++;
      } while (cursor && pages < 50);
      assert.equal(seen.length, N);
      assert.equal(new Set(seen.map((f) => f.sequence_id)).size, N);
      for (let i = 1; i < seen.length; i++)
        assert.ok((seen[i - 1] as Finding).score >= (seen[i] as Finding).score);
    });

    it('list sorts ascending by window start with a filter', async () => {
      const filter: FindingFilter = { verdict: 'benign' };
      const seen: Finding[] = [];
      let cursor: string | null = null;
      do {
        const res: { items: Finding[]; nextCursor: string | null } = await store.list({
          filter,
          sort: { field: 'window_start_ms', order: 'asc' },
          limit: 9,
          cursor,
        });
        seen.push(...res.items);
        cursor = res.nextCursor;
      } while (cursor);
      assert.equal(
        seen.length,
        expectedCount((f) => f.verdict === 'benign'),
      );
      assert.equal(new Set(seen.map((f) => f.sequence_id)).size, seen.length);
      for (let i = 1; i < seen.length; i++) {
        assert.ok((seen[i - 1] as Finding).window_start_ms <= (seen[i] as Finding).window_start_ms);
      }
    });

    it('list without sort pages through every point once', async () => {
      const ids = new Set<string>();
      let cursor: string | null = null;
      do {
        const res: { items: Finding[]; nextCursor: string | null } = await store.list({ limit: 11, cursor });
        for (const f of res.items) ids.add(f.sequence_id);
        cursor = res.nextCursor;
      } while (cursor);
      assert.equal(ids.size, N);
    });

    it('facets count per value, most frequent first, with filter and limit', async () => {
      const verdicts = await store.facet('verdict');
      assert.deepEqual(verdicts, [
        { value: 'benign', count: expectedCount((f) => f.verdict === 'benign') },
        { value: 'malicious', count: expectedCount((f) => f.verdict === 'malicious') },
      ]);
      const tactics = await store.facet('tactic', { modelVersion: 'v1' }, 2);
      const counts = new Map<string, number>();
      for (const f of all) {
        const t = f.tactics[0]?.id;
        if (t && f.model_version === 'v1') counts.set(t, (counts.get(t) ?? 0) + 1);
      }
      const want = [...counts]
        .map(([value, count]) => ({ value, count }))
        .sort((a, b) => b.count - a.count || a.value.localeCompare(b.value))
        .slice(0, 2);
      assert.deepEqual(tactics, want);
      assert.deepEqual(await store.facet('dst_port'), [
        { value: '443', count: N },
        { value: '22', count: N / 2 },
      ]);
      assert.deepEqual(await store.facet('dst_ip', { srcIp: '10.0.0.0/8' }), [
        {
          value: '192.168.1.10',
          count: expectedCount((f) => f.dst_ip === '192.168.1.10' && f.src_ip.startsWith('10.')),
        },
        {
          value: '192.168.2.20',
          count: expectedCount((f) => f.dst_ip === '192.168.2.20' && f.src_ip.startsWith('10.')),
        },
      ]);
    });

    it('similar returns the exact cosine nearest, honours filter and excludeId', async () => {
      const q = contractVector(12);
      const hits = await store.similar(q, { k: 5 });
      assert.equal(hits.length, 5);
      const cos = (a: number[], b: number[]) =>
        a.reduce((s, x, j) => s + x * (b[j] as number), 0) / (Math.hypot(...a) * Math.hypot(...b));
      const ranked = points.map((p) => ({ id: p.id, sim: cos(q, p.vector) })).sort((a, b) => b.sim - a.sim);
      assert.equal(hits[0]?.id, all[12]?.sequence_id);
      assert.ok(Math.abs((hits[0]?.similarity ?? 0) - 1) < 1e-5);
      for (const [j, h] of hits.entries()) assert.ok(Math.abs(h.similarity - (ranked[j]?.sim ?? 0)) < 1e-5);
      for (let j = 1; j < hits.length; j++)
        assert.ok((hits[j - 1]?.similarity ?? 0) >= (hits[j]?.similarity ?? 0));
      const excluded = await store.similar(q, { k: 3, excludeId: all[12]?.sequence_id as string });
      assert.ok(!excluded.some((h) => h.id === all[12]?.sequence_id));
      const filtered = await store.similar(q, {
        k: 50,
        filter: { verdict: 'malicious', modelVersion: 'v1' },
      });
      assert.equal(
        filtered.length,
        expectedCount((f) => f.verdict === 'malicious' && f.model_version === 'v1'),
      );
      assert.ok(filtered.every((h) => h.payload.verdict === 'malicious' && h.payload.model_version === 'v1'));
      const labelled = await store.similar(q, {
        k: N,
        filter: { labelled: true },
        excludeId: all[12]?.sequence_id as string,
      });
      assert.equal(labelled.length, expectedCount((f) => f.label !== null) - 1);
      assert.ok(labelled.every((h) => h.payload.label !== null && h.id !== all[12]?.sequence_id));
    });

    it('similarMany answers each query exactly as similar does', async () => {
      assert.ok(store.similarMany, `${name} implements similarMany`);
      const qs = [contractVector(3), contractVector(20), contractVector(41)];
      const ex = [all[3]?.sequence_id, undefined, all[41]?.sequence_id];
      const filter: FindingFilter = { labelled: true };
      const many = await store.similarMany(qs, { k: 4, filter, excludeIds: ex });
      assert.equal(many.length, 3);
      for (const [i, q] of qs.entries()) {
        const one = await store.similar(q, { k: 4, filter, ...(ex[i] ? { excludeId: ex[i] } : {}) });
        assert.deepEqual(
          many[i]?.map((h) => [h.id, Math.round(h.similarity * 1e5)]),
          one.map((h) => [h.id, Math.round(h.similarity * 1e5)]),
        );
      }
    });

    it('upsertRows stores and answers exactly what upsert of the same findings does', async () => {
      assert.ok(store.upsertRows, `${name} implements upsertRows`);
      // Every point rewritten through rows: most as quiet column rows (benign and malicious
      // verdicts, statuses, labels, IPv6, port lists), every 7th with its Finding, in one batch.
      const at = T0 + 99_000;
      const variant = all.map((f, i) =>
        i % 7 === 3
          ? f
          : {
              ...f,
              tactics: [],
              techniques: [],
              model_version: 'v3',
              status: i % 5 === 1 ? ('suppressed' as const) : f.status,
              suppressed_by: i % 5 === 1 ? `rule-${i}` : null,
              explanation: { ...f.explanation, top_features: [] },
              scored_at_ms: at,
            },
      );
      const vectors = variant.map((_f, i) => contractVector((i * 13) % N));
      const rows = rowsOf(variant, vectors, 'v3', at, (i) => i % 11 === 0);
      assert.ok(rows.findings.filter(Boolean).length < N / 3, 'mostly column rows');
      for (let i = 0; i < N; i++) assert.deepEqual(findingOfRow(rows, i), variant[i]);
      await store.upsertRows([rows]);
      try {
        assert.equal(await store.count(), N);
        for (const [i, f] of variant.entries()) {
          const p = await store.get(f.sequence_id);
          assert.deepEqual(p?.payload, f);
          const v = vectors[i] as number[];
          const norm = Math.hypot(...v);
          for (const [j, x] of (p?.vector ?? []).entries())
            assert.ok(Math.abs(x - (v[j] as number) / norm) < 1e-5);
        }
        const filters: [FindingFilter, (f: Finding) => boolean][] = [
          [{ modelVersion: 'v3' }, (f) => f.model_version === 'v3'],
          [{ status: ['suppressed'] }, (f) => f.status === 'suppressed'],
          [{ verdict: 'malicious', labelled: true }, (f) => f.verdict === 'malicious' && f.label !== null],
          [{ tactic: 'TA0043' }, (f) => f.tactics[0]?.id === 'TA0043'],
          [{ severity: ['info', 'critical'] }, (f) => f.severity === 'info' || f.severity === 'critical'],
          [{ srcIp: '2001:db8::/32' }, (f) => f.src_ip.startsWith('2001:db8:')],
          [
            { fromMs: T0 + 4 * WINDOW, minScore: 0.2 },
            (f) => f.window_end_ms >= T0 + 4 * WINDOW && f.score >= 0.2,
          ],
        ];
        for (const [filter, pred] of filters) {
          const want = variant
            .filter(pred)
            .map((f) => f.sequence_id)
            .sort();
          assert.ok(want.length > 0 && want.length < N, JSON.stringify(filter));
          assert.equal(await store.count(filter), want.length, JSON.stringify(filter));
          const { items } = await store.list({
            filter,
            limit: 100,
            sort: { field: 'scored_at_ms', order: 'desc' },
          });
          assert.deepEqual(items.map((f) => f.sequence_id).sort(), want, JSON.stringify(filter));
        }
        assert.deepEqual(
          (await store.facet('status')).find((x) => x.value === 'suppressed')?.count,
          variant.filter((f) => f.status === 'suppressed').length,
        );
        const hits = await store.similar(contractVector(5), { k: 4, filter: { labelled: true } });
        const byId = new Map(variant.map((f, i) => [f.sequence_id, i]));
        for (const h of hits) {
          const i = byId.get(h.id) as number;
          assert.deepEqual(h.payload, variant[i]);
          assert.notEqual(variant[i]?.label, null);
        }
      } finally {
        // Back to the fixture for the tests below.
        await store.upsert(points);
      }
      assert.deepEqual((await store.get(all[5]?.sequence_id as string))?.payload, all[5]);
      assert.equal(await store.count({ modelVersion: 'v3' }), 0);
    });

    it('updatePayload patches the given points only; unknown ids are ignored', async () => {
      const ids = [all[3]?.sequence_id as string, all[4]?.sequence_id as string, testUuid('ghost')];
      await store.updatePayload(ids, { status: 'suppressed', suppressed_by: 'rule-1' });
      assert.equal(await store.count({ status: ['suppressed'] }), 2);
      const p = await store.get(all[3]?.sequence_id as string, { withVector: false });
      assert.equal(p?.payload.status, 'suppressed');
      assert.equal(p?.payload.suppressed_by, 'rule-1');
      assert.equal(p?.payload.score, all[3]?.score);
      assert.equal(await store.count(), N);
      assert.equal(await store.get(testUuid('ghost')), null);
    });

    it('deleteOlderThan removes points whose window ended before the cut and returns how many', async () => {
      const cut = T0 + 2 * WINDOW + 1;
      const want = expectedCount((f) => f.window_end_ms < cut);
      assert.ok(want > 0);
      assert.equal(await store.deleteOlderThan(cut), want);
      assert.equal(await store.count(), N - want);
      assert.equal(await store.deleteOlderThan(cut), 0);
      // Deleted ids can be written again.
      await store.upsert(points.filter((p) => p.payload.window_end_ms < cut));
      assert.equal(await store.count(), N);
    });
  });
}
