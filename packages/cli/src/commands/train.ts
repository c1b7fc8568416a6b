import type { Command } from '../command.ts';
import { runModelModule } from './python-model.ts';

export const command: Command = {
  name: 'train',
  summary: 'train the flow model on the labelled captures and export a new model version',
  usage: `tidewatch train [--version V] [--recipe R] [--threshold train_fpr|inner_fpr|inner_f1] [--workers N] [--set-default] [--no-evaluate] [--pretrain-epochs N] [--epochs N] [--threads N] [--seed N]

Trains the default flow model (self-supervised pre-training, then the detection and ATT&CK heads) on
every capture under ../shared/testdata/labeled, with a leave-one-network-out evaluation (one model per
held-out network, kept under loco/), exports ONNX + manifest.json + golden.json + EVALUATION.md to
model/versions/<V>/. Fold thresholds come from inner leave-one-network-out models (--threshold inner_fpr:
26 trainings + the final one, about 14 minutes on a 2-core CPU, parallel processes on a CUDA GPU when PyTorch
sees one); --threshold train_fpr takes them from each fold's own training scores (see model/README.md). Runs \`python -m model.train\` in the
Python environment of scripts/python-env.sh (created on first use).`,
  run(argv) {
    return runModelModule('model.train', argv);
  },
};
