/**
 * Inference benchmark (issue #6). Run: `. /tmp/tidewatch-dev/env && LOG_LEVEL=warn node --import tsx bench/inference.ts`
 * (needs KAFKA_BROKERS for the Kafka rows). Knobs (env): TW_BENCH_REPS (3), TW_BENCH_RUNS (service
 * runs per rep as bus:neighbours[:intra-op threads[:spin 1/0[:store[:partitions handled at once]]]], default
 * `kafka:3,kafka:0,inprocess:0`), TW_BENCH_RATE (offered sequences/s for the latency rows, 2000),
 * TW_BENCH_LATENCY_S (seconds per latency rep, 6; 0 skips), TW_BENCH_PASSES (passes over the captures per
 * service run, 3; see 2.), TW_BENCH_THREADS (service intra-op
 * threads; default the service's), TW_BENCH_BATCH / TW_BENCH_POLL (service model run size / consumer batch, 512 / 2048),
 * TW_BENCH_PARTITIONS (of sequences.v1, 2), TW_BENCH_SPIN (the service's default), TW_BENCH_CONCURRENCY (partitions handled at once; the service's default), TW_BENCH_WORKER (1), TW_BENCH_ALLOC (1: bytes allocated per sequence and GC share of the main isolate, sampled; TW_BENCH_ALLOC_DIR keeps each run's .heapprofile), TW_BENCH_FILES (comma-separated
 * labelled files instead of the default captures), TW_BENCH_STORE (path to another EmbeddedStore's
 * src/index.ts, e.g. an older commit's extracted with `git archive <commit> packages/vector-store |
 * tar -x -C bench/.vs-old`: runs whose spec ends in `:other` (`inprocess:3:::other`) use it, so a
 * store change is measured before/after in one run).
 *
 * All on the same sequences (labelled captures' length mix) in the same process and run, reps
 * interleaved (raw, then each service run) so load from the rest of the machine hits both:
 *  1. raw onnxruntime-node: session.run on exactly the padded batches the service hands the model
 *     (its consumer batches, bucketed by length, cut at its batch size), on the main thread, at 1
 *     and 2 intra-op threads (spinning and not); the fastest is the baseline;
 *  2. sustained sequences/s of the service from sequences.v1 to stored points (embedded store,
 *     fsync per write), everything published before it starts: the captures once as they are (a
 *     labelled import, which seeds the store's labelled points and warms the app up), then
 *     TW_BENCH_PASSES − 1 times as live traffic (new ids, no labels). The first pass is measured from
 *     the first stored write to the one that completes it, the sustained figure from there to the
 *     last; on Kafka and on the InProcessBus (the same pipeline without the wire), and the overhead
 *     against the baseline of the same rep (target < 20 %);
 *     Per run also: process CPU per sequence in each phase (and over the whole run, which includes
 *     the app's start: model session, worker, first compilation), and the same per kind of thread (main, model worker with its onnxruntime threads, V8's
 *     background workers (GC, compilation), libuv; Linux /proc, 10 ms ticks);
 *  3. latency from the producer's send to the bus handler (the bus alone, no-op handler) and to the
 *     stored point (all sequences, and alerts only: the
 *     stored findings) at a steady offered rate well below saturation.
 * Figures are medians over the reps.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InProcessBus, KafkaBus, type MessageBus, type OutgoingMessage } from '@tidewatch/bus';
import { createCodecs, type Finding, type Sequence } from '@tidewatch/contracts';
import { ModelRepository, OnnxModel, type PaddedBatch } from '@tidewatch/detector';
import { FLOW_FEATURE_COUNT, writeSequenceFeatures } from '@tidewatch/features';
import { readFlowFile } from '@tidewatch/flow-importers';
import { createApp, loadInferenceConfig } from '@tidewatch/inference';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedSuppressionStore } from '@tidewatch/suppression';
import { sharedPath, uniqueName } from '@tidewatch/testing';
import * as vectorStore from '@tidewatch/vector-store';
import { EmbeddedStore, type FindingRows, type UpsertPoint } from '@tidewatch/vector-store';

const DEFAULT_FILES = [
  'ctu-malware-capture-botnet-4/conn.log.labeled',
  'ctu50_normal-43_day1/conn.log.labeled',
  'iot23/CTU-IoT-Malware-Capture-42-1.conn.log.labeled',
  'iot23/CTU-Malware-Capture-20-1-labeled.csv',
  'stratosphere_nmap-portscan/conn.log',
  'cic-ids2017_improved_cns2022/BENIGN_5000.csv',
  'cic-ids2017_improved_cns2022/DoS_Hulk_5000.csv',
];
const env = process.env;
const REPS = Number(env['TW_BENCH_REPS'] ?? 3);
/** Service configurations: bus and nearest labelled neighbours per alert. */
const RUNS = (env['TW_BENCH_RUNS'] ?? 'kafka:3,kafka:0,inprocess:0')
  .split(',')
  .filter(Boolean)
  .map((r) => {
    const [
      bus = 'kafka',
      nb = '3',
      threads = env['TW_BENCH_THREADS'] || '',
      spin = env['TW_BENCH_SPIN'] || '',
      store = '',
      concurrency = env['TW_BENCH_CONCURRENCY'] || '',
      ahead = env['TW_BENCH_PREPARE_AHEAD'] || '',
    ] = r.split(':');
    const extra = threads ? `, ${threads} thr${spin === '0' ? ' no spin' : ''}` : '';
    const other = store === 'other' ? ', other store' : '';
    const conc = `${concurrency ? `, ${concurrency} part. at once` : ''}${ahead ? `, ahead ${ahead}` : ''}`;
    return {
      bus,
      neighbours: Number(nb),
      threads,
      spin,
      otherStore: store === 'other',
      concurrency,
      ahead,
      label: `${bus}, ${nb} nb${extra}${other}${conc}`,
    };
  });
const RATE = Number(env['TW_BENCH_RATE'] ?? 2000);
const LATENCY_S = Number(env['TW_BENCH_LATENCY_S'] ?? 6);
const BATCH = Number(env['TW_BENCH_BATCH'] ?? 512);
const POLL = Number(env['TW_BENCH_POLL'] ?? 2048);
const PARTITIONS = Number(env['TW_BENCH_PARTITIONS'] ?? 2);
const WORKER = env['TW_BENCH_WORKER'] ?? '1';
/**
 * Passes over the captures per service run: the first as they are (a labelled import: it seeds the
 * store's labelled points), each later one as live traffic (new ids, no labels). The sustained
 * figures are those of the later passes, on a warm app against the seeded store.
 */
const PASSES = Math.max(1, Number(env['TW_BENCH_PASSES'] ?? 3));
/** 1: sample the main isolate's allocations during each service run (slower; see AllocationMeter). */
const ALLOC = env['TW_BENCH_ALLOC'] ?? '';

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? Number.NaN;
}
const median = (xs: number[]) => quantile(xs, 0.5);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const nowMs = () => performance.timeOrigin + performance.now();
/** Process CPU (all threads) so far, µs. */
const cpuNowUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function loadSequences(): Promise<Sequence[]> {
  const files =
    env['TW_BENCH_FILES']?.split(',') ?? DEFAULT_FILES.map((f) => sharedPath('testdata/labeled', f));
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

/** The padded batches the service's Detector hands the model for these consumer batches. */
function serviceBatches(model: OnnxModel, seqs: Sequence[]): PaddedBatch[] {
  const out: PaddedBatch[] = [];
  for (let c = 0; c < seqs.length; c += POLL) {
    const consumerBatch = seqs.slice(c, c + POLL);
    const byBucket = new Map<number, Sequence[]>();
    for (const s of consumerBatch) {
      const b = model.bucketFor(Math.max(1, s.flows.length));
      byBucket.set(b, [...(byBucket.get(b) ?? []), s]);
    }
    for (const [len, list] of byBucket) {
      for (let i = 0; i < list.length; i += BATCH) {
        const chunk = list.slice(i, i + BATCH);
        const b = model.allocate(chunk.length, len);
        chunk.forEach((s, j) => {
          const rows = writeSequenceFeatures(
            s,
            b.flow,
            j * len * FLOW_FEATURE_COUNT,
            len,
            b.context,
            j * b.contextWidth,
            model.featureSpec,
          );
          b.mask.fill(1, j * len, j * len + rows);
        });
        out.push(b);
      }
    }
  }
  return out;
}

/**
 * Bytes the main isolate allocates during a service run, from V8's sampling heap profiler with the
 * objects later collected kept in (so the sum is allocation, not what survives), and the main
 * isolate's GC pause time. With `TW_BENCH_ALLOC_DIR` each run's profile is written there
 * (`.heapprofile`, open in DevTools) to see which functions allocate.
 */
class AllocationMeter {
  private readonly session = new Session();
  private gcMs = 0;
  private readonly gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcMs += e.duration;
  });

  async start(): Promise<void> {
    this.session.connect();
    this.gcMs = 0;
    this.gc.observe({ entryTypes: ['gc'] });
    await this.session.post('HeapProfiler.startSampling', {
      samplingInterval: 16384,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  }

  /** Allocated bytes and GC milliseconds since start(). */
  async stop(name: string): Promise<{ bytes: number; gcMs: number }> {
    // The protocol's profile carries `samples` (each a sampled allocation); Node's types omit it.
    const { profile } = (await this.session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: { samples: { size: number }[] };
    };
    this.gc.disconnect();
    this.session.disconnect();
    const dir = env['TW_BENCH_ALLOC_DIR'];
    if (dir) await writeFile(join(dir, `${name}.heapprofile`), JSON.stringify(profile));
    let bytes = 0;
    for (const s of profile.samples) bytes += s.size;
    return { bytes, gcMs: this.gcMs };
  }
}

/** EmbeddedStore, or the one TW_BENCH_STORE points at (same interface). */
const OtherStore = env['TW_BENCH_STORE']
  ? (
      (await import(pathToFileURL(resolve(env['TW_BENCH_STORE'])).href)) as {
        EmbeddedStore: typeof EmbeddedStore;
      }
    ).EmbeddedStore
  : null;

/**
 * CPU µs so far per kind of thread of this process (Linux /proc; empty elsewhere): `main` (the
 * event loop), `v8` (V8's platform workers, V8Worker: garbage collection, compilation), `libuv`, and the
 * model worker thread with the onnxruntime threads it started (they inherit its name).
 */
function threadCpuUs(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const us = (Number(f[11]) + Number(f[12])) * (1e6 / 100); // utime + stime, 100 ticks/s
      const kind =
        Number(tid) === process.pid
          ? 'main'
          : comm.startsWith('V8')
            ? 'v8'
            : comm.startsWith('libuv')
              ? 'libuv'
              : comm === 'WorkerThread'
                ? 'model worker'
                : 'other';
      out.set(kind, (out.get(kind) ?? 0) + us);
    }
  } catch {
    // not Linux
  }
  return out;
}

function timedStore(
  Base: typeof EmbeddedStore,
  opts: { dir: string; dim: number },
  perId: boolean,
): TimedStore {
  const Timed = class extends Base {
    /** When each id was first stored (latency runs only: a Map write per point costs the main thread). */
    readonly storedAt = new Map<string, number>();
    /** Points written so far (throughput runs write each id once). */
    stored = 0;
    readonly writes: StoredWrite[] = [];
    /**
     * Process and per-thread CPU at the first write, at the write that completes the first pass
     * (`firstPass` points stored: `warmWrite` is its index in `writes`) and once `expected` points
     * are stored; other writes note only their time and size.
     */
    expected = Number.POSITIVE_INFINITY;
    firstPass = Number.POSITIVE_INFINITY;
    warmWrite = -1;
    lastWrite = -1;
    threadsAtFirst: Map<string, number> | null = null;
    threadsAtWarm: Map<string, number> | null = null;
    threadsAtLast: Map<string, number> | null = null;
    private noted(at: number, n: number, ids: () => Iterable<string>): void {
      this.stored += n;
      if (perId) for (const id of ids()) if (!this.storedAt.has(id)) this.storedAt.set(id, at);
      const w: StoredWrite = { at, n, cpuUs: Number.NaN };
      this.writes.push(w);
      if (this.writes.length === 1) {
        w.cpuUs = cpuNowUs();
        this.threadsAtFirst = threadCpuUs();
      }
      if (this.stored >= this.firstPass && !this.threadsAtWarm) {
        w.cpuUs = cpuNowUs();
        this.threadsAtWarm = threadCpuUs();
        this.warmWrite = this.writes.length - 1;
      }
      if (this.stored >= this.expected && !this.threadsAtLast) {
        w.cpuUs = cpuNowUs();
        this.lastWrite = this.writes.length - 1;
        this.threadsAtLast = threadCpuUs();
      }
    }
    override async upsert(points: UpsertPoint[]): Promise<void> {
      await super.upsert(points);
      this.noted(nowMs(), points.length, () => points.map((p) => p.id));
    }
    override async upsertRows(batches: FindingRows[]): Promise<void> {
      // A store from before upsertRows (TW_BENCH_STORE) takes the same points.
      if (!super.upsertRows) return this.upsert(batches.flatMap(vectorStore.pointsOfRows));
      await super.upsertRows(batches);
      let n = 0;
      for (const rows of batches) n += rows.count;
      this.noted(nowMs(), n, () => batches.flatMap((rows) => rows.ids.slice(0, rows.count) as string[]));
    }
  };
  return new Timed(opts);
}

/** A UUID text from the first 16 bytes of a digest. */
function uuidOf(d: Buffer): string {
  const h = d.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Pass `p` (≥ 1) of `s` as live traffic: its own id (from the original and the pass), no labels. */
function livePass(s: Sequence, p: number): Sequence {
  return {
    ...s,
    sequence_id: uuidOf(createHash('sha256').update(`${s.sequence_id}#${p}`).digest()),
    flows: s.flows.map((f) => ({ ...f, label: null, attack: null })),
  };
}

type StoredWrite = { at: number; n: number; cpuUs: number };

/** One phase of the service runs (between two stored writes), a value per rep. */
class PhaseFigures {
  readonly rates: number[] = [];
  readonly ratios: number[] = [];
  readonly cores: number[] = [];
  readonly cpuUs: number[] = [];
  readonly threadUs = new Map<string, number[]>();

  /** The points stored by writes (from, to] over the time and CPU between those two writes. */
  add(
    writes: StoredWrite[],
    from: number,
    to: number,
    threadsAtFrom: Map<string, number> | null,
    threadsAtTo: Map<string, number> | null,
    rawBest: number,
  ): void {
    const a = writes[from];
    const b = writes[to];
    if (!a || !b || to <= from) return;
    let n = 0;
    for (let w = from + 1; w <= to; w++) n += (writes[w] as StoredWrite).n;
    const ms = b.at - a.at;
    this.rates.push(n / (ms / 1000));
    this.ratios.push(n / (ms / 1000) / rawBest);
    this.cores.push((b.cpuUs - a.cpuUs) / 1000 / ms);
    this.cpuUs.push((b.cpuUs - a.cpuUs) / n);
    if (threadsAtFrom && threadsAtTo)
      for (const [kind, us] of threadsAtTo)
        this.threadUs.set(kind, [
          ...(this.threadUs.get(kind) ?? []),
          (us - (threadsAtFrom.get(kind) ?? 0)) / n,
        ]);
  }
}

/** An embedded store that records when each point became durable (its upsert resolved). */
type TimedStore = EmbeddedStore & {
  readonly storedAt: Map<string, number>;
  readonly stored: number;
  readonly writes: StoredWrite[];
  expected: number;
  firstPass: number;
  warmWrite: number;
  lastWrite: number;
  threadsAtFirst: Map<string, number> | null;
  threadsAtWarm: Map<string, number> | null;
  threadsAtLast: Map<string, number> | null;
};

interface ServiceRun {
  bus: MessageBus;
  store: TimedStore;
  topic: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  waitStored(n: number): Promise<void>;
}

async function main(): Promise<void> {
  const brokers = env['KAFKA_BROKERS'];
  if (RUNS.some((r) => r.bus === 'kafka') && !brokers)
    throw new Error('KAFKA_BROKERS is not set (. /tmp/tidewatch-dev/env), or TW_BENCH_RUNS=inprocess:3');
  const seqs = await loadSequences();
  const codecs = await createCodecs();
  const repo = new ModelRepository();
  const dir = repo.dirOf(await repo.defaultVersion());
  const raw1 = await OnnxModel.load(dir, { worker: false, intraOpThreads: 1, maxBatch: BATCH });
  const raw2 = await OnnxModel.load(dir, { worker: false, intraOpThreads: 2, maxBatch: BATCH });
  const raw2q = await OnnxModel.load(dir, {
    worker: false,
    intraOpThreads: 2,
    allowSpinning: false,
    maxBatch: BATCH,
  });
  const batches = serviceBatches(raw2, seqs);
  const lengths = seqs.map((s) => s.flows.length);
  const alertIds = new Set<string>();
  console.log(
    `model ${raw2.version}; ${fmt(seqs.length)} sequences from the labelled captures (flows per sequence: median ${median(lengths)}, p99 ${quantile(lengths, 0.99)}, one-flow ${pct(lengths.filter((n) => n === 1).length / seqs.length)}) → ${batches.length} model runs (consumer batch ${POLL}, run ≤ ${BATCH} per length bucket)`,
  );
  console.log(
    `service: ${env['TW_BENCH_THREADS'] || "the service's default"} intra-op thread(s), spinning ${env['TW_BENCH_SPIN'] === '1' ? 'on' : env['TW_BENCH_SPIN'] === '0' ? 'off' : "as the service's default"} unless the run says otherwise, model on ${WORKER === '1' ? 'a worker thread' : 'the event loop'}; ${REPS} reps, medians; load average at start ${loadavg()[0]?.toFixed(1)}`,
  );

  /** Sequences/s and CPU µs per sequence (all threads of the process) of raw session.run. */
  const rawRun = async (model: OnnxModel): Promise<{ rate: number; cpuUs: number }> => {
    const t = performance.now();
    const c0 = process.cpuUsage();
    for (const b of batches) await model.runBatch(b);
    const cu = process.cpuUsage(c0);
    return {
      rate: seqs.length / ((performance.now() - t) / 1000),
      cpuUs: (cu.user + cu.system) / seqs.length,
    };
  };
  await rawRun(raw2); // warm-up

  const encoded: OutgoingMessage[] = seqs.map((s) => ({
    key: s.sequence_id,
    value: codecs.sequences.encode(s),
  }));
  /** Every pass's messages: the captures, then PASSES − 1 copies as live traffic. */
  const published = [...encoded];
  for (let p = 1; p < PASSES; p++)
    for (const s of seqs) {
      const live = livePass(s, p);
      published.push({ key: live.sequence_id, value: codecs.sequences.encode(live) });
    }
  const kafka = brokers ? new KafkaBus({ brokers: brokers.split(','), clientId: 'bench-inference' }) : null;
  const dirs: string[] = [];

  /** A service run; `perId`: note when each id was stored (latency runs). */
  const service = async (cfg: (typeof RUNS)[number], perId: boolean): Promise<ServiceRun> => {
    const busName = cfg.bus;
    const bus: MessageBus =
      busName === 'kafka' ? (kafka as KafkaBus) : new InProcessBus({ defaultPartitions: PARTITIONS });
    const topic = uniqueName('bench.sequences.v1');
    const findings = uniqueName('bench.findings.v1');
    await bus.ensureTopics([
      { topic, partitions: PARTITIONS },
      { topic: findings, partitions: PARTITIONS },
    ]);
    const data = await mkdtemp(join(tmpdir(), 'tw-bench-'));
    dirs.push(data);
    if (cfg.otherStore && !OtherStore) throw new Error(`${cfg.label}: set TW_BENCH_STORE`);
    const store = timedStore(
      cfg.otherStore && OtherStore ? OtherStore : EmbeddedStore,
      { dir: join(data, 'vectors'), dim: raw2.manifest.embedding_dim },
      perId,
    );
    const config = loadInferenceConfig({
      KAFKA_BROKERS: brokers ?? 'unused:9092',
      TIDEWATCH_DATA_DIR: data,
      TIDEWATCH_SEQUENCES_TOPIC: topic,
      TIDEWATCH_FINDINGS_TOPIC: findings,
      TIDEWATCH_INFERENCE_GROUP: uniqueName('bench'),
      TIDEWATCH_INFERENCE_BATCH_SIZE: String(BATCH),
      TIDEWATCH_INFERENCE_MAX_POLL: String(POLL),
      ...(cfg.concurrency ? { TIDEWATCH_INFERENCE_PARTITION_CONCURRENCY: cfg.concurrency } : {}),
      ...(cfg.ahead ? { TIDEWATCH_INFERENCE_PREPARE_AHEAD: cfg.ahead } : {}),
      TIDEWATCH_INFERENCE_THREADS: cfg.threads,
      TIDEWATCH_INFERENCE_SPIN: cfg.spin,
      TIDEWATCH_INFERENCE_WORKER: WORKER,
      TIDEWATCH_INFERENCE_NEIGHBOURS: String(cfg.neighbours),
      TIDEWATCH_HTTP_PORT: '0',
      TIDEWATCH_GRPC_PORT: '0',
    });
    const app = createApp(config, {
      bus,
      store,
      suppressions: new EmbeddedSuppressionStore(join(data, 'rules')),
      serve: false,
    });
    return {
      bus,
      store,
      topic,
      start: () => app.start(),
      stop: async () => {
        await app.stop();
        // The app closes only stores it opened itself; this one is the bench's.
        await store.close();
        if (bus !== kafka) await bus.close();
      },
      waitStored: async (n: number) => {
        const deadline = Date.now() + 300_000;
        while (store.stored < n) {
          if (Date.now() > deadline) throw new Error(`only ${store.stored} of ${n} stored after 5 min`);
          await new Promise((r) => setTimeout(r, 10));
        }
      },
    };
  };

  const publish = async (run: ServiceRun, msgs: OutgoingMessage[]) => {
    const producer = await run.bus.producer();
    for (let i = 0; i < msgs.length; i += 2000) await producer.send(run.topic, msgs.slice(i, i + 2000));
    await producer.close();
  };

  // 1 + 2: interleaved reps.
  const raws: { one: number; two: number; twoQuiet: number; cpuUs: number }[] = [];
  const cpuUs = RUNS.map(() => [] as number[]);
  /** Per run configuration: the first pass (cold app, labelled import) and the later ones (sustained). */
  const phases = RUNS.map(() => ({ cold: new PhaseFigures(), sustained: new PhaseFigures() }));
  const allocs = RUNS.map(() => [] as number[]);
  const gcShares = RUNS.map(() => [] as number[]);
  for (let rep = 0; rep < REPS; rep++) {
    const r1 = await rawRun(raw1);
    const r2 = await rawRun(raw2);
    const r2q = await rawRun(raw2q);
    const one = r1.rate;
    const two = r2.rate;
    const twoQuiet = r2q.rate;
    const rawBest = Math.max(one, two, twoQuiet);
    raws.push({ one, two, twoQuiet, cpuUs: r1.cpuUs });
    const line = [`raw ${fmt(one)} (1 thread) / ${fmt(two)} (2) / ${fmt(twoQuiet)} (2, no spin)`];
    for (const [i, cfg] of RUNS.entries()) {
      const run = await service(cfg, false);
      await publish(run, published);
      const meter = ALLOC ? new AllocationMeter() : null;
      await meter?.start();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      run.store.expected = published.length;
      run.store.firstPass = seqs.length;
      await run.start();
      await run.waitStored(published.length);
      const cu = process.cpuUsage(c0);
      const wallMs = performance.now() - t0;
      const alloc = await meter?.stop(`${cfg.label.replace(/[^a-z0-9]+/gi, '-')}-rep${rep + 1}`);
      if (alloc) {
        allocs[i]?.push(alloc.bytes / published.length);
        gcShares[i]?.push(alloc.gcMs / wallMs);
      }
      await run.stop();
      // Both phases leave out the app's start (model session, worker, first compilation): they
      // begin at a stored write. The figure over the whole run, start included, is cpuUs.
      const { writes, warmWrite, lastWrite, threadsAtFirst, threadsAtWarm, threadsAtLast } = run.store;
      const phase = phases[i] as (typeof phases)[number];
      phase.cold.add(writes, 0, warmWrite, threadsAtFirst, threadsAtWarm, rawBest);
      if (PASSES > 1)
        phase.sustained.add(writes, warmWrite, lastWrite, threadsAtWarm, threadsAtLast, rawBest);
      cpuUs[i]?.push((cu.user + cu.system) / published.length);
      if (alertIds.size === 0) {
        for (const { id, payload } of await allPoints(run.store)) {
          const flagged = Object.values(payload.explanation.subscores).some((v) => v >= 0.8);
          if (payload.verdict === 'malicious' || flagged) alertIds.add(id);
        }
      }
      const headline = PASSES > 1 ? phase.sustained : phase.cold;
      line.push(`${cfg.label} ${fmt(headline.rates.at(-1) ?? Number.NaN)}`);
    }
    console.log(`  rep ${rep + 1}: ${line.join(', ')} sequences/s`);
  }
  const base = median(raws.map((r) => Math.max(r.one, r.two, r.twoQuiet)));
  console.log(
    "\n1. raw onnxruntime-node on the service's padded batches (main thread, no decode/features/store):",
  );
  console.log(`   1 intra-op thread:  ${fmt(median(raws.map((r) => r.one)))} sequences/s`);
  console.log(`   2 intra-op threads: ${fmt(median(raws.map((r) => r.two)))} sequences/s`);
  console.log(`   2 intra-op threads, no spinning: ${fmt(median(raws.map((r) => r.twoQuiet)))} sequences/s`);
  console.log(`   baseline (the fastest of the three in each rep): ${fmt(base)} sequences/s`);
  // The service's default on 2 CPUs: one intra-op thread, the other core left to the event loop.
  console.log(
    `   1 thread / baseline: ${(median(raws.map((r) => r.one / Math.max(r.one, r.two, r.twoQuiet)))).toFixed(2)}× (the most a service whose model runs on one intra-op thread can reach)`,
  );
  const rawCpu = median(raws.map((r) => r.cpuUs));
  console.log(`   CPU per sequence at 1 thread: ${rawCpu.toFixed(1)} µs`);
  /** The figures that answer the target: the sustained passes, or the only one. */
  const headlineOf = (i: number) => {
    const p = phases[i] as (typeof phases)[number];
    return PASSES > 1 ? p.sustained : p.cold;
  };
  const phaseRows = (label: string, pick: (i: number) => PhaseFigures) => {
    console.log(`   ${label}`);
    for (const [i, cfg] of RUNS.entries()) {
      const f = pick(i);
      const ratio = median(f.ratios);
      console.log(
        `   ${cfg.label.padEnd(24)} ${fmt(median(f.rates))} sequences/s = ${ratio.toFixed(2)}× raw → overhead ${pct(1 - ratio)} (target < 20 %); process CPU ${median(f.cores).toFixed(2)} cores, ${median(f.cpuUs).toFixed(1)} µs/sequence (ONNX share ${pct(rawCpu / median(f.cpuUs))})`,
      );
      const threads = [...f.threadUs].filter(([, v]) => median(v) >= 0.05);
      if (threads.length > 0)
        console.log(
          `   ${''.padEnd(24)} per thread (10 ms ticks): ${threads.map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')} µs/sequence`,
        );
    }
  };
  console.log(
    `\n2. service, sequences.v1 → stored points (embedded store); ${pct(alertIds.size / (seqs.length * PASSES))} of the sequences are alerts; ${PASSES} pass(es) of ${fmt(seqs.length)} published before the app starts, figures from one stored write to another (the app's start left out):`,
  );
  phaseRows(
    'first pass (cold app; the captures as a labelled import, seeding the store):',
    (i) => (phases[i] as (typeof phases)[number]).cold,
  );
  if (PASSES > 1)
    phaseRows(
      `sustained: passes 2–${PASSES} (warm app; the same sequences as live traffic, new ids, no labels, against the seeded store):`,
      (i) => (phases[i] as (typeof phases)[number]).sustained,
    );
  for (const [i, cfg] of RUNS.entries()) {
    console.log(
      `   ${cfg.label.padEnd(24)} whole run, app start included: ${median(cpuUs[i] ?? []).toFixed(1)} µs/sequence`,
    );
    if (ALLOC)
      console.log(
        `   ${''.padEnd(24)} main isolate: ${fmt(median(allocs[i] ?? []))} bytes allocated per sequence, GC pauses ${pct(median(gcShares[i] ?? []))} of the run's wall time (sampled, profiler on)`,
      );
  }
  const indexOf = (bus: string, nb: number) => RUNS.findIndex((r) => r.bus === bus && r.neighbours === nb);
  const ratioOf = (bus: string, nb: number) => {
    const i = indexOf(bus, nb);
    return i < 0 ? null : median(headlineOf(i).ratios);
  };
  const k3 = ratioOf('kafka', 3);
  const k0 = ratioOf('kafka', 0);
  const i0 = ratioOf('inprocess', 0);
  if (k3 !== null && k0 !== null && i0 !== null) {
    console.log(
      `   split of the full Kafka run's loss (${pct(1 - k3)} of raw): neighbour kNN in the store (kafka 0 − 3 neighbours) ${pct(k0 - k3)}, the bus/wire (InProcessBus − Kafka, 0 neighbours) ${pct(i0 - k0)}, the rest (decode, features, findings, store writes, emit) ${pct(1 - i0)}`,
    );
  }
  const cpuOf = (bus: string, nb: number) => {
    const i = indexOf(bus, nb);
    return i < 0 ? null : median(headlineOf(i).cpuUs);
  };
  const c3 = cpuOf('kafka', 3);
  const c0 = cpuOf('kafka', 0);
  const ci = cpuOf('inprocess', 0);
  if (c3 !== null && c0 !== null && ci !== null) {
    console.log(
      `   CPU per sequence: ONNX ${rawCpu.toFixed(1)} µs, kNN ${(c3 - c0).toFixed(1)} µs, Kafka bus ${(c0 - ci).toFixed(1)} µs, the rest ${(ci - rawCpu).toFixed(1)} µs (a loaded machine shrinks the throughput figures; CPU per sequence much less)`,
    );
  }

  // 3: latency at a steady offered rate (TW_BENCH_LATENCY_S=0 skips it).
  async function latencyRows(): Promise<void> {
    console.log(
      `\n3. latency at a steady offered rate (≤ ${fmt(RATE)}/s and ≤ 30 % of the run's sustained rate; ${LATENCY_S} s per rep), medians of the reps' p50/p99:`,
    );
    /** Sends `slice` at `rate` in chunks every 10 ms; returns each key's send time. */
    const paced = async (bus: MessageBus, topic: string, slice: OutgoingMessage[], rate: number) => {
      const producer = await bus.producer();
      const sentAt = new Map<string, number>();
      const chunk = Math.max(1, Math.round(rate / 100));
      const t0 = performance.now();
      for (let i = 0; i < slice.length; i += chunk) {
        const wait = t0 + (i / rate) * 1000 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const part = slice.slice(i, i + chunk);
        const at = nowMs();
        for (const m of part) sentAt.set(m.key as string, at);
        await producer.send(topic, part);
      }
      await producer.close();
      return sentAt;
    };
    const sliceOf = (rep: number, rate: number) => {
      // A different slice of the mix per rep.
      const n = Math.min(seqs.length, Math.round(rate * LATENCY_S));
      const from = (rep * 7919) % Math.max(1, seqs.length - n);
      return encoded.slice(from, from + n);
    };
    const row = (label: string, p50: number[], p99: number[], extra = '') =>
      console.log(
        `   ${label.padEnd(24)} p50 ${median(p50).toFixed(1)} ms, p99 ${median(p99).toFixed(1)} ms${extra}`,
      );
    for (const bus of new Set(RUNS.map((r) => r.bus))) {
      // The bus alone: a handler that only notes when each message arrived.
      const b50: number[] = [];
      const b99: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const b: MessageBus =
          bus === 'kafka' ? (kafka as KafkaBus) : new InProcessBus({ defaultPartitions: PARTITIONS });
        const topic = uniqueName('bench.bus-latency');
        await b.ensureTopics([{ topic, partitions: PARTITIONS }]);
        const got = new Map<string, number>();
        const consumer = b.consumer({
          groupId: uniqueName('bench-bus'),
          topics: [topic],
          maxBatchSize: POLL,
        });
        await consumer.run(async (messages) => {
          const at = nowMs();
          for (const m of messages) got.set(m.key?.toString() ?? '', at);
        });
        const slice = sliceOf(rep, RATE);
        const sentAt = await paced(b, topic, slice, RATE);
        while (got.size < slice.length) await new Promise((r) => setTimeout(r, 10));
        await consumer.stop();
        if (b !== kafka) await b.close();
        const lat = [...sentAt].map(([id, at]) => (got.get(id) as number) - at);
        b50.push(quantile(lat, 0.5));
        b99.push(quantile(lat, 0.99));
      }
      row(`${bus}, bus only`, b50, b99, ` at ${fmt(RATE)}/s (send → handler called)`);
    }
    for (const [i, cfg] of RUNS.entries()) {
      // Well below this configuration's sustained rate, so the figure is latency, not queueing.
      const rate = Math.max(50, Math.min(RATE, Math.round(0.3 * median(headlineOf(i).rates))));
      const p50: number[] = [];
      const p99: number[] = [];
      const a50: number[] = [];
      const a99: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const run = await service(cfg, true);
        await run.start();
        const slice = sliceOf(rep, rate);
        const sentAt = await paced(run.bus, run.topic, slice, rate);
        await run.waitStored(slice.length);
        await run.stop();
        const lat: number[] = [];
        const alat: number[] = [];
        for (const [id, at] of sentAt) {
          const d = (run.store.storedAt.get(id) as number) - at;
          lat.push(d);
          if (alertIds.has(id)) alat.push(d);
        }
        p50.push(quantile(lat, 0.5));
        p99.push(quantile(lat, 0.99));
        a50.push(quantile(alat, 0.5));
        a99.push(quantile(alat, 0.99));
      }
      row(cfg.label, p50, p99, ` at ${fmt(rate)}/s (send → point stored)`);
      row(`${cfg.label}, findings`, a50, a99, ` at ${fmt(rate)}/s (send → alert stored)`);
    }
  }
  if (LATENCY_S > 0) await latencyRows();

  await raw1.release();
  await raw2.release();
  await raw2q.release();
  await kafka?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}

/** Every stored point's payload (the store's own listing, paged). */
async function allPoints(store: EmbeddedStore) {
  const out: { id: string; payload: Finding }[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: 10_000, ...(cursor ? { cursor } : {}) });
    for (const f of page.items) out.push({ id: f.sequence_id, payload: f });
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
