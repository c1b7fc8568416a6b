import type { BusProducer } from '@tidewatch/bus';
import {
  type AvroCodec,
  type Finding,
  FindingWriter,
  type Sequence,
  type SequenceBatch,
} from '@tidewatch/contracts';
import { type Detector, raisedBy, type ScoredRun, type ScoredSequence } from '@tidewatch/detector';
import { type BuiltinRule, matchBuiltinRule, type SuppressionMatcher } from '@tidewatch/suppression';
import { FindingRows, pointsOfRows, type VectorStore } from '@tidewatch/vector-store';
import type { InferenceMetrics } from './metrics.ts';
import { MicroBatcher } from './micro-batcher.ts';

export interface FindingPipelineDeps {
  detector: Detector;
  store: VectorStore;
  producer: BusProducer | null;
  findingsCodec: AvroCodec<Finding>;
  findingsTopic: string;
  suppression: SuppressionMatcher | null;
  /** Product rules applied to every alert before the analysts' rules (default none). */
  builtinRules?: readonly BuiltinRule[];
  metrics: InferenceMetrics;
  /**
   * Fewest points per store write (model runs are coalesced up to it); with maxWaitMs > 0 also the
   * most sequences coalesced into one scoring call.
   */
  batchSize: number;
  maxWaitMs: number;
}

/** Scored sequences (the micro-batched path) as one run of rows: every row with its Finding. */
function runOf(scored: ScoredSequence[]): ScoredRun {
  const first = scored[0];
  const dim = first ? first.embedding.length : 0;
  const rows = new FindingRows(
    scored.length,
    dim,
    first?.finding.model_version ?? '',
    first?.finding.scored_at_ms ?? 0,
  );
  for (const s of scored) {
    const i = rows.addFinding(s.finding);
    rows.vectors.set(s.embedding, i * dim);
  }
  return { rows, alerts: scored.filter((s) => s.alert) };
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
  /** findings.v1 by hand for the contract's schema (the codec's bytes, without avsc's writer). */
  private readonly findingWriter: FindingWriter;

  constructor(private readonly deps: FindingPipelineDeps) {
    const { detector, metrics } = deps;
    this.findingWriter = new FindingWriter(deps.findingsCodec);
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
    if (this.deps.maxWaitMs > 0) return this.storeAndEmit([runOf(await this.score(seqs))]);
    return this.storeRuns(this.deps.detector.scoreRunRows(seqs));
  }

  /**
   * `process` of the sequences of a SequenceBatch (decoded into columns: quiet sequences are
   * scored and stored without a Sequence object). The batch must not change until this settles.
   */
  async processBatch(batch: SequenceBatch): Promise<PipelineResult> {
    if (this.deps.maxWaitMs > 0) {
      const seqs = new Array<Sequence>(batch.count);
      for (let i = 0; i < batch.count; i++) seqs[i] = batch.sequence(i);
      return this.process(seqs);
    }
    return this.storeRuns(this.deps.detector.scoreBatchRows(batch));
  }

  /**
   * The model runs of a SequenceBatch, dispatched now (the scoring half of `processBatch`; null
   * with a micro-batch wait, whose runs start only when the batcher cuts them). Nothing is stored
   * until `storeScored`; each run's rejection is observed here, so runs never stored stay quiet.
   */
  scoreBatch(batch: SequenceBatch): Promise<ScoredRun>[] | null {
    if (this.deps.maxWaitMs > 0) return null;
    const runs = this.deps.detector.scoreBatchRows(batch);
    for (const run of runs) run.catch(() => undefined);
    return runs;
  }

  /** The storing half of `processBatch`: stores and emits runs from `scoreBatch`, as `process` does. */
  storeScored(scoring: Promise<ScoredRun>[]): Promise<PipelineResult> {
    return this.storeRuns(scoring);
  }

  private async storeRuns(scoring: Promise<ScoredRun>[]): Promise<PipelineResult> {
    const { detector, metrics, batchSize } = this.deps;
    const device = detector.model.device;
    const started = performance.now();
    const runs = scoring.map((run) =>
      run.then((scored) => {
        metrics.batchSize.observe(scored.rows.count);
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
      let pending: ScoredRun[] = [];
      let pendingRows = 0;
      for (const [i, run] of runs.entries()) {
        const scored = await run;
        pending.push(scored);
        pendingRows += scored.rows.count;
        if (pendingRows < batchSize && i < runs.length - 1) continue;
        const previous: Promise<PipelineResult> | null = writing;
        writing = this.storeAndEmit(pending);
        writing.catch(() => undefined); // awaited below or in the next round
        pending = [];
        pendingRows = 0;
        if (previous) add(await previous);
      }
      if (writing) add(await writing);
    } finally {
      for (const run of runs) run.catch(() => undefined);
    }
    return total;
  }

  /**
   * Stores and emits scored model runs (in order: the store assigns points as it did per sequence).
   * Quiet rows (no alert) go to the store as columns when it takes them (`upsertRows`: no Finding
   * object per row), else as points; what is stored is the same either way.
   */
  async storeAndEmit(runs: ScoredRun[]): Promise<PipelineResult> {
    const { store, metrics, suppression, detector } = this.deps;
    let total = 0;
    for (const r of runs) total += r.rows.count;
    if (total === 0) return { stored: 0, emitted: 0, suppressed: 0 };
    const alerts: ScoredSequence[] = [];
    for (const r of runs) for (const s of r.alerts) alerts.push(s);
    let suppressed = 0;
    const builtin = this.deps.builtinRules ?? [];
    if (builtin.length > 0) {
      // Alerts only (the micro-batched path also keeps a Finding for quiet rows); the row holds
      // the same Finding object, so the stored point and the emitted message agree.
      for (const s of alerts) {
        const { finding } = s;
        const rule = matchBuiltinRule(finding, raisedBy(s), builtin);
        if (rule) {
          finding.status = 'suppressed';
          finding.suppressed_by = rule.id;
          suppressed++;
        }
      }
    }
    if (suppression) {
      await suppression.refresh();
      if (suppression.size > 0) {
        const ends = { src_ip: '', dst_ip: '' };
        for (const { rows } of runs) {
          for (let i = 0; i < rows.count; i++) {
            const f = rows.findings[i];
            if (!f) {
              ends.src_ip = rows.srcIp[i] as string;
              ends.dst_ip = rows.dstIp[i] as string;
            }
            if (rows.statusOf(i) === 'suppressed') continue; // by a built-in rule
            const hit = suppression.match(f ?? ends, rows.vector(i));
            if (hit) {
              rows.setStatus(i, 'suppressed', hit.rule.id);
              suppressed++;
            }
          }
        }
      }
    }
    await this.timed('similar', () => detector.explainNeighbours(alerts, store));
    await this.keepAnalystStatus(runs, total);
    // The embeddings as they are: the store copies what it keeps (no number[] round trip).
    const batches = runs.map((r) => r.rows);
    const upserted = this.timed('upsert', () =>
      store.upsertRows ? store.upsertRows(batches) : store.upsert(batches.flatMap(pointsOfRows)),
    );
    upserted.catch(() => undefined); // awaited below; observed here in case encoding throws first
    // Encoded while the store writes (and fsyncs); sent only after the write succeeded, so a
    // finding on findings.v1 is always already in the store.
    const messages = alerts.map((s) => ({
      key: s.finding.sequence_id,
      value: this.findingWriter.encode(s.finding),
    }));
    await upserted;
    if (messages.length > 0 && this.deps.producer)
      await this.deps.producer.send(this.deps.findingsTopic, messages);
    const byVersion = new Map<string, number>();
    for (const { rows } of runs) {
      let quiet = rows.count;
      for (let i = 0; i < rows.count; i++) {
        const f = rows.findings[i];
        if (f && f.model_version !== rows.modelVersion) {
          byVersion.set(f.model_version, (byVersion.get(f.model_version) ?? 0) + 1);
          quiet--;
        }
      }
      byVersion.set(rows.modelVersion, (byVersion.get(rows.modelVersion) ?? 0) + quiet);
    }
    for (const [version, n] of byVersion) if (n > 0) metrics.sequences.inc({ model_version: version }, n);
    countBy(
      alerts,
      (s) => `${s.finding.tactics[0]?.id ?? 'none'}|${s.finding.severity}`,
      (key, n) => {
        const [tactic = 'none', severity = ''] = key.split('|');
        metrics.findings.inc({ tactic, severity }, n);
      },
    );
    if (suppressed > 0) metrics.suppressed.inc(suppressed);
    return { stored: total, emitted: alerts.length, suppressed };
  }

  /**
   * A replayed or re-scored sequence keeps the status an analyst (or a rule) already gave it. One
   * lookup by id (not a count over the store, which scans every point in the embedded store).
   */
  private async keepAnalystStatus(runs: ScoredRun[], total: number): Promise<void> {
    const ids = new Array<string>(total);
    let k = 0;
    for (const { rows } of runs) for (let i = 0; i < rows.count; i++) ids[k++] = rows.ids[i] as string;
    const { items } = await this.timed('list', () =>
      this.deps.store.list({
        filter: { sequenceIds: ids, status: ['in_progress', 'suppressed', 'resolved'] },
        limit: ids.length,
      }),
    );
    if (items.length === 0) return;
    const prior = new Map(items.map((f) => [f.sequence_id, f]));
    for (const { rows } of runs) {
      for (let i = 0; i < rows.count; i++) {
        const p = prior.get(rows.ids[i] as string);
        if (p && p.status !== 'new' && rows.statusOf(i) === 'new')
          rows.setStatus(i, p.status, p.suppressed_by);
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
