import { MalformedResponseError } from './protocol-errors.ts';

const TWO_32 = 4294967296;

/** A growable big-endian writer for requests (non-flexible protocol versions only). */
export class Writer {
  buf: Buffer;
  pos = 0;
  /** Large byte strings written by reference (not copied): inserted at `at` of buf. */
  readonly refs: { at: number; bytes: Uint8Array }[] = [];
  refBytes = 0;

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  int8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }

  int16(v: number): this {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** A signed 64-bit integer from a safe integer or a bigint. */
  int64(v: number | bigint): this {
    this.ensure(8);
    if (typeof v === 'bigint') this.buf.writeBigInt64BE(v, this.pos);
    else {
      const hi = Math.floor(v / TWO_32);
      this.buf.writeInt32BE(hi, this.pos);
      this.buf.writeUInt32BE(v - hi * TWO_32, this.pos + 4);
    }
    this.pos += 8;
    return this;
  }

  string(v: string): this {
    const n = Buffer.byteLength(v);
    this.ensure(2 + n);
    this.buf.writeInt16BE(n, this.pos);
    this.buf.write(v, this.pos + 2);
    this.pos += 2 + n;
    return this;
  }

  nullableString(v: string | null): this {
    return v === null ? this.int16(-1) : this.string(v);
  }

  bytes(v: Uint8Array | null): this {
    if (v === null) return this.int32(-1);
    this.int32(v.length);
    return this.raw(v);
  }

  /** Like bytes(), but the value is sent from where it is instead of copied into the request. */
  bytesRef(v: Uint8Array): this {
    this.int32(v.length);
    if (v.length < 4096) return this.raw(v);
    this.refs.push({ at: this.pos, bytes: v });
    this.refBytes += v.length;
    return this;
  }

  /** Total length including the referenced byte strings. */
  get length(): number {
    return this.pos + this.refBytes;
  }

  /** The request as buffers to write in order. */
  parts(): Uint8Array[] {
    if (this.refs.length === 0) return [this.buf.subarray(0, this.pos)];
    const out: Uint8Array[] = [];
    let from = 0;
    for (const { at, bytes } of this.refs) {
      if (at > from) out.push(this.buf.subarray(from, at));
      out.push(bytes);
      from = at;
    }
    if (this.pos > from) out.push(this.buf.subarray(from, this.pos));
    return out;
  }

  raw(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  array<T>(items: readonly T[] | null, each: (w: this, item: T) => void): this {
    if (items === null) return this.int32(-1);
    this.int32(items.length);
    for (const item of items) each(this, item);
    return this;
  }

  int32Array(items: readonly number[]): this {
    return this.array(items, (w, v) => w.int32(v));
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** A bounds-checked big-endian reader; a short or malformed response throws MalformedResponseError. */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    readonly what: string,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new MalformedResponseError(
        `${this.what}: truncated (needed ${n} bytes at offset ${this.pos} of ${this.end})`,
      );
    }
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  int8(): number {
    this.need(1);
    return this.buf.readInt8(this.pos++);
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  /** An int64 as a number (offsets, ids and timestamps stay below 2^53 in practice). */
  int64Number(): number {
    this.need(8);
    const v = this.buf.readInt32BE(this.pos) * TWO_32 + this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return v;
  }

  string(): string {
    const v = this.nullableString();
    if (v === null) throw new MalformedResponseError(`${this.what}: null where a string is required`);
    return v;
  }

  nullableString(): string | null {
    const n = this.int16();
    if (n < 0) return null;
    this.need(n);
    const v = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  bytes(): Buffer | null {
    const n = this.int32();
    if (n < 0) return null;
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  array<T>(each: (r: this) => T): T[] {
    const n = this.int32();
    if (n < 0) return [];
    // Each element takes at least one byte: a count beyond the rest is a corrupt frame, not a loop.
    if (n > this.remaining) throw new MalformedResponseError(`${this.what}: array of ${n} exceeds the frame`);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) out[i] = each(this);
    return out;
  }
}

/** Bytes of a zigzag varint (signed 32-bit). */
export function varintSize(v: number): number {
  let u = ((v << 1) ^ (v >> 31)) >>> 0;
  let n = 1;
  while (u >= 0x80) {
    u >>>= 7;
    n++;
  }
  return n;
}

/** Writes a zigzag varint at pos; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  let u = ((v << 1) ^ (v >> 31)) >>> 0;
  while (u >= 0x80) {
    buf[pos++] = (u & 0x7f) | 0x80;
    u >>>= 7;
  }
  buf[pos++] = u;
  return pos;
}

/** Zigzag varlong from a safe integer (record timestamp deltas). */
export function writeVarlong(buf: Uint8Array, pos: number, v: number): number {
  if (v >= -0x40000000 && v < 0x40000000) return writeVarint(buf, pos, v);
  let u = BigInt(v) >= 0n ? BigInt(v) << 1n : (-BigInt(v) << 1n) - 1n;
  while (u >= 0x80n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

export function varlongSize(v: number): number {
  if (v >= -0x40000000 && v < 0x40000000) return varintSize(v);
  let u = BigInt(v) >= 0n ? BigInt(v) << 1n : (-BigInt(v) << 1n) - 1n;
  let n = 1;
  while (u >= 0x80n) {
    u >>= 7n;
    n++;
  }
  return n;
}
