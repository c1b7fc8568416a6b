import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EmbeddedStore, VectorDimensionError } from '../src/index.ts';
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

  it('ignores a torn last log line after a crash and compacts the log', async () => {
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
      const lines = (await readFile(join(dir, 'points.log'), 'utf8')).trim().split('\n');
      assert.equal(lines.length, 3);
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
      const lines = (await readFile(join(dir, 'points.log'), 'utf8')).trim().split('\n');
      assert.ok(lines.length <= 3 + 5, `log has ${lines.length} lines`);
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
