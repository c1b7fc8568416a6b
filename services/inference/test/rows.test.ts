import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCodecs, type Finding, type Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedSuppressionStore, SuppressionMatcher } from '@tidewatch/suppression';
import { needsShared, sharedPath } from '@tidewatch/testing';
import { EmbeddedStore, type VectorStore } from '@tidewatch/vector-store';
import { Registry } from 'prom-client';
import { FindingPipeline } from '../src/finding-pipeline.ts';
import { createInferenceMetrics } from '../src/metrics.ts';

// A labelled IoT-23 capture with C&C (Torii) among benign traffic: 3,209 rows.
const CAPTURE = 'testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv';
const CLOCK = 1_800_000_000_000;

/** The store without `upsertRows`: the pipeline then writes every row as a point with a Finding. */
function withoutRows(store: EmbeddedStore): VectorStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'upsertRows') return undefined;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as VectorStore;
}

describe('quiet sequences stored from columns', { skip: needsShared().skip }, () => {
  it('store the same points, and answer the same queries, as when every sequence is a Finding', async () => {
    const flows = [];
    for await (const r of readFlowFile(sharedPath(CAPTURE))) if (r.flow) flows.push(r.flow);
    const seqs: Sequence[] = buildSequences(flows);
    const root = await mkdtemp(join(tmpdir(), 'tw-rows-pipeline-'));
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    try {
      const codecs = await createCodecs();
      // A rule on one busy source address, fields only: it suppresses quiet and alerting sequences.
      const counts = new Map<string, number>();
      for (const s of seqs) counts.set(s.src_ip, (counts.get(s.src_ip) ?? 0) + 1);
      const busy = [...counts].sort((a, b) => b[1] - a[1])[1]?.[0] as string;
      const rules = new EmbeddedSuppressionStore(join(root, 'rules'));
      await rules.put({
        id: 'rule-busy',
        finding_id: 'x',
        reason: 'test',
        threshold: 0.9,
        vector: [],
        src_ip: busy,
        dst_ip: null,
        created_by: 'test',
        created_at_ms: 1,
        retroactive_count: 0,
        enabled: true,
      });
      const stores: EmbeddedStore[] = [];
      const pipelines = ['rows', 'points'].map((name) => {
        const store = new EmbeddedStore({ dir: join(root, name), dim: host.current.manifest.embedding_dim });
        stores.push(store);
        return new FindingPipeline({
          detector: new Detector(host, { clock: () => CLOCK }),
          store: name === 'rows' ? store : withoutRows(store),
          producer: null,
          findingsCodec: codecs.findings,
          findingsTopic: 'unused',
          suppression: new SuppressionMatcher(rules),
          metrics: createInferenceMetrics(new Registry()),
          // Larger than a process() call's 700 sequences: one storeAndEmit of several model runs per
          // call. With smaller batches the pipeline overlaps batch N's write with batch N+1's kNN,
          // and an alert's labelled neighbours (every point of this labelled capture is labelled)
          // then depend on whether N's points had landed: a timing, not a path, difference.
          batchSize: 1024,
          maxWaitMs: 0,
        });
      });
      const [a, b] = stores as [EmbeddedStore, EmbeddedStore];
      assert.equal(typeof a.upsertRows, 'function');
      assert.equal(withoutRows(b).upsertRows, undefined);
      // The reference: every sequence's Finding from the detector's full path.
      const reference = await new Detector(host, { clock: () => CLOCK }).score(seqs);
      // An analyst already resolved a few sequences (quiet ones among them): replays keep that.
      const resolved = reference.filter((_s, i) => i % 97 === 0);
      assert.ok(resolved.some((s) => !s.alert));
      for (const store of stores) {
        await store.init();
        await store.upsert(
          resolved.map((s) => ({
            id: s.finding.sequence_id,
            vector: s.embedding,
            payload: { ...s.finding, status: 'resolved' as const },
          })),
        );
      }
      const results = [];
      for (const p of pipelines) {
        let stored = 0;
        let suppressed = 0;
        let emitted = 0;
        for (let c = 0; c < seqs.length; c += 700) {
          const r = await p.process(seqs.slice(c, c + 700));
          stored += r.stored;
          suppressed += r.suppressed;
          emitted += r.emitted;
        }
        results.push({ stored, suppressed, emitted });
      }
      const [ra, rb] = results.map(({ stored, suppressed, emitted }) => ({ stored, suppressed, emitted }));
      assert.deepEqual(ra, rb);
      assert.equal(ra?.stored, seqs.length);
      const quiet = reference.filter((s) => !s.alert).length;
      assert.ok(quiet > seqs.length / 2 && quiet < seqs.length, `${quiet} quiet of ${seqs.length}`);
      assert.ok((ra?.suppressed ?? 0) > 0);
      assert.equal(await a.count(), await b.count());
      assert.equal(await a.count(), new Set(seqs.map((s) => s.sequence_id)).size);
      // Every point: payload (JSON text, key order included) and vector.
      for (const s of reference) {
        const id = s.finding.sequence_id;
        const pa = await a.get(id);
        const pb = await b.get(id);
        assert.ok(pa && pb);
        assert.equal(JSON.stringify(pa), JSON.stringify(pb));
        if (s.alert) continue;
        // A quiet point is the detector's full Finding, but for the status a rule or an analyst gave it.
        const f: Finding = { ...s.finding };
        if (s.finding.src_ip === busy) Object.assign(f, { status: 'suppressed', suppressed_by: 'rule-busy' });
        else if (resolved.includes(s)) f.status = 'resolved';
        assert.deepEqual(pa.payload, f);
      }
      const page = { limit: 100_000, sort: { field: 'score' as const, order: 'desc' as const } };
      assert.deepEqual(await a.list(page), await b.list(page));
      for (const field of ['status', 'severity', 'verdict', 'dst_port', 'model_version'] as const)
        assert.deepEqual(await a.facet(field, undefined, 100), await b.facet(field, undefined, 100));
      const q = reference
        .filter((s) => s.alert)
        .map((s) => s.embedding)
        .slice(0, 20);
      assert.deepEqual(
        await a.similarEvidence(q, { k: 4, filter: { labelled: true } }),
        await b.similarEvidence(q, { k: 4, filter: { labelled: true } }),
      );
      for (const store of stores) await store.close();
    } finally {
      await host.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
