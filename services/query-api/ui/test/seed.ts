import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { createApp, loadConfig, type QueryApi } from '@tidewatch/query-api';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedStore } from '@tidewatch/vector-store';
import { uiPlugin } from '../../src/ui/plugin.ts';

export interface SeededApi {
  api: QueryApi;
  adminKey: string;
  /** Sequences scored from the capture (every one stored, malicious or not). */
  scored: number;
  malicious: number;
  stop(): Promise<void>;
}

/**
 * A real query-api instance (embedded stores, real HTTP, the built UI) filled from a labelled
 * capture: importer → sequencing.v1 → the default ONNX model → findings + embeddings + evidence,
 * the same path the streaming pipeline takes after the bus.
 */
export async function startSeededApi(capture: string, opts: { maxFlows?: number } = {}): Promise<SeededApi> {
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-ui-'));
  const adminKey = `tw-ui-test-admin-${process.pid}-key`;
  const flows: FlowRecord[] = [];
  for await (const r of readFlowFile(capture, { format: 'auto' })) {
    if (r.error !== undefined) continue;
    flows.push(r.flow);
    if (opts.maxFlows && flows.length >= opts.maxFlows) break;
  }
  const sequences: Sequence[] = buildSequences(flows);
  const host = await ModelHost.open(new ModelRepository(), undefined, { intraOpThreads: 1 });
  const detector = new Detector(host);
  const dim = host.current.manifest.embedding_dim;
  const store = new EmbeddedStore({ dir: join(dir, 'vectors'), dim, fsync: false });
  await store.init();
  let malicious = 0;
  try {
    for (let i = 0; i < sequences.length; i += 256) {
      const batch = sequences.slice(i, i + 256);
      const scored = await detector.score(batch);
      await store.upsert(
        scored.map((s) => ({
          id: s.finding.sequence_id,
          vector: Array.from(s.embedding),
          payload: s.finding,
        })),
      );
      malicious += scored.filter((s) => s.finding.verdict === 'malicious').length;
    }
  } finally {
    await host.close();
  }
  process.env['TIDEWATCH_TEST'] ??= '1'; // the app's request log stays out of the test output
  const config = loadConfig({
    TIDEWATCH_HTTP_PORT: '0',
    TIDEWATCH_HTTP_HOST: '127.0.0.1',
    TIDEWATCH_DATA_DIR: dir,
    TIDEWATCH_ADMIN_KEY: adminKey,
    TIDEWATCH_QUERY_CONSUMERS: 'false',
  });
  const api = await createApp(config, { store, ui: uiPlugin, embeddingDim: dim });
  for (const s of sequences)
    await api.services.stores.evidence.put({
      sequence_id: s.sequence_id,
      src_ip: s.src_ip,
      dst_ip: s.dst_ip,
      window_start_ms: s.window_start_ms,
      window_end_ms: s.window_end_ms,
      flows: s.flows,
    });
  await api.start();
  return {
    api,
    adminKey,
    scored: sequences.length,
    malicious,
    async stop() {
      await api.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
