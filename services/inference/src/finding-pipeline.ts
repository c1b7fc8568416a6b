import type { BusProducer } from '@tidewatch/bus';
import type { AvroCodec, Finding, Sequence } from '@tidewatch/contracts';
import type { Detector, ScoredSequence } from '@tidewatch/detector';
import type { SuppressionMatcher } from '@tidewatch/suppression';
import type { StoredPoint, VectorStore } from '@tidewatch/vector-store';
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
  /** Sequences per scoring stage (the detector cuts each into model runs per length bucket). */
  batchSize: number;
  maxWaitMs: number;
}

export interface PipelineResult {
  stored: number;
  emitted: number;
  suppressed: number;
}

/** A plain number[] copy of a vector (Array.from on a typed array is several times slower). */
function toArray(v: Float32Array): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] as number;
  return out;
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
   * Scores, stores and emits `seqs` in stages of `batchSize`. Every stage is handed to the model
   * first; then each stage is stored and emitted as soon as it is scored, so the store write and
   * emit of stage k (this thread, and fsync) overlap the model run of stage k+1 (its worker).
   * Resolves once every stage is stored and emitted; rejects if any failed (the consumer then
   * retries the whole batch: upserts by id are idempotent).
   */
  async process(seqs: Sequence[]): Promise<PipelineResult> {
    const size = this.deps.batchSize;
    const stages: Promise<ScoredSequence[]>[] = [];
    for (let i = 0; i < seqs.length; i += size) stages.push(this.score(seqs.slice(i, i + size)));
    const total: PipelineResult = { stored: 0, emitted: 0, suppressed: 0 };
    try {
      for (const stage of stages) {
        const r = await this.storeAndEmit(await stage);
        total.stored += r.stored;
        total.emitted += r.emitted;
        total.suppressed += r.suppressed;
      }
    } finally {
      for (const stage of stages) stage.catch(() => undefined);
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
    const points: StoredPoint[] = scored.map((s) => ({
      id: s.finding.sequence_id,
      vector: toArray(s.embedding),
      payload: s.finding,
    }));
    await this.timed('upsert', () => store.upsert(points));
    const alerts = scored.filter((s) => s.alert);
    if (alerts.length > 0 && this.deps.producer) {
      await this.deps.producer.send(
        this.deps.findingsTopic,
        alerts.map((s) => ({ key: s.finding.sequence_id, value: this.deps.findingsCodec.encode(s.finding) })),
      );
    }
    for (const s of scored) metrics.sequences.inc({ model_version: s.finding.model_version });
    for (const s of alerts) {
      metrics.findings.inc({ tactic: s.finding.tactics[0]?.id ?? 'none', severity: s.finding.severity });
    }
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
