import { randomUUID } from 'node:crypto';
import type { VectorStore } from '@tidewatch/vector-store';
import { badRequest, notFound } from './errors.ts';
import type { SuppressionRule, SuppressionStore } from '@tidewatch/suppression';

/** How many stored neighbours a new rule examines for retroactive suppression. */
export const RETROACTIVE_SCAN = 10_000;

/**
 * Suppression rules created from a finding: the rule (reason, threshold, the finding's embedding)
 * is stored for the inference service to apply to future sequences, and every stored finding at
 * or above the threshold similarity (the finding itself included) is set to status `suppressed`
 * with `suppressed_by` = the rule id: recorded, never deleted.
 */
export class SuppressionService {
  constructor(
    private readonly store: VectorStore,
    private readonly rules: SuppressionStore,
    private readonly defaultThreshold: number,
  ) {}

  async create(input: {
    finding_id: string;
    reason: string;
    threshold?: number;
    scope?: 'similar' | 'pair';
    author: string;
  }): Promise<SuppressionRule> {
    const point = await this.store.get(input.finding_id, { withVector: true });
    if (!point) throw notFound(`finding ${input.finding_id}`);
    const threshold = input.threshold ?? this.defaultThreshold;
    if (threshold <= 0 || threshold > 1) throw badRequest('threshold', 'threshold must be in (0, 1]');
    const rule: SuppressionRule = {
      id: randomUUID(),
      finding_id: input.finding_id,
      reason: input.reason,
      threshold,
      vector: point.vector,
      src_ip: input.scope === 'pair' ? point.payload.src_ip : null,
      dst_ip: input.scope === 'pair' ? point.payload.dst_ip : null,
      created_by: input.author,
      created_at_ms: Date.now(),
      retroactive_count: 0,
      enabled: true,
    };
    const hits = await this.store.similar(point.vector, {
      k: RETROACTIVE_SCAN,
      filter: {
        status: ['new', 'in_progress', 'resolved'],
        ...(rule.src_ip ? { srcIp: rule.src_ip } : {}),
        ...(rule.dst_ip ? { dstIp: rule.dst_ip } : {}),
      },
    });
    const ids = hits.filter((h) => h.similarity >= threshold).map((h) => h.id);
    if (point.payload.status !== 'suppressed' && !ids.includes(point.id)) ids.push(point.id);
    for (let i = 0; i < ids.length; i += 1000)
      await this.store.updatePayload(ids.slice(i, i + 1000), {
        status: 'suppressed',
        suppressed_by: rule.id,
      });
    rule.retroactive_count = ids.length;
    await this.rules.put(rule);
    return rule;
  }

  list(): Promise<SuppressionRule[]> {
    return this.rules.list();
  }

  async disable(id: string): Promise<SuppressionRule> {
    const rule = await this.rules.get(id);
    if (!rule) throw notFound(`suppression ${id}`);
    rule.enabled = false;
    await this.rules.put(rule);
    return rule;
  }
}

/** The rule as the API shows it (the embedding is internal). */
export function publicRule({ vector: _v, ...rest }: SuppressionRule): Omit<SuppressionRule, 'vector'> {
  return rest;
}
