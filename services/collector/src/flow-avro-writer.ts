import { type AvroCodec, type FlowRecord, WIRE_HEADER_BYTES, WIRE_MAGIC } from '@tidewatch/contracts';

const SLAB_BYTES = 64 * 1024;
/** Upper bound of everything but the strings: header, 13 numbers, 9 unions, map count and end. */
const FIXED_MAX = WIRE_HEADER_BYTES + 13 * 10 + 9 * 11 + 2 * 10;
/** Per string: its length prefix (at most 10 bytes). */
const STRING_MAX_OVERHEAD = 10;
/**
 * Longs this writer encodes itself; beyond ±2^52 avsc's floating-point zig-zag rounds, so such
 * values (no flow field reaches them) go through avsc to keep the bytes identical.
 */
const LONG_LIMIT = 2 ** 52;

function isLong(v: unknown): v is number {
  return typeof v === 'number' && Math.floor(v) === v && v > -LONG_LIMIT && v < LONG_LIMIT;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && v === (v | 0);
}

function isOptLong(v: unknown): boolean {
  return v == null || isLong(v);
}

function isOptInt(v: unknown): boolean {
  return v == null || isInt(v);
}

/** Zig-zag varint (Avro int and long share it) at `p`; returns the position after it. */
export function writeLong(b: Uint8Array, p: number, n: number): number {
  if (n >= -0x40000000 && n < 0x40000000) {
    let m = n >= 0 ? n << 1 : (~n << 1) | 1;
    while (m > 0x7f) {
      b[p++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    b[p++] = m;
    return p;
  }
  // |n| < 2^52, so the zig-zag value is an exact integer below 2^53: split it into 32-bit halves
  // and shift 7 bits at a time with integer operations only (no floating-point modulo).
  const z = n >= 0 ? n * 2 : -n * 2 - 1;
  let lo = z >>> 0;
  let hi = (z - lo) / 0x100000000;
  while (hi !== 0 || lo > 0x7f) {
    b[p++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  b[p++] = lo;
  return p;
}

function writeOptional(b: Uint8Array, p: number, v: number | null | undefined): number {
  if (v == null) {
    b[p] = 0;
    return p + 1;
  }
  b[p] = 2; // branch 1 of ["null", "long"|"int"]
  return writeLong(b, p + 1, v);
}

/** Length-prefixed ASCII text; -1 for any other character (left to avsc: UTF-8 rules are its). */
export function writeAscii(b: Uint8Array, p: number, s: string): number {
  const n = s.length;
  if (n < 0x40) b[p++] = n << 1;
  else p = writeLong(b, p, n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    b[p++] = c;
  }
  return p;
}

/**
 * Writes `flows.v1` values (Confluent framing + Avro body) straight into shared 64 KiB slabs, for
 * the collector's hot path, where avsc's generic `toBuffer` (the `extra` map, a fresh buffer and a
 * copy per message) cost ~3 µs per flow. The bytes are exactly avsc's for the same record (field
 * order and encodings of flow.avsc.json, checked byte for byte in the tests); a record this writer
 * does not handle itself (a value outside the schema's types, non-ASCII text, a `label` or
 * `attack`, a map of 64 entries or more) goes through the codec, which encodes it or throws as before.
 *
 * Each message is a view into a slab; a slab is freed once every message in it has been sent.
 */
export class FlowAvroWriter {
  readonly #codec: AvroCodec<FlowRecord>;
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #pos = 0;

  constructor(codec: AvroCodec<FlowRecord>) {
    this.#codec = codec;
  }

  /** The schema id every message is framed with (-1 until the codec is registered). */
  get schemaId(): number {
    return this.#codec.schemaId;
  }

  /**
   * Room for `bytes` more in the current slab (a fresh one when short): returns where to write.
   * For writers that encode straight from a datagram (Netflow5AvroEncoder); `message()` then
   * takes what was written.
   */
  reserve(bytes: number): number {
    if (this.#pos + bytes > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
      this.#pos = 0;
    }
    return this.#pos;
  }

  /** The slab `reserve()` answered for. */
  get slab(): Buffer {
    return this.#slab;
  }

  /** Keeps [start, end) of the slab, written after reserve(), as one message value. */
  message(start: number, end: number): Buffer {
    this.#pos = end;
    return Buffer.from(this.#slab.buffer, start, end - start);
  }

  /** The message value for one flow. Throws (from avsc) for a record the schema refuses. */
  encode(f: FlowRecord): Buffer {
    const exporter = f.exporter;
    const format = f.source_format;
    const src = f.src_ip;
    const dst = f.dst_ip;
    const extra = f.extra;
    if (
      typeof exporter !== 'string' ||
      typeof format !== 'string' ||
      typeof src !== 'string' ||
      typeof dst !== 'string' ||
      f.label != null ||
      f.attack != null ||
      !isLong(f.observation_domain) ||
      !isLong(f.start_ms) ||
      !isLong(f.end_ms) ||
      !isInt(f.protocol) ||
      !isInt(f.src_port) ||
      !isInt(f.dst_port) ||
      !isLong(f.fwd_bytes) ||
      !isLong(f.fwd_pkts) ||
      !isLong(f.bwd_bytes) ||
      !isLong(f.bwd_pkts) ||
      !isInt(f.tcp_flags) ||
      !isLong(f.sampling_rate) ||
      !isOptLong(f.in_if) ||
      !isOptLong(f.out_if) ||
      !isOptLong(f.src_as) ||
      !isOptLong(f.dst_as) ||
      !isOptInt(f.vlan) ||
      !isOptInt(f.icmp_type) ||
      !isOptInt(f.icmp_code) ||
      (extra !== undefined && (extra === null || typeof extra !== 'object' || Array.isArray(extra)))
    )
      return this.#codec.encode(f);
    let need =
      FIXED_MAX + exporter.length + format.length + src.length + dst.length + 4 * STRING_MAX_OVERHEAD;
    let entries = 0;
    if (extra !== undefined)
      for (const k in extra) {
        const v = extra[k];
        if (typeof v !== 'string') return this.#codec.encode(f);
        need += k.length + v.length + 2 * STRING_MAX_OVERHEAD;
        entries++;
      }
    if (entries >= 0x40) return this.#codec.encode(f);
    if (this.#pos + need > this.#slab.length) {
      this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, need));
      this.#pos = 0;
    }
    const b = this.#slab;
    const start = this.#pos;
    b[start] = WIRE_MAGIC;
    b.writeUInt32BE(this.#codec.schemaId, start + 1);
    let p = start + WIRE_HEADER_BYTES;
    p = writeAscii(b, p, exporter);
    if (p < 0) return this.#codec.encode(f);
    p = writeLong(b, p, f.observation_domain);
    p = writeAscii(b, p, format);
    if (p < 0) return this.#codec.encode(f);
    p = writeLong(b, p, f.start_ms);
    p = writeLong(b, p, f.end_ms);
    p = writeLong(b, p, f.protocol);
    p = writeAscii(b, p, src);
    if (p < 0) return this.#codec.encode(f);
    p = writeAscii(b, p, dst);
    if (p < 0) return this.#codec.encode(f);
    p = writeLong(b, p, f.src_port);
    p = writeLong(b, p, f.dst_port);
    p = writeLong(b, p, f.fwd_bytes);
    p = writeLong(b, p, f.fwd_pkts);
    p = writeLong(b, p, f.bwd_bytes);
    p = writeLong(b, p, f.bwd_pkts);
    p = writeLong(b, p, f.tcp_flags);
    p = writeLong(b, p, f.sampling_rate);
    p = writeOptional(b, p, f.in_if);
    p = writeOptional(b, p, f.out_if);
    p = writeOptional(b, p, f.src_as);
    p = writeOptional(b, p, f.dst_as);
    p = writeOptional(b, p, f.vlan);
    p = writeOptional(b, p, f.icmp_type);
    p = writeOptional(b, p, f.icmp_code);
    b[p++] = 0; // label: null
    b[p++] = 0; // attack: null
    if (entries > 0) {
      // one block of `entries` pairs, as avsc writes a map (zig-zag count < 64 is one byte)
      b[p++] = entries << 1;
      for (const k in extra) {
        p = writeAscii(b, p, k);
        if (p < 0) return this.#codec.encode(f);
        p = writeAscii(b, p, (extra as Record<string, string>)[k] as string);
        if (p < 0) return this.#codec.encode(f);
      }
    }
    b[p++] = 0; // end of map blocks
    this.#pos = p;
    // Buffer.from(arrayBuffer, …) makes the view without subarray's species lookup
    return Buffer.from(b.buffer, start, p - start);
  }
}
