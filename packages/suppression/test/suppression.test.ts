import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { needsServices, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import {
  EmbeddedSuppressionStore,
  RedisSuppressionStore,
  type SuppressionRule,
  SuppressionMatcher,
  type SuppressionStore,
} from '../src/index.ts';

function rule(id: string, over: Partial<SuppressionRule> = {}): SuppressionRule {
  return {
    id,
    finding_id: `f-${id}`,
    reason: 'backup job',
    threshold: 0.95,
    vector: [1, 0, 0, 0],
    src_ip: null,
    dst_ip: null,
    created_by: 'analyst@example.org',
    created_at_ms: 1000,
    retroactive_count: 0,
    enabled: true,
    ...over,
  };
}

function storeContract(
  name: string,
  make: () => Promise<{ store: SuppressionStore; cleanup: () => Promise<void> }>,
  skip: string | false,
) {
  describe(`SuppressionStore contract: ${name}`, { skip }, () => {
    it('puts, lists in id order, gets, overwrites and deletes rules', async () => {
      const { store, cleanup } = await make();
      try {
        assert.deepEqual(await store.list(), []);
        await store.put(rule('b'));
        await store.put(rule('a', { reason: 'dns' }));
        assert.deepEqual(
          (await store.list()).map((r) => r.id),
          ['a', 'b'],
        );
        assert.equal((await store.get('a'))?.reason, 'dns');
        await store.put(rule('a', { enabled: false }));
        assert.equal((await store.get('a'))?.enabled, false);
        assert.equal(await store.delete('a'), true);
        assert.equal(await store.delete('a'), false);
        assert.equal(await store.get('a'), null);
        assert.deepEqual(
          (await store.list()).map((r) => r.id),
          ['b'],
        );
      } finally {
        await store.close();
        await cleanup();
      }
    });
  });
}

storeContract(
  'embedded',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-supp-'));
    return {
      store: new EmbeddedSuppressionStore(dir),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  false,
);

const redisClients: Redis[] = [];
after(() => {
  for (const r of redisClients) r.disconnect();
});
storeContract(
  'redis',
  async () => {
    const redis = new Redis(serviceEndpoints()?.redisUrl as string);
    redisClients.push(redis);
    const ns = uniqueName('tw-supp');
    const store = new RedisSuppressionStore(redis, ns);
    return { store, cleanup: async () => void (await redis.del(store.key)) };
  },
  needsServices().skip,
);

describe('EmbeddedSuppressionStore', () => {
  it("sees rules another writer appended (the query API's log), and skips a torn line", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-supp-'));
    try {
      const reader = new EmbeddedSuppressionStore(dir);
      assert.deepEqual(await reader.list(), []);
      const file = join(dir, 'suppressions.jsonl');
      await appendFile(file, `${JSON.stringify({ id: 'x', doc: rule('x') })}\n{"id":"y","doc":{"id"`);
      assert.deepEqual(
        (await reader.list()).map((r) => r.id),
        ['x'],
      );
      await appendFile(file, `\n${JSON.stringify({ id: 'x', deleted: true })}\n`);
      assert.deepEqual(await reader.list(), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('SuppressionMatcher', () => {
  it('matches by similarity threshold and exact fields, ignores disabled rules, prefers the closest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-supp-'));
    try {
      const store = new EmbeddedSuppressionStore(dir);
      await store.put(rule('sim', { vector: [1, 0, 0, 0], threshold: 0.9 }));
      await store.put(
        rule('pair', { vector: [0, 1, 0, 0], threshold: 0.9, src_ip: '10.0.0.1', dst_ip: '10.0.0.2' }),
      );
      await store.put(rule('off', { vector: [0, 0, 1, 0], threshold: 0.5, enabled: false }));
      await store.put(rule('fields', { vector: [], src_ip: '10.9.9.9', dst_ip: null }));
      let now = 0;
      const m = new SuppressionMatcher(store, 1000, () => now);
      await m.refresh();
      assert.equal(m.size, 3);
      const ep = { src_ip: '10.0.0.1', dst_ip: '10.0.0.2' };
      assert.equal(m.match(ep, [2, 0.1, 0, 0])?.rule.id, 'sim');
      assert.equal(m.match(ep, [0.1, 2, 0, 0])?.rule.id, 'pair');
      assert.equal(m.match({ src_ip: '10.0.0.3', dst_ip: '10.0.0.2' }, [0.1, 2, 0, 0]), null);
      assert.equal(m.match(ep, [0, 0, 1, 0]), null);
      assert.equal(m.match(ep, [1, 1, 0, 0]), null);
      assert.equal(m.match({ src_ip: '10.9.9.9', dst_ip: 'x' }, [0, 0, 0, 1])?.rule.id, 'fields');
      assert.equal(m.match(ep, [1, 0, 0]), null);
      const hit = m.match(ep, [1, 0.1, 0, 0]);
      assert.ok(hit && hit.similarity > 0.99 && hit.similarity <= 1);
      await store.put(rule('sim', { enabled: false }));
      await m.refresh();
      assert.equal(m.match(ep, [2, 0.1, 0, 0])?.rule.id, 'sim', 'refresh honours refreshMs');
      now = 1000;
      await m.refresh();
      assert.equal(m.match(ep, [2, 0.1, 0, 0]), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
