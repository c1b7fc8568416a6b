import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { embeddingBitsHash, groupEmbeddings } from '../src/detector.ts';

/** The previous keying (detector.ts before this change): a Map keyed by the bytes as base64. */
function reference(es: readonly Float32Array[]): { queries: Float32Array[]; groupOf: number[] } {
  const queryOf = new Map<string, number>();
  const queries: Float32Array[] = [];
  const groupOf = es.map((e) => {
    const key = Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64');
    let q = queryOf.get(key);
    if (q === undefined) {
      q = queries.length;
      queryOf.set(key, q);
      queries.push(e);
    }
    return q;
  });
  return { queries, groupOf };
}

function f32WithBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

/** Embeddings with duplicates, -0 / 0, NaNs with different payloads, subarrays of one buffer. */
function cases(seed: number, n: number, dim: number): Float32Array[] {
  // A linear congruential draw: only the mix of cases matters here (@tidewatch/testing is not a dependency).
  let x = seed >>> 0;
  const rand = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
  const pool = new Float32Array(n * dim);
  const out: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const e = pool.subarray(i * dim, (i + 1) * dim);
    const r = rand();
    if (r < 0.4 && out.length > 0) e.set(out[Math.floor(rand() * out.length)] as Float32Array);
    else for (let j = 0; j < dim; j++) e[j] = Math.round((rand() - 0.5) * 8) / 4;
    if (rand() < 0.1) e[Math.floor(rand() * dim)] = -0;
    if (rand() < 0.05) e.set(f32WithBits([0x7fc00000 + Math.floor(rand() * 3)]), 0);
    out.push(e);
  }
  return out;
}

describe('groupEmbeddings', () => {
  it('groups exactly as keying by the bytes did: same queries (same arrays, same order), same groups', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const es = cases(seed, 1 + (seed % 40), seed % 2 === 0 ? 16 : 3);
      const want = reference(es);
      for (const hash of [embeddingBitsHash, () => 0, (e: Float32Array) => ((e[0] ?? 0) > 0 ? 1 : 2)]) {
        const got = groupEmbeddings(es, hash);
        assert.deepEqual(got.groupOf, want.groupOf, `seed ${seed}`);
        assert.equal(got.queries.length, want.queries.length);
        for (let i = 0; i < got.queries.length; i++) {
          assert.equal(got.queries[i], want.queries[i], `seed ${seed} query ${i}`);
        }
      }
    }
  });

  it('tells -0 from 0, NaN payloads apart and same values at different lengths apart', () => {
    const es = [
      new Float32Array([0, 1]),
      new Float32Array([-0, 1]),
      f32WithBits([0x7fc00000, 0]),
      f32WithBits([0x7fc00001, 0]),
      f32WithBits([0x7fc00000, 0]),
      new Float32Array([0, 1, 0]),
      new Float32Array([0, 1]),
    ];
    for (const hash of [embeddingBitsHash, () => 7]) {
      assert.deepEqual(groupEmbeddings(es, hash).groupOf, [0, 1, 2, 3, 2, 4, 0]);
    }
    assert.deepEqual(reference(es).groupOf, [0, 1, 2, 3, 2, 4, 0]);
  });

  it('hashes to a small integer that depends on the bits', () => {
    const h = embeddingBitsHash(new Float32Array([1, 2, 3]));
    assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 30);
    assert.notEqual(h, embeddingBitsHash(new Float32Array([1, 2, -3])));
    assert.notEqual(embeddingBitsHash(new Float32Array([0])), embeddingBitsHash(new Float32Array([-0])));
  });
});
