import { createHash } from 'node:crypto';
import type { Finding } from '@tidewatch/contracts';

/** HyperLogLog with 2^12 registers (~1.6% error): unique IP pairs per bucket, mergeable across buckets. */
export class PairSketch {
  static readonly P = 12;
  readonly registers = new Uint8Array(1 << PairSketch.P);

  add(value: string): void {
    const h = createHash('sha1').update(value).digest();
    const idx = h.readUInt16BE(0) >>> (16 - PairSketch.P);
    const rest = h.readUInt32BE(2);
    const rank = rest === 0 ? 33 : Math.clz32(rest) + 1;
    if (rank > (this.registers[idx] as number)) this.registers[idx] = rank;
  }

  static estimate(sketches: PairSketch[]): number {
    const m = 1 << PairSketch.P;
    const merged = new Uint8Array(m);
    for (const s of sketches)
      for (let i = 0; i < m; i++)
        if ((s.registers[i] as number) > (merged[i] as number)) merged[i] = s.registers[i] as number;
    let sum = 0;
    let zeros = 0;
    for (let i = 0; i < m; i++) {
      sum += 2 ** -(merged[i] as number);
      if (merged[i] === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / sum;
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(raw);
  }
}

/**
 * Bounded top-k counter (space-saving, pruned in halves so a full counter costs O(log n) per new
 * value): exact while distinct values stay under the cap, an upper bound after that.
 */
export class TopCounter {
  readonly counts = new Map<string, number>();
  #floor = 0;
  constructor(private readonly cap = 4_000) {}

  add(value: string, n = 1): void {
    const c = this.counts.get(value);
    if (c !== undefined) {
      this.counts.set(value, c + n);
      return;
    }
    if (this.counts.size >= this.cap) this.#prune();
    this.counts.set(value, this.#floor + n);
  }

  #prune(): void {
    const sorted = [...this.counts].sort((a, b) => b[1] - a[1]);
    const keep = sorted.slice(0, this.cap >> 1);
    this.#floor = sorted[this.cap >> 1]?.[1] ?? this.#floor;
    this.counts.clear();
    for (const [k, v] of keep) this.counts.set(k, v);
  }
}

export interface Bucket {
  start_ms: number;
  sequences: number;
  flows: number;
  fwd_bytes: number;
  bwd_bytes: number;
  suspicious: number;
  unclassified: number;
  tactics: Map<string, number>;
  techniques: Map<string, number>;
  severities: Map<string, number>;
  src: TopCounter;
  ports: TopCounter;
  pairs: PairSketch;
}

export interface Overview {
  from_ms: number;
  to_ms: number;
  bucket_ms: number;
  unique_ip_pairs: number;
  total_sequences: number;
  total_flows: number;
  fwd_bytes: number;
  bwd_bytes: number;
  suspicious: number;
  unclassified: number;
  tactics: { id: string; count: number }[];
  techniques: { id: string; count: number }[];
  severities: { severity: string; count: number }[];
  top_src_ips: { ip: string; count: number }[];
  top_dst_ports: { port: number; count: number }[];
  over_time: { start_ms: number; sequences: number; suspicious: number }[];
}

/** A malicious finding counts as unclassified when no tactic reaches this probability. */
export const TACTIC_CONFIDENCE = 0.5;

/**
 * Incremental roll-ups per hour bucket, updated as findings arrive (the findings.v1 consumer and
 * the start-up rebuild feed it), so an overview over a million findings merges a few hundred
 * buckets instead of scanning the store. Bucket edges bound the time precision to one hour.
 */
export class OverviewAggregates {
  readonly #buckets = new Map<number, Bucket>();
  readonly #seen = new Set<string>();

  constructor(readonly bucketMs = 3_600_000) {}

  get size(): number {
    return this.#seen.size;
  }

  add(f: Finding): void {
    if (this.#seen.has(f.sequence_id)) return; // a replayed finding overwrites, it never counts twice
    this.#seen.add(f.sequence_id);
    const start = Math.floor(f.window_start_ms / this.bucketMs) * this.bucketMs;
    let b = this.#buckets.get(start);
    if (!b) {
      b = {
        start_ms: start,
        sequences: 0,
        flows: 0,
        fwd_bytes: 0,
        bwd_bytes: 0,
        suspicious: 0,
        unclassified: 0,
        tactics: new Map(),
        techniques: new Map(),
        severities: new Map(),
        src: new TopCounter(),
        ports: new TopCounter(),
        pairs: new PairSketch(),
      };
      this.#buckets.set(start, b);
    }
    b.sequences++;
    b.flows += f.connections;
    b.fwd_bytes += f.fwd_bytes;
    b.bwd_bytes += f.bwd_bytes;
    b.src.add(f.src_ip);
    const port = f.dst_ports[0];
    if (port !== undefined) b.ports.add(String(port));
    b.pairs.add(`${f.src_ip}|${f.dst_ip}`);
    b.severities.set(f.severity, (b.severities.get(f.severity) ?? 0) + 1);
    if (f.verdict === 'malicious') {
      b.suspicious++;
      const top = f.tactics[0];
      if (!top || top.probability < TACTIC_CONFIDENCE) b.unclassified++;
      else b.tactics.set(top.id, (b.tactics.get(top.id) ?? 0) + 1);
      const tech = f.techniques[0];
      if (tech) b.techniques.set(tech.id, (b.techniques.get(tech.id) ?? 0) + 1);
    }
  }

  overview(fromMs: number, toMs: number, top = 10): Overview {
    const buckets = [...this.#buckets.values()]
      .filter((b) => b.start_ms + this.bucketMs > fromMs && b.start_ms < toMs)
      .sort((a, b) => a.start_ms - b.start_ms);
    const tactics = new Map<string, number>();
    const techniques = new Map<string, number>();
    const severities = new Map<string, number>();
    const src = new Map<string, number>();
    const ports = new Map<string, number>();
    const sum = (into: Map<string, number>, from: Map<string, number>) => {
      for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
    };
    const out: Overview = {
      from_ms: fromMs,
      to_ms: toMs,
      bucket_ms: this.bucketMs,
      unique_ip_pairs: PairSketch.estimate(buckets.map((b) => b.pairs)),
      total_sequences: 0,
      total_flows: 0,
      fwd_bytes: 0,
      bwd_bytes: 0,
      suspicious: 0,
      unclassified: 0,
      tactics: [],
      techniques: [],
      severities: [],
      top_src_ips: [],
      top_dst_ports: [],
      over_time: [],
    };
    for (const b of buckets) {
      out.total_sequences += b.sequences;
      out.total_flows += b.flows;
      out.fwd_bytes += b.fwd_bytes;
      out.bwd_bytes += b.bwd_bytes;
      out.suspicious += b.suspicious;
      out.unclassified += b.unclassified;
      sum(tactics, b.tactics);
      sum(techniques, b.techniques);
      sum(severities, b.severities);
      sum(src, b.src.counts);
      sum(ports, b.ports.counts);
      out.over_time.push({ start_ms: b.start_ms, sequences: b.sequences, suspicious: b.suspicious });
    }
    const ranked = (m: Map<string, number>, n: number) =>
      [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n);
    out.tactics = ranked(tactics, 100).map(([id, count]) => ({ id, count }));
    out.techniques = ranked(techniques, 100).map(([id, count]) => ({ id, count }));
    out.severities = ranked(severities, 10).map(([severity, count]) => ({ severity, count }));
    out.top_src_ips = ranked(src, top).map(([ip, count]) => ({ ip, count }));
    out.top_dst_ports = ranked(ports, top).map(([port, count]) => ({ port: Number(port), count }));
    return out;
  }
}
