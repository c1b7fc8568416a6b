import type { FlowRecord, SourceFormat } from '@tidewatch/contracts';

/**
 * Every record starts with the same keys in the same order, so they share one hidden class. The
 * numeric fields start as doubles (then zeroed) because counters and times exceed the small-integer
 * range: a hidden class whose field began as a small integer is deprecated by the first large
 * value, and every record built from the deprecated literal afterwards pays a migration.
 */
export function newFlowRecord(exporter: string, domain: number, format: SourceFormat): FlowRecord {
  const r: FlowRecord = {
    exporter,
    observation_domain: domain,
    source_format: format,
    start_ms: 0.5,
    end_ms: 0.5,
    protocol: 0.5,
    src_ip: '',
    dst_ip: '',
    src_port: 0.5,
    dst_port: 0.5,
    fwd_bytes: 0.5,
    fwd_pkts: 0.5,
    bwd_bytes: 0.5,
    bwd_pkts: 0.5,
    tcp_flags: 0.5,
    sampling_rate: 1,
    in_if: undefined,
    out_if: undefined,
    src_as: undefined,
    dst_as: undefined,
    vlan: undefined,
    icmp_type: undefined,
    icmp_code: undefined,
    extra: undefined,
  };
  r.start_ms = 0;
  r.end_ms = 0;
  r.protocol = 0;
  r.src_port = 0;
  r.dst_port = 0;
  r.fwd_bytes = 0;
  r.fwd_pkts = 0;
  r.bwd_bytes = 0;
  r.bwd_pkts = 0;
  r.tcp_flags = 0;
  return r;
}

/** ICMP type/code from the destination port, where NetFlow exporters put type*256+code. */
export function icmpFromPort(r: FlowRecord): void {
  if ((r.protocol === 1 || r.protocol === 58) && r.icmp_type == null) {
    r.icmp_type = r.dst_port >> 8;
    r.icmp_code = r.dst_port & 0xff;
  }
}

export function setExtra(r: FlowRecord, name: string, value: string): void {
  if (r.extra === undefined || r.extra === null) r.extra = {};
  r.extra[name] = value;
}

const MOD = 0x100000000;
const HALF = 0x80000000;

/** Epoch ms of a sysUptime-relative timestamp (v5/v9), tolerating the 32-bit uptime wrap. */
export function uptimeToEpoch(exportMs: number, sysUptime: number, at: number): number {
  let d = sysUptime - at;
  if (d < -HALF) d += MOD;
  else if (d > HALF) d -= MOD;
  return exportMs - d;
}
