import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Finding } from '@tidewatch/contracts';
import { seededRandom } from '@tidewatch/testing';
import { EmbeddedStore, type EvidenceHit, type EvidenceSession } from '../src/index.ts';
import { contractFinding, testUuid } from './contract.ts';

// The model's embedding width: the session's exactness rests on onnxruntime's Gemm at real shapes.
const DIM = 64;
const filter = { labelled: true };

describe('EmbeddedStore evidenceSession: the store’s own labelled neighbours, call by call', () => {
  let dir: string;
  let store: EmbeddedStore;
  let session: EvidenceSession;
  const r = seededRandom(11);
  let next = 0;
  const vectors: Float32Array[] = [];
  const ids: string[] = [];

  const randomVector = () => Float32Array.from({ length: DIM }, () => r() * 2 - 1);
  const finding = (id: string, label: 0 | 1 | null): Finding => ({
    ...contractFinding(next % 60),
    sequence_id: id,
    verdict: r() < 0.5 ? 'malicious' : 'benign',
    label,
  });
  /** n new points, `share` of them labelled; some repeat an earlier vector (tied rows). */
  const addPoints = async (n: number, share = 0.9, like?: Float32Array) => {
    const pts = [];
    for (let j = 0; j < n; j++, next++) {
      const id = testUuid(`ev-${next}`);
      const v =
        like ??
        (vectors.length > 0 && r() < 0.1
          ? (vectors[Math.floor(r() * vectors.length)] as Float32Array)
          : randomVector());
      vectors.push(v);
      ids.push(id);
      pts.push({ id, vector: v, payload: finding(id, r() < share ? (r() < 0.5 ? 1 : 0) : null) });
    }
    await store.upsert(pts);
    return pts.map((p) => p.id);
  };
  /** Queries: stored vectors (exact matches and ties), a few fixed ones asked again and again, new ones. */
  const pool = Array.from({ length: 12 }, randomVector);
  const queries = (q: number): Float32Array[] =>
    Array.from({ length: q }, (_, i) =>
      i % 3 === 0
        ? (pool[Math.floor(r() * pool.length)] as Float32Array)
        : i % 3 === 1
          ? (vectors[Math.floor(r() * vectors.length)] as Float32Array)
          : randomVector(),
    );

  async function same(qs: Float32Array[], k: number, what: string): Promise<EvidenceHit[][]> {
    const got = await session.similarEvidence(qs, { k, filter });
    const want = await store.similarEvidence(qs, { k, filter });
    assert.deepEqual(got, want, what);
    return got;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-evidence-'));
    store = new EmbeddedStore({ dir, dim: DIM, fsync: false });
    await store.init();
    await addPoints(4600);
    session = store.evidenceSession();
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers exactly as the store through appends, refreshed vectors, label flips and deletes', async () => {
    const stats = session.stats as { cached: number; direct: number; pairs: number };
    for (let step = 0; step < 40; step++) {
      const q = 2 + Math.floor(r() * 24);
      await same(queries(q), 1 + Math.floor(r() * 5), `step ${step}`);
      const op = step % 8;
      if (op === 7) {
        // A labelled point's vector rewritten in place (same id): its row stays, its similarities change.
        const i = Math.floor(r() * ids.length);
        const id = ids[i] as string;
        const v = randomVector();
        vectors[i] = v;
        await store.upsert([{ id, vector: v, payload: finding(id, 1) }]);
      } else if (op === 5) {
        // Labels taken away (rows removed: the last row moves into the gap) and a deleted point.
        const i = Math.floor(r() * ids.length);
        await store.updatePayload([ids[i] as string], { label: null });
        await store.updatePayload([ids[(i + 7) % ids.length] as string], { label: null });
      } else await addPoints(1 + Math.floor(r() * 300), op === 3 ? 0.2 : 0.9);
    }
    // Most calls took the cached path; the single-query and changed-matrix cases went to the store.
    assert.ok(stats.cached >= 30, `cached calls ${stats.cached}`);
    const single = [pool[0] as Float32Array];
    assert.deepEqual(
      await session.similarEvidence(single, { k: 4, filter }),
      await store.similarEvidence(single, { k: 4, filter }),
    );
  });

  it('a later call sees the points stored since an earlier call asked the same query, and only those', async () => {
    const stats = session.stats as { cached: number; direct: number; pairs: number };
    const flood = randomVector();
    const other = randomVector();
    const first = await same([flood, other], 3, 'run 1');
    // Run 1 stores points identical to its query (similarity 1: the best a later run can find).
    const stored = await addPoints(2, 1, flood);
    assert.ok(!first[0]?.some((h) => stored.includes(h.id)), 'run 1 saw a point stored after it');
    const pairsBefore = stats.pairs;
    const second = await same([flood, other], 3, 'run 2');
    assert.deepEqual(
      second[0]?.slice(0, 2).map((h) => h.id),
      stored,
      'run 2 misses the points run 1 stored (ties: lower row first)',
    );
    // Run 2 scored only the rows appended since run 1 for both queries (padded to two queries).
    assert.equal(stats.pairs - pairsBefore, 2 * 2);
    // A point stored after run 2 is not in run 2's answer, and is in run 3's.
    const later = await addPoints(1, 1, flood);
    assert.ok(!second[0]?.some((h) => h.id === later[0]));
    const third = await same([flood, other], 3, 'run 3');
    assert.deepEqual(
      third[0]?.map((h) => h.id),
      [...stored, later[0]],
    );
    // Run 1's point loses its label: run 4 asks in full and no longer lists it.
    await store.updatePayload([stored[0] as string], { label: null });
    const fourth = await same([flood, other], 3, 'run 4');
    assert.ok(!fourth[0]?.some((h) => h.id === stored[0]));
  });

  it('a query scored on its own gets the similarities of a many-query Gemm (the one-query path rounds differently)', async () => {
    const stats = session.stats as { cached: number; direct: number; pairs: number };
    const known = Array.from({ length: 30 }, randomVector);
    await same(known, 4, 'known');
    await addPoints(3, 1);
    const fresh = randomVector();
    const pairsBefore = stats.pairs;
    await same([...known, fresh], 4, 'known + one new');
    // Split into a call of the 30 over the 3 new rows and one of the new query (padded to 2) over all.
    const n = (await store.count(filter)) as number;
    assert.equal(stats.pairs - pairsBefore, 30 * 3 + 2 * n);
  });

  it('answers as the store over many repeated vectors (asked over the distinct vectors, ties between them included)', async () => {
    const dir2 = await mkdtemp(join(tmpdir(), 'tw-evidence-dup-'));
    const dup = new EmbeddedStore({ dir: dir2, dim: DIM, fsync: false });
    await dup.init();
    try {
      const s = dup.evidenceSession();
      const stats = s.stats as { distinct: number };
      const few = Array.from({ length: 40 }, randomVector);
      // Distinct vectors at exactly the same similarity to `axis` (0.6 on axis 0, 0.8 on axis j):
      // ties between distinct vectors, also at the cut of a query's list.
      const axis = Float32Array.from({ length: DIM }, (_, i) => (i === 0 ? 1 : 0));
      const tied = Array.from({ length: 12 }, (_, j) =>
        Float32Array.from({ length: DIM }, (_, i) => (i === 0 ? 0.6 : i === j + 1 ? 0.8 : 0)),
      );
      const put = async (n: number) => {
        const pts = [];
        for (let j = 0; j < n; j++, next++) {
          const id = testUuid(`dup-${next}`);
          // Most points repeat one of 40 vectors (floods): rows tie in runs of dozens.
          const u = r();
          const v =
            u < 0.6
              ? (few[Math.floor(r() * few.length)] as Float32Array)
              : u < 0.62
                ? (tied[Math.floor(r() * tied.length)] as Float32Array)
                : randomVector();
          pts.push({ id, vector: v, payload: finding(id, r() < 0.95 ? 1 : null) });
        }
        await dup.upsert(pts);
      };
      await put(5000);
      // A tight cluster of distinct vectors stored once each: a list of one row per distinct vector.
      const base = randomVector();
      await dup.upsert(
        Array.from({ length: 10 }, (_, c) => {
          const id = testUuid(`dup-cluster-${c}`);
          const v = base.map((x) => x + (r() - 0.5) * 0.01);
          return { id, vector: v, payload: finding(id, 1) };
        }),
      );
      for (let step = 0; step < 12; step++) {
        const qs = Array.from({ length: 2 + Math.floor(r() * 10) }, (_, i) =>
          i === 0
            ? axis
            : i === 1
              ? base
              : i % 2 === 0
                ? (few[Math.floor(r() * few.length)] as Float32Array)
                : randomVector(),
        );
        const k = 1 + Math.floor(r() * 6);
        assert.deepEqual(
          await s.similarEvidence(qs, { k, filter }),
          await dup.similarEvidence(qs, { k, filter }),
          `step ${step}`,
        );
        if (step % 4 === 3) await dup.updatePayload([testUuid(`dup-${next - 1}`)], { label: null });
        else await put(200);
      }
      assert.ok(stats.distinct > 20, `queries over distinct vectors: ${stats.distinct}`);
    } finally {
      await dup.close();
      await rm(dir2, { recursive: true, force: true });
    }
  });

  it('points appended while a call runs are either all in its answer or none', async () => {
    const qs = [randomVector(), randomVector(), pool[1] as Float32Array];
    await session.similarEvidence(qs, { k: 3, filter });
    const beforeWrite = await store.similarEvidence(qs, { k: 3, filter });
    const asked = session.similarEvidence(qs, { k: 3, filter });
    const written = addPoints(3, 1, qs[0]);
    const got = await asked;
    await written;
    const afterWrite = await store.similarEvidence(qs, { k: 3, filter });
    assert.ok(
      JSON.stringify(got) === JSON.stringify(beforeWrite) ||
        JSON.stringify(got) === JSON.stringify(afterWrite),
      'an answer from neither the matrix before the write nor after it',
    );
  });
});
