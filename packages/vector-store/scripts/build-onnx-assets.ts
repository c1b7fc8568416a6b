/**
 * Writes the one-node ONNX graphs in ../assets by encoding their protobuf directly (no Python
 * `onnx` needed): `node --import tsx packages/vector-store/scripts/build-onnx-assets.ts`.
 * cosine-gemm.onnx: similarity[q, n] = queries[q, d] · points[n, d]ᵀ (byte-identical to the file
 * the README's Python wrote). cosine-topk.onnx: the same Gemm plus a bias[n] (0, or -inf for a
 * point the filter rejects) and TopK(k) along n: similarity[q, k] best first and index[q, k].
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (no: number, wire: number) => varint((no << 3) | wire);
const int = (no: number, v: number) => [...field(no, 0), ...varint(v)];
const bytes = (no: number, b: number[]) => [...field(no, 2), ...varint(b.length), ...b];
const str = (no: number, s: string) => bytes(no, [...Buffer.from(s, 'utf8')]);

const FLOAT = 1;
const INT64 = 7;
/** AttributeProto of type INT. */
const intAttr = (name: string, v: number) => bytes(5, [...str(1, name), ...int(3, v), ...int(20, 2)]);
function node(op: string, inputs: string[], outputs: string[], attrs: number[][] = []): number[] {
  return bytes(1, [
    ...inputs.flatMap((i) => str(1, i)),
    ...outputs.flatMap((o) => str(2, o)),
    ...str(4, op),
    ...attrs.flat(),
  ]);
}
/** ValueInfoProto of a tensor with symbolic (string) or fixed (number) dimensions. */
function tensor(no: number, name: string, elem: number, dims: (string | number)[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, typeof d === 'string' ? str(2, d) : int(1, d)));
  return bytes(no, [...str(1, name), ...bytes(2, bytes(1, [...int(1, elem), ...bytes(2, shape)]))]);
}
function model(graph: number[]): Buffer {
  return Buffer.from([
    ...int(1, 8),
    ...str(2, 'tidewatch'),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ''), ...int(2, 13)]),
  ]);
}

const gemm = model([
  ...node('Gemm', ['queries', 'points'], ['similarity'], [intAttr('transB', 1)]),
  ...str(2, 'cosine_gemm'),
  ...tensor(11, 'queries', FLOAT, ['q', 'd']),
  ...tensor(11, 'points', FLOAT, ['n', 'd']),
  ...tensor(12, 'similarity', FLOAT, ['q', 'n']),
]);
const topk = model([
  ...node('Gemm', ['queries', 'points', 'bias'], ['all'], [intAttr('transB', 1)]),
  ...node(
    'TopK',
    ['all', 'k'],
    ['similarity', 'index'],
    [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)],
  ),
  ...str(2, 'cosine_topk'),
  ...tensor(11, 'queries', FLOAT, ['q', 'd']),
  ...tensor(11, 'points', FLOAT, ['n', 'd']),
  ...tensor(11, 'bias', FLOAT, ['n']),
  ...tensor(11, 'k', INT64, [1]),
  ...tensor(12, 'similarity', FLOAT, ['q', 'k']),
  ...tensor(12, 'index', INT64, ['q', 'k']),
]);
const at = (f: string) => fileURLToPath(new URL(`../assets/${f}`, import.meta.url));
writeFileSync(at('cosine-gemm.onnx'), gemm);
writeFileSync(at('cosine-topk.onnx'), topk);
console.log(`cosine-gemm.onnx ${gemm.length} bytes, cosine-topk.onnx ${topk.length} bytes`);
