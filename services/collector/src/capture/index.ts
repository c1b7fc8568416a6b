/**
 * Reads flow datagrams out of capture files: classic pcap (both byte orders, µs and ns), pcapng
 * (SHB/IDB/EPB/SPB/OPB with per-interface link type and timestamp resolution), and raw datagram
 * files (.dat/.bin), which may hold several datagrams glued together.
 */
export interface UdpDatagram {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  timestampMs: number;
  payload: Buffer;
}

export interface CaptureStats {
  packets: number;
  udp: number;
  /** Packets skipped, by reason (non-IP, non-UDP, fragment, truncated, unknown link type...). */
  skipped: Record<string, number>;
}

export class CaptureFormatError extends Error {
  override name = 'CaptureFormatError';
}

export type CaptureKind = 'pcap' | 'pcapng' | 'raw';

export function detectCapture(buf: Buffer): CaptureKind {
  if (buf.length >= 4) {
    const m = buf.readUInt32LE(0);
    if (m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1) return 'pcap';
    if (m === 0x0a0d0d0a) return 'pcapng';
  }
  return 'raw';
}

/** Link-layer types (tcpdump.org LINKTYPE_*). */
const LINK_NULL = 0;
const LINK_ETHERNET = 1;
const LINK_RAW = 101;
const LINK_LOOP = 108;
const LINK_LINUX_SLL = 113;
const LINK_IPV4 = 228;
const LINK_IPV6 = 229;
const LINK_LINUX_SLL2 = 276;

function skip(stats: CaptureStats, reason: string): void {
  stats.skipped[reason] = (stats.skipped[reason] ?? 0) + 1;
}

export function newCaptureStats(): CaptureStats {
  return { packets: 0, udp: 0, skipped: {} };
}

/** All UDP datagrams of a pcap or pcapng file, in file order. Throws CaptureFormatError on a broken file header. */
export function readCapture(buf: Buffer, stats: CaptureStats = newCaptureStats()): UdpDatagram[] {
  const kind = detectCapture(buf);
  if (kind === 'pcap') return readPcap(buf, stats);
  if (kind === 'pcapng') return readPcapng(buf, stats);
  throw new CaptureFormatError('not a pcap or pcapng file (unknown magic number)');
}

export function readPcap(buf: Buffer, stats: CaptureStats = newCaptureStats()): UdpDatagram[] {
  if (buf.length < 24) throw new CaptureFormatError(`pcap file header truncated (${buf.length} bytes)`);
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const r32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = r32(20) & 0x0fffffff;
  const out: UdpDatagram[] = [];
  let o = 24;
  while (buf.length - o >= 16) {
    const sec = r32(o);
    const frac = r32(o + 4);
    const capLen = r32(o + 8);
    o += 16;
    stats.packets++;
    if (capLen > buf.length - o) {
      skip(stats, 'truncated_record');
      break;
    }
    const ts = sec * 1000 + (nano ? Math.floor(frac / 1e6) : Math.floor(frac / 1e3));
    const d = linkPacket(buf.subarray(o, o + capLen), linkType, ts, stats);
    if (d !== undefined) out.push(d);
    o += capLen;
  }
  if (o < buf.length && buf.length - o < 16) skip(stats, 'trailing_bytes');
  return out;
}

interface PcapngInterface {
  linkType: number;
  /** Timestamp units per millisecond. */
  unitsPerMs: number;
}

export function readPcapng(buf: Buffer, stats: CaptureStats = newCaptureStats()): UdpDatagram[] {
  const out: UdpDatagram[] = [];
  let ifaces: PcapngInterface[] = [];
  let le = true;
  let o = 0;
  while (buf.length - o >= 12) {
    const type = buf.readUInt32LE(o);
    if (type === 0x0a0d0d0a) {
      const bom = buf.readUInt32LE(o + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new CaptureFormatError(`pcapng section header at ${o} has a bad byte-order magic`);
      ifaces = [];
    }
    const r32 = (p: number) => (le ? buf.readUInt32LE(p) : buf.readUInt32BE(p));
    const r16 = (p: number) => (le ? buf.readUInt16LE(p) : buf.readUInt16BE(p));
    const blockType = r32(o);
    const blockLen = r32(o + 4);
    if (blockLen < 12 || blockLen % 4 !== 0 || blockLen > buf.length - o) {
      if (o === 0) throw new CaptureFormatError('pcapng section header block has a bad length');
      skip(stats, 'truncated_block');
      break;
    }
    const body = o + 8;
    const bodyEnd = o + blockLen - 4;
    if (blockType === 1 && bodyEnd - body >= 8) {
      ifaces.push({ linkType: r16(body), unitsPerMs: tsResolution(buf, body + 8, bodyEnd, r16) });
    } else if (blockType === 6 && bodyEnd - body >= 20) {
      const iface = ifaces[r32(body)];
      const capLen = r32(body + 12);
      stats.packets++;
      if (iface === undefined) skip(stats, 'unknown_interface');
      else if (capLen > bodyEnd - body - 20) skip(stats, 'truncated_record');
      else {
        const ts = (r32(body + 4) * 0x100000000 + r32(body + 8)) / iface.unitsPerMs;
        const d = linkPacket(
          buf.subarray(body + 20, body + 20 + capLen),
          iface.linkType,
          Math.floor(ts),
          stats,
        );
        if (d !== undefined) out.push(d);
      }
    } else if (blockType === 3 && bodyEnd - body >= 4) {
      const iface = ifaces[0];
      stats.packets++;
      const origLen = r32(body);
      const capLen = Math.min(origLen, bodyEnd - body - 4);
      if (iface === undefined) skip(stats, 'unknown_interface');
      else {
        const d = linkPacket(buf.subarray(body + 4, body + 4 + capLen), iface.linkType, 0, stats);
        if (d !== undefined) out.push(d);
      }
    } else if (blockType === 2 && bodyEnd - body >= 20) {
      // obsolete Packet Block
      const iface = ifaces[r16(body)];
      const capLen = r32(body + 12);
      stats.packets++;
      if (iface === undefined) skip(stats, 'unknown_interface');
      else if (capLen > bodyEnd - body - 20) skip(stats, 'truncated_record');
      else {
        const ts = (r32(body + 4) * 0x100000000 + r32(body + 8)) / iface.unitsPerMs;
        const d = linkPacket(
          buf.subarray(body + 20, body + 20 + capLen),
          iface.linkType,
          Math.floor(ts),
          stats,
        );
        if (d !== undefined) out.push(d);
      }
    }
    o += blockLen;
  }
  return out;
}

/** if_tsresol option (code 9): 10^-n or 2^-n seconds; default microseconds. */
function tsResolution(buf: Buffer, o: number, end: number, r16: (p: number) => number): number {
  while (end - o >= 4) {
    const code = r16(o);
    const len = r16(o + 2);
    if (code === 0) break;
    if (code === 9 && len >= 1 && o + 4 < end) {
      const v = buf[o + 4] as number;
      const unitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
      return unitsPerSec / 1000;
    }
    o += 4 + ((len + 3) & ~3);
  }
  return 1000;
}

function linkPacket(p: Buffer, linkType: number, ts: number, stats: CaptureStats): UdpDatagram | undefined {
  switch (linkType) {
    case LINK_ETHERNET:
      return ethernet(p, 0, ts, stats);
    case LINK_RAW:
    case LINK_IPV4:
    case LINK_IPV6:
      return ip(p, 0, ts, stats);
    case LINK_LINUX_SLL:
      if (p.length < 16) return skipped(stats, 'truncated_link');
      return etherType(p, p.readUInt16BE(14), 16, ts, stats);
    case LINK_LINUX_SLL2:
      if (p.length < 20) return skipped(stats, 'truncated_link');
      return etherType(p, p.readUInt16BE(0), 20, ts, stats);
    case LINK_NULL:
    case LINK_LOOP:
      if (p.length < 4) return skipped(stats, 'truncated_link');
      return ip(p, 4, ts, stats);
    default:
      return skipped(stats, `link_type_${linkType}`);
  }
}

function skipped(stats: CaptureStats, reason: string): undefined {
  skip(stats, reason);
  return undefined;
}

function ethernet(p: Buffer, o: number, ts: number, stats: CaptureStats): UdpDatagram | undefined {
  if (p.length - o < 14) return skipped(stats, 'truncated_link');
  return etherType(p, p.readUInt16BE(o + 12), o + 14, ts, stats);
}

function etherType(
  p: Buffer,
  type: number,
  o: number,
  ts: number,
  stats: CaptureStats,
): UdpDatagram | undefined {
  while (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
    if (p.length - o < 4) return skipped(stats, 'truncated_link');
    type = p.readUInt16BE(o + 2);
    o += 4;
  }
  if (type === 0x0800 || type === 0x86dd) return ip(p, o, ts, stats);
  return skipped(stats, 'not_ip');
}

function ip(p: Buffer, o: number, ts: number, stats: CaptureStats): UdpDatagram | undefined {
  if (p.length - o < 1) return skipped(stats, 'truncated_ip');
  const version = (p[o] as number) >> 4;
  if (version === 4) {
    if (p.length - o < 20) return skipped(stats, 'truncated_ip');
    const ihl = ((p[o] as number) & 0x0f) * 4;
    const total = p.readUInt16BE(o + 2);
    const flagsFrag = p.readUInt16BE(o + 6);
    if ((flagsFrag & 0x1fff) !== 0 || (flagsFrag & 0x2000) !== 0) return skipped(stats, 'ip_fragment');
    if (p[o + 9] !== 17) return skipped(stats, 'not_udp');
    const end = Math.min(p.length, o + (total >= ihl ? total : p.length - o));
    const src = `${p[o + 12]}.${p[o + 13]}.${p[o + 14]}.${p[o + 15]}`;
    const dst = `${p[o + 16]}.${p[o + 17]}.${p[o + 18]}.${p[o + 19]}`;
    return udp(p, o + ihl, end, src, dst, ts, stats);
  }
  if (version === 6) {
    if (p.length - o < 40) return skipped(stats, 'truncated_ip');
    const payloadLen = p.readUInt16BE(o + 4);
    let next = p[o + 6] as number;
    let q = o + 40;
    const end = Math.min(p.length, q + payloadLen);
    for (let i = 0; i < 8 && (next === 0 || next === 43 || next === 60 || next === 44); i++) {
      if (end - q < 8) return skipped(stats, 'truncated_ip');
      if (next === 44) return skipped(stats, 'ip_fragment');
      const len = ((p[q + 1] as number) + 1) * 8;
      next = p[q] as number;
      q += len;
    }
    if (next !== 17) return skipped(stats, 'not_udp');
    return udp(p, q, end, ipv6Text(p, o + 8), ipv6Text(p, o + 24), ts, stats);
  }
  return skipped(stats, 'not_ip');
}

function udp(
  p: Buffer,
  o: number,
  end: number,
  srcIp: string,
  dstIp: string,
  ts: number,
  stats: CaptureStats,
): UdpDatagram | undefined {
  if (end - o < 8) return skipped(stats, 'truncated_udp');
  const len = p.readUInt16BE(o + 4);
  const payloadEnd = len >= 8 ? Math.min(end, o + len) : end;
  stats.udp++;
  return {
    srcIp,
    srcPort: p.readUInt16BE(o),
    dstIp,
    dstPort: p.readUInt16BE(o + 2),
    timestampMs: ts,
    payload: Buffer.from(p.subarray(o + 8, payloadEnd)),
  };
}

function ipv6Text(p: Buffer, o: number): string {
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(p.readUInt16BE(o + i * 2).toString(16));
  // RFC 5952: compress the longest run of zero groups
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

/**
 * Splits a raw datagram file into datagrams, using each header's own framing where the protocol
 * has one: NetFlow v5 (24 + 48 × count), IPFIX (message length). NetFlow v9 and sFlow carry no
 * total length; a v9 file is split where a flowset walk meets a new v9 header (flowset id 9 is
 * reserved, so it cannot be a set). Whatever cannot be framed stays in the last datagram.
 */
export function splitRawDatagrams(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let o = 0;
  while (o < buf.length) {
    const len = framedLength(buf, o);
    if (len <= 0 || len >= buf.length - o) {
      out.push(buf.subarray(o));
      break;
    }
    out.push(buf.subarray(o, o + len));
    o += len;
  }
  return out;
}

/** Length of the datagram starting at `o` when its header tells, else 0 (take the rest). */
function framedLength(buf: Buffer, o: number): number {
  const rest = buf.length - o;
  if (rest < 4) return 0;
  const version = buf.readUInt16BE(o);
  if (version === 5 && rest >= 24) {
    const count = buf.readUInt16BE(o + 2);
    const len = 24 + 48 * count;
    return len < rest && looksLikeHeader(buf, o + len) ? len : 0;
  }
  if (version === 10 && rest >= 16) {
    const len = buf.readUInt16BE(o + 2);
    return len >= 16 && len < rest && looksLikeHeader(buf, o + len) ? len : 0;
  }
  if (version === 9 && rest >= 20) {
    let p = o + 20;
    while (buf.length - p >= 4) {
      const setId = buf.readUInt16BE(p);
      const setLen = buf.readUInt16BE(p + 2);
      if (setId === 9 && p > o + 20 && looksLikeHeader(buf, p)) return p - o;
      if (setLen < 4) return 0;
      p += setLen;
    }
    return 0;
  }
  return 0;
}

function looksLikeHeader(buf: Buffer, o: number): boolean {
  if (buf.length - o < 16) return false;
  const v = buf.readUInt16BE(o);
  if (v === 5) return buf.readUInt16BE(o + 2) <= 30;
  if (v === 9) return buf.length - o >= 20;
  if (v === 10) return buf.readUInt16BE(o + 2) >= 16;
  return false;
}
