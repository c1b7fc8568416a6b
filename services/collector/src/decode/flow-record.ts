import type { FlowRecord, SourceFormat } from '@tidewatch/contracts';

/** Placeholder that makes V8 track a field as "any value" (see newFlowRecord). */
const ANY = null as unknown as number;

/**
 * Every record starts with the same keys in the same order, so they share one hidden class. The
 * numeric fields start as null, then 0: V8 then tracks them as tagged values, so small integers
 * are stored unboxed and large ones (64-bit counters, epoch ms) need no change of hidden class.
 * Starting them as small integers instead deprecates the class at the first large value (every
 * later record pays a migration); starting them as doubles boxes every store.
 */
export function newFlowRecord(exporter: string, domain: number, format: SourceFormat): FlowRecord {
  const r: FlowRecord = {
    exporter,
    observation_domain: domain,
    source_format: format,
    start_ms: ANY,
    end_ms: ANY,
    protocol: ANY,
    src_ip: '',
    dst_ip: '',
    src_port: ANY,
    dst_port: ANY,
    fwd_bytes: ANY,
    fwd_pkts: ANY,
    bwd_bytes: ANY,
    bwd_pkts: ANY,
    tcp_flags: ANY,
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
