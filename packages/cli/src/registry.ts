import type { Command } from './command.ts';

/**
 * Every sub-command, loaded lazily so `tidewatch decode` does not pay for onnxruntime or Kafka.
 * To add one: write commands/<name>.ts exporting `command`, then add a line here.
 */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  decode: {
    summary: 'decode pcap/pcapng/raw datagram files to flow records (JSON lines)',
    load: () => import('./commands/decode.ts'),
  },
  import: {
    summary: 'import flow-log files (CSV, Zeek, VPC, Argus, nfdump) into the pipeline',
    load: () => import('./commands/import.ts'),
  },
  replay: {
    summary: 'send the flow datagrams of a capture to a collector over UDP',
    load: () => import('./commands/replay.ts'),
  },
  score: {
    summary: 'score flow files offline with the model (same code path as the pipeline)',
    load: () => import('./commands/score.ts'),
  },
  evaluate: {
    summary: 'evaluate the model on labelled flows (precision, recall, F1, FPR)',
    load: () => import('./commands/evaluate.ts'),
  },
  train: {
    summary: 'train the default model from the labelled captures (Python/PyTorch)',
    load: () => import('./commands/train.ts'),
  },
  finetune: {
    summary: 'fine-tune a new model version on your labelled flows',
    load: () => import('./commands/finetune.ts'),
  },
  run: {
    summary: 'run the whole pipeline in one process (add --demo for simulated traffic)',
    load: () => import('./commands/run.ts'),
  },
  simulate: {
    summary: 'generate realistic benign and attack traffic as NetFlow v9/IPFIX',
    load: () => import('./commands/simulate.ts'),
  },
};
