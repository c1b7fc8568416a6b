import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InProcessBus } from '@tidewatch/bus';
import { createCodecs, type Finding, type Sequence, type SequenceFlow } from '@tidewatch/contracts';
import { ModelRepository } from '@tidewatch/detector';
import { EmbeddedSuppressionStore, type SuppressionRule } from '@tidewatch/suppression';
import { waitFor } from '@tidewatch/testing';
import { createApp, type InferenceApp, loadInferenceConfig, loadProtos } from '../src/index.ts';

const ADMIN = 'test-admin-key';

function flow(i: number, over: Partial<SequenceFlow> = {}): SequenceFlow {
  return {
    start_ms: 1_700_000_000_000 + i * 60_000,
    end_ms: 1_700_000_000_000 + i * 60_000 + 30,
    protocol: 6,
    src_port: 40_000 + i,
    dst_port: 443,
    fwd_bytes: 420,
    fwd_pkts: 4,
    bwd_bytes: 180,
    bwd_pkts: 3,
    tcp_flags: 0x1b,
    label: 0,
    attack: null,
    origin: `test:${i}`,
    ...over,
  };
}

function sequence(n: number, k: number): Sequence {
  return {
    sequence_id: `11111111-2222-5333-8444-${k.toString(16).padStart(12, '0')}`,
    src_ip: `10.1.0.${k}`,
    dst_ip: '10.2.0.1',
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows: Array.from({ length: n }, (_, i) =>
      flow(i, { fwd_bytes: 100 * (k + 1) + i, dst_port: k % 2 ? 22 : 443 }),
    ),
    context: { distinct_dsts: 1 + (k % 3), distinct_dst_ports: 1, connections: n },
  };
}

type Unary = (req: unknown, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;
function call<T>(client: grpc.Client, method: string, req: unknown, md = new grpc.Metadata()): Promise<T> {
  return new Promise((res, rej) =>
    ((client as unknown as Record<string, Unary>)[method] as Unary).call(client, req, md, (e, r) =>
      e ? rej(e) : res(r as T),
    ),
  );
}

describe('inference gRPC, HTTP admin and suppression (in-process bus, embedded store)', () => {
  let app: InferenceApp;
  let dir: string;
  let inference: grpc.Client;
  let health: grpc.Client;
  let reflection: grpc.Client;
  const bus = new InProcessBus();
  const seqs = Array.from({ length: 24 }, (_, k) => sequence(1 + (k % 6), k));
  let rules: EmbeddedSuppressionStore;
  let publish: (list: Sequence[]) => Promise<void>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tw-grpc-'));
    // A model repository with two versions of the default model, for swap and rollback.
    const repo = new ModelRepository();
    const src = repo.dirOf(await repo.defaultVersion());
    for (const v of ['m-a', 'm-b']) {
      await cp(src, join(dir, 'models', v), { recursive: true });
      const mf = join(dir, 'models', v, 'manifest.json');
      const m = JSON.parse(await readFile(mf, 'utf8')) as Record<string, unknown>;
      await writeFile(mf, JSON.stringify({ ...m, version: v }));
    }
    await writeFile(join(dir, 'models', 'DEFAULT'), 'm-a\n');
    rules = new EmbeddedSuppressionStore(join(dir, 'rules'));
    app = createApp(
      loadInferenceConfig({
        TIDEWATCH_DATA_DIR: dir,
        TIDEWATCH_MODEL_DIR: join(dir, 'models'),
        TIDEWATCH_HTTP_PORT: '0',
        TIDEWATCH_GRPC_PORT: '0',
        TIDEWATCH_ADMIN_KEY: ADMIN,
        TIDEWATCH_SUPPRESSION_REFRESH_MS: '0',
        TIDEWATCH_INFERENCE_MAX_WAIT_MS: '1',
      }),
      { bus, suppressions: rules },
    );
    await app.start();
    const codecs = await createCodecs();
    const producer = await bus.producer();
    publish = (list) =>
      producer.send(
        'sequences.v1',
        list.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
      );
    await publish(seqs);
    await waitFor(async () => (await app.store.count()) === seqs.length, { what: 'stored sequences' });
    const pkg = grpc.loadPackageDefinition(loadProtos()) as unknown as {
      tidewatch: { v1: { Inference: typeof grpc.Client } };
      grpc: { health: { v1: { Health: typeof grpc.Client } } };
    };
    const addr = `127.0.0.1:${app.ports.grpc}`;
    inference = new pkg.tidewatch.v1.Inference(addr, grpc.credentials.createInsecure());
    health = new pkg.grpc.health.v1.Health(addr, grpc.credentials.createInsecure());
    const reflDir = dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json'));
    const refl = grpc.loadPackageDefinition(
      protoLoader.loadSync(join(reflDir, 'build/proto/grpc/reflection/v1/reflection.proto'), {
        keepCase: true,
      }),
    ) as unknown as { grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } } };
    reflection = new refl.grpc.reflection.v1.ServerReflection(addr, grpc.credentials.createInsecure());
  });

  after(async () => {
    inference?.close();
    health?.close();
    reflection?.close();
    await app?.stop();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('health reports SERVING for the server and the service, NOT_FOUND for others', async () => {
    assert.deepEqual(await call(health, 'Check', { service: '' }), { status: 'SERVING' });
    assert.deepEqual(await call(health, 'Check', { service: 'tidewatch.v1.Inference' }), {
      status: 'SERVING',
    });
    await assert.rejects(
      call(health, 'Check', { service: 'nope' }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
  });

  it('reflection lists the services', async () => {
    const names = await new Promise<string[]>((res, rej) => {
      const stream = (
        reflection as unknown as { ServerReflectionInfo: () => grpc.ClientDuplexStream<unknown, unknown> }
      ).ServerReflectionInfo();
      stream.on('data', (r: { list_services_response?: { service: { name: string }[] } }) => {
        res((r.list_services_response?.service ?? []).map((s) => s.name));
        stream.end();
      });
      stream.on('error', rej);
      stream.write({ list_services: '' });
    });
    for (const n of ['tidewatch.v1.Inference', 'grpc.health.v1.Health'])
      assert.ok(names.includes(n), `${n} in ${names}`);
  });

  it('ModelInfo, Classify and Embed use the active model', async () => {
    const info = await call<{
      version: string;
      embedding_dim: number;
      trained_tactics: string[];
      tactics: string[];
      available: { version: string }[];
    }>(inference, 'ModelInfo', {});
    assert.equal(info.version, 'm-a');
    assert.ok(info.trained_tactics.every((t) => info.tactics.includes(t)));
    assert.deepEqual(info.available.map((v) => v.version).sort(), ['m-a', 'm-b']);
    const pb = seqs
      .slice(0, 3)
      .map((s) => ({ ...s, flows: s.flows.map(({ label: _l, attack: _a, origin: _o, ...f }) => f) }));
    const classified = await call<{
      model_version: string;
      findings: { sequence_id: string; score: number; verdict: string; label: number }[];
    }>(inference, 'Classify', { sequences: pb });
    assert.equal(classified.model_version, 'm-a');
    assert.equal(classified.findings.length, 3);
    for (const [i, f] of classified.findings.entries()) {
      const stored = await app.store.get(seqs[i]?.sequence_id as string, { withVector: false });
      assert.equal(f.sequence_id, seqs[i]?.sequence_id);
      assert.ok(Math.abs(f.score - (stored?.payload.score ?? -1)) < 1e-5, 'same score as the streaming path');
      assert.equal(f.label, -1, 'ad-hoc input carries no ground truth');
    }
    const emb = await call<{ embeddings: { vector: number[] }[] }>(inference, 'Embed', {
      sequences: pb.slice(0, 1),
    });
    assert.equal(emb.embeddings[0]?.vector.length, info.embedding_dim);
    await assert.rejects(
      call(inference, 'Classify', { sequences: [{ ...pb[0], flows: [] }] }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /no flows/.test(e.details),
    );
  });

  it("Classify reads the responder's fan-in (context.distinct_srcs) and returns the reflection sub-score", async () => {
    const reflector = (k: number, distinctSrcs?: number) => ({
      ...sequence(1, 100 + k),
      flows: [
        {
          start_ms: 1_700_000_000_000,
          end_ms: 1_700_000_000_000,
          protocol: 17,
          src_port: 161,
          dst_port: 41_000,
          fwd_bytes: 57,
          fwd_pkts: 1,
          bwd_bytes: 0,
          bwd_pkts: 0,
          tcp_flags: 0,
        },
      ],
      context: { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1, distinct_srcs: distinctSrcs },
    });
    const res = await call<{
      findings: {
        explanation: { subscores: { reflection: number; scan: number } };
        tactics: { id: string }[];
        techniques: { id: string }[];
      }[];
    }>(inference, 'Classify', { sequences: [reflector(0, 4276), reflector(1)] });
    const [flood, unknown] = res.findings;
    assert.equal(flood?.explanation.subscores.reflection, 1);
    assert.equal(flood?.tactics[0]?.id, 'TA0040');
    assert.equal(flood?.techniques[0]?.id, 'T1498.002');
    // A caller that gives no fan-in gets 0 (proto3's default), as an earlier producer's sequence does.
    assert.equal(unknown?.explanation.subscores.reflection, 0);
  });

  it("Classify reads the responder's probing fan-in (context.distinct_probe_srcs) and raises an inbound scan", async () => {
    const scanner = (k: number, distinctProbeSrcs?: number) => ({
      ...sequence(1, 200 + k),
      flows: [
        {
          start_ms: 1_700_000_000_000,
          end_ms: 1_700_000_000_000,
          protocol: 6,
          src_port: 50_000 + k,
          dst_port: 23,
          fwd_bytes: 60,
          fwd_pkts: 1,
          bwd_bytes: 0,
          bwd_pkts: 0,
          tcp_flags: 2,
        },
      ],
      context: {
        distinct_dsts: 1,
        distinct_dst_ports: 1,
        connections: 1,
        distinct_srcs: 40,
        distinct_probe_srcs: distinctProbeSrcs,
      },
    });
    const res = await call<{
      findings: { explanation: { subscores: { scan: number } }; tactics: { id: string }[] }[];
    }>(inference, 'Classify', { sequences: [scanner(0, 40), scanner(1)] });
    const [scan, unknown] = res.findings;
    assert.equal(scan?.explanation.subscores.scan, 1);
    assert.equal(scan?.tactics[0]?.id, 'TA0043');
    // Without the field (proto3's default 0), as from an earlier producer: no inbound term.
    assert.equal(unknown?.explanation.subscores.scan, 0);
  });

  it("Classify reads a flow's sampling_rate: a sampled flow with nothing back is not silent (subscores.v5)", async () => {
    // A busy server's sampled reply that met no sampled request: one flow toward a client, nothing back,
    // from a server that answered 30 clients in the window.
    const reply = (k: number, samplingRate?: number) => ({
      ...sequence(1, 300 + k),
      flows: [
        {
          start_ms: 1_700_000_000_000,
          end_ms: 1_700_000_000_000,
          protocol: 6,
          src_port: 51_000 + k,
          dst_port: 8_080,
          fwd_bytes: 1_500,
          fwd_pkts: 1,
          bwd_bytes: 0,
          bwd_pkts: 0,
          tcp_flags: 0x10,
          ...(samplingRate === undefined ? {} : { sampling_rate: samplingRate }),
        },
      ],
      context: { distinct_dsts: 30, distinct_dst_ports: 1, connections: 30 },
    });
    const res = await call<{ findings: { explanation: { subscores: { scan: number } } }[] }>(
      inference,
      'Classify',
      { sequences: [reply(0, 1_000), reply(1), reply(2, 1)] },
    );
    const [sampled, unknown, unsampled] = res.findings;
    assert.equal(sampled?.explanation.subscores.scan, 0);
    // Not given (proto3's default 0) reads as 1, every packet seen: the silent fan-out scores.
    assert.equal(unknown?.explanation.subscores.scan, 1);
    assert.equal(unsampled?.explanation.subscores.scan, 1);
  });

  it('Similar by stored sequence id excludes itself and honours the filter; by vector needs the right dimension', async () => {
    const id = seqs[5]?.sequence_id as string;
    const res = await call<{
      hits: { sequence_id: string; similarity: number; finding: { src_ip: string } }[];
    }>(inference, 'Similar', {
      sequence_id: id,
      k: 5,
    });
    assert.equal(res.hits.length, 5);
    assert.ok(!res.hits.some((h) => h.sequence_id === id));
    for (let i = 1; i < res.hits.length; i++)
      assert.ok((res.hits[i - 1]?.similarity ?? 0) >= (res.hits[i]?.similarity ?? 0));
    const filtered = await call<{ hits: { finding: { src_ip: string } }[] }>(inference, 'Similar', {
      sequence_id: id,
      k: 50,
      filter: { src_ip: '10.1.0.0/29' },
    });
    assert.ok(filtered.hits.length > 0 && filtered.hits.length <= 7);
    assert.ok(filtered.hits.every((h) => Number(h.finding.src_ip.split('.')[3]) < 8));
    const point = await app.store.get(id);
    const byVector = await call<{ hits: { sequence_id: string; similarity: number }[] }>(
      inference,
      'Similar',
      {
        vector: { vector: point?.vector },
        k: 1,
      },
    );
    assert.equal(byVector.hits[0]?.sequence_id, id);
    await assert.rejects(
      call(inference, 'Similar', { sequence_id: '00000000-0000-5000-8000-000000000000', k: 3 }),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    await assert.rejects(
      call(inference, 'Similar', { vector: { vector: [1, 2, 3] }, k: 3 }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT,
    );
  });

  it('suppression rules mark matching re-scored sequences suppressed; an analyst status survives re-scoring', async () => {
    const target = seqs[7] as Sequence;
    const point = await app.store.get(target.sequence_id);
    assert.ok(point);
    const rule: SuppressionRule = {
      id: 'rule-backup',
      finding_id: target.sequence_id,
      reason: 'nightly backup',
      threshold: 0.999,
      vector: point.vector,
      src_ip: null,
      dst_ip: null,
      created_by: 'analyst',
      created_at_ms: Date.now(),
      retroactive_count: 0,
      enabled: true,
    };
    await rules.put(rule);
    const resolved = seqs[8] as Sequence;
    await app.store.updatePayload([resolved.sequence_id], { status: 'resolved' });
    const previous =
      (await app.store.get(resolved.sequence_id, { withVector: false }))?.payload.scored_at_ms ?? 0;
    await new Promise((r) => setTimeout(r, 5));
    await publish([target, resolved]);
    await waitFor(
      async () =>
        (await app.store.get(target.sequence_id, { withVector: false }))?.payload.status === 'suppressed',
      {
        what: 'suppressed status',
      },
    );
    const t = (await app.store.get(target.sequence_id, { withVector: false }))?.payload as Finding;
    assert.equal(t.suppressed_by, 'rule-backup');
    assert.equal(await app.store.count(), seqs.length, 'suppressed, not dropped or duplicated');
    await waitFor(
      async () => {
        const r = (await app.store.get(resolved.sequence_id, { withVector: false }))?.payload;
        return r && r.scored_at_ms > previous;
      },
      { what: 're-scored resolved point' },
    );
    assert.equal(
      (await app.store.get(resolved.sequence_id, { withVector: false }))?.payload.status,
      'resolved',
    );
  });

  it('hot-swaps and rolls back over gRPC (admin key) and HTTP; versions are recorded on points', async () => {
    await assert.rejects(
      call(inference, 'SwapModel', { version: 'm-b' }),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED,
    );
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${ADMIN}`);
    const swapped = await call<{ version: string; previous_versions: string[] }>(
      inference,
      'SwapModel',
      { version: 'm-b' },
      md,
    );
    assert.equal(swapped.version, 'm-b');
    assert.deepEqual(swapped.previous_versions, ['m-a']);
    await publish([seqs[0] as Sequence]);
    await waitFor(
      async () =>
        (await app.store.get(seqs[0]?.sequence_id as string, { withVector: false }))?.payload
          .model_version === 'm-b',
      {
        what: 'point re-scored by m-b',
      },
    );
    assert.equal(await app.store.count({ modelVersion: 'm-a' }), seqs.length - 1);
    await assert.rejects(
      call(inference, 'SwapModel', { version: 'missing' }, md),
      (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND,
    );
    const http = `http://127.0.0.1:${app.ports.http}`;
    const denied = await fetch(`${http}/v1/admin/model/rollback`, { method: 'POST' });
    assert.equal(denied.status, 401);
    const rolled = await fetch(`${http}/v1/admin/model/rollback`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(rolled.status, 200);
    assert.equal(((await rolled.json()) as { version: string }).version, 'm-a');
    const swap = await fetch(`${http}/v1/admin/model/swap`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ version: 'm-b' }),
    });
    assert.equal(((await swap.json()) as { version: string }).version, 'm-b');
    await app.rollbackModel();
    assert.equal(app.detector.model.version, 'm-a');
  });

  it('serves /livez, /readyz and /metrics', async () => {
    const http = `http://127.0.0.1:${app.ports.http}`;
    assert.equal((await fetch(`${http}/livez`)).status, 200);
    assert.equal((await fetch(`${http}/readyz`)).status, 200);
    const text = await (await fetch(`${http}/metrics`)).text();
    for (const m of [
      'tidewatch_inference_sequences_total',
      'tidewatch_inference_batch_size_bucket',
      'tidewatch_inference_model_seconds_bucket',
      'tidewatch_inference_store_seconds_bucket',
      'tidewatch_inference_model_info{version="m-a"',
      'tidewatch_inference_suppressed_total 1',
    ]) {
      assert.ok(text.includes(m), `metrics include ${m}`);
    }
  });
});

describe('retention', () => {
  it('deletes points whose window ended before TIDEWATCH_RETENTION_DAYS at start (and hourly)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-retention-'));
    const bus = new InProcessBus();
    const app = createApp(
      loadInferenceConfig({
        TIDEWATCH_DATA_DIR: dir,
        TIDEWATCH_RETENTION_DAYS: '1',
        TIDEWATCH_HTTP_PORT: '0',
        TIDEWATCH_GRPC_PORT: '0',
      }),
      { bus, suppressions: new EmbeddedSuppressionStore(join(dir, 'rules')), serve: false },
    );
    try {
      await app.start();
      const codecs = await createCodecs();
      const producer = await bus.producer();
      const now = Date.now();
      const old = {
        ...sequence(2, 1),
        window_start_ms: now - 3 * 86_400_000,
        window_end_ms: now - 3 * 86_400_000 + 300_000,
      };
      const fresh = { ...sequence(2, 2), window_start_ms: now - 600_000, window_end_ms: now - 300_000 };
      await producer.send(
        'sequences.v1',
        [old, fresh].map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
      );
      await waitFor(async () => (await app.store.count()) === 2, { what: 'two points' });
      await app.stop();
      const again = createApp(
        loadInferenceConfig({ TIDEWATCH_DATA_DIR: dir, TIDEWATCH_RETENTION_DAYS: '1' }),
        { bus, suppressions: new EmbeddedSuppressionStore(join(dir, 'rules')), serve: false },
      );
      await again.start();
      await waitFor(async () => (await again.store.count()) === 1, { what: 'old point deleted' });
      assert.ok(await again.store.get(fresh.sequence_id));
      await again.stop();
    } finally {
      await app.stop();
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
