import { UsageError, type Command } from '../command.ts';
import { runModelModule } from './python-model.ts';

const FORMATS = ['tempo_csv', 'zeek_conn', 'cic_csv', 'parquet'];

export const command: Command = {
  name: 'finetune',
  summary: "fine-tune the flow model on a user's labelled flows into a new model version",
  usage: `tidewatch finetune --data FILE [--format ${FORMATS.join('|')}] [--base V] [--version V] [--epochs N] [--set-default]

Reads FILE (labels from its label column: 0/1 or benign/malicious), builds sequences by sequencing.v1,
starts from the base version's weights (default: model/versions/DEFAULT), fine-tunes, holds out the
last 20 % of the file by time for the reported metrics, and writes model/versions/<V>/.`,
  run(argv) {
    const i = argv.indexOf('--data');
    if (i < 0 || !argv[i + 1]) throw new UsageError('finetune: --data FILE is required');
    const f = argv.indexOf('--format');
    const format = f >= 0 ? argv[f + 1] : undefined;
    if (f >= 0 && (!format || !FORMATS.includes(format))) {
      throw new UsageError(`finetune: --format must be one of ${FORMATS.join(', ')}`);
    }
    return runModelModule('model.finetune', argv);
  },
};
