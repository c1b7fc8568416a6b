import type { BusProducer } from '@tidewatch/bus';
import type { AvroCodec, Finding, Sequence } from '@tidewatch/contracts';
import type { Detector, ScoredSequence } from '@tidewatch/detector';
import type { SuppressionMatcher } from '@tidewatch/suppression';
import type { UpsertPoint, VectorStore } from '@tidewatch/vector-store';
import type { InferenceMetrics } from './metrics.ts';
import { MicroBatcher } from './micro-batcher.ts';

export interface FindingPipelineDeps {
  detector: Detector;
  store: VectorStore;
  producer: BusProducer | null;
  findingsCodec: AvroCodec<Finding>;
  findingsTopic: string;
  suppression: SuppressionMatcher | null;
  metrics: InferenceMetrics;
  /**
   * Fewest points per store write (model runs are coalesced up to it); with maxWaitMs > 0 also the
   * most sequences coalesced into one scoring call.
   */
  batchSize: number;
  maxWaitMs: number;
}

export interface PipelineResult {
  stored: number;
  emitted: number;
  suppressed: number;
}

/** Calls `each(key, count)` once per distinct key (one metric update per label set, not per item). */
function countBy<T>(items: T[], key: (t: T) => string, each: (key: string, n: number) => void): void {
  const counts = new Map<string, number>();
  for (const t of items) {
    const k = key(t);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  for (const [k, n] of counts) each(k, n);
}

/**
 * Scored sequence → stored point → emitted finding. For every sequence: score (micro-batched),
 * apply suppression rules (status `suppressed` + `suppressed_by`, never dropped), attach nearest
 * labelled neighbours to alerts, keep an analyst's status on a re-scored point, upsert the point
 * (id = sequence id, vector = embedding, payload = Finding with model_version), then emit the
 * alerts on findings.v1. It resolves only after the store write and the emit succeeded, so the
 * consumer commits behind durable output.
 */
export class FindingPipeline {
  private readonly batcher: MicroBatcher<Sequence, ScoredSequence>;

  constructor(private readonly deps: FindingPipelineDeps) {
    const { detector, metrics } = deps;
    this.batcher = new MicroBatcher(
      async (seqs) => {
        metrics.batchSize.observe(seqs.length);
        const end = metrics.inferenceSeconds.startTimer({ device: detector.model.device });
        try {
          return await detector.score(seqs);
        } finally {
          end();
        }
      },
      deps.batchSize,
      deps.maxWaitMs,
    );
  }

  score(seqs: Sequence[]): Promise<ScoredSequence[]> {
    return this.batcher.submit(seqs);
  }

  /**
   * Scores, stores and emits `seqs`. With no micro-batch wait the whole consumer batch is bucketed
   * at once (the largest model runs) and scored runs are stored and emitted as they come, in
   * writes of at least `batchSize` points (small buckets are coalesced: each write costs an
   * fsync). Two writes overlap at most: while write k is appended and fsynced, write k+1 is
   * prepared (suppression, neighbours, JSON) and later model runs execute on the worker. Each
   * emit follows its own write. With a wait, concurrent callers are coalesced first
   * (MicroBatcher). Resolves once everything is stored and emitted; rejects if any part failed
   * (the consumer then retries the whole batch: upserts by id are idempotent).
   */
  async process(seqs: Sequence[]): Promise<PipelineResult> {
    if (this.deps.maxWaitMs > 0) return this.storeAndEmit(await this.score(seqs));
    const { detector, metrics, batchSize } = this.deps;
    const device = detector.model.device;
    const started = performance.now();
    const runs = detector.scoreRuns(seqs).map((run) =>
      run.then((scored) => {
        metrics.batchSize.observe(scored.length);
        metrics.inferenceSeconds.observe({ device }, (performance.now() - started) / 1000);
        return scored;
      }),
    );
    const total: PipelineResult = { stored: 0, emitted: 0, suppressed: 0 };
    const add = (r: PipelineResult) => {
      total.stored += r.stored;
      total.emitted += r.emitted;
      total.suppressed += r.suppressed;
    };
    let writing: Promise<PipelineResult> | null = null;
    try {
      let pending: ScoredSequence[] = [];
      for (const [i, run] of runs.entries()) {
        for (const s of await run) pending.push(s);
        if (pending.length < batchSize && i < runs.length - 1) continue;
        const previous: Promise<PipelineResult> | null = writing;
        writing = this.storeAndEmit(pending);
        writing.catch(() => undefined); // awaited below or in the next round
        pending = [];
        if (previous) add(await previous);
      }
      if (writing) add(await writing);
    } finally {
      for (const run of runs) run.catch(() => undefined);
    }
    return total;
  }

  async storeAndEmit(scored: ScoredSequence[]): Promise<PipelineResult> {
    const { store, metrics, suppression, detector } = this.deps;
    if (scored.length === 0) return { stored: 0, emitted: 0, suppressed: 0 };
    let suppressed = 0;
    if (suppression) {
      await suppression.refresh();
      for (const s of scored) {
        const hit = suppression.match(s.finding, s.embedding);
        if (hit) {
          s.finding.status = 'suppressed';
          s.finding.suppressed_by = hit.rule.id;
          suppressed++;
        }
      }
    }
    await this.timed('similar', () => detector.explainNeighbours(scored, store));
    await this.keepAnalystStatus(scored);
    // The embedding as it is: the store copies what it keeps (no number[] round trip).
    const points: UpsertPoint[] = scored.map((s) => ({
      id: s.finding.sequence_id,
      vector: s.embedding,
      payload: s.finding,
    }));
    const upserted = this.timed('upsert', () => store.upsert(points));
    upserted.catch(() => undefined); // awaited below; observed here in case encoding throws first
    // Encoded while the store writes (and fsyncs); sent only after the write succeeded, so a
    // finding on findings.v1 is always already in the store.
    const alerts = scored.filter((s) => s.alert);
    const messages = alerts.map((s) => ({
      key: s.finding.sequence_id,
      value: this.deps.findingsCodec.encode(s.finding),
    }));
    await upserted;
    if (messages.length > 0 && this.deps.producer)
      await this.deps.producer.send(this.deps.findingsTopic, messages);
    countBy(
      scored,
      (s) => s.finding.model_version,
      (version, n) => metrics.sequences.inc({ model_version: version }, n),
    );
    countBy(
      alerts,
      (s) => `${s.finding.tactics[0]?.id ?? 'none'}|${s.finding.severity}`,
      (key, n) => {
        const [tactic = 'none', severity = ''] = key.split('|');
        metrics.findings.inc({ tactic, severity }, n);
      },
    );
    if (suppressed > 0) metrics.suppressed.inc(suppressed);
    return { stored: points.length, emitted: alerts.length, suppressed };
  }

  /**
   * A replayed or re-scored sequence keeps the status an analyst (or a rule) already gave it. One
   * lookup by id (not a count over the store, which scans every point in the embedded store).
   */
  private async keepAnalystStatus(scored: ScoredSequence[]): Promise<void> {
    const ids = scored.map((s) => s.finding.sequence_id);
    const { items } = await this.timed('list', () =>
      this.deps.store.list({
        filter: { sequenceIds: ids, status: ['in_progress', 'suppressed', 'resolved'] },
        limit: ids.length,
      }),
    );
    if (items.length === 0) return;
    const prior = new Map(items.map((f) => [f.sequence_id, f]));
    for (const s of scored) {
      const p = prior.get(s.finding.sequence_id);
      if (p && p.status !== 'new' && s.finding.status === 'new') {
        s.finding.status = p.status;
        s.finding.suppressed_by = p.suppressed_by;
      }
    }
  }

  private async timed<T>(op: string, run: () => Promise<T>): Promise<T> {
    const end = this.deps.metrics.storeSeconds.startTimer({ op });
    try {
      return await run();
    } finally {
      end();
    }
  }
}
