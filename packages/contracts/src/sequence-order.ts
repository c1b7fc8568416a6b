import type { SequenceFlow } from './sequence.ts';

/**
 * sequencing.v1's rule 4, the order of flows inside a conversation-window: (start, end, protocol,
 * src_port, dst_port, fwd_bytes, bwd_bytes, fwd_pkts, bwd_pkts, tcp_flags) ascending. Remaining
 * fields break full ties so the result never depends on arrival order. The sequencer orders
 * sequences by it; subscores.v6 orders a sequence's connections by it.
 */
export function compareSequenceFlows(a: SequenceFlow, b: SequenceFlow): number {
  return (
    a.start_ms - b.start_ms ||
    a.end_ms - b.end_ms ||
    a.protocol - b.protocol ||
    a.src_port - b.src_port ||
    a.dst_port - b.dst_port ||
    a.fwd_bytes - b.fwd_bytes ||
    a.bwd_bytes - b.bwd_bytes ||
    a.fwd_pkts - b.fwd_pkts ||
    a.bwd_pkts - b.bwd_pkts ||
    a.tcp_flags - b.tcp_flags ||
    (a.label ?? -1) - (b.label ?? -1) ||
    compareText(a.attack ?? '', b.attack ?? '') ||
    compareText(a.origin ?? '', b.origin ?? '') ||
    (a.sampling_rate ?? 1) - (b.sampling_rate ?? 1)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
