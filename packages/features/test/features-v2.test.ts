import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Sequence } from '@tidewatch/contracts';
import {
  ADDRESS_SCOPES,
  addressScopeIndex,
  CONTEXT_FEATURE_COUNT,
  FEATURES_V1,
  FEATURES_V2,
  featureSpecByHash,
  FLOW_FEATURE_COUNT,
  sequenceFeatures,
  writeSequenceFeatures,
} from '../src/index.ts';

interface GoldenCase {
  name: string;
  sequence: Sequence;
  expected: { flow: number[][]; context: number[] };
}
const golden = JSON.parse(readFileSync(new URL('../spec/golden.v2.json', import.meta.url), 'utf8')) as {
  feature_spec: string;
  feature_spec_hash: string;
  cases: GoldenCase[];
  address_scopes: { ip: string; scope: string | null }[];
};

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-5 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} != ${expected}`,
  );
}

describe('features.v2 (features.v1 + responder address scope)', () => {
  it('golden vectors were generated from this exact spec file, which a manifest hash selects', () => {
    assert.equal(golden.feature_spec, 'features.v2');
    assert.equal(golden.feature_spec_hash, FEATURES_V2.hash);
    assert.equal(featureSpecByHash(FEATURES_V2.hash), FEATURES_V2);
    assert.equal(featureSpecByHash(FEATURES_V1.hash), FEATURES_V1);
    assert.equal(featureSpecByHash('0'.repeat(64)), undefined);
    assert.notEqual(FEATURES_V1.hash, FEATURES_V2.hash);
  });

  it('has the features.v1 context then one column per address scope', () => {
    assert.equal(FEATURES_V1.contextCount, CONTEXT_FEATURE_COUNT);
    assert.equal(FEATURES_V2.contextCount, CONTEXT_FEATURE_COUNT + ADDRESS_SCOPES.length);
    assert.deepEqual(FEATURES_V2.contextNames.slice(0, CONTEXT_FEATURE_COUNT), FEATURES_V1.contextNames);
    assert.deepEqual(ADDRESS_SCOPES, [
      'multicast_broadcast',
      'loopback_unspecified',
      'link_local',
      'private',
      'public',
    ]);
  });

  it('classifies every address of the golden table like the Python side', () => {
    assert.ok(golden.address_scopes.length > 60);
    for (const { ip, scope } of golden.address_scopes) {
      const i = addressScopeIndex(ip);
      assert.equal(i >= 0 ? ADDRESS_SCOPES[i] : null, scope, JSON.stringify(ip));
    }
  });

  for (const c of golden.cases) {
    it(`matches the golden features: ${c.name}`, () => {
      const f = sequenceFeatures(c.sequence, FEATURES_V2);
      const v1 = sequenceFeatures(c.sequence);
      assert.deepEqual([...f.flow], [...v1.flow], 'flow rows are the features.v1 ones');
      assert.deepEqual([...f.context.subarray(0, CONTEXT_FEATURE_COUNT)], [...v1.context]);
      c.expected.flow.forEach((row, i) => {
        row.forEach((v, j) => {
          close(f.flow[i * FLOW_FEATURE_COUNT + j] ?? Number.NaN, v, `flow ${i} ${j}`);
        });
      });
      assert.equal(f.context.length, c.expected.context.length);
      c.expected.context.forEach((v, j) => {
        close(f.context[j] ?? Number.NaN, v, `context ${FEATURES_V2.contextNames[j]}`);
      });
      const scope = [...f.context.subarray(CONTEXT_FEATURE_COUNT)];
      assert.equal(
        scope.reduce((a, b) => a + b, 0),
        1,
      );
    });
  }

  it('a responder that is not an IP address gets no scope column, and the address never matters beyond its class', () => {
    const base = golden.cases[0]?.sequence;
    assert.ok(base);
    const host = sequenceFeatures({ ...base, dst_ip: 'not-an-address' }, FEATURES_V2);
    assert.deepEqual([...host.context.subarray(CONTEXT_FEATURE_COUNT)], [0, 0, 0, 0, 0]);
    const a = sequenceFeatures({ ...base, dst_ip: '10.0.0.1' }, FEATURES_V2);
    const b = sequenceFeatures({ ...base, dst_ip: '192.168.200.7' }, FEATURES_V2);
    assert.deepEqual([...a.context], [...b.context]);
  });

  it('writes into reused batch tensors without leaving an earlier scope column set', () => {
    const C = FEATURES_V2.contextCount;
    for (const c of golden.cases) {
      const n = c.sequence.flows.length;
      const flow = new Float32Array(n * FLOW_FEATURE_COUNT);
      const context = new Float32Array(2 * C).fill(1);
      writeSequenceFeatures(c.sequence, flow, 0, n, context, C, FEATURES_V2);
      assert.deepEqual(
        [...context.subarray(C)],
        [...sequenceFeatures(c.sequence, FEATURES_V2).context],
        c.name,
      );
      assert.ok(context.subarray(0, C).every((v) => v === 1));
    }
  });
});
