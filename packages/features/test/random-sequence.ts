import type { Sequence, SequenceFlow } from '@tidewatch/contracts';

/** What a random test sequence is drawn from (each sub-score suite stresses its own rules). */
export interface RandomSequenceShape {
  /** Flows are 0 … maxFlows − 1. */
  maxFlows: number;
  /** Chance that a flow was answered (bwd bytes and packets drawn, else 0). */
  answered: number;
  protocols: readonly number[];
  /** The flow's source port (may draw through `pick`). */
  srcPort: (i: number, pick: <T>(xs: readonly T[]) => T) => number;
  /** The flow's destination port given its source port. */
  dstPort: (srcPort: number, pick: <T>(xs: readonly T[]) => T) => number;
  /** Fewest packets each way of a flow that has any (0 or 1). */
  minPkts: number;
  /** Packet counts are drawn from minPkts to minPkts + pktsSpan - 1 (default 30). */
  pktsSpan?: number;
  /** When set, context.distinct_srcs is drawn from these. */
  distinctSrcs?: readonly number[];
  /** When set, context.distinct_probe_srcs is drawn from these (after distinct_srcs). */
  distinctProbeSrcs?: readonly number[];
}

/** One random sequence of `shape` from the seeded generator `r` (same draws for the same seed). */
export function randomSequence(r: () => number, shape: RandomSequenceShape): Sequence {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const n = Math.floor(r() * shape.maxFlows);
  const flows: SequenceFlow[] = [];
  for (let i = 0; i < n; i++) {
    const answered = r() < shape.answered;
    const sport = shape.srcPort(i, pick);
    flows.push({
      start_ms: 1_700_000_000_000 + Math.floor(r() * 300_000),
      end_ms: 1_700_000_000_000 + 300_000,
      protocol: pick(shape.protocols),
      src_port: sport,
      dst_port: shape.dstPort(sport, pick),
      fwd_bytes: Math.floor(r() * 5000),
      fwd_pkts: shape.minPkts + Math.floor(r() * (shape.pktsSpan ?? 30)),
      bwd_bytes: answered ? Math.floor(r() * 5000) : 0,
      bwd_pkts: answered ? shape.minPkts + Math.floor(r() * (shape.pktsSpan ?? 30)) : 0,
      tcp_flags: 0,
      label: null,
      attack: null,
      origin: 'test',
    });
  }
  const context: Sequence['context'] = {
    distinct_dsts: Math.floor(r() * 40),
    distinct_dst_ports: Math.floor(r() * 40),
    connections: n + Math.floor(r() * 50),
  };
  if (shape.distinctSrcs) context.distinct_srcs = pick(shape.distinctSrcs);
  if (shape.distinctProbeSrcs) context.distinct_probe_srcs = pick(shape.distinctProbeSrcs);
  return {
    sequence_id: 'x',
    src_ip: '192.0.2.1',
    dst_ip: '192.0.2.2',
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows,
    context,
  };
}
