import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { needsServices, uniqueName } from '@tidewatch/testing';
import { Redis } from 'ioredis';
import { ApiKeyService } from '../src/api-keys.ts';
import {
  type DocumentStore,
  EmbeddedDocumentStore,
  RedisDocumentStore,
} from '../src/stores/document-store.ts';
import { type Delivery, QueryStores } from '../src/stores/domain.ts';

interface Backend {
  name: string;
  options: { skip: string | false } | object;
  open(): Promise<{ docs: DocumentStore; reopen(): Promise<DocumentStore>; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'embedded',
    options: {},
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'tw-docs-'));
      return {
        docs: new EmbeddedDocumentStore(dir),
        reopen: async () => new EmbeddedDocumentStore(dir),
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'redis',
    options: needsServices(),
    async open() {
      const redis = new Redis(process.env['REDIS_URL'] as string);
      const prefix = uniqueName('twdocs');
      return {
        docs: new RedisDocumentStore(redis, prefix),
        reopen: async () => new RedisDocumentStore(redis, prefix),
        cleanup: async () => {
          const keys = await redis.keys(`${prefix}:*`);
          if (keys.length) await redis.del(...keys);
          await redis.quit();
        },
      };
    },
  },
];

for (const backend of backends) {
  describe(`DocumentStore contract (${backend.name})`, backend.options, () => {
    let docs: DocumentStore;
    let reopen: () => Promise<DocumentStore>;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ docs, reopen, cleanup } = await backend.open());
    });
    after(async () => {
      await docs?.close();
      await cleanup?.();
    });

    it('puts, gets, overwrites and deletes documents per collection', async () => {
      await docs.put('things', 'b', { n: 1 });
      await docs.put('things', 'a', { n: 2 });
      await docs.put('other', 'a', { n: 3 });
      assert.deepEqual(await docs.get('things', 'b'), { n: 1 });
      await docs.put('things', 'b', { n: 4 });
      assert.deepEqual(await docs.get('things', 'b'), { n: 4 });
      assert.deepEqual(await docs.list('things'), [{ n: 2 }, { n: 4 }]);
      assert.equal(await docs.count('things'), 2);
      assert.deepEqual(await docs.getMany('things', ['a', 'zz', 'b']), [{ n: 2 }, null, { n: 4 }]);
      assert.equal(await docs.delete('things', 'a'), true);
      assert.equal(await docs.delete('things', 'a'), false);
      assert.equal(await docs.get('things', 'a'), null);
      assert.deepEqual(await docs.get('other', 'a'), { n: 3 });
    });

    it('writes only once with putIfAbsent, even when racing', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => docs.putIfAbsent('once', 'k', { i })),
      );
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await docs.count('once'), 1);
    });

    it('returns copies: mutating a result never changes the store', async () => {
      await docs.put('copies', 'x', { list: [1] });
      const got = await docs.get<{ list: number[] }>('copies', 'x');
      got?.list.push(2);
      assert.deepEqual(await docs.get('copies', 'x'), { list: [1] });
    });

    it('keeps everything across a reopen', async () => {
      await docs.put('durable', 'k1', { v: 'one' });
      await docs.put('durable', 'k2', { v: 'two' });
      await docs.delete('durable', 'k1');
      await docs.close();
      docs = await reopen();
      assert.deepEqual(await docs.list('durable'), [{ v: 'two' }]);
    });

    it('backs the domain stores: API keys, cases, deliveries, evidence', async () => {
      const stores = new QueryStores(docs);
      const keys = new ApiKeyService(stores.keys, null);
      const { key, record } = await keys.create('analyst', ['write']);
      assert.deepEqual((await keys.authenticate(key))?.scopes, ['write']);
      assert.equal(await keys.authenticate(`${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`), null);
      await keys.revoke(record.id);
      assert.equal(await new ApiKeyService(stores.keys, null).authenticate(key), null);
      const d: Delivery = {
        id: 's.m',
        subscription_id: 's',
        message_id: 'm',
        event_type: 'finding.created',
        body: '{}',
        state: 'pending',
        attempts: [],
        next_attempt_ms: 0,
        created_at_ms: 1,
      };
      assert.equal(await stores.webhooks.createDelivery(d), true);
      assert.equal(await stores.webhooks.createDelivery({ ...d, body: 'again' }), false);
      assert.equal((await stores.webhooks.deliveries('s'))[0]?.body, '{}');
      await stores.evidence.put({
        sequence_id: 'q',
        src_ip: 'a',
        dst_ip: 'b',
        window_start_ms: 0,
        window_end_ms: 1,
        flows: [],
      });
      assert.equal((await stores.evidence.get('q'))?.dst_ip, 'b');
    });
  });
}

describe('EmbeddedDocumentStore log', () => {
  it('ignores a torn last line and compacts a log full of overwrites', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-docs-'));
    const docs = new EmbeddedDocumentStore(dir);
    for (let i = 0; i < 300; i++) await docs.put('c', 'same', { i });
    await docs.close();
    const { appendFile, readFile } = await import('node:fs/promises');
    await appendFile(join(dir, 'c.jsonl'), '{"id":"torn","doc":{');
    const again = new EmbeddedDocumentStore(dir);
    assert.deepEqual(await again.list('c'), [{ i: 299 }]);
    const text = await readFile(join(dir, 'c.jsonl'), 'utf8');
    assert.equal(text.trim().split('\n').length, 1);
    await again.close();
    await rm(dir, { recursive: true, force: true });
  });
});
