import { once } from 'node:events';
import type { Command } from '../command.ts';
import { UsageError } from '../command.ts';

const USAGE = `Usage: tidewatch score [options] FILE

Scores a flow file offline, in-process, on the same code path as the streaming pipeline
(flow importer → sequencing.v1 → features.v1 → ONNX model → Finding).

Without --per-flow: one JSON Finding per sequence on stdout (sequence order: window, src, dst, part); an
alert a built-in rule matches has status "suppressed" and the rule's id in suppressed_by, as the service
records it.
With --per-flow: exactly one JSON line per input data row, in input order:
  {"row": <0-based data row>, "sequence_id": "...", "score": <0..1>, "verdict": "malicious"|"benign", "tactic": "<TA id>"|null}
  A row the importer rejected still gets its line, with nulls and the reason:
  {"row": 7, "sequence_id": null, "score": null, "verdict": null, "tactic": null, "error": "<file>:<line>: <what was wrong>"}
  A flow's score/verdict/tactic are those of the sequence it belongs to: score is the model's
  P(suspicious); verdict is what the inference service raises (--verdict service, the default): malicious
  when the model's score reaches its threshold OR a baseline sub-score (beacon, scan, brute force,
  exfiltration, reflection) flags the sequence, unless a built-in rule suppresses that alert (traffic to
  link-local multicast, SSDP or a broadcast address; the model alone raising name, address or time
  service requests); --verdict model gives the model's verdict alone.
Input columns named label or attack are never model inputs (they only travel as ground truth).
Counts (rows, imported, rejected, not flows, sequences, raised, model version) go to stderr. Rows that are no
conversation's flow (NAT or firewall event records that counted no traffic, IPv6 neighbour discovery
and MLD: sequencing rule 0) are in no sequence; with --per-flow their line says which.

Options:
  --format F     tempo | zeek | zeek-csv | cic | parquet | argus | nfdump | aws | gcp | flows | ton-iot |
                 unsw-nb15 | nprobe | auto (default auto;
                 flows: the JSON lines 'tidewatch decode' prints, label/attack optional)
  --per-flow     one line per input row (see above)
  --verdict V    service (default) or model: whose decision a --per-flow line's verdict is
  --model V      model version under model/versions (default: model/versions/DEFAULT)
  --batch N      micro-batch size (default 512)
  --sub-scores V the sub-score formulas that flag and explain, as the service's
                 TIDEWATCH_INFERENCE_SUB_SCORES (default v7: over each sequence's connections,
                 ICMP errors no scan evidence)
  --model-input I what the model reads: connections (default) or records (the flows as they came)
  --flag-thresholds T  per sub-score flag thresholds instead of 0.8, as the service's
                 TIDEWATCH_INFERENCE_FLAG_THRESHOLDS (e.g. beacon=0.9,scan=0.85)
`;

export interface ScoreArgs {
  file: string;
  format: string;
  perFlow: boolean;
  model?: string;
  batch: number;
  /** A sub-score version (the Detector checks it). */
  subScores?: string;
  modelInput?: string;
  /** `name=number` pairs (the Detector checks names and ranges). */
  flagThresholds?: Record<string, number>;
  /** `score --per-flow`: whose decision the verdict is (service unless told). */
  verdict: 'service' | 'model';
}

export function parseScoreArgs(argv: string[], usage = USAGE, allowPerFlow = true): ScoreArgs {
  const a: Partial<ScoreArgs> & { files: string[] } = {
    files: [],
    format: 'auto',
    perFlow: false,
    batch: 512,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--format') a.format = value();
    else if (arg === '--per-flow' && allowPerFlow) a.perFlow = true;
    else if (arg === '--model') a.model = value();
    else if (arg === '--data') a.files.push(value());
    else if (arg === '--sub-scores') a.subScores = value();
    else if (arg === '--model-input') a.modelInput = value();
    else if (arg === '--flag-thresholds') a.flagThresholds = parseThresholds(value());
    else if (arg === '--verdict' && allowPerFlow) {
      const v = value();
      if (v !== 'service' && v !== 'model')
        throw new UsageError(`unknown --verdict '${v}' (known: service, model)`);
      a.verdict = v;
    } else if (arg === '--batch') {
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new UsageError('--batch needs a positive integer');
      a.batch = n;
    } else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else a.files.push(arg);
  }
  if (a.files.length !== 1) throw new UsageError(`exactly one input file expected\n\n${usage}`);
  return {
    file: a.files[0] as string,
    format: a.format ?? 'auto',
    perFlow: a.perFlow ?? false,
    batch: a.batch ?? 512,
    verdict: a.verdict ?? 'service',
    ...(a.model ? { model: a.model } : {}),
    ...(a.subScores ? { subScores: a.subScores } : {}),
    ...(a.modelInput ? { modelInput: a.modelInput } : {}),
    ...(a.flagThresholds ? { flagThresholds: a.flagThresholds } : {}),
  };
}

function parseThresholds(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const pair of text.split(',')) {
    const m = /^\s*([a-z_]+)\s*=\s*([0-9.]+)\s*$/.exec(pair);
    if (!m || !Number.isFinite(Number(m[2])))
      throw new UsageError(`--flag-thresholds: "${pair}" is not name=number (e.g. beacon=0.9)`);
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** Loads the model and scores the file (shared by score and evaluate). */
export async function scoreFile(args: ScoreArgs) {
  const { IMPORT_FORMATS } = await import('@tidewatch/flow-importers');
  if (args.format !== 'auto' && !(IMPORT_FORMATS as readonly string[]).includes(args.format)) {
    throw new UsageError(`unknown --format '${args.format}' (known: ${IMPORT_FORMATS.join(', ')}, auto)`);
  }
  const { Detector, ModelHost, ModelRepository, scoreFlowFile } = await import('@tidewatch/detector');
  type Options = NonNullable<ConstructorParameters<typeof Detector>[1]>;
  const host = await ModelHost.open(new ModelRepository(), args.model, { intraOpThreads: 1 });
  try {
    let detector: InstanceType<typeof Detector>;
    try {
      detector = new Detector(host, {
        ...(args.subScores ? { subScores: args.subScores as Options['subScores'] } : {}),
        ...(args.modelInput ? { modelInput: args.modelInput as Options['modelInput'] } : {}),
        ...(args.flagThresholds ? { flagThresholds: args.flagThresholds } : {}),
      });
    } catch (e) {
      // The Detector names the bad value and the known ones.
      throw new UsageError(
        (e as Error).message
          .replace('Detector subScores', '--sub-scores')
          .replace('Detector modelInput', '--model-input')
          .replace('Detector flagThresholds', '--flag-thresholds'),
      );
    }
    const result = await scoreFlowFile(args.file, detector, {
      format: args.format as 'auto',
      batchSize: args.batch,
    });
    return { result, modelVersion: host.current.version };
  } finally {
    await host.close();
  }
}

async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

export const command: Command = {
  name: 'score',
  summary: 'score flow files offline with the model (same code path as the pipeline)',
  usage: USAGE,
  async run(argv) {
    const args = parseScoreArgs(argv);
    const { perFlowLine, serviceRaises } = await import('@tidewatch/detector');
    const { result, modelVersion } = await scoreFile(args);
    let buf = '';
    const flush = async (force: boolean) => {
      if (buf.length > (force ? 0 : 1 << 16)) {
        await write(buf);
        buf = '';
      }
    };
    if (args.perFlow) {
      for (const r of result.rows) {
        buf += `${perFlowLine(r, result.sequences, args.verdict)}\n`;
        await flush(false);
      }
    } else {
      for (const s of result.sequences) {
        buf += `${JSON.stringify(s.finding)}\n`;
        await flush(false);
      }
    }
    await flush(true);
    const s = result.stats;
    let raised = 0;
    let byModel = 0;
    for (const x of result.sequences) {
      if (!serviceRaises(x)) continue;
      raised++;
      if (x.finding.verdict === 'malicious') byModel++;
    }
    process.stderr.write(
      `tidewatch score: ${args.file}: ${s.rows} rows (${s.imported} imported, ${s.rejected} rejected), ${notFlowsNote(s.notFlows)}${result.sequences.length} sequences (${raised} raised, ${byModel} of them by the model's verdict), model ${modelVersion}\n${rejectionNote(s.firstRejection)}`,
    );
    return 0;
  },
};

/** The summary's line naming why the first rejected row was rejected, when one was. */
export function rejectionNote(first: string | undefined): string {
  return first === undefined ? '' : `tidewatch: first rejected row: ${first}\n`;
}

/** The summary's note of rows sequencing rule 0 left out (exporter events, IPv6 link control), when any. */
export function notFlowsNote(n: number): string {
  return n > 0 ? `${n} not flows (exporter events, IPv6 link control: in no sequence), ` : '';
}
