import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Sequence } from '@tidewatch/contracts';
import { FEATURES_V2, sequenceFeatures } from '@tidewatch/features';
import { Detector, ModelHost, ModelRepository } from '../src/index.ts';

// A tiny features.v2 model written by `python -m model.detector_fixture` (a fixture, not a product model).
const fixtures = new ModelRepository(fileURLToPath(new URL('./fixtures/models', import.meta.url)));
const goldenFeatures = JSON.parse(
  await readFile(new URL('../../features/spec/golden.v2.json', import.meta.url), 'utf8'),
) as { cases: { name: string; sequence: Sequence }[] };

interface GoldenTensor {
  dims: number[];
  data: number[];
}

describe('a features.v2 model (responder address scope in the context)', () => {
  it('loads with the features.v2 implementation and its 9-wide context', async () => {
    const model = await fixtures.load('features-v2-tiny');
    try {
      assert.equal(model.featureSpec, FEATURES_V2);
      assert.equal(model.allocate(2, 4).contextWidth, 9);
      assert.equal(model.allocate(2, 4).context.length, 18);
    } finally {
      await model.release();
    }
  });

  it('the detector feeds it the same inputs PyTorch saw and gets the same scores', async () => {
    const dir = fixtures.dirOf('features-v2-tiny');
    const golden = JSON.parse(await readFile(join(dir, 'golden.json'), 'utf8')) as {
      cases: string[];
      inputs: { context_features: GoldenTensor };
      outputs: { score: GoldenTensor };
    };
    assert.deepEqual(
      golden.cases,
      goldenFeatures.cases.map((c) => c.name),
    );
    const seqs = goldenFeatures.cases.map((c) => c.sequence);
    const C = FEATURES_V2.contextCount;
    seqs.forEach((s, i) => {
      const ctx = sequenceFeatures(s, FEATURES_V2).context;
      for (let j = 0; j < C; j++) {
        const want = golden.inputs.context_features.data[i * C + j] as number;
        assert.ok(Math.abs((ctx[j] as number) - want) < 1e-5, `${s.dst_ip} context ${j}`);
      }
    });
    const host = await ModelHost.open(fixtures, 'features-v2-tiny', { intraOpThreads: 1 });
    try {
      // The golden inputs are the records as PyTorch read them (the default reads connections).
      const scored = await new Detector(host, { flagThreshold: 0, modelInput: 'records' }).score(seqs);
      scored.forEach((s, i) => {
        const want = golden.outputs.score.data[i] as number;
        assert.ok(
          Math.abs(s.finding.score - want) < 1e-4,
          `${seqs[i]?.dst_ip}: ${s.finding.score} vs ${want}`,
        );
      });
    } finally {
      await host.close();
    }
  });
});
