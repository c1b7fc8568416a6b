import { ipv4, ipv6, u16 } from './wire.ts';

/** What a sampled packet header (sFlow raw header, IPFIX dataLinkFrameSection) tells about its flow. */
export interface SampledHeader {
  srcIp: string;
  dstIp: string;
  protocol: number;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  vlan: number; // -1 when untagged
  icmpType: number; // -1 when not ICMP
  icmpCode: number;
  ipTotalLength: number; // 0 when unknown
  found: boolean; // an IP header was present
}

export function emptySampledHeader(): SampledHeader {
  return {
    srcIp: '',
    dstIp: '',
    protocol: 0,
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0,
    vlan: -1,
    icmpType: -1,
    icmpCode: -1,
    ipTotalLength: 0,
    found: false,
  };
}

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const ETH_VLAN = 0x8100;
const ETH_QINQ = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;

/** Decodes an Ethernet frame (as far as it was captured) into `out`. */
export function parseEthernet(b: Uint8Array, off: number, end: number, out: SampledHeader): void {
  if (end - off < 14) return;
  let o = off + 12;
  let type = u16(b, o);
  o += 2;
  while ((type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) && end - o >= 4) {
    if (out.vlan < 0) out.vlan = u16(b, o) & 0x0fff;
    type = u16(b, o + 2);
    o += 4;
  }
  parseEthertype(b, o, end, type, out);
}

function parseEthertype(b: Uint8Array, o: number, end: number, type: number, out: SampledHeader): void {
  if (type === ETH_IPV4) parseIPv4(b, o, end, out);
  else if (type === ETH_IPV6) parseIPv6(b, o, end, out);
  else if (type === ETH_MPLS || type === ETH_MPLS_MC) parseMpls(b, o, end, out);
}

/** Skips an MPLS label stack; the payload family is guessed from the IP version nibble (RFC 4385 control word skipped). */
export function parseMpls(b: Uint8Array, o: number, end: number, out: SampledHeader): void {
  for (let n = 0; n < 16 && end - o >= 4; n++) {
    const bottom = ((b[o + 2] as number) & 1) === 1;
    o += 4;
    if (bottom) break;
  }
  if (o >= end) return;
  parseIp(b, o, end, out);
}

/** IP packet whose family is read from the version nibble; a first nibble of 0 is a pseudowire control word before Ethernet. */
export function parseIp(b: Uint8Array, o: number, end: number, out: SampledHeader): void {
  if (o >= end) return;
  const version = (b[o] as number) >> 4;
  if (version === 4) parseIPv4(b, o, end, out);
  else if (version === 6) parseIPv6(b, o, end, out);
  else if (version === 0 && end - o >= 4) parseEthernet(b, o + 4, end, out);
}

export function parseIPv4(b: Uint8Array, o: number, end: number, out: SampledHeader): void {
  if (end - o < 20) return;
  const ihl = ((b[o] as number) & 0x0f) * 4;
  if (ihl < 20) return;
  out.found = true;
  out.ipTotalLength = u16(b, o + 2);
  const fragOffset = u16(b, o + 6) & 0x1fff;
  out.protocol = b[o + 9] as number;
  out.srcIp = ipv4(b, o + 12);
  out.dstIp = ipv4(b, o + 16);
  if (fragOffset === 0) parseTransport(b, o + ihl, end, out.protocol, out);
}

export function parseIPv6(b: Uint8Array, o: number, end: number, out: SampledHeader): void {
  if (end - o < 40) return;
  out.found = true;
  out.ipTotalLength = u16(b, o + 4) + 40;
  out.srcIp = ipv6(b, o + 8);
  out.dstIp = ipv6(b, o + 24);
  let next = b[o + 6] as number;
  let p = o + 40;
  let segmentRouting = false;
  // hop-by-hop, routing, destination options, fragment
  for (let n = 0; n < 8; n++) {
    if (next === 0 || next === 43 || next === 60) {
      if (end - p < 8) break;
      if (next === 43 && b[p + 2] === 4) segmentRouting = true;
      const len = ((b[p + 1] as number) + 1) * 8;
      next = b[p] as number;
      p += len;
    } else if (next === 44) {
      if (end - p < 8) break;
      const fragOffset = u16(b, p + 2) >> 3;
      next = b[p] as number;
      p += 8;
      if (fragOffset !== 0) {
        out.protocol = next;
        return;
      }
    } else break;
  }
  out.protocol = next;
  // SRv6 (RFC 8754) carries the customer packet: report the inner flow
  if (segmentRouting && next === 4) parseIPv4(b, p, end, out);
  else if (segmentRouting && next === 41) parseIPv6(b, p, end, out);
  else parseTransport(b, p, end, next, out);
}

function parseTransport(b: Uint8Array, o: number, end: number, protocol: number, out: SampledHeader): void {
  if (protocol === 6 || protocol === 17 || protocol === 132 || protocol === 33) {
    if (end - o < 4) return;
    out.srcPort = u16(b, o);
    out.dstPort = u16(b, o + 2);
    if (protocol === 6 && end - o >= 14) out.tcpFlags = b[o + 13] as number;
  } else if (protocol === 1 || protocol === 58) {
    if (end - o < 2) return;
    out.icmpType = b[o] as number;
    out.icmpCode = b[o + 1] as number;
  }
}
