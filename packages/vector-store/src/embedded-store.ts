import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Finding } from '@tidewatch/contracts';
import { gemmSimilarities, gemmTopK } from './cosine-gemm.ts';
import { compileSlotFilter, FindingColumns, type SlotFilter } from './finding-columns.ts';
import type { FindingRows } from './finding-rows.ts';
import { decodeCursor, encodeCursor, facetValues, orderFacets } from './finding-filter.ts';
import { dot, IvfIndex, type IvfStats, TopK } from './ivf-index.ts';
import { LabelledPoints } from './labelled-points.ts';
import { logLines } from './log-lines.ts';
import { copyBytes, decodeFromSnapshot, PayloadArena } from './payload-arena.ts';
import { ByteReader, ByteWriter, StringTable } from './payload-codec.ts';
import {
  appendAll,
  beginFrame,
  endFrame,
  FRAME_JSON,
  FRAME_STRINGS,
  FRAME_UPSERT,
  LOG_FILE,
  LOG_MAGIC,
  logFormat,
  readFrames,
  readStrings,
  stringsFrame,
} from './point-log.ts';
import { SortedSlots } from './sorted-slots.ts';
import type {
  EvidenceHit,
  FacetField,
  FindingFilter,
  ListQuery,
  SimilarHit,
  SortField,
  StoredPoint,
  UpsertPoint,
  VectorStore,
} from './store.ts';

export interface EmbeddedStoreOptions {
  /** Directory holding the store (created if missing). */
  dir: string;
  /** Embedding dimension; every vector must have it. */
  dim: number;
  /** fsync the log after each write batch (default true: a write that resolved survives a crash). */
  fsync?: boolean;
  /** Rewrite the log when it holds more than this many records beyond the live points (default 50,000). */
  compactSlack?: number;
  /** From this many points on, kNN uses the IVF index (approximate, calibrated recall); below, exact (default 20,000). */
  annMinPoints?: number;
}

export class VectorDimensionError extends Error {
  override name = 'VectorDimensionError';
}

/** Format-1 log records (JSON lines): upsert (vector as base64 float32), payload patch, delete. Format 2 keeps patch and delete as JSON frames. */
type LogRecord =
  | { u: [id: string, vector: string, payload: Finding] }
  | { p: [ids: string[], patch: Partial<Finding>] }
  | { d: string[] };

/** Points per upsert frame when the log is rewritten. */
const COMPACT_FRAME_POINTS = 4096;

/** Below this many query×point pairs the plain loop beats a GEMM call's fixed cost. */
const GEMM_MIN_PAIRS = 1 << 16;
/** The GEMM copies the whole slab per call: for a few queries one pass in place is cheaper. */
const GEMM_MIN_QUERIES = 4;
/** From this many query×point pairs the labelled scan runs as Gemm + TopK in onnxruntime (no copy, k results back). */
const LABELLED_GEMM_MIN_PAIRS = 1 << 13;
/** Up to this many labelled points, kNN with a filter implying labelled is exact over them (Gemm + TopK: ~1 ms per query at the limit). */
const LABELLED_EXACT_MAX = 200_000;
/** The k the IVF index calibrates its recall for (the API's default `similar` k). */
const ANN_CALIBRATION_K = 20;

/** The list index a sort walks: one per sort field, plus sequence-id order for unsorted lists. */
type OrderKey = SortField | 'id';

/**
 * A vector store on local disk for the one-process mode and CI. Points live in memory (vectors in
 * one Float32Array slab, L2-normalised on insert so cosine is a dot product; payloads as compact
 * binary records (payload-codec: no JSON text to build on a write or parse on a read, a fraction
 * of its bytes) in a PayloadArena, decoded only when a reader asks for them); every change is first
 * appended to an append-only log of checksummed binary frames (point-log.ts), which is replayed on
 * open and rewritten (write temp → fsync → rename) once it holds more dead records than
 * `compactSlack`. A torn last frame after a crash is ignored and removed by the next compaction.
 * A log in the earlier JSON-lines format is read and rewritten in the binary format once.
 *
 * Indexes (memory only, rebuilt from the points on open): filterable fields as typed columns with
 * a bitmap per category value (FindingColumns); per sort field a SortedSlots order that `list`
 * walks from the cursor, stopping after `limit` matches, unless an indexed condition (bitmap, IPv4
 * range) has so few slots that enumerating them is cheaper; kNN below `annMinPoints` points is
 * exact (one pass, or one GEMM for a batch), above it goes through an IvfIndex whose probe depth
 * is calibrated for recall@20 >= 0.97 against exact search, or exact over a filter's candidates
 * when those are few.
 */
export class EmbeddedStore implements VectorStore {
  readonly dim: number;
  private readonly dir: string;
  private readonly fsync: boolean;
  private readonly compactSlack: number;
  private readonly slotById = new Map<string, number>();
  private ids: (string | undefined)[] = [];
  /** Payload records per slot, and the strings they refer to by code. */
  private arena = new PayloadArena();
  private readonly table = new StringTable();
  /** Scratch for encoding (a write copies out what it keeps). */
  private readonly writer = new ByteWriter();
  private vectors: Float32Array;
  /** `vectors` as bytes (replaced with it). */
  private vectorBytes: Uint8Array;
  /** One unit vector being encoded (upsertRows), and its bytes. */
  private readonly unitRow: Float32Array;
  private readonly unitRowBytes: Uint8Array;
  private readonly freeSlots: number[] = [];
  private log: FileHandle | null = null;
  private logRecords = 0;
  /** Writes waiting for the next log append + fsync (group commit), and the loop that does them. */
  private pendingWrites: PendingWrite[] = [];
  private flushing: Promise<void> | null = null;
  private opened = false;
  private readonly cols = new FindingColumns();
  private readonly orders = new Map<OrderKey, SortedSlots>();
  private readonly ipOrders = new Map<'src4' | 'dst4', SortedSlots>();
  private zeros = new Float64Array(1024);
  private readonly annMinPoints: number;
  private ann: IvfIndex | null = null;
  private annBuilding: IvfIndex | null = null;
  private annTask: Promise<void> | null = null;
  private readonly labelled: LabelledPoints;
  /** All-zero Gemm bias for labelled scans with no other condition (never written). */
  private zeroBias = new Float32Array(0);

  constructor(opts: EmbeddedStoreOptions) {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0)
      throw new VectorDimensionError(`dim must be a positive integer, got ${opts.dim}`);
    this.dir = opts.dir;
    this.dim = opts.dim;
    this.fsync = opts.fsync ?? true;
    this.compactSlack = opts.compactSlack ?? 50_000;
    this.annMinPoints = opts.annMinPoints ?? 20_000;
    this.vectors = new Float32Array(1024 * opts.dim);
    this.vectorBytes = new Uint8Array(this.vectors.buffer);
    this.unitRow = new Float32Array(opts.dim);
    this.unitRowBytes = new Uint8Array(this.unitRow.buffer);
    this.labelled = new LabelledPoints(opts.dim);
  }

  get size(): number {
    return this.slotById.size;
  }

  async init(): Promise<void> {
    if (this.opened) return;
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, LOG_FILE);
    const format = await logFormat(path);
    let rewrite = false;
    if (format === 'binary') {
      const { torn } = await readFrames(path, (body) => this.replayFrame(body));
      rewrite = torn;
    } else if (format === 'json') {
      await this.replayJsonLines(path);
      rewrite = true;
    }
    this.opened = true;
    if (rewrite || format === 'none') await this.compact();
    else this.log = await open(path, 'a');
    // A large store builds its kNN index in the background rather than on the first query.
    if (this.size >= this.annMinPoints) this.annReady().catch(() => undefined);
  }

  /** Applies one format-2 frame (replay on open). */
  private replayFrame(body: Buffer): void {
    const r = new ByteReader(body, 1);
    const kind = body[0];
    if (kind === FRAME_STRINGS) {
      readStrings(r, this.table);
      this.table.durable = this.table.size;
      return;
    }
    if (kind === FRAME_JSON) {
      this.apply(JSON.parse(body.toString('utf8', 1)) as LogRecord);
      this.logRecords++;
      return;
    }
    if (kind !== FRAME_UPSERT) throw new Error(`${LOG_FILE}: unknown frame kind ${kind}`);
    const n = r.varint();
    const v = new Float32Array(this.dim);
    const vb = new Uint8Array(v.buffer);
    for (let i = 0; i < n; i++) {
      const id = r.value(this.table) as string;
      const vecBytes = r.u32();
      if (vecBytes !== this.dim * 4) {
        throw new VectorDimensionError(
          `${LOG_FILE}: point ${id} has ${vecBytes / 4} dimensions, the store has ${this.dim}`,
        );
      }
      vb.set(body.subarray(r.pos, r.pos + vecBytes));
      r.pos += vecBytes;
      const len = r.u32();
      const at = r.pos;
      const payload = r.value(this.table) as Finding;
      r.pos = at + len;
      this.put(id, v, payload, body, at, at + len);
      this.logRecords++;
    }
  }

  /** Replays a format-1 log (JSON lines); a torn line is skipped. The caller rewrites the log. */
  private async replayJsonLines(path: string): Promise<void> {
    for await (const line of logLines(path)) {
      if (!line) continue;
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        continue;
      }
      this.apply(rec);
      this.logRecords++;
    }
  }

  async upsert(points: UpsertPoint[]): Promise<void> {
    const n = points.length;
    if (n === 0) return;
    const dim = this.dim;
    for (let i = 0; i < n; i++) {
      const p = points[i] as UpsertPoint;
      if (p.vector.length !== dim) {
        throw new VectorDimensionError(
          `point ${p.id}: vector has ${p.vector.length} dimensions, the store has ${dim}`,
        );
      }
    }
    // One frame: per point its id, unit vector and payload record; `at` remembers where each
    // payload lies, which is what the arena copies once the frame is on disk.
    const unit = new Float32Array(n * dim);
    const unitBytes = new Uint8Array(unit.buffer);
    const at = new Int32Array(n + n);
    const w = this.writer;
    w.reset();
    const start = beginFrame(w, FRAME_UPSERT);
    w.varint(n);
    for (let i = 0; i < n; i++) {
      const p = points[i] as UpsertPoint;
      normaliseInto(p.vector, unit, i * dim);
      w.id(p.id);
      w.u32(dim * 4);
      w.bytes(unitBytes, i * dim * 4, (i + 1) * dim * 4);
      const lenAt = w.pos;
      w.u32(0);
      at[i + i] = w.pos;
      w.payload(p.payload, this.table);
      at[i + i + 1] = w.pos;
      w.u32At(lenAt, w.pos - lenAt - 4);
    }
    endFrame(w, start);
    const frame = Buffer.from(w.buf.subarray(0, w.pos));
    await this.write(frame, n, () => {
      for (let i = 0; i < n; i++) {
        const p = points[i] as UpsertPoint;
        this.put(
          p.id,
          unit.subarray(i * dim, (i + 1) * dim),
          p.payload,
          frame,
          at[i + i] as number,
          at[i + i + 1] as number,
        );
      }
    });
  }

  /**
   * `upsert(batches.flatMap(pointsOfRows))` without a Finding per column row: one write (one log
   * frame) for all the rows, in order; each record is encoded from the columns (the same bytes) and
   * the index columns are set from them. The same log frame, points and slot order as that upsert.
   */
  async upsertRows(batches: FindingRows[]): Promise<void> {
    const dim = this.dim;
    let n = 0;
    for (const rows of batches) {
      if (rows.count > 0 && rows.dim !== dim) {
        throw new VectorDimensionError(
          `point ${rows.ids[0]}: vector has ${rows.dim} dimensions, the store has ${dim}`,
        );
      }
      n += rows.count;
    }
    if (n === 0) return;
    // Per point: where its unit vector and its record lie in the frame. The vector is normalised
    // into a one-row scratch and only kept in the frame (no slab of the batch's vectors); the slab
    // takes its bytes from there once the frame is on disk.
    const at = new Int32Array(3 * n);
    const unit = this.unitRow;
    const unitBytes = this.unitRowBytes;
    const vecBytes = dim * 4;
    const w = this.writer;
    w.reset();
    const start = beginFrame(w, FRAME_UPSERT);
    w.varint(n);
    let p = 0;
    for (const rows of batches) {
      const vectors = rows.vectors;
      for (let i = 0; i < rows.count; i++, p++) {
        normaliseRowInto(vectors, i * dim, dim, unit, 0);
        const idAt = w.pos;
        w.id(rows.ids[i] as string);
        w.u32(vecBytes);
        at[3 * p] = w.pos;
        w.bytes(unitBytes, 0, vecBytes);
        const lenAt = w.pos;
        w.u32(0);
        at[3 * p + 1] = w.pos;
        w.findingRow(rows, i, this.table, idAt);
        at[3 * p + 2] = w.pos;
        w.u32At(lenAt, w.pos - lenAt - 4);
      }
    }
    endFrame(w, start);
    const frame = Buffer.from(w.buf.subarray(0, w.pos));
    // Applied one step at a time over the whole batch (slots, vectors, records, columns, indexes)
    // rather than all steps per point: each loop keeps to one structure. The state after it is the
    // one the per-point order leaves, ids repeated within the batch included: vectors, records and
    // columns end with a slot's last point either way, and the labelled matrix sees every point in
    // order with whether that point was labelled (its row order decides ties between neighbours).
    // Only the vector a labelled row copies can be a later point's, which that point rewrites or removes.
    await this.write(frame, n, () => {
      const slots = new Int32Array(n);
      const labelled = new Uint8Array(n);
      let q = 0;
      for (const rows of batches)
        for (let i = 0; i < rows.count; i++) slots[q++] = this.slotOf(rows.ids[i] as string);
      const bytes = this.vectorBytes;
      for (q = 0; q < n; q++) {
        const from = at[3 * q] as number;
        copyBytes(frame, bytes, (slots[q] as number) * vecBytes, from, from + vecBytes);
      }
      for (q = 0; q < n; q++)
        this.arena.set(slots[q] as number, frame, at[3 * q + 1] as number, at[3 * q + 2] as number);
      q = 0;
      for (const rows of batches) {
        for (let i = 0; i < rows.count; i++, q++) {
          const slot = slots[q] as number;
          const f = rows.findings[i];
          if (f) this.cols.set(slot, f);
          else this.cols.setRow(slot, rows, i);
          labelled[q] = this.cols.labelled[slot] as number;
        }
      }
      for (q = 0; q < n; q++) this.indexPut(slots[q] as number, labelled[q] === 1);
    });
  }

  /** A slot's payload, decoded from its record. */
  private payloadOf(slot: number): Finding {
    return this.arena.decode(slot, this.table) as Finding;
  }

  async get(id: string, opts?: { withVector?: boolean }): Promise<StoredPoint | null> {
    const slot = this.slotById.get(id);
    if (slot === undefined) return null;
    const payload = this.payloadOf(slot);
    const vector: number[] =
      opts?.withVector === false
        ? []
        : Array.from(this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim));
    return { id, vector, payload };
  }

  async list(query: ListQuery): Promise<{ items: Finding[]; nextCursor: string | null }> {
    const sort = query.sort;
    const limit = Math.max(0, Math.floor(query.limit));
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const sf = this.slotFilter(query.filter);
    if (sf.empty) return { items: [], nextCursor: null };
    const orderKey: OrderKey = sort?.field ?? 'id';
    const key = this.orderKeyColumn(orderKey);
    const desc = sort?.order === 'desc';
    const want = limit + 1;
    const found: number[] = [];
    // Enumerating a selective condition's slots beats walking the order when the walk would
    // pass over more points than the condition holds (matches assumed spread evenly).
    const cand = sf.candidates;
    const walkCost = (want * this.size) / Math.max(1, cand?.count ?? this.size);
    if (cand && cand.count * 3 < walkCost) {
      const cv = cursor ? (cursor.v ?? 0) : 0;
      const cmp = desc
        ? (a: number, b: number) => (key[b] as number) - (key[a] as number) || this.cmpIds(a, b)
        : (a: number, b: number) => (key[a] as number) - (key[b] as number) || this.cmpIds(a, b);
      const best: number[] = [];
      // In slot order, the column reads below run forward through memory.
      const slots = Int32Array.from(cand.slots()).sort();
      for (const s of slots) {
        if (!sf.test(s)) continue;
        if (cursor) {
          const d = (key[s] as number) - cv;
          const afterCursor = (desc ? d < 0 : d > 0) || (d === 0 && (this.ids[s] as string) > cursor.id);
          if (!afterCursor) continue;
        }
        if (best.length === want && cmp(s, best[want - 1] as number) >= 0) continue;
        let lo = 0;
        let hi = best.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (cmp(best[mid] as number, s) <= 0) lo = mid + 1;
          else hi = mid;
        }
        best.splice(lo, 0, s);
        if (best.length > want) best.pop();
      }
      found.push(...best);
    } else {
      // Only a walk creates (and then maintains) the order index: a service that lists by
      // selective conditions only (ids, a status) never pays for keeping one sorted.
      const index = this.orderIndex(orderKey);
      const order = index.order();
      const test = sf.test;
      const f = query.filter;
      const timeWalk = orderKey === 'window_start_ms';
      // window_end >= fromMs implies window_start >= fromMs - longest window: the walk can stop there.
      const lowKey =
        timeWalk && f?.fromMs !== undefined ? f.fromMs - this.cols.maxSpanMs : Number.NEGATIVE_INFINITY;
      const highKey = timeWalk && f?.toMs !== undefined ? f.toMs : Number.POSITIVE_INFINITY;
      if (!desc) {
        let i = cursor ? index.after(cursor.v ?? 0, cursor.id) : 0;
        if (lowKey > Number.NEGATIVE_INFINITY) i = Math.max(i, index.after(lowKey, null, true));
        for (; i < order.length && found.length < want; i++) {
          const s = order[i] as number;
          if ((key[s] as number) >= highKey) break;
          if (test(s)) found.push(s);
        }
      } else {
        // Descending by key, ascending by id within equal keys: walk runs of equal keys backwards.
        let end = order.length;
        if (cursor) {
          const cv = cursor.v ?? 0;
          const runEnd = index.after(cv, null);
          for (let i = index.after(cv, cursor.id); i < runEnd && found.length < want; i++) {
            const s = order[i] as number;
            if (test(s)) found.push(s);
          }
          end = index.after(cv, null, true);
        }
        if (highKey < Number.POSITIVE_INFINITY) end = Math.min(end, index.after(highKey, null, true));
        let i = end - 1;
        while (i >= 0 && found.length < want) {
          const kv = key[order[i] as number] as number;
          if (kv < lowKey) break;
          let j = i;
          while (j > 0 && key[order[j - 1] as number] === kv) j--;
          for (let x = j; x <= i && found.length < want; x++) {
            const s = order[x] as number;
            if (test(s)) found.push(s);
          }
          i = j - 1;
        }
      }
    }
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    const nextCursor =
      last !== undefined && found.length > limit
        ? encodeCursor(
            sort
              ? { v: key[last] as number, id: this.ids[last] as string }
              : { id: this.ids[last] as string },
          )
        : null;
    return { items: page.map((s) => this.payloadOf(s)), nextCursor };
  }

  async count(filter?: FindingFilter): Promise<number> {
    if (!filter) return this.slotById.size;
    if (filter.sequenceIds !== undefined) {
      // By id lookup, whatever the store's size.
      const sf = this.slotFilter(filter);
      if (sf.empty) return 0;
      let m = 0;
      for (const s of new Set(filter.sequenceIds.map((id) => this.slotById.get(id))))
        if (s !== undefined && sf.test(s)) m++;
      return m;
    }
    let n = 0;
    this.forEachMatch(this.slotFilter(filter), () => {
      n++;
    });
    return n;
  }

  async facet(
    field: FacetField,
    filter?: FindingFilter,
    limit = 10,
  ): Promise<{ value: string; count: number }[]> {
    const counts = new Map<string, number>();
    this.forEachMatch(this.slotFilter(filter), (s) => {
      for (const v of this.facetOf(s, field)) counts.set(v, (counts.get(v) ?? 0) + 1);
    });
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

  /** Exact kNN whatever the store's size (the reference the IVF recall is measured against). */
  async similarExact(
    vector: ArrayLike<number>,
    opts: { k: number; filter?: FindingFilter; excludeId?: string },
  ): Promise<SimilarHit[]> {
    const [hits] = await this.similarMany([vector], {
      k: opts.k,
      ...(opts.filter ? { filter: opts.filter } : {}),
      excludeIds: [opts.excludeId],
      exact: true,
    });
    return hits ?? [];
  }

  /** The IVF index's build statistics (null while kNN is exact). */
  annStats(): IvfStats | null {
    return this.ann?.stats ?? null;
  }

  /** Builds the indexes a query would otherwise build on first use (list order, IVF), and waits for them. */
  async warm(): Promise<void> {
    this.orderIndex('window_start_ms').order();
    while (this.size >= this.annMinPoints) {
      const task = this.annTask ?? this.annReady();
      await task;
      if (!this.annTask) break;
    }
  }

  /**
   * `similarMany` with the neighbours' verdict and label read from the index columns instead of
   * decoding each hit's payload (the same hits in the same order).
   */
  async similarEvidence(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[] },
  ): Promise<EvidenceHit[][]> {
    if (opts.filter?.labelled === true && this.labelled.count <= LABELLED_EXACT_MAX) {
      const batch = this.queryBatch(vectors, opts);
      if (!batch) return vectors.map(() => []);
      const sf = this.slotFilter(opts.filter);
      if (sf.empty) return vectors.map(() => []);
      const verdicts = this.cols.cat.verdict;
      return this.similarLabelled(batch, sf, labelledOnly(opts.filter), (s, similarity) => ({
        id: this.ids[s] as string,
        similarity,
        verdict: (verdicts.values[verdicts.codes[s] as number] || null) as EvidenceHit['verdict'],
        label: this.cols.labelled[s] !== 1 ? null : this.cols.label[s] === 1 ? 1 : 0,
      }));
    }
    const hits = await this.similarMany(vectors, opts);
    return hits.map((list) =>
      list.map((h) => ({
        id: h.id,
        similarity: h.similarity,
        verdict: h.payload.verdict ?? null,
        label:
          h.payload.label === null || h.payload.label === undefined ? null : h.payload.label === 1 ? 1 : 0,
      })),
    );
  }

  /** Checked, normalised queries and the slots they exclude; null when there is nothing to ask. */
  private queryBatch(
    vectors: ArrayLike<number>[],
    opts: { k: number; excludeIds?: (string | undefined)[] },
  ): QueryBatch | null {
    const dim = this.dim;
    for (const v of vectors) {
      if (v.length !== dim) {
        throw new VectorDimensionError(`query vector has ${v.length} dimensions, the store has ${dim}`);
      }
    }
    const k = Math.max(0, Math.floor(opts.k));
    const Q = vectors.length;
    if (k === 0 || Q === 0) return null;
    const queries = new Float32Array(Q * dim);
    for (let i = 0; i < Q; i++) normaliseInto(vectors[i] as ArrayLike<number>, queries, i * dim);
    const exclude = vectors.map((_, i) => {
      const id = opts.excludeIds?.[i];
      return id === undefined ? -1 : (this.slotById.get(id) ?? -1);
    });
    return { queries, Q, k, exclude };
  }

  async similarMany(
    vectors: ArrayLike<number>[],
    opts: { k: number; filter?: FindingFilter; excludeIds?: (string | undefined)[]; exact?: boolean },
  ): Promise<SimilarHit[][]> {
    const dim = this.dim;
    const batch = this.queryBatch(vectors, opts);
    if (!batch) return vectors.map(() => []);
    const { queries, Q, k, exclude } = batch;
    const fullHit = (s: number, similarity: number): SimilarHit => ({
      id: this.ids[s] as string,
      similarity,
      payload: this.payloadOf(s),
    });
    // A filter implying labelled: exact over the dense labelled points (no IVF build or probe for
    // it), unless there are so many that the IVF index is cheaper (checked below).
    if (opts.filter?.labelled === true && this.labelled.count <= LABELLED_EXACT_MAX) {
      const sf = this.slotFilter(opts.filter);
      return sf.empty
        ? vectors.map(() => [])
        : this.similarLabelled(batch, sf, labelledOnly(opts.filter), fullHit);
    }
    let useAnn = !opts.exact && this.size >= this.annMinPoints;
    if (useAnn) {
      // Index work runs in the background; until the first build is done queries are exact.
      this.annReady().catch(() => undefined);
      if (!this.ann) useAnn = false;
    }
    const annStats = this.ann?.stats;
    if (annStats && annStats.probePoints >= annStats.trainedOn) useAnn = false;
    const sf = this.slotFilter(opts.filter);
    if (sf.empty) return vectors.map(() => []);
    const cand = sf.candidates;
    const n = this.ids.length;
    const vecs = this.vectors;
    let results: { slots: number[]; sims: number[] }[];
    const ann = useAnn ? this.ann : null;
    const budget = ann?.stats?.probePoints ?? Number.POSITIVE_INFINITY;
    if (opts.filter?.labelled === true && (!ann || this.labelled.count <= 2 * budget))
      return this.similarLabelled(batch, sf, labelledOnly(opts.filter), fullHit);
    if (ann && !(cand && cand.count <= 2 * budget)) {
      results = Array.from({ length: Q }, (_, q) =>
        ann.search(
          queries.subarray(q * dim, (q + 1) * dim),
          k,
          sf.trivial ? null : sf.test,
          exclude[q] as number,
          vecs,
        ),
      );
    } else if (cand && cand.count * 8 < n) {
      // Few candidates: score just those.
      const tops = Array.from({ length: Q }, () => new TopK(k));
      for (const s of cand.slots()) {
        if (!sf.test(s)) continue;
        for (let q = 0; q < Q; q++)
          if (s !== exclude[q]) (tops[q] as TopK).offer(s, dot(queries, q * dim, vecs, s * dim, dim));
      }
      results = tops.map((t) => t.result());
    } else if (Q >= GEMM_MIN_QUERIES && Q * n >= GEMM_MIN_PAIRS) {
      // All similarities at once as one matrix product in onnxruntime (MLAS), then top-k per query.
      // Slots are snapshotted: a write landing during the GEMM must not shift ids under the results.
      const eligible = new Uint8Array(n);
      for (let slot = 0; slot < n; slot++) if (sf.test(slot)) eligible[slot] = 1;
      const ids = this.ids.slice(0, n);
      const records = this.arena.snapshot(n);
      const sim = await gemmSimilarities(queries, Q, this.vectors.slice(0, n * dim), n, dim);
      const tops = Array.from({ length: Q }, () => new TopK(k));
      for (let q = 0; q < Q; q++) {
        const row = q * n;
        const ex = exclude[q];
        const top = tops[q] as TopK;
        for (let slot = 0; slot < n; slot++) {
          if (eligible[slot] === 1 && slot !== ex) top.offer(slot, sim[row + slot] as number);
        }
      }
      return tops.map((t) => {
        const r = t.result();
        return r.slots.map((slot, i) => ({
          id: ids[slot] as string,
          similarity: r.sims[i] as number,
          payload: decodeFromSnapshot(records, slot, this.table) as Finding,
        }));
      });
    } else {
      const tops = Array.from({ length: Q }, () => new TopK(k));
      for (let slot = 0; slot < n; slot++) {
        if (!sf.test(slot)) continue;
        for (let q = 0; q < Q; q++)
          if (slot !== exclude[q])
            (tops[q] as TopK).offer(slot, dot(queries, q * dim, vecs, slot * dim, dim));
      }
      results = tops.map((t) => t.result());
    }
    return results.map((r) =>
      r.slots.map((slot, i) => ({
        id: this.ids[slot] as string,
        similarity: r.sims[i] as number,
        payload: this.payloadOf(slot),
      })),
    );
  }

  /**
   * Exact kNN over the labelled points only (the filter implies labelled; `sf` applies the rest of
   * it, unless `labelledOnly` says there is no rest): one GEMM against their dense matrix for a
   * batch of queries, else one pass over it. `hit` turns a live slot and its similarity into a result.
   */
  private async similarLabelled<H>(
    batch: QueryBatch,
    sf: SlotFilter,
    labelledOnly: boolean,
    hit: (slot: number, similarity: number) => H,
  ): Promise<H[][]> {
    const { queries, Q, k, exclude } = batch;
    const dim = this.dim;
    const lab = this.labelled;
    let n = lab.count;
    if (Q * n >= LABELLED_GEMM_MIN_PAIRS) {
      // Gemm + TopK in onnxruntime over the matrix in place: it is read when the run starts (the
      // next turn of the event loop); if a write moved rows before that, it runs again on a copy.
      const kk = Math.min(n, k + 1); // + 1: a query's excluded point may be among its best
      const run = (slots: Int32Array, matrix: Float32Array, rows: number) => {
        // Every row is a live labelled point: with no other condition, none is left out (all-zero
        // bias, shared: onnxruntime only reads it).
        let bias: Float32Array;
        if (labelledOnly) {
          if (this.zeroBias.length < rows)
            this.zeroBias = new Float32Array(Math.max(rows, 2 * this.zeroBias.length));
          bias = this.zeroBias.subarray(0, rows);
        } else {
          bias = new Float32Array(rows);
          for (let r = 0; r < rows; r++) if (!sf.test(slots[r] as number)) bias[r] = Number.NEGATIVE_INFINITY;
        }
        return gemmTopK(queries, Q, matrix, rows, dim, bias, Math.min(rows, kk));
      };
      const version = lab.version;
      let slots = lab.slots;
      let width = kk;
      let out = await run(slots, lab.vectors.subarray(0, n * dim), n);
      if (lab.version !== version) {
        n = lab.count;
        slots = lab.slots.slice(0, n);
        width = Math.min(n, kk);
        out = await run(slots, lab.vectors.slice(0, n * dim), n);
      }
      return Array.from({ length: Q }, (_, q) => {
        const hits: H[] = [];
        for (let j = 0; j < width && hits.length < k; j++) {
          const sim = out.similarity[q * width + j] as number;
          if (sim === Number.NEGATIVE_INFINITY) break;
          const s = slots[Number(out.index[q * width + j])] as number;
          // After a re-run on a copy, a point may have gone since: only live matches are returned.
          if (s === exclude[q] || !sf.test(s)) continue;
          hits.push(hit(s, sim));
        }
        return hits;
      });
    }
    const tops = Array.from({ length: Q }, () => new TopK(k));
    const slots = lab.slots;
    const mat = lab.vectors;
    const floors = new Float64Array(Q).fill(Number.NEGATIVE_INFINITY);
    for (let r = 0; r < n; r++) {
      const s = slots[r] as number;
      if (!sf.test(s)) continue;
      for (let q = 0; q < Q; q++) {
        if (s === exclude[q]) continue;
        const v = dot(queries, q * dim, mat, r * dim, dim);
        if (v > (floors[q] as number)) {
          const top = tops[q] as TopK;
          top.offer(s, v);
          floors[q] = top.floor;
        }
      }
    }
    return tops.map((t) => {
      const res = t.result();
      return res.slots.map((slot, i) => hit(slot, res.sims[i] as number));
    });
  }

  /**
   * The IVF index, (re)built when missing or once the store has doubled since its build; pending
   * writes are assigned to lists once they are many. One build at a time; queries never wait for
   * it (they use the previous index, or exact search before the first).
   */
  private annReady(): Promise<void> {
    if (this.annTask) return this.annTask;
    const stats = this.ann?.stats;
    const rebuild = !this.ann || !stats || this.size >= 2 * stats.trainedOn;
    const assign = !rebuild && (this.ann?.pendingCount ?? 0) > Math.max(2048, this.size >>> 6);
    if (!rebuild && !assign) return Promise.resolve();
    const source = {
      dim: this.dim,
      vectors: () => this.vectors,
      liveSlots: () => this.liveSlots(),
    };
    const task = async () => {
      if (rebuild) {
        // Writes during the build are touched on the new index too; the build replays them.
        const next = new IvfIndex(this.dim);
        this.annBuilding = next;
        try {
          await next.build(source, ANN_CALIBRATION_K);
        } finally {
          this.annBuilding = null;
        }
        this.ann = next;
      } else await this.ann?.assignPending(source, (s) => this.cols.live[s] === 1);
    };
    this.annTask = task().finally(() => {
      this.annTask = null;
    });
    return this.annTask;
  }

  private liveSlots(): Int32Array {
    const out = new Int32Array(this.slotById.size);
    let i = 0;
    const live = this.cols.live;
    for (let s = 0; s < this.ids.length; s++) if (live[s] === 1) out[i++] = s;
    return out.subarray(0, i);
  }

  private slotFilter(filter: FindingFilter | undefined): SlotFilter {
    return compileSlotFilter(
      filter,
      this.cols,
      { range: (field, lo, hi) => this.ipRange(field, lo, hi) },
      (id) => this.slotById.get(id),
      { count: this.labelled.count, slots: () => this.labelled.slotList() },
    );
  }

  private forEachMatch(sf: SlotFilter, visit: (slot: number) => void): void {
    if (sf.empty) return;
    const cand = sf.candidates;
    if (cand && cand.count * 4 < this.ids.length) {
      for (const s of cand.slots()) if (sf.test(s)) visit(s);
      return;
    }
    for (let s = 0; s < this.ids.length; s++) if (sf.test(s)) visit(s);
  }

  private ipRange(
    field: 'src4' | 'dst4',
    lo: number,
    hi: number,
  ): { count: number; slots: () => Iterable<number> } {
    let index = this.ipOrders.get(field);
    if (!index) {
      index = new SortedSlots(
        () => this.cols[field],
        null,
        (s) => this.cols.live[s] === 1,
        this.liveSlots(),
      );
      this.ipOrders.set(field, index);
    }
    const order = index.order();
    const from = index.after(lo, null, true);
    const to = index.after(hi, null);
    return { count: to - from, slots: () => order.subarray(from, to) };
  }

  /** The key column an order sorts by (all zeros for sequence-id order: ties broken by id). */
  private orderKeyColumn(key: OrderKey): Float64Array {
    if (key !== 'id') return this.cols.sortColumn(key);
    if (this.zeros.length < this.cols.capacity) this.zeros = new Float64Array(this.cols.capacity);
    return this.zeros;
  }

  private orderIndex(key: OrderKey): SortedSlots {
    let index = this.orders.get(key);
    if (!index) {
      index = new SortedSlots(
        () => this.orderKeyColumn(key),
        (s) => this.ids[s] as string,
        (s) => this.cols.live[s] === 1,
        this.liveSlots(),
      );
      this.orders.set(key, index);
    }
    return index;
  }

  /** A point's facet values from the columns (dst_port and odd payloads read the payload). */
  private facetOf(slot: number, field: FacetField): string[] {
    const cols = this.cols;
    switch (field) {
      case 'src_ip':
        return [cols.srcIp[slot] as string];
      case 'dst_ip':
        return [cols.dstIp[slot] as string];
      case 'tactic':
      case 'technique': {
        const col = cols.cat[field];
        const code = col.codes[slot] as number;
        return code === 0 ? [] : [col.values[code] as string];
      }
      case 'verdict':
      case 'severity':
      case 'status':
      case 'model_version': {
        const col = cols.cat[field === 'model_version' ? 'model' : field];
        const code = col.codes[slot] as number;
        if (code !== 0) return [col.values[code] as string];
        break;
      }
    }
    return facetValues(this.payloadOf(slot), field);
  }

  private cmpIds(a: number, b: number): number {
    return cmpString(this.ids[a] as string, this.ids[b] as string);
  }

  async updatePayload(ids: string[], patch: Partial<Finding>): Promise<void> {
    // While writes are queued, an id may be upserted before this patch's turn: keep every id
    // (applying skips the ones still missing then).
    const present = this.flushing ? [...ids] : ids.filter((id) => this.slotById.has(id));
    if (present.length === 0) return;
    const rec: LogRecord = { p: [present, patch] };
    await this.write(jsonFrame(rec), 1, () => this.apply(rec));
  }

  async deleteOlderThan(ms: number): Promise<number> {
    const old: string[] = [];
    const { live, windowEnd } = this.cols;
    for (let slot = 0; slot < this.ids.length; slot++)
      if (live[slot] === 1 && (windowEnd[slot] as number) < ms) old.push(this.ids[slot] as string);
    if (old.length > 0) {
      const rec: LogRecord = { d: old };
      await this.write(jsonFrame(rec), 1, () => this.apply(rec));
    }
    return old.length;
  }

  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.log?.close();
    this.log = null;
    this.opened = false;
  }

  /**
   * Appends records to the log, fsyncs, then applies them in memory; resolves after that. Writes
   * issued while an append + fsync is under way wait for it and then go together: one append and
   * one fsync for all of them (group commit), applied and resolved in the order they were issued.
   */
  private write(frame: Buffer, records: number, applyInMemory: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingWrites.push({ frame, records, apply: applyInMemory, resolve, reject });
      this.flushing ??= this.flushWrites();
    });
  }

  private async flushWrites(): Promise<void> {
    // Lets writes issued in the same tick join the first group; makes the loop never finish synchronously.
    await null;
    for (;;) {
      const group = this.pendingWrites;
      if (group.length === 0) {
        this.flushing = null;
        return;
      }
      this.pendingWrites = [];
      try {
        if (!this.log) throw new Error('EmbeddedStore is not open: call init() first');
        const frames: Buffer[] = [];
        // String-table entries the log lacks go ahead of the records that use them.
        const tableSize = this.table.size;
        if (this.table.durable < tableSize) {
          const w = new ByteWriter(1024);
          stringsFrame(w, this.table, this.table.durable);
          frames.push(w.buf.subarray(0, w.pos));
        }
        let records = 0;
        for (const w of group) {
          frames.push(w.frame);
          records += w.records;
        }
        await appendAll(this.log, frames);
        if (this.fsync) await this.log.datasync();
        this.table.durable = Math.max(this.table.durable, tableSize);
        for (const w of group) w.apply();
        this.logRecords += records;
        if (this.logRecords - this.slotById.size > this.compactSlack) await this.compact();
        for (const w of group) w.resolve();
      } catch (e) {
        for (const w of group) w.reject(e);
      }
    }
  }

  private async compact(): Promise<void> {
    const path = join(this.dir, LOG_FILE);
    // Its own temporary file: two stores opening one directory at once (a second process, as the
    // query API beside the inference service in tests) must not rename each other's file away.
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await this.log?.close();
    this.log = null;
    // Live records only, into fresh pages (overwritten records are dropped from memory too).
    this.arena.repack(this.ids.length);
    const fh = await open(tmp, 'w');
    try {
      const w = new ByteWriter(1 << 20);
      w.bytes(LOG_MAGIC);
      stringsFrame(w, this.table, 0);
      const dim = this.dim;
      const slab = new Uint8Array(this.vectors.buffer);
      let start = -1;
      let inFrame = 0;
      let countAt = 0;
      const flushFrame = async () => {
        if (start < 0) return;
        w.buf[countAt] = (inFrame & 0x7f) | 0x80;
        w.buf[countAt + 1] = ((inFrame >>> 7) & 0x7f) | 0x80;
        w.buf[countAt + 2] = inFrame >>> 14;
        endFrame(w, start);
        start = -1;
        if (w.pos > 1 << 20) {
          await appendAll(fh, [w.buf.subarray(0, w.pos)]);
          w.reset();
        }
      };
      for (const [id, slot] of this.slotById) {
        if (start < 0) {
          start = beginFrame(w, FRAME_UPSERT);
          // The count as a fixed three-byte varint, filled in when the frame ends.
          countAt = w.pos;
          w.ensure(3);
          w.pos += 3;
          inFrame = 0;
        }
        w.id(id);
        w.u32(dim * 4);
        w.bytes(slab, slot * dim * 4, (slot + 1) * dim * 4);
        const rec = this.arena.bytes(slot);
        w.u32(rec.length);
        w.bytes(rec);
        if (++inFrame === COMPACT_FRAME_POINTS) await flushFrame();
      }
      await flushFrame();
      if (w.pos > 0) await appendAll(fh, [w.buf.subarray(0, w.pos)]);
      await fh.datasync();
      await fh.close();
      await rename(tmp, path);
    } catch (error) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    this.table.durable = this.table.size;
    this.logRecords = this.slotById.size;
    this.log = await open(path, 'a');
  }

  /** Applies a format-1 upsert, or a payload patch or delete record (format-2 upserts go through put). */
  private apply(rec: LogRecord): void {
    if ('u' in rec) {
      const [id, vec, payload] = rec.u;
      this.put(id, decodeVector(vec), payload, null, 0, 0);
    } else if ('p' in rec) {
      const [ids, patch] = rec.p;
      for (const id of ids) {
        const slot = this.slotById.get(id);
        if (slot === undefined || !this.arena.has(slot)) continue;
        const next = { ...this.payloadOf(slot), ...patch };
        this.setRecord(slot, next, true);
        this.cols.set(slot, next);
        if (this.cols.labelled[slot] !== 1) this.labelled.remove(slot);
        else if (!this.labelled.has(slot))
          this.labelled.set(slot, this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim));
        this.touchOrders(slot);
      }
    } else {
      for (const id of rec.d) {
        const slot = this.slotById.get(id);
        if (slot === undefined) continue;
        this.slotById.delete(id);
        this.ids[slot] = undefined;
        this.arena.clear(slot);
        this.freeSlots.push(slot);
        this.cols.clear(slot);
        this.labelled.remove(slot);
        this.touchOrders(slot);
        this.ann?.remove(slot);
        this.annBuilding?.remove(slot);
      }
    }
    this.maybeRepack();
  }

  /**
   * Encodes a payload as the slot's record. `seal`: add no string-table entries (a patch, applied
   * after its frame is on disk: entries it added would take codes that upserts encoded meanwhile
   * already hold in frames still to come, and replay would assign them differently).
   */
  private setRecord(slot: number, payload: Finding, seal = false): void {
    const w = this.writer;
    w.reset();
    this.table.sealed = seal;
    try {
      w.payload(payload, this.table);
    } finally {
      this.table.sealed = false;
    }
    this.arena.set(slot, w.buf, 0, w.pos);
  }

  /** Drops overwritten records from memory once they outweigh the live ones. */
  private maybeRepack(): void {
    const a = this.arena;
    if (a.usedBytes - a.liveBytes > Math.max(64 << 20, a.liveBytes)) a.repack(this.ids.length);
  }

  private touchOrders(slot: number): void {
    // Most stores that only take writes and neighbour queries never build an order.
    if (this.orders.size > 0) for (const o of this.orders.values()) o.touch(slot);
    if (this.ipOrders.size > 0) for (const o of this.ipOrders.values()) o.touch(slot);
  }

  /**
   * Stores a point: `payload` feeds the index columns; its record is `record[from, to)` (the
   * frame it was written in) or, when `record` is null, encoded here.
   */
  private put(
    id: string,
    v: Float32Array,
    payload: Finding,
    record: Uint8Array | null,
    from: number,
    to: number,
  ): void {
    const slot = this.slotOf(id);
    this.vectors.set(v, slot * this.dim);
    if (record) this.arena.set(slot, record, from, to);
    else this.setRecord(slot, payload);
    this.cols.set(slot, payload);
    this.indexPut(slot);
  }

  /** The slot of `id`, assigned (and the vector slab grown) when it is new. */
  private slotOf(id: string): number {
    let slot = this.slotById.get(id);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.ids.length;
      if ((slot + 1) * this.dim > this.vectors.length) {
        const grown = new Float32Array(this.vectors.length * 2);
        grown.set(this.vectors);
        this.vectors = grown;
        this.vectorBytes = new Uint8Array(grown.buffer);
      }
      this.slotById.set(id, slot);
      this.ids[slot] = id;
    }
    return slot;
  }

  /** After a slot's vector, record and columns are set: the labelled matrix, orders, kNN index. */
  private indexPut(slot: number, labelled = this.cols.labelled[slot] === 1): void {
    const dim = this.dim;
    if (labelled) this.labelled.set(slot, this.vectors, slot * dim);
    else this.labelled.remove(slot);
    this.touchOrders(slot);
    this.ann?.touch(slot);
    this.annBuilding?.touch(slot);
    this.maybeRepack();
  }
}

interface PendingWrite {
  /** One whole log frame. */
  frame: Buffer;
  records: number;
  apply: () => void;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function jsonFrame(rec: LogRecord): Buffer {
  const w = new ByteWriter(256);
  const start = beginFrame(w, FRAME_JSON);
  const text = Buffer.from(JSON.stringify(rec));
  w.bytes(text);
  endFrame(w, start);
  return w.buf.subarray(0, w.pos);
}

function decodeVector(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** A kNN batch: unit queries (row-major, `Q` of them), k, and per query the slot it excludes (-1 none). */
interface QueryBatch {
  queries: Float32Array;
  Q: number;
  k: number;
  exclude: number[];
}

/** True when the filter asks for labelled points and nothing else. */
function labelledOnly(filter: FindingFilter | undefined): boolean {
  if (filter?.labelled !== true) return false;
  for (const [key, v] of Object.entries(filter)) if (key !== 'labelled' && v !== undefined) return false;
  return true;
}

/** `vector` as float32, scaled to unit length, into `out` at `at` (a zero vector stays zero). */
function normaliseInto(vector: ArrayLike<number>, out: Float32Array, at: number): void {
  const n = vector.length;
  for (let i = 0; i < n; i++) out[at + i] = vector[i] as number;
  let norm = 0;
  for (let i = at; i < at + n; i++) norm += (out[i] as number) * (out[i] as number);
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = at; i < at + n; i++) out[i] = (out[i] as number) / norm;
}

/** `normaliseInto` for row `from` of a float32 matrix (no view of the row). */
function normaliseRowInto(src: Float32Array, from: number, dim: number, out: Float32Array, at: number): void {
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = src[from + i] as number;
    out[at + i] = x;
    const y = out[at + i] as number;
    norm += y * y;
  }
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = at; i < at + dim; i++) out[i] = (out[i] as number) / norm;
}

function cmpString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
