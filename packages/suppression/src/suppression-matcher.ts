import type { Finding } from '@tidewatch/contracts';
import type { SuppressionRule, SuppressionStore } from './rules.ts';

export interface SuppressionMatch {
  rule: SuppressionRule;
  /** Cosine similarity to the rule's example (1 for a field-only rule). */
  similarity: number;
}

function unit(v: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(v as ArrayLike<number>);
  let n = 0;
  for (let i = 0; i < out.length; i++) n += (out[i] as number) ** 2;
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / n;
  return out;
}

interface CompiledRule {
  rule: SuppressionRule;
  vector: Float32Array | null;
}

/**
 * Applies the enabled rules to new findings. Rules are re-read from the store at most every
 * `refreshMs` (the query API adds them at any time); the scoring path calls `match` per sequence
 * with no I/O. The best match (highest similarity) wins; ties go to the oldest rule.
 */
export class SuppressionMatcher {
  private rules: CompiledRule[] = [];
  private loadedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: SuppressionStore,
    private readonly refreshMs = 5_000,
    private readonly clock: () => number = Date.now,
  ) {}

  get size(): number {
    return this.rules.length;
  }

  async refresh(force = false): Promise<void> {
    if (!force && this.clock() - this.loadedAt < this.refreshMs) return;
    const rules = (await this.store.list())
      .filter((r) => r.enabled)
      .sort((a, b) => a.created_at_ms - b.created_at_ms || (a.id < b.id ? -1 : 1));
    this.rules = rules.map((rule) => ({ rule, vector: rule.vector.length > 0 ? unit(rule.vector) : null }));
    this.loadedAt = this.clock();
  }

  match(finding: Pick<Finding, 'src_ip' | 'dst_ip'>, embedding: ArrayLike<number>): SuppressionMatch | null {
    let best: SuppressionMatch | null = null;
    let q: Float32Array | null = null;
    for (const { rule, vector } of this.rules) {
      if (rule.src_ip !== null && rule.src_ip !== finding.src_ip) continue;
      if (rule.dst_ip !== null && rule.dst_ip !== finding.dst_ip) continue;
      let similarity = 1;
      if (vector) {
        if (vector.length !== embedding.length) continue; // another embedding space
        q ??= unit(embedding);
        let dot = 0;
        for (let i = 0; i < vector.length; i++) dot += (vector[i] as number) * (q[i] as number);
        if (dot < rule.threshold) continue;
        similarity = dot;
      } else if (rule.src_ip === null && rule.dst_ip === null) {
        continue; // a rule with neither example nor fields would match everything
      }
      if (!best || similarity > best.similarity) best = { rule, similarity };
    }
    return best;
  }
}
