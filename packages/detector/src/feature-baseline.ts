import type { FeatureContribution } from '@tidewatch/contracts';
import {
  FEATURES_V1,
  type FeatureSpec,
  FLOW_FEATURE_COUNT,
  FLOW_FEATURE_NAMES,
  type SequenceFeatures,
} from '@tidewatch/features';
import type { ModelManifest } from './manifest.ts';

const FLOW_NAMES = FLOW_FEATURE_NAMES.map((n) => `${n}_mean`);
const MIN_STD = 0.05;

/**
 * Column names of a summary under `spec`: the per-flow means, then the spec's context columns
 * (features.v2 adds the one-hot responder scope, `responder_multicast_broadcast` … `responder_public`).
 */
export function summaryNames(spec: FeatureSpec = FEATURES_V1): readonly string[] {
  return [...FLOW_NAMES, ...spec.contextNames];
}

/** A zeroed summary vector (summariseInto's `out`) for a model of feature spec `spec`. */
export function newSummary(spec: FeatureSpec = FEATURES_V1): Float64Array {
  return new Float64Array(FLOW_FEATURE_COUNT + spec.contextCount);
}

/** A sequence summarised as one vector: the mean of each per-flow feature, then the context features. */
export function summarise(x: SequenceFeatures, spec: FeatureSpec = FEATURES_V1): Float64Array {
  return summariseInto(x.flow, 0, x.length, x.context, 0, newSummary(spec));
}

/**
 * summarise() read from a batch's tensors in place: `n` flow rows from `flow[flowAt]`, the context
 * from `context[contextAt]`, into `out` (overwritten; the detector reuses one). `out`'s length sets
 * how many context columns are read (newSummary(spec) sizes it for the model's spec).
 */
export function summariseInto(
  flow: Float32Array,
  flowAt: number,
  n: number,
  context: Float32Array,
  contextAt: number,
  out: Float64Array,
): Float64Array {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    const row = flowAt + i * FLOW_FEATURE_COUNT;
    for (let j = 0; j < FLOW_FEATURE_COUNT; j++) out[j] = (out[j] as number) + (flow[row + j] as number);
  }
  if (n > 0) for (let j = 0; j < FLOW_FEATURE_COUNT; j++) out[j] = (out[j] as number) / n;
  for (let j = FLOW_FEATURE_COUNT; j < out.length; j++)
    out[j] = context[contextAt + j - FLOW_FEATURE_COUNT] as number;
  return out;
}

/**
 * The benign reference for "top contributing features": each feature of a sequence summary is
 * compared with the benign mean as a z-score, and the largest |z| are reported (gradient-free and
 * model-agnostic; a z-score says "this is unusual for benign traffic", not "the model used it").
 * Statistics come from the manifest (`benign_feature_stats: {mean: [...], std: [...]}` over the
 * same summary) when the model engineer ships them; otherwise they are learned online (Welford)
 * from sequences the model judged benign. The columns follow the model's feature spec: a features.v2
 * model's summaries carry the five responder-scope columns too, named after their scope.
 */
export class FeatureBaseline {
  readonly names: readonly string[];
  private readonly width: number;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  private n = 0;
  readonly fixed: boolean;
  /** Scratch of top(): z-scores and the picked columns (top() runs once per alert). */
  private readonly z: Float64Array;
  private picked = new Int32Array(0);

  constructor(manifest?: ModelManifest, spec: FeatureSpec = FEATURES_V1) {
    this.names = summaryNames(spec);
    const WIDTH = this.names.length;
    this.width = WIDTH;
    this.mean = new Float64Array(WIDTH);
    this.m2 = new Float64Array(WIDTH);
    this.z = new Float64Array(WIDTH);
    const stats = manifest?.['benign_feature_stats'] as { mean?: unknown; std?: unknown } | undefined;
    if (
      stats &&
      Array.isArray(stats.mean) &&
      Array.isArray(stats.std) &&
      stats.mean.length === WIDTH &&
      stats.std.length === WIDTH
    ) {
      for (let j = 0; j < WIDTH; j++) {
        this.mean[j] = Number(stats.mean[j]);
        this.m2[j] = Number(stats.std[j]) ** 2;
      }
      this.n = 1;
      this.fixed = true;
    } else {
      this.fixed = false;
    }
  }

  observeBenign(summary: Float64Array): void {
    if (this.fixed) return;
    this.n++;
    for (let j = 0; j < this.width; j++) {
      const x = summary[j] as number;
      const d = x - (this.mean[j] as number);
      this.mean[j] = (this.mean[j] as number) + d / this.n;
      this.m2[j] = (this.m2[j] as number) + d * (x - (this.mean[j] as number));
    }
  }

  private std(j: number): number {
    const variance = this.fixed
      ? (this.m2[j] as number)
      : this.n > 1
        ? (this.m2[j] as number) / (this.n - 1)
        : 1;
    return Math.max(MIN_STD, Math.sqrt(variance));
  }

  top(summary: Float64Array, k: number): FeatureContribution[] {
    // Partial selection of the k largest |z| (ties: lower column first); k is small.
    const z = this.z;
    const WIDTH = this.width;
    for (let j = 0; j < WIDTH; j++) {
      const v = summary[j] as number;
      z[j] = this.n === 0 ? v : (v - (this.mean[j] as number)) / this.std(j);
    }
    if (this.picked.length < k) this.picked = new Int32Array(k);
    const picked = this.picked;
    let count = 0;
    for (let j = 0; j < WIDTH; j++) {
      const a = Math.abs(z[j] as number);
      let at = count;
      while (at > 0 && Math.abs(z[picked[at - 1] as number] as number) < a) at--;
      if (at >= k) continue;
      // Insert j at `at`, dropping the last when k are already picked.
      for (let m = Math.min(count, k - 1); m > at; m--) picked[m] = picked[m - 1] as number;
      picked[at] = j;
      if (count < k) count++;
    }
    const out = new Array<FeatureContribution>(count);
    for (let i = 0; i < count; i++) {
      const j = picked[i] as number;
      out[i] = {
        name: this.names[j] as string,
        value: Math.round((summary[j] as number) * 1e4) / 1e4,
        contribution: Math.round((z[j] as number) * 1e3) / 1e3,
      };
    }
    return out;
  }
}
