import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import type { BusMessage } from '../bus.ts';
import { varintSize, varlongSize, writeVarint, writeVarlong } from './codec.ts';
import { crc32c } from './crc32c.ts';

/** Bytes of a v2 record batch before its first record. */
export const BATCH_HEADER_SIZE = 61;
const TWO_32 = 4294967296;
const EMPTY_HEADERS: readonly [string, string][] = [];

/**
 * One open record batch (magic 2) for one partition: records are appended straight into a growing
 * buffer behind room for the header; seal() fills the header and CRC-32C in place.
 */
export class RecordBatchBuilder {
  buf: Buffer;
  pos = BATCH_HEADER_SIZE;
  count = 0;
  baseTimestamp = 0;
  maxTimestamp = 0;
  // The record begun last (beginRecord → endRecord): the room its two lengths were given, where
  // its key ends and its value starts.
  #lenSize = 0;
  #keyEnd = 0;
  #valueLenSize = 0;
  #valueStart = 0;
  #timestamp = 0;

  constructor(initialSize = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, BATCH_HEADER_SIZE + 64));
  }

  get sizeInBytes(): number {
    return this.pos;
  }

  #ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * Appends one record. The key is key[keyStart, keyEnd) (null: no key); headers are already in
   * UTF-8-ready [name, value] pairs.
   */
  append(
    key: Uint8Array | null,
    keyStart: number,
    keyEnd: number,
    value: Uint8Array,
    timestamp: number,
    headers: readonly [string, string][] = EMPTY_HEADERS,
  ): void {
    if (this.count === 0) {
      this.baseTimestamp = timestamp;
      this.maxTimestamp = timestamp;
    } else if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    const tsDelta = timestamp - this.baseTimestamp;
    const offsetDelta = this.count;
    const keyLen = key === null ? -1 : keyEnd - keyStart;
    const valueLen = value.length;
    const headerCount = headers.length;
    let headerBytes = 1;
    if (headerCount > 0) {
      headerBytes = varintSize(headerCount);
      for (const [name, text] of headers) {
        const n = Buffer.byteLength(name);
        const v = Buffer.byteLength(text);
        headerBytes += varintSize(n) + n + varintSize(v) + v;
      }
    }
    const body =
      1 +
      varlongSize(tsDelta) +
      varintSize(offsetDelta) +
      (keyLen < 0 ? 1 : varintSize(keyLen) + keyLen) +
      varintSize(valueLen) +
      valueLen +
      headerBytes;
    if (this.pos + body + 5 > this.buf.length) this.#ensure(body + 5);
    const buf = this.buf;
    let p = writeVarint(buf, this.pos, body);
    buf[p++] = 0;
    p = writeVarlong(buf, p, tsDelta);
    p = writeVarint(buf, p, offsetDelta);
    p = writeVarint(buf, p, keyLen);
    if (key !== null) {
      if (keyLen <= 32) for (let i = keyStart; i < keyEnd; i++) buf[p++] = key[i]!;
      else {
        buf.set(key.subarray(keyStart, keyEnd), p);
        p += keyLen;
      }
    }
    p = writeVarint(buf, p, valueLen);
    buf.set(value, p);
    p += valueLen;
    if (headerCount === 0) buf[p++] = 0;
    else {
      p = writeVarint(buf, p, headerCount);
      for (const [name, text] of headers) {
        const n = Buffer.byteLength(name);
        p = writeVarint(buf, p, n);
        p += buf.write(name, p);
        const v = Buffer.byteLength(text);
        p = writeVarint(buf, p, v);
        p += buf.write(text, p);
      }
    }
    this.pos = p;
    this.count++;
  }

  /**
   * Starts a record whose value the caller writes into `buf` from the returned position, with room
   * for `maxValueBytes`; endRecord() completes it (until then the batch is as before). The record's
   * length and its value's length precede the value, so they get the room `maxValueBytes` needs
   * and endRecord() moves the bytes up over what a shorter value did not need (rare: a bound of
   * up to 8 KiB for a value of 64 B to 8 KiB needs none).
   */
  beginRecord(
    key: Uint8Array,
    keyStart: number,
    keyEnd: number,
    maxValueBytes: number,
    timestamp: number,
  ): number {
    const tsDelta = this.count === 0 ? 0 : timestamp - this.baseTimestamp;
    const keyLen = keyEnd - keyStart;
    const valueLenSize = varintSize(maxValueBytes);
    const prefix = 1 + varlongSize(tsDelta) + varintSize(this.count) + varintSize(keyLen) + keyLen;
    const maxBody = prefix + valueLenSize + maxValueBytes + 1;
    const lenSize = varintSize(maxBody);
    if (this.pos + lenSize + maxBody > this.buf.length) this.#ensure(lenSize + maxBody);
    const buf = this.buf;
    let p = this.pos + lenSize;
    buf[p++] = 0;
    p = writeVarlong(buf, p, tsDelta);
    p = writeVarint(buf, p, this.count);
    p = writeVarint(buf, p, keyLen);
    // A short key (a sequence id is 36 bytes) byte by byte: subarray() would be an object per record.
    if (keyLen <= 64) for (let i = keyStart; i < keyEnd; i++) buf[p++] = key[i]!;
    else {
      buf.set(key.subarray(keyStart, keyEnd), p);
      p += keyLen;
    }
    this.#lenSize = lenSize;
    this.#keyEnd = p;
    this.#valueLenSize = valueLenSize;
    this.#valueStart = p + valueLenSize;
    this.#timestamp = timestamp;
    return this.#valueStart;
  }

  /** Completes the record beginRecord() started; its value is buf[valueStart, valueEnd). */
  endRecord(valueEnd: number): void {
    const start = this.pos;
    const valueStart = this.#valueStart;
    const valueLen = valueEnd - valueStart;
    const prefixStart = start + this.#lenSize;
    const valueLenSize = varintSize(valueLen);
    const body = this.#keyEnd - prefixStart + valueLenSize + valueLen + 1;
    const buf = this.buf;
    let end = valueEnd;
    if (varintSize(body) === this.#lenSize && valueLenSize === this.#valueLenSize) {
      writeVarint(buf, start, body);
      writeVarint(buf, this.#keyEnd, valueLen);
    } else {
      let p = writeVarint(buf, start, body);
      if (p !== prefixStart) buf.copyWithin(p, prefixStart, this.#keyEnd);
      p = writeVarint(buf, p + (this.#keyEnd - prefixStart), valueLen);
      if (p !== valueStart) buf.copyWithin(p, valueStart, valueEnd);
      end = p + valueLen;
    }
    buf[end] = 0; // no headers
    const timestamp = this.#timestamp;
    if (this.count === 0) {
      this.baseTimestamp = timestamp;
      this.maxTimestamp = timestamp;
    } else if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.pos = end + 1;
    this.count++;
  }

  /** Writes the batch header (idempotent producer fields) and CRC; returns the batch bytes. */
  seal(producerId: number, producerEpoch: number, baseSequence: number): Buffer {
    const buf = this.buf;
    buf.writeInt32BE(0, 0); // baseOffset: assigned by the broker
    buf.writeInt32BE(0, 4);
    buf.writeInt32BE(this.pos - 12, 8);
    buf.writeInt32BE(-1, 12); // partitionLeaderEpoch
    buf[16] = 2; // magic
    buf.writeInt16BE(0, 21); // attributes: no compression, create time, not transactional
    buf.writeInt32BE(this.count - 1, 23);
    writeInt64(buf, 27, this.baseTimestamp);
    writeInt64(buf, 35, this.maxTimestamp);
    writeInt64(buf, 43, producerId);
    buf.writeInt16BE(producerEpoch, 51);
    buf.writeInt32BE(baseSequence, 53);
    buf.writeInt32BE(this.count, 57);
    buf.writeUInt32BE(crc32c(buf, 21, this.pos), 17);
    return buf.subarray(0, this.pos);
  }
}

function writeInt64(buf: Buffer, at: number, v: number): void {
  const hi = Math.floor(v / TWO_32);
  buf.writeInt32BE(hi, at);
  buf.writeUInt32BE(v - hi * TWO_32, at + 4);
}

/** A fetched record batch that cannot be read: bad CRC, bad lengths, unsupported format. */
export class CorruptRecordBatchError extends Error {
  override name = 'CorruptRecordBatchError';
}

const COMPRESSION = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

export interface DecodeResult {
  /** The offset after the last complete batch read (or `from` when none was). */
  nextOffset: number;
}

let vpos = 0;

/** A zigzag varint/varlong at `at`: its value and the position after it (RangeError past `end`). */
export function decodeVarlong(
  buf: Uint8Array,
  at: number,
  end = buf.length,
): { value: number; next: number } {
  const value = readVarlong(buf, at, end);
  return { value, next: vpos };
}

/** Shared by messages without headers (most): nothing writes to a consumed message's headers. */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Reads a zigzag varint/varlong at `at` (safe-integer range); the end position is left in vpos. */
function readVarlong(buf: Uint8Array, at: number, end: number): number {
  if (at >= end) throw new RangeError('varint past the end');
  let b = buf[at]!;
  if (b < 0x80) {
    vpos = at + 1;
    return (b >>> 1) ^ -(b & 1);
  }
  let u = 0;
  let mul = 1;
  let i = at;
  for (;;) {
    if (i >= end || i - at > 9) throw new RangeError('varint past the end');
    b = buf[i++]!;
    u += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 128;
  }
  vpos = i;
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

/**
 * Reads the record batches of one fetched partition straight into BusMessages (key and value are
 * views of the fetched bytes), a chunk at a time so that only the messages being handled are alive,
 * skipping records before `from` and control batches. A trailing partial batch (cut by the fetch
 * size) is ignored; a batch with a bad CRC or bad lengths throws CorruptRecordBatchError.
 */
export class RecordBatchReader {
  #pos: number;
  /** The offset after the last complete batch entered (or `from`). */
  nextOffset: number;
  // The batch being read.
  #data: Buffer | undefined;
  #p = 0;
  #dataEnd = 0;
  #left = 0;
  #index = 0;
  #baseOffset = 0;
  #baseTimestamp = 0;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
    readonly topic: string,
    readonly partition: number,
    readonly from: number,
  ) {
    this.#pos = start;
    this.nextOffset = from;
  }

  #where(base: number): string {
    return `${this.topic}[${this.partition}] batch at offset ${base}`;
  }

  /** Enters the next batch with records to read; false at the end. */
  #enterBatch(): boolean {
    const buf = this.buf;
    const end = this.end;
    while (end - this.#pos >= 12) {
      const pos = this.#pos;
      const baseOffset = buf.readInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
      const batchLength = buf.readInt32BE(pos + 8);
      const batchEnd = pos + 12 + batchLength;
      if (batchLength < BATCH_HEADER_SIZE - 12) {
        throw new CorruptRecordBatchError(
          `${this.#where(baseOffset)}: batch length ${batchLength} is too small`,
        );
      }
      if (batchEnd > end) return false;
      const magic = buf[pos + 16];
      if (magic !== 2) {
        throw new CorruptRecordBatchError(
          `${this.#where(baseOffset)}: message format v${magic} is not supported (record batches v2 only)`,
        );
      }
      const expected = buf.readUInt32BE(pos + 17);
      const actual = crc32c(buf, pos + 21, batchEnd);
      if (expected !== actual) {
        throw new CorruptRecordBatchError(
          `${this.#where(baseOffset)}: CRC mismatch (batch says ${expected.toString(16)}, data gives ${actual.toString(16)})`,
        );
      }
      const attributes = buf.readInt16BE(pos + 21);
      const lastOffsetDelta = buf.readInt32BE(pos + 23);
      const count = buf.readInt32BE(pos + 57);
      const batchNext = baseOffset + lastOffsetDelta + 1;
      this.#pos = batchEnd;
      if (batchNext > this.nextOffset) this.nextOffset = batchNext;
      if ((attributes & 0x20) !== 0 || batchNext <= this.from || count <= 0) continue;
      this.#baseOffset = baseOffset;
      this.#baseTimestamp = buf.readInt32BE(pos + 27) * TWO_32 + buf.readUInt32BE(pos + 31);
      this.#left = count;
      this.#index = 0;
      const compression = attributes & 7;
      if (compression === 0) {
        this.#data = buf;
        this.#p = pos + BATCH_HEADER_SIZE;
        this.#dataEnd = batchEnd;
        return true;
      }
      const name = COMPRESSION[compression] ?? `codec ${compression}`;
      const packed = buf.subarray(pos + BATCH_HEADER_SIZE, batchEnd);
      try {
        if (compression === 1) this.#data = gunzipSync(packed);
        else if (compression === 4) this.#data = zstdDecompressSync(packed);
        else throw new Error(`${name} compression is not supported (none, gzip and zstd are)`);
      } catch (error) {
        throw new CorruptRecordBatchError(`${this.#where(baseOffset)}: ${(error as Error).message}`);
      }
      this.#p = 0;
      this.#dataEnd = this.#data.length;
      return true;
    }
    return false;
  }

  /** The offset after the last complete batch in the data (where a following fetch starts). */
  scanEnd(): number {
    let next = this.from;
    let pos = this.#pos;
    while (this.end - pos >= 12) {
      const batchEnd = pos + 12 + this.buf.readInt32BE(pos + 8);
      if (batchEnd > this.end || batchEnd < pos + BATCH_HEADER_SIZE) break;
      const batchNext =
        this.buf.readInt32BE(pos) * TWO_32 +
        this.buf.readUInt32BE(pos + 4) +
        this.buf.readInt32BE(pos + 23) +
        1;
      if (batchNext > next) next = batchNext;
      pos = batchEnd;
    }
    return Math.max(next, this.nextOffset);
  }

  /** Appends up to `max` messages to out; returns how many (0: nothing left). */
  read(max: number, out: BusMessage[]): number {
    const { topic, partition, from } = this;
    let n = 0;
    while (n < max) {
      if (this.#left === 0 && !this.#enterBatch()) break;
      const data = this.#data!;
      const dataEnd = this.#dataEnd;
      const baseOffset = this.#baseOffset;
      const baseTimestamp = this.#baseTimestamp;
      let p = this.#p;
      try {
        while (this.#left > 0 && n < max) {
          const r = this.#index;
          const length = readVarlong(data, p, dataEnd);
          p = vpos;
          const recordEnd = p + length;
          if (length < 0 || recordEnd > dataEnd) throw new RangeError(`record ${r} overruns the batch`);
          p++; // attributes
          const tsDelta = readVarlong(data, p, recordEnd);
          const offsetDelta = readVarlong(data, vpos, recordEnd);
          const keyLen = readVarlong(data, vpos, recordEnd);
          p = vpos;
          let key: Buffer | null = null;
          if (keyLen >= 0) {
            if (p + keyLen > recordEnd) throw new RangeError(`record ${r} key overruns the record`);
            key = data.subarray(p, p + keyLen);
            p += keyLen;
          }
          const valueLen = readVarlong(data, p, recordEnd);
          p = vpos;
          let value: Buffer;
          if (valueLen >= 0) {
            if (p + valueLen > recordEnd) throw new RangeError(`record ${r} value overruns the record`);
            value = data.subarray(p, p + valueLen);
            p += valueLen;
          } else value = Buffer.alloc(0);
          const headerCount = readVarlong(data, p, recordEnd);
          p = vpos;
          const headers: Record<string, string> = headerCount === 0 ? NO_HEADERS : {};
          for (let h = 0; h < headerCount; h++) {
            const nameLen = readVarlong(data, p, recordEnd);
            p = vpos;
            if (nameLen < 0 || p + nameLen > recordEnd) throw new RangeError(`record ${r} header overruns`);
            const name = data.toString('utf8', p, p + nameLen);
            p += nameLen;
            const textLen = readVarlong(data, p, recordEnd);
            p = vpos;
            if (textLen >= 0) {
              if (p + textLen > recordEnd) throw new RangeError(`record ${r} header overruns`);
              headers[name] = data.toString('utf8', p, p + textLen);
              p += textLen;
            }
          }
          p = recordEnd;
          this.#left--;
          this.#index++;
          const offset = baseOffset + offsetDelta;
          if (offset < from) continue;
          out.push({
            topic,
            partition,
            offset: String(offset),
            key,
            value,
            headers,
            timestampMs: baseTimestamp + tsDelta,
          });
          n++;
        }
      } catch (error) {
        this.#left = 0;
        throw new CorruptRecordBatchError(`${this.#where(baseOffset)}: ${(error as Error).message}`);
      } finally {
        this.#p = p;
      }
    }
    return n;
  }
}

/** Decodes every record of the batches in buf[start, end) (see RecordBatchReader). */
export function decodeRecordBatches(
  buf: Buffer,
  start: number,
  end: number,
  topic: string,
  partition: number,
  from: number,
  out: BusMessage[],
): DecodeResult {
  const reader = new RecordBatchReader(buf, start, end, topic, partition, from);
  while (reader.read(10_000, out) > 0);
  return { nextOffset: reader.nextOffset };
}
