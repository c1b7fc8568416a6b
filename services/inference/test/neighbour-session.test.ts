import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCodecs, type Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { needsShared, sharedPath } from '@tidewatch/testing';
import { EmbeddedStore, type EvidenceSession, type VectorStore } from '@tidewatch/vector-store';
import { Registry } from 'prom-client';
import { FindingPipeline } from '../src/finding-pipeline.ts';
import { createInferenceMetrics } from '../src/metrics.ts';

// Labelled captures (every stored point is labelled): a port scan (many alerts with repeated
// embeddings) and IoT C&C among benign traffic.
const CAPTURES = [
  'testdata/labeled/stratosphere_nmap-portscan/conn.log',
  'testdata/labeled/iot23/CTU-Malware-Capture-20-1-labeled.csv',
];
const CLOCK = 1_800_000_000_000;

/** The store without `evidenceSession`: every neighbour query is asked of the store itself. */
function withoutSession(store: EmbeddedStore): VectorStore {
  return new Proxy(store, {
    get(target, key) {
      if (key === 'evidenceSession') return undefined;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as VectorStore;
}

describe('alert neighbours through the pipeline’s store session', { skip: needsShared().skip }, () => {
  it('list, call after call, exactly the labelled points stored before the call: earlier calls’ included, later ones not', async () => {
    const seqs: Sequence[] = [];
    for (const capture of CAPTURES) {
      const flows = [];
      for await (const r of readFlowFile(sharedPath(capture))) if (r.flow) flows.push(r.flow);
      seqs.push(...buildSequences(flows));
    }
    const root = await mkdtemp(join(tmpdir(), 'tw-neighbour-session-'));
    const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
    try {
      const codecs = await createCodecs();
      const stores = ['session', 'store'].map(
        (name) =>
          new EmbeddedStore({
            dir: join(root, name),
            dim: host.current.manifest.embedding_dim,
            fsync: false,
          }),
      ) as [EmbeddedStore, EmbeddedStore];
      const pipelines = stores.map(
        (store, i) =>
          new FindingPipeline({
            detector: new Detector(host, { clock: () => CLOCK, neighbourK: 3 }),
            store: i === 0 ? store : withoutSession(store),
            producer: null,
            findingsCodec: codecs.findings,
            findingsTopic: 'unused',
            suppression: null,
            metrics: createInferenceMetrics(new Registry()),
            // Larger than a process() call: one write per call, each call's neighbour queries
            // after the previous call's points are stored (no overlap, so no timing in the answer).
            batchSize: 4096,
            maxWaitMs: 0,
          }),
      );
      for (const s of stores) await s.init();
      for (let c = 0; c < seqs.length; c += 400) {
        const chunk = seqs.slice(c, c + 400);
        for (const p of pipelines) await p.process(chunk);
      }
      const [a, b] = stores;
      // The pipeline's session (private) answered calls itself, not only passed them to the store.
      const { stats } = (pipelines[0] as unknown as { neighbours: EvidenceSession }).neighbours;
      assert.ok(stats && stats.cached >= 3, `calls answered by the session: ${stats?.cached}`);
      const ids = [...new Set(seqs.map((s) => s.sequence_id))];
      let withNeighbours = 0;
      for (const id of ids) {
        const pa = await a.get(id, { withVector: false });
        const pb = await b.get(id, { withVector: false });
        assert.ok(pa && pb);
        assert.deepEqual(pa.payload.explanation.neighbours, pb.payload.explanation.neighbours, id);
        if (pa.payload.explanation.neighbours.length > 0) withNeighbours++;
      }
      assert.ok(withNeighbours > 100, `${withNeighbours} findings with neighbours`);
    } finally {
      await host.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
