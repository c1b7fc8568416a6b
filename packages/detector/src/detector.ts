import type { FeatureContribution, Finding, Neighbour, Sequence } from '@tidewatch/contracts';
import { type SequenceFeatures, sequenceFeatures, subScores } from '@tidewatch/features';
import { FeatureBaseline, summarise } from './feature-baseline.ts';
import {
  flaggedBy,
  round6,
  sequenceFacts,
  severityOf,
  tacticCandidates,
  techniqueCandidates,
  techniqueTable,
} from './finding-builder.ts';
import { trainedTactics } from './manifest.ts';
import type { ModelHost } from './model-host.ts';
import type { OnnxModel } from './onnx-model.ts';

/** Where nearest labelled / analyst-confirmed neighbours come from (the VectorStore fits). */
export interface NeighbourIndex {
  similar(
    vector: number[],
    opts: { k: number; filter?: { labelled?: boolean }; excludeId?: string },
  ): Promise<{ id: string; similarity: number; payload: Finding }[]>;
  similarMany?(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: { labelled?: boolean }; excludeIds?: (string | undefined)[] },
  ): Promise<{ id: string; similarity: number; payload: Finding }[][]>;
}

export interface DetectorOptions {
  /** A baseline sub-score at or above this flags a sequence as a finding even when the model says benign (default 0.8). */
  flagThreshold?: number;
  topFeatures?: number;
  neighbourK?: number;
  clock?: () => number;
}

export interface ScoredSequence {
  finding: Finding;
  embedding: Float32Array;
  /** True when the sequence becomes a finding on findings.v1: malicious verdict or a sub-score flag. */
  alert: boolean;
  /** Sub-scores at or above the flag threshold. */
  flags: string[];
}

/** Per-model cached lookups (trained tactics, technique table, benign baseline). */
interface ModelContext {
  model: OnnxModel;
  trained: Set<string>;
  techniques: ReturnType<typeof techniqueTable>;
  baseline: FeatureBaseline;
  benignSeen: number;
}

const BASELINE_SAMPLE = 8;

/**
 * Sequence → Finding: features (shared spec) → ONNX (bucketed micro-batch) → verdict, tactics,
 * techniques, severity, explanation. The same object serves the streaming service, gRPC and the
 * offline CLI, so offline and online scores are identical by construction.
 */
export class Detector {
  private ctx: ModelContext | null = null;
  private readonly flagThreshold: number;
  private readonly topFeatures: number;
  private readonly neighbourK: number;
  private readonly clock: () => number;

  constructor(
    readonly host: ModelHost,
    opts: DetectorOptions = {},
  ) {
    this.flagThreshold = opts.flagThreshold ?? 0.8;
    this.topFeatures = opts.topFeatures ?? 5;
    this.neighbourK = opts.neighbourK ?? 3;
    this.clock = opts.clock ?? Date.now;
  }

  get model(): OnnxModel {
    return this.host.current;
  }

  private context(): ModelContext {
    const model = this.host.current;
    if (this.ctx?.model !== model) {
      this.ctx = {
        model,
        trained: trainedTactics(model.manifest),
        techniques: techniqueTable(model.manifest),
        baseline: new FeatureBaseline(model.manifest),
        benignSeen: 0,
      };
    }
    return this.ctx;
  }

  /** Raw model outputs for feature vectors (gRPC Embed/Classify on pre-computed features). */
  async runFeatures(features: SequenceFeatures[]): Promise<ReturnType<OnnxModel['run']>> {
    return this.host.current.run(features);
  }

  async score(seqs: Sequence[]): Promise<ScoredSequence[]> {
    if (seqs.length === 0) return [];
    // One model for the whole batch, even if a swap lands meanwhile.
    const ctx = this.context();
    const { model } = ctx;
    const threshold = model.manifest.thresholds.score;
    const features = seqs.map((s) => sequenceFeatures(s));
    const outputs = await model.run(features);
    const now = this.clock();
    const out: ScoredSequence[] = [];
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i] as Sequence;
      const o = outputs[i];
      if (!o) throw new Error(`model returned no output for sequence ${seq.sequence_id}`);
      const sub = subScores(seq);
      const flags = flaggedBy(sub, this.flagThreshold);
      const score = round6(o.score);
      const anomaly = round6(o.anomaly);
      const verdict = o.score >= threshold ? 'malicious' : 'benign';
      const tactics =
        verdict === 'malicious' ? tacticCandidates(o.tacticProbs, model.manifest, ctx.trained) : [];
      const alert = verdict === 'malicious' || flags.length > 0;
      // Top features are explained for alerts; a quiet benign sequence feeds the online benign
      // baseline (every BASELINE_SAMPLE-th one: the mean needs no more, the hot path stays cheap).
      let topFeatures: FeatureContribution[] = [];
      if (alert) topFeatures = ctx.baseline.top(summarise(features[i] as SequenceFeatures), this.topFeatures);
      else if (!ctx.baseline.fixed && ctx.benignSeen++ % BASELINE_SAMPLE === 0) {
        ctx.baseline.observeBenign(summarise(features[i] as SequenceFeatures));
      }
      out.push({
        finding: {
          ...sequenceFacts(seq),
          score,
          anomaly,
          verdict,
          tactics,
          techniques: techniqueCandidates(tactics, ctx.techniques),
          severity: severityOf(verdict, o.score, o.anomaly, tactics[0]?.id ?? null, flags.length > 0),
          model_version: model.version,
          status: 'new',
          explanation: { subscores: sub, top_features: topFeatures, neighbours: [] },
          suppressed_by: null,
          scored_at_ms: now,
        },
        embedding: o.embedding,
        alert,
        flags,
      });
    }
    return out;
  }

  /** Fills `explanation.neighbours` of the alerting sequences from the store's labelled points. */
  async explainNeighbours(scored: ScoredSequence[], index: NeighbourIndex): Promise<void> {
    const alerts = scored.filter((s) => s.alert);
    if (alerts.length === 0 || this.neighbourK === 0) return;
    const filter = { labelled: true };
    const results = index.similarMany
      ? await index.similarMany(
          alerts.map((s) => s.embedding),
          { k: this.neighbourK, filter, excludeIds: alerts.map((s) => s.finding.sequence_id) },
        )
      : await Promise.all(
          alerts.map((s) =>
            index.similar(Array.from(s.embedding), {
              k: this.neighbourK,
              filter,
              excludeId: s.finding.sequence_id,
            }),
          ),
        );
    alerts.forEach((s, i) => {
      s.finding.explanation.neighbours = (results[i] ?? []).map(
        (h): Neighbour => ({
          sequence_id: h.id,
          similarity: round6(h.similarity),
          verdict: h.payload.verdict ?? null,
          label:
            h.payload.label === null || h.payload.label === undefined
              ? null
              : h.payload.label === 1
                ? 'malicious'
                : 'benign',
        }),
      );
    });
  }
}
