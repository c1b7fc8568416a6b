import type { Finding, Sequence } from '@tidewatch/contracts';
import type { VectorStore } from '@tidewatch/vector-store';

/** HyperLogLog with 2^12 registers (~1.6% error): unique IP pairs per bucket, mergeable across buckets. */
export class PairSketch {
  static readonly P = 12;
  readonly registers = new Uint8Array(1 << PairSketch.P);

  add(value: string): void {
    // cyrb53: a fast 53-bit string hash; the top 12 bits pick the register, the rest give the rank.
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < value.length; i++) {
      const ch = value.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    const idx = h1 >>> (32 - PairSketch.P);
    const rest = h2 >>> 0;
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

const HOUR = 3_600_000;
const DAY = 86_400_000;

function emptyBucket(start: number, topCap: number): Bucket {
  return {
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
    src: new TopCounter(topCap),
    ports: new TopCounter(topCap),
    pairs: new PairSketch(),
  };
}

/** What every sequence contributes, alert or not (sequences.v1, or a stored point at rebuild). */
export interface SequenceTraffic {
  sequence_id: string;
  window_start_ms: number;
  src_ip: string;
  dst_ip: string;
  flows: number;
  fwd_bytes: number;
  bwd_bytes: number;
  /** The responder port seen most often, if any. */
  top_dst_port: number | undefined;
}

export function trafficOfSequence(s: Sequence): SequenceTraffic {
  const ports = new Map<number, number>();
  let fwd = 0;
  let bwd = 0;
  for (const f of s.flows) {
    fwd += f.fwd_bytes;
    bwd += f.bwd_bytes;
    ports.set(f.dst_port, (ports.get(f.dst_port) ?? 0) + 1);
  }
  let top: number | undefined;
  let best = 0;
  for (const [port, n] of ports)
    if (n > best || (n === best && top !== undefined && port < top)) [top, best] = [port, n];
  return {
    sequence_id: s.sequence_id,
    window_start_ms: s.window_start_ms,
    src_ip: s.src_ip,
    dst_ip: s.dst_ip,
    flows: s.flows.length,
    fwd_bytes: fwd,
    bwd_bytes: bwd,
    top_dst_port: top,
  };
}

function trafficOfFinding(f: Finding): SequenceTraffic {
  return {
    sequence_id: f.sequence_id,
    window_start_ms: f.window_start_ms,
    src_ip: f.src_ip,
    dst_ip: f.dst_ip,
    flows: f.connections,
    fwd_bytes: f.fwd_bytes,
    bwd_bytes: f.bwd_bytes,
    top_dst_port: f.dst_ports[0],
  };
}

function addTraffic(b: Bucket, t: SequenceTraffic): void {
  b.sequences++;
  b.flows += t.flows;
  b.fwd_bytes += t.fwd_bytes;
  b.bwd_bytes += t.bwd_bytes;
  b.src.add(t.src_ip);
  if (t.top_dst_port !== undefined) b.ports.add(String(t.top_dst_port));
  b.pairs.add(`${t.src_ip}|${t.dst_ip}`);
}

/** Only malicious verdicts count here, so the live feed (findings.v1) and a rebuild agree. */
function addVerdict(b: Bucket, f: Finding): void {
  if (f.verdict === 'malicious') {
    b.severities.set(f.severity, (b.severities.get(f.severity) ?? 0) + 1);
    b.suspicious++;
    const top = f.tactics[0];
    if (!top || top.probability < TACTIC_CONFIDENCE) b.unclassified++;
    else b.tactics.set(top.id, (b.tactics.get(top.id) ?? 0) + 1);
    const tech = f.techniques[0];
    if (tech) b.techniques.set(tech.id, (b.techniques.get(tech.id) ?? 0) + 1);
  }
}

/** The n largest entries (count desc, then key asc) without sorting the whole map. */
function topN(m: Map<string, number>, n: number): [string, number][] {
  const best: [string, number][] = [];
  const before = (a: [string, number], b: [string, number]) => a[1] > b[1] || (a[1] === b[1] && a[0] < b[0]);
  for (const e of m) {
    if (best.length === n && !before(e, best[n - 1] as [string, number])) continue;
    let at = best.length;
    while (at > 0 && before(e, best[at - 1] as [string, number])) at--;
    best.splice(at, 0, e);
    if (best.length > n) best.pop();
  }
  return best;
}

/**
 * Incremental roll-ups per hour and per day, updated as findings arrive (the findings.v1 consumer
 * and the start-up rebuild feed it), so an overview over a million findings merges whole days plus
 * the hours at the range edges instead of scanning the store. Time precision is one hour; top
 * source IPs and ports are exact while a bucket holds fewer distinct values than its counter cap,
 * and unique IP pairs come from a HyperLogLog (about 1.6% error).
 */
export class OverviewAggregates {
  readonly #hours = new Map<number, Bucket>();
  readonly #days = new Map<number, Bucket>();
  readonly #seen = new Set<string>();
  readonly #seenVerdicts = new Set<string>();
  readonly #cache = new Map<string, { version: number; at: number; value: Overview }>();
  #version = 0;
  readonly bucketMs = HOUR;

  /** @param maxStaleMs how long an overview may lag behind the newest findings (cache). */
  constructor(private readonly maxStaleMs = 2_000) {}

  get size(): number {
    return this.#seen.size;
  }

  /** A stored point: its traffic and, when malicious, its verdict (start-up rebuild). */
  add(f: Finding): void {
    this.addSequence(trafficOfFinding(f));
    this.addFinding(f);
  }

  /** Every sequence (sequences.v1): totals, talkers, ports and pairs, alert or not. */
  addSequence(t: SequenceTraffic): void {
    if (this.#seen.has(t.sequence_id)) return; // a replayed sequence overwrites, it never counts twice
    this.#seen.add(t.sequence_id);
    this.#version++;
    for (const b of this.#bucketsOf(t.window_start_ms)) addTraffic(b, t);
  }

  /** An alert (findings.v1): suspicious counts, tactics, techniques and severities. */
  addFinding(f: Finding): void {
    if (f.verdict !== 'malicious' || this.#seenVerdicts.has(f.sequence_id)) return;
    this.#seenVerdicts.add(f.sequence_id);
    this.#version++;
    for (const b of this.#bucketsOf(f.window_start_ms)) addVerdict(b, f);
  }

  #bucketsOf(windowStartMs: number): [Bucket, Bucket] {
    const hour = Math.floor(windowStartMs / HOUR) * HOUR;
    const day = Math.floor(windowStartMs / DAY) * DAY;
    let h = this.#hours.get(hour);
    if (!h) {
      h = emptyBucket(hour, 1_000);
      this.#hours.set(hour, h);
    }
    let d = this.#days.get(day);
    if (!d) {
      d = emptyBucket(day, 4_000);
      this.#days.set(day, d);
    }
    return [h, d];
  }

  /**
   * Rebuilds from the store at start-up (the findings.v1 group only sees what arrives after its
   * committed offset). Reads day-sized time slices in time order (a range walk on the store's
   * time index); a finding that spans a slice edge is seen twice and counted once.
   */
  async rebuild(store: VectorStore, sliceMs = 86_400_000, pageSize = 250_000): Promise<number> {
    const first = await store.list({ sort: { field: 'window_start_ms', order: 'asc' }, limit: 1 });
    const last = await store.list({ sort: { field: 'window_start_ms', order: 'desc' }, limit: 1 });
    const lo = first.items[0]?.window_start_ms;
    const hi = last.items[0]?.window_start_ms;
    if (lo === undefined || hi === undefined) return 0;
    const before = this.size;
    for (let from = Math.floor(lo / sliceMs) * sliceMs; from <= hi; from += sliceMs) {
      let cursor: string | null = null;
      do {
        const page: { items: Finding[]; nextCursor: string | null } = await store.list({
          filter: { fromMs: from, toMs: from + sliceMs },
          sort: { field: 'window_start_ms', order: 'asc' },
          limit: pageSize,
          cursor,
        });
        for (const f of page.items) this.add(f);
        cursor = page.nextCursor;
      } while (cursor);
    }
    return this.size - before;
  }

  /**
   * The overview of [fromMs, toMs). Buckets make the answer depend only on the hours the range
   * touches, so results are cached per (first hour, last hour, top) and reused until new findings
   * arrived and the entry is older than maxStaleMs.
   */
  overview(fromMs: number, toMs: number, top = 10): Overview {
    const key = `${Math.floor(fromMs / HOUR)}|${Math.ceil(toMs / HOUR)}|${top}`;
    const hit = this.#cache.get(key);
    const now = Date.now();
    if (hit && (hit.version === this.#version || now - hit.at < this.maxStaleMs))
      return { ...hit.value, from_ms: fromMs, to_ms: toMs };
    const value = this.#compute(fromMs, toMs, top);
    if (this.#cache.size > 256) this.#cache.clear();
    this.#cache.set(key, { version: this.#version, at: now, value });
    return value;
  }

  #compute(fromMs: number, toMs: number, top: number): Overview {
    const firstHour = Math.floor(fromMs / HOUR) * HOUR;
    const hours = [...this.#hours.values()]
      .filter((b) => b.start_ms >= firstHour && b.start_ms < toMs)
      .sort((a, b) => a.start_ms - b.start_ms);
    // Whole days inside the range come from the day roll-ups; only the edge hours are merged singly.
    const days = [...this.#days.values()].filter(
      (d) => d.start_ms >= firstHour && d.start_ms + DAY - HOUR < toMs,
    );
    const covered = new Set(days.map((d) => d.start_ms));
    const parts = [...days, ...hours.filter((h) => !covered.has(Math.floor(h.start_ms / DAY) * DAY))];
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
      bucket_ms: HOUR,
      unique_ip_pairs: PairSketch.estimate(parts.map((b) => b.pairs)),
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
      over_time: hours.map((b) => ({
        start_ms: b.start_ms,
        sequences: b.sequences,
        suspicious: b.suspicious,
      })),
    };
    for (const b of parts) {
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
    }
    out.tactics = topN(tactics, 100).map(([id, count]) => ({ id, count }));
    out.techniques = topN(techniques, 100).map(([id, count]) => ({ id, count }));
    out.severities = topN(severities, 10).map(([severity, count]) => ({ severity, count }));
    out.top_src_ips = topN(src, top).map(([ip, count]) => ({ ip, count }));
    out.top_dst_ports = topN(ports, top).map(([port, count]) => ({ port: Number(port), count }));
    return out;
  }
}
