import { ByteReader, type StringTable } from './payload-codec.ts';

const PAGE_BYTES = 1 << 20;

/** Where a slot's record lies at one moment (records are never written over, so it stays readable). */
export interface ArenaSnapshot {
  pages: Buffer[];
  page: Int32Array;
  offset: Int32Array;
  length: Int32Array;
}

/**
 * Every point's payload record (payload-codec bytes) in large pages, located per slot by typed
 * arrays: a million payloads are a few hundred 1 MiB buffers for the GC instead of a million
 * strings. A rewrite appends the new record; the old bytes are garbage until `repack` (which the
 * store runs at log compaction or when garbage outweighs live bytes).
 */
export class PayloadArena {
  private pages: Buffer[] = [];
  private current: Buffer = Buffer.allocUnsafeSlow(PAGE_BYTES);
  private currentIndex = 0;
  private pos = 0;
  private pageOf = new Int32Array(1024).fill(-1);
  private offsetOf = new Int32Array(1024);
  private lengthOf = new Int32Array(1024);
  liveBytes = 0;
  usedBytes = 0;

  constructor() {
    this.pages.push(this.current);
  }

  has(slot: number): boolean {
    return slot < this.pageOf.length && (this.pageOf[slot] as number) >= 0;
  }

  /** Copies `src[from, to)` in as the slot's record. */
  set(slot: number, src: Uint8Array, from: number, to: number): void {
    this.clear(slot);
    if (slot >= this.pageOf.length) this.grow(slot);
    const n = to - from;
    let page: Buffer;
    if (n > PAGE_BYTES >>> 2) {
      // A large record gets a page of its own; small ones keep filling the current page.
      page = Buffer.allocUnsafeSlow(n);
      this.pageOf[slot] = this.pages.push(page) - 1;
      this.offsetOf[slot] = 0;
    } else {
      if (this.pos + n > this.current.length) {
        this.current = Buffer.allocUnsafeSlow(PAGE_BYTES);
        this.currentIndex = this.pages.push(this.current) - 1;
        this.pos = 0;
      }
      page = this.current;
      this.pageOf[slot] = this.currentIndex;
      this.offsetOf[slot] = this.pos;
      this.pos += n;
    }
    // Buffer#copy works on any Uint8Array and, unlike set(subarray), makes no view per record.
    copyBytes(src, page, this.offsetOf[slot] as number, from, to);
    this.lengthOf[slot] = n;
    this.liveBytes += n;
    this.usedBytes += n;
  }

  clear(slot: number): void {
    if (!this.has(slot)) return;
    this.liveBytes -= this.lengthOf[slot] as number;
    this.pageOf[slot] = -1;
  }

  /** A reader positioned at the slot's record (the slot must hold one). */
  reader(slot: number): ByteReader {
    return new ByteReader(this.pages[this.pageOf[slot] as number] as Buffer, this.offsetOf[slot] as number);
  }

  decode(slot: number, table: StringTable): unknown {
    return this.reader(slot).payload(table);
  }

  /** The slot's record bytes (a view into its page). */
  bytes(slot: number): Buffer {
    const off = this.offsetOf[slot] as number;
    return (this.pages[this.pageOf[slot] as number] as Buffer).subarray(
      off,
      off + (this.lengthOf[slot] as number),
    );
  }

  snapshot(slots: number): ArenaSnapshot {
    return {
      pages: this.pages.slice(),
      page: this.pageOf.slice(0, slots),
      offset: this.offsetOf.slice(0, slots),
      length: this.lengthOf.slice(0, slots),
    };
  }

  /** Copies the live records into fresh pages (the old ones go once no snapshot holds them). */
  repack(slots: number): void {
    const next = new PayloadArena();
    for (let s = 0; s < slots; s++) {
      if (!this.has(s)) continue;
      const b = this.bytes(s);
      next.set(s, b, 0, b.length);
    }
    this.pages = next.pages;
    this.current = next.current;
    this.currentIndex = next.currentIndex;
    this.pos = next.pos;
    this.pageOf = next.pageOf;
    this.offsetOf = next.offsetOf;
    this.lengthOf = next.lengthOf;
    this.liveBytes = next.liveBytes;
    this.usedBytes = next.usedBytes;
  }

  private grow(slot: number): void {
    let n = this.pageOf.length;
    while (n <= slot) n *= 2;
    const p = new Int32Array(n).fill(-1);
    p.set(this.pageOf);
    this.pageOf = p;
    const o = new Int32Array(n);
    o.set(this.offsetOf);
    this.offsetOf = o;
    const l = new Int32Array(n);
    l.set(this.lengthOf);
    this.lengthOf = l;
  }
}

/** Decodes a record from a snapshot (a kNN that awaited reads the payloads as they were when it started). */
export function decodeFromSnapshot(snap: ArenaSnapshot, slot: number, table: StringTable): unknown {
  return new ByteReader(snap.pages[snap.page[slot] as number] as Buffer, snap.offset[slot] as number).payload(
    table,
  );
}

const bufferCopy = Buffer.prototype.copy;

/** `src[from, to)` into `dst` at `at`, without a view of the source (no allocation). */
export function copyBytes(src: Uint8Array, dst: Uint8Array, at: number, from: number, to: number): void {
  bufferCopy.call(src, dst, at, from, to);
}
