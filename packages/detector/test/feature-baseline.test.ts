import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Sequence } from '@tidewatch/contracts';
import {
  ADDRESS_SCOPES,
  FEATURES_V1,
  FEATURES_V2,
  FLOW_FEATURE_COUNT,
  sequenceFeatures,
} from '@tidewatch/features';
import {
  Detector,
  FeatureBaseline,
  ModelHost,
  ModelRepository,
  summarise,
  summaryNames,
} from '../src/index.ts';

// The features.v2 golden sequences: one responder per address scope (and a few of each).
const golden = JSON.parse(
  await readFile(new URL('../../features/spec/golden.v2.json', import.meta.url), 'utf8'),
) as { cases: { name: string; sequence: Sequence }[] };
const seqs = golden.cases.map((c) => c.sequence);
const byDst = (ip: string): Sequence => {
  const s = seqs.find((q) => q.dst_ip === ip);
  assert.ok(s, ip);
  return s;
};
const SCOPE_NAMES = ADDRESS_SCOPES.map((s) => `responder_${s}`);

describe('top-feature explanations under features.v2', () => {
  it('a v2 summary carries the five responder-scope columns, named after their scope', () => {
    const names = summaryNames(FEATURES_V2);
    assert.equal(names.length, FLOW_FEATURE_COUNT + 9);
    assert.deepEqual(names.slice(-5), [
      'responder_multicast_broadcast',
      'responder_loopback_unspecified',
      'responder_link_local',
      'responder_private',
      'responder_public',
    ]);
    // features.v1 summaries are unchanged: four context columns, no scope.
    assert.equal(summaryNames(FEATURES_V1).length, FLOW_FEATURE_COUNT + 4);
    assert.ok(!summaryNames(FEATURES_V1).some((n) => n.startsWith('responder_')));
    assert.ok(!summaryNames().some((n) => n.startsWith('responder_')));

    // The one-hot lands in the column of the responder's scope.
    const want: Record<string, string> = {
      '224.0.0.251': 'responder_multicast_broadcast',
      '::1': 'responder_loopback_unspecified',
      '169.254.10.1': 'responder_link_local',
      '172.20.0.9': 'responder_private',
      '8.8.8.8': 'responder_public',
    };
    for (const [ip, col] of Object.entries(want)) {
      const s = summarise(sequenceFeatures(byDst(ip), FEATURES_V2), FEATURES_V2);
      const scope = SCOPE_NAMES.map((n) => s[names.indexOf(n)]);
      assert.deepEqual(
        scope,
        SCOPE_NAMES.map((n) => (n === col ? 1 : 0)),
        ip,
      );
    }
  });

  it('an unusual responder scope is reported by name against a benign baseline', () => {
    // Benign traffic to private responders only; then a sequence to a multicast group.
    const base = new FeatureBaseline(undefined, FEATURES_V2);
    for (const ip of ['192.168.1.20', '10.1.2.3', '172.20.0.9'])
      base.observeBenign(summarise(sequenceFeatures(byDst(ip), FEATURES_V2), FEATURES_V2));
    const probe = byDst('192.168.1.20');
    const multicast = { ...probe, dst_ip: '224.0.0.251' };
    const top = base.top(summarise(sequenceFeatures(multicast, FEATURES_V2), FEATURES_V2), 2);
    // The flows of a benign sequence (|z| <= 1.16 with 3 observations); the scope is what stands out, both ways.
    assert.deepEqual(top.map((t) => t.name).sort(), ['responder_multicast_broadcast', 'responder_private']);
    const mc = top.find((t) => t.name === 'responder_multicast_broadcast');
    const pr = top.find((t) => t.name === 'responder_private');
    assert.ok(mc && pr);
    assert.equal(mc.value, 1);
    assert.ok(mc.contribution > 0);
    assert.equal(pr.value, 0);
    assert.ok(pr.contribution < 0);
  });

  it('the detector explains a features.v2 model over its 9 context columns', async () => {
    const fixtures = new ModelRepository(fileURLToPath(new URL('./fixtures/models', import.meta.url)));
    const host = await ModelHost.open(fixtures, 'features-v2-tiny', { intraOpThreads: 1 });
    try {
      const width = FLOW_FEATURE_COUNT + FEATURES_V2.contextCount;
      // flagThreshold 0: every sequence alerts and lists all its summary columns.
      const scored = await new Detector(host, { flagThreshold: 0, topFeatures: width }).score(seqs);
      scored.forEach((s, i) => {
        const top = s.finding.explanation.top_features;
        assert.equal(top.length, width);
        const x = sequenceFeatures(seqs[i] as Sequence, FEATURES_V2).context;
        for (let k = 0; k < 5; k++) {
          const f = top.find((t) => t.name === SCOPE_NAMES[k]);
          assert.ok(f, `${seqs[i]?.dst_ip}: ${SCOPE_NAMES[k]} missing`);
          assert.equal(f.value, x[4 + k], `${seqs[i]?.dst_ip}: ${SCOPE_NAMES[k]}`);
        }
      });
      const mc = scored[0]?.finding.explanation.top_features.find(
        (t) => t.name === 'responder_multicast_broadcast',
      );
      assert.equal(mc?.value, 1);
    } finally {
      await host.close();
    }
  });
});
