import { join, resolve } from 'node:path';
import type { MessageBus } from '@tidewatch/bus';
import type { FileImportSummary, ImportFormat } from '@tidewatch/flow-importers';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

const USAGE = `Usage: tidewatch import [--format F] [options] FILE...

Imports flow-log files into the pipeline: every row becomes a flow record on flows.v1 (Avro,
keyed by conversation). Where they go:
  - Kafka, when KAFKA_BROKERS is set;
  - otherwise the one-process pipeline's data directory (--data-dir or TIDEWATCH_DATA_DIR), which
    \`tidewatch run\` reads when it (re)starts;
  - with --dry-run, nowhere: the files are only read and checked.
Bad rows are reported on stderr as FILE:LINE: what was wrong, and skipped. A summary per file
says rows read = imported + rejected.

Formats (--format, default auto: detected from the file):
  tempo     Tempo CSV (timestamp, flow_dur, src_ip, dest_ip, ... [, label, protocol, attack])
  zeek      Zeek conn.log, TSV with #fields header or JSON lines (labelled CTU/IoT-23 variants too)
  zeek-csv  Zeek conn.log converted to CSV (the aucad IoT-23 files)
  cic       CIC-IDS2017 CSV (CICFlowMeter columns; CNS2022 re-labelled release)
  parquet   Tempo-schema parquet (DeepTempo flowprep)
  argus     Argus client CSV / CTU-13 binetflow
  nfdump    nfdump -o csv output (run nfdump with TZ=UTC)
  aws       AWS VPC flow logs v2-v5 (default or custom format with header line)
  gcp       GCP VPC flow logs (JSON lines or a JSON array of log entries)
  ton-iot   ToN_IoT network dataset CSV (Zeek conn fields renamed: src_ip, src_bytes ..., label, type)
  unsw-nb15 UNSW-NB15 record files (49 Argus/Bro columns, with or without a header)
  nprobe    nProbe NetFlow-named CSV (IPV4_SRC_ADDR, IN_BYTES ...: the NF-* v3 datasets)

Options:
  --format F          one of the formats above, or auto
  --data-dir DIR      one-process pipeline data directory (default TIDEWATCH_DATA_DIR)
  --dry-run           read and check only; publish nothing
  --max-errors N      print at most N rejected rows per file (default 20; all are counted)
  --topic T           topic to publish to (default flows.v1)
`;

interface Args {
  files: string[];
  format: ImportFormat | 'auto';
  dataDir?: string;
  dryRun: boolean;
  maxErrors: number;
  topic?: string;
}

async function parse(argv: string[]): Promise<Args> {
  const { IMPORT_FORMATS } = await import('@tidewatch/flow-importers');
  const a: Args = { files: [], format: 'auto', dryRun: false, maxErrors: 20 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--format' || arg === '-f') {
      const f = value();
      if (f !== 'auto' && !(IMPORT_FORMATS as readonly string[]).includes(f))
        throw new UsageError(`unknown format '${f}' (known: auto, ${IMPORT_FORMATS.join(', ')})`);
      a.format = f as ImportFormat | 'auto';
    } else if (arg === '--data-dir') a.dataDir = value();
    else if (arg === '--dry-run') a.dryRun = true;
    else if (arg === '--topic') a.topic = value();
    else if (arg === '--max-errors') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new UsageError('--max-errors needs a non-negative integer');
      a.maxErrors = n;
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else a.files.push(arg);
  }
  if (a.files.length === 0) throw new UsageError(`no input file\n\n${USAGE}`);
  return a;
}

/** Where the flows go: Kafka, the one-process data dir, or nowhere (dry run). */
async function openBus(args: Args): Promise<{ bus: MessageBus | null; where: string } | string> {
  if (args.dryRun) return { bus: null, where: 'nowhere (dry run)' };
  const brokers = process.env['KAFKA_BROKERS'];
  if (brokers) {
    const { KafkaBus } = await import('@tidewatch/bus');
    const list = brokers.split(',').map((b) => b.trim());
    return {
      bus: new KafkaBus({ brokers: list, clientId: 'tidewatch-import' }),
      where: `Kafka ${list.join(',')}`,
    };
  }
  const dataDir = args.dataDir ?? process.env['TIDEWATCH_DATA_DIR'];
  if (dataDir) {
    const { InProcessBus } = await import('@tidewatch/bus');
    const dir = join(resolve(dataDir), 'bus');
    return {
      bus: new InProcessBus({ dir, defaultPartitions: 4 }),
      where: `the one-process pipeline in ${dir}`,
    };
  }
  return (
    'nowhere to import to: set KAFKA_BROKERS (Kafka mode), or pass --data-dir / TIDEWATCH_DATA_DIR ' +
    '(one-process mode, read by `tidewatch run`), or use --dry-run to only check the files'
  );
}

export const command: Command = {
  name: 'import',
  summary:
    'import flow-log files (Tempo CSV, Zeek, CIC, parquet, Argus, nfdump, AWS/GCP VPC) into the pipeline',
  usage: USAGE,
  async run(argv) {
    const args = await parse(argv);
    const target = await openBus(args);
    if (typeof target === 'string') {
      process.stderr.write(`tidewatch import: ${target}\n`);
      return 2;
    }
    const { importFiles, formatSummary } = await import('@tidewatch/flow-importers');
    const shown = new Map<string, number>();
    const onRejected = (error: string) => {
      const file = error.slice(0, error.indexOf(':'));
      const n = (shown.get(file) ?? 0) + 1;
      shown.set(file, n);
      if (n <= args.maxErrors) process.stderr.write(`${error}\n`);
    };
    let summaries: FileImportSummary[];
    const { bus } = target;
    if (bus === null) {
      summaries = await importFiles(args.files, args.format, { write: () => undefined }, { onRejected });
    } else {
      const { createCodecs, CONTRACTS, registryFromEnv } = await import('@tidewatch/contracts');
      const { FlowPublisher } = await import('@tidewatch/collector');
      const topic = args.topic ?? CONTRACTS.flows.topic;
      try {
        await bus.ensureTopics([{ topic }]);
        const codecs = await createCodecs(registryFromEnv(process.env['SCHEMA_REGISTRY_URL']));
        const producers = await Promise.all([bus.producer(), bus.producer()]);
        const publisher = new FlowPublisher(codecs.flows, producers, { topic });
        summaries = await importFiles(args.files, args.format, publisher, { onRejected });
        await publisher.flush();
        await publisher.close();
        await Promise.all(producers.map((p) => p.close()));
      } finally {
        await bus.close();
      }
    }
    let failed = 0;
    for (const s of summaries) {
      const extra =
        (shown.get(s.file) ?? 0) > args.maxErrors ? ` (first ${args.maxErrors} errors shown)` : '';
      process.stderr.write(`${formatSummary(s)}${extra}\n`);
      if (s.failed) failed++;
    }
    const total = summaries.reduce((n, s) => n + s.imported, 0);
    process.stderr.write(
      args.dryRun
        ? `checked ${total} flows (dry run: nothing published)\n`
        : `imported ${total} flows to ${target.where}\n`,
    );
    return failed > 0 ? 1 : 0;
  },
};
