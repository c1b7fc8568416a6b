import { isIPv4 } from 'node:net';
import type { FlowRecord } from '@tidewatch/contracts';

/**
 * Encodes flows the way a router exports them: NetFlow v9 (RFC 3954) or IPFIX (RFC 7011)
 * datagrams, one unidirectional record per direction, templates re-sent periodically.
 * Used by the demo, by `tidewatch simulate` and as a load generator for benchmarks.
 */
export type ExportProtocol = 'netflow9' | 'ipfix';

interface FieldSpec {
  id: number;
  len: number;
}

const V4_TEMPLATE_ID = 256;
const V6_TEMPLATE_ID = 257;
// IANA IE ids: 8/12 IPv4 addrs, 27/28 IPv6 addrs, 7/11 ports, 4 protocol, 6 tcpFlags, 1 octets, 2 packets.
const COMMON: FieldSpec[] = [
  { id: 7, len: 2 },
  { id: 11, len: 2 },
  { id: 4, len: 1 },
  { id: 6, len: 1 },
  { id: 1, len: 8 },
  { id: 2, len: 8 },
];
// v9: first/last switched (21/22, sysUptime ms); IPFIX: flowStart/EndMilliseconds (152/153).
const V9_TIMES: FieldSpec[] = [
  { id: 22, len: 4 },
  { id: 21, len: 4 },
];
const IPFIX_TIMES: FieldSpec[] = [
  { id: 152, len: 8 },
  { id: 153, len: 8 },
];

export interface ExportEncoderOptions {
  protocol: ExportProtocol;
  observationDomain?: number;
  /** Re-send templates every N datagrams (exporters do this so a restarted collector recovers). */
  templateEvery?: number;
  maxDatagramBytes?: number;
  /** sysUptime zero, for v9 relative times (default: 1 h before the first flow). */
  bootMs?: number;
}

interface Direction {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  bytes: number;
  pkts: number;
  start: number;
  end: number;
  proto: number;
  flags: number;
}

export class ExportEncoder {
  readonly #opts: Required<ExportEncoderOptions>;
  #sequence = 0;
  #datagrams = 0;
  #bootMs: number | null;

  constructor(opts: ExportEncoderOptions) {
    this.#opts = {
      observationDomain: 1,
      templateEvery: 20,
      maxDatagramBytes: 1400,
      bootMs: -1,
      ...opts,
    };
    this.#bootMs = this.#opts.bootMs >= 0 ? this.#opts.bootMs : null;
  }

  /** Splits biflows into directional records and packs them into datagrams. */
  encode(flows: readonly FlowRecord[], nowMs: number = Date.now()): Buffer[] {
    const dirs: Direction[] = [];
    for (const f of flows) {
      dirs.push({
        src: f.src_ip,
        dst: f.dst_ip,
        sport: f.src_port,
        dport: f.dst_port,
        bytes: f.fwd_bytes,
        pkts: f.fwd_pkts,
        start: f.start_ms,
        end: f.end_ms,
        proto: f.protocol,
        flags: f.tcp_flags,
      });
      if (f.bwd_pkts > 0) {
        dirs.push({
          src: f.dst_ip,
          dst: f.src_ip,
          sport: f.dst_port,
          dport: f.src_port,
          bytes: f.bwd_bytes,
          pkts: f.bwd_pkts,
          start: f.start_ms,
          end: f.end_ms,
          proto: f.protocol,
          flags: f.tcp_flags,
        });
      }
    }
    if (this.#bootMs === null) this.#bootMs = Math.min(nowMs, ...dirs.map((d) => d.start)) - 3_600_000;
    const out: Buffer[] = [];
    const recordLen = (v6: boolean) => (v6 ? 32 : 8) + 22 + (this.#opts.protocol === 'ipfix' ? 16 : 8);
    let batch: Direction[] = [];
    let batchV6: boolean | null = null;
    const flush = () => {
      if (batch.length > 0 && batchV6 !== null) out.push(this.#datagram(batch, batchV6, nowMs));
      batch = [];
      batchV6 = null;
    };
    const budget = this.#opts.maxDatagramBytes - 20 - 2 * 60;
    for (const d of dirs) {
      const v6 = !isIPv4(d.src);
      if (batchV6 !== null && (batchV6 !== v6 || (batch.length + 1) * recordLen(v6) > budget)) flush();
      batch.push(d);
      batchV6 = v6;
    }
    flush();
    return out;
  }

  #datagram(records: Direction[], v6: boolean, nowMs: number): Buffer {
    const ipfix = this.#opts.protocol === 'ipfix';
    const withTemplates = this.#datagrams % this.#opts.templateEvery === 0;
    this.#datagrams++;
    const parts: Buffer[] = [];
    if (withTemplates) parts.push(this.#templateSet(ipfix));
    parts.push(this.#dataSet(records, v6, ipfix));
    const body = Buffer.concat(parts);
    const header = Buffer.alloc(ipfix ? 16 : 20);
    const secs = Math.floor(nowMs / 1000);
    if (ipfix) {
      header.writeUInt16BE(10, 0);
      header.writeUInt16BE(16 + body.length, 2);
      header.writeUInt32BE(secs >>> 0, 4);
      header.writeUInt32BE(this.#sequence >>> 0, 8);
      header.writeUInt32BE(this.#opts.observationDomain, 12);
      this.#sequence += records.length;
    } else {
      header.writeUInt16BE(9, 0);
      header.writeUInt16BE(records.length + (withTemplates ? 2 : 0), 2);
      header.writeUInt32BE((nowMs - (this.#bootMs ?? 0)) >>> 0, 4);
      header.writeUInt32BE(secs >>> 0, 8);
      header.writeUInt32BE(this.#sequence >>> 0, 12);
      header.writeUInt32BE(this.#opts.observationDomain, 16);
      this.#sequence += 1;
    }
    return Buffer.concat([header, body]);
  }

  #fields(v6: boolean, ipfix: boolean): FieldSpec[] {
    const addrs = v6
      ? [
          { id: 27, len: 16 },
          { id: 28, len: 16 },
        ]
      : [
          { id: 8, len: 4 },
          { id: 12, len: 4 },
        ];
    return [...addrs, ...COMMON, ...(ipfix ? IPFIX_TIMES : V9_TIMES)];
  }

  #templateSet(ipfix: boolean): Buffer {
    const templates = [
      [V4_TEMPLATE_ID, this.#fields(false, ipfix)],
      [V6_TEMPLATE_ID, this.#fields(true, ipfix)],
    ] as const;
    const len = 4 + templates.reduce((n, [, f]) => n + 4 + f.length * 4, 0);
    const buf = Buffer.alloc(len);
    buf.writeUInt16BE(ipfix ? 2 : 0, 0);
    buf.writeUInt16BE(len, 2);
    let o = 4;
    for (const [id, fields] of templates) {
      buf.writeUInt16BE(id, o);
      buf.writeUInt16BE(fields.length, o + 2);
      o += 4;
      for (const f of fields) {
        buf.writeUInt16BE(f.id, o);
        buf.writeUInt16BE(f.len, o + 2);
        o += 4;
      }
    }
    return buf;
  }

  #dataSet(records: Direction[], v6: boolean, ipfix: boolean): Buffer {
    const fields = this.#fields(v6, ipfix);
    const recLen = fields.reduce((n, f) => n + f.len, 0);
    const raw = 4 + recLen * records.length;
    const len = raw + ((4 - (raw % 4)) % 4);
    const buf = Buffer.alloc(len);
    buf.writeUInt16BE(v6 ? V6_TEMPLATE_ID : V4_TEMPLATE_ID, 0);
    buf.writeUInt16BE(len, 2);
    let o = 4;
    const boot = this.#bootMs ?? 0;
    for (const r of records) {
      o = writeAddr(buf, o, r.src, v6);
      o = writeAddr(buf, o, r.dst, v6);
      buf.writeUInt16BE(r.sport, o);
      buf.writeUInt16BE(r.dport, o + 2);
      buf.writeUInt8(r.proto, o + 4);
      buf.writeUInt8(r.flags & 0xff, o + 5);
      buf.writeBigUInt64BE(BigInt(r.bytes), o + 6);
      buf.writeBigUInt64BE(BigInt(r.pkts), o + 14);
      o += 22;
      if (ipfix) {
        buf.writeBigUInt64BE(BigInt(r.start), o);
        buf.writeBigUInt64BE(BigInt(r.end), o + 8);
        o += 16;
      } else {
        buf.writeUInt32BE((r.start - boot) >>> 0, o);
        buf.writeUInt32BE((r.end - boot) >>> 0, o + 4);
        o += 8;
      }
    }
    return buf;
  }
}

function writeAddr(buf: Buffer, o: number, ip: string, v6: boolean): number {
  if (!v6) {
    const p = ip.split('.');
    for (let i = 0; i < 4; i++) buf[o + i] = Number(p[i]);
    return o + 4;
  }
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(Number.parseInt(groups[i] ?? '0', 16), o + i * 2);
  return o + 16;
}
