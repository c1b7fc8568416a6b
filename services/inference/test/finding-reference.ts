import type { Finding, Sequence } from '@tidewatch/contracts';
import type { FindingScoring } from '@tidewatch/detector';

/**
 * The Finding of a Sequence object as the detector built it before sequences were read as columns
 * (030c6be's newFinding and sequenceLabel, with the multi-flow facts in the Map/Set formulation of
 * packages/detector/test/flow-facts.test.ts): the reference the columnar path is compared with.
 */
export function referenceFinding(seq: Sequence, s: FindingScoring): Finding {
  const flows = seq.flows;
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  let fb = 0;
  let bb = 0;
  let fp = 0;
  let bp = 0;
  const ports = new Map<number, number>();
  const protos = new Set<number>();
  for (const f of flows) {
    first = Math.min(first, f.start_ms);
    last = Math.max(last, f.end_ms);
    fb += f.fwd_bytes;
    bb += f.bwd_bytes;
    fp += f.fwd_pkts;
    bp += f.bwd_pkts;
    ports.set(f.dst_port, (ports.get(f.dst_port) ?? 0) + 1);
    protos.add(f.protocol);
  }
  if (!Number.isFinite(first)) first = seq.window_start_ms;
  if (!Number.isFinite(last)) last = seq.window_start_ms;
  const only = flows.length === 1 ? flows[0] : undefined;
  let label: number | null;
  if (only) label = only.label === 1 ? 1 : only.label === 0 ? 0 : null;
  else {
    let allKnown = flows.length > 0;
    label = null;
    for (const f of flows) {
      if (f.label === 1) {
        label = 1;
        break;
      }
      if (f.label !== 0) allKnown = false;
    }
    if (label === null && allKnown) label = 0;
  }
  return {
    sequence_id: seq.sequence_id,
    window_start_ms: seq.window_start_ms,
    window_end_ms: seq.window_end_ms,
    first_seen_ms: first,
    last_seen_ms: last,
    src_ip: seq.src_ip,
    dst_ip: seq.dst_ip,
    dst_ports: [...ports]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, 16)
      .map(([p]) => p),
    protocols: [...protos].sort((a, b) => a - b),
    connections: flows.length,
    fwd_bytes: fb,
    bwd_bytes: bb,
    fwd_pkts: fp,
    bwd_pkts: bp,
    label,
    score: s.score,
    anomaly: s.anomaly,
    verdict: s.verdict,
    tactics: s.tactics,
    techniques: s.techniques,
    severity: s.severity,
    model_version: s.model_version,
    status: 'new',
    explanation: { subscores: s.subscores, top_features: [], neighbours: [] },
    suppressed_by: null,
    scored_at_ms: s.scored_at_ms,
  };
}
