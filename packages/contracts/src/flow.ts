/** One flow record as published on `flows.v1` and printed by `tidewatch decode` (DESIGN.md). */
export interface FlowRecord {
  exporter: string;
  observation_domain: number;
  source_format: SourceFormat;
  start_ms: number;
  end_ms: number;
  protocol: number;
  src_ip: string;
  dst_ip: string;
  src_port: number;
  dst_port: number;
  fwd_bytes: number;
  fwd_pkts: number;
  bwd_bytes: number;
  bwd_pkts: number;
  tcp_flags: number;
  sampling_rate: number;
  in_if?: number | null;
  out_if?: number | null;
  src_as?: number | null;
  dst_as?: number | null;
  vlan?: number | null;
  icmp_type?: number | null;
  icmp_code?: number | null;
  label?: number | null;
  attack?: string | null;
  extra?: Record<string, string>;
}

export const SOURCE_FORMATS = [
  'netflow5',
  'netflow9',
  'ipfix',
  'sflow5',
  'tempo_csv',
  'zeek_conn',
  'aws_vpc',
  'gcp_vpc',
  'argus',
  'nfdump_csv',
  'cic_csv',
  'parquet',
  'simulator',
  'nprobe_csv',
] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/**
 * Canonical conversation key: the two endpoints in sorted order, so both directions of a
 * conversation hash to the same Kafka partition.
 */
export function conversationKey(a: string, b: string): string {
  return a <= b ? `${a}|${b}` : `${b}|${a}`;
}
