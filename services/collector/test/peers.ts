import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InProcessBus, KafkaBus, type MessageBus } from '@tidewatch/bus';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { freePort } from '@tidewatch/testing';

const run = promisify(execFile);

/** Real Kafka when KAFKA_BROKERS is set, else the in-process bus (said loudly). */
export function testBus(): { bus: MessageBus; kind: string } {
  const brokers = process.env['KAFKA_BROKERS'];
  if (brokers)
    return { bus: new KafkaBus({ brokers: brokers.split(','), clientId: 'collector-test' }), kind: 'kafka' };
  if (process.env['CI'] === 'true') throw new Error('KAFKA_BROKERS must be set in CI');
  console.warn('\n!!! KAFKA_BROKERS not set: collector peer tests publish to the InProcessBus !!!\n');
  return { bus: new InProcessBus(), kind: 'in-process' };
}

/**
 * Forwards every datagram it receives, in order, to each destination, sending from `sourceIp`
 * (a 127.0.0.x address), so each test run shows up in the collector as its own exporter and a
 * reference collector (nfcapd) receives byte-identical datagrams.
 */
export class UdpTee {
  readonly #in: Socket = createSocket('udp4');
  readonly #out: Socket = createSocket('udp4');
  datagrams = 0;
  lastAt = 0;
  #pending = 0;

  constructor(
    private readonly sourceIp: string,
    private readonly destinations: number[],
    private readonly onDatagram?: (payload: Buffer) => void,
  ) {}

  async start(): Promise<number> {
    await new Promise<void>((r) => this.#out.bind(0, this.sourceIp, () => r()));
    await new Promise<void>((r) => this.#in.bind(0, '127.0.0.1', () => r()));
    this.#in.on('message', (msg) => {
      this.datagrams++;
      this.lastAt = Date.now();
      this.onDatagram?.(msg);
      for (const port of this.destinations) {
        this.#pending++;
        this.#out.send(msg, port, '127.0.0.1', () => this.#pending--);
      }
    });
    return this.#in.address().port;
  }

  /** Resolves once nothing arrived for `quietMs` and every forward was handed to the kernel. */
  async settle(quietMs = 300): Promise<void> {
    while (Date.now() - this.lastAt < quietMs || this.#pending > 0)
      await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.#in.close(() => r()));
    await new Promise<void>((r) => this.#out.close(() => r()));
  }
}

/** The reference: nfdump's nfcapd receiving the same datagrams; `stop()` returns what nfdump reads. */
export class Nfcapd {
  readonly dir = mkdtempSync(join(tmpdir(), 'tw-nfcapd-'));
  #proc: ChildProcess | undefined;
  port = 0;

  async start(): Promise<number> {
    this.port = await freePort('udp');
    this.#proc = spawn('nfcapd', ['-p', String(this.port), '-b', '127.0.0.1', '-w', this.dir, '-t', '3600'], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 300));
    return this.port;
  }

  /** Stops nfcapd (it writes its file on SIGTERM) and returns the file path. */
  async stop(): Promise<string> {
    const proc = this.#proc;
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    const file = readdirSync(this.dir).find((f) => f.startsWith('nfcapd.') && !f.includes('current'));
    if (!file) throw new Error(`nfcapd wrote no file in ${this.dir}`);
    return join(this.dir, file);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface ReferenceFlow {
  start_ms: number;
  end_ms: number;
  src_ip: string;
  dst_ip: string;
  src_port: number;
  dst_port: number;
  protocol: number;
  pkts: number;
  bytes: number;
}

/** Reads an nfcapd file with nfdump (times in UTC, ms precision). */
export async function nfdumpFlows(file: string): Promise<ReferenceFlow[]> {
  const { stdout } = await run(
    'nfdump',
    ['-r', file, '-q', '-N', '-6', '-o', 'fmt:%ts|%te|%sa|%da|%sp|%dp|%pr|%pkt|%byt'],
    {
      env: { ...process.env, TZ: 'UTC' },
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [ts, te, sa, da, sp, dp, pr, pkt, byt] = line.split('|').map((s) => s.trim()) as string[] as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      const time = (s: string) => Date.parse(`${s.replace(' ', 'T')}Z`);
      const proto = /^\d+$/.test(pr) ? Number(pr) : ({ TCP: 6, UDP: 17, ICMP: 1, ICMP6: 58 }[pr] ?? -1);
      return {
        start_ms: time(ts),
        end_ms: time(te),
        src_ip: sa,
        dst_ip: da,
        src_port: Number(sp),
        dst_port: Number(dp.includes('.') ? 0 : dp),
        protocol: proto,
        pkts: Number(pkt),
        bytes: Number(byt),
      };
    });
}

/**
 * One comparable line per flow; ICMP ports are left out (exporters encode type/code differently).
 * `times: false` leaves the times out too.
 */
export function flowKey(f: ReferenceFlow, times = true): string {
  const icmp = f.protocol === 1 || f.protocol === 58;
  return [
    times ? f.start_ms : '-',
    times ? f.end_ms : '-',
    f.src_ip,
    f.dst_ip,
    icmp ? '-' : f.src_port,
    icmp ? '-' : f.dst_port,
    f.protocol,
    f.pkts,
    f.bytes,
  ].join('|');
}

export function recordKey(f: FlowRecord, times = true): string {
  return flowKey({ ...f, pkts: f.fwd_pkts + f.bwd_pkts, bytes: f.fwd_bytes + f.bwd_bytes }, times);
}

/** Consumes a topic from the beginning and keeps every decoded flow, grouped by exporter. */
export async function collectTopic(bus: MessageBus, topic: string) {
  const codecs = await createCodecs();
  const byExporter = new Map<string, FlowRecord[]>();
  const keys: string[] = [];
  let total = 0;
  const consumer = bus.consumer({ groupId: `${topic}-reader`, topics: [topic], fromBeginning: true });
  await consumer.run(async (messages) => {
    for (const m of messages) {
      const flow = await codecs.flows.decodeAsync(m.value);
      keys.push(m.key?.toString() ?? '');
      total++;
      const list = byExporter.get(flow.exporter) ?? [];
      list.push(flow);
      byExporter.set(flow.exporter, list);
    }
  });
  return {
    byExporter,
    keys,
    get total() {
      return total;
    },
    stop: () => consumer.stop(),
  };
}

export async function runTool(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout, stderr } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return stdout + stderr;
}

/** Multiset difference, for readable assertion messages. */
export function diff(actual: string[], expected: string[]): { missing: string[]; unexpected: string[] } {
  const counts = new Map<string, number>();
  for (const k of expected) counts.set(k, (counts.get(k) ?? 0) + 1);
  const unexpected: string[] = [];
  for (const k of actual) {
    const n = counts.get(k) ?? 0;
    if (n === 0) unexpected.push(k);
    else counts.set(k, n - 1);
  }
  const missing = [...counts].flatMap(([k, n]) => new Array<string>(n).fill(k));
  return { missing, unexpected };
}

/** Flow samples (enterprise 0, format 1 or 3) in one sFlow v5 datagram, read from its headers. */
export function sflowFlowSamples(d: Buffer): number {
  if (d.length < 28 || d.readUInt32BE(0) !== 5) return 0;
  let o = d.readUInt32BE(4) === 2 ? 40 : 28;
  const count = d.readUInt32BE(o - 4);
  let flows = 0;
  for (let i = 0; i < count && o + 8 <= d.length; i++) {
    const format = d.readUInt32BE(o) & 0xfff;
    if (format === 1 || format === 3) flows++;
    o += 8 + d.readUInt32BE(o + 4);
  }
  return flows;
}
