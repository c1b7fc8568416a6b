import type { FlowRecord } from '@tidewatch/contracts';
import { icmpFromPort, newFlowRecord, uptimeToEpoch } from './flow-record.ts';
import { recordGap, type SequenceTracker } from './sequence-tracker.ts';
import type { DecoderStats } from './stats.ts';
import { ipv4, u16, u32 } from './wire.ts';

export const NF5_HEADER = 24;
export const NF5_RECORD = 48;
export const NF5_MAX_RECORDS = 30;

const SMALL = Array.from({ length: 256 }, (_, i) => String(i));

/** Cisco NetFlow v5: fixed 24-byte header and 48-byte records, times relative to sysUptime. */
export function decodeNetflow5(
  b: Buffer,
  exporter: string,
  receivedAtMs: number,
  stats: DecoderStats,
  seq: SequenceTracker,
  out: FlowRecord[],
  extras: boolean,
): void {
  const st = stats.domain(exporter, 0, 'netflow5', receivedAtMs);
  st.datagrams++;
  if (b.length < NF5_HEADER) {
    stats.error(st, 'truncated_header');
    return;
  }
  const count = u16(b, 2);
  const sysUptime = u32(b, 4);
  const exportMs = u32(b, 8) * 1000 + Math.floor(u32(b, 12) / 1e6);
  const engineType = b[20] as number;
  const engineId = b[21] as number;
  const sampling = u16(b, 22) & 0x3fff;
  const rate = sampling > 0 ? sampling : 1;
  const fit = Math.floor((b.length - NF5_HEADER) / NF5_RECORD);
  let n = count;
  if (count > fit || count > NF5_MAX_RECORDS) {
    // A header that claims more records than the datagram holds: keep the ones that are there.
    stats.error(st, 'bad_record');
    n = Math.min(fit, count);
  }
  const gap = seq.observe(`${exporter}|v5|${engineType}|${engineId}`, u32(b, 16), count);
  recordGap(st, gap, 'records');
  for (let i = 0, o = NF5_HEADER; i < n; i++, o += NF5_RECORD) {
    const r = newFlowRecord(exporter, 0, 'netflow5');
    r.src_ip = ipv4(b, o);
    r.dst_ip = ipv4(b, o + 4);
    r.in_if = u16(b, o + 12);
    r.out_if = u16(b, o + 14);
    r.fwd_pkts = u32(b, o + 16);
    r.fwd_bytes = u32(b, o + 20);
    r.start_ms = uptimeToEpoch(exportMs, sysUptime, u32(b, o + 24));
    r.end_ms = uptimeToEpoch(exportMs, sysUptime, u32(b, o + 28));
    r.src_port = u16(b, o + 32);
    r.dst_port = u16(b, o + 34);
    r.tcp_flags = b[o + 37] as number;
    r.protocol = b[o + 38] as number;
    r.src_as = u16(b, o + 40);
    r.dst_as = u16(b, o + 42);
    r.sampling_rate = rate;
    icmpFromPort(r);
    if (extras)
      r.extra = {
        ipNextHopIPv4Address: ipv4(b, o + 8),
        ipClassOfService: SMALL[b[o + 39] as number] as string,
        sourceIPv4PrefixLength: SMALL[b[o + 44] as number] as string,
        destinationIPv4PrefixLength: SMALL[b[o + 45] as number] as string,
        engineType: SMALL[engineType] as string,
        engineId: SMALL[engineId] as string,
      };
    out.push(r);
  }
  st.records += n;
  stats.records += n;
}
