import { decodeFlowFiles } from '@tidewatch/collector/capture/flow-files';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

const USAGE = `Usage: tidewatch decode [options] FILE...

Decodes NetFlow v5/v9, IPFIX and sFlow v5 from pcap, pcapng or raw datagram files (.dat/.bin: one
datagram, or several concatenated) in the order given, sharing template state as one exporter.
Prints one flow record per line as JSON (DESIGN.md field names) on stdout; counts and errors on
stderr.

Options:
  --exporter ADDR       exporter address for raw files (default 127.0.0.1)
  --force-exporter      use --exporter for capture packets too (default: each packet's source address)
  --received-at MS      receive time (epoch ms) for raw files, which carry none (default: now)
  --no-extra            leave out the \`extra\` map of other information elements
  --stats               print the decoder's per-exporter counters as JSON on stderr
`;

interface Args {
  files: string[];
  exporter?: string;
  forceExporter: boolean;
  receivedAtMs?: number;
  extras: boolean;
  stats: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { files: [], forceExporter: false, extras: true, stats: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--exporter') a.exporter = value();
    else if (arg === '--force-exporter') a.forceExporter = true;
    else if (arg === '--received-at') {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 0) throw new UsageError('--received-at needs epoch milliseconds');
      a.receivedAtMs = v;
    } else if (arg === '--no-extra') a.extras = false;
    else if (arg === '--stats') a.stats = true;
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
    else a.files.push(arg);
  }
  if (a.files.length === 0) throw new UsageError(`no input file\n\n${USAGE}`);
  return a;
}

export const command: Command = {
  name: 'decode',
  summary: 'decode NetFlow/IPFIX/sFlow from pcap, pcapng or raw datagram files to JSON lines',
  usage: USAGE,
  async run(argv) {
    const args = parse(argv);
    const { FlowDecoder } = await import('@tidewatch/collector/decode');
    const decoder = new FlowDecoder({ extras: args.extras });
    const chunks: string[] = [];
    const flush = () => {
      if (chunks.length > 0) process.stdout.write(chunks.join(''));
      chunks.length = 0;
    };
    try {
      const { files } = await decodeFlowFiles(
        args.files,
        (r) => {
          chunks.push(`${JSON.stringify(r)}\n`);
          if (chunks.length >= 1024) flush();
        },
        {
          decoder,
          ...(args.exporter !== undefined ? { exporter: args.exporter } : {}),
          forceExporter: args.forceExporter,
          ...(args.receivedAtMs !== undefined ? { receivedAtMs: args.receivedAtMs } : {}),
        },
      );
      flush();
      for (const f of files) {
        const skipped = f.capture ? Object.entries(f.capture.skipped) : [];
        const skipText =
          skipped.length > 0 ? `, skipped ${skipped.map(([k, v]) => `${k}=${v}`).join(' ')}` : '';
        process.stderr.write(
          `${f.file}: ${f.kind}, ${f.datagrams} datagrams, ${f.records} records${skipText}\n`,
        );
      }
    } catch (err) {
      flush();
      const e = err as NodeJS.ErrnoException;
      const msg = e.code === 'ENOENT' ? `cannot read ${e.path}: no such file` : e.message;
      process.stderr.write(`tidewatch decode: ${msg}\n`);
      return 1;
    }
    const snap = decoder.snapshot();
    const errs = Object.entries(snap.errorsByReason).map(([k, v]) => `${k}=${v}`);
    process.stderr.write(
      `total: ${snap.totals.datagrams} datagrams, ${snap.totals.records} records, ${snap.totals.errors} errors${errs.length ? ` (${errs.join(' ')})` : ''}, ${snap.totals.templateMisses} template misses, ${snap.sizes.pendingSets} data sets still waiting for a template\n`,
    );
    if (args.stats) process.stderr.write(`${JSON.stringify(snap.domains)}\n`);
    return 0;
  },
};
