import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KafkaBus } from '@tidewatch/bus';
import { createCodecs, type Finding, type Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository, scoreFlowFile } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedSuppressionStore } from '@tidewatch/suppression';
import {
  needsServices,
  needsShared,
  serviceEndpoints,
  sharedPath,
  uniqueName,
  waitFor,
} from '@tidewatch/testing';
import { EmbeddedStore } from '@tidewatch/vector-store';
import { createApp, type InferenceApp, loadInferenceConfig } from '../src/index.ts';

// A labelled IoT-23 capture with C&C (Torii) among benign traffic: 3,209 rows.
const CAPTURE = 'testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv';

const skip = needsServices().skip || needsShared().skip;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function sequencesOf(path: string): Promise<Sequence[]> {
  const flows = [];
  for await (const r of readFlowFile(path)) if (r.flow) flows.push(r.flow);
  return buildSequences(flows);
}

function config(dataDir: string, topics: { sequences: string; findings: string }, group: string) {
  return loadInferenceConfig({
    KAFKA_BROKERS: serviceEndpoints()?.kafkaBrokers.join(','),
    TIDEWATCH_DATA_DIR: dataDir,
    TIDEWATCH_SEQUENCES_TOPIC: topics.sequences,
    TIDEWATCH_FINDINGS_TOPIC: topics.findings,
    TIDEWATCH_INFERENCE_GROUP: group,
    TIDEWATCH_INFERENCE_BATCH_SIZE: '128',
    TIDEWATCH_INFERENCE_MAX_POLL: '200',
    TIDEWATCH_HTTP_PORT: '0',
    TIDEWATCH_GRPC_PORT: '0',
    TIDEWATCH_INFERENCE_THREADS: '1',
  });
}

describe('inference on real Kafka with the embedded store', { skip }, () => {
  it('stores every sequence of a labelled capture, matching offline `score`, and survives a restart mid-stream', async () => {
    const path = sharedPath(CAPTURE);
    const seqs = await sequencesOf(path);
    assert.ok(seqs.length > 500, `capture has ${seqs.length} sequences`);

    // Offline: the `tidewatch score` path (importer → buildSequences → detector).
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    const offline = await scoreFlowFile(path, new Detector(host));
    await host.close();
    const expected = new Map(offline.sequences.map((s) => [s.finding.sequence_id, s.finding]));
    assert.equal(expected.size, seqs.length);

    const topics = { sequences: uniqueName('sequences.v1'), findings: uniqueName('findings.v1') };
    const group = uniqueName('inference');
    const dataDir = await mkdtemp(join(tmpdir(), 'tw-inference-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const bus = new KafkaBus({ brokers: serviceEndpoints()?.kafkaBrokers ?? [], clientId: 'inference-test' });
    cleanups.push(() => bus.close());
    await bus.ensureTopics([
      { topic: topics.sequences, partitions: 2 },
      { topic: topics.findings, partitions: 2 },
    ]);
    const codecs = await createCodecs();
    const producer = await bus.producer();
    cleanups.push(() => producer.close());
    const publish = (list: Sequence[]) =>
      producer.send(
        topics.sequences,
        list.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
      );
    // A poison message: not Avro. It must go to the DLQ, not stop the stream.
    await producer.send(topics.sequences, [{ key: 'garbage', value: Buffer.from('not avro') }]);
    const half = Math.floor(seqs.length / 2);
    await publish(seqs.slice(0, half));

    const storeDir = join(dataDir, 'inference', `vectors-d64`);
    const pointCount = async () => {
      const s = new EmbeddedStore({ dir: storeDir, dim: 64 });
      await s.init();
      const n = await s.count();
      await s.close();
      return n;
    };

    let app: InferenceApp = createApp(config(dataDir, topics, group), {
      suppressions: new EmbeddedSuppressionStore(join(dataDir, 'rules')),
    });
    await app.start();
    const firstRun = app;
    // Stop mid-stream: some, but not all, of the first half is stored.
    await waitFor(async () => (await app.store.count()) >= 200, { timeoutMs: 60_000, what: 'first points' });
    await publish(seqs.slice(half));
    await app.stop();
    const before = await pointCount();
    assert.ok(before < seqs.length, `stopped mid-stream (${before} of ${seqs.length})`);

    app = createApp(config(dataDir, topics, group), {
      suppressions: new EmbeddedSuppressionStore(join(dataDir, 'rules')),
    });
    await app.start();
    cleanups.push(() => app.stop());
    await waitFor(async () => (await app.store.count()) === seqs.length, {
      timeoutMs: 120_000,
      what: `all ${seqs.length} points`,
    });

    // Nothing lost, nothing duplicated: one point per sequence id.
    const stored: Finding[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Finding[]; nextCursor: string | null } = await app.store.list({
        limit: 1000,
        cursor,
      });
      stored.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    assert.equal(stored.length, seqs.length);
    assert.equal(new Set(stored.map((f) => f.sequence_id)).size, seqs.length);

    // Same scores as offline (batch composition differs, so float noise only), same verdicts and tactics.
    const threshold = app.detector.model.manifest.thresholds.score;
    let compared = 0;
    for (const f of stored) {
      const want = expected.get(f.sequence_id);
      assert.ok(want, `stored ${f.sequence_id} is a sequence of the capture`);
      assert.ok(
        Math.abs(f.score - want.score) < 1e-4,
        `${f.sequence_id}: ${f.score} online vs ${want.score} offline`,
      );
      if (Math.abs(want.score - threshold) > 1e-4) {
        assert.equal(f.verdict, want.verdict);
        assert.equal(f.tactics[0]?.id ?? null, want.tactics[0]?.id ?? null);
        compared++;
      }
      assert.equal(f.label, want.label);
      assert.equal(f.model_version, app.detector.model.version);
    }
    assert.ok(compared > seqs.length * 0.99);
    // findings.v1 carries exactly the alerting sequences (at-least-once: a replay may repeat one).
    const alerts = new Set(offline.sequences.filter((s) => s.alert).map((s) => s.finding.sequence_id));
    const emitted = new Set<string>();
    const reader = bus.consumer({ groupId: uniqueName('findings-reader'), topics: [topics.findings] });
    await reader.run(async (messages) => {
      for (const m of messages) emitted.add(codecs.findings.decode(m.value).sequence_id);
    });
    cleanups.push(() => reader.stop());
    await waitFor(() => emitted.size >= alerts.size, { timeoutMs: 30_000, what: `${alerts.size} findings` });
    assert.deepEqual([...emitted].sort(), [...alerts].sort());
    const sum = async (a: InferenceApp) =>
      (await a.metrics.deadLettered.get()).values.reduce((n, v) => n + v.value, 0);
    assert.equal((await sum(firstRun)) + (await sum(app)), 1, 'the one poison message went to the DLQ');
  });
});
