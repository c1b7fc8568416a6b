import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Finding } from '@tidewatch/contracts';
import * as ort from 'onnxruntime-node';
import {
  compileFilter,
  decodeCursor,
  encodeCursor,
  facetValues,
  orderFacets,
  sortValue,
} from './finding-filter.ts';
import type { FacetField, FindingFilter, ListQuery, SimilarHit, StoredPoint, VectorStore } from './store.ts';

export interface EmbeddedStoreOptions {
  /** Directory holding the store (created if missing). */
  dir: string;
  /** Embedding dimension; every vector must have it. */
  dim: number;
  /** fsync the log after each write batch (default true: a write that resolved survives a crash). */
  fsync?: boolean;
  /** Rewrite the log when it holds more than this many records beyond the live points (default 50,000). */
  compactSlack?: number;
}

export class VectorDimensionError extends Error {
  override name = 'VectorDimensionError';
}

/** Log records, one JSON line each: upsert (vector as base64 float32), payload patch, delete. */
type LogRecord =
  | { u: [id: string, vector: string, payload: Finding] }
  | { p: [ids: string[], patch: Partial<Finding>] }
  | { d: string[] };

const LOG_FILE = 'points.log';

/** Below this many query×point pairs the plain loop beats a GEMM call's fixed cost. */
const GEMM_MIN_PAIRS = 1 << 16;
const GEMM_MODEL = fileURLToPath(new URL('../assets/cosine-gemm.onnx', import.meta.url));
let gemm: Promise<ort.InferenceSession> | null = null;

/** A one-node ONNX graph, similarity = queries · pointsᵀ (Gemm, transB=1; see assets/README). */
function gemmSession(): Promise<ort.InferenceSession> {
  gemm ??= ort.InferenceSession.create(GEMM_MODEL, { executionProviders: ['cpu'] });
  return gemm;
}

/**
 * A vector store on local disk for the one-process mode and CI. Points live in memory (vectors in
 * one Float32Array slab, L2-normalised on insert so cosine is a dot product; payloads as objects);
 * every change is first appended to an append-only JSON-lines log, which is replayed on open and
 * rewritten (write temp → fsync → rename) once it holds more dead records than `compactSlack`.
 * A torn last line after a crash is ignored and removed by the next compaction.
 * kNN is exact: one pass over the slab, filter first, keeping the k best in a small sorted array.
 */
export class EmbeddedStore implements VectorStore {
  readonly dim: number;
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly compactSlack: number;
  private readonly slotById = new Map<string, number>();
  private ids: (string | undefined)[] = [];
  private payloads: (Finding | undefined)[] = [];
  private vectors: Float32Array;
  private readonly freeSlots: number[] = [];
  private log: FileHandle | null = null;
  private logRecords = 0;
  private writeChain: Promise<unknown> = Promise.resolve();
  private opened = false;

  constructor(opts: EmbeddedStoreOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0)
      throw new VectorDimensionError(`dim must be a positive integer, got ${opts.dim}`);
    this.dir = opts.dir;
    this.dim = opts.dim;
    this.fsync = opts.fsync ?? true;
    this.compactSlack = opts.compactSlack ?? 50_000;
    this.vectors = new Float32Array(1024 * opts.dim);
  }

  get size(): number {
    return this.slotById.size;
  }

  async init(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, LOG_FILE);
    let torn = false;
    const exists = await stat(path).then(
      () => true,
      () => false,
    );
    if (exists) {
      const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
      for await (const line of lines) {
        if (!line) continue;
        let rec: LogRecord;
        try {
          rec = JSON.parse(line) as LogRecord;
        } catch {
          torn = true;
          continue;
        }
        this.apply(rec);
        this.logRecords++;
      }
    }
    this.opened = true;
    if (torn) await this.compact();
    else this.log = await open(path, 'a');
  }

  async upsert(points: StoredPoint[]): Promise<void> {
    if (points.length === 0) return;
    const recs: LogRecord[] = points.map((p) => {
      if (p.vector.length !== this.dim) {
        throw new VectorDimensionError(
          `point ${p.id}: vector has ${p.vector.length} dimensions, the store has ${this.dim}`,
        );
      }
      const v = normalised(p.vector);
      return { u: [p.id, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'), p.payload] };
    });
    await this.write(recs);
  }

  async get(id: string, opts?: { withVector?: boolean }): Promise<StoredPoint | null> {
    const slot = this.slotById.get(id);
    if (slot === undefined) return null;
    const payload = this.payloads[slot] as Finding;
    const vector =
      opts?.withVector === false
        ? []
        : Array.from(this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim));
    return { id, vector, payload: structuredClone(payload) };
  }

  async list(query: ListQuery): Promise<{ items: Finding[]; nextCursor: string | null }> {
    const matches = this.matching(query.filter);
    const sort = query.sort;
    const limit = Math.max(0, Math.floor(query.limit));
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    let items: Finding[];
    if (!sort) {
      items = matches.sort((a, b) => cmp(a.sequence_id, b.sequence_id));
      if (cursor) items = items.filter((f) => f.sequence_id > cursor.id);
    } else {
      const dir = sort.order === 'desc' ? -1 : 1;
      items = matches.sort(
        (a, b) =>
          dir * (sortValue(a, sort.field) - sortValue(b, sort.field)) || cmp(a.sequence_id, b.sequence_id),
      );
      if (cursor) {
        const cv = cursor.v ?? 0;
        items = items.filter((f) => {
          const v = sortValue(f, sort.field);
          return dir * (v - cv) > 0 || (v === cv && f.sequence_id > cursor.id);
        });
      }
    }
    const page = items.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor =
      last && items.length > limit
        ? encodeCursor(
            sort ? { v: sortValue(last, sort.field), id: last.sequence_id } : { id: last.sequence_id },
          )
        : null;
    return { items: page.map((f) => structuredClone(f)), nextCursor };
  }

  async count(filter?: FindingFilter): Promise<number> {
    const pred = compileFilter(filter);
    if (!pred) return this.slotById.size;
    let n = 0;
    for (const p of this.payloads) if (p && pred(p)) n++;
    return n;
  }

  async facet(
    field: FacetField,
    filter?: FindingFilter,
    limit = 10,
  ): Promise<{ value: string; count: number }[]> {
    const counts = new Map<string, number>();
    for (const f of this.matching(filter)) {
      for (const v of facetValues(f, field)) counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    return orderFacets(counts, limit);
  }

  async similar(
    vector: number[],
    opts: { k: number; filter?: FindingFilter; excludeId?: string },
  ): Promise<SimilarHit[]> {
    const [hits] = await this.similarMany([vector], {
      k: opts.k,
      ...(opts.filter ? { filter: opts.filter } : {}),
      excludeIds: [opts.excludeId],
    });
    return hits ?? [];
  }

  async similarMany(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<SimilarHit[][]> {
    const dim = this.dim;
    for (const v of vectors) {
      if (v.length !== dim) {
        throw new VectorDimensionError(`query vector has ${v.length} dimensions, the store has ${dim}`);
      }
    }
    const k = Math.max(0, Math.floor(opts.k));
    const Q = vectors.length;
    if (k === 0 || Q === 0) return vectors.map(() => []);
    const queries = new Float32Array(Q * dim);
    for (const [i, v] of vectors.entries()) queries.set(normalised(v), i * dim);
    const exclude = vectors.map((_, i) => {
      const id = opts.excludeIds?.[i];
      return id === undefined ? -1 : (this.slotById.get(id) ?? -1);
    });
    const pred = compileFilter(opts.filter);
    const n = this.ids.length;
    // Snapshot of the slots: a write landing during the GEMM must not shift ids under the results.
    const ids = this.ids.slice(0, n);
    const payloads = this.payloads.slice(0, n);
    const eligible = new Uint8Array(n);
    for (let slot = 0; slot < n; slot++) {
      const p = payloads[slot];
      if (p !== undefined && (!pred || pred(p))) eligible[slot] = 1;
    }
    const bestSim: number[][] = vectors.map(() => []);
    const bestSlot: number[][] = vectors.map(() => []);
    const keep = (q: number, slot: number, dot: number): void => {
      const sims = bestSim[q] as number[];
      if (sims.length === k && dot <= (sims[0] as number)) return;
      const slots = bestSlot[q] as number[];
      let at = 0;
      while (at < sims.length && (sims[at] as number) < dot) at++;
      sims.splice(at, 0, dot);
      slots.splice(at, 0, slot);
      if (sims.length > k) {
        sims.shift();
        slots.shift();
      }
    };
    if (Q * n >= GEMM_MIN_PAIRS) {
      // All similarities at once as one matrix product in onnxruntime (MLAS), then top-k per query.
      const session = await gemmSession();
      const out = await session.run({
        queries: new ort.Tensor('float32', queries, [Q, dim]),
        points: new ort.Tensor('float32', this.vectors.slice(0, n * dim), [n, dim]),
      });
      const sim = out['similarity']?.data as Float32Array;
      for (let q = 0; q < Q; q++) {
        const row = q * n;
        const ex = exclude[q];
        for (let slot = 0; slot < n; slot++) {
          if (eligible[slot] === 1 && slot !== ex) keep(q, slot, sim[row + slot] as number);
        }
      }
    } else {
      const vecs = this.vectors;
      for (let slot = 0; slot < n; slot++) {
        if (eligible[slot] !== 1) continue;
        const base = slot * dim;
        for (let q = 0; q < Q; q++) {
          if (slot === exclude[q]) continue;
          const qb = q * dim;
          let dot = 0;
          for (let i = 0; i < dim; i++) dot += (queries[qb + i] as number) * (vecs[base + i] as number);
          keep(q, slot, dot);
        }
      }
    }
    return bestSim.map((sims, q) => {
      const slots = bestSlot[q] as number[];
      const hits: SimilarHit[] = [];
      for (let i = sims.length - 1; i >= 0; i--) {
        const slot = slots[i] as number;
        hits.push({
          id: ids[slot] as string,
          similarity: sims[i] as number,
          payload: structuredClone(payloads[slot] as Finding),
        });
      }
      return hits;
    });
  }

  async updatePayload(ids: string[], patch: Partial<Finding>): Promise<void> {
    const present = ids.filter((id) => this.slotById.has(id));
    if (present.length === 0) return;
    await this.write([{ p: [present, patch] }]);
  }

  async deleteOlderThan(ms: number): Promise<number> {
    const old: string[] = [];
    for (const p of this.payloads) if (p && p.window_end_ms < ms) old.push(p.sequence_id);
    if (old.length > 0) await this.write([{ d: old }]);
    return old.length;
  }

  async close(): Promise<void> {
    await this.writeChain.catch(() => undefined);
    await this.log?.close();
    this.log = null;
    this.opened = false;
  }

  private matching(filter: FindingFilter | undefined): Finding[] {
    const pred = compileFilter(filter);
    const out: Finding[] = [];
    if (filter?.sequenceIds) {
      for (const id of new Set(filter.sequenceIds)) {
        const slot = this.slotById.get(id);
        const p = slot === undefined ? undefined : this.payloads[slot];
        if (p && (!pred || pred(p))) out.push(p);
      }
      return out;
    }
    for (const p of this.payloads) if (p && (!pred || pred(p))) out.push(p);
    return out;
  }

  /** Appends records to the log (serialised), then applies them in memory. */
  private write(recs: LogRecord[]): Promise<void> {
    const run = async (): Promise<void> => {
      if (!this.log) throw new Error('EmbeddedStore is not open: call init() first');
      await this.log.appendFile(`${recs.map((r) => JSON.stringify(r)).join('\n')}\n`);
      if (this.fsync) await this.log.datasync();
      for (const r of recs) this.apply(r);
      this.logRecords += recs.length;
      if (this.logRecords - this.slotById.size > this.compactSlack) await this.compact();
    };
    const next = this.writeChain.then(run, run);
    this.writeChain = next.catch(() => undefined);
    return next;
  }

  private async compact(): Promise<void> {
    const path = join(this.dir, LOG_FILE);
    const tmp = `${path}.tmp`;
    await this.log?.close();
    this.log = null;
    const fh = await open(tmp, 'w');
    try {
      let buf = '';
      for (const [id, slot] of this.slotById) {
        const v = this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim);
        const rec: LogRecord = {
          u: [
            id,
            Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'),
            this.payloads[slot] as Finding,
          ],
        };
        buf += `${JSON.stringify(rec)}\n`;
        if (buf.length > 1 << 20) {
          await fh.appendFile(buf);
          buf = '';
        }
      }
      if (buf) await fh.appendFile(buf);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    this.logRecords = this.slotById.size;
    this.log = await open(path, 'a');
  }

  private apply(rec: LogRecord): void {
    if ('u' in rec) {
      const [id, vec, payload] = rec.u;
      const bytes = Buffer.from(vec, 'base64');
      const v = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      this.put(id, v, payload);
    } else if ('p' in rec) {
      const [ids, patch] = rec.p;
      for (const id of ids) {
        const slot = this.slotById.get(id);
        const p = slot === undefined ? undefined : this.payloads[slot];
        if (slot !== undefined && p) this.payloads[slot] = { ...p, ...patch };
      }
    } else {
      for (const id of rec.d) {
        const slot = this.slotById.get(id);
        if (slot === undefined) continue;
        this.slotById.delete(id);
        this.ids[slot] = undefined;
        this.payloads[slot] = undefined;
        this.freeSlots.push(slot);
      }
    }
  }

  private put(id: string, v: Float32Array, payload: Finding): void {
    let slot = this.slotById.get(id);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.ids.length;
      if ((slot + 1) * this.dim > this.vectors.length) {
        const grown = new Float32Array(this.vectors.length * 2);
        grown.set(this.vectors);
        this.vectors = grown;
      }
      this.slotById.set(id, slot);
      this.ids[slot] = id;
    }
    this.vectors.set(v, slot * this.dim);
    this.payloads[slot] = payload;
  }
}

function normalised(vector: ArrayLike<number>): Float32Array {
  const v = Float32Array.from(vector);
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += (v[i] as number) ** 2;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / norm;
  return v;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
