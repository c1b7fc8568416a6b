import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses as numbers so CIDR filters become numeric ranges. IPv4: one uint32. IPv6: three
 * parts that each fit a double exactly (48 + 48 + 32 bits), because Qdrant's integer payload is a
 * JSON number; an aligned IPv6 prefix is then exact: equal high parts plus a range on one part.
 */
export interface IpNumeric {
  v4: number | null;
  v6: [number, number, number] | null;
}

export function ipv4ToNumber(ip: string): number {
  const parts = ip.split('.');
  let n = 0;
  for (const p of parts) n = n * 256 + Number(p);
  return n;
}

/**
 * A canonical dotted-quad IPv4 address (what net.isIPv4 accepts: four decimal parts 0-255, no
 * leading zeros) as a number; NaN for anything else. One pass over the characters.
 */
export function parseIpv4(ip: string): number {
  const len = ip.length;
  if (len < 7 || len > 15) return Number.NaN;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return Number.NaN;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return Number.NaN;
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return Number.NaN;
    } else return Number.NaN;
  }
  if (dots !== 3 || digits === 0) return Number.NaN;
  return n * 256 + part;
}

export function ipv6ToBigInt(ip: string): bigint {
  let text = ip;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToNumber(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headParts = head ? head.split(':') : [];
  const restParts = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest !== undefined ? 8 - headParts.length - restParts.length : 0;
  const groups = [...headParts, ...Array<string>(fill).fill('0'), ...restParts];
  let n = 0n;
  for (const g of groups) n = (n << 16n) | BigInt(Number.parseInt(g || '0', 16));
  return n;
}

const MASK48 = (1n << 48n) - 1n;
const MASK32 = (1n << 32n) - 1n;

export function splitV6(n: bigint): [number, number, number] {
  return [Number((n >> 80n) & MASK48), Number((n >> 32n) & MASK48), Number(n & MASK32)];
}

export function ipNumeric(ip: string): IpNumeric {
  if (isIPv4(ip)) return { v4: ipv4ToNumber(ip), v6: null };
  if (isIPv6(ip)) return { v4: null, v6: splitV6(ipv6ToBigInt(ip)) };
  return { v4: null, v6: null };
}

/** A parsed address filter: exact text, or an IPv4 / IPv6 CIDR as inclusive numeric bounds. */
export type IpMatcher =
  | { kind: 'exact'; ip: string }
  | { kind: 'v4'; lo: number; hi: number }
  | { kind: 'v6'; lo: bigint; hi: bigint; prefix: number };

export class InvalidIpFilterError extends Error {
  override name = 'InvalidIpFilterError';
}

export function parseIpFilter(text: string): IpMatcher {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (!isIPv4(text) && !isIPv6(text))
      throw new InvalidIpFilterError(`not an IP address or CIDR: '${text}'`);
    return { kind: 'exact', ip: text };
  }
  const addr = text.slice(0, slash);
  const prefix = Number(text.slice(slash + 1));
  if (isIPv4(addr)) {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new InvalidIpFilterError(`bad IPv4 prefix length in '${text}'`);
    }
    const size = 2 ** (32 - prefix);
    const lo = Math.floor(ipv4ToNumber(addr) / size) * size;
    return { kind: 'v4', lo, hi: lo + size - 1 };
  }
  if (isIPv6(addr)) {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
      throw new InvalidIpFilterError(`bad IPv6 prefix length in '${text}'`);
    }
    const hostBits = BigInt(128 - prefix);
    const lo = (ipv6ToBigInt(addr) >> hostBits) << hostBits;
    return { kind: 'v6', lo, hi: lo + (1n << hostBits) - 1n, prefix };
  }
  throw new InvalidIpFilterError(`not an IP address or CIDR: '${text}'`);
}

export function ipMatches(m: IpMatcher, ip: string): boolean {
  switch (m.kind) {
    case 'exact':
      return ip === m.ip;
    case 'v4': {
      if (!isIPv4(ip)) return false;
      const n = ipv4ToNumber(ip);
      return n >= m.lo && n <= m.hi;
    }
    case 'v6': {
      if (!isIPv6(ip)) return false;
      const n = ipv6ToBigInt(ip);
      return n >= m.lo && n <= m.hi;
    }
  }
}
