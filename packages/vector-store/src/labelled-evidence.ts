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
  /** Calls answered here, calls passed to the store as they were, query×point pairs scored here. */
  readonly stats = { cached: 0, direct: 0, pairs: 0 };

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
        const rows = n - from;
        const gq = Math.max(2, members.length);
        const gQueries = new Float32Array(gq * dim);
        for (let j = 0; j < members.length; j++) {
          const i = members[j] as number;
          gQueries.set(queries.subarray(i * dim, (i + 1) * dim), j * dim);
        }
        if (members.length === 1) gQueries.copyWithin(dim, 0, dim);
        if (this.zeroBias.length < rows)
          this.zeroBias = new Float32Array(Math.max(rows, 2 * this.zeroBias.length));
        const width = Math.min(rows, kk);
        this.stats.pairs += gq * rows;
        const out = await gemmTopK(
          gQueries,
          gq,
          lab.vectors.subarray(from * dim, n * dim),
          rows,
          dim,
          this.zeroBias.subarray(0, rows),
          width,
        );
        // Rows below n are as they were unless something other than appends happened meanwhile.
        if (lab.version - version !== lab.count - n) return this.direct(vectors, opts);
        for (let j = 0; j < members.length; j++) {
          const i = members[j] as number;
          const add: Entry = {
            version,
            count: n,
            width,
            rows: new Int32Array(width),
            sims: new Float32Array(width),
          };
          for (let c = 0; c < width; c++) {
            const sim = out.similarity[j * width + c] as number;
            if (Number.isNaN(sim)) return this.direct(vectors, opts);
            add.sims[c] = sim;
            add.rows[c] = from + Number(out.index[j * width + c]);
          }
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

/** Statistics of a session (see `LabelledEvidenceCache.stats`). */
export type EvidenceSessionStats = LabelledEvidenceCache['stats'];

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
