/**
 * Decode throughput: records per CPU-second of FlowDecoder for NetFlow v5, v9 and IPFIX, printed
 * beside nfdump's nfcapd measured in the same run on the same datagrams (sent over loopback UDP;
 * nfcapd's CPU seconds from /proc, its stored records from `nfdump -I`).
 *
 *   pnpm exec tsx bench/decode.ts [--datagrams N] [--reps R] [--warmup W] [--rounds K]
 *       [--nfcapd-repeat M] [--no-nfcapd]
 *
 * Our figure is decode only (datagram buffer → FlowRecord objects, normalised: times, sampling,
 * `extra`); nfcapd's includes its socket receive and file writing, which is the whole job it does
 * for its figure. The machine is shared, so the two are measured in alternating rounds (ours: the
 * median of R passes after W warm-up passes; nfcapd: one run over the datagrams sent M times, so
 * its CPU time spans many 10 ms clock ticks) and the medians over K rounds are printed, with the
 * median of the per-round ratios.
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
const REPS = opt('--reps', 5);
const WARMUP = opt('--warmup', 2);
const ROUNDS = opt('--rounds', 3);
const NFCAPD_REPEAT = opt('--nfcapd-repeat', 3);
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
    const all = Array.from({ length: NFCAPD_REPEAT }, () => datagrams).flat();
    for (let i = 0; i < all.length; i += burst) {
      await Promise.all(
        all
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
    return { perCpuSec: stored / cpu, stored, sent: all.length * RECORDS_PER_DATAGRAM };
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M`;
const haveNfcapd = NFCAPD && spawnSync('nfcapd', ['-V']).status === 0;
console.log(
  `decode benchmark: ${DATAGRAMS} datagrams × ${RECORDS_PER_DATAGRAM} records per protocol, ${ROUNDS} alternating rounds; ours: median of ${REPS} passes after ${WARMUP} warm-up passes per round; nfcapd: the datagrams sent ${NFCAPD_REPEAT}× per round`,
);
console.log(
  'protocol  ours rec/CPU-s  ours no-extra  nfcapd rec/CPU-s  ratio ours/nfcapd (per round)  nfcapd stored/sent',
);
let port = 29_055;
for (const p of ['v5', 'v9', 'ipfix'] as BenchProtocol[]) {
  const datagrams = generateDatagrams(p, DATAGRAMS);
  const full: number[] = [];
  const lean: number[] = [];
  const nf: number[] = [];
  const ratios: number[] = [];
  const stored: string[] = [];
  for (let k = 0; k < ROUNDS; k++) {
    full.push(ours(datagrams, true).perCpuSec);
    lean.push(ours(datagrams, false).perCpuSec);
    if (haveNfcapd) {
      const r = await nfcapd(datagrams, port++);
      nf.push(r.perCpuSec);
      ratios.push((full.at(-1) as number) / r.perCpuSec);
      stored.push(`${r.stored}/${r.sent}`);
    }
  }
  const nfText = haveNfcapd ? fmt(median(nf)) : 'n/a';
  const ratioText = haveNfcapd
    ? `${(median(full) / median(nf)).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(' ')})`
    : 'n/a';
  console.log(
    `${p.padEnd(8)}  ${fmt(median(full)).padStart(14)}  ${fmt(median(lean)).padStart(13)}  ${nfText.padStart(16)}  ${ratioText.padStart(28)}  ${stored.join(' ')}`,
  );
}
