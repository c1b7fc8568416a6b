/**
 * Sequencer throughput and memory.
 *
 *   . /tmp/tidewatch-dev/env   # or any KAFKA_BROKERS and REDIS_URL
 *   node --expose-gc --import tsx bench/sequencer.ts [--flows N] [--conversations C] [--reps R]
 *   node --expose-gc --import tsx bench/sequencer.ts --only core --reps 7   # no Kafka/Redis needed
 *   node --import tsx bench/sequencer.ts --only core --reps 1 --digest      # sha256 of the core output
 *     (and of the same messages as the schema before SequenceFlow.sampling_rate wrote them: decoded
 *     and re-encoded with it; equal to that tree's digest when nothing else changed)
 *   node --import tsx bench/sequencer.ts --only core --reps 1 --digest --sink  # the same via writeWindow
 *
 * Throughput: the same Avro flows.v1 messages (Kafka on loopback) are consumed R times by
 *  - pass-through: a plain consume-and-produce of every message to another topic (the floor),
 *  - the sequencer with Redis entity statistics (the production path),
 *  - the sequencer with exact in-memory statistics (the one-process path),
 * each timed until every input message was consumed, and the same decode → sequence → encode
 * work with no I/O at all (the sequencing core); CPU seconds are this Node process's own
 * (user + system), so flows per CPU second is the per-core figure. Medians are printed.
 * Memory: open conversation-windows held by the pure PartitionSequencer, heap + external (typed-array
 * columns) delta per window.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { CollectingRecordSink, KafkaBus } from '@tidewatch/bus';
import {
  AvroCodec,
  conversationKey,
  createCodecs,
  type FlowRecord,
  LocalSchemaRegistry,
  PREVIOUS_SCHEMAS,
  type Sequence,
} from '@tidewatch/contracts';
import { connectRedisState, createApp, loadSequencerConfig } from '@tidewatch/sequencer';
import {
  type EncodedSequence,
  encodeWindow,
  FlowDecoder,
  InMemoryEntityStats,
  PartitionSequencer,
  SequenceEncoder,
  sequencingSpec,
  type WindowContribution,
  windowContribution,
  writeWindow,
} from '@tidewatch/sequencing';
import { uniqueName, seededRandom } from '@tidewatch/testing';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const FLOWS = opt('--flows', 300_000);
const CONVERSATIONS = opt('--conversations', 20_000);
const REPS = opt('--reps', 3);
/**
 * `--only redis,core` runs just those paths (profiling); the default runs all four. `--only script`
 * measures the Redis statistics scripts alone (server CPU and memory per conversation-window).
 */
const ONLY = (() => {
  const i = args.indexOf('--only');
  return new Set(i >= 0 ? (args[i + 1] ?? '').split(',') : ['pass', 'redis', 'memory', 'core']);
})();
/** `--digest`: the core path also prints sha256 over every key and value it emits (changes that must keep the bytes). */
const DIGEST = args.includes('--digest');
/** `--digest`: the schema before SequenceFlow.sampling_rate, to hash the messages as that tree wrote them. */
const previousSequences = DIGEST
  ? await new AvroCodec<Sequence>(
      { topic: 'sequences.v1', schema: PREVIOUS_SCHEMAS[2] as (typeof PREVIOUS_SCHEMAS)[2] },
      new LocalSchemaRegistry(),
    ).init()
  : undefined;
/**
 * `--sink`: the core path writes each window with writeWindow into a record sink (the one the
 * send() fallback uses) instead of encodeWindow's messages; --digest must give the same sha256.
 */
const SINK = args.includes('--sink');
const PARTITIONS = 3;
process.env['KAFKAJS_NO_PARTITIONER_WARNING'] = '1';
const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
const redisUrl = process.env['REDIS_URL'];
/** `--only core` needs neither Kafka nor Redis (the core path's A/B on any box). */
const NEEDS_SERVICES = [...ONLY].some((o) => o !== 'core');
if (NEEDS_SERVICES && (brokers.length === 0 || !redisUrl)) {
  process.stderr.write('KAFKA_BROKERS and REDIS_URL are required (. /tmp/tidewatch-dev/env)\n');
  process.exit(2);
}

const rand = seededRandom(7);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Flows of CONVERSATIONS conversations over 30 minutes of event time (6 windows), mildly out of order. */
function syntheticFlows(n: number, conversations: number): FlowRecord[] {
  const t0 = 1_700_000_000_000;
  const span = 30 * 60_000;
  const out: FlowRecord[] = [];
  for (let i = 0; i < n; i++) {
    const c = Math.floor(rand() * conversations);
    const start = t0 + Math.floor((i / n) * span + rand() * 20_000);
    const base: FlowRecord = {
      exporter: '192.0.2.1',
      observation_domain: 0,
      source_format: 'zeek_conn',
      start_ms: start,
      end_ms: start + Math.floor(rand() * 2000),
      protocol: 6,
      src_ip: `10.${(c >> 16) & 255}.${(c >> 8) & 255}.${c & 255}`,
      dst_ip: `172.16.${c % 50}.${(c * 7) % 250}`,
      src_port: 30_000 + Math.floor(rand() * 30_000),
      dst_port: [443, 80, 53, 22][c % 4] as number,
      fwd_bytes: Math.floor(rand() * 5000),
      fwd_pkts: 1 + Math.floor(rand() * 20),
      bwd_bytes: Math.floor(rand() * 50_000),
      bwd_pkts: 1 + Math.floor(rand() * 40),
      tcp_flags: 0x1b,
      sampling_rate: 1,
      label: null,
      attack: null,
      extra: {},
    };
    out.push(base);
  }
  return out;
}

const codecs = await createCodecs();
let flows = syntheticFlows(FLOWS, CONVERSATIONS);
/** Conversation-windows of the input (the records are bidirectional: no stitching). */
const WINDOWS = new Set(
  flows.map((f) => `${f.src_ip}|${f.dst_ip}|${Math.floor(f.start_ms / sequencingSpec().window_ms)}`),
).size;
/**
 * The input's Avro messages back to back in one buffer, record i at `ends[i - 1]` to `ends[i]`: what
 * the core path decodes. The record objects are dropped below (unless `--only script` needs them):
 * held while timing, they were most of what the mark-compacts marked, a cost the service never has.
 */
const encoded = (() => {
  const values = flows.map((f) => codecs.flows.encode(f));
  const ends = new Uint32Array(values.length);
  let end = 0;
  values.forEach((v, i) => {
    end += v.length;
    ends[i] = end;
  });
  return { bytes: Buffer.concat(values, end), ends };
})();
const bus = new KafkaBus({ brokers, clientId: 'bench-sequencer' });
const input = uniqueName('bench-seq-in');
if (NEEDS_SERVICES) {
  await bus.ensureTopics([{ topic: input, partitions: PARTITIONS }]);
  const producer = await bus.producer();
  for (let i = 0; i < flows.length; i += 5000) {
    await producer.send(
      input,
      flows.slice(i, i + 5000).map((f, j) => ({
        key: conversationKey(f.src_ip, f.dst_ip),
        value: encoded.bytes.subarray(i + j === 0 ? 0 : encoded.ends[i + j - 1], encoded.ends[i + j]),
      })),
    );
  }
  await producer.close();
}
if (!ONLY.has('script')) flows = [];

interface Run {
  seconds: number;
  cpuSeconds: number;
  /** Bytes allocated on the JS heap meanwhile (see HeapAllocation). */
  heapAllocated?: number;
  /** Of cpuSeconds, in the kernel (socket I/O: on loopback the sender also pays the receive path). */
  systemSeconds?: number;
}

/**
 * Bytes allocated on the JS heap between start() and stop(): what each collection found in use
 * beyond what the one before it left, plus the growth since the last. Off-heap memory (Buffer
 * contents) is not counted; the objects that view it are.
 */
class HeapAllocation {
  readonly #profiler = new GCProfiler();
  #used0 = 0;

  start(): void {
    this.#used0 = getHeapStatistics().used_heap_size;
    this.#profiler.start();
  }

  stop(): number {
    const used = getHeapStatistics().used_heap_size;
    const statistics = this.#profiler.stop()?.statistics ?? [];
    let left = this.#used0;
    let allocated = 0;
    for (const gc of statistics) {
      allocated += gc.beforeGC.heapStatistics.usedHeapSize - left;
      left = gc.afterGC.heapStatistics.usedHeapSize;
    }
    return allocated + used - left;
  }
}

async function timed(run: (done: () => void) => Promise<() => Promise<void>>): Promise<Run> {
  const heap = new HeapAllocation();
  heap.start();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const stop = await run(finish);
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const heapAllocated = heap.stop();
  await stop();
  return {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    systemSeconds: cpu.system / 1e6,
    heapAllocated,
  };
}

async function passThrough(): Promise<Run> {
  const output = uniqueName('bench-seq-pass');
  await bus.ensureTopics([{ topic: output, partitions: PARTITIONS }]);
  const producer = await bus.producer();
  return timed(async (done) => {
    let seen = 0;
    const consumer = bus.consumer({ groupId: uniqueName('bench-pass'), topics: [input], maxBatchSize: 2000 });
    await consumer.run(async (messages) => {
      await producer.send(
        output,
        messages.map((m) => ({ key: m.key, value: m.value })),
      );
      seen += messages.length;
      if (seen >= FLOWS) done();
    });
    return async () => {
      await consumer.stop();
      await producer.close();
    };
  });
}

/** Redis server CPU seconds so far (INFO cpu over a plain socket: the bench needs no client). */
async function redisCpuSeconds(): Promise<number> {
  const text = await redisInfo('cpu', 'used_cpu_user:');
  const field = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(text)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function redisUsedMemory(): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redisInfo('memory', 'used_memory:'))?.[1] ?? Number.NaN);
}

async function redisInfo(section: string, expect: string): Promise<string> {
  const url = new URL(redisUrl as string);
  const socket = connect(Number(url.port || 6379), url.hostname);
  let text = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.includes(expect) && text.endsWith('\r\n')) resolve();
    });
    if (url.password) socket.write(`AUTH ${decodeURIComponent(url.password)}\r\n`);
    socket.write(`INFO ${section}\r\n`);
  });
  socket.destroy();
  return text;
}

/**
 * The Redis statistics scripts alone on this input's conversation-windows (sealed as the core run
 * seals them, ~2,000 flows per flush): Redis server CPU per window for applying, reading the
 * contexts and replaying everything once more (a no-op), and Redis memory per window.
 */
async function scriptRun(): Promise<{ apply: number; contexts: number; replay: number; bytes: number }> {
  const spec = sequencingSpec();
  const seq = new PartitionSequencer(spec);
  const flushes: WindowContribution[][] = [];
  flows.forEach((f, i) => {
    seq.push(f, i);
    if (i % 2000 === 1999) flushes.push(seq.seal().map(windowContribution));
  });
  seq.idleFlush();
  flushes.push(seq.seal().map(windowContribution));
  const windows = flushes.reduce((n, f) => n + f.length, 0);
  const prefix = uniqueName('bench-seq-script');
  const { state, redis, close } = await connectRedisState(redisUrl as string, {
    keyPrefix: prefix,
    ttlSeconds: 600,
    pairBucketMs: 3_600_000,
  });
  const m0 = await redisUsedMemory();
  const c0 = await redisCpuSeconds();
  for (const f of flushes) await state.applyWindows(f);
  const c1 = await redisCpuSeconds();
  const m1 = await redisUsedMemory();
  for (const f of flushes) await state.contexts(f);
  const c2 = await redisCpuSeconds();
  for (const f of flushes) await state.applyWindows(f);
  const c3 = await redisCpuSeconds();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  await close();
  return {
    apply: ((c1 - c0) / windows) * 1e6,
    contexts: ((c2 - c1) / windows) * 1e6,
    replay: ((c3 - c2) / windows) * 1e6,
    bytes: (m1 - m0) / windows,
  };
}

async function sequencer(
  stats: 'redis' | 'memory',
): Promise<
  Run & { sequences: number; drainSeconds: number; redisCpu: number; redisOps: Map<string, number> }
> {
  const name = uniqueName('bench-seq');
  const config = loadSequencerConfig({
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    TIDEWATCH_FLOWS_TOPIC: input,
    TIDEWATCH_FLOWS_PARTITIONS: String(PARTITIONS),
    TIDEWATCH_SEQUENCES_TOPIC: `${name}.sequences`,
    TIDEWATCH_SEQUENCER_LATE_TOPIC: `${name}.late`,
    TIDEWATCH_SEQUENCER_GROUP: name,
    TIDEWATCH_SEQUENCER_REDIS_PREFIX: `${name}`,
    TIDEWATCH_SEQUENCER_STATS_TTL_S: '600',
    TIDEWATCH_SEQUENCER_IDLE_FLUSH_MS: '1000',
    TIDEWATCH_SEQUENCER_TICK_MS: '250',
  });
  const app = createApp(
    config,
    stats === 'memory' ? { bus, entityStats: new InMemoryEntityStats() } : { bus },
  );
  const consumed = async () => (await app.metrics.flowsIn.get()).values.reduce((n, v) => n + v.value, 0);
  const drainStart = { t: 0 };
  const redisCpu0 = await redisCpuSeconds();
  let redisCpu = 0;
  const run = await timed(async (done) => {
    await app.start();
    const poll = setInterval(() => {
      void consumed().then((n) => {
        if (n >= FLOWS) {
          clearInterval(poll);
          done();
        }
      });
    }, 20);
    return async () => {
      drainStart.t = performance.now();
      redisCpu = (await redisCpuSeconds()) - redisCpu0;
    };
  });
  const redisOps = new Map<string, number>();
  for (const v of (await app.metrics.redisSeconds.get()).values) {
    if (v.metricName?.endsWith('_sum')) redisOps.set(String(v.labels['op']), v.value);
  }
  // Time until the idle flush emitted the last windows (includes the 1 s idle wait).
  const sequencesOut = async () => (await app.metrics.sequencesOut.get()).values[0]?.value ?? 0;
  let last = -1;
  for (;;) {
    const open = (await app.metrics.openWindows.get()).values[0]?.value ?? 0;
    const out = await sequencesOut();
    if (open === 0 && out === last && out > 0) break;
    last = out;
    await new Promise((r) => setTimeout(r, 300));
  }
  const drainSeconds = (performance.now() - drainStart.t) / 1000;
  const sequences = await sequencesOut();
  await app.stop();
  return { ...run, sequences, drainSeconds, redisCpu, redisOps };
}

/**
 * The same work without Kafka or Redis: decode, sequence, entity stats in memory (evicted two
 * windows behind, as the service evicts them), encode.
 */
function core(): Run {
  const { bytes: input, ends } = encoded;
  const decoder = new FlowDecoder(codecs.flows);
  const encoder = new SequenceEncoder(codecs.sequences);
  const heap = new HeapAllocation();
  heap.start();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const spec = sequencingSpec();
  const seq = new PartitionSequencer(spec);
  const stats = new InMemoryEntityStats();
  let bytes = 0;
  let messages = 0;
  const digest = DIGEST ? createHash('sha256') : undefined;
  const previous = DIGEST ? createHash('sha256') : undefined;
  const out: EncodedSequence[] = [];
  const drain = () => {
    stats.applySealedSync(seq.seal());
    // Forget initiator-windows two windows behind, as the service does after each emit.
    if (Number.isFinite(seq.emittedThrough)) stats.evictBefore(seq.emittedThrough - 2 * spec.window_ms);
    for (const w of seq.takeEmittable()) {
      const context = stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms);
      out.length = 0;
      if (SINK) {
        const sink = new CollectingRecordSink();
        writeWindow(w, context, spec, encoder, sink);
        for (const m of sink.messages)
          out.push({ key: (m.key as Buffer).toString('latin1'), value: m.value });
      } else encodeWindow(w, context, spec, encoder, out);
      for (const m of out) {
        bytes += m.value.length;
        if (digest) {
          digest.update(m.key);
          digest.update(m.value);
          messages++;
          previous?.update(m.key);
          previous?.update(
            (previousSequences as AvroCodec<Sequence>).encode(codecs.sequences.decode(m.value)),
          );
        }
      }
    }
  };
  let start = 0;
  for (let i = 0; i < ends.length; i++) {
    // A view per record, as the service gets one Buffer per Kafka message.
    const flow = decoder.decodeDeferred(input.subarray(start, ends[i]));
    start = ends[i] as number;
    seq.pushTransient(flow, i, decoder.addresses);
    if (i % 2000 === 1999) drain();
  }
  seq.idleFlush();
  drain();
  const cpu = process.cpuUsage(cpu0);
  const heapAllocated = heap.stop();
  if (bytes === 0) throw new Error('no sequences');
  if (digest)
    console.log(
      `core output: ${messages} messages, ${bytes} bytes, sha256 ${digest.digest('hex')}; as the schema before SequenceFlow.sampling_rate wrote them (decoded, re-encoded with it): sha256 ${previous?.digest('hex')}`,
    );
  return {
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    heapAllocated,
  };
}

/** Heap plus memory outside it (typed-array columns), after a full collection. */
async function usedMemory(gc: () => void): Promise<number> {
  gc();
  // Array buffers are freed after the collection, off the main thread: settle, then again.
  await new Promise((r) => setTimeout(r, 100));
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

async function memoryPerConversation(
  flowsPerConversation: number,
): Promise<{ bytesPerWindow: number; windows: number }> {
  const spec = sequencingSpec({ window_ms: 24 * 3600_000 });
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return { bytesPerWindow: Number.NaN, windows: 0 };
  const conversations = 50_000;
  const sample = syntheticFlows(conversations * flowsPerConversation, conversations);
  const before = await usedMemory(gc);
  const seq = new PartitionSequencer(spec);
  sample.forEach((f, i) => {
    seq.push(f, i);
  });
  seq.seal();
  const after = await usedMemory(gc);
  const windows = seq.openWindows;
  return { bytesPerWindow: (after - before) / windows, windows };
}

const results: Record<string, Run[]> = { pass: [], redis: [], memory: [], core: [] };
const extra: { sequences: number; drainSeconds: number; redisCpu: number; redisOps: Map<string, number> }[] =
  [];
const scripts: { apply: number; contexts: number; replay: number; bytes: number }[] = [];
for (let r = 0; r < REPS; r++) {
  if (ONLY.has('pass')) results['pass']?.push(await passThrough());
  if (ONLY.has('redis')) {
    const withRedis = await sequencer('redis');
    results['redis']?.push(withRedis);
    extra.push(withRedis);
  }
  if (ONLY.has('memory')) results['memory']?.push(await sequencer('memory'));
  if (ONLY.has('core')) results['core']?.push(core());
  if (ONLY.has('script')) scripts.push(await scriptRun());
}
if (NEEDS_SERVICES) await bus.close();

const line = (label: string, runs: Run[], floor?: number) => {
  if (runs.length === 0) return undefined;
  const rate = median(runs.map((x) => FLOWS / x.seconds));
  const perCpu = median(runs.map((x) => FLOWS / x.cpuSeconds));
  const ratio = floor ? `  ${((rate / floor) * 100).toFixed(0)}% of pass-through` : '';
  // CPU per conversation-window, median and the spread of the reps (the shared box is noisy).
  const usPerWindow = runs.map((x) => (x.cpuSeconds / WINDOWS) * 1e6);
  const system = runs.map((x) => x.systemSeconds).filter((x) => x !== undefined);
  const ofWhich = system.length > 0 ? `, ${((median(system) / WINDOWS) * 1e6).toFixed(2)} of it system` : '';
  const perWindow = `  ${((FLOWS / perCpu / WINDOWS) * 1e6).toFixed(2)} us CPU per window (${Math.min(...usPerWindow).toFixed(2)}-${Math.max(...usPerWindow).toFixed(2)}${ofWhich})`;
  const heap = runs.map((x) => x.heapAllocated).filter((x) => x !== undefined);
  const allocated =
    heap.length > 0 ? `, ${Math.round(median(heap) / WINDOWS)} B heap allocated per window` : '';
  console.log(
    `${label.padEnd(34)} ${Math.round(rate).toLocaleString('en').padStart(9)} flows/s wall   ${Math.round(
      perCpu,
    )
      .toLocaleString('en')
      .padStart(9)} flows per CPU-second${perWindow}${allocated}${ratio}`,
  );
  return rate;
};
console.log(
  `sequencer bench: ${FLOWS.toLocaleString('en')} flows, ${CONVERSATIONS.toLocaleString('en')} conversations, ${WINDOWS.toLocaleString('en')} conversation-windows (${(FLOWS / WINDOWS).toFixed(2)} flows per window), ${PARTITIONS} partitions, median of ${REPS}, node ${process.version}`,
);
const floor = line('pass-through (consume+produce)', results['pass'] ?? []);
line('sequencer, Redis entity stats', results['redis'] ?? [], floor);
line('sequencer, in-memory entity stats', results['memory'] ?? [], floor);
line('core only (decode+sequence+encode)', results['core'] ?? [], floor);
if (extra.length > 0) {
  console.log(
    `sequences emitted per run: ${extra[0]?.sequences}; last window emitted ${median(extra.map((e) => e.drainSeconds)).toFixed(1)} s after the last flow was consumed (idle flush after 1 s)`,
  );
  const ops = [...(extra[0]?.redisOps.keys() ?? [])].map(
    (op) => `${op} ${median(extra.map((e) => e.redisOps.get(op) ?? 0)).toFixed(2)} s`,
  );
  console.log(
    `Redis (sequencer run): server CPU ${median(extra.map((e) => e.redisCpu)).toFixed(2)} s (${((median(extra.map((e) => e.redisCpu)) / WINDOWS) * 1e6).toFixed(1)} us per conversation-window); round trips awaited: ${ops.join(', ')}`,
  );
}
if (scripts.length > 0) {
  const m = (k: 'apply' | 'contexts' | 'replay' | 'bytes') => median(scripts.map((x) => x[k])).toFixed(1);
  console.log(
    `Redis scripts alone: server CPU per conversation-window: apply ${m('apply')} us, contexts ${m('contexts')} us, replay (no-op) ${m('replay')} us; Redis memory ${m('bytes')} bytes per window`,
  );
}
for (const perConversation of [1, 8]) {
  const m = await memoryPerConversation(perConversation);
  console.log(
    `memory: ${Math.round(m.bytesPerWindow).toLocaleString('en')} bytes per open conversation-window with ${perConversation} flow(s) each (${m.windows.toLocaleString('en')} windows, heap + typed arrays delta after gc)`,
  );
}
process.exit(0);
