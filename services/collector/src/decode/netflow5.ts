import type { FlowRecord } from '@tidewatch/contracts';
import { uptimeToEpoch } from './flow-record.ts';
import { recordGap, type SequenceTracker } from './sequence-tracker.ts';
import type { DecoderStats } from './stats.ts';
import { ipv4, u16, u32 } from './wire.ts';

export const NF5_HEADER = 24;
export const NF5_RECORD = 48;
export const NF5_MAX_RECORDS = 30;

export const SMALL = Array.from({ length: 256 }, (_, i) => String(i));

/** What a NetFlow v5 header says, once it has been counted. */
export interface Netflow5Header {
  /** Records present (the header's count, cut to what the datagram holds). */
  records: number;
  exportMs: number;
  sysUptime: number;
  samplingRate: number;
  engineType: number;
  engineId: number;
}

/**
 * Counts a NetFlow v5 datagram (datagram, errors, sequence gap) and reads its header; null when
 * it is too short to have one. Shared by the object path and the direct Avro path, so both count
 * the same.
 */
export function netflow5Header(
  b: Buffer,
  exporter: string,
  receivedAtMs: number,
  stats: DecoderStats,
  seq: SequenceTracker,
): Netflow5Header | null {
  const st = stats.domain(exporter, 0, 'netflow5', receivedAtMs);
  st.datagrams++;
  if (b.length < NF5_HEADER) {
    stats.error(st, 'truncated_header');
    return null;
  }
  const count = u16(b, 2);
  const engineType = b[20] as number;
  const engineId = b[21] as number;
  const sampling = u16(b, 22) & 0x3fff;
  const fit = Math.floor((b.length - NF5_HEADER) / NF5_RECORD);
  let n = count;
  if (count > fit || count > NF5_MAX_RECORDS) {
    // A header that claims more records than the datagram holds: keep the ones that are there.
    stats.error(st, 'bad_record');
    n = Math.min(fit, count);
  }
  const gap = seq.observe(`${exporter}|v5|${engineType}|${engineId}`, u32(b, 16), count);
  recordGap(st, gap, 'records');
  st.records += n;
  stats.records += n;
  return {
    records: n,
    exportMs: u32(b, 8) * 1000 + Math.floor(u32(b, 12) / 1e6),
    sysUptime: u32(b, 4),
    samplingRate: sampling > 0 ? sampling : 1,
    engineType,
    engineId,
  };
}

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
  const h = netflow5Header(b, exporter, receivedAtMs, stats, seq);
  if (h === null) return;
  const n = h.records;
  const exportMs = h.exportMs;
  const sysUptime = h.sysUptime;
  const rate = h.samplingRate;
  const engineTypeText = SMALL[h.engineType] as string;
  const engineIdText = SMALL[h.engineId] as string;
  for (let i = 0, o = NF5_HEADER; i < n; i++, o += NF5_RECORD) {
    // Fixed layout: every field at a constant offset, read inline; the record is built in one
    // literal with the keys in newFlowRecord's order (one hidden class for every decoder).
    const protocol = b[o + 38] as number;
    const dstPort = ((b[o + 34] as number) << 8) | (b[o + 35] as number);
    const icmp = protocol === 1 || protocol === 58;
    const r: FlowRecord = {
      exporter,
      observation_domain: 0,
      source_format: 'netflow5',
      start_ms: uptimeToEpoch(exportMs, sysUptime, u32(b, o + 24)),
      end_ms: uptimeToEpoch(exportMs, sysUptime, u32(b, o + 28)),
      protocol,
      src_ip: ipv4(b, o),
      dst_ip: ipv4(b, o + 4),
      src_port: ((b[o + 32] as number) << 8) | (b[o + 33] as number),
      dst_port: dstPort,
      fwd_bytes: u32(b, o + 20),
      fwd_pkts: u32(b, o + 16),
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: b[o + 37] as number,
      sampling_rate: rate,
      in_if: ((b[o + 12] as number) << 8) | (b[o + 13] as number),
      out_if: ((b[o + 14] as number) << 8) | (b[o + 15] as number),
      src_as: ((b[o + 40] as number) << 8) | (b[o + 41] as number),
      dst_as: ((b[o + 42] as number) << 8) | (b[o + 43] as number),
      vlan: undefined,
      // ICMP type/code ride in the destination port as type*256+code
      icmp_type: icmp ? dstPort >> 8 : undefined,
      icmp_code: icmp ? dstPort & 0xff : undefined,
      extra: extras
        ? {
            ipNextHopIPv4Address: ipv4(b, o + 8),
            ipClassOfService: SMALL[b[o + 39] as number] as string,
            sourceIPv4PrefixLength: SMALL[b[o + 44] as number] as string,
            destinationIPv4PrefixLength: SMALL[b[o + 45] as number] as string,
            engineType: engineTypeText,
            engineId: engineIdText,
          }
        : undefined,
    };
    out.push(r);
  }
}
