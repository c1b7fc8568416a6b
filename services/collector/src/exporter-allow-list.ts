import { ipv4Mapped, parseIPv4, parseIPv6Into } from '@tidewatch/contracts';

interface Cidr {
  v6: boolean;
  bytes: Uint8Array;
  prefix: number;
}

const groups = new Uint16Array(8);
const MAPPED_TEXT = /^::ffff:\d+\.\d+\.\d+\.\d+$/i;

function v4Bytes(v: number): Uint8Array {
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/**
 * An address's bytes (4 or 16), by the shared parser in the node:net dialect (what the sockets
 * report); the IPv4-mapped form `::ffff:a.b.c.d` (as written, no zone) gives the IPv4 bytes.
 */
function ipBytes(ip: string): Uint8Array | undefined {
  const v4 = parseIPv4(ip);
  if (v4 >= 0) return v4Bytes(v4);
  if (!parseIPv6Into(ip, groups, 'node:net')) return undefined;
  const mapped = ipv4Mapped(groups);
  if (mapped >= 0 && MAPPED_TEXT.test(ip)) return v4Bytes(mapped);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const w = groups[i] as number;
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  }
  return out;
}

/**
 * Exporters allowed to send flows, as CIDRs (IPv4 and IPv6; an address alone is a /32 or /128).
 * An empty list allows everyone. IPv4-mapped IPv6 sources (::ffff:a.b.c.d) match IPv4 CIDRs.
 */
export class ExporterAllowList {
  readonly #cidrs: Cidr[];
  readonly #cache = new Map<string, boolean>();

  constructor(cidrs: string[]) {
    this.#cidrs = cidrs.map((c) => ExporterAllowList.parse(c));
  }

  static parse(text: string): Cidr {
    const [addr, len] = text.trim().split('/') as [string, string?];
    const bytes = ipBytes(addr);
    if (!bytes) throw new Error(`exporter allow-list entry '${text}' is not an IP address or CIDR`);
    const max = bytes.length * 8;
    const prefix = len === undefined ? max : Number(len);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (len !== undefined && !/^\d+$/.test(len)))
      throw new Error(`exporter allow-list entry '${text}' has a bad prefix length (0-${max})`);
    return { v6: bytes.length === 16, bytes, prefix };
  }

  get empty(): boolean {
    return this.#cidrs.length === 0;
  }

  allows(ip: string): boolean {
    if (this.#cidrs.length === 0) return true;
    const cached = this.#cache.get(ip);
    if (cached !== undefined) return cached;
    const bytes = ipBytes(ip);
    const ok = bytes !== undefined && this.#cidrs.some((c) => matches(c, bytes));
    if (this.#cache.size > 65_536) this.#cache.clear();
    this.#cache.set(ip, ok);
    return ok;
  }
}

function matches(c: Cidr, bytes: Uint8Array): boolean {
  if (c.bytes.length !== bytes.length) return false;
  const whole = c.prefix >> 3;
  for (let i = 0; i < whole; i++) if (c.bytes[i] !== bytes[i]) return false;
  const bits = c.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((c.bytes[whole]! ^ bytes[whole]!) & mask) === 0;
}
