import type { EntityContext, Sequence } from '@tidewatch/contracts';
import { compareSequenceFlows } from './conversation-flow.ts';
import { sequenceId } from './sequence-id.ts';
import type { SequencingSpec } from './spec.ts';
import type { OpenWindow } from './window-store.ts';

/** A closed conversation-window as sequences: flows ordered (rule 4), cut at max_flows, ids (rule 5). */
export function windowSequences(
  window: OpenWindow,
  context: EntityContext,
  spec: SequencingSpec,
): Sequence[] {
  // Sorted in place: a taken window is only read after this (sorting it again changes nothing).
  const flows = window.flows;
  if (flows.length > 1) flows.sort(compareSequenceFlows);
  const out: Sequence[] = [];
  for (let part = 0; part * spec.max_flows < flows.length; part++) {
    out.push({
      sequence_id: sequenceId(
        spec.sequence_id_namespace,
        window.src_ip,
        window.dst_ip,
        window.window_start_ms,
        part,
      ),
      src_ip: window.src_ip,
      dst_ip: window.dst_ip,
      window_start_ms: window.window_start_ms,
      window_end_ms: window.window_end_ms,
      part,
      flows:
        flows.length <= spec.max_flows
          ? flows
          : flows.slice(part * spec.max_flows, (part + 1) * spec.max_flows),
      context: { ...context },
    });
  }
  return out;
}
