import type { SimulatedFlow } from './scenarios.ts';

/**
 * Tempo-style CSV (DESIGN.md columns) plus protocol, attack (the ground truth kept beside `label`)
 * and tcp_flags, so that an imported hour looks to the model as the same flows exported live would.
 */
export const TEMPO_CSV_HEADER =
  'timestamp,flow_dur,src_ip,dest_ip,src_port,dest_port,fwd_bytes,bwd_bytes,total_fwd_pkts,total_bwd_pkts,label,protocol,attack,tcp_flags';

export function tempoCsvRow(f: SimulatedFlow): string {
  const ts = new Date(f.start_ms).toISOString().replace('T', ' ').replace('Z', '');
  const dur = ((f.end_ms - f.start_ms) / 1000).toFixed(3);
  return [
    ts,
    dur,
    f.src_ip,
    f.dst_ip,
    f.src_port,
    f.dst_port,
    f.fwd_bytes,
    f.bwd_bytes,
    f.fwd_pkts,
    f.bwd_pkts,
    f.label,
    f.protocol,
    f.attack,
    f.tcp_flags,
  ].join(',');
}
