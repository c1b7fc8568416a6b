import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DecoderSnapshot } from './decode/index.ts';

/** Exporters beyond this many (by datagrams) are summed under exporter="other" to bound labels. */
export const DEFAULT_MAX_EXPORTER_LABELS = 50;

export interface CollectorCounters {
  /** Datagrams refused by the allow-list. */
  notAllowed: number;
  /** Decoded records the publisher refused (queue full) or could not encode. */
  droppedQueueFull: number;
  droppedEncode: number;
  tcpFramingErrors: number;
}

interface PerExporter {
  protocol: string;
  datagrams: number;
  records: number;
  templateMisses: number;
  lostDatagrams: number;
  lostRecords: number;
  errors: Record<string, number>;
}

/**
 * The collector's Prometheus metrics. Decoder counters are read from the decoder's own stats at
 * scrape time (no per-datagram metric calls on the hot path), grouped per exporter with at most
 * `maxExporters` exporter label values.
 */
export class CollectorMetrics {
  readonly registry: Registry;
  readonly produceLatency: Histogram;
  readonly produceErrors: Counter;
  readonly published: Counter;
  readonly counters: CollectorCounters = {
    notAllowed: 0,
    droppedQueueFull: 0,
    droppedEncode: 0,
    tcpFramingErrors: 0,
  };
  readonly #socketDrops = new Map<string, number>();
  readonly #recvBuffer: Gauge;

  constructor(
    private readonly snapshot: () => DecoderSnapshot,
    private readonly queueDepth: () => number,
    registry: Registry = new Registry(),
    private readonly maxExporters = DEFAULT_MAX_EXPORTER_LABELS,
  ) {
    this.registry = registry;
    const registers = [registry];
    const perExporter = () => this.#perExporter();
    new Counter({
      name: 'tidewatch_collector_datagrams_total',
      help: 'Flow datagrams decoded, per exporter and protocol',
      labelNames: ['exporter', 'protocol'],
      registers,
      collect() {
        this.reset();
        for (const [exporter, s] of perExporter()) this.inc({ exporter, protocol: s.protocol }, s.datagrams);
      },
    });
    new Counter({
      name: 'tidewatch_collector_records_total',
      help: 'Flow records decoded, per exporter and protocol',
      labelNames: ['exporter', 'protocol'],
      registers,
      collect() {
        this.reset();
        for (const [exporter, s] of perExporter()) this.inc({ exporter, protocol: s.protocol }, s.records);
      },
    });
    new Counter({
      name: 'tidewatch_collector_decode_errors_total',
      help: 'Datagrams or sets that failed to decode, per exporter and reason',
      labelNames: ['exporter', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [exporter, s] of perExporter())
          for (const [reason, n] of Object.entries(s.errors)) this.inc({ exporter, reason }, n);
      },
    });
    new Counter({
      name: 'tidewatch_collector_template_misses_total',
      help: 'Data sets that arrived before their template, per exporter',
      labelNames: ['exporter'],
      registers,
      collect() {
        this.reset();
        for (const [exporter, s] of perExporter()) this.inc({ exporter }, s.templateMisses);
      },
    });
    new Counter({
      name: 'tidewatch_collector_sequence_lost_total',
      help: 'Datagrams or records missing by exporter sequence number (unit: datagrams for v9/sFlow, records for v5/IPFIX)',
      labelNames: ['exporter', 'unit'],
      registers,
      collect() {
        this.reset();
        for (const [exporter, s] of perExporter()) {
          this.inc({ exporter, unit: 'datagrams' }, s.lostDatagrams);
          this.inc({ exporter, unit: 'records' }, s.lostRecords);
        }
      },
    });
    const counters = this.counters;
    new Counter({
      name: 'tidewatch_collector_dropped_records_total',
      help: 'Decoded records not published, by reason (queue_full: backpressure on the UDP path)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        this.inc({ reason: 'queue_full' }, counters.droppedQueueFull);
        this.inc({ reason: 'encode_error' }, counters.droppedEncode);
      },
    });
    new Counter({
      name: 'tidewatch_collector_rejected_datagrams_total',
      help: 'Datagrams refused before decoding, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        this.inc({ reason: 'not_allowed' }, counters.notAllowed);
        this.inc({ reason: 'tcp_framing' }, counters.tcpFramingErrors);
      },
    });
    const socketDrops = this.#socketDrops;
    new Counter({
      name: 'tidewatch_collector_socket_drops_total',
      help: 'Datagrams the kernel dropped on our UDP sockets (receive buffer full), from /proc/net/udp',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const [listener, n] of socketDrops) this.inc({ listener }, n);
      },
    });
    this.#recvBuffer = new Gauge({
      name: 'tidewatch_collector_receive_buffer_bytes',
      help: 'SO_RCVBUF the kernel granted per receive socket',
      labelNames: ['listener'],
      registers,
    });
    const depth = this.queueDepth;
    new Gauge({
      name: 'tidewatch_collector_publish_queue_records',
      help: 'Encoded flows queued or in flight to the bus',
      registers,
      collect() {
        this.set(depth());
      },
    });
    const snap = this.snapshot;
    new Gauge({
      name: 'tidewatch_collector_templates_active',
      help: 'Templates held over all exporters',
      registers,
      collect() {
        this.set(snap().sizes.templates);
      },
    });
    this.produceLatency = new Histogram({
      name: 'tidewatch_collector_produce_latency_seconds',
      help: 'Time to publish one batch of flows to the bus',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.produceErrors = new Counter({
      name: 'tidewatch_collector_produce_errors_total',
      help: 'Failed produce requests (retried)',
      registers,
    });
    this.published = new Counter({
      name: 'tidewatch_collector_published_records_total',
      help: 'Flow records published to flows.v1',
      registers,
    });
  }

  setReceiveBuffer(listener: string, bytes: number): void {
    this.#recvBuffer.set({ listener }, bytes);
  }

  /** Adds socket drops seen since the last poll (kernel counters vanish with their sockets). */
  addSocketDrops(listener: string, delta: number): void {
    // The series exists from the first poll (at 0), so rate() and alerts see it before any drop.
    this.#socketDrops.set(listener, (this.#socketDrops.get(listener) ?? 0) + Math.max(0, delta));
  }

  socketDrops(): number {
    let n = 0;
    for (const v of this.#socketDrops.values()) n += v;
    return n;
  }

  #perExporter(): Map<string, PerExporter> {
    const byExporter = new Map<string, PerExporter>();
    for (const d of this.snapshot().domains) {
      let e = byExporter.get(d.exporter);
      if (!e) {
        e = {
          protocol: d.protocol,
          datagrams: 0,
          records: 0,
          templateMisses: 0,
          lostDatagrams: 0,
          lostRecords: 0,
          errors: {},
        };
        byExporter.set(d.exporter, e);
      }
      if (e.protocol === 'unknown') e.protocol = d.protocol;
      e.datagrams += d.datagrams;
      e.records += d.records;
      e.templateMisses += d.templateMisses;
      e.lostDatagrams += d.sequenceLostDatagrams;
      e.lostRecords += d.sequenceLostRecords;
      for (const [k, v] of Object.entries(d.errors)) e.errors[k] = (e.errors[k] ?? 0) + v;
    }
    if (byExporter.size <= this.maxExporters) return byExporter;
    const ranked = [...byExporter].sort((a, b) => b[1].datagrams - a[1].datagrams);
    const out = new Map(ranked.slice(0, this.maxExporters));
    const other: PerExporter = {
      protocol: 'mixed',
      datagrams: 0,
      records: 0,
      templateMisses: 0,
      lostDatagrams: 0,
      lostRecords: 0,
      errors: {},
    };
    for (const [, e] of ranked.slice(this.maxExporters)) {
      other.datagrams += e.datagrams;
      other.records += e.records;
      other.templateMisses += e.templateMisses;
      other.lostDatagrams += e.lostDatagrams;
      other.lostRecords += e.lostRecords;
      for (const [k, v] of Object.entries(e.errors)) other.errors[k] = (other.errors[k] ?? 0) + v;
    }
    out.set('other', other);
    return out;
  }
}
