import { Worker } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';

/** One padded batch: B sequences of exactly `len` flows (row-major), mask and context features. */
export interface PaddedBatch {
  batch: number;
  len: number;
  flow: Float32Array;
  mask: Float32Array;
  context: Float32Array;
  contextWidth: number;
}

/** Raw outputs of one session.run, one row per sequence of the batch. */
export interface BatchOutputs {
  score: Float32Array;
  anomaly: Float32Array;
  tactic_probs: Float32Array;
  embedding: Float32Array;
}

/** A run's outputs and its inputs (handed back by the worker, so they stay readable). */
export interface BatchResult {
  outputs: BatchOutputs;
  inputs: PaddedBatch;
}

type Reply =
  | { ready: true; inputNames: string[]; outputNames: string[] }
  | { ready: false; error: string }
  | { id: number; out: BatchOutputs; inputs: Pick<PaddedBatch, 'flow' | 'mask' | 'context'> }
  | { id: number; error: string };

/**
 * ONNX sessions on a worker thread. onnxruntime-node runs a session synchronously on the calling
 * thread, so on the main thread the event loop (Kafka, decoding, features, store writes) stops for
 * every batch. Here the batch's input buffers are transferred (no copy) to the worker, which runs
 * requests one after another in arrival order; meanwhile the main thread prepares the next batch
 * and stores the previous one.
 */
export class InferenceWorker {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly pending = new Map<
    number,
    { batch: PaddedBatch; resolve: (r: BatchResult) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    names: { inputNames: string[]; outputNames: string[] },
  ) {
    this.inputNames = names.inputNames;
    this.outputNames = names.outputNames;
    worker.on('message', (m: Reply) => {
      if (!('id' in m)) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in m) p.reject(new Error(`onnxruntime: ${m.error}`));
      else p.resolve({ outputs: m.out, inputs: { ...p.batch, ...m.inputs } });
    });
    const fail = (e: Error) => {
      this.failure ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`inference worker exited (code ${code})`)));
    worker.unref();
  }

  /** Starts a worker holding one session per file (same options); resolves once all are loaded. */
  static async start(
    files: string[],
    options: ort.InferenceSession.SessionOptions,
  ): Promise<InferenceWorker> {
    const worker = new Worker(new URL('./onnx-worker.ts', import.meta.url), {
      workerData: { files, options },
    });
    const first = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`inference worker exited (code ${code}) while loading`)),
      );
    });
    if (!('ready' in first) || !first.ready) {
      await worker.terminate();
      throw new Error('error' in first ? first.error : 'inference worker did not start');
    }
    return new InferenceWorker(worker, first);
  }

  /**
   * Runs `b` on session `session` (index into the files given to start). The buffers of `b` are
   * moved to the worker; the result carries them back.
   */
  run(session: number, b: PaddedBatch): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(id, { batch: b, resolve, reject });
      this.worker.ref();
      const transfer = [b.flow.buffer, b.mask.buffer, b.context.buffer].filter(
        (x, i, all): x is ArrayBuffer => x instanceof ArrayBuffer && all.indexOf(x) === i,
      );
      this.worker.postMessage({ id, session, ...b }, transfer);
    });
  }

  async release(): Promise<void> {
    if (this.failure) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref();
    this.worker.postMessage({ release: true });
    const timer = setTimeout(() => void this.worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
