/**
 * End-to-end collector throughput: NetFlow v9 (or v5/IPFIX) over loopback UDP → decode → Avro →
 * bus (`flows.v1`), at fixed offered rates, counting flows in at the sender and flows out on the
 * topic (Kafka high watermarks), with the collector's CPU time and peak RSS. The same datagram
 * stream is then sent to nfdump's nfcapd (writing its files) in the same run as the baseline.
 *
 *   KAFKA_BROKERS=... pnpm exec tsx bench/collector-udp.ts [--protocol v9|v5|ipfix]
 *       [--rates 100000,200000,300000] [--search LO,HI] [--seconds 10] [--sockets 2] [--workers N] [--exporters 8]
 *       [--bus kafka|wire|kafkajs|inprocess|none[,...]] [--direct off] [--no-nfcapd]
 *
 * `--rates` runs a fixed ladder; `--search LO,HI` bisects for the highest rate with zero loss
 * (5 steps). `--bus kafka` is KafkaBus with its default client; `--bus wire` and `--bus kafkajs`
 * pick the bus package's own Kafka wire client or kafkajs. `--bus none` publishes to a producer that only counts (the pipeline's own cost with
 * no bus at all), `--bus inprocess` to the InProcessBus; the difference to `kafka` is the bus
 * (client side; the broker's own CPU is another process). Several buses (`--bus kafka,none`) run
 * one after the other and a summary prints each one's flows per CPU-second and the bus's share.
 *
 * `--direct off` keeps NetFlow v5 on the object path (FlowRecord → FlowAvroWriter) instead of
 * the direct datagram → Avro path, for before/after figures in the same conditions (v5 only).
 *
 * The sender is a child process (its memory and CPU are not the collector's). Loss = flows sent
 * minus flows on the topic; socket drops are the kernel's (/proc/net/udp `drops`), queue drops the
 * collector's own (publisher full).
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { type BusProducer, InProcessBus, KafkaBus, type MessageBus } from '@tidewatch/bus';
import { createApp, DEFAULT_CONFIG, udpSocketDrops } from '@tidewatch/collector';
import { type BenchProtocol, generateDatagrams, RECORDS_PER_DATAGRAM } from './decode-datagrams.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] as string) : dflt;
};
const CLK_TCK = 100;
const brokers = process.env['KAFKA_BROKERS'];
const protocol = opt('--protocol', 'v9') as BenchProtocol;
const search = args.includes('--search') ? opt('--search', '').split(',').map(Number) : null;
const rates = opt('--rates', '100000,200000,300000').split(',').map(Number);
const seconds = Number(opt('--seconds', '10'));
const sockets = Number(opt('--sockets', '2'));
const workers = Number(opt('--workers', '0'));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
const POOL = 4000;

/** Rewrites the export sequence number in place so a cycled pool still counts up. */
function setSequence(protocol: BenchProtocol, b: Buffer, datagramNo: number): void {
  if (protocol === 'v9') b.writeUInt32BE(datagramNo >>> 0, 12);
  else if (protocol === 'v5') b.writeUInt32BE((datagramNo * RECORDS_PER_DATAGRAM) >>> 0, 16);
  else b.writeUInt32BE((datagramNo * RECORDS_PER_DATAGRAM) >>> 0, 8);
}

/**
 * Child process: sends `rate` flows/s for `seconds` to 127.0.0.1:port, paced every 2 ms, from
 * `exporters` sockets bound to 127.0.0.1, 127.0.0.2, ... (separate exporters, each with its own
 * templates and sequence numbers, as a collector sees them; SO_REUSEPORT spreads them by 4-tuple).
 */
async function sender(
  port: number,
  rate: number,
  seconds: number,
  protocol: BenchProtocol,
  exporters: number,
): Promise<void> {
  const pool = generateDatagrams(protocol, POOL);
  const socks = await Promise.all(
    Array.from({ length: exporters }, async (_, i) => {
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, `127.0.0.${1 + i}`, () => r()));
      sock.setSendBufferSize(4 * 1024 * 1024);
      return sock;
    }),
  );
  const perSecond = rate / RECORDS_PER_DATAGRAM;
  const total = Math.round(perSecond * seconds);
  const started = performance.now();
  let sent = 0;
  let inFlight = 0;
  let errors = 0;
  const done = (e: Error | null) => {
    inFlight--;
    if (e) errors++;
  };
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * perSecond));
    while (sent < due) {
      const n = Math.floor(sent / exporters); // this exporter's own datagram number
      // Templates lead the pool; only datagrams after the first POOL keep their templates in order.
      const b = pool[n % POOL] as Buffer;
      setSequence(protocol, b, n);
      inFlight++;
      (socks[sent % exporters] as (typeof socks)[number]).send(b, port, '127.0.0.1', done);
      sent++;
    }
    await sleep(2);
  }
  while (inFlight > 0) await sleep(5);
  for (const sock of socks) sock.close();
  const elapsed = (performance.now() - started) / 1000;
  process.send?.({ datagrams: sent, flows: sent * RECORDS_PER_DATAGRAM, errors, elapsed });
}

interface SendResult {
  datagrams: number;
  flows: number;
  errors: number;
  elapsed: number;
}

function send(port: number, rate: number, seconds: number, protocol: BenchProtocol): Promise<SendResult> {
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--sender', String(port), String(rate), String(seconds), protocol, opt('--exporters', '8')],
    {
      execArgv: ['--import', 'tsx'],
      stdio: 'inherit',
    },
  );
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as SendResult));
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`sender exited ${code}`));
    });
  });
}

function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function procRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

async function nfcapdRun(rate: number, seconds: number, protocol: BenchProtocol, port: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tw-nfcapd-'));
  const proc = spawn(
    'nfcapd',
    ['-w', dir, '-b', '127.0.0.1', '-p', String(port), '-B', '33554432', '-t', '3600'],
    {
      stdio: 'ignore',
    },
  );
  try {
    await sleep(500);
    const pid = proc.pid as number;
    const cpu0 = procCpuSeconds(pid);
    let rss = 0;
    const sampler = setInterval(() => {
      rss = Math.max(rss, procRssMb(pid));
    }, 200);
    const sent = await send(port, rate, seconds, protocol);
    await sleep(1000);
    clearInterval(sampler);
    const drops = (await udpSocketDrops([port]))?.get(port) ?? 0;
    const cpu = procCpuSeconds(pid) - cpu0;
    proc.kill('SIGTERM');
    await new Promise((res) => proc.once('exit', res));
    const info = spawnSync('nfdump', ['-R', dir, '-I'], { encoding: 'utf8' }).stdout;
    const stored = Number(/^Flows:\s+(\d+)/m.exec(info)?.[1] ?? 0);
    return { sent, stored, cpu, rss, drops };
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A bus whose producers acknowledge at once and only count: the pipeline's cost without a bus. */
class CountingBus implements MessageBus {
  produced = 0;
  async ensureTopics(): Promise<void> {}
  async producer(): Promise<BusProducer> {
    return {
      send: async (_topic, messages) => {
        this.produced += messages.length;
      },
      close: async () => {},
    };
  }
  consumer(): never {
    throw new Error('CountingBus has no consumers');
  }
  async close(): Promise<void> {}
}

/** Flows on the topic: Kafka's high watermarks where the bus can tell, else what was acknowledged. */
async function topicCount(bus: MessageBus, topic: string, acked: number): Promise<number> {
  const admin = (
    bus as { admin?: () => Promise<{ fetchTopicOffsets(t: string): Promise<{ high: string }[]> }> }
  ).admin;
  if (typeof admin !== 'function') return acked;
  for (let attempt = 0; ; attempt++) {
    try {
      const offsets = await (await admin.call(bus)).fetchTopicOffsets(topic);
      return offsets.reduce((n, o) => n + Number(o.high), 0);
    } catch (e) {
      if (attempt >= 20) throw e; // a fresh topic's leaders take a moment to be elected
      await sleep(250);
    }
  }
}

interface BusRun {
  bus: string;
  best: StepResult | undefined;
  results: StepResult[];
  port: number;
}

interface StepResult {
  rate: number;
  got: number;
  loss: number;
  sockDrops: number;
  queueDrops: number;
  cpuS: number;
  achieved: number;
  rss: number;
  heap: number;
  external: number;
  queued: number;
}

async function runBus(busKind: string): Promise<BusRun> {
  const topic = `bench.flows.${Date.now().toString(36)}`;
  const bus: MessageBus =
    busKind === 'kafka' || busKind === 'wire' || busKind === 'kafkajs'
      ? new KafkaBus({
          brokers: (brokers as string).split(','),
          clientId: 'bench-collector',
          ...(busKind === 'kafka' ? {} : { client: busKind }),
        })
      : busKind === 'inprocess'
        ? new InProcessBus({ retainPerPartition: 10_000 })
        : new CountingBus();
  const app = createApp(
    {
      ...DEFAULT_CONFIG,
      netflowPort: 0,
      ipfixPort: null,
      sflowPort: null,
      host: '127.0.0.1',
      httpPort: null,
      socketsPerPort: sockets,
      decodeWorkers: workers,
      directEncode: opt('--direct', 'on') !== 'off',
      topicPartitions: 8,
      publisher: { ...DEFAULT_CONFIG.publisher, topic },
    },
    { bus },
  );
  await app.start();
  const port = app.ports.netflow as number;
  console.log(
    `collector UDP→${busKind}: ${protocol}, ${RECORDS_PER_DATAGRAM} flows/datagram, ${seconds} s per rate, ${workers > 0 ? `${workers} decode workers (one SO_REUSEPORT socket each)` : `${sockets} SO_REUSEPORT sockets on the main thread`}, receive buffer ${app.receiveBuffers['netflow']} B, ${opt('--direct', 'on') === 'off' ? 'object path' : 'direct v5 path'}; topic ${topic} (8 partitions)${['kafka', 'wire', 'kafkajs'].includes(busKind) ? `, Kafka ${brokers}` : ''}`,
  );
  console.log(
    'offered flows/s | ours: on topic  loss  sock-drops  queue-drops  CPU-s  flows/CPU-s  achieved/s  peak RSS MB (V8 heap, external)  peak queued flows',
  );

  const step = async (rate: number): Promise<StepResult> => {
    const before = await topicCount(bus, topic, app.publisher.stats.published);
    const dropsBefore = (await udpSocketDrops([port]))?.get(port) ?? 0;
    const queueBefore = app.metrics.counters.droppedQueueFull;
    const cpu0 = process.cpuUsage();
    let rss = 0;
    let heap = 0;
    let external = 0;
    let queued = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rss = Math.max(rss, m.rss / 1024 / 1024);
      heap = Math.max(heap, m.heapTotal / 1024 / 1024);
      external = Math.max(external, m.external / 1024 / 1024);
      queued = Math.max(queued, app.publisher.pending);
    }, 100);
    const t0 = performance.now();
    const sent = await send(port, rate, seconds, protocol);
    // Drain: wait until the publisher has nothing left and the topic stops growing.
    let last = -1;
    for (;;) {
      await sleep(500);
      const n = await topicCount(bus, topic, app.publisher.stats.published);
      if (app.publisher.pending === 0 && n === last) break;
      last = n;
    }
    const wall = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const cpu = process.cpuUsage(cpu0);
    // process.cpuUsage() covers every thread of the process (worker threads included)
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const got = (await topicCount(bus, topic, app.publisher.stats.published)) - before;
    const kernel = (await udpSocketDrops([port]))?.get(port) ?? 0;
    const r: StepResult = {
      rate,
      got,
      loss: sent.flows - got,
      sockDrops: kernel - dropsBefore,
      queueDrops: app.metrics.counters.droppedQueueFull - queueBefore,
      cpuS,
      achieved: Math.round(got / Math.min(wall, sent.elapsed + 0.5)),
      rss,
      heap,
      external,
      queued,
    };
    console.log(
      `${rate} | ${r.got}  ${r.loss}  ${r.sockDrops}  ${r.queueDrops}  ${r.cpuS.toFixed(1)}  ${Math.round(r.got / r.cpuS)}  ${r.achieved}  ${r.rss.toFixed(0)} (${r.heap.toFixed(0)}, ${r.external.toFixed(0)})  ${r.queued}`,
    );
    return r;
  };

  const results: StepResult[] = [];
  if (search) {
    let [lo, hi] = search as [number, number];
    for (let i = 0; i < 5; i++) {
      const mid = Math.round((lo + hi) / 2 / 1000) * 1000;
      const r = await step(mid);
      results.push(r);
      if (r.loss === 0 && r.sockDrops === 0 && r.queueDrops === 0) lo = mid;
      else hi = mid;
    }
  } else for (const rate of rates) results.push(await step(rate));
  const clean = results.filter((r) => r.loss === 0 && r.sockDrops === 0 && r.queueDrops === 0);
  const best = clean.reduce<StepResult | undefined>((a, r) => (a && a.rate >= r.rate ? a : r), undefined);
  const peakRss = Math.max(...results.map((r) => r.rss));
  console.log(
    `ours: highest zero-loss rate ${best ? best.rate : 'none'} flows/s (RSS ${best ? best.rss.toFixed(0) : '-'} MB there), peak RSS over all steps ${peakRss.toFixed(0)} MB`,
  );
  await app.stop();
  await bus.close();

  return { bus: busKind, best, results, port };
}

async function main(): Promise<void> {
  if (args[0] === '--sender') {
    await sender(
      Number(args[1]),
      Number(args[2]),
      Number(args[3]),
      args[4] as BenchProtocol,
      Number(args[5]),
    );
    return;
  }
  const busKinds = opt('--bus', 'kafka').split(',');
  if (busKinds.some((b) => ['kafka', 'wire', 'kafkajs'].includes(b)) && !brokers)
    throw new Error('KAFKA_BROKERS is not set (. /tmp/tidewatch-dev/env, or scripts/services.sh start)');
  const runs: BusRun[] = [];
  for (const b of busKinds) runs.push(await runBus(b));
  const perCpu = (r: BusRun) => {
    const clean = r.results.filter((x) => x.loss === 0 && x.sockDrops === 0 && x.queueDrops === 0);
    return clean.length > 0 ? median(clean.map((x) => x.got / x.cpuS)) : Number.NaN;
  };
  const none = runs.find((r) => r.bus === 'none');
  if (runs.length > 1) {
    console.log(
      'summary: bus | highest zero-loss flows/s | median flows/CPU-s over zero-loss steps | bus share of CPU per flow',
    );
    for (const r of runs) {
      const c = perCpu(r);
      // what the bus adds per flow, against the same pipeline publishing to a producer that only counts
      const share = none && r !== none ? 1 - c / perCpu(none) : Number.NaN;
      console.log(
        `${r.bus} | ${r.best?.rate ?? 'none'} | ${Math.round(c)} | ${Number.isNaN(share) ? '-' : `${(share * 100).toFixed(0)}% (${(1e6 / c - 1e6 / perCpu(none as BusRun)).toFixed(2)} µs/flow)`}`,
      );
    }
  }
  const best = runs[0]?.best;
  const results = runs.flatMap((r) => r.results);
  const port = runs[0]?.port as number;
  if (!args.includes('--no-nfcapd')) {
    console.log(
      'nfcapd, same datagrams and rates: offered | stored  loss  sock-drops  CPU-s  flows/CPU-s  RSS MB',
    );
    let nfPort = port + 1000;
    const nfRates = [...new Set([best?.rate, Math.max(...results.map((r) => r.rate))])].filter(
      (x): x is number => x !== undefined,
    );
    for (const rate of nfRates) {
      const r = await nfcapdRun(rate, seconds, protocol, nfPort++);
      console.log(
        `${rate} | ${r.stored}  ${r.sent.flows - r.stored}  ${r.drops}  ${r.cpu.toFixed(2)}  ${Math.round(r.stored / r.cpu)}  ${r.rss.toFixed(0)}`,
      );
    }
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
