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
  batchSize: number;
  maxWaitMs: number;
}

export interface PipelineResult {
  stored: number;
  emitted: number;
  suppressed: number;
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

  async process(seqs: Sequence[]): Promise<PipelineResult> {
    const scored = await this.score(seqs);
    return this.storeAndEmit(scored);
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
      vector: Array.from(s.embedding),
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

  /** A replayed or re-scored sequence keeps the status an analyst (or a rule) already gave it. */
  private async keepAnalystStatus(scored: ScoredSequence[]): Promise<void> {
    const ids = scored.map((s) => s.finding.sequence_id);
    const touched = await this.timed('count', () =>
      this.deps.store.count({ sequenceIds: ids, status: ['in_progress', 'suppressed', 'resolved'] }),
    );
    if (touched === 0) return;
    const { items } = await this.timed('list', () =>
      this.deps.store.list({ filter: { sequenceIds: ids }, limit: ids.length }),
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
