import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CONTEXT_FEATURE_COUNT, FLOW_FEATURE_COUNT, type SequenceFeatures } from '@tidewatch/features';
import * as ort from 'onnxruntime-node';
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
  /** Threads inside one operator (default: ORT's choice). */
  intraOpThreads?: number;
  /** Largest batch handed to one session.run (default 512). */
  maxBatch?: number;
}

/** Padded lengths: a sequence of n flows runs in the smallest bucket >= n (not at max_len). */
export function lengthBuckets(maxLen: number): number[] {
  const out: number[] = [];
  for (let b = 1; b < maxLen; b *= 2) out.push(b);
  out.push(maxLen);
  return out;
}

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

async function createSession(
  file: string,
  opts: OnnxModelOptions,
): Promise<{ session: ort.InferenceSession; device: 'cpu' | 'cuda' }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
  };
  const want = opts.device ?? 'auto';
  if (want === 'cuda' || (want === 'auto' && cudaAvailable())) {
    try {
      const session = await ort.InferenceSession.create(file, {
        ...base,
        executionProviders: ['cuda', 'cpu'],
      });
      return { session, device: 'cuda' };
    } catch (e) {
      if (want === 'cuda') throw new ModelLoadError(`CUDA execution provider unavailable: ${String(e)}`);
    }
  }
  const session = await ort.InferenceSession.create(file, { ...base, executionProviders: ['cpu'] });
  return { session, device: 'cpu' };
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
  private readonly session: ort.InferenceSession;
  private readonly single: ort.InferenceSession | null;

  private constructor(
    dir: string,
    manifest: ModelManifest,
    session: ort.InferenceSession,
    single: ort.InferenceSession | null,
    device: 'cpu' | 'cuda',
    maxBatch: number,
  ) {
    this.dir = dir;
    this.manifest = manifest;
    this.session = session;
    this.single = single;
    this.device = device;
    this.maxBatch = maxBatch;
    this.buckets = lengthBuckets(manifest.max_len);
  }

  get version(): string {
    return this.manifest.version;
  }

  static async load(dir: string, opts: OnnxModelOptions = {}): Promise<OnnxModel> {
    const manifest = await readManifest(dir);
    checkFeatureSpec(manifest, dir);
    const file = join(dir, 'model.onnx');
    if (!existsSync(file)) throw new ModelLoadError(`model ${manifest.version}: ${file} does not exist`);
    const { session, device } = await createSession(file, opts);
    const want = ['flow_features', 'flow_mask', 'context_features'];
    const missing = want.filter((n) => !session.inputNames.includes(n));
    const outs = ['score', 'tactic_probs', 'anomaly', 'embedding'].filter(
      (n) => !session.outputNames.includes(n),
    );
    if (missing.length > 0 || outs.length > 0) {
      await session.release();
      throw new ModelLoadError(
        `model ${manifest.version}: ONNX graph lacks inputs [${missing.join(', ')}] / outputs [${outs.join(', ')}]`,
      );
    }
    const fast =
      typeof manifest['fast_path_model'] === 'string' ? join(dir, manifest['fast_path_model']) : null;
    const single = fast && existsSync(fast) ? (await createSession(fast, { ...opts, device })).session : null;
    return new OnnxModel(dir, manifest, session, single, device, opts.maxBatch ?? 512);
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
    for (const [bucket, idxs] of byBucket) {
      for (let s = 0; s < idxs.length; s += this.maxBatch) {
        const chunk = idxs.slice(s, s + this.maxBatch);
        const res = await this.runPadded(
          chunk.map((i) => inputs[i] as SequenceFeatures),
          bucket,
        );
        chunk.forEach((i, j) => {
          out[i] = res[j] as ModelOutput;
        });
      }
    }
    return out;
  }

  /** One session.run over sequences padded (or truncated) to exactly `len` flows. */
  async runPadded(inputs: SequenceFeatures[], len: number): Promise<ModelOutput[]> {
    const F = FLOW_FEATURE_COUNT;
    const C = CONTEXT_FEATURE_COUNT;
    const B = inputs.length;
    const flow = new Float32Array(B * len * F);
    const mask = new Float32Array(B * len);
    const ctx = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      const x = inputs[b] as SequenceFeatures;
      const n = Math.min(x.length, len);
      flow.set(x.flow.subarray(0, n * F), b * len * F);
      mask.fill(1, b * len, b * len + n);
      ctx.set(x.context.subarray(0, C), b * C);
    }
    const session = len === 1 && this.single ? this.single : this.session;
    const r = await session.run({
      flow_features: new ort.Tensor('float32', flow, [B, len, F]),
      flow_mask: new ort.Tensor('float32', mask, [B, len]),
      context_features: new ort.Tensor('float32', ctx, [B, C]),
    });
    const score = r['score']?.data as Float32Array;
    const anomaly = r['anomaly']?.data as Float32Array;
    const tactics = r['tactic_probs']?.data as Float32Array;
    const emb = r['embedding']?.data as Float32Array;
    const T = this.manifest.tactics.length;
    const D = emb.length / B;
    const res: ModelOutput[] = [];
    for (let b = 0; b < B; b++) {
      res.push({
        score: score[b] as number,
        anomaly: anomaly[b] as number,
        // Views on the batch's output buffers: no copy per sequence.
        tacticProbs: tactics.subarray(b * T, (b + 1) * T),
        embedding: emb.subarray(b * D, (b + 1) * D),
      });
    }
    return res;
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.single?.release();
  }
}
