/** Counters per (exporter, observation domain); `domain` is -1 for the overflow bucket. */
export interface DomainStats {
  exporter: string;
  domain: number;
  protocol: string; // netflow5 | netflow9 | ipfix | sflow5 | unknown
  datagrams: number;
  records: number; // flow records emitted
  optionsRecords: number;
  counterSamples: number; // sFlow counter samples
  errors: Record<string, number>; // by reason
  templateMisses: number; // data sets that arrived with no template
  templatesReceived: number;
  templatesWithdrawn: number;
  templatesExpired: number;
  pendingBuffered: number; // data sets held until their template arrives
  pendingReplayed: number;
  pendingDrops: number; // data sets dropped from the pending buffer (limit, expiry)
  sequenceLostDatagrams: number; // v9/sFlow: packets missing by sequence number
  sequenceLostRecords: number; // v5: flows, IPFIX: data records missing by sequence number
  sequenceResets: number; // sequence went backwards (restart or reordering)
  lastSeenMs: number;
}

/** Error reasons are a closed set so a metrics label stays bounded. */
export const DECODE_ERRORS = [
  'truncated_header',
  'unsupported_version',
  'bad_message_length',
  'bad_set_length',
  'reserved_set_id',
  'bad_template',
  'template_limit',
  'bad_record',
  'bad_sample',
  'empty_template',
  'internal',
] as const;
export type DecodeError = (typeof DECODE_ERRORS)[number];

const MAX_DOMAINS_PER_EXPORTER = 64;
const MAX_EXPORTERS = 4096;

export class DecoderStats {
  readonly #byKey = new Map<string, DomainStats>();
  readonly #domainsPerExporter = new Map<string, number>();
  /** Totals over every exporter and domain. */
  datagrams = 0;
  records = 0;
  errors = 0;
  /** The entry the last datagram was counted under. */
  lastTouched: DomainStats | undefined;

  /** The counters of one exporter+domain; past the cardinality limits, a shared overflow bucket. */
  domain(exporter: string, domain: number, protocol: string, nowMs: number): DomainStats {
    // Datagrams come in runs from one exporter: the last entry answers most calls without a key.
    const last = this.lastTouched;
    if (last !== undefined && last.domain === domain && last.exporter === exporter) {
      last.lastSeenMs = nowMs;
      if (last.protocol !== protocol && protocol !== 'unknown') last.protocol = protocol;
      return last;
    }
    const key = `${exporter}|${domain}`;
    let s = this.#byKey.get(key);
    if (s === undefined) {
      const perExporter = this.#domainsPerExporter.get(exporter) ?? 0;
      if (perExporter >= MAX_DOMAINS_PER_EXPORTER || this.#domainsPerExporter.size >= MAX_EXPORTERS)
        return this.#overflow(exporter, protocol, nowMs);
      s = newDomainStats(exporter, domain, protocol);
      this.#byKey.set(key, s);
      this.#domainsPerExporter.set(exporter, perExporter + 1);
    }
    s.lastSeenMs = nowMs;
    this.lastTouched = s;
    if (s.protocol !== protocol && protocol !== 'unknown') s.protocol = protocol;
    return s;
  }

  #overflow(exporter: string, protocol: string, nowMs: number): DomainStats {
    const known = this.#domainsPerExporter.has(exporter);
    const key = known ? `${exporter}|overflow` : '*|overflow';
    let s = this.#byKey.get(key);
    if (s === undefined) {
      s = newDomainStats(known ? exporter : '*', -1, protocol);
      this.#byKey.set(key, s);
    }
    s.lastSeenMs = nowMs;
    this.lastTouched = s;
    return s;
  }

  error(s: DomainStats, reason: DecodeError): void {
    s.errors[reason] = (s.errors[reason] ?? 0) + 1;
    this.errors++;
  }

  /** Current counters, one entry per exporter+domain (copies; safe to keep). */
  entries(): DomainStats[] {
    return [...this.#byKey.values()].map((s) => ({ ...s, errors: { ...s.errors } }));
  }

  get size(): number {
    return this.#byKey.size;
  }

  /** Sum of a counter over every exporter. */
  total(field: Exclude<keyof DomainStats, 'exporter' | 'protocol' | 'errors'>): number {
    let n = 0;
    for (const s of this.#byKey.values()) n += s[field];
    return n;
  }

  errorsByReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.#byKey.values())
      for (const [k, v] of Object.entries(s.errors)) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}

function newDomainStats(exporter: string, domain: number, protocol: string): DomainStats {
  return {
    exporter,
    domain,
    protocol,
    datagrams: 0,
    records: 0,
    optionsRecords: 0,
    counterSamples: 0,
    errors: {},
    templateMisses: 0,
    templatesReceived: 0,
    templatesWithdrawn: 0,
    templatesExpired: 0,
    pendingBuffered: 0,
    pendingReplayed: 0,
    pendingDrops: 0,
    sequenceLostDatagrams: 0,
    sequenceLostRecords: 0,
    sequenceResets: 0,
    lastSeenMs: 0,
  };
}
