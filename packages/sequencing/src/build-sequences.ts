import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import { InMemoryEntityStats, windowContribution } from './entity-stats.ts';
import { PartitionSequencer } from './partition-sequencer.ts';
import { windowSequences } from './sequence-builder.ts';
import { SEQUENCING_SPEC, type SequencingSpec } from './spec.ts';

/**
 * Offline sequencing of a whole set of flows: the result the streaming sequencer produces when
 * nothing is late (an infinite lateness bound). Sequences are sorted by (window, src, dst, part).
 */
export function buildSequences(
  flows: Iterable<FlowRecord>,
  spec: SequencingSpec = SEQUENCING_SPEC,
): Sequence[] {
  const sequencer = new PartitionSequencer({ ...spec, allowed_lateness_ms: Number.MAX_SAFE_INTEGER });
  let offset = 0;
  for (const flow of flows) sequencer.push(flow, offset++);
  sequencer.finish();
  const stats = new InMemoryEntityStats();
  const sealed = sequencer.seal();
  stats.applySync(sealed.map(windowContribution));
  const out: Sequence[] = [];
  for (const window of sequencer.takeEmittable()) {
    const context = stats.contextOf(window.src_ip, window.dst_ip, window.window_start_ms);
    out.push(...windowSequences(window, context, spec));
  }
  return out.sort(compareSequences);
}

export function compareSequences(a: Sequence, b: Sequence): number {
  return (
    a.window_start_ms - b.window_start_ms ||
    (a.src_ip < b.src_ip ? -1 : a.src_ip > b.src_ip ? 1 : 0) ||
    (a.dst_ip < b.dst_ip ? -1 : a.dst_ip > b.dst_ip ? 1 : 0) ||
    a.part - b.part
  );
}
