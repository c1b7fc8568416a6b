import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EmbeddedStore, readPointLog, VectorDimensionError } from '../src/index.ts';
import { logLines } from '../src/log-lines.ts';
import { CONTRACT_DIM, contractFinding, contractVector, vectorStoreContract } from './contract.ts';

vectorStoreContract('EmbeddedStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
  return {
    store: new EmbeddedStore({ dir, dim: CONTRACT_DIM }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('EmbeddedStore persistence', () => {
  const point = (i: number) => ({
    id: contractFinding(i).sequence_id,
    vector: contractVector(i),
    payload: contractFinding(i),
  });

  it('reloads points, patches and deletes from disk after reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
    try {
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await a.upsert([0, 1, 2, 3].map(point));
      await a.updatePayload([point(1).id], { status: 'resolved' });
      await a.upsert([point(2)]);
      await a.close();
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      assert.equal(await b.count(), 4);
      assert.equal((await b.get(point(1).id))?.payload.status, 'resolved');
      const hits = await b.similar(contractVector(3), { k: 1 });
      assert.equal(hits[0]?.id, point(3).id);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ignores a torn last log record after a crash and compacts the log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
    try {
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await a.upsert([0, 1].map(point));
      await a.close();
      await appendFile(join(dir, 'points.log'), '{"u":["half-written');
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      assert.equal(await b.count(), 2);
      await b.upsert([point(5)]);
      await b.close();
      const log = await readPointLog(dir);
      assert.deepEqual(log.upserts.length + log.others, 3);
      assert.equal(log.torn, false);
      const c = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await c.init();
      assert.equal(await c.count(), 3);
      await c.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('compacts once dead records exceed the slack, keeping the live points', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
    try {
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM, compactSlack: 5, fsync: false });
      await a.init();
      for (let r = 0; r < 4; r++) await a.upsert([0, 1, 2].map(point));
      await a.close();
      const log = await readPointLog(dir);
      const records = log.upserts.length + log.others;
      assert.ok(records <= 3 + 5, `log has ${records} records`);
      const b = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await b.init();
      assert.equal(await b.count(), 3);
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a vector of the wrong dimension with a clear error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
    try {
      const a = new EmbeddedStore({ dir, dim: CONTRACT_DIM });
      await a.init();
      await assert.rejects(a.upsert([{ ...point(0), vector: [1, 2, 3] }]), VectorDimensionError);
      await assert.rejects(a.similar([1], { k: 1 }), /query vector has 1 dimensions, the store has 8/);
      await a.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('EmbeddedStore exact kNN at scale (GEMM path)', () => {
  it('returns the exact top-k of a brute-force cosine for a batch of queries, filter and exclusions applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-embedded-'));
    try {
      const dim = 16;
      let seed = 42;
      const rnd = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31 - 0.5;
      };
      const store = new EmbeddedStore({ dir, dim, fsync: false });
      await store.init();
      const pts = Array.from({ length: 3000 }, (_, i) => ({
        id: contractFinding(i).sequence_id,
        vector: Array.from({ length: dim }, rnd),
        payload: contractFinding(i % 60, { sequence_id: contractFinding(i).sequence_id }),
      }));
      await store.upsert(pts);
      const queries = Array.from({ length: 30 }, (_, q) => (pts[q * 7] as (typeof pts)[number]).vector);
      const excludeIds = queries.map((_, q) => (q % 2 === 0 ? pts[q * 7]?.id : undefined));
      const many = await store.similarMany(queries, { k: 5, filter: { verdict: 'benign' }, excludeIds });
      const unit = (v: number[]) => {
        const n = Math.hypot(...v);
        return v.map((x) => x / n);
      };
      for (const [q, v] of queries.entries()) {
        const u = unit(v);
        const want = pts
          .filter((p) => p.payload.verdict === 'benign' && p.id !== excludeIds[q])
          .map((p) => ({ id: p.id, sim: unit(p.vector).reduce((s, x, j) => s + x * (u[j] as number), 0) }))
          .sort((a, b) => b.sim - a.sim)
          .slice(0, 5);
        const got = many[q] ?? [];
        assert.deepEqual(
          got.map((h) => h.id),
          want.map((w) => w.id),
        );
        for (const [j, h] of got.entries()) assert.ok(Math.abs(h.similarity - (want[j]?.sim ?? 0)) < 1e-5);
      }
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('log line reader', () => {
  it('splits lines across chunk edges, keeps multi-byte characters whole, drops CR and keeps a last line without newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-loglines-'));
    try {
      const path = join(dir, 'log');
      const lines = ['{"a":"héllo wörld ✓"}', '', 'plain', 'x'.repeat(40), '{"b":"日本語テキスト"}', 'last'];
      await writeFile(path, `${lines.slice(0, 3).join('\n')}\r\n${lines.slice(3).join('\n')}`);
      for (const chunk of [1, 2, 3, 5, 7, 64, 1 << 20]) {
        const got: string[] = [];
        for await (const line of logLines(path, chunk)) got.push(line);
        assert.deepEqual(got, lines, `chunk ${chunk}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
