/**
 * Decode throughput: records per CPU-second of FlowDecoder for NetFlow v5, v9 and IPFIX, printed
 * beside nfdump's nfcapd measured in the same run on the same datagrams (sent over loopback UDP;
 * nfcapd's CPU seconds from /proc, its stored records from `nfdump -I`).
 *
 *   pnpm exec tsx bench/decode.ts [--datagrams N] [--reps R] [--warmup W] [--nfcapd-runs K] [--no-nfcapd]
 *
 * Our figure is decode only (datagram buffer → FlowRecord objects); nfcapd's includes its
 * socket receive and file writing, which is the whole job it does for its figure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowDecoder } from '@tidewatch/collector/decode';
import type { FlowRecord } from '@tidewatch/contracts';
import { type BenchProtocol, generateDatagrams, RECORDS_PER_DATAGRAM } from './decode-datagrams.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const DATAGRAMS = opt('--datagrams', 20_000);
const REPS = opt('--reps', 7);
const WARMUP = opt('--warmup', 3);
const NFCAPD_RUNS = opt('--nfcapd-runs', 3);
const NFCAPD = !args.includes('--no-nfcapd');
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function ours(datagrams: Buffer[], extras: boolean): { perCpuSec: number; records: number } {
  const results: number[] = [];
  let records = 0;
  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    const decoder = new FlowDecoder({ extras });
    const out: FlowRecord[] = [];
    let n = 0;
    const t0 = cpuSeconds();
    for (let i = 0; i < datagrams.length; i++) {
      out.length = 0;
      decoder.decodeInto(
        datagrams[i] as Buffer,
        { exporter: '127.0.0.1', receivedAtMs: 1_700_000_000_000 + i },
        out,
      );
      n += out.length;
    }
    const cpu = cpuSeconds() - t0;
    records = n;
    if (rep >= WARMUP) results.push(n / cpu); // the first passes let the JIT reach steady state
  }
  return { perCpuSec: median(results), records };
}

function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
}

async function nfcapd(
  datagrams: Buffer[],
  port: number,
): Promise<{ perCpuSec: number; stored: number; sent: number }> {
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
    const before = procCpuSeconds(pid);
    const sock = createSocket('udp4');
    // paced so the kernel buffer never overflows: nfcapd gets every datagram
    const burst = 200;
    for (let i = 0; i < datagrams.length; i += burst) {
      await Promise.all(
        datagrams
          .slice(i, i + burst)
          .map(
            (d) =>
              new Promise<void>((res, rej) => sock.send(d, port, '127.0.0.1', (e) => (e ? rej(e) : res()))),
          ),
      );
      await sleep(2);
    }
    sock.close();
    await sleep(1000);
    const cpu = procCpuSeconds(pid) - before;
    proc.kill('SIGTERM');
    await new Promise((res) => proc.once('exit', res));
    const info = spawnSync('nfdump', ['-R', dir, '-I'], { encoding: 'utf8' }).stdout;
    const stored = Number(/^Flows:\s+(\d+)/m.exec(info)?.[1] ?? 0);
    return { perCpuSec: stored / cpu, stored, sent: datagrams.length * RECORDS_PER_DATAGRAM };
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const haveNfcapd = NFCAPD && spawnSync('nfcapd', ['-V']).status === 0;
console.log(
  `decode benchmark: ${DATAGRAMS} datagrams × ${RECORDS_PER_DATAGRAM} records per protocol; ours: median of ${REPS} passes after ${WARMUP} warm-up passes; nfcapd: median of ${NFCAPD_RUNS} runs`,
);
console.log(
  'protocol  ours rec/CPU-s  ours no-extra  nfcapd rec/CPU-s  ratio ours/nfcapd  nfcapd stored/sent',
);
let port = 29_055;
for (const p of ['v5', 'v9', 'ipfix'] as BenchProtocol[]) {
  const datagrams = generateDatagrams(p, DATAGRAMS);
  const full = ours(datagrams, true);
  const lean = ours(datagrams, false);
  let nf = '      n/a';
  let ratio = '  n/a';
  let stored = '';
  if (haveNfcapd) {
    const runs = [];
    for (let k = 0; k < NFCAPD_RUNS; k++) runs.push(await nfcapd(datagrams, port++));
    const perCpuSec = median(runs.map((r) => r.perCpuSec));
    nf = fmt(perCpuSec);
    ratio = (full.perCpuSec / perCpuSec).toFixed(2);
    stored = runs.map((r) => `${r.stored}/${r.sent}`).join(' ');
  }
  console.log(
    `${p.padEnd(8)}  ${fmt(full.perCpuSec).padStart(14)}  ${fmt(lean.perCpuSec).padStart(13)}  ${nf.padStart(16)}  ${ratio.padStart(17)}  ${stored}`,
  );
}
