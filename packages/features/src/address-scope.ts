import { parseIPv4, parseIPv6Into } from '@tidewatch/contracts';
import { ADDRESS_SCOPES } from './spec.ts';

/**
 * features.v2 `address_scope_rules`: the class of an address (multicast/broadcast, loopback/unspecified,
 * link-local, private, public), never the address itself. Parsing is the shared parser in Python's
 * `ipaddress` dialect (the training side), and like `model.features.address_scope` a string with
 * surrounding white space (possible only inside a zone id: `fe80::1%eth0\n`) is no address, so
 * that both sides call the same strings addresses.
 */
const MULTICAST_BROADCAST = ADDRESS_SCOPES.indexOf('multicast_broadcast');
const LOOPBACK_UNSPECIFIED = ADDRESS_SCOPES.indexOf('loopback_unspecified');
const LINK_LOCAL = ADDRESS_SCOPES.indexOf('link_local');
const PRIVATE = ADDRESS_SCOPES.indexOf('private');
const PUBLIC = ADDRESS_SCOPES.indexOf('public');

/** The eight groups of the last IPv6 address parsed (one buffer: a scope is a few comparisons). */
const groups = new Uint16Array(8);

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

function ipv6Scope(g: Uint16Array): number {
  const g0 = g[0] as number;
  const zeroHead = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0;
  if (zeroHead && g[5] === 0xffff) return ipv4Scope((g[6] as number) * 0x10000 + (g[7] as number));
  if (g0 >>> 8 === 0xff) return MULTICAST_BROADCAST;
  if (zeroHead && g[5] === 0 && g[6] === 0 && (g[7] === 0 || g[7] === 1)) return LOOPBACK_UNSPECIFIED;
  if ((g0 & 0xffc0) === 0xfe80) return LINK_LOCAL;
  if ((g0 & 0xfe00) === 0xfc00) return PRIVATE;
  return PUBLIC;
}

/** Python's `str.isspace()` for one UTF-16 code unit (what `str.strip()` removes). */
function pythonSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Index into ADDRESS_SCOPES of `ip`'s class, or -1 when `ip` is not an IP address. */
export function addressScopeIndex(ip: string): number {
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return ipv4Scope(v4);
  if (!parseIPv6Into(ip, groups, 'ipaddress')) return -1;
  if (pythonSpace(ip.charCodeAt(ip.length - 1))) return -1;
  return ipv6Scope(groups);
}
