import { gemmTopK } from './cosine-gemm.ts';
import type { LabelledPoints } from './labelled-points.ts';
import type { EvidenceHit, EvidenceSession, FindingFilter } from './store.ts';

/** What a session needs of its EmbeddedStore. */
export interface LabelledEvidenceSource {
  readonly dim: number;
  readonly labelled: LabelledPoints;
  /** Whether the store answers `q` labelled-only queries with one Gemm + TopK over the labelled matrix. */
  gemmFor(q: number): boolean;
  /** A live labelled slot and its similarity as a hit (read at answer time, as the store does). */
  hit(slot: number, similarity: number): EvidenceHit;
  /** The store's own `similarEvidence`. */
  direct(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<EvidenceHit[][]>;
  /** The store's query normalisation (the unit vector its Gemm reads). */
  normalise(vector: ArrayLike<number>, out: Float32Array, at: number): void;
}

/** A query asked in full goes over the distinct labelled vectors when they are at most this share of the rows. */
const DISTINCT_SHARE = 0.85;

/** Catch-up rounds for rows appended while a call's Gemm ran. */
const MAX_ROUNDS = 3;

/** A query's best labelled rows when the matrix had `count` rows at `version`, best first. */
interface Entry {
  version: number;
  count: number;
  width: number;
  rows: Int32Array;
  sims: Float32Array;
}

/**
 * `similarEvidence` for labelled-only kNN that remembers each query's best rows. The labelled matrix
 * only appends rows while points are added (row order decides ties), so a query asked again after
 * appends only needs the rows appended since, merged into what it had: the same hits as asking
 * the store. Anything else that touched the matrix (a removal, a vector refreshed in place) shows
 * as more version bumps than new rows, and the query is asked in full.
 *
 * Exactness rests on onnxruntime's Gemm giving the same float for a query·point pair whatever the
 * number of rows, their offset and the number of queries, which holds for two queries or more
 * (0 of 44.8M pairs differed over random shapes, 64-d, on this project's AVX2 box; the test
 * compares with the store's answers) but not for one: a single query takes another MLAS path
 * whose sums differ in the last bit, also between row ranges. So only calls the store runs
 * as a Gemm of ≥ 2 queries use the cache (a lone query of a group is padded with a copy of
 * itself); single-query and small calls (the store's scalar loop) go to the store as they are.
 */
export class LabelledEvidenceCache implements Pick<EvidenceSession, 'similarEvidence'> {
  private readonly entries = new Map<string, Entry>();
  private zeroBias = new Float32Array(0);
  private distinct: DistinctRows | null = null;
  /**
   * Calls answered here, calls passed to the store as they were, query×point pairs scored here,
   * queries asked in full over the distinct vectors.
   */
  readonly stats = { cached: 0, direct: 0, pairs: 0, distinct: 0 };

  /** `maxEntries`: the queries remembered at most (all are forgotten when a call would pass it). */
  constructor(
    private readonly src: LabelledEvidenceSource,
    private readonly maxEntries = 65_536,
  ) {}

  /** How many queries are remembered. */
  get size(): number {
    return this.entries.size;
  }

  private direct(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<EvidenceHit[][]> {
    this.stats.direct++;
    return this.src.direct(vectors, opts);
  }

  /** `members`' queries (padded to two) as one call's query matrix. */
  private gemmQueries(queries: Float32Array, members: number[]): { q: Float32Array; gq: number } {
    const dim = this.src.dim;
    const gq = Math.max(2, members.length);
    const q = new Float32Array(gq * dim);
    for (let j = 0; j < members.length; j++) {
      const i = members[j] as number;
      q.set(queries.subarray(i * dim, (i + 1) * dim), j * dim);
    }
    if (members.length === 1) q.copyWithin(dim, 0, dim);
    return { q, gq };
  }

  private bias(rows: number): Float32Array {
    if (this.zeroBias.length < rows)
      this.zeroBias = new Float32Array(Math.max(rows, 2 * this.zeroBias.length));
    return this.zeroBias.subarray(0, rows);
  }

  /** The best min(kk, n - from) of rows [from, n) per member (version to be set); null: a NaN. */
  private async askRows(
    queries: Float32Array,
    members: number[],
    from: number,
    n: number,
    kk: number,
  ): Promise<Entry[] | null> {
    const dim = this.src.dim;
    const rows = n - from;
    const width = Math.min(rows, kk);
    const { q, gq } = this.gemmQueries(queries, members);
    this.stats.pairs += gq * rows;
    const lab = this.src.labelled;
    const out = await gemmTopK(
      q,
      gq,
      lab.vectors.subarray(from * dim, n * dim),
      rows,
      dim,
      this.bias(rows),
      width,
    );
    const entries: Entry[] = [];
    for (let j = 0; j < members.length; j++) {
      const e: Entry = {
        version: 0,
        count: n,
        width,
        rows: new Int32Array(width),
        sims: new Float32Array(width),
      };
      for (let c = 0; c < width; c++) {
        const sim = out.similarity[j * width + c] as number;
        if (Number.isNaN(sim)) return null;
        e.sims[c] = sim;
        e.rows[c] = from + Number(out.index[j * width + c]);
      }
      entries.push(e);
    }
    return entries;
  }

  /**
   * The best min(kk, n) rows below n per member from one call over the distinct vectors: the best
   * kk distinct vectors, each expanded to its first kk rows, sorted by similarity then row. Exact:
   * every distinct vector scoring above the kk-th row is among them; among distinct vectors that
   * tie, TopK returns those with the lowest index, which is the lowest first row, and the rows a
   * list needs from a tie belong to that many of them at most. Null: a NaN.
   */
  private async askDistinct(
    queries: Float32Array,
    members: number[],
    distinct: DistinctRows,
    n: number,
    kk: number,
  ): Promise<Entry[] | null> {
    const dim = this.src.dim;
    const dn = distinct.size;
    const width = Math.min(dn, kk);
    const { q, gq } = this.gemmQueries(queries, members);
    this.stats.pairs += gq * dn;
    const out = await gemmTopK(q, gq, distinct.vectors.subarray(0, dn * dim), dn, dim, this.bias(dn), width);
    const entries: Entry[] = [];
    const candRows: number[] = [];
    const candSims: number[] = [];
    const order: number[] = [];
    for (let j = 0; j < members.length; j++) {
      candRows.length = 0;
      candSims.length = 0;
      for (let c = 0; c < width; c++) {
        const sim = out.similarity[j * width + c] as number;
        if (Number.isNaN(sim)) return null;
        const d = Number(out.index[j * width + c]);
        let taken = 0;
        for (
          let r = distinct.head[d] as number;
          r !== -1 && r < n && taken < kk;
          r = distinct.next[r] as number
        ) {
          candRows.push(r);
          candSims.push(sim);
          taken++;
        }
      }
      order.length = 0;
      for (let c = 0; c < candRows.length; c++) order.push(c);
      order.sort(
        (x, y) =>
          (candSims[y] as number) - (candSims[x] as number) ||
          (candRows[x] as number) - (candRows[y] as number),
      );
      const w = Math.min(kk, order.length);
      this.stats.distinct++;
      const e: Entry = { version: 0, count: n, width: w, rows: new Int32Array(w), sims: new Float32Array(w) };
      for (let c = 0; c < w; c++) {
        e.rows[c] = candRows[order[c] as number] as number;
        e.sims[c] = candSims[order[c] as number] as number;
      }
      entries.push(e);
    }
    return entries;
  }

  async similarEvidence(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<EvidenceHit[][]> {
    const { src } = this;
    const dim = src.dim;
    const k = Math.max(0, Math.floor(opts.k));
    const Q = vectors.length;
    if (
      k === 0 ||
      Q < 2 ||
      !labelledOnly(opts.filter) ||
      opts.excludeIds?.some((id) => id !== undefined) ||
      vectors.some((v) => v.length !== dim) ||
      !src.gemmFor(Q)
    )
      return this.direct(vectors, opts);
    if (this.entries.size + Q > this.maxEntries) this.entries.clear();
    const lab = src.labelled;
    const queries = new Float32Array(Q * dim);
    const bytes = new Uint8Array(queries.buffer);
    const keys = new Array<string>(Q);
    for (let i = 0; i < Q; i++) {
      src.normalise(vectors[i] as ArrayLike<number>, queries, i * dim);
      keys[i] = `${k}:${latin1(bytes, i * dim * 4, (i + 1) * dim * 4)}`;
    }
    const current = new Array<Entry>(Q);
    // Each round brings every query up to the matrix as the round found it. Rows appended while a
    // Gemm ran are taken in the next round (the store re-runs on a copy then); after the last
    // round the answer is the matrix as that round found it.
    for (let round = 0; ; round++) {
      const version = lab.version;
      const n = lab.count;
      if (!src.gemmFor(Q)) return this.direct(vectors, opts);
      const kk = Math.min(n, k + 1);
      // The first row each query still needs (0: never asked, or rows changed since).
      const need: number[] = [];
      const fromOf = new Int32Array(Q);
      for (let i = 0; i < Q; i++) {
        let e = this.entries.get(keys[i] as string);
        if (e && version - e.version !== n - e.count) e = undefined;
        if (e) current[i] = e;
        fromOf[i] = e ? e.count : 0;
        if (fromOf[i] !== n) need.push(i);
      }
      if (need.length === 0 || round === MAX_ROUNDS) break;
      for (const { from, members } of plan(need, fromOf, n)) {
        if (from === 0) {
          // Asked in full: over the distinct labelled vectors when duplicates are common.
          const distinct = (this.distinct ??= new DistinctRows(dim));
          distinct.sync(lab);
          if (distinct.size <= DISTINCT_SHARE * n) {
            const got = await this.askDistinct(queries, members, distinct, n, kk);
            if (lab.version - version !== lab.count - n || got === null) return this.direct(vectors, opts);
            for (let j = 0; j < members.length; j++) {
              const e = got[j] as Entry;
              e.version = version;
              this.entries.set(keys[members[j] as number] as string, e);
              current[members[j] as number] = e;
            }
            continue;
          }
        }
        const got = await this.askRows(queries, members, from, n, kk);
        // Rows below n are as they were unless something other than appends happened meanwhile.
        if (lab.version - version !== lab.count - n || got === null) return this.direct(vectors, opts);
        for (let j = 0; j < members.length; j++) {
          const i = members[j] as number;
          const add = got[j] as Entry;
          add.version = version;
          const before = (fromOf[i] as number) > 0 ? current[i] : undefined;
          const e = before ? merge(before, add, kk, version, n) : add;
          this.entries.set(keys[i] as string, e);
          current[i] = e;
        }
      }
    }
    this.stats.cached++;
    const slots = src.labelled.slots;
    const results = new Array<EvidenceHit[]>(Q);
    for (let i = 0; i < Q; i++) {
      const e = current[i] as Entry;
      const hits: EvidenceHit[] = [];
      for (let c = 0; c < e.width && hits.length < k; c++)
        hits.push(src.hit(slots[e.rows[c] as number] as number, e.sims[c] as number));
      results[i] = hits;
    }
    return results;
  }
}

/**
 * The best `kk` rows below `count` from `a` (the best of rows below `a.count`) and `b` (the best of
 * rows from some row ≤ `a.count` on): `b`'s rows below `a.count` are `a`'s business and skipped
 * (any row of the true best from `a.count` on ranks at least as high in `b`'s range, so `b` has
 * it). Ties go to the lower row, as TopK orders them; all of `a`'s rows are below the rest of `b`'s.
 */
function merge(a: Entry, b: Entry, kk: number, version: number, count: number): Entry {
  const bRows = new Int32Array(b.width);
  const bSims = new Float32Array(b.width);
  let bw = 0;
  for (let j = 0; j < b.width; j++) {
    if ((b.rows[j] as number) < a.count) continue;
    bRows[bw] = b.rows[j] as number;
    bSims[bw++] = b.sims[j] as number;
  }
  const width = Math.min(kk, a.width + bw);
  const out: Entry = { version, count, width, rows: new Int32Array(width), sims: new Float32Array(width) };
  let i = 0;
  let j = 0;
  for (let c = 0; c < width; c++) {
    if (j >= bw || (i < a.width && (a.sims[i] as number) >= (bSims[j] as number))) {
      out.sims[c] = a.sims[i] as number;
      out.rows[c] = a.rows[i++] as number;
    } else {
      out.sims[c] = bSims[j] as number;
      out.rows[c] = bRows[j++] as number;
    }
  }
  return out;
}

/**
 * Cost of one Gemm + TopK call in query×point pairs (4 ns each on this box): ≈ 100 µs whatever the
 * shape, and ≈ 36 ns per row (onnxruntime packs the point matrix on every call).
 */
const CALL_PAIRS = 25_000;
const ROW_PAIRS = 9;

/**
 * Splits the queries that need rows into calls, each over rows [from, n) with `from` the least of
 * its members' first needed rows: contiguous runs of the first needed rows in order, chosen for the
 * least estimated cost (a query asked from below its first needed row pays for rows it had).
 */
function plan(need: number[], fromOf: Int32Array, n: number): { from: number; members: number[] }[] {
  const sorted = need.slice().sort((x, y) => (fromOf[x] as number) - (fromOf[y] as number) || x - y);
  const starts: number[] = [];
  for (let i = 0; i < sorted.length; i++)
    if (i === 0 || fromOf[sorted[i] as number] !== fromOf[sorted[i - 1] as number]) starts.push(i);
  const F = starts.length;
  // best[j]: least cost of the first j distinct first-needed rows; cut[j]: where its last call starts.
  const best = new Float64Array(F + 1);
  const cut = new Int32Array(F + 1);
  for (let j = 1; j <= F; j++) {
    best[j] = Number.POSITIVE_INFINITY;
    const end = j < F ? (starts[j] as number) : sorted.length;
    for (let i = 0; i < j; i++) {
      const from = fromOf[sorted[starts[i] as number] as number] as number;
      const m = end - (starts[i] as number);
      const cost = (best[i] as number) + CALL_PAIRS + (n - from) * (ROW_PAIRS + Math.max(2, m));
      if (cost < (best[j] as number)) {
        best[j] = cost;
        cut[j] = i;
      }
    }
  }
  const calls: { from: number; members: number[] }[] = [];
  for (let j = F; j > 0; j = cut[j] as number) {
    const i = cut[j] as number;
    const begin = starts[i] as number;
    const end = j < F ? (starts[j] as number) : sorted.length;
    calls.push({ from: fromOf[sorted[begin] as number] as number, members: sorted.slice(begin, end) });
  }
  return calls;
}

function latin1(bytes: Uint8Array, from: number, to: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + from, to - from).toString('latin1');
}

/** True when the filter asks for labelled points and nothing else. */
export function labelledOnly(filter: FindingFilter | undefined): boolean {
  if (filter?.labelled !== true) return false;
  for (const [key, v] of Object.entries(filter)) if (key !== 'labelled' && v !== undefined) return false;
  return true;
}

/**
 * The labelled matrix's distinct vectors (by float bits), in order of first row, with each one's
 * rows in order (a linked list through `next`). Follows the matrix while it only appends rows;
 * rebuilt when anything else changed it.
 */
class DistinctRows {
  size = 0;
  vectors: Float32Array;
  /** distinct vector → its first row; row → the next row with the same vector (-1: none). */
  head = new Int32Array(1024);
  next = new Int32Array(1024);
  private tail = new Int32Array(1024);
  private sameHash = new Int32Array(1024);
  private readonly byHash = new Map<number, number>();
  private version = 0;
  private count = -1;

  /** `vectors`' bits. */
  private bits: Uint32Array;

  constructor(private readonly dim: number) {
    this.vectors = new Float32Array(1024 * dim);
    this.bits = new Uint32Array(this.vectors.buffer);
  }

  /** Brings it up to the matrix as it is now. */
  sync(lab: LabelledPoints): void {
    if (this.count < 0 || lab.version - this.version !== lab.count - this.count) {
      this.size = 0;
      this.count = 0;
      this.byHash.clear();
    }
    const dim = this.dim;
    const bits = new Uint32Array(lab.vectors.buffer, lab.vectors.byteOffset, lab.count * dim);
    if (this.next.length < lab.count) this.next = grow(this.next, lab.count);
    for (let r = this.count; r < lab.count; r++) {
      const at = r * dim;
      let h = 0x811c9dc5;
      for (let i = 0; i < dim; i++) h = Math.imul(h ^ (bits[at + i] as number), 0x01000193);
      let d = this.byHash.get(h) ?? -1;
      let prev = -1;
      while (d !== -1 && !sameRow(bits, at, this.bits, d * dim, dim)) {
        prev = d;
        d = this.sameHash[d] as number;
      }
      this.next[r] = -1;
      if (d !== -1) {
        this.next[this.tail[d] as number] = r;
        this.tail[d] = r;
        continue;
      }
      d = this.size++;
      if (d >= this.head.length) {
        this.head = grow(this.head, d + 1);
        this.tail = grow(this.tail, d + 1);
        this.sameHash = grow(this.sameHash, d + 1);
      }
      if ((d + 1) * dim > this.vectors.length) {
        const v = new Float32Array(this.vectors.length * 2);
        v.set(this.vectors);
        this.vectors = v;
        this.bits = new Uint32Array(v.buffer);
      }
      this.vectors.set(lab.vectors.subarray(at, at + dim), d * dim);
      this.head[d] = r;
      this.tail[d] = r;
      this.sameHash[d] = -1;
      if (prev === -1) this.byHash.set(h, d);
      else this.sameHash[prev] = d;
    }
    this.version = lab.version;
    this.count = lab.count;
  }
}

function sameRow(a: Uint32Array, ao: number, b: Uint32Array, bo: number, dim: number): boolean {
  for (let i = 0; i < dim; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

function grow(a: Int32Array, min: number): Int32Array<ArrayBuffer> {
  let n = a.length;
  while (n < min) n *= 2;
  const g = new Int32Array(n);
  g.set(a);
  return g;
}
