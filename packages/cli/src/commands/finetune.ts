import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectFormat, IMPORT_FORMATS, type ImportFormat } from '@tidewatch/flow-importers';
import { type Command, UsageError } from '../command.ts';
import { PYTHON_READS, writeTempoCsv } from './finetune-input.ts';
import { runModelModule } from './python-model.ts';

const PYTHON_FORMATS = ['tempo_csv', 'zeek_conn', 'cic_csv', 'parquet'];

export const command: Command = {
  name: 'finetune',
  summary: "fine-tune the flow model on a user's labelled flows into a new model version",
  usage: `tidewatch finetune --data FILE [--format F] [--base V] [--version V] [--epochs N] [--set-default]

Reads FILE (labels from its label column: 0/1 or benign/malicious), builds sequences by sequencing.v1,
starts from the base version's weights (default: model/versions/DEFAULT), fine-tunes, holds out the
last 20 % of the file by time for the reported metrics, and writes model/versions/<V>/.
--format: any of the import formats (${IMPORT_FORMATS.join(', ')}; default: detected), or the Python
reader's names (${PYTHON_FORMATS.join(', ')}). Formats the Python side does not read itself (cloud
and NetFlow logs, Argus, nfdump, ToN_IoT, UNSW-NB15, nProbe, flow JSON) are first turned into the
flows the pipeline's sequencer makes of them (one-way records stitched), written as Tempo CSV.`,
  async run(argv) {
    const i = argv.indexOf('--data');
    const data = i >= 0 ? argv[i + 1] : undefined;
    if (data === undefined || data.startsWith('--'))
      throw new UsageError('finetune: --data FILE is required');
    const f = argv.indexOf('--format');
    const given = f >= 0 ? argv[f + 1] : undefined;
    if (
      f >= 0 &&
      (!given || (!PYTHON_FORMATS.includes(given) && !IMPORT_FORMATS.includes(given as ImportFormat)))
    )
      throw new UsageError(
        `finetune: --format must be one of ${[...IMPORT_FORMATS, ...PYTHON_FORMATS].join(', ')}`,
      );
    if (given !== undefined && PYTHON_FORMATS.includes(given)) return runModelModule('model.finetune', argv);
    let format: ImportFormat;
    try {
      format = (given as ImportFormat | undefined) ?? (await detectFormat(data));
    } catch {
      return runModelModule('model.finetune', argv); // the Python reader's own guess, as before
    }
    const python = PYTHON_READS[format];
    if (python !== undefined) return runModelModule('model.finetune', pythonArgs(argv, data, python));
    const dir = await mkdtemp(join(tmpdir(), 'tw-finetune-'));
    try {
      const tempo = join(dir, 'flows.csv');
      const c = await writeTempoCsv(data, format, tempo);
      process.stderr.write(
        `${data}: ${c.rows} rows (${c.rejected} rejected, ${c.notFlows} not flows) → ${c.flows} flows as the sequencer makes them (format ${format})\n`,
      );
      if (c.firstRejection !== undefined)
        process.stderr.write(`tidewatch: first rejected row: ${c.firstRejection}\n`);
      return await runModelModule('model.finetune', pythonArgs(argv, tempo, 'tempo_csv'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** `argv` for model.finetune with `--data` set to `data` and `--format` to `format` (each once). */
export function pythonArgs(argv: readonly string[], data: string, format: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k] as string;
    if (a === '--format') k++;
    else if (a === '--data') {
      out.push('--data', data);
      k++;
    } else out.push(a);
  }
  return [...out, '--format', format];
}
