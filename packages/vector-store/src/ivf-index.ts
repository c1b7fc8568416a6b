import { gemmSimilarities } from './cosine-gemm.ts';

/** What the index was built from and how well it answers (printed by bench/api.ts). */
export interface IvfStats {
  lists: number;
  /**
   * Points each query examines (eligible ones) before it stops probing further lists; equal to
   * trainedOn when no budget under a quarter of the points reached the recall target (the data
   * has no structure the lists can exploit), and the store then searches exactly.
   */
  probePoints: number;
  /** Mean recall@k against exact search on the calibration queries, at probePoints. */
  recall: number;
  calibrationQueries: number;
  trainedOn: number;
  buildMs: number;
  /** Points written since the build, not yet in a list (scanned exactly by every query). */
  pending: number;
}

export interface IvfSource {
  dim: number;
  vectors(): Float32Array;
  liveSlots(): Int32Array;
}

/** Ranked result slots and similarities, best first. */
export interface SlotHits {
  slots: number[];
  sims: number[];
}

const RECALL_TARGET = 0.97;
/** The int8 scan keeps this many times k candidates for the exact re-rank. */
const RERANK = 8;
const CALIBRATION_QUERIES = 48;
const KMEANS_ITERATIONS = 8;
const CHUNK = 16_384;

/**
 * An inverted-file index over unit vectors for approximate kNN by cosine: spherical k-means
 * centroids (√n lists) trained on a sample with GEMM, every point in the list of its nearest
 * centroid. A query ranks the centroids and scans the nearest lists until it has examined
 * `probePoints` points that pass its filter (so a selective filter probes further instead of
 * losing recall), scores each exactly against the stored full-precision vectors, and keeps the
 * best k. probePoints is calibrated at build time: the smallest budget whose recall@k against
 * exact search reaches RECALL_TARGET on sample queries.
 * Writes after the build go to `pending` (scanned exactly) until the next assignPending().
 */
export class IvfIndex {
  readonly dim: number;
  #centroids: Float32Array = new Float32Array(0);
  #lists: Int32Array[] = [];
  /** Per list, its points' vectors as int8 (x·127), contiguous: the scan reads these, not the slab. */
  #codes: Int8Array[] = [];
  #listLen = new Int32Array(0);
  /** The list each slot is in (-1: none) and its position there, so a change is an O(1) swap-remove. */
  #listOf = new Int32Array(0);
  #posOf = new Int32Array(0);
  #pending = new Set<number>();
  /** Slots changed (false) or removed (true) while a build or assignment awaited its GEMM. */
  #building: Map<number, boolean> | null = null;
  #stats: IvfStats | null = null;

  constructor(dim: number) {
    this.dim = dim;
  }

  get stats(): IvfStats | null {
    return this.#stats ? { ...this.#stats, pending: this.#pending.size } : null;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The slot's vector changed: out of its list, into pending (scanned exactly until assigned). */
  touch(slot: number): void {
    this.#unlist(slot);
    this.#pending.add(slot);
    this.#building?.set(slot, false);
  }

  /** The point is gone. */
  remove(slot: number): void {
    this.#unlist(slot);
    this.#pending.delete(slot);
    this.#building?.set(slot, true);
  }

  #unlist(slot: number): void {
    const l = slot < this.#listOf.length ? (this.#listOf[slot] as number) : -1;
    if (l < 0) return;
    const list = this.#lists[l] as Int32Array;
    const codes = this.#codes[l] as Int8Array;
    const last = (this.#listLen[l] as number) - 1;
    const at = this.#posOf[slot] as number;
    if (at !== last) {
      const moved = list[last] as number;
      list[at] = moved;
      codes.copyWithin(at * this.dim, last * this.dim, (last + 1) * this.dim);
      this.#posOf[moved] = at;
    }
    this.#listLen[l] = last;
    this.#listOf[slot] = -1;
  }

  /**
   * (Re)builds from the source's live points: k-means on a sample, assignment of every point,
   * then calibration of probePoints for recall@k against exact search. Writes during the build are
   * replayed into pending at the end.
   */
  async build(src: IvfSource, k: number, seed = 1): Promise<IvfStats> {
    const t0 = performance.now();
    const dim = this.dim;
    this.#building = new Map();
    try {
      const live = src.liveSlots();
      const n = live.length;
      const nlist = Math.max(1, Math.min(4096, Math.round(Math.sqrt(n))));
      const rand = mulberry32(seed);
      const sampleSize = Math.min(n, Math.max(nlist * 32, 10_000));
      const sample = sampleOf(live, sampleSize, rand);
      const sampleVecs = gather(src.vectors(), sample, dim);
      const centroids = gather(src.vectors(), sampleOf(sample, nlist, rand), dim);
      const assign = new Int32Array(sample.length);
      for (let it = 0; it < KMEANS_ITERATIONS; it++) {
        await nearestCentroid(sampleVecs, sample.length, centroids, nlist, dim, assign);
        const sums = new Float64Array(nlist * dim);
        const sizes = new Int32Array(nlist);
        for (let i = 0; i < sample.length; i++) {
          const c = assign[i] as number;
          sizes[c] = (sizes[c] as number) + 1;
          for (let d = 0; d < dim; d++)
            sums[c * dim + d] = (sums[c * dim + d] as number) + (sampleVecs[i * dim + d] as number);
        }
        for (let c = 0; c < nlist; c++) {
          if (sizes[c] === 0) {
            // An empty cluster restarts at a random sample point.
            const r = Math.floor(rand() * sample.length);
            centroids.set(sampleVecs.subarray(r * dim, (r + 1) * dim), c * dim);
            continue;
          }
          let norm = 0;
          for (let d = 0; d < dim; d++) norm += (sums[c * dim + d] as number) ** 2;
          norm = Math.sqrt(norm) || 1;
          for (let d = 0; d < dim; d++) centroids[c * dim + d] = (sums[c * dim + d] as number) / norm;
        }
      }
      // Assign every live point (GEMM in chunks so the similarity matrix stays small).
      const listOf = new Int32Array(
        Math.max(live.length ? (live[live.length - 1] as number) + 1 : 0, 1),
      ).fill(-1);
      const chunkAssign = new Int32Array(CHUNK);
      for (let at = 0; at < n; at += CHUNK) {
        const part = live.subarray(at, Math.min(n, at + CHUNK));
        const vecs = gather(src.vectors(), part, dim);
        await nearestCentroid(vecs, part.length, centroids, nlist, dim, chunkAssign);
        for (let i = 0; i < part.length; i++) listOf[part[i] as number] = chunkAssign[i] as number;
      }
      this.#centroids = centroids;
      this.#listOf = listOf;
      this.#pending = new Set();
      this.#rebuildLists(nlist, src.vectors());
      const replay = [...this.#building];
      this.#building = null;
      for (const [s, removed] of replay) {
        if (removed) this.remove(s);
        else this.touch(s);
      }
      const calibration = await this.#calibrate(src, live, k, rand);
      this.#stats = {
        lists: nlist,
        probePoints: calibration.probePoints,
        recall: calibration.recall,
        calibrationQueries: calibration.queries,
        trainedOn: n,
        buildMs: performance.now() - t0,
        pending: 0,
      };
      return this.stats as IvfStats;
    } finally {
      this.#building = null;
    }
  }

  /** Moves pending points into their nearest lists. */
  async assignPending(src: IvfSource, isLive: (slot: number) => boolean): Promise<void> {
    const nlist = this.#lists.length;
    if (nlist === 0) return;
    const slots = Int32Array.from([...this.#pending].filter(isLive));
    const dim = this.dim;
    const assign = new Int32Array(Math.min(CHUNK, slots.length));
    for (let at = 0; at < slots.length; at += CHUNK) {
      const part = slots.subarray(at, Math.min(slots.length, at + CHUNK));
      const vecs = gather(src.vectors(), part, dim);
      this.#building = new Map();
      await nearestCentroid(vecs, part.length, this.#centroids, nlist, dim, assign);
      const touched = this.#building;
      this.#building = null;
      for (let i = 0; i < part.length; i++) {
        const s = part[i] as number;
        if (touched.has(s) || !this.#pending.has(s)) continue;
        this.#place(s, assign[i] as number, src.vectors());
        this.#pending.delete(s);
      }
    }
    for (const s of [...this.#pending]) if (!isLive(s)) this.#pending.delete(s);
  }

  /**
   * The k best slots by dot product with the (unit) query among slots passing `test` (null: all
   * points; the scan then reads nothing but the lists, no per-slot state), probing
   * lists nearest first until `budget` eligible points were scored (or every list was). The scan
   * scores the int8 codes and keeps the best RERANK·k, which are then re-ranked exactly on the
   * float vectors.
   */
  search(
    query: Float32Array,
    k: number,
    test: ((slot: number) => boolean) | null,
    exclude: number,
    vectors: Float32Array,
    budget = this.#stats?.probePoints ?? Number.POSITIVE_INFINITY,
  ): SlotHits {
    const dim = this.dim;
    const nlist = this.#lists.length;
    const cs = new Float64Array(nlist);
    const cents = this.#centroids;
    for (let c = 0; c < nlist; c++) cs[c] = dot(query, 0, cents, c * dim, dim);
    // Lists nearest first, picked one at a time: a query probes few of them.
    const picked = new Uint8Array(nlist);
    const nextList = (): number => {
      let best = -1;
      let bestSim = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < nlist; c++) {
        if (picked[c] === 0 && (cs[c] as number) > bestSim) {
          bestSim = cs[c] as number;
          best = c;
        }
      }
      if (best >= 0) picked[best] = 1;
      return best;
    };
    // The query as int8 too: the scan is integer arithmetic.
    const q8 = new Int8Array(dim);
    for (let d = 0; d < dim; d++) q8[d] = Math.round((query[d] as number) * 127);
    const top = new TopK(k);
    const rough = new TopK(Math.max(RERANK * k, 64));
    let seen = 0;
    for (const s of this.#pending) {
      if (s === exclude || (test && !test(s))) continue;
      top.offer(s, dot(query, 0, vectors, s * dim, dim));
    }
    for (let li = 0; li < nlist && seen < budget; li++) {
      const l = nextList();
      const list = this.#lists[l] as Int32Array;
      const codes = this.#codes[l] as Int8Array;
      const len = this.#listLen[l] as number;
      for (let i = 0; i < len; i++) {
        const s = list[i] as number;
        if (s === exclude || (test && !test(s))) continue;
        seen++;
        let d0 = 0;
        let d1 = 0;
        const o = i * dim;
        let j = 0;
        for (; j + 1 < dim; j += 2) {
          d0 = (d0 + (q8[j] as number) * (codes[o + j] as number)) | 0;
          d1 = (d1 + (q8[j + 1] as number) * (codes[o + j + 1] as number)) | 0;
        }
        if (j < dim) d0 = (d0 + (q8[j] as number) * (codes[o + j] as number)) | 0;
        rough.offer(s, d0 + d1);
      }
    }
    for (const s of rough.slots) top.offer(s, dot(query, 0, vectors, s * dim, dim));
    return top.result();
  }

  #place(slot: number, list: number, vectors: Float32Array): void {
    if (slot >= this.#listOf.length) {
      const g = new Int32Array(Math.max(slot + 1, this.#listOf.length * 2)).fill(-1);
      g.set(this.#listOf);
      this.#listOf = g;
    }
    if (slot >= this.#posOf.length) {
      const g = new Int32Array(this.#listOf.length);
      g.set(this.#posOf);
      this.#posOf = g;
    }
    this.#listOf[slot] = list;
    let arr = this.#lists[list] as Int32Array;
    const len = this.#listLen[list] as number;
    if (len === arr.length) {
      const g = new Int32Array(Math.max(16, arr.length * 2));
      g.set(arr);
      arr = g;
      this.#lists[list] = g;
      const c = new Int8Array(g.length * this.dim);
      c.set(this.#codes[list] as Int8Array);
      this.#codes[list] = c;
    }
    arr[len] = slot;
    this.#posOf[slot] = len;
    encode(vectors, slot, this.#codes[list] as Int8Array, len, this.dim);
    this.#listLen[list] = len + 1;
  }

  #rebuildLists(nlist: number, vectors: Float32Array): void {
    const sizes = new Int32Array(nlist);
    const listOf = this.#listOf;
    for (let s = 0; s < listOf.length; s++) {
      const l = listOf[s] as number;
      if (l >= 0) sizes[l] = (sizes[l] as number) + 1;
    }
    this.#lists = Array.from({ length: nlist }, (_, l) => new Int32Array(Math.max(16, sizes[l] as number)));
    this.#codes = this.#lists.map((l) => new Int8Array(l.length * this.dim));
    this.#listLen = new Int32Array(nlist);
    this.#posOf = new Int32Array(listOf.length);
    for (let s = 0; s < listOf.length; s++) {
      const l = listOf[s] as number;
      if (l < 0) continue;
      const len = this.#listLen[l] as number;
      (this.#lists[l] as Int32Array)[len] = s;
      this.#posOf[s] = len;
      encode(vectors, s, this.#codes[l] as Int8Array, len, this.dim);
      this.#listLen[l] = len + 1;
    }
  }

  async #calibrate(
    src: IvfSource,
    live: Int32Array,
    k: number,
    rand: () => number,
  ): Promise<{ probePoints: number; recall: number; queries: number }> {
    const n = live.length;
    const dim = this.dim;
    const qSlots = sampleOf(live, Math.min(CALIBRATION_QUERIES, n), rand);
    const exact = await exactTopK(src, live, qSlots, k);
    const nlist = this.#lists.length;
    const avgList = n / Math.max(1, nlist);
    let best = { probePoints: n, recall: 1 };
    for (const probes of [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]) {
      const budget = Math.ceil(probes * avgList);
      // Past a quarter of the points an exact scan costs about the same and is exact.
      if (probes >= nlist || budget > n / 4) break;
      let hit = 0;
      let total = 0;
      for (const [i, q] of qSlots.entries()) {
        // A build runs beside live queries: let them in between the calibration searches.
        await new Promise((resolve) => setImmediate(resolve));
        const vectors = src.vectors();
        const query = vectors.subarray(q * dim, (q + 1) * dim);
        const got = new Set(this.search(query, k, null, q, vectors, budget).slots);
        const want = exact[i] as number[];
        for (const s of want) if (got.has(s)) hit++;
        total += want.length;
      }
      const recall = total === 0 ? 1 : hit / total;
      if (recall >= RECALL_TARGET) {
        best = { probePoints: budget, recall };
        break;
      }
    }
    return { ...best, queries: qSlots.length };
  }
}

/** Exact top-k slots (excluding the query's own slot) for sample queries, via chunked GEMM. */
async function exactTopK(
  src: IvfSource,
  live: Int32Array,
  qSlots: Int32Array,
  k: number,
): Promise<number[][]> {
  const dim = src.dim;
  const q = qSlots.length;
  const queries = gather(src.vectors(), qSlots, dim);
  const tops = Array.from({ length: q }, () => new TopK(k));
  for (let at = 0; at < live.length; at += CHUNK * 4) {
    const part = live.subarray(at, Math.min(live.length, at + CHUNK * 4));
    const sims = await gemmSimilarities(queries, q, gather(src.vectors(), part, dim), part.length, dim);
    for (let i = 0; i < q; i++) {
      const top = tops[i] as TopK;
      const self = qSlots[i] as number;
      const row = i * part.length;
      for (let j = 0; j < part.length; j++) {
        const s = part[j] as number;
        if (s !== self) top.offer(s, sims[row + j] as number);
      }
    }
  }
  return tops.map((t) => t.result().slots);
}

async function nearestCentroid(
  vecs: Float32Array,
  n: number,
  centroids: Float32Array,
  nlist: number,
  dim: number,
  out: Int32Array,
): Promise<void> {
  const sims = await gemmSimilarities(vecs, n, centroids, nlist, dim);
  for (let i = 0; i < n; i++) {
    const row = i * nlist;
    let best = 0;
    let bestSim = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < nlist; c++) {
      const v = sims[row + c] as number;
      if (v > bestSim) {
        bestSim = v;
        best = c;
      }
    }
    out[i] = best;
  }
}

/** Keeps the k largest (slot, similarity) offers; ties keep the earlier offer. */
export class TopK {
  readonly slots: number[] = [];
  readonly sims: number[] = [];
  constructor(readonly k: number) {}

  /** The similarity an offer must beat once full. */
  get floor(): number {
    return this.sims.length < this.k ? Number.NEGATIVE_INFINITY : (this.sims[0] as number);
  }

  offer(slot: number, sim: number): void {
    const sims = this.sims;
    if (this.k === 0 || (sims.length === this.k && sim <= (sims[0] as number))) return;
    let at = 0;
    while (at < sims.length && (sims[at] as number) < sim) at++;
    sims.splice(at, 0, sim);
    this.slots.splice(at, 0, slot);
    if (sims.length > this.k) {
      sims.shift();
      this.slots.shift();
    }
  }

  /** Best first. */
  result(): SlotHits {
    return { slots: [...this.slots].reverse(), sims: [...this.sims].reverse() };
  }
}

export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = 0;
  for (; i + 1 < dim; i += 2) {
    s0 += (a[ao + i] as number) * (b[bo + i] as number);
    s1 += (a[ao + i + 1] as number) * (b[bo + i + 1] as number);
  }
  if (i < dim) s0 += (a[ao + i] as number) * (b[bo + i] as number);
  return s0 + s1;
}

/** A unit vector's components as int8 (round(x·127)) into codes at row `row`. */
function encode(vectors: Float32Array, slot: number, codes: Int8Array, row: number, dim: number): void {
  const from = slot * dim;
  const to = row * dim;
  for (let d = 0; d < dim; d++) codes[to + d] = Math.round((vectors[from + d] as number) * 127);
}

function gather(vectors: Float32Array, slots: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(slots.length * dim);
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i] as number;
    out.set(vectors.subarray(s * dim, (s + 1) * dim), i * dim);
  }
  return out;
}

/** m distinct entries of `from`, chosen at random (partial Fisher-Yates on a copy). */
function sampleOf(from: Int32Array, m: number, rand: () => number): Int32Array {
  const a = Int32Array.from(from);
  const take = Math.min(m, a.length);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(rand() * (a.length - i));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
  return a.slice(0, take);
}

function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
