/**
 * Inference benchmark (issue #6). Run: `. /tmp/tidewatch-dev/env && node --import tsx bench/inference.ts`
 * (needs KAFKA_BROKERS; TW_BENCH_FILES=comma-separated labelled files overrides the input).
 *
 * Prints, all measured in this run on the same sequences (labelled captures' length distribution):
 *  1. onnxruntime-node sequences/s at batch 1, 64 and 512 (bucketed padding, pre-computed features);
 *  2. raw onnxruntime-node on exactly the service's micro-batches — the baseline — beside
 *     Detector.score (features + ONNX + Finding mapping) on the same batches;
 *  3. sustained sequences/s of the service from sequences.v1 (real Kafka) to stored points
 *     (embedded store, fsync per batch), and its overhead against the raw baseline (target < 20 %);
 *  4. p50/p99 latency from the producer's send to the stored point, at a paced rate of about half
 *     the sustained throughput.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaBus } from '@tidewatch/bus';
import { createCodecs, type Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { sequenceFeatures } from '@tidewatch/features';
import { readFlowFile } from '@tidewatch/flow-importers';
import { createApp, loadInferenceConfig } from '@tidewatch/inference';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedSuppressionStore } from '@tidewatch/suppression';
import { sharedPath, uniqueName } from '@tidewatch/testing';
import { EmbeddedStore, type StoredPoint } from '@tidewatch/vector-store';

const DEFAULT_FILES = [
  'ctu-malware-capture-botnet-4/conn.log.labeled',
  'ctu50_normal-43_day1/conn.log.labeled',
  'iot23/CTU-IoT-Malware-Capture-42-1.conn.log.labeled',
  'iot23/CTU-Malware-Capture-20-1-labeled.csv',
  'stratosphere_nmap-portscan/conn.log',
  'cic-ids2017_improved_cns2022/BENIGN_5000.csv',
  'cic-ids2017_improved_cns2022/DoS_Hulk_5000.csv',
];
const BATCH = Number(process.env['TW_BENCH_BATCH'] ?? 256);
const THREADS = Number(process.env['TW_BENCH_THREADS'] ?? 2);

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? Number.NaN;
}
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function loadSequences(): Promise<Sequence[]> {
  const files =
    process.env['TW_BENCH_FILES']?.split(',') ?? DEFAULT_FILES.map((f) => sharedPath('testdata/labeled', f));
  const out: Sequence[] = [];
  for (const f of files) {
    const flows = [];
    for await (const r of readFlowFile(f)) if (r.flow) flows.push(r.flow);
    out.push(...buildSequences(flows));
  }
  // Captures of one network and day (CIC class files) can cut the same conversation-window: one
  // point per sequence id, as in the store.
  const seen = new Set<string>();
  return out.filter((s) => !seen.has(s.sequence_id) && Boolean(seen.add(s.sequence_id)));
}

/** Best of `reps` runs of `fn` over all batches: sequences/s. */
async function rate(total: number, reps: number, fn: () => Promise<void>): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await fn();
    rates.push(total / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

/** An embedded store that records when each point became durable (upsert resolved). */
class TimedStore extends EmbeddedStore {
  readonly storedAt = new Map<string, number>();
  override async upsert(points: StoredPoint[]): Promise<void> {
    await super.upsert(points);
    const now = performance.timeOrigin + performance.now();
    for (const p of points) if (!this.storedAt.has(p.id)) this.storedAt.set(p.id, now);
  }
}

async function main(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  if (!brokers)
    throw new Error('KAFKA_BROKERS is not set (. /tmp/tidewatch-dev/env, or scripts/services.sh start)');
  const seqs = await loadSequences();
  const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: THREADS });
  const model = host.current;
  const lengths = seqs.map((s) => s.flows.length);
  console.log(
    `model ${model.version} on ${model.device}, ${THREADS} intra-op threads; ${fmt(seqs.length)} sequences from the labelled captures (flows per sequence: median ${median(lengths)}, p99 ${quantile(lengths, 0.99)}, one-flow ${((100 * lengths.filter((n) => n === 1).length) / seqs.length).toFixed(1)} %)`,
  );
  const feats = seqs.map((s) => sequenceFeatures(s));

  console.log('\n1. onnxruntime-node, bucketed padding, pre-computed features (median of 3):');
  for (const b of [1, 64, 512]) {
    const n = b === 1 ? Math.min(2000, feats.length) : feats.length;
    const r = await rate(n, 3, async () => {
      for (let i = 0; i < n; i += b) await model.run(feats.slice(i, Math.min(n, i + b)));
    });
    console.log(`   batch ${String(b).padStart(3)}: ${fmt(r)} sequences/s`);
  }

  const batches: Sequence[][] = [];
  for (let i = 0; i < seqs.length; i += BATCH) batches.push(seqs.slice(i, i + BATCH));
  const featBatches = batches.map((b) => b.map((s) => sequenceFeatures(s)));
  const raw = await rate(seqs.length, 3, async () => {
    for (const fb of featBatches) await model.run(fb);
  });
  const detector = new Detector(host);
  const scored = await rate(seqs.length, 3, async () => {
    for (const b of batches) await detector.score(b);
  });
  console.log(`\n2. the service's micro-batches (${BATCH}), median of 3:`);
  console.log(`   raw onnxruntime-node (baseline):          ${fmt(raw)} sequences/s`);
  console.log(
    `   Detector.score (features+ONNX+mapping):   ${fmt(scored)} sequences/s  (${((1 - scored / raw) * 100).toFixed(1)} % below raw)`,
  );
  await host.close();

  const bus = new KafkaBus({ brokers: brokers.split(','), clientId: 'bench-inference' });
  const codecs = await createCodecs();
  const producer = await bus.producer();
  const dirs: string[] = [];
  const runService = async (
    label: string,
    neighbours: number,
    publish: (topic: string, sentAt: Map<string, number>) => Promise<void>,
  ) => {
    const topic = uniqueName('bench.sequences.v1');
    const findings = uniqueName('bench.findings.v1');
    await bus.ensureTopics([
      { topic, partitions: 2 },
      { topic: findings, partitions: 2 },
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'tw-bench-'));
    dirs.push(dir);
    const store = new TimedStore({ dir: join(dir, 'vectors'), dim: model.manifest.embedding_dim });
    const config = loadInferenceConfig({
      KAFKA_BROKERS: brokers,
      TIDEWATCH_DATA_DIR: dir,
      TIDEWATCH_SEQUENCES_TOPIC: topic,
      TIDEWATCH_FINDINGS_TOPIC: findings,
      TIDEWATCH_INFERENCE_GROUP: uniqueName('bench'),
      TIDEWATCH_INFERENCE_BATCH_SIZE: String(BATCH),
      TIDEWATCH_INFERENCE_THREADS: String(THREADS),
      TIDEWATCH_HTTP_PORT: '0',
      TIDEWATCH_GRPC_PORT: '0',
      TIDEWATCH_INFERENCE_NEIGHBOURS: String(neighbours),
    });
    const sentAt = new Map<string, number>();
    const app = createApp(config, {
      bus,
      store,
      suppressions: new EmbeddedSuppressionStore(join(dir, 'rules')),
      serve: false,
    });
    return { app, store, topic, sentAt, label, run: () => publish(topic, sentAt) };
  };
  const encodeAll = seqs.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) }));

  // 3. Sustained throughput: everything is on the topic before the service starts.
  const waitAll = async (store: TimedStore) => {
    const deadline = Date.now() + 600_000;
    while (store.storedAt.size < seqs.length) {
      if (Date.now() > deadline)
        throw new Error(`only ${store.storedAt.size} of ${seqs.length} sequences stored after 10 min`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const sustainedWith = async (neighbours: number): Promise<number> => {
    const t3 = await runService('throughput', neighbours, async (topic) => {
      for (let i = 0; i < encodeAll.length; i += 2000)
        await producer.send(topic, encodeAll.slice(i, i + 2000));
    });
    await t3.run();
    await t3.app.start();
    await waitAll(t3.store);
    await t3.app.stop();
    const times = [...t3.store.storedAt.values()].sort((a, b) => a - b);
    // From the first stored batch to the last: the steady state, without the group join.
    return (seqs.length - BATCH) / (((times.at(-1) as number) - (times[0] as number)) / 1000);
  };
  const bare = await sustainedWith(0);
  const full = await sustainedWith(3);
  console.log(
    '\n3. service: sequences.v1 (Kafka) → stored points (embedded store, fsync per batch), same batches:',
  );
  console.log(`   raw onnxruntime-node on the same batches (baseline): ${fmt(raw)} sequences/s`);
  console.log(
    `   service, no neighbour lookups:       ${fmt(bare)} sequences/s → overhead ${((1 - bare / raw) * 100).toFixed(1)} % (target < 20 %)`,
  );
  console.log(
    `   service, 3 nearest labelled per alert: ${fmt(full)} sequences/s → overhead ${((1 - full / raw) * 100).toFixed(1)} % (exact brute-force kNN per alert over the embedded store)`,
  );
  const sustained = full;

  // 4. Latency at a paced rate.
  const paced = Math.max(100, Math.floor(sustained * 0.5));
  const t4 = await runService('latency', 3, async () => {});
  await t4.app.start();
  const chunk = Math.max(1, Math.round(paced / 50));
  const t0 = performance.now();
  for (let i = 0; i < encodeAll.length; i += chunk) {
    const due = t0 + (i / paced) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const part = encodeAll.slice(i, i + chunk);
    const at = performance.timeOrigin + performance.now();
    for (const m of part) t4.sentAt.set(m.key, at);
    await producer.send(t4.topic, part);
  }
  await waitAll(t4.store);
  await t4.app.stop();
  const lat = seqs.map(
    (s) => (t4.store.storedAt.get(s.sequence_id) as number) - (t4.sentAt.get(s.sequence_id) as number),
  );
  console.log(`\n4. latency send → stored at ${fmt(paced)} sequences/s offered:`);
  console.log(
    `   p50 ${quantile(lat, 0.5).toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`,
  );

  await producer.close();
  await bus.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
