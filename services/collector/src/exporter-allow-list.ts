import { isIP } from 'node:net';

interface Cidr {
  v6: boolean;
  bytes: Uint8Array;
  prefix: number;
}

function ipBytes(ip: string): Uint8Array | undefined {
  const kind = isIP(ip);
  if (kind === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (kind !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return ipBytes(mapped[1]!);
  const words = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((g) => {
          if (!g.includes('.')) return [Number.parseInt(g, 16)];
          const b = g.split('.').map(Number) as [number, number, number, number];
          return [(b[0] << 8) | b[1], (b[2] << 8) | b[3]];
        });
  const [head = '', tail] = ip.split('::');
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
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
