import type { EntityContext, Sequence, SequenceFlow } from '@tidewatch/contracts';
import { compareSequenceFlows } from './conversation-flow.ts';
import { sortRows } from './flow-columns.ts';
import { sequenceId } from './sequence-id.ts';
import type { SequenceEncoder, SequenceSink } from './sequence-encoder.ts';
import type { SequencingSpec } from './spec.ts';
import type { OpenWindow } from './window-store.ts';

/** A closed conversation-window as sequences: flows ordered (rule 4), cut at max_flows, ids (rule 5). */
export function windowSequences(
  window: OpenWindow,
  context: EntityContext,
  spec: SequencingSpec,
): Sequence[] {
  const flows = window.flows();
  if (flows.length > 1) sortFlows(flows);
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
      context,
    });
  }
  return out;
}

/** An encoded sequence, keyed by its id (a sequences.v1 message). */
export interface EncodedSequence {
  key: string;
  value: Buffer;
}

/**
 * The bytes `windowSequences` + `SequenceEncoder.encode` give, appended to `out`, without the
 * Sequence objects: straight from the window's flow columns. Returns how many.
 */
export function encodeWindow(
  window: OpenWindow,
  context: EntityContext,
  spec: SequencingSpec,
  encoder: SequenceEncoder,
  out: EncodedSequence[],
): number {
  const ns = spec.sequence_id_namespace;
  const columns = window.columns;
  if (window.flowCount === 1) {
    const value = encoder.encodeIdRows(ns, window, 0, columns, window.firstRow, 0, 1, context);
    out.push({ key: encoder.lastId, value });
    return 1;
  }
  const rows = window.rows();
  sortRows(columns, rows);
  const max = spec.max_flows;
  let part = 0;
  for (; part * max < rows.length; part++) {
    const to = Math.min(rows.length, (part + 1) * max);
    const value = encoder.encodeIdRows(ns, window, part, columns, rows, part * max, to, context);
    out.push({ key: encoder.lastId, value });
  }
  return part;
}

/**
 * encodeWindow into a sink (a producer's record batches): the same keys and values, each written
 * once where it is sent from. Returns how many.
 */
export function writeWindow(
  window: OpenWindow,
  context: EntityContext,
  spec: SequencingSpec,
  encoder: SequenceEncoder,
  sink: SequenceSink,
): number {
  const ns = spec.sequence_id_namespace;
  const columns = window.columns;
  if (window.flowCount === 1) {
    encoder.writeIdRows(ns, window, 0, columns, window.firstRow, 0, 1, context, sink);
    return 1;
  }
  const rows = window.rows();
  sortRows(columns, rows);
  const max = spec.max_flows;
  let part = 0;
  for (; part * max < rows.length; part++) {
    const to = Math.min(rows.length, (part + 1) * max);
    encoder.writeIdRows(ns, window, part, columns, rows, part * max, to, context, sink);
  }
  return part;
}

/** Below this many flows an insertion sort beats Array.prototype.sort's fixed cost several times over. */
const INSERTION_SORT_MAX = 16;

/**
 * Sorts by rule 4 in place. Both sorts are stable and the order is total up to equal flows, so the
 * result is the same element order either way (tested).
 */
export function sortFlows(flows: SequenceFlow[]): void {
  const n = flows.length;
  if (n > INSERTION_SORT_MAX) {
    flows.sort(compareSequenceFlows);
    return;
  }
  for (let i = 1; i < n; i++) {
    const f = flows[i] as SequenceFlow;
    let j = i - 1;
    // Already in order (the usual case: flows arrive by start time) costs one comparison.
    if (compareSequenceFlows(flows[j] as SequenceFlow, f) <= 0) continue;
    do {
      flows[j + 1] = flows[j] as SequenceFlow;
      j--;
    } while (j >= 0 && compareSequenceFlows(flows[j] as SequenceFlow, f) > 0);
    flows[j + 1] = f;
  }
}
