import type { FeatureContribution } from '@tidewatch/contracts';
import {
  CONTEXT_FEATURE_COUNT,
  CONTEXT_FEATURE_NAMES,
  FLOW_FEATURE_COUNT,
  FLOW_FEATURE_NAMES,
  type SequenceFeatures,
} from '@tidewatch/features';
import type { ModelManifest } from './manifest.ts';

const NAMES = [...FLOW_FEATURE_NAMES.map((n) => `${n}_mean`), ...CONTEXT_FEATURE_NAMES];
const WIDTH = FLOW_FEATURE_COUNT + CONTEXT_FEATURE_COUNT;
const MIN_STD = 0.05;

/** A sequence summarised as one vector: the mean of each per-flow feature, then the context features. */
export function summarise(x: SequenceFeatures): Float64Array {
  const out = new Float64Array(WIDTH);
  const n = x.length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < FLOW_FEATURE_COUNT; j++)
      out[j] = (out[j] as number) + (x.flow[i * FLOW_FEATURE_COUNT + j] as number);
  }
  if (n > 0) for (let j = 0; j < FLOW_FEATURE_COUNT; j++) out[j] = (out[j] as number) / n;
  for (let j = 0; j < CONTEXT_FEATURE_COUNT; j++) out[FLOW_FEATURE_COUNT + j] = x.context[j] as number;
  return out;
}

/**
 * The benign reference for "top contributing features": each feature of a sequence summary is
 * compared with the benign mean as a z-score, and the largest |z| are reported (gradient-free and
 * model-agnostic; a z-score says "this is unusual for benign traffic", not "the model used it").
 * Statistics come from the manifest (`benign_feature_stats: {mean: [...], std: [...]}` over the
 * same summary) when the model engineer ships them; otherwise they are learned online (Welford)
 * from sequences the model judged benign.
 */
export class FeatureBaseline {
  private readonly mean = new Float64Array(WIDTH);
  private readonly m2 = new Float64Array(WIDTH);
  private n = 0;
  readonly fixed: boolean;

  constructor(manifest?: ModelManifest) {
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
    for (let j = 0; j < WIDTH; j++) {
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
    const z = new Float64Array(WIDTH);
    for (let j = 0; j < WIDTH; j++) {
      const v = summary[j] as number;
      z[j] = this.n === 0 ? v : (v - (this.mean[j] as number)) / this.std(j);
    }
    const picked: number[] = [];
    for (let j = 0; j < WIDTH; j++) {
      const a = Math.abs(z[j] as number);
      let at = picked.length;
      while (at > 0 && Math.abs(z[picked[at - 1] as number] as number) < a) at--;
      if (at >= k) continue;
      picked.splice(at, 0, j);
      if (picked.length > k) picked.pop();
    }
    return picked.map((j) => ({
      name: NAMES[j] as string,
      value: Math.round((summary[j] as number) * 1e4) / 1e4,
      contribution: Math.round((z[j] as number) * 1e3) / 1e3,
    }));
  }
}
