import type { BinaryMetrics } from '@tidewatch/detector';
import type { Command } from '../command.ts';
import { parseScoreArgs, scoreFile } from './score.ts';

const USAGE = `Usage: tidewatch evaluate --data FILE [options]

Scores a labelled flow file offline (same path as 'tidewatch score') and compares with its labels.
Per flow: every labelled row against the verdict of the sequence it belongs to. Per sequence: the
sequence is malicious when any of its flows is, benign when all are; sequences with any unlabelled
flow, unlabelled rows (e.g. Zeek Background) and rejected rows are excluded and counted.
Prints accuracy, precision, recall, F1, false-positive rate and the confusion counts; --json
prints the same as one JSON object.

Options:
  --data FILE    the labelled flow file (required)
  --format F     tempo | zeek | zeek-csv | cic | parquet | argus | nfdump | aws | gcp | auto (default auto)
  --model V      model version under model/versions (default: model/versions/DEFAULT)
  --json         machine-readable output
`;

const fmt = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(4));

function table(name: string, m: BinaryMetrics): string {
  return [
    `${name}:`,
    `  accuracy ${fmt(m.accuracy)}  precision ${fmt(m.precision)}  recall ${fmt(m.recall)}  F1 ${fmt(m.f1)}  FPR ${fmt(m.fpr)}`,
    `  TP ${m.tp}  FP ${m.fp}  TN ${m.tn}  FN ${m.fn}  excluded (no label) ${m.excluded}`,
  ].join('\n');
}

export const command: Command = {
  name: 'evaluate',
  summary: 'evaluate the model on labelled flows (precision, recall, F1, FPR)',
  usage: USAGE,
  async run(argv) {
    const json = argv.includes('--json');
    const args = parseScoreArgs(
      argv.filter((a) => a !== '--json'),
      USAGE,
      false,
    );
    const { evaluateOffline } = await import('@tidewatch/detector');
    const { result, modelVersion } = await scoreFile(args);
    const { perFlow, perSequence } = evaluateOffline(result);
    const report = {
      file: args.file,
      model_version: modelVersion,
      rows: result.stats.rows,
      rejected: result.stats.rejected,
      sequences: result.sequences.length,
      per_flow: perFlow,
      per_sequence: perSequence,
    };
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      process.stdout.write(
        `${args.file}  (model ${modelVersion}; ${report.rows} rows, ${report.rejected} rejected, ${report.sequences} sequences)\n${table('per flow', perFlow)}\n${table('per sequence', perSequence)}\n`,
      );
    }
    return 0;
  },
};
