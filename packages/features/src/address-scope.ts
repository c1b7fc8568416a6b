import { ADDRESS_SCOPES } from './spec.ts';

/**
 * features.v2 `address_scope_rules`: the class of an address (multicast/broadcast, loopback/unspecified,
 * link-local, private, public), never the address itself. Parsing follows Python's `ipaddress` (the
 * training side), so that both sides call the same strings addresses.
 */
const MULTICAST_BROADCAST = ADDRESS_SCOPES.indexOf('multicast_broadcast');
const LOOPBACK_UNSPECIFIED = ADDRESS_SCOPES.indexOf('loopback_unspecified');
const LINK_LOCAL = ADDRESS_SCOPES.indexOf('link_local');
const PRIVATE = ADDRESS_SCOPES.indexOf('private');
const PUBLIC = ADDRESS_SCOPES.indexOf('public');

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** IPv4 dotted quad → unsigned 32-bit value, or -1. */
export function parseIPv4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return -1;
    const o = Number(p);
    if (o > 255) return -1;
    v = v * 256 + o;
  }
  return v;
}

/** IPv6 text (optional %zone, optional trailing dotted IPv4) → 8 groups, or null. */
export function parseIPv6(text: string): number[] | null {
  const pct = text.indexOf('%');
  let s = text;
  if (pct >= 0) {
    const zone = text.slice(pct + 1);
    if (zone.length === 0 || zone.includes('%')) return null;
    s = text.slice(0, pct);
  }
  const parts = s.split(':');
  if (parts.length < 3) return null;
  const tail = parts[parts.length - 1] as string;
  if (tail.includes('.')) {
    const v4 = parseIPv4(tail);
    if (v4 < 0) return null;
    parts.splice(parts.length - 1, 1, (v4 >>> 16).toString(16), (v4 & 0xffff).toString(16));
  }
  if (parts.length > 9) return null;
  let skip = -1;
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i] === '') {
      if (skip >= 0) return null;
      skip = i;
    }
  }
  let hi: number;
  let lo: number;
  if (skip >= 0) {
    hi = skip;
    lo = parts.length - skip - 1;
    if (parts[0] === '' && --hi !== 0) return null;
    if (parts[parts.length - 1] === '' && --lo !== 0) return null;
    if (8 - (hi + lo) < 1) return null;
  } else {
    if (parts.length !== 8 || parts[0] === '' || parts[7] === '') return null;
    hi = 8;
    lo = 0;
  }
  const groups = new Array<number>(8).fill(0);
  for (let i = 0; i < hi; i++) {
    const p = parts[i] as string;
    if (!HEXTET.test(p)) return null;
    groups[i] = Number.parseInt(p, 16);
  }
  for (let i = 0; i < lo; i++) {
    const p = parts[parts.length - lo + i] as string;
    if (!HEXTET.test(p)) return null;
    groups[8 - lo + i] = Number.parseInt(p, 16);
  }
  return groups;
}

function ipv4Scope(v: number): number {
  const a = Math.floor(v / 0x1000000);
  const b = Math.floor(v / 0x10000) % 256;
  if (a >= 224 && a <= 239) return MULTICAST_BROADCAST;
  if (v === 0xffffffff) return MULTICAST_BROADCAST;
  if (a === 0 || a === 127) return LOOPBACK_UNSPECIFIED;
  if (a === 169 && b === 254) return LINK_LOCAL;
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return PRIVATE;
  if (a === 100 && b >= 64 && b <= 127) return PRIVATE;
  return PUBLIC;
}

function ipv6Scope(g: number[]): number {
  const g0 = g[0] as number;
  const zeroHead = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0;
  if (zeroHead && g[5] === 0xffff) return ipv4Scope((g[6] as number) * 0x10000 + (g[7] as number));
  if (g0 >>> 8 === 0xff) return MULTICAST_BROADCAST;
  if (zeroHead && g[5] === 0 && g[6] === 0 && (g[7] === 0 || g[7] === 1)) return LOOPBACK_UNSPECIFIED;
  if ((g0 & 0xffc0) === 0xfe80) return LINK_LOCAL;
  if ((g0 & 0xfe00) === 0xfc00) return PRIVATE;
  return PUBLIC;
}

/** Index into ADDRESS_SCOPES of `ip`'s class, or -1 when `ip` is not an IP address. */
export function addressScopeIndex(ip: string): number {
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return ipv4Scope(v4);
  const v6 = parseIPv6(ip);
  return v6 === null ? -1 : ipv6Scope(v6);
}
