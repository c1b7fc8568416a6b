import type { BinaryMetrics } from '@tidewatch/detector';
import type { Command } from '../command.ts';
import { notFlowsNote, parseScoreArgs, rejectionNote, scoreFile } from './score.ts';

const USAGE = `Usage: tidewatch evaluate --data FILE [options]

Scores a labelled flow file offline (same path as 'tidewatch score') and compares with its labels.
Per flow: every labelled row against the verdict of the sequence it belongs to. Per sequence: the
sequence is malicious when any of its flows is, benign when all are; sequences with any unlabelled
flow, unlabelled rows (e.g. Zeek Background) and rejected rows are excluded and counted.
Prints accuracy, precision, recall, F1, false-positive rate and the confusion counts, for the
model's verdict and for what the inference service raises (the verdict OR a baseline sub-score
>= 0.8, a low-severity finding; not the alerts its built-in rules record as suppressed), which is
the verdict 'tidewatch score --per-flow' states; --json prints the same as one JSON object
(per_flow, per_sequence: the model's; alerts_per_flow, alerts_per_sequence: the service's).

Options:
  --data FILE    the labelled flow file (required)
  --format F     tempo | zeek | zeek-csv | cic | parquet | argus | nfdump | aws | gcp | flows | ton-iot |
                 unsw-nb15 | nprobe | auto (default auto;
                 flows: the JSON lines 'tidewatch decode' prints, label/attack optional)
  --model V      model version under model/versions (default: model/versions/DEFAULT)
  --sub-scores V the sub-score formulas that flag (default v7, the service's; older as its
                 TIDEWATCH_INFERENCE_SUB_SCORES)
  --model-input I what the model reads: connections (default) or records
  --flag-thresholds T  per sub-score flag thresholds instead of 0.8 (e.g. beacon=0.9,scan=0.85)
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
    const { perFlow, perSequence, alerts } = evaluateOffline(result);
    const report = {
      file: args.file,
      model_version: modelVersion,
      rows: result.stats.rows,
      rejected: result.stats.rejected,
      not_flows: result.stats.notFlows,
      sequences: result.sequences.length,
      per_flow: perFlow,
      per_sequence: perSequence,
      alerts_per_flow: alerts.perFlow,
      alerts_per_sequence: alerts.perSequence,
    };
    process.stderr.write(rejectionNote(result.stats.firstRejection));
    if (json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      process.stdout.write(
        `${args.file}  (model ${modelVersion}; ${report.rows} rows, ${report.rejected} rejected, ${notFlowsNote(report.not_flows)}${report.sequences} sequences)\n${table('model verdict, per flow', perFlow)}\n${table('model verdict, per sequence', perSequence)}\n${table("service alerts (verdict or sub-score flag: score --per-flow's verdict), per flow", alerts.perFlow)}\n${table('service alerts, per sequence', alerts.perSequence)}\n`,
      );
    }
    return 0;
  },
};
