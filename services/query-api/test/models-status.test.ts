import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRepository } from '@tidewatch/detector';
import { after, before, describe, it } from 'node:test';
import { ADMIN_KEY, DIM, type Harness, makeVector, seqId, startHarness } from './harness.ts';
import { startReceiver } from './receivers.ts';

/** Two model versions on disk, v2 the default; model.onnx only has to exist for the listing. */
async function modelDir(root: string): Promise<ModelRepository> {
  for (const [version, created] of [
    ['flow-test-1', '2026-11-01T00:00:00Z'],
    ['flow-test-2', '2026-11-10T00:00:00Z'],
  ] as const) {
    const dir = join(root, version);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), '');
    await writeFile(
      join(dir, 'manifest.json'),
      JSON.stringify({
        version,
        created_at: created,
        feature_spec_hash: 'abc123',
        tactics: ['TA0007', 'TA0011'],
        thresholds: { score: 0.5 },
        embedding_dim: DIM,
        max_len: 32,
        metrics: { pr_auc: 0.9 },
      }),
    );
  }
  await writeFile(join(root, 'DEFAULT'), 'flow-test-2\n');
  return new ModelRepository(root);
}

describe('GET /v1/embeddings', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ seed: 30 });
  });
  after(async () => h?.close());

  it('returns each finding with its stored vector, newest window first, suppressed ones included', async () => {
    await h.store.updatePayload([seqId(29)], { status: 'suppressed' });
    const r = await h.call('GET', '/v1/embeddings?limit=25', { key: h.keys.read });
    assert.equal(r.status, 200);
    assert.equal(r.body.items.length, 25);
    const starts = r.body.items.map(
      (i: { finding: { window_start_ms: number } }) => i.finding.window_start_ms,
    );
    assert.deepEqual(
      starts,
      [...starts].sort((a, b) => b - a),
    );
    for (const item of r.body.items) {
      const n = Array.from({ length: 30 }, (_, k) => k).find((k) => seqId(k) === item.finding.sequence_id);
      assert.ok(n !== undefined, `unknown finding ${item.finding.sequence_id}`);
      const want = makeVector(n);
      assert.equal(item.vector.length, DIM);
      // The store keeps unit vectors: same direction as the one written.
      const dot = want.reduce((a, w, d) => a + w * (item.vector[d] as number), 0);
      const norm = Math.hypot(...want) * Math.hypot(...(item.vector as number[]));
      assert.ok(Math.abs(dot / norm - 1) < 1e-5, `vector of finding ${n} differs from the stored one`);
      assert.equal(item.finding.id, item.finding.sequence_id);
    }
    assert.ok(r.body.items.some((i: { finding: { status: string } }) => i.finding.status === 'suppressed'));
  });

  it('filters by time window and caps limit at 5000', async () => {
    const r = await h.call(
      'GET',
      `/v1/embeddings?from=${Date.UTC(2026, 10, 20, 13)}&to=${Date.UTC(2026, 10, 20, 14)}`,
      {
        key: h.keys.read,
      },
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.items.length, 10);
    const big = await h.call('GET', '/v1/embeddings?limit=5001', { key: h.keys.read });
    assert.equal(big.status, 400);
    assert.equal(big.body.field, 'limit');
  });

  it('needs a key', async () => {
    const r = await h.call('GET', '/v1/embeddings', { key: null });
    assert.equal(r.status, 401);
  });
});

describe('model versions and status', () => {
  const roots: string[] = [];
  after(async () => {
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });
  async function freshRoot(): Promise<string> {
    const r = await mkdtemp(join(tmpdir(), 'tw-models-'));
    roots.push(r);
    return r;
  }

  async function withApp(
    deps: Parameters<typeof startHarness>[0],
    fn: (app: Harness) => Promise<void>,
  ): Promise<void> {
    const app = await startHarness(deps);
    try {
      await fn(app);
    } finally {
      await app.close();
    }
  }

  it('lists versions newest first with manifest facts and the default; active unknown out of process', async () => {
    const root = await freshRoot();
    await withApp({ deps: { modelRepository: await modelDir(root) } }, async (app) => {
      const r = await app.call('GET', '/v1/models', { key: app.keys.read });
      assert.equal(r.status, 200);
      assert.deepEqual(
        r.body.versions.map((v: { version: string }) => v.version),
        ['flow-test-2', 'flow-test-1'],
      );
      assert.equal(r.body.default, 'flow-test-2');
      assert.equal(r.body.active, null);
      assert.deepEqual(r.body.versions[0], {
        version: 'flow-test-2',
        created_at: '2026-11-10T00:00:00Z',
        active: false,
        default: true,
        embedding_dim: DIM,
        tactics: ['TA0007', 'TA0011'],
        thresholds: { score: 0.5 },
        feature_spec_hash: 'abc123',
        metrics: { pr_auc: 0.9 },
      });
      assert.equal((await app.call('GET', '/v1/models', { key: null })).status, 401);
    });
  });

  it('refuses activation without an inference to reach (409), unknown versions (404) and read keys (403)', async () => {
    const root = await freshRoot();
    await withApp({ deps: { modelRepository: await modelDir(root) } }, async (app) => {
      const none = await app.call('POST', '/v1/models/flow-test-1/activate');
      assert.equal(none.status, 409);
      assert.equal(none.body.error, 'conflict');
      assert.match(none.body.message, /TIDEWATCH_INFERENCE_ADMIN_URL is not set/);
      const unknown = await app.call('POST', '/v1/models/flow-9.9.9/activate');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.message, "model version 'flow-9.9.9' not found");
      const read = await app.call('POST', '/v1/models/flow-test-1/activate', { key: app.keys.read });
      assert.equal(read.status, 403);
      assert.equal(read.body.message, 'this route needs the admin scope');
      const write = await app.call('POST', '/v1/models/flow-test-1/activate', { key: app.keys.write });
      assert.equal(write.status, 403);
      assert.equal((await app.call('POST', '/v1/models/flow-test-1/activate', { key: null })).status, 401);
    });
  });

  it('activates through the in-process model control and reports the active version', async () => {
    const root = await freshRoot();
    let active = 'flow-test-2';
    const calls: string[] = [];
    const modelControl = {
      active: () => active,
      activate: async (version: string) => {
        calls.push(version);
        active = version;
      },
    };
    const status = () => ({ exporters: [{ exporter: '10.0.0.1', datagrams: 7 }] });
    await withApp({ deps: { modelRepository: await modelDir(root), modelControl, status } }, async (app) => {
      const r = await app.call('POST', '/v1/models/flow-test-1/activate');
      assert.equal(r.status, 200);
      assert.deepEqual(calls, ['flow-test-1']);
      assert.equal(r.body.version, 'flow-test-1');
      assert.equal(r.body.active, true);
      assert.equal(r.body.default, false);
      const list = await app.call('GET', '/v1/models', { key: app.keys.read });
      assert.equal(list.body.active, 'flow-test-1');
      assert.deepEqual(
        list.body.versions.map((v: { version: string; active: boolean }) => [v.version, v.active]),
        [
          ['flow-test-2', false],
          ['flow-test-1', true],
        ],
      );
      const s = await app.call('GET', '/v1/status', { key: app.keys.read });
      assert.equal(s.status, 200);
      assert.deepEqual(s.body, {
        ready: true,
        model: { active: 'flow-test-1', default: 'flow-test-2' },
        services: [
          { name: 'query-api', ready: true },
          { name: 'inference', ready: true },
        ],
        sinks: [],
        exporters: [{ exporter: '10.0.0.1', datagrams: 7 }],
      });
    });
  });

  it('activates through the inference admin endpoint when TIDEWATCH_INFERENCE_ADMIN_URL is set', async () => {
    const root = await freshRoot();
    // Answers as services/inference/src/http-server.ts does: 200 on swap, 409 with the reason on refusal.
    const inference = await startReceiver((r) =>
      JSON.parse(r.body).version === 'flow-test-1'
        ? { status: 200, body: { version: 'flow-test-1' } }
        : { status: 409, body: { error: 'model flow-test-2 embeds in 4 dimensions but the store holds 8' } },
    );
    try {
      await withApp(
        {
          env: { TIDEWATCH_INFERENCE_ADMIN_URL: inference.url },
          deps: { modelRepository: await modelDir(root) },
        },
        async (app) => {
          const ok = await app.call('POST', '/v1/models/flow-test-1/activate');
          assert.equal(ok.status, 200);
          assert.equal(ok.body.active, true);
          assert.equal(inference.requests.length, 1);
          assert.equal(inference.requests[0]?.url, '/v1/admin/model/swap');
          assert.equal(inference.requests[0]?.headers.authorization, `Bearer ${ADMIN_KEY}`);
          assert.deepEqual(JSON.parse(inference.requests[0]?.body ?? ''), { version: 'flow-test-1' });
          const refused = await app.call('POST', '/v1/models/flow-test-2/activate');
          assert.equal(refused.status, 409);
          assert.equal(
            refused.body.message,
            'inference refused to activate flow-test-2 (409): model flow-test-2 embeds in 4 dimensions but the store holds 8',
          );
        },
      );
    } finally {
      await inference.close();
    }
  });

  it('reports a failed in-process swap as 409 with the reason', async () => {
    const root = await freshRoot();
    const modelControl = {
      active: () => 'flow-test-2',
      activate: async () => {
        throw new Error('model flow-test-1 embeds in 4 dimensions but the store holds 8');
      },
    };
    await withApp({ deps: { modelRepository: await modelDir(root), modelControl } }, async (app) => {
      const r = await app.call('POST', '/v1/models/flow-test-1/activate');
      assert.equal(r.status, 409);
      assert.equal(
        r.body.message,
        'activating flow-test-1 failed: model flow-test-1 embeds in 4 dimensions but the store holds 8',
      );
    });
  });

  it('status out of process: inference readiness unknown, no collector sections', async () => {
    const root = await freshRoot();
    await withApp({ deps: { modelRepository: await modelDir(root) } }, async (app) => {
      const s = await app.call('GET', '/v1/status', { key: app.keys.read });
      assert.equal(s.status, 200);
      assert.deepEqual(s.body.model, { active: null, default: 'flow-test-2' });
      assert.deepEqual(s.body.services, [
        { name: 'query-api', ready: true },
        { name: 'inference', ready: null },
      ]);
      assert.equal(s.body.exporters, undefined);
      assert.equal((await app.call('GET', '/v1/status', { key: null })).status, 401);
    });
  });

  it('publishes the three routes in the OpenAPI document the UI probes', async () => {
    await withApp({}, async (app) => {
      const doc = (await app.call('GET', '/openapi.json', { key: null })).body;
      assert.ok(doc.paths['/v1/embeddings']?.get);
      assert.ok(doc.paths['/v1/models']?.get);
      assert.ok(doc.paths['/v1/models/{version}/activate']?.post);
      assert.ok(doc.paths['/v1/status']?.get);
    });
  });
});
