import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface InferenceMetrics {
  batchSize: Histogram<string>;
  inferenceSeconds: Histogram<'device'>;
  sequences: Counter<'model_version'>;
  storeSeconds: Histogram<'op'>;
  findings: Counter<'tactic' | 'severity'>;
  suppressed: Counter<string>;
  consumerLag: Gauge<'partition'>;
  deadLettered: Counter<string>;
  modelInfo: Gauge<'version' | 'device'>;
  modelSwaps: Counter<'outcome'>;
}

/** Metrics of the inference service (`tidewatch_inference_*`; labels are bounded: no IPs). */
export function createInferenceMetrics(registry: Registry): InferenceMetrics {
  const registers = [registry];
  return {
    batchSize: new Histogram({
      name: 'tidewatch_inference_batch_size',
      help: 'Sequences per model run (micro-batch)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
      registers,
    }),
    inferenceSeconds: new Histogram({
      name: 'tidewatch_inference_model_seconds',
      help: 'Per model run: seconds from handing the consumer batch to the model until the run is scored (features + queue + ONNX + mapping)',
      labelNames: ['device'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    sequences: new Counter({
      name: 'tidewatch_inference_sequences_total',
      help: 'Sequences scored and stored (rate() gives sequences/s)',
      labelNames: ['model_version'],
      registers,
    }),
    storeSeconds: new Histogram({
      name: 'tidewatch_inference_store_seconds',
      help: 'Vector store latency per operation',
      labelNames: ['op'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    findings: new Counter({
      name: 'tidewatch_inference_findings_total',
      help: 'Findings emitted on findings.v1 by top tactic and severity',
      labelNames: ['tactic', 'severity'],
      registers,
    }),
    suppressed: new Counter({
      name: 'tidewatch_inference_suppressed_total',
      help: 'Findings that matched a suppression rule (stored and emitted with status suppressed)',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'tidewatch_inference_consumer_lag_messages',
      help: 'Messages behind the high watermark of sequences.v1, per partition',
      labelNames: ['partition'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'tidewatch_inference_dead_lettered_total',
      help: 'sequences.v1 messages that could not be decoded (sent to the DLQ)',
      registers,
    }),
    modelInfo: new Gauge({
      name: 'tidewatch_inference_model_info',
      help: 'The active model version (value 1)',
      labelNames: ['version', 'device'],
      registers,
    }),
    modelSwaps: new Counter({
      name: 'tidewatch_inference_model_swaps_total',
      help: 'Model hot-swaps and rollbacks by outcome',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
