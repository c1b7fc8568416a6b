import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Finding } from '@tidewatch/contracts';
import {
  compileFilter,
  EmbeddedStore,
  type FindingFilter,
  readPointLog,
  type SimilarHit,
} from '../src/index.ts';
import { contractFinding, testUuid } from './contract.ts';
import { seededRandom } from '@tidewatch/testing';

const DIM = 8;
const T0 = Date.UTC(2026, 0, 1);

describe('EmbeddedStore nearest labelled points (dense labelled index) against brute force', () => {
  let dir: string;
  let store: EmbeddedStore;
  const r = seededRandom(5);
  const vectors = new Map<string, number[]>();
  const payloads = new Map<string, Finding>();
  let next = 0;

  const randomVector = () => Array.from({ length: DIM }, () => r() * 2 - 1);
  const unit = (v: number[]) => {
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  const finding = (id: string, labelled: boolean): Finding => {
    const i = next;
    return {
      ...contractFinding(i % 60),
      sequence_id: id,
      window_start_ms: T0 + (i % 100) * 60_000,
      window_end_ms: T0 + (i % 100) * 60_000 + 60_000,
      verdict: r() < 0.5 ? 'malicious' : 'benign',
      status: r() < 0.7 ? 'new' : 'resolved',
      label: labelled ? (r() < 0.5 ? 1 : 0) : null,
    };
  };
  const addPoints = async (n: number, labelledShare: number) => {
    const pts = [];
    for (let j = 0; j < n; j++, next++) {
      const id = testUuid(`lab-${next}`);
      const f = finding(id, r() < labelledShare);
      const v = randomVector();
      vectors.set(id, v);
      payloads.set(id, f);
      // Float32Array embeddings are taken as they are.
      pts.push({ id, vector: j % 2 === 0 ? Float32Array.from(v) : v, payload: f });
    }
    await store.upsert(pts);
  };

  /** The k best by cosine among points matching the filter, similarity rounded to float32's reach. */
  function reference(q: number[], k: number, filter: FindingFilter, exclude?: string) {
    const pred = compileFilter(filter);
    const u = unit(q);
    return [...vectors]
      .filter(([id]) => id !== exclude && (!pred || pred(payloads.get(id) as Finding)))
      .map(([id, v]) => ({ id, s: unit(v).reduce((a, x, i) => a + x * (u[i] as number), 0) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, k);
  }

  /** Same similarities rank by rank; the same ids unless two references tie within float32 rounding. */
  function assertSame(got: SimilarHit[], want: { id: string; s: number }[], what: string) {
    assert.equal(got.length, want.length, `${what}: hit count`);
    got.forEach((h, i) => {
      const w = want[i] as { id: string; s: number };
      assert.ok(
        Math.abs(h.similarity - w.s) < 1e-5,
        `${what}: rank ${i} similarity ${h.similarity} vs ${w.s}`,
      );
      if (h.id !== w.id) {
        const tied = want.filter((x) => Math.abs(x.s - w.s) < 1e-5).map((x) => x.id);
        assert.ok(tied.includes(h.id), `${what}: rank ${i} id ${h.id}, want ${w.id}`);
      }
      assert.deepEqual(h.payload, payloads.get(h.id), `${what}: payload of ${h.id}`);
    });
  }

  const FILTERS: FindingFilter[] = [
    { labelled: true },
    { labelled: true, verdict: 'malicious' },
    { labelled: true, status: ['new'], fromMs: T0 + 30 * 60_000 },
  ];

  async function check(what: string, queries: number) {
    const ids = [...vectors.keys()];
    assert.equal(
      await store.count({ labelled: true }),
      reference(randomVector(), 1e9, { labelled: true }).length,
    );
    for (const filter of FILTERS) {
      const labelledIds = ids.filter((id) => payloads.get(id)?.label !== null);
      // Half the queries sit on a stored labelled point and exclude it (its own best hit).
      const excludeIds = Array.from({ length: queries }, (_, i) =>
        i % 2 === 0 ? undefined : labelledIds[Math.floor(r() * labelledIds.length)],
      );
      const qs = excludeIds.map((id) =>
        id === undefined ? randomVector() : (vectors.get(id) as number[]).map((x) => x + 1e-3 * r()),
      );
      const many = await store.similarMany(qs, { k: 5, filter, excludeIds });
      for (const [i, q] of qs.entries())
        assertSame(
          many[i] as SimilarHit[],
          reference(q, 5, filter, excludeIds[i]),
          `${what} ${JSON.stringify(filter)} query ${i}/${queries}`,
        );
      // The evidence form: the same hits, verdict and label as the payloads hold them (read from
      // the index columns, so a label patch or an overwrite must have reached them).
      const evidence = await store.similarEvidence(qs, { k: 5, filter, excludeIds });
      assert.deepEqual(
        evidence,
        many.map((hits) =>
          hits.map((h) => {
            const p = payloads.get(h.id) as Finding;
            return { id: h.id, similarity: h.similarity, verdict: p.verdict, label: p.label };
          }),
        ),
        `${what} ${JSON.stringify(filter)}: evidence hits`,
      );
      const q = randomVector();
      assertSame(await store.similar(q, { k: 3, filter }), reference(q, 3, filter), `${what} similar`);
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-embedded-labelled-'));
    store = new EmbeddedStore({ dir, dim: DIM, fsync: false, annMinPoints: 6000 });
    await store.init();
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('after upserts with a labelled minority (one query and a batch: a pass over the labelled points)', async () => {
    await addPoints(3000, 0.1);
    await check('upsert', 1);
    await check('upsert', 6);
  });

  it('after label patches (analyst confirmation and its removal)', async () => {
    const unlabelled = [...payloads.values()].filter((f) => f.label === null).slice(0, 150);
    const labelled = [...payloads.values()].filter((f) => f.label !== null).slice(0, 80);
    await store.updatePayload(
      unlabelled.map((f) => f.sequence_id),
      { label: 1, status: 'resolved' },
    );
    for (const f of unlabelled) payloads.set(f.sequence_id, { ...f, label: 1, status: 'resolved' });
    await store.updatePayload(
      labelled.map((f) => f.sequence_id),
      { label: null },
    );
    for (const f of labelled) payloads.set(f.sequence_id, { ...f, label: null });
    await check('patch', 6);
  });

  it('after deletes and overwrites (new vector, label dropped or added)', async () => {
    const removed = await store.deleteOlderThan(T0 + 20 * 60_000);
    let expected = 0;
    for (const [id, f] of payloads)
      if (f.window_end_ms < T0 + 20 * 60_000) {
        payloads.delete(id);
        vectors.delete(id);
        expected++;
      }
    assert.equal(removed, expected);
    const pts = [...payloads.values()].slice(0, 200).map((f, i) => {
      const payload = { ...f, label: i % 2 === 0 ? null : 0 };
      const v = randomVector();
      payloads.set(f.sequence_id, payload);
      vectors.set(f.sequence_id, v);
      return { id: f.sequence_id, vector: v, payload };
    });
    await store.upsert(pts);
    await check('delete+overwrite', 6);
  });

  it('in batches large enough for the GEMM, with the IVF index built, and after a restart', async () => {
    await addPoints(9000, 0.9);
    await store.warm();
    assert.ok(store.annStats(), 'IVF index built');
    // 8 queries × ≥ 8,192 labelled points: one GEMM against the dense labelled matrix.
    assert.ok((await store.count({ labelled: true })) >= 8192);
    await check('gemm', 8);
    await store.close();
    store = new EmbeddedStore({ dir, dim: DIM, fsync: false, annMinPoints: 6000 });
    await store.init();
    await check('restart', 8);
    await check('restart', 1);
  });

  it('a batch query racing a write answers for the state before or after it', async () => {
    for (let round = 0; round < 12; round++) {
      const qs = Array.from({ length: 8 }, () => randomVector());
      const before = qs.map((q) => reference(q, 4, { labelled: true }));
      // A new labelled point right on query 0, and a labelled point deleted by overwrite.
      const id = testUuid(`race-${round}`);
      const payload = { ...finding(id, true), label: 1 };
      const victim = [...payloads.values()].find((f) => f.label !== null) as Finding;
      const query = store.similarMany(qs, { k: 4, filter: { labelled: true } });
      const write = store.upsert([
        { id, vector: qs[0] as number[], payload },
        {
          id: victim.sequence_id,
          vector: vectors.get(victim.sequence_id) as number[],
          payload: { ...victim, label: null },
        },
      ]);
      const [got] = await Promise.all([query, write]);
      vectors.set(id, qs[0] as number[]);
      payloads.set(id, payload);
      payloads.set(victim.sequence_id, { ...victim, label: null });
      const afterRef = qs.map((q) => reference(q, 4, { labelled: true }));
      for (const [i, hits] of got.entries()) {
        const ids = hits.map((h) => h.id).join();
        const ok = [before[i], afterRef[i]].some((want) => want?.map((w) => w.id).join() === ids);
        assert.ok(ok, `round ${round} query ${i}: ${ids}`);
      }
    }
  });

  it('counts by sequence ids by lookup (duplicates and unknown ids ignored, other conditions applied)', async () => {
    const ids = [...payloads.keys()].slice(0, 300);
    const asked = [...ids, ...ids.slice(0, 50), testUuid('not-stored')];
    const filter: FindingFilter = { sequenceIds: asked, status: ['resolved'], labelled: true };
    const pred = compileFilter(filter);
    const want = ids.filter((id) => pred?.(payloads.get(id) as Finding)).length;
    assert.ok(want > 0);
    assert.equal(await store.count(filter), want);
    assert.equal(await store.count({ sequenceIds: asked }), ids.length);
    assert.equal(await store.count({ sequenceIds: [] }), 0);
  });
});

describe('EmbeddedStore group commit', () => {
  it('writes issued together share one append + fsync; each resolves only once it is on disk, in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-group-'));
    try {
      const store = new EmbeddedStore({ dir, dim: DIM });
      await store.init();
      const point = (i: number) => ({
        id: testUuid(`g-${i}`),
        vector: Array.from({ length: DIM }, (_, j) => (j === i % DIM ? 1 : 0.1)),
        payload: { ...contractFinding(i % 60), sequence_id: testUuid(`g-${i}`) },
      });
      await store.upsert([point(0)]);
      // One write under way, then 20 issued while it is: the 20 go together once it is done.
      const first = store.upsert([point(1)]);
      await new Promise((resolve) => setImmediate(resolve));
      const order: number[] = [];
      const onDisk: boolean[] = [];
      const writes = Array.from({ length: 20 }, (_, w) => {
        const p =
          w % 5 === 4
            ? store.updatePayload([point(w + 1).id], { status: 'in_progress' })
            : store.upsert([point(w + 2), point(w + 100)]);
        return p.then(async () => {
          order.push(w);
          const logged = new Set((await readPointLog(dir)).upserts);
          // Everything issued with it is on disk when any of them resolves.
          const upserts = Array.from({ length: 20 }, (_, x) => x).filter((x) => x % 5 !== 4);
          onDisk.push(upserts.every((x) => logged.has(point(x + 100).id)));
        });
      });
      await first;
      await Promise.all(writes);
      assert.deepEqual(
        order,
        Array.from({ length: 20 }, (_, w) => w),
      );
      assert.ok(onDisk.every(Boolean), 'each resolved write was on disk with its group');
      // The patches of point w+1 were issued after its upsert: they apply after it.
      assert.equal((await store.get(point(5).id))?.payload.status, 'in_progress');
      await store.close();
      const reopened = new EmbeddedStore({ dir, dim: DIM });
      await reopened.init();
      assert.equal(await reopened.count(), 34);
      assert.equal((await reopened.get(point(5).id))?.payload.status, 'in_progress');
      assert.equal((await reopened.get(point(20).id))?.payload.status, 'in_progress');
      await reopened.close();
      await assert.rejects(store.upsert([point(7)]), /EmbeddedStore is not open: call init\(\) first/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
