import type { FlowRecord } from '@tidewatch/contracts';
import { type DirectOutput, encodeNetflow5 } from '../netflow5-avro.ts';
import { decodeNetflow5 } from './netflow5.ts';
import { OptionsStore } from './options-store.ts';
import { SequenceTracker } from './sequence-tracker.ts';
import { SflowDecoder } from './sflow5.ts';
import { DecoderStats, type DomainStats } from './stats.ts';
import { TemplateCache } from './template-cache.ts';
import { type OptionsRecordEvent, TemplatedDecoder } from './templated.ts';

export type { OptionsRecordEvent } from './templated.ts';

export { DECODE_ERRORS, type DecodeError, DecoderStats, type DomainStats } from './stats.ts';
export { describeElement, ianaElement, PEN } from './information-elements.ts';

export interface DecodeContext {
  /** Exporter address (UDP source) as text. */
  exporter: string;
  exporterPort?: number;
  receivedAtMs: number;
}

export interface DecoderOptions {
  /** Templates not refreshed for this long are forgotten (default 30 min). */
  templateTtlMs?: number;
  /** Data sets held per exporter while their template is unknown (default 256). */
  pendingDataLimit?: number;
  /** Bytes held over all pending data sets (default 16 MiB). */
  pendingBytesLimit?: number;
  /** Templates per exporter address over all its domains (default 4096). */
  maxTemplatesPerExporter?: number;
  /** Templates over all exporters (default 262144). */
  maxTemplates?: number;
  /** Fill `extra` with the unmapped information elements (default true). */
  extras?: boolean;
  /** Called synchronously for every options data record (they produce no FlowRecord). */
  onOptionsRecord?: (e: OptionsRecordEvent) => void;
}

/** Decoder state sizes, for metrics and for checking that memory stays bounded. */
export interface DecoderSizes {
  templates: number;
  pendingSets: number;
  pendingBytes: number;
  statsEntries: number;
  optionsDomains: number;
}

/** What the service exports as Prometheus metrics: one entry per exporter+domain plus totals. */
export interface DecoderSnapshot {
  atMs: number;
  totals: {
    datagrams: number;
    records: number;
    errors: number;
    templateMisses: number;
    sequenceLostDatagrams: number;
    sequenceLostRecords: number;
    pendingDrops: number;
    counterSamples: number;
  };
  errorsByReason: Record<string, number>;
  domains: (DomainStats & { templatesActive: number })[];
  sizes: DecoderSizes;
}

const PENDING_SWEEP_MS = 10_000;

/**
 * Decodes NetFlow v5, NetFlow v9, IPFIX and sFlow v5 datagrams into FlowRecords. Keeps template
 * state per (exporter, observation domain, template id); never throws on bad input: every
 * problem is counted in `stats` by exporter, domain and reason.
 */
export class FlowDecoder {
  readonly stats = new DecoderStats();
  /** Called after every datagram with the counters it was counted under (optional hook for live metrics). */
  onStats?: (entry: DomainStats) => void;
  readonly #cache: TemplateCache;
  readonly #sequences = new SequenceTracker();
  readonly #options = new OptionsStore();
  readonly #templated: TemplatedDecoder;
  readonly #sflow: SflowDecoder;
  readonly #extras: boolean;
  #lastSweepMs = 0;

  constructor(opts: DecoderOptions = {}) {
    this.#extras = opts.extras ?? true;
    this.#cache = new TemplateCache({
      ttlMs: opts.templateTtlMs ?? 30 * 60_000,
      maxPerExporter: opts.maxTemplatesPerExporter ?? 4096,
      maxTotal: opts.maxTemplates ?? 262_144,
      pendingPerExporter: opts.pendingDataLimit ?? 256,
      pendingBytesTotal: opts.pendingBytesLimit ?? 16 * 1024 * 1024,
      extras: this.#extras,
    });
    this.#templated = new TemplatedDecoder(
      this.#cache,
      this.stats,
      this.#sequences,
      this.#options,
      this.#extras,
    );
    this.#templated.onOptionsRecord = opts.onOptionsRecord;
    this.#sflow = new SflowDecoder(this.stats, this.#sequences, this.#extras);
  }

  decode(datagram: Buffer, ctx: DecodeContext): FlowRecord[] {
    const out: FlowRecord[] = [];
    this.decodeInto(datagram, ctx, out);
    return out;
  }

  /** Like decode(), appending to `out` (saves an array per datagram on the hot path). */
  decodeInto(datagram: Buffer, ctx: DecodeContext, out: FlowRecord[]): void {
    this.#decode(datagram, ctx, out, undefined);
  }

  /**
   * Like decodeInto(), except that NetFlow v5 records go straight to `direct` as `flows.v1`
   * messages (encodeNetflow5: the bytes and keys the object path + FlowAvroWriter give, without
   * the objects). Everything else is appended to `out` as before; one datagram fills only one of
   * the two.
   */
  decodeMessagesInto(datagram: Buffer, ctx: DecodeContext, out: FlowRecord[], direct: DirectOutput): void {
    this.#decode(datagram, ctx, out, direct);
  }

  #decode(datagram: Buffer, ctx: DecodeContext, out: FlowRecord[], direct: DirectOutput | undefined): void {
    const now = ctx.receivedAtMs;
    this.stats.datagrams++;
    const before = out.length;
    const messagesBefore = direct?.messages.length ?? 0;
    try {
      this.#dispatch(datagram, ctx.exporter, now, out, direct);
    } catch {
      // Decoders bound-check every read; this is the last line so a bug never takes the process down.
      out.length = before;
      if (direct !== undefined) direct.messages.length = messagesBefore;
      const st = this.stats.domain(ctx.exporter, 0, 'unknown', now);
      this.stats.error(st, 'internal');
    }
    if (now - this.#lastSweepMs > PENDING_SWEEP_MS) {
      this.#lastSweepMs = now;
      this.#cache.expirePending(now, (p) => {
        this.stats.domain(p.exporter, p.domain, p.format, now).pendingDrops++;
      });
    }
    const touched = this.stats.lastTouched;
    if (this.onStats !== undefined && touched !== undefined) this.onStats(touched);
  }

  #dispatch(
    b: Buffer,
    exporter: string,
    now: number,
    out: FlowRecord[],
    direct: DirectOutput | undefined,
  ): void {
    if (b.length < 4) {
      const st = this.stats.domain(exporter, 0, 'unknown', now);
      st.datagrams++;
      this.stats.error(st, 'truncated_header');
      return;
    }
    const version = ((b[0] as number) << 8) | (b[1] as number);
    switch (version) {
      case 5:
        if (
          direct !== undefined &&
          encodeNetflow5(b, exporter, now, this.stats, this.#sequences, this.#extras, direct)
        )
          return;
        decodeNetflow5(b, exporter, now, this.stats, this.#sequences, out, this.#extras);
        return;
      case 9:
        this.#templated.decode(b, exporter, now, 'netflow9', out);
        return;
      case 10:
        this.#templated.decode(b, exporter, now, 'ipfix', out);
        return;
      case 0:
        if (b[2] === 0 && b[3] === 5) {
          this.#sflow.decode(b, exporter, now, out);
          return;
        }
    }
    const st = this.stats.domain(exporter, 0, 'unknown', now);
    st.datagrams++;
    this.stats.error(st, 'unsupported_version');
  }

  /** Forgets templates past their TTL and pending data sets past it; the service calls this on a timer. */
  expire(nowMs: number): void {
    this.#cache.expireTemplates(nowMs, (exporter, domain) => {
      this.stats.domain(exporter, domain, 'unknown', nowMs).templatesExpired++;
    });
    this.#cache.expirePending(nowMs, (p) => {
      this.stats.domain(p.exporter, p.domain, p.format, nowMs).pendingDrops++;
    });
  }

  sizes(): DecoderSizes {
    return {
      templates: this.#cache.size,
      pendingSets: this.#cache.pendingCount,
      pendingBytes: this.#cache.pendingBytes,
      statsEntries: this.stats.size,
      optionsDomains: this.#options.size,
    };
  }

  templatesActive(exporter: string, domain?: number): number {
    return this.#cache.countFor(exporter, domain);
  }

  snapshot(nowMs = Date.now()): DecoderSnapshot {
    const active = this.#cache.activeByDomain();
    const domains = this.stats
      .entries()
      .map((d) => ({ ...d, templatesActive: active.get(`${d.exporter}|${d.domain}`) ?? 0 }));
    const s = this.stats;
    return {
      atMs: nowMs,
      totals: {
        datagrams: s.datagrams,
        records: s.records,
        errors: s.errors,
        templateMisses: s.total('templateMisses'),
        sequenceLostDatagrams: s.total('sequenceLostDatagrams'),
        sequenceLostRecords: s.total('sequenceLostRecords'),
        pendingDrops: s.total('pendingDrops'),
        counterSamples: s.total('counterSamples'),
      },
      errorsByReason: s.errorsByReason(),
      domains,
      sizes: this.sizes(),
    };
  }
}
