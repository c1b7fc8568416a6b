import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';

const GEMM_MODEL = fileURLToPath(new URL('../assets/cosine-gemm.onnx', import.meta.url));
let gemm: Promise<ort.InferenceSession> | null = null;

/** A one-node ONNX graph, similarity = queries · pointsᵀ (Gemm, transB=1; see assets/README). */
function gemmSession(): Promise<ort.InferenceSession> {
  // One thread that sleeps when idle: these GEMMs are a few ms and share the cores with the model
  // and the event loop; spinning intra-op threads would burn a core between calls.
  gemm ??= ort.InferenceSession.create(GEMM_MODEL, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
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
