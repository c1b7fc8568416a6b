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
});
