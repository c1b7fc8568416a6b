import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { OnnxModel } from '../src/index.ts';
import { repository } from './model-fixture.ts';

interface GoldenTensor {
  dims: number[];
  data: number[];
}
interface Golden {
  version: string;
  cases: string[];
  tolerance: { abs: number };
  inputs: Record<'flow_features' | 'flow_mask' | 'context_features', GoldenTensor>;
  outputs: Record<'score' | 'tactic_probs' | 'anomaly' | 'embedding', GoldenTensor>;
}

describe('ONNX Runtime (onnxruntime-node) reproduces the PyTorch outputs in golden.json', async () => {
  for (const v of await repository.list()) {
    it(`model ${v.version}`, async () => {
      const golden = JSON.parse(await readFile(join(v.dir, 'golden.json'), 'utf8')) as Golden;
      assert.equal(golden.version, v.version);
      const model = await OnnxModel.load(v.dir, { device: 'cpu' });
      try {
        const feeds = Object.fromEntries(
          Object.entries(golden.inputs).map(([name, t]) => [
            name,
            new ort.Tensor('float32', Float32Array.from(t.data), t.dims),
          ]),
        );
        // Straight through the session (the golden batch is already padded), and through the
        // bucketed path the service uses, which must agree with it.
        const session = await ort.InferenceSession.create(join(v.dir, 'model.onnx'), {
          executionProviders: ['cpu'],
        });
        const raw = await session.run(feeds);
        await session.release();
        let worst = 0;
        for (const [name, want] of Object.entries(golden.outputs)) {
          const got = raw[name]?.data as Float32Array;
          assert.deepEqual(raw[name]?.dims, want.dims, `${name} dims`);
          for (let i = 0; i < want.data.length; i++) {
            const d = Math.abs((got[i] as number) - (want.data[i] as number));
            worst = Math.max(worst, d);
            assert.ok(
              d <= golden.tolerance.abs,
              `${name}[${i}]: onnxruntime ${got[i]} vs PyTorch ${want.data[i]}`,
            );
          }
        }
        const [B, L, F] = golden.inputs.flow_features.dims as [number, number, number];
        const C = golden.inputs.context_features.dims[1] as number;
        const flow = golden.inputs.flow_features.data;
        const mask = golden.inputs.flow_mask.data;
        const ctx = golden.inputs.context_features.data;
        const inputs = Array.from({ length: B }, (_, b) => {
          let n = 0;
          while (n < L && mask[b * L + n] === 1) n++;
          return {
            flow: Float32Array.from(flow.slice(b * L * F, (b * L + n) * F)),
            mask: new Float32Array(n).fill(1),
            context: Float32Array.from(ctx.slice(b * C, (b + 1) * C)),
            length: n,
          };
        });
        const bucketed = await model.run(inputs);
        const T = golden.outputs.tactic_probs.dims[1] as number;
        const D = golden.outputs.embedding.dims[1] as number;
        bucketed.forEach((o, b) => {
          const tol = golden.tolerance.abs * 10;
          assert.ok(
            Math.abs(o.score - (golden.outputs.score.data[b] as number)) <= tol,
            `score[${b}] (${golden.cases[b]})`,
          );
          assert.ok(Math.abs(o.anomaly - (golden.outputs.anomaly.data[b] as number)) <= tol, `anomaly[${b}]`);
          for (let t = 0; t < T; t++) {
            assert.ok(
              Math.abs(
                (o.tacticProbs[t] as number) - (golden.outputs.tactic_probs.data[b * T + t] as number),
              ) <= tol,
            );
          }
          for (let d = 0; d < D; d++) {
            assert.ok(
              Math.abs((o.embedding[d] as number) - (golden.outputs.embedding.data[b * D + d] as number)) <=
                tol,
            );
          }
        });
      } finally {
        await model.release();
      }
    });
  }
});
