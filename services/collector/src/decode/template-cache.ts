import { compilePlan, type DecodePlan, type TemplateField } from './decode-plan.ts';

export interface Template {
  id: number;
  /** Options templates: the first `scopeCount` fields are scope fields. */
  isOptions: boolean;
  scopeCount: number;
  fields: TemplateField[];
  /** The definition bytes as received, to recognise a refresh without recompiling. */
  definition: Buffer;
  plan: DecodePlan;
  refreshedMs: number;
}

/** Everything a data set needs to be decoded later, when its template arrives. */
export interface PendingSet {
  exporter: string;
  domain: number;
  templateId: number;
  body: Buffer; // copy of the set's records (the datagram buffer may be reused)
  exportMs: number; // header export time (epoch ms)
  sysUptimeMs: number; // v9 header sysUptime; NaN for IPFIX
  receivedAtMs: number;
  format: 'netflow9' | 'ipfix';
}

export interface TemplateCacheLimits {
  ttlMs: number;
  maxPerExporter: number;
  maxTotal: number;
  pendingPerExporter: number;
  pendingBytesTotal: number;
  /** Compile plans that also fill `extra` with the unmapped elements. */
  extras: boolean;
}

type Key = string;

function key(exporter: string, domain: number, id: number): Key {
  return `${exporter}|${domain}|${id}`;
}

/**
 * Templates keyed by (exporter, observation domain / source id, template id), with expiry,
 * withdrawal, per-exporter and global limits, and a bounded buffer of data sets that arrived
 * before their template.
 */
export class TemplateCache {
  readonly #templates = new Map<Key, Template>();
  readonly #perExporter = new Map<string, number>();
  readonly #pending = new Map<string, PendingSet[]>(); // by exporter
  #pendingBytes = 0;
  #pendingCount = 0;

  constructor(readonly limits: TemplateCacheLimits) {}

  get size(): number {
    return this.#templates.size;
  }

  get pendingCount(): number {
    return this.#pendingCount;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  countFor(exporter: string, domain?: number): number {
    if (domain === undefined) return this.#perExporter.get(exporter) ?? 0;
    let n = 0;
    const prefix = `${exporter}|${domain}|`;
    for (const k of this.#templates.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  /** The live template, or undefined (an expired one is removed and reported through `onExpire`). */
  get(
    exporter: string,
    domain: number,
    id: number,
    nowMs: number,
    onExpire?: () => void,
  ): Template | undefined {
    const k = key(exporter, domain, id);
    const t = this.#templates.get(k);
    if (t === undefined) return undefined;
    if (nowMs - t.refreshedMs > this.limits.ttlMs) {
      this.#delete(exporter, k);
      onExpire?.();
      return undefined;
    }
    return t;
  }

  /**
   * Stores a template; an identical re-announcement only refreshes it. Returns the stored
   * template, or undefined when a limit refuses a new one.
   */
  put(
    exporter: string,
    domain: number,
    id: number,
    isOptions: boolean,
    scopeCount: number,
    fields: TemplateField[],
    definition: Buffer,
    nowMs: number,
    ipfix = false,
  ): Template | undefined {
    const k = key(exporter, domain, id);
    const old = this.#templates.get(k);
    if (old !== undefined && old.isOptions === isOptions && old.definition.equals(definition)) {
      old.refreshedMs = nowMs;
      return old;
    }
    if (old === undefined) {
      const n = this.#perExporter.get(exporter) ?? 0;
      if (n >= this.limits.maxPerExporter || this.#templates.size >= this.limits.maxTotal) return undefined;
      this.#perExporter.set(exporter, n + 1);
    }
    const t: Template = {
      id,
      isOptions,
      scopeCount,
      fields,
      definition: Buffer.from(definition),
      plan: compilePlan(fields, ipfix, this.limits.extras),
      refreshedMs: nowMs,
    };
    this.#templates.set(k, t);
    return t;
  }

  withdraw(exporter: string, domain: number, id: number): boolean {
    const k = key(exporter, domain, id);
    if (!this.#templates.has(k)) return false;
    this.#delete(exporter, k);
    return true;
  }

  /** IPFIX "withdraw all" (template id 2 or 3 with field count 0): every template of that kind in the domain. */
  withdrawAll(exporter: string, domain: number, options: boolean): number {
    const prefix = `${exporter}|${domain}|`;
    let n = 0;
    for (const [k, t] of this.#templates)
      if (k.startsWith(prefix) && t.isOptions === options) {
        this.#delete(exporter, k);
        n++;
      }
    return n;
  }

  #delete(exporter: string, k: Key): void {
    this.#templates.delete(k);
    const n = (this.#perExporter.get(exporter) ?? 1) - 1;
    if (n <= 0) this.#perExporter.delete(exporter);
    else this.#perExporter.set(exporter, n);
  }

  /**
   * Holds a data set until its template arrives. Returns the number of older sets dropped to
   * make room (limits per exporter and in bytes), or -1 when this set itself cannot be held.
   */
  holdPending(p: PendingSet, onDrop: (dropped: PendingSet) => void): boolean {
    if (p.body.length > this.limits.pendingBytesTotal || this.limits.pendingPerExporter <= 0) return false;
    let list = this.#pending.get(p.exporter);
    if (list === undefined) {
      list = [];
      this.#pending.set(p.exporter, list);
    }
    list.push(p);
    this.#pendingBytes += p.body.length;
    this.#pendingCount++;
    while (list.length > this.limits.pendingPerExporter) this.#dropOldest(p.exporter, list, onDrop);
    while (this.#pendingBytes > this.limits.pendingBytesTotal) {
      const victim = this.#largestList();
      if (victim === undefined) break;
      this.#dropOldest(victim[0], victim[1], onDrop);
    }
    return true;
  }

  #dropOldest(exporter: string, list: PendingSet[], onDrop: (dropped: PendingSet) => void): void {
    const dropped = list.shift();
    if (dropped === undefined) return;
    this.#pendingBytes -= dropped.body.length;
    this.#pendingCount--;
    if (list.length === 0) this.#pending.delete(exporter);
    onDrop(dropped);
  }

  #largestList(): [string, PendingSet[]] | undefined {
    let best: [string, PendingSet[]] | undefined;
    for (const e of this.#pending) if (best === undefined || e[1].length > best[1].length) best = e;
    return best;
  }

  /** Removes and returns the held sets for one template (in arrival order). */
  takePending(exporter: string, domain: number, id: number): PendingSet[] {
    const list = this.#pending.get(exporter);
    if (list === undefined) return [];
    const taken: PendingSet[] = [];
    const kept: PendingSet[] = [];
    for (const p of list) (p.domain === domain && p.templateId === id ? taken : kept).push(p);
    if (taken.length === 0) return taken;
    for (const p of taken) this.#pendingBytes -= p.body.length;
    this.#pendingCount -= taken.length;
    if (kept.length === 0) this.#pending.delete(exporter);
    else this.#pending.set(exporter, kept);
    return taken;
  }

  /** Drops held sets older than the template TTL; returns them for accounting. */
  expirePending(nowMs: number, onDrop: (dropped: PendingSet) => void): void {
    for (const [exporter, list] of this.#pending) {
      while (list.length > 0 && nowMs - (list[0] as PendingSet).receivedAtMs > this.limits.ttlMs)
        this.#dropOldest(exporter, list, onDrop);
    }
  }

  /** Expires every template past its TTL (the service calls this on a timer). */
  expireTemplates(nowMs: number, onExpire: (exporter: string, domain: number) => void): number {
    let n = 0;
    for (const [k, t] of this.#templates) {
      if (nowMs - t.refreshedMs <= this.limits.ttlMs) continue;
      const [exporter, domain] = splitKey(k);
      this.#delete(exporter, k);
      onExpire(exporter, domain);
      n++;
    }
    return n;
  }

  /** Active template count per exporter|domain. */
  activeByDomain(): Map<string, number> {
    const out = new Map<string, number>();
    for (const k of this.#templates.keys()) {
      const [exporter, domain] = splitKey(k);
      const dk = `${exporter}|${domain}`;
      out.set(dk, (out.get(dk) ?? 0) + 1);
    }
    return out;
  }
}

function splitKey(k: Key): [string, number] {
  const last = k.lastIndexOf('|');
  const mid = k.lastIndexOf('|', last - 1);
  return [k.slice(0, mid), Number(k.slice(mid + 1, last))];
}
