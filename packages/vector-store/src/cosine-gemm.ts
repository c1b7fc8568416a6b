import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const GEMM_MODEL = fileURLToPath(new URL('../assets/cosine-gemm.onnx', import.meta.url));
const TOPK_MODEL = fileURLToPath(new URL('../assets/cosine-topk.onnx', import.meta.url));
let gemm: Promise<ort.InferenceSession> | null = null;
let topk: Promise<ort.InferenceSession> | null = null;
/** One thread that sleeps when idle: these runs are a few ms and share the cores with the model and the event loop. */
const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  extra: { session: { intra_op: { allow_spinning: '0' } } },
};

/** A one-node ONNX graph, similarity = queries · pointsᵀ (Gemm, transB=1; see assets/README). */
function gemmSession(): Promise<ort.InferenceSession> {
  gemm ??= ort.InferenceSession.create(GEMM_MODEL, SESSION_OPTIONS);
  return gemm;
}

/** queries [q, dim] · points [n, dim]ᵀ as a [q, n] row-major matrix, in onnxruntime (MLAS). */
export async function gemmSimilarities(
  queries: Float32Array,
  q: number,
  points: Float32Array,
  n: number,
  dim: number,
): Promise<Float32Array> {
  const session = await gemmSession();
  const out = await session.run({
    queries: new ort.Tensor('float32', queries, [q, dim]),
    points: new ort.Tensor('float32', points, [n, dim]),
  });
  return out['similarity']?.data as Float32Array;
}

/**
 * The k best points per query without bringing the whole [q, n] matrix back: Gemm with a bias per
 * point (0, or -Infinity to leave a point out) then TopK in onnxruntime. Row q of the results is
 * best first; `index` is the point's row in `points`; a -Infinity similarity is a left-out point.
 */
export async function gemmTopK(
  queries: Float32Array,
  q: number,
  points: Float32Array,
  n: number,
  dim: number,
  bias: Float32Array,
  k: number,
): Promise<{ similarity: Float32Array; index: BigInt64Array }> {
  topk ??= ort.InferenceSession.create(TOPK_MODEL, SESSION_OPTIONS);
  const session = await topk;
  const out = await session.run({
    queries: new ort.Tensor('float32', queries, [q, dim]),
    points: new ort.Tensor('float32', points, [n, dim]),
    bias: new ort.Tensor('float32', bias, [n]),
    k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
  });
  return {
    similarity: out['similarity']?.data as Float32Array,
    index: out['index']?.data as BigInt64Array,
  };
}
