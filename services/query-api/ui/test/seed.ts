import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import { Detector, ModelHost, ModelRepository } from '@tidewatch/detector';
import { readFlowFile } from '@tidewatch/flow-importers';
import { createApp, loadConfig, type QueryApi } from '@tidewatch/query-api';
import { buildSequences } from '@tidewatch/sequencing';
import { EmbeddedStore, type StoredPoint } from '@tidewatch/vector-store';
import { uiPlugin } from '../../src/ui/plugin.ts';

export interface ScoredCapture {
  sequences: Sequence[];
  points: StoredPoint[];
  dim: number;
}

/** importer → sequencing.v1 → the default ONNX model: one stored point per sequence. */
export async function scoreCapture(
  capture: string,
  opts: { maxFlows?: number } = {},
): Promise<ScoredCapture> {
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
  const points: StoredPoint[] = [];
  try {
    for (let i = 0; i < sequences.length; i += 256) {
      for (const s of await detector.score(sequences.slice(i, i + 256)))
        points.push({ id: s.finding.sequence_id, vector: Array.from(s.embedding), payload: s.finding });
    }
  } finally {
    await host.close();
  }
  return { sequences, points, dim };
}

export interface SeededApi {
  api: QueryApi;
  adminKey: string;
  /** Findings stored (every scored sequence, malicious or not). */
  scored: number;
  malicious: number;
  stop(): Promise<void>;
}

/**
 * A real query-api (real HTTP, embedded stores, the built UI) over `store`, with the evidence of
 * `sequences`. `start: false` listens without the start-up rebuild of the overview aggregates
 * (the caller feeds them, as the findings.v1 consumer does).
 */
export async function startApi(
  store: EmbeddedStore,
  dir: string,
  sequences: Sequence[],
  counts: { scored: number; malicious: number },
): Promise<SeededApi> {
  const adminKey = `tw-ui-test-admin-${process.pid}-key`;
  process.env['TIDEWATCH_TEST'] ??= '1'; // the app's request log stays out of the test output
  const config = loadConfig({
    TIDEWATCH_HTTP_PORT: '0',
    TIDEWATCH_HTTP_HOST: '127.0.0.1',
    TIDEWATCH_DATA_DIR: dir,
    TIDEWATCH_ADMIN_KEY: adminKey,
    TIDEWATCH_QUERY_CONSUMERS: 'false',
  });
  const api = await createApp(config, { store, ui: uiPlugin, embeddingDim: store.dim });
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
    ...counts,
    async stop() {
      await api.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A real query-api instance filled from a labelled capture: importer → sequencing.v1 → the
 * default ONNX model → findings + embeddings + evidence, the same path the streaming pipeline
 * takes after the bus.
 */
export async function startSeededApi(capture: string, opts: { maxFlows?: number } = {}): Promise<SeededApi> {
  const { sequences, points, dim } = await scoreCapture(capture, opts);
  const dir = mkdtempSync(join(tmpdir(), 'tidewatch-ui-'));
  const store = new EmbeddedStore({ dir: join(dir, 'vectors'), dim, fsync: false });
  await store.init();
  for (let i = 0; i < points.length; i += 1000) await store.upsert(points.slice(i, i + 1000));
  const malicious = points.filter((p) => p.payload.verdict === 'malicious').length;
  return startApi(store, dir, sequences, { scored: points.length, malicious });
}
