import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import {
  CONTEXT_FEATURE_COUNT,
  FEATURE_SPEC_HASH,
  FLOW_FEATURE_COUNT,
  FLOW_FEATURE_NAMES,
  type SubScores,
  sequenceFeatures,
  subScores,
  writeSequenceFeatures,
} from '../src/index.ts';

interface GoldenCase {
  name: string;
  sequence: Sequence;
  expected: { flow: number[][]; context: number[]; sub_scores: SubScores };
}
const golden = JSON.parse(readFileSync(new URL('../spec/golden.v1.json', import.meta.url), 'utf8')) as {
  feature_spec_hash: string;
  cases: GoldenCase[];
};

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
}

describe('features.v1', () => {
  it('golden vectors were generated from this exact spec file', () => {
    assert.equal(golden.feature_spec_hash, FEATURE_SPEC_HASH);
    assert.equal(golden.cases.length, 12);
  });

  it('has 36 flow features and 4 context features', () => {
    assert.equal(FLOW_FEATURE_COUNT, 36);
    assert.equal(FLOW_FEATURE_NAMES.length, 36);
    assert.equal(CONTEXT_FEATURE_COUNT, 4);
  });

  for (const c of golden.cases) {
    it(`matches the golden features: ${c.name}`, () => {
      const f = sequenceFeatures(c.sequence);
      assert.equal(f.length, c.sequence.flows.length);
      assert.equal(f.flow.length, f.length * FLOW_FEATURE_COUNT);
      assert.deepEqual([...f.mask], new Array(f.length).fill(1));
      c.expected.flow.forEach((row, i) => {
        row.forEach((v, j) => {
          close(f.flow[i * FLOW_FEATURE_COUNT + j] ?? Number.NaN, v, `flow ${i} ${FLOW_FEATURE_NAMES[j]}`);
        });
      });
      c.expected.context.forEach((v, j) => {
        close(f.context[j] ?? Number.NaN, v, `context ${j}`);
      });
    });
    it(`matches the golden sub-scores: ${c.name}`, () => {
      const s = subScores(c.sequence);
      for (const k of ['beacon', 'scan', 'brute_force', 'exfiltration'] as const) {
        close(s[k], c.expected.sub_scores[k], k);
        assert.ok(s[k] >= 0 && s[k] <= 1);
      }
    });
  }

  it('computes the first https flow by hand', () => {
    const c = golden.cases[0];
    assert.ok(c);
    const f = sequenceFeatures(c.sequence);
    close(f.flow[0] ?? 0, Math.log1p(1840), 'log_fwd_bytes');
    close(f.flow[5] ?? 0, Math.log1p(1840 / 12), 'fwd bytes per packet');
    assert.equal(f.flow[8], 1);
    assert.equal(f.flow[12 + 0], 1, 'port 443 is web');
    assert.equal(f.flow[24 + 0], 1, 'protocol 6 is tcp');
    assert.equal(f.flow[35], 1, 'tcp flags present');
  });

  it('scores the scan, brute-force and upload cases as such', () => {
    const byName = new Map(golden.cases.map((c) => [c.name, c.sequence]));
    const scan = byName.get('vertical SYN scan, no replies');
    const brute = byName.get('ssh brute force');
    const upload = byName.get('large upload');
    assert.ok(scan && brute && upload);
    assert.equal(subScores(scan).scan, 1);
    assert.equal(subScores(brute).brute_force, 1);
    assert.equal(subScores(upload).exfiltration, 1);
  });

  it('writes the same features straight into a padded batch tensor, truncated to the row block', () => {
    const F = FLOW_FEATURE_COUNT;
    const C = CONTEXT_FEATURE_COUNT;
    for (const c of golden.cases) {
      const whole = sequenceFeatures(c.sequence);
      const n = c.sequence.flows.length;
      for (const maxFlows of [n, Math.max(1, n - 1), n + 3]) {
        const flow = new Float32Array((2 + maxFlows) * F).fill(-7);
        const context = new Float32Array(3 * C).fill(-7);
        flow.fill(0, 2 * F);
        const rows = writeSequenceFeatures(c.sequence, flow, 2 * F, maxFlows, context, C);
        assert.equal(rows, Math.min(n, maxFlows), c.name);
        assert.deepEqual([...flow.subarray(0, 2 * F)], new Array(2 * F).fill(-7), 'rows before the block');
        assert.deepEqual(
          [...flow.subarray(2 * F, (2 + rows) * F)],
          [...whole.flow.subarray(0, rows * F)],
          c.name,
        );
        assert.ok(
          flow.subarray((2 + rows) * F).every((v) => v === 0),
          'padding rows stay zero',
        );
        assert.deepEqual([...context.subarray(C, 2 * C)], [...whole.context], `${c.name} context`);
        assert.ok(context.subarray(2 * C).every((v) => v === -7));
      }
    }
  });
});
