import { BlockList, isIP } from 'node:net';
import type { DeviceTypeEntry, DeviceTypeStore } from './stores/domain.ts';

interface DeviceRange {
  list: BlockList;
  prefix: number;
  entry: DeviceTypeEntry;
}

/** Device types by address or CIDR; exact addresses win over the narrowest matching CIDR. */
export class DeviceTypeIndex {
  #exact = new Map<string, DeviceTypeEntry>();
  #ranges: DeviceRange[] = [];
  #loadedAt = 0;

  constructor(
    private readonly store: DeviceTypeStore,
    private readonly ttlMs = 5_000,
  ) {}

  async refresh(force = false): Promise<void> {
    if (!force && Date.now() - this.#loadedAt < this.ttlMs) return;
    const entries = await this.store.list();
    const exact = new Map<string, DeviceTypeEntry>();
    const ranges: DeviceRange[] = [];
    for (const e of entries) {
      const [addr, bits] = e.address.split('/');
      const family = isIP(addr ?? '');
      if (bits === undefined) exact.set(e.address, e);
      else if (family) {
        const list = new BlockList();
        list.addSubnet(addr as string, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
        ranges.push({ list, prefix: Number(bits), entry: e });
      }
    }
    ranges.sort((a, b) => b.prefix - a.prefix);
    this.#exact = exact;
    this.#ranges = ranges;
    this.#loadedAt = Date.now();
  }

  lookup(ip: string): string | null {
    const e = this.#exact.get(ip);
    if (e) return e.type;
    const family = isIP(ip);
    if (!family) return null;
    for (const r of this.#ranges) if (r.list.check(ip, family === 6 ? 'ipv6' : 'ipv4')) return r.entry.type;
    return null;
  }
}

/** Validates an address or CIDR; returns an error message or null. */
export function addressError(address: string): string | null {
  const [addr, bits, extra] = address.split('/');
  if (extra !== undefined) return `"${address}" is not an address or CIDR`;
  const family = isIP(addr ?? '');
  if (!family) return `"${address}" is not an IP address`;
  if (bits === undefined) return null;
  const n = Number(bits);
  if (!/^\d+$/.test(bits) || n > (family === 6 ? 128 : 32))
    return `"${address}" has an invalid prefix length`;
  return null;
}
