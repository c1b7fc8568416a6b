import { ipv6GroupsToBigInt, parseIPv4, parseIPv6Into } from '@tidewatch/contracts';

/**
 * IP addresses as numbers so CIDR filters become numeric ranges. IPv4: one uint32. IPv6: three
 * parts that each fit a double exactly (48 + 48 + 32 bits), because Qdrant's integer payload is a
 * JSON number; an aligned IPv6 prefix is then exact: equal high parts plus a range on one part.
 *
 * Parsing is the shared parser (@tidewatch/contracts) in the `node:net` dialect: the store calls
 * exactly the strings `net.isIPv4` / `net.isIPv6` accept addresses (a zone id is letters, digits,
 * `-`, `.` and `:`), as it did when it asked node:net.
 */
export interface IpNumeric {
  v4: number | null;
  v6: [number, number, number] | null;
}

/** The eight groups of the last IPv6 address parsed. */
const groups = new Uint16Array(8);

/** A dotted-quad IPv4 address as a number; NaN for anything else (the columns' "no IPv4"). */
export function parseIpv4(ip: string): number {
  const n = parseIPv4(ip);
  return n < 0 ? Number.NaN : n;
}

/** An IPv6 address as a 128-bit value; -1n when `ip` is not one. */
export function ipv6ToBigInt(ip: string): bigint {
  return parseIPv6Into(ip, groups, 'node:net') ? ipv6GroupsToBigInt(groups) : -1n;
}

const MASK48 = (1n << 48n) - 1n;
const MASK32 = (1n << 32n) - 1n;

export function splitV6(n: bigint): [number, number, number] {
  return [Number((n >> 80n) & MASK48), Number((n >> 32n) & MASK48), Number(n & MASK32)];
}

export function ipNumeric(ip: string): IpNumeric {
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return { v4, v6: null };
  if (!parseIPv6Into(ip, groups, 'node:net')) return { v4: null, v6: null };
  const g = groups;
  return {
    v4: null,
    v6: [
      ((g[0] as number) * 0x10000 + (g[1] as number)) * 0x10000 + (g[2] as number),
      ((g[3] as number) * 0x10000 + (g[4] as number)) * 0x10000 + (g[5] as number),
      (g[6] as number) * 0x10000 + (g[7] as number),
    ],
  };
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
    if (parseIPv4(text) < 0 && !parseIPv6Into(text, groups, 'node:net'))
      throw new InvalidIpFilterError(`not an IP address or CIDR: '${text}'`);
    return { kind: 'exact', ip: text };
  }
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  // Decimal digits only: Number('') is 0 and Number('0x18') is 24, which would widen a filter silently.
  const prefix = /^[0-9]{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  const v4 = parseIPv4(addr);
  if (v4 >= 0) {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new InvalidIpFilterError(`bad IPv4 prefix length in '${text}'`);
    }
    const size = 2 ** (32 - prefix);
    const lo = Math.floor(v4 / size) * size;
    return { kind: 'v4', lo, hi: lo + size - 1 };
  }
  const v6 = ipv6ToBigInt(addr);
  if (v6 >= 0n) {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 128) {
      throw new InvalidIpFilterError(`bad IPv6 prefix length in '${text}'`);
    }
    const hostBits = BigInt(128 - prefix);
    const lo = (v6 >> hostBits) << hostBits;
    return { kind: 'v6', lo, hi: lo + (1n << hostBits) - 1n, prefix };
  }
  throw new InvalidIpFilterError(`not an IP address or CIDR: '${text}'`);
}

export function ipMatches(m: IpMatcher, ip: string): boolean {
  switch (m.kind) {
    case 'exact':
      return ip === m.ip;
    case 'v4': {
      const n = parseIPv4(ip);
      return n >= m.lo && n <= m.hi;
    }
    case 'v6': {
      const n = ipv6ToBigInt(ip);
      return n >= m.lo && n <= m.hi;
    }
  }
}
