import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RetriableError } from '@tidewatch/bus';
import { ElasticBulkSink, SentinelSink } from '../src/push/sinks.ts';
import { makeFinding } from './harness.ts';
import { startReceiver } from './receivers.ts';

describe('Elastic bulk sink', () => {
  const docs = new Map<string, Record<string, unknown>>();
  let rejectNext = false;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  after(async () => rx?.close());

  it('creates one ECS document per finding by sequence id; a replayed batch is a no-op', async () => {
    rx = await startReceiver((r) => {
      assert.equal(r.url, '/_bulk');
      assert.equal(r.headers['content-type'], 'application/x-ndjson');
      assert.equal(r.headers.authorization, 'ApiKey secret');
      assert.ok(r.body.endsWith('\n'));
      const lines = r.body.trimEnd().split('\n');
      const items: unknown[] = [];
      for (let i = 0; i < lines.length; i += 2) {
        const action = JSON.parse(lines[i] as string) as { create: { _index: string; _id: string } };
        const doc = JSON.parse(lines[i + 1] as string) as Record<string, unknown>;
        const exists = docs.has(action.create._id);
        if (rejectNext)
          items.push({ create: { status: 429, error: { reason: 'es_rejected_execution_exception' } } });
        else if (exists)
          items.push({ create: { status: 409, error: { reason: 'version_conflict_engine_exception' } } });
        else {
          docs.set(action.create._id, doc);
          items.push({ create: { status: 201 } });
        }
      }
      const errors = items.some((i) => (i as { create: { status: number } }).create.status >= 300);
      return { status: 200, body: { took: 1, errors, items } };
    });
    const sink = new ElasticBulkSink({
      url: rx.url,
      index: 'tidewatch-findings',
      apiKey: 'secret',
      batchSize: 10,
    });
    const batch = [0, 1, 2].map((n) => makeFinding(n));
    await sink.send(batch);
    await sink.send(batch);
    assert.equal(docs.size, 3);
    const first = docs.get(makeFinding(0).sequence_id) as { event: { kind: string } };
    assert.equal(first.event.kind, 'alert');
    rejectNext = true;
    await assert.rejects(
      sink.send([makeFinding(7)]),
      (e: Error) => e instanceof RetriableError && /rejected 1 documents: es_rejected/.test(e.message),
    );
  });
});

describe('Microsoft Sentinel Logs Ingestion sink', () => {
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  after(async () => rx?.close());

  it('gets a client-credentials token once and posts rows to the DCR stream', async () => {
    const rows: Record<string, unknown>[] = [];
    let tokens = 0;
    rx = await startReceiver((r) => {
      if (r.url === '/token') {
        const form = new URLSearchParams(r.body);
        assert.equal(form.get('grant_type'), 'client_credentials');
        assert.equal(form.get('scope'), 'https://monitor.azure.com//.default');
        assert.equal(form.get('client_id'), 'app-id');
        tokens++;
        return { status: 200, body: { access_token: 'tok', expires_in: 3600, token_type: 'Bearer' } };
      }
      assert.equal(r.url, '/dataCollectionRules/dcr-123/streams/Custom-Tidewatch_CL?api-version=2023-01-01');
      assert.equal(r.headers.authorization, 'Bearer tok');
      rows.push(...(JSON.parse(r.body) as Record<string, unknown>[]));
      return { status: 204 };
    });
    const sink = new SentinelSink({
      endpoint: rx.url,
      dcrId: 'dcr-123',
      stream: 'Custom-Tidewatch_CL',
      tenantId: 't',
      clientId: 'app-id',
      clientSecret: 's',
      tokenUrl: `${rx.url}/token`,
      batchSize: 100,
    });
    await sink.send([makeFinding(0), makeFinding(1)]);
    await sink.send([makeFinding(2)]);
    assert.equal(tokens, 1);
    assert.equal(rows.length, 3);
    assert.equal(rows[0]?.['SequenceId'], makeFinding(0).sequence_id);
    assert.equal(rows[0]?.['Technique'], 'T1046');
    assert.ok(!Number.isNaN(Date.parse(rows[0]?.['TimeGenerated'] as string)));
  });
});
