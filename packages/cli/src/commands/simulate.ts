import { createSocket } from 'node:dgram';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  ExportEncoder,
  type SimulatedFlow,
  TEMPO_CSV_HEADER,
  TrafficSimulator,
  tempoCsvRow,
} from '@tidewatch/simulator';
import { type Command, UsageError } from '../command.ts';

const usage = `Usage:
  tidewatch simulate --to udp://HOST:PORT [--rate N] [--duration S] [--protocol netflow9|ipfix] [--seed N]
  tidewatch simulate --csv FILE [--minutes M] [--start ISO-8601] [--seed N]

Generates a simulated site's traffic (benign DNS/web/mail/SMB/updates/backups/IoT plus scans, SSH/RDP
brute force, C2 beaconing with jitter, slow exfiltration, DoS, a reflection flood and an internet scan, with
ground truth).
  --to        export as NetFlow v9 (default) or IPFIX datagrams to a collector, N flows/s, in real time
  --rate      flows per second (default 1000); also a load generator for benchmarks
  --duration  seconds to run (default: until interrupted)
  --csv       write Tempo-style CSV with label/attack columns instead (default 60 minutes ending now)
`;

export const command: Command = {
  name: 'simulate',
  summary: 'generate realistic benign and attack traffic as NetFlow v9/IPFIX',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        to: { type: 'string' },
        rate: { type: 'string', default: '1000' },
        duration: { type: 'string' },
        protocol: { type: 'string', default: 'netflow9' },
        seed: { type: 'string', default: '1' },
        csv: { type: 'string' },
        minutes: { type: 'string', default: '60' },
        start: { type: 'string' },
      },
    });
    const seed = positiveInt('--seed', values.seed);
    const simulator = new TrafficSimulator({ seed });
    if (values.csv) {
      const minutes = positiveInt('--minutes', values.minutes);
      const end = values.start ? Date.parse(values.start) + minutes * 60_000 : Date.now();
      if (Number.isNaN(end)) throw new UsageError(`--start: not an ISO-8601 time: ${values.start}`);
      const flows = simulator.generate(end - minutes * 60_000, end);
      await writeCsv(values.csv, flows);
      process.stderr.write(
        `wrote ${flows.length} flows (${flows.filter((f) => f.label === 1).length} malicious) to ${values.csv}\n`,
      );
      return 0;
    }
    if (!values.to) throw new UsageError('simulate needs --to udp://HOST:PORT or --csv FILE');
    const target = parseUdpTarget(values.to);
    if (values.protocol !== 'netflow9' && values.protocol !== 'ipfix')
      throw new UsageError(`--protocol: expected netflow9 or ipfix, got ${values.protocol}`);
    const rate = positiveInt('--rate', values.rate);
    const duration = values.duration ? positiveInt('--duration', values.duration) : Number.POSITIVE_INFINITY;
    return sendLive(simulator, new ExportEncoder({ protocol: values.protocol }), target, rate, duration);
  },
};

function positiveInt(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${name}: expected a positive integer, got ${raw}`);
  return n;
}

export function parseUdpTarget(raw: string): { host: string; port: number } {
  const m = /^udp:\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(raw);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw new UsageError(`--to: expected udp://HOST:PORT, got ${raw}`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}

async function writeCsv(path: string, flows: SimulatedFlow[]): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${TEMPO_CSV_HEADER}\n`);
  for (const f of flows)
    if (!out.write(`${tempoCsvRow(f)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

/** Sends `rate` flows each second, drawn from an hour of simulated traffic re-timed to now. */
async function sendLive(
  simulator: TrafficSimulator,
  encoder: ExportEncoder,
  target: { host: string; port: number },
  rate: number,
  durationS: number,
): Promise<number> {
  const socket = createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
  let pool = simulator.generate(Date.now() - 3_600_000, Date.now());
  let cursor = 0;
  let sentFlows = 0;
  let sentDatagrams = 0;
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  const started = Date.now();
  for (let second = 0; second < durationS && !stop; second++) {
    const tickStart = Date.now();
    const now = tickStart;
    const batch: SimulatedFlow[] = [];
    for (let i = 0; i < rate; i++) {
      if (cursor >= pool.length) {
        pool = simulator.generate(now - 3_600_000, now);
        cursor = 0;
      }
      const f = pool[cursor++] as SimulatedFlow;
      const dur = f.end_ms - f.start_ms;
      batch.push({ ...f, start_ms: now - dur, end_ms: now });
    }
    for (const d of encoder.encode(batch, now)) {
      await new Promise<void>((resolve, reject) =>
        socket.send(d, target.port, target.host, (err) => (err ? reject(err) : resolve())),
      );
      sentDatagrams++;
    }
    sentFlows += batch.length;
    const wait = 1000 - (Date.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  socket.close();
  const secs = (Date.now() - started) / 1000;
  process.stderr.write(
    `sent ${sentFlows} flows in ${sentDatagrams} datagrams over ${secs.toFixed(1)} s (${Math.round(sentFlows / secs)} flows/s)\n`,
  );
  return 0;
}
