import { FINDING_STATUSES, type Finding, parseIPv4, SEVERITIES, VERDICTS } from '@tidewatch/contracts';
import type { FindingRows } from './finding-rows.ts';
import { topTactic, topTechnique } from './finding-filter.ts';
import { type IpMatcher, ipMatches, parseIpFilter, parseIpv4 } from './ip-range.ts';
import type { FindingFilter, SortField } from './store.ts';

/**
 * One categorical payload field as dictionary codes per slot (0 = absent), with one bitmap of
 * slots per value so an equality filter knows its match count and can enumerate its slots without
 * touching the payloads.
 */
export class CategoryColumn {
  codes: Uint16Array;
  readonly #codeOf = new Map<string, number>();
  /** The last value set and its code (consecutive points mostly repeat a value; codes never change). */
  #lastValue: string | null = null;
  #lastCode = 0;
  readonly values: string[] = [''];
  readonly counts: number[] = [0];
  bitmaps: (Uint32Array | undefined)[] = [undefined];

  constructor(capacity: number) {
    this.codes = new Uint16Array(capacity);
  }

  codeOf(value: string): number | undefined {
    return this.#codeOf.get(value);
  }

  grow(capacity: number): void {
    const codes = new Uint16Array(capacity);
    codes.set(this.codes);
    this.codes = codes;
    this.bitmaps = this.bitmaps.map((b) => {
      if (!b) return b;
      const g = new Uint32Array(capacity >>> 5);
      g.set(b);
      return g;
    });
  }

  set(slot: number, value: string | null): void {
    this.clear(slot);
    if (value === null) return;
    let code = value === this.#lastValue ? this.#lastCode : this.#codeOf.get(value);
    if (code === undefined) {
      code = this.values.length;
      if (code > 0xffff) throw new Error(`more than 65535 distinct values in one finding field`);
      this.#codeOf.set(value, code);
      this.values.push(value);
      this.counts.push(0);
      this.bitmaps.push(new Uint32Array(this.codes.length >>> 5));
    }
    this.#lastValue = value;
    this.#lastCode = code;
    this.codes[slot] = code;
    this.counts[code] = (this.counts[code] as number) + 1;
    const bm = this.bitmaps[code] as Uint32Array;
    bm[slot >>> 5] = (bm[slot >>> 5] as number) | (1 << (slot & 31));
  }

  clear(slot: number): void {
    const old = this.codes[slot] as number;
    if (old === 0) return;
    this.codes[slot] = 0;
    this.counts[old] = (this.counts[old] as number) - 1;
    const bm = this.bitmaps[old] as Uint32Array;
    bm[slot >>> 5] = (bm[slot >>> 5] as number) & ~(1 << (slot & 31));
  }
}

/** The categorical fields filters select on. */
export type CategoryField = 'verdict' | 'severity' | 'status' | 'tactic' | 'technique' | 'model';

/**
 * Payload fields that filters and sorts read, as typed arrays indexed by store slot, so a filter
 * runs as a few array reads per point instead of a walk over payload objects (IPv4 addresses as
 * numbers: a CIDR is a numeric range). Capacity is a multiple of 32 (bitmap words).
 */
export class FindingColumns {
  capacity: number;
  live: Uint8Array;
  windowStart: Float64Array;
  windowEnd: Float64Array;
  score: Float64Array;
  anomaly: Float64Array;
  scoredAt: Float64Array;
  /** IPv4 as a number; NaN for IPv6 or anything else. */
  src4: Float64Array;
  dst4: Float64Array;
  /** 1 labelled (0/1), 0 not. */
  labelled: Uint8Array;
  /** The label where labelled: 1 malicious, 0 benign (what neighbour evidence reads, no payload decode). */
  label: Uint8Array;
  /** The addresses as written (IPv6 filters and address facets read these). */
  readonly srcIp: string[] = [];
  readonly dstIp: string[] = [];
  readonly cat: Record<CategoryField, CategoryColumn>;
  /** The longest window seen (never shrinks): bounds how far a time walk must go past `fromMs`. */
  maxSpanMs = 0;

  constructor(capacity = 1024) {
    this.capacity = roundUp32(capacity);
    const c = this.capacity;
    this.live = new Uint8Array(c);
    this.windowStart = new Float64Array(c);
    this.windowEnd = new Float64Array(c);
    this.score = new Float64Array(c);
    this.anomaly = new Float64Array(c);
    this.scoredAt = new Float64Array(c);
    this.src4 = new Float64Array(c);
    this.dst4 = new Float64Array(c);
    this.labelled = new Uint8Array(c);
    this.label = new Uint8Array(c);
    this.cat = {
      verdict: new CategoryColumn(c),
      severity: new CategoryColumn(c),
      status: new CategoryColumn(c),
      tactic: new CategoryColumn(c),
      technique: new CategoryColumn(c),
      model: new CategoryColumn(c),
    };
  }

  sortColumn(field: SortField): Float64Array {
    switch (field) {
      case 'score':
        return this.score;
      case 'anomaly':
        return this.anomaly;
      case 'scored_at_ms':
        return this.scoredAt;
      case 'window_start_ms':
        return this.windowStart;
    }
  }

  ensure(slot: number): void {
    if (slot < this.capacity) return;
    let c = this.capacity;
    while (c <= slot) c *= 2;
    const g8 = (a: Uint8Array) => {
      const b = new Uint8Array(c);
      b.set(a);
      return b;
    };
    const g64 = (a: Float64Array) => {
      const b = new Float64Array(c);
      b.set(a);
      return b;
    };
    this.live = g8(this.live);
    this.labelled = g8(this.labelled);
    this.label = g8(this.label);
    this.windowStart = g64(this.windowStart);
    this.windowEnd = g64(this.windowEnd);
    this.score = g64(this.score);
    this.anomaly = g64(this.anomaly);
    this.scoredAt = g64(this.scoredAt);
    this.src4 = g64(this.src4);
    this.dst4 = g64(this.dst4);
    for (const col of Object.values(this.cat)) col.grow(c);
    this.capacity = c;
  }

  set(slot: number, f: Finding): void {
    this.ensure(slot);
    this.live[slot] = 1;
    this.windowStart[slot] = f.window_start_ms;
    this.windowEnd[slot] = f.window_end_ms;
    this.maxSpanMs = Math.max(this.maxSpanMs, f.window_end_ms - f.window_start_ms);
    this.score[slot] = f.score;
    this.anomaly[slot] = f.anomaly;
    this.scoredAt[slot] = f.scored_at_ms;
    this.srcIp[slot] = f.src_ip;
    this.dstIp[slot] = f.dst_ip;
    this.src4[slot] = parseIpv4(f.src_ip);
    this.dst4[slot] = parseIpv4(f.dst_ip);
    this.labelled[slot] = f.label !== null && f.label !== undefined ? 1 : 0;
    this.label[slot] = f.label === 1 ? 1 : 0;
    this.cat.verdict.set(slot, f.verdict);
    this.cat.severity.set(slot, f.severity);
    this.cat.status.set(slot, f.status);
    this.cat.tactic.set(slot, topTactic(f));
    this.cat.technique.set(slot, topTechnique(f));
    this.cat.model.set(slot, f.model_version);
  }

  /** `set(slot, findingOfRow(rows, i))` for a column row, without the Finding. */
  setRow(slot: number, rows: FindingRows, i: number): void {
    this.ensure(slot);
    this.live[slot] = 1;
    const ws = rows.windowStart[i] as number;
    const we = rows.windowEnd[i] as number;
    this.windowStart[slot] = ws;
    this.windowEnd[slot] = we;
    this.maxSpanMs = Math.max(this.maxSpanMs, we - ws);
    this.score[slot] = rows.score[i] as number;
    this.anomaly[slot] = rows.anomaly[i] as number;
    this.scoredAt[slot] = rows.scoredAtMs;
    const src = rows.srcIp[i] as string;
    const dst = rows.dstIp[i] as string;
    this.srcIp[slot] = src;
    this.dstIp[slot] = dst;
    this.src4[slot] = parseIpv4(src);
    this.dst4[slot] = parseIpv4(dst);
    const label = rows.label[i] as number;
    this.labelled[slot] = label >= 0 ? 1 : 0;
    this.label[slot] = label === 1 ? 1 : 0;
    this.cat.verdict.set(slot, VERDICTS[rows.verdict[i] as number] as string);
    this.cat.severity.set(slot, SEVERITIES[rows.severity[i] as number] as string);
    this.cat.status.set(slot, FINDING_STATUSES[rows.status[i] as number] as string);
    this.cat.tactic.set(slot, null);
    this.cat.technique.set(slot, null);
    this.cat.model.set(slot, rows.modelVersion);
  }

  clear(slot: number): void {
    this.live[slot] = 0;
    this.srcIp[slot] = '';
    this.dstIp[slot] = '';
    for (const col of Object.values(this.cat)) col.clear(slot);
  }
}

function roundUp32(n: number): number {
  return Math.max(32, Math.ceil(n / 32) * 32);
}

/** A filter compiled against the columns: a per-slot test plus what the planner needs. */
export interface SlotFilter {
  /** True when the slot is live and matches (null filter: every live slot). */
  test(slot: number): boolean;
  /**
   * An upper bound on the matches from the most selective indexed condition, and a way to
   * enumerate that condition's slots (a superset of the matches, each slot once, any order).
   */
  candidates: { count: number; slots: () => Iterable<number> } | null;
  /** True when nothing can match (an unknown category value, an empty set). */
  empty: boolean;
  /** True when every live point matches (no condition). */
  trivial: boolean;
}

interface IpRangeSource {
  /** Slots whose IPv4 column lies in [lo, hi], or null when the index is not available. */
  range(
    field: 'src4' | 'dst4',
    lo: number,
    hi: number,
  ): { count: number; slots: () => Iterable<number> } | null;
}

/**
 * Compiles a FindingFilter into a slot test. Semantics are exactly compileFilter's (finding-filter.ts); the test suite
 * checks the two agree on random data.
 */
export function compileSlotFilter(
  filter: FindingFilter | undefined,
  cols: FindingColumns,
  ips: IpRangeSource | null,
  slotOfId: (id: string) => number | undefined,
  labelledSlots: { count: number; slots: () => Iterable<number> } | null = null,
): SlotFilter {
  const live = cols.live;
  const tests: ((s: number) => boolean)[] = [];
  let best: { count: number; slots: () => Iterable<number> } | null = null;
  let empty = false;
  const offer = (c: { count: number; slots: () => Iterable<number> } | null) => {
    if (c && (!best || c.count < best.count)) best = c;
  };
  const f = filter ?? {};
  const { fromMs, toMs, minScore } = f;
  if (fromMs !== undefined) {
    const a = cols.windowEnd;
    tests.push((s) => (a[s] as number) >= fromMs);
  }
  if (toMs !== undefined) {
    const a = cols.windowStart;
    tests.push((s) => (a[s] as number) < toMs);
  }
  if (minScore !== undefined) {
    const a = cols.score;
    tests.push((s) => (a[s] as number) >= minScore);
  }
  const category = (field: CategoryField, wanted: readonly string[] | undefined) => {
    if (wanted === undefined) return;
    const col = cols.cat[field];
    const codes = [...new Set(wanted)].map((v) => col.codeOf(v)).filter((c): c is number => c !== undefined);
    if (codes.length === 0) {
      empty = true;
      return;
    }
    const allowed = new Uint8Array(col.values.length);
    for (const c of codes) allowed[c] = 1;
    const codeArr = col.codes;
    tests.push((s) => allowed[codeArr[s] as number] === 1);
    const count = codes.reduce((n, c) => n + (col.counts[c] as number), 0);
    offer({ count, slots: () => bitmapSlots(codes.map((c) => col.bitmaps[c] as Uint32Array)) });
  };
  category('verdict', f.verdict === undefined ? undefined : [f.verdict]);
  category('severity', f.severity);
  category('status', f.status);
  category('tactic', f.tactic === undefined ? undefined : [f.tactic]);
  category('technique', f.technique === undefined ? undefined : [f.technique]);
  category('model', f.modelVersion === undefined ? undefined : [f.modelVersion]);
  for (const [text, field, key] of [
    [f.srcIp, 'src4', 'srcIp'],
    [f.dstIp, 'dst4', 'dstIp'],
  ] as const) {
    if (text === undefined) continue;
    const m: IpMatcher = parseIpFilter(text);
    const range = ipv4Range(m);
    if (range) {
      const [lo, hi] = range;
      const a = cols[field];
      tests.push((s) => {
        const v = a[s] as number;
        return v >= lo && v <= hi;
      });
      offer(ips?.range(field, lo, hi) ?? null);
    } else {
      const texts = cols[key];
      tests.push((s) => ipMatches(m, texts[s] as string));
    }
  }
  if (f.labelled !== undefined) {
    const want = f.labelled ? 1 : 0;
    const a = cols.labelled;
    tests.push((s) => a[s] === want);
    if (f.labelled) offer(labelledSlots);
  }
  // Nothing can match already (e.g. a status no point has): no set of the ids' slots to build.
  if (f.sequenceIds !== undefined && !empty) {
    const slots = new Set<number>();
    for (const id of f.sequenceIds) {
      const s = slotOfId(id);
      if (s !== undefined) slots.add(s);
    }
    tests.push((s) => slots.has(s));
    offer({ count: slots.size, slots: () => slots });
  }
  const n = tests.length;
  let test: (s: number) => boolean;
  if (empty) test = () => false;
  else if (n === 0) test = (s) => live[s] === 1;
  else if (n === 1) {
    const t0 = tests[0] as (s: number) => boolean;
    test = (s) => live[s] === 1 && t0(s);
  } else {
    test = (s) => {
      if (live[s] !== 1) return false;
      for (let i = 0; i < n; i++) if (!(tests[i] as (s: number) => boolean)(s)) return false;
      return true;
    };
  }
  return {
    test,
    candidates: empty ? { count: 0, slots: () => [] } : best,
    empty,
    trivial: !empty && n === 0,
  };
}

/** An IPv4 exact address or IPv4 CIDR as an inclusive numeric range; null for IPv6. */
function ipv4Range(m: IpMatcher): [number, number] | null {
  if (m.kind === 'v4') return [m.lo, m.hi];
  if (m.kind === 'exact') {
    const n = parseIPv4(m.ip);
    if (n >= 0) return [n, n];
  }
  return null;
}

/** Slots set in any of the bitmaps (their union), ascending. */
function* bitmapSlots(bitmaps: Uint32Array[]): Generator<number> {
  const first = bitmaps[0];
  if (!first) return;
  const words = first.length;
  for (let w = 0; w < words; w++) {
    let bits = 0;
    for (const b of bitmaps) bits |= b[w] as number;
    while (bits !== 0) {
      const low = bits & -bits;
      yield (w << 5) + 31 - Math.clz32(low);
      bits ^= low;
    }
  }
}
