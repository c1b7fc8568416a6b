/** What options data records taught about one (exporter, domain): sampling and interface names. */
export interface DomainOptions {
  defaultRate: number; // 0 = unknown
  samplerRates: Map<number, number>;
  interfaceNames: Map<number, string>;
  systemInitMs: number; // NaN = unknown
}

const MAX_ENTRIES = 4096;
const MAX_DOMAINS = 65536;

export class OptionsStore {
  readonly #byDomain = new Map<string, DomainOptions>();

  get(exporter: string, domain: number): DomainOptions | undefined {
    return this.#byDomain.get(`${exporter}|${domain}`);
  }

  for(exporter: string, domain: number): DomainOptions {
    const k = `${exporter}|${domain}`;
    let o = this.#byDomain.get(k);
    if (o === undefined) {
      if (this.#byDomain.size >= MAX_DOMAINS) this.#byDomain.clear();
      o = { defaultRate: 0, samplerRates: new Map(), interfaceNames: new Map(), systemInitMs: Number.NaN };
      this.#byDomain.set(k, o);
    }
    return o;
  }

  static bounded<K, V>(m: Map<K, V>, k: K, v: V): void {
    if (!m.has(k) && m.size >= MAX_ENTRIES) {
      const first = m.keys().next();
      if (!first.done) m.delete(first.value);
    }
    m.set(k, v);
  }

  get size(): number {
    return this.#byDomain.size;
  }
}
