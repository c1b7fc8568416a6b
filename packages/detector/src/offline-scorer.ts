import type { FlowRecord, Sequence } from '@tidewatch/contracts';
import { type ImportFormat, readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences, notAConversationFlow } from '@tidewatch/sequencing';
import { matchBuiltinRule } from '@tidewatch/suppression';
import { type Detector, raisedBy, type ScoredSequence, serviceRaises } from './detector.ts';

/** One input data row after offline scoring (what `score --per-flow` prints and `evaluate` counts). */
export interface RowOutcome {
  row: number;
  /** Index into `sequences` of the sequence holding this row's flow; -1 for a rejected row. */
  sequence: number;
  /** Ground truth carried by the row (never a model input); null when unlabelled or rejected. */
  label: number | null;
  /** Why the row was not scored (rejected by the importer, or in no sequence). */
  error?: string;
}

export interface OfflineResult {
  rows: RowOutcome[];
  sequences: ScoredSequence[];
  /**
   * `notFlows`: imported rows that are no conversation's flow (sequencing rule 0), in no sequence;
   * `firstRejection`: why the importer rejected the first rejected row (`<file>:<line>: <what>`).
   */
  stats: {
    rows: number;
    imported: number;
    rejected: number;
    skipped: number;
    notFlows: number;
    firstRejection?: string;
  };
}

const ORIGIN_PREFIX = 'row:';

/** Why a row the sequencer skips by rule 0 (sequencing's notAConversationFlow) has no sequence. */
export const NOT_A_FLOW: Readonly<Record<'event' | 'link_control', string>> = {
  event:
    'an exporter event that counted no traffic (NAT translation or firewall flow-created/update record): in no sequence',
  link_control:
    'an IPv6 link control message (neighbour or router discovery, MLD): not a conversation, in no sequence',
};

/**
 * The offline path, identical to the streaming one after the bus: flow-importers → sequencing's
 * buildSequences (the streaming sequencer's result with no late data) → Detector.score in
 * micro-batches. Each row's flow carries `extra.origin = row:<n>` through sequencing, which is how
 * a per-flow answer is traced back to its input row (origin is never a model input).
 */
export async function scoreFlowFile(
  path: string,
  detector: Detector,
  opts: { format?: ImportFormat | 'auto'; batchSize?: number } = {},
): Promise<OfflineResult> {
  const reader = readFlowFile(path, { format: opts.format ?? 'auto' });
  const rows: RowOutcome[] = [];
  const flows: FlowRecord[] = [];
  let notFlows = 0;
  let firstRejection: string | undefined;
  for await (const r of reader) {
    if (r.error !== undefined) {
      firstRejection ??= r.error;
      rows[r.row] = { row: r.row, sequence: -1, label: null, error: r.error };
      continue;
    }
    const label = r.flow.label === 0 || r.flow.label === 1 ? r.flow.label : null;
    const notAFlow = notAConversationFlow(r.flow);
    if (notAFlow !== undefined) {
      notFlows++;
      rows[r.row] = { row: r.row, sequence: -1, label, error: NOT_A_FLOW[notAFlow] };
      continue;
    }
    rows[r.row] = { row: r.row, sequence: -1, label };
    flows.push({ ...r.flow, extra: { ...(r.flow.extra ?? {}), origin: `${ORIGIN_PREFIX}${r.row}` } });
  }
  const seqs: Sequence[] = buildSequences(flows);
  seqs.forEach((s, i) => {
    for (const f of s.flows) {
      if (!f.origin.startsWith(ORIGIN_PREFIX)) continue;
      const row = rows[Number(f.origin.slice(ORIGIN_PREFIX.length))];
      if (row) row.sequence = i;
    }
  });
  for (const r of rows) {
    if (r && r.sequence < 0 && r.error === undefined)
      r.error =
        "flow was merged into another row (a biflow's other half, or a firewall connection's other update or teardown) or not sequenced";
  }
  const batch = opts.batchSize ?? 512;
  const scored: ScoredSequence[] = [];
  for (let i = 0; i < seqs.length; i += batch)
    scored.push(...(await detector.score(seqs.slice(i, i + batch))));
  // As the inference service records them (its finding pipeline): an alert a built-in rule
  // matches keeps its verdict and flags, with status suppressed and the rule's id.
  for (const s of scored) {
    const rule = s.alert ? matchBuiltinRule(s.finding, raisedBy(s)) : null;
    if (rule) {
      s.finding.status = 'suppressed';
      s.finding.suppressed_by = rule.id;
    }
  }
  return {
    rows,
    sequences: scored,
    stats: { ...reader.stats, notFlows, ...(firstRejection === undefined ? {} : { firstRejection }) },
  };
}

/**
 * Whose decision a per-flow line's `verdict` is: `service` (default) what the inference service
 * raises for the row's sequence (serviceRaises: the model's malicious verdict or a sub-score flag,
 * not built-in-suppressed); `model` the model's verdict alone (score >= the manifest's threshold).
 */
export type VerdictSource = 'service' | 'model';
export const VERDICT_SOURCES: readonly VerdictSource[] = ['service', 'model'];

/** `score --per-flow`'s line for one row (contract in the `score` command's usage). */
export function perFlowLine(
  r: RowOutcome,
  sequences: ScoredSequence[],
  verdict: VerdictSource = 'service',
): string {
  const s = r.sequence >= 0 ? sequences[r.sequence] : undefined;
  if (!s) {
    return JSON.stringify({
      row: r.row,
      sequence_id: null,
      score: null,
      verdict: null,
      tactic: null,
      error: r.error ?? 'not scored',
    });
  }
  const f = s.finding;
  return JSON.stringify({
    row: r.row,
    sequence_id: f.sequence_id,
    score: f.score,
    verdict: verdict === 'model' ? f.verdict : serviceRaises(s) ? 'malicious' : 'benign',
    tactic: f.tactics[0]?.id ?? null,
  });
}
