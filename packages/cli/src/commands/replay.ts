import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

const USAGE = `Usage: tidewatch replay FILE... --to udp://HOST:PORT [--rate N] [--port P]

Sends the flow datagrams of pcap/pcapng captures (the UDP payloads that are NetFlow v5/v9, IPFIX
or sFlow v5 exports) to a collector, one after another in capture order. Other packets are
skipped and counted.

Options:
  --to udp://HOST:PORT   where to send (required)
  --rate N               at most N datagrams per second (default: as fast as the socket takes them)
  --port P               only datagrams sent to UDP port P in the capture (repeatable)
`;

interface Args {
  files: string[];
  host: string;
  port: number;
  rate?: number;
  ports: Set<number>;
}

function parse(argv: string[]): Args {
  const files: string[] = [];
  let to: string | undefined;
  let rate: number | undefined;
  const ports = new Set<number>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--to') to = value();
    else if (arg === '--rate') {
      rate = Number(value());
      if (!Number.isFinite(rate) || rate <= 0)
        throw new UsageError('--rate needs a positive number (datagrams/s)');
    } else if (arg === '--port') {
      const p = Number(value());
      if (!Number.isInteger(p) || p < 1 || p > 65535)
        throw new UsageError('--port needs a UDP port (1-65535)');
      ports.add(p);
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else files.push(arg);
  }
  if (files.length === 0) throw new UsageError(`no capture file\n\n${USAGE}`);
  if (!to) throw new UsageError('--to udp://HOST:PORT is required');
  const m = /^udp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(to);
  if (!m) throw new UsageError(`--to '${to}' is not udp://HOST:PORT`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new UsageError(`--to port ${port} is out of range`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  return { files, host, port, ports, ...(rate !== undefined ? { rate } : {}) };
}

/** True when a UDP payload is a NetFlow v5/v9, IPFIX or sFlow v5 export (header checks only). */
export function isFlowDatagram(p: Buffer): boolean {
  if (p.length < 4) return false;
  const version = p.readUInt16BE(0);
  if (version === 5) return p.length >= 24 && p.length === 24 + 48 * p.readUInt16BE(2);
  if (version === 9) return p.length >= 20;
  if (version === 10) return p.length >= 16 && p.readUInt16BE(2) === p.length;
  return p.length >= 28 && p.readUInt32BE(0) === 5 && (p.readUInt32BE(4) === 1 || p.readUInt32BE(4) === 2);
}

export const command: Command = {
  name: 'replay',
  summary: 'send the flow datagrams of a capture to a collector over UDP, in order',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv);
    const { readCapture, newCaptureStats } = await import('@tidewatch/collector/capture');
    const family = isIP(args.host) === 6 ? 'udp6' : 'udp4';
    const socket = createSocket(family);
    let sent = 0;
    let skipped = 0;
    let bytes = 0;
    const started = performance.now();
    try {
      for (const file of args.files) {
        const stats = newCaptureStats();
        const datagrams = readCapture(await readFile(file), stats);
        let fileSent = 0;
        for (const d of datagrams) {
          if ((args.ports.size > 0 && !args.ports.has(d.dstPort)) || !isFlowDatagram(d.payload)) {
            skipped++;
            continue;
          }
          if (args.rate !== undefined) {
            const due = started + (sent / args.rate) * 1000;
            const wait = due - performance.now();
            if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          }
          // Waiting for each send keeps the capture's order on the wire.
          await new Promise<void>((resolve, reject) =>
            socket.send(d.payload, args.port, args.host, (err) => (err ? reject(err) : resolve())),
          );
          sent++;
          fileSent++;
          bytes += d.payload.length;
        }
        process.stderr.write(`${file}: ${fileSent} flow datagrams of ${datagrams.length} UDP packets\n`);
      }
    } finally {
      socket.close();
    }
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(
      `sent ${sent} datagrams (${bytes} bytes) to udp://${args.host}:${args.port} in ${seconds.toFixed(2)} s; skipped ${skipped} non-flow packets\n`,
    );
    return 0;
  },
};
