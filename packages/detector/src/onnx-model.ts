import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { type FeatureSpec, FLOW_FEATURE_COUNT, type SequenceFeatures } from '@tidewatch/features';
import * as ort from 'onnxruntime-node';
import {
  type BatchOutputs,
  type BatchResult,
  InferenceWorker,
  type PaddedBatch,
} from './inference-worker.ts';
import { checkFeatureSpec, type ModelManifest, readManifest } from './manifest.ts';

/** Raw model outputs for one sequence. */
export interface ModelOutput {
  score: number;
  anomaly: number;
  tacticProbs: Float32Array;
  embedding: Float32Array;
}

export interface OnnxModelOptions {
  /** 'auto' (default): CUDA when the runtime has it, else CPU. */
  device?: 'auto' | 'cpu' | 'cuda';
  /**
   * Threads inside one operator. Default on the worker thread: workerIntraOpThreads() (half the
   * CPUs, at most all but one: the event loop keeps a core); on the calling thread: ORT's choice
   * (one per physical core).
   */
  intraOpThreads?: number;
  /** Largest batch handed to one session.run (default 512). */
  maxBatch?: number;
  /**
   * Let idle intra-op threads spin for work (ORT's default, true). Off, they sleep between runs and
   * leave the core to the JS thread, which matters when both share few cores.
   */
  allowSpinning?: boolean;
  /**
   * Run the sessions on a worker thread (default true) so the event loop keeps decoding, featurising
   * and storing while a batch runs; false runs them on the calling thread.
   */
  worker?: boolean;
}

/** Padded lengths: a sequence of n flows runs in the smallest bucket >= n (not at max_len). */
export function lengthBuckets(maxLen: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < maxLen; b *= 2) out.push(b);
  out.push(maxLen);
  return out;
}

export type { BatchOutputs, BatchResult, PaddedBatch } from './inference-worker.ts';

export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

let cudaProbe: boolean | null = null;

/**
 * CUDA only when the runtime lists it AND its provider library was installed beside the binding
 * (onnxruntime-node downloads it at install time unless ONNXRUNTIME_NODE_INSTALL=skip); trying it
 * without the library prints a native error per session.
 */
export function cudaAvailable(): boolean {
  if (cudaProbe !== null) return cudaProbe;
  cudaProbe = false;
  if (ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
    try {
      const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
      const bin = join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
      cudaProbe = existsSync(join(bin, 'libonnxruntime_providers_cuda.so'));
    } catch {
      cudaProbe = false;
    }
  }
  return cudaProbe;
}

/**
 * Default intra-op threads of a model on the worker thread: half the CPUs (ORT's own default, one
 * per physical core, on a 2-way SMT machine), at most all but one, at least one. The event loop
 * (decode, features, findings, store) runs beside the worker and needs a core of its own: on a
 * 2-CPU box ORT's default of 2 threads costs the worker 3-5 µs more CPU per sequence than 1 thread
 * (intra-op sync and wake-ups) without more throughput, since the second core is the event loop's.
 */
export function workerIntraOpThreads(cpus: number = availableParallelism()): number {
  return Math.max(1, Math.min(cpus - 1, Math.ceil(cpus / 2)));
}

function sessionOptions(opts: OnnxModelOptions): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    ...(opts.allowSpinning === false
      ? { extra: { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' } }
      : {}),
  };
}

/** Where a model version's batches run: sessions on this thread, or an InferenceWorker. */
type Runner =
  | { kind: 'local'; sessions: ort.InferenceSession[] }
  | { kind: 'worker'; worker: InferenceWorker };

async function startRunner(
  files: string[],
  opts: OnnxModelOptions,
  providers: string[],
): Promise<{
  runner: Runner;
  inputNames: readonly string[];
  outputNames: readonly string[];
  intraOpThreads: number | undefined;
}> {
  const onWorker = opts.worker ?? true;
  const threads = opts.intraOpThreads || (onWorker ? workerIntraOpThreads() : undefined);
  const options = {
    ...sessionOptions(threads ? { ...opts, intraOpThreads: threads } : opts),
    executionProviders: providers,
  };
  if (onWorker) {
    const worker = await InferenceWorker.start(files, options);
    return {
      runner: { kind: 'worker', worker },
      inputNames: worker.inputNames,
      outputNames: worker.outputNames,
      intraOpThreads: threads,
    };
  }
  const sessions: ort.InferenceSession[] = [];
  for (const f of files) sessions.push(await ort.InferenceSession.create(f, options));
  const first = sessions[0] as ort.InferenceSession;
  return {
    runner: { kind: 'local', sessions },
    inputNames: first.inputNames,
    outputNames: first.outputNames,
    intraOpThreads: threads,
  };
}

async function createRunner(
  files: string[],
  opts: OnnxModelOptions,
): Promise<{
  runner: Runner;
  device: 'cpu' | 'cuda';
  inputNames: readonly string[];
  outputNames: readonly string[];
  intraOpThreads: number | undefined;
}> {
  const want = opts.device ?? 'auto';
  if (want === 'cuda' || (want === 'auto' && cudaAvailable())) {
    try {
      return { ...(await startRunner(files, opts, ['cuda', 'cpu'])), device: 'cuda' };
    } catch (e) {
      if (want === 'cuda') throw new ModelLoadError(`CUDA execution provider unavailable: ${String(e)}`);
    }
  }
  return { ...(await startRunner(files, opts, ['cpu'])), device: 'cpu' };
}

async function releaseRunner(runner: Runner): Promise<void> {
  if (runner.kind === 'worker') await runner.worker.release();
  else for (const s of runner.sessions) await s.release();
}

/**
 * One loaded model version: the ONNX session plus its manifest. `run` pads each sequence only to
 * its length bucket, groups equal buckets into batches of at most `maxBatch`, and scatters the
 * outputs back into input order. One-flow sequences form their own bucket (length 1: no padding,
 * no attention cost), and a manifest may name a dedicated single-flow graph (`fast_path_model`).
 */
export class OnnxModel {
  readonly dir: string;
  readonly manifest: ModelManifest;
  readonly device: 'cpu' | 'cuda';
  readonly buckets: number[];
  readonly maxBatch: number;
  /** Index of the single-flow session in the runner, or -1 without a fast-path graph. */
  private readonly single: number;

  private constructor(
    dir: string,
    manifest: ModelManifest,
    /** The features this model was trained on (its manifest's spec hash); sets the context width. */
    readonly featureSpec: FeatureSpec,
    private readonly runner: Runner,
    single: number,
    device: 'cpu' | 'cuda',
    maxBatch: number,
    /** Intra-op threads its sessions were created with (undefined: ORT's default). */
    readonly intraOpThreads: number | undefined,
  ) {
    this.dir = dir;
    this.manifest = manifest;
    this.single = single;
    this.device = device;
    this.maxBatch = maxBatch;
    this.buckets = lengthBuckets(manifest.max_len);
  }

  get version(): string {
    return this.manifest.version;
  }

  /** True when batches run on a worker thread (see OnnxModelOptions.worker). */
  get onWorker(): boolean {
    return this.runner.kind === 'worker';
  }

  static async load(dir: string, opts: OnnxModelOptions = {}): Promise<OnnxModel> {
    const manifest = await readManifest(dir);
    const featureSpec = checkFeatureSpec(manifest, dir);
    const file = join(dir, 'model.onnx');
    if (!existsSync(file)) throw new ModelLoadError(`model ${manifest.version}: ${file} does not exist`);
    const fast =
      typeof manifest['fast_path_model'] === 'string' ? join(dir, manifest['fast_path_model']) : null;
    const files = fast && existsSync(fast) ? [file, fast] : [file];
    const { runner, device, inputNames, outputNames, intraOpThreads } = await createRunner(files, opts);
    const want = ['flow_features', 'flow_mask', 'context_features'];
    const missing = want.filter((n) => !inputNames.includes(n));
    const outs = ['score', 'tactic_probs', 'anomaly', 'embedding'].filter((n) => !outputNames.includes(n));
    if (missing.length > 0 || outs.length > 0) {
      await releaseRunner(runner);
      throw new ModelLoadError(
        `model ${manifest.version}: ONNX graph lacks inputs [${missing.join(', ')}] / outputs [${outs.join(', ')}]`,
      );
    }
    const single = files.length > 1 ? 1 : -1;
    return new OnnxModel(
      dir,
      manifest,
      featureSpec,
      runner,
      single,
      device,
      opts.maxBatch ?? 512,
      intraOpThreads,
    );
  }

  bucketFor(length: number): number {
    for (const b of this.buckets) if (length <= b) return b;
    return this.manifest.max_len;
  }

  /** Scores sequences (any mix of lengths); outputs are in input order. */
  async run(inputs: SequenceFeatures[]): Promise<ModelOutput[]> {
    const out = new Array<ModelOutput>(inputs.length);
    const byBucket = new Map<number, number[]>();
    for (let i = 0; i < inputs.length; i++) {
      const b = this.bucketFor(Math.max(1, (inputs[i] as SequenceFeatures).length));
      const list = byBucket.get(b);
      if (list) list.push(i);
      else byBucket.set(b, [i]);
    }
    // Every chunk is handed over before the first result is awaited: on the worker they queue and
    // run back to back while this thread goes on.
    const jobs: Promise<void>[] = [];
    for (const [bucket, idxs] of byBucket) {
      for (let s = 0; s < idxs.length; s += this.maxBatch) {
        const chunk = idxs.slice(s, s + this.maxBatch);
        jobs.push(
          this.runPadded(
            chunk.map((i) => inputs[i] as SequenceFeatures),
            bucket,
          ).then((res) => {
            chunk.forEach((i, j) => {
              out[i] = res[j] as ModelOutput;
            });
          }),
        );
      }
    }
    await Promise.all(jobs);
    return out;
  }

  /** One session.run over sequences padded (or truncated) to exactly `len` flows. */
  async runPadded(inputs: SequenceFeatures[], len: number): Promise<ModelOutput[]> {
    const b = this.allocate(inputs.length, len);
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i] as SequenceFeatures;
      const n = Math.min(x.length, len);
      b.flow.set(x.flow.subarray(0, n * FLOW_FEATURE_COUNT), i * len * FLOW_FEATURE_COUNT);
      b.mask.fill(1, i * len, i * len + n);
      const C = this.featureSpec.contextCount;
      if (x.context.length < C) {
        throw new RangeError(
          `model ${this.version} takes ${C} context features (${this.featureSpec.version}), got ${x.context.length}`,
        );
      }
      b.context.set(x.context.subarray(0, C), i * C);
    }
    return this.split((await this.runBatch(b)).outputs, inputs.length);
  }

  /** Zeroed input buffers for `batch` sequences of `len` flows (fill with writeSequenceFeatures). */
  allocate(batch: number, len: number): PaddedBatch {
    return {
      batch,
      len,
      flow: new Float32Array(batch * len * FLOW_FEATURE_COUNT),
      mask: new Float32Array(batch * len),
      context: new Float32Array(batch * this.featureSpec.contextCount),
      contextWidth: this.featureSpec.contextCount,
    };
  }

  /**
   * One session.run over a padded batch. On the worker the input buffers are moved to it (do not
   * touch `b` afterwards); calls queue there and run in call order.
   */
  async runBatch(b: PaddedBatch): Promise<BatchResult> {
    const session = b.len === 1 && this.single >= 0 ? this.single : 0;
    if (this.runner.kind === 'worker') return this.runner.worker.run(session, b);
    const s = this.runner.sessions[session] as ort.InferenceSession;
    const r = await s.run({
      flow_features: new ort.Tensor('float32', b.flow, [b.batch, b.len, FLOW_FEATURE_COUNT]),
      flow_mask: new ort.Tensor('float32', b.mask, [b.batch, b.len]),
      context_features: new ort.Tensor('float32', b.context, [b.batch, b.contextWidth]),
    });
    const outputs: BatchOutputs = {
      score: r['score']?.data as Float32Array,
      anomaly: r['anomaly']?.data as Float32Array,
      tactic_probs: r['tactic_probs']?.data as Float32Array,
      embedding: r['embedding']?.data as Float32Array,
    };
    return { outputs, inputs: b };
  }

  /** Per-sequence views on a batch's outputs (no copy). */
  split(o: BatchOutputs, batch: number): ModelOutput[] {
    const T = this.manifest.tactics.length;
    const D = o.embedding.length / batch;
    const res: ModelOutput[] = [];
    for (let b = 0; b < batch; b++) {
      res.push({
        score: o.score[b] as number,
        anomaly: o.anomaly[b] as number,
        tacticProbs: o.tactic_probs.subarray(b * T, (b + 1) * T),
        embedding: o.embedding.subarray(b * D, (b + 1) * D),
      });
    }
    return res;
  }

  async release(): Promise<void> {
    await releaseRunner(this.runner);
  }
}
