/**
 * IP address text → numbers: the one parser of the product (features.v2's address scope, the
 * vector store's address and CIDR filters). One pass over the characters, no allocation.
 *
 * IPv4 is the strict dotted quad only: four decimal parts 0-255, no leading zeros, no other radix,
 * no surrounding space (`01.2.3.4`, `1.2.3`, `0x7f.0.0.1`, ` 1.2.3.4` are not addresses). Python's
 * `ipaddress` (3.9.5 and later) and node:net agree on that set.
 *
 * IPv6 is RFC 4291 text: up to eight hex groups of 1-4 digits in either case, one `::` that stands
 * for at least one zero group, an optional dotted-quad IPv4 tail in the last 32 bits
 * (`::ffff:1.2.3.4`, `64:ff9b::8.8.8.8`, held to the IPv4 rules above), and an optional `%zone`
 * id, which the value ignores. Python's `ipaddress` and node:net agree on every IPv6 string but the
 * zone id, so that is the one choice a caller makes (`IpDialect`):
 * - `'ipaddress'`: Python's `ipaddress.ip_address` (the training side): any non-empty zone without
 *   `%` or `/` (`fe80::1%Ethernet 2` is an address).
 * - `'node:net'`: `net.isIPv6`: a zone of letters, digits, `-`, `.` and `:` only.
 */
export type IpDialect = 'ipaddress' | 'node:net';

/** `text` as an unsigned 32-bit IPv4 value, or -1 when it is not a dotted-quad IPv4 address. */
export function parseIPv4(text: string): number {
  return parseIPv4At(text, 0, text.length);
}

/** `text.slice(from, end)` as an IPv4 value (see `parseIPv4`), or -1. */
function parseIPv4At(text: string, from: number, end: number): number {
  const len = end - from;
  if (len < 7 || len > 15) return -1;
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1;
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return n * 256 + part;
}

/** Whether `text.slice(from)` is a zone id the dialect accepts. */
function validZone(text: string, from: number, dialect: IpDialect): boolean {
  const end = text.length;
  if (from >= end) return false;
  for (let i = from; i < end; i++) {
    const c = text.charCodeAt(i);
    if (dialect === 'ipaddress') {
      if (c === 37 || c === 47) return false; // % /
    } else if (
      !(
        (c >= 48 && c <= 58) || // 0-9 :
        (c >= 65 && c <= 90) ||
        (c >= 97 && c <= 122) ||
        c === 45 || // -
        c === 46 // .
      )
    ) {
      return false;
    }
  }
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * Parses IPv6 text into its eight 16-bit groups (`out[0]` the most significant); false, with `out`
 * in an unspecified state, when `text` is not an IPv6 address in `dialect` (see `IpDialect`).
 */
export function parseIPv6Into(text: string, out: Uint16Array | number[], dialect: IpDialect): boolean {
  let end = text.length;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    if (!validZone(text, pct + 1, dialect)) return false;
    end = pct;
  }
  if (end < 2) return false;
  let n = 0; // groups written
  let skip = -1; // where `::` stands, in groups
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    skip = 0;
    i = 2;
  }
  while (i < end) {
    let v = 0;
    let digits = 0;
    let j = i;
    for (; j < end; j++) {
      const d = hexDigit(text.charCodeAt(j));
      if (d < 0) break;
      if (++digits > 4) return false;
      v = v * 16 + d;
    }
    if (j < end && text.charCodeAt(j) === 46) {
      // A dotted-quad tail: the rest of the text is the last 32 bits.
      if (n > 6) return false;
      const v4 = parseIPv4At(text, i, end);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || n === 8) return false;
    out[n++] = v;
    if (j === end) break;
    if (text.charCodeAt(j) !== 58) return false;
    j++;
    if (j === end) return false; // a lone trailing ':'
    if (text.charCodeAt(j) === 58) {
      if (skip >= 0) return false;
      skip = n;
      j++;
    }
    i = j;
  }
  if (skip < 0) return n === 8;
  if (n > 7) return false; // `::` must stand for at least one group
  const tail = n - skip;
  for (let k = 1; k <= tail; k++) out[8 - k] = out[n - k] as number;
  for (let k = skip; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/** IPv6 text as eight 16-bit groups, or null (see `parseIPv6Into`). */
export function parseIPv6(text: string, dialect: IpDialect): Uint16Array | null {
  const out = new Uint16Array(8);
  return parseIPv6Into(text, out, dialect) ? out : null;
}

const scratch = new Uint16Array(8);

/** 4 or 6 when `text` is an IPv4 or IPv6 address in `dialect`, else 0 (like `net.isIP`). */
export function ipFamily(text: string, dialect: IpDialect): 0 | 4 | 6 {
  if (parseIPv4(text) >= 0) return 4;
  return parseIPv6Into(text, scratch, dialect) ? 6 : 0;
}

/** Eight 16-bit groups as one 128-bit value. */
export function ipv6GroupsToBigInt(groups: Uint16Array | readonly number[]): bigint {
  let n = 0n;
  for (let i = 0; i < 8; i++) n = (n << 16n) | BigInt(groups[i] as number);
  return n;
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries, or -1 for any other. */
export function ipv4Mapped(groups: Uint16Array | readonly number[]): number {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return -1;
  if (groups[5] !== 0xffff) return -1;
  return (groups[6] as number) * 0x10000 + (groups[7] as number);
}
