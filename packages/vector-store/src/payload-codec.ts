/**
 * Payloads (findings) as compact binary records instead of JSON text: numbers as integers or raw
 * float64 (no number↔text conversion), object keys and short repeated strings (verdicts, tactic
 * ids, names, model versions) as codes into a StringTable, UUIDs as 16 bytes, IPv4 addresses as
 * a uint32. Schema-free: any JSON value encodes and decodes to what `JSON.parse(JSON.stringify(v))`
 * gives (same keys in the same order, undefined members dropped, non-finite numbers and -0 as
 * JSON writes them), so the store's behaviour does not depend on the payload's shape. `payload()`
 * reads a stored payload the way a store returns it: the same, except that a Finding whose
 * `explanation.subscores` has the four keys from before findings.v1 appended `reflection` (records of
 * older stores, format-1 JSON lines, old producers) gains `reflection: 0`, findings.v1's default.
 */

import { FINDING_STATUSES, SEVERITIES, SUB_SCORE_NAMES, VERDICTS } from '@tidewatch/contracts';
import type { FindingRows } from './finding-rows.ts';

const bufferCopy = Buffer.prototype.copy;

/** Value tags. */
const T_NULL = 0;
const T_FALSE = 1;
const T_TRUE = 2;
const T_F64 = 3;
const T_U8 = 4;
const T_U16 = 5;
const T_U32 = 6;
const T_SYM = 7;
const T_STR = 8;
const T_UUID = 9;
const T_IPV4 = 10;
const T_ARRAY = 11;
const T_OBJECT = 12;
const T_NEG_U32 = 13;
/** Objects of the known shapes (keys implied, in this order; each value still tagged). */
const T_FINDING = 14;
const T_CANDIDATE = 15;
const T_EXPLANATION = 16;
/** The four sub-scores before `reflection` (older records, and findings without it). */
const T_SUBSCORES = 17;
const T_FEATURE = 18;
const T_NEIGHBOUR = 19;
/** The five sub-scores (subscores.v3's reflection last). */
const T_SUBSCORES_R = 20;
/** Object entries end with this where a key's tag would be. */
const T_END = 0;

/**
 * The Finding as the detector builds it (field order of the stored JSON text), and its parts.
 * A payload of exactly these keys in this order is written without its keys; any other shape
 * (a missing, extra, reordered or undefined member) goes through the generic object form.
 */
const FINDING_KEYS = [
  'sequence_id',
  'window_start_ms',
  'window_end_ms',
  'first_seen_ms',
  'last_seen_ms',
  'src_ip',
  'dst_ip',
  'dst_ports',
  'protocols',
  'connections',
  'fwd_bytes',
  'bwd_bytes',
  'fwd_pkts',
  'bwd_pkts',
  'label',
  'score',
  'anomaly',
  'verdict',
  'tactics',
  'techniques',
  'severity',
  'model_version',
  'status',
  'explanation',
  'suppressed_by',
  'scored_at_ms',
] as const;
const CANDIDATE_KEYS = ['id', 'name', 'probability'] as const;
const EXPLANATION_KEYS = ['subscores', 'top_features', 'neighbours'] as const;
const SUBSCORE_KEYS = SUB_SCORE_NAMES;
const SUBSCORE_KEYS_4 = ['beacon', 'scan', 'brute_force', 'exfiltration'] as const;
const FEATURE_KEYS = ['name', 'value', 'contribution'] as const;
const NEIGHBOUR_KEYS = ['sequence_id', 'similarity', 'verdict', 'label'] as const;

/**
 * findings.v1 appended `explanation.subscores.reflection` with default 0: a finding stored before it
 * (its four sub-scores, no reflection) reads with reflection 0 after them. Anything else is returned
 * as it is.
 */
export function withReflectionDefault(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const e = (v as { explanation?: unknown }).explanation;
  if (typeof e !== 'object' || e === null) return v;
  const s = (e as { subscores?: unknown }).subscores;
  if (typeof s !== 'object' || s === null || Array.isArray(s) || 'reflection' in s) return v;
  if ('beacon' in s && 'scan' in s && 'brute_force' in s && 'exfiltration' in s)
    (s as Record<string, unknown>)['reflection'] = 0;
  return v;
}

/** Thrown inside the shaped writer when a member is undefined (JSON drops it: the generic form keeps that). */
const SHAPE_MISS = Symbol('shape miss');

/** True for a plain object whose own enumerable keys are exactly `keys`, in that order. */
function hasKeys(o: unknown, keys: readonly string[]): o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null || Object.getPrototypeOf(o) !== Object.prototype) return false;
  let i = 0;
  for (const k in o) {
    if (k !== keys[i]) return false;
    i++;
  }
  return i === keys.length;
}

/** Strings up to this length are interned (keys always are, while the table has room). */
const INTERN_MAX_LENGTH = 32;
const TABLE_MAX = 1 << 20;

/** hex digit value per char code ('0'-'9', 'a'-'f'), -1 otherwise (upper case is not canonical). */
const HEX = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[97 + c] = 10 + c;
const HEX_DIGIT = Buffer.from('0123456789abcdef', 'latin1');
const UUID_TEXT = Buffer.alloc(36, 45); // '-' at 8, 13, 18, 23 stay

/** 16 bytes as a lower-case 8-4-4-4-12 UUID (one flat string). */
function uuidText(b: Buffer, at: number): string {
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) o++;
    const x = b[at + i] as number;
    UUID_TEXT[o++] = HEX_DIGIT[x >>> 4] as number;
    UUID_TEXT[o++] = HEX_DIGIT[x & 15] as number;
  }
  return UUID_TEXT.toString('latin1', 0, 36);
}

/**
 * The strings records refer to by code. Codes are assigned on first use and never change; the
 * store persists the entries its log does not hold yet (`durable`) ahead of the records using them.
 */
export class StringTable {
  readonly values: string[] = [];
  private readonly codes = new Map<string, number>();
  /** Entries [0, durable) are on disk. */
  durable = 0;
  /** While true, `intern` only finds existing entries (new strings are written inline). */
  sealed = false;

  get size(): number {
    return this.values.length;
  }

  /** The string's code, adding it while the table has room (undefined when full). */
  intern(s: string): number | undefined {
    const c = this.codes.get(s);
    if (c !== undefined || this.sealed || this.values.length >= TABLE_MAX) return c;
    const code = this.values.length;
    this.values.push(s);
    this.codes.set(s, code);
    return code;
  }

  /** Replays an entry from the log (codes are dense: entry `code` follows `code - 1`). */
  define(code: number, s: string): void {
    if (code < this.values.length) {
      if (this.values[code] !== s) throw new Error(`string table entry ${code} redefined`);
      return;
    }
    if (code !== this.values.length) throw new Error(`string table entry ${code} out of order`);
    this.values.push(s);
    this.codes.set(s, code);
  }
}

/** A growable byte buffer that payloads and log frames are written into. */
export class ByteWriter {
  buf: Buffer;
  private dv: DataView;
  pos = 0;

  constructor(capacity = 1 << 16) {
    this.buf = Buffer.allocUnsafe(capacity);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  u32At(at: number, v: number): void {
    this.dv.setUint32(at, v, true);
  }

  /** Unsigned LEB128 (up to 2^32). */
  varint(v: number): void {
    this.ensure(5);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[this.pos++] = v;
  }

  bytes(src: Uint8Array, from = 0, to = src.length): void {
    this.ensure(to - from);
    // Buffer#copy on any Uint8Array: no view of the source per call, as set(subarray) makes.
    bufferCopy.call(src, this.buf, this.pos, from, to);
    this.pos += to - from;
  }

  utf8(s: string): void {
    this.ensure(s.length * 3 + 5);
    const at = this.pos;
    // Length prefix written after the bytes: one byte for short strings, else shift them.
    const n = this.buf.write(s, at + 1, 'utf8');
    if (n < 0x80) {
      this.buf[at] = n;
      this.pos = at + 1 + n;
      return;
    }
    const tmp = Buffer.from(this.buf.subarray(at + 1, at + 1 + n));
    this.varint(n);
    this.bytes(tmp);
  }

  /** Raw float32 values (a vector) as little-endian bytes. */
  f32s(v: Float32Array): void {
    this.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }

  /** A point id: 16 bytes when it is a UUID, else its UTF-8 (never interned: ids are unique). */
  id(s: string): void {
    if (s.length === 36 && this.uuid(s)) return;
    this.u8(T_STR);
    this.utf8(s);
  }

  /** Encodes a JSON value (see the module comment) with strings interned in `table`. */
  value(v: unknown, table: StringTable): void {
    switch (typeof v) {
      case 'number':
        this.number(v);
        return;
      case 'string':
        this.string(v, table);
        return;
      case 'boolean':
        this.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'object':
        if (v === null) this.u8(T_NULL);
        else if (Array.isArray(v)) {
          const n = v.length;
          this.u8(T_ARRAY);
          this.varint(n);
          for (let i = 0; i < n; i++) {
            const x: unknown = v[i];
            // JSON writes undefined, functions and symbols in arrays as null.
            if (x === undefined || typeof x === 'function' || typeof x === 'symbol') this.u8(T_NULL);
            else this.value(x, table);
          }
        } else {
          const o = v as Record<string, unknown> & { toJSON?: unknown };
          if (typeof o.toJSON === 'function') {
            this.value((o.toJSON as () => unknown)(), table);
            return;
          }
          this.u8(T_OBJECT);
          for (const k in o) {
            if (!Object.hasOwn(o, k)) continue;
            const x = o[k];
            if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
            this.key(k, table);
            this.value(x, table);
          }
          this.u8(T_END);
        }
        return;
      case 'bigint':
        throw new TypeError('Do not know how to serialize a BigInt');
      default:
        // undefined, function, symbol at the top level: JSON has no text for them; stored as null.
        this.u8(T_NULL);
    }
  }

  /**
   * A payload: the shaped form when it has the Finding's keys in the detector's order, else the
   * generic form (both decode to the same value).
   */
  payload(v: unknown, table: StringTable): void {
    const start = this.pos;
    if (hasKeys(v, FINDING_KEYS)) {
      try {
        this.finding(v, table);
        return;
      } catch (e) {
        if (e !== SHAPE_MISS) throw e;
        this.pos = start;
      }
    }
    this.value(v, table);
  }

  /**
   * Row i of `rows` as a payload: its Finding when it has one, else the quiet finding of its
   * columns, written byte for byte as `payload(findingOfRow(rows, i))` writes it (the same tags,
   * and strings interned in the same order) without building that object. `idAt`: where
   * `id(rows.ids[i])` was written into this buffer since the last reset (its bytes are reused), or -1.
   */
  findingRow(rows: FindingRows, i: number, table: StringTable, idAt = -1): void {
    const given = rows.findings[i];
    if (given) {
      this.payload(given, table);
      return;
    }
    this.u8(T_FINDING);
    if (idAt >= 0 && this.buf[idAt] === T_UUID) {
      // `id(rows.ids[i])` was written at idAt, as a UUID: the same 17 bytes `string` would write.
      this.ensure(17);
      const b = this.buf;
      for (let j = 0; j < 17; j++) b[this.pos + j] = b[idAt + j] as number;
      this.pos += 17;
    } else this.string(rows.ids[i] as string, table);
    this.number(rows.windowStart[i] as number);
    this.number(rows.windowEnd[i] as number);
    this.number(rows.firstSeen[i] as number);
    this.number(rows.lastSeen[i] as number);
    this.string(rows.srcIp[i] as string, table);
    this.string(rows.dstIp[i] as string, table);
    this.numbers(rows.ports, rows.portsAt[i] as number, rows.portsAt[i + 1] as number);
    this.numbers(rows.protocols, rows.protocolsAt[i] as number, rows.protocolsAt[i + 1] as number);
    this.number(rows.connections[i] as number);
    this.number(rows.fwdBytes[i] as number);
    this.number(rows.bwdBytes[i] as number);
    this.number(rows.fwdPkts[i] as number);
    this.number(rows.bwdPkts[i] as number);
    const label = rows.label[i] as number;
    if (label < 0) this.u8(T_NULL);
    else this.number(label);
    this.number(rows.score[i] as number);
    this.number(rows.anomaly[i] as number);
    this.string(VERDICTS[rows.verdict[i] as number] as string, table);
    this.ensure(4);
    this.buf[this.pos++] = T_ARRAY; // tactics: []
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = T_ARRAY; // techniques: []
    this.buf[this.pos++] = 0;
    this.string(SEVERITIES[rows.severity[i] as number] as string, table);
    this.string(rows.modelVersion, table);
    this.string(FINDING_STATUSES[rows.status[i] as number] as string, table);
    this.ensure(2);
    this.buf[this.pos++] = T_EXPLANATION;
    this.buf[this.pos++] = T_SUBSCORES_R;
    const s = i * SUBSCORE_KEYS.length;
    this.number(rows.subscores[s] as number);
    this.number(rows.subscores[s + 1] as number);
    this.number(rows.subscores[s + 2] as number);
    this.number(rows.subscores[s + 3] as number);
    this.number(rows.subscores[s + 4] as number);
    this.ensure(4);
    this.buf[this.pos++] = T_ARRAY; // top_features: []
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = T_ARRAY; // neighbours: []
    this.buf[this.pos++] = 0;
    const by = rows.suppressedBy[i];
    if (by === null || by === undefined) this.u8(T_NULL);
    else this.string(by, table);
    this.number(rows.scoredAtMs);
  }

  /** An array of numbers, as `value` writes a number[]. */
  private numbers(a: Int32Array, from: number, to: number): void {
    this.u8(T_ARRAY);
    this.varint(to - from);
    for (let j = from; j < to; j++) this.number(a[j] as number);
  }

  private finding(f: Record<string, unknown>, table: StringTable): void {
    this.u8(T_FINDING);
    this.field(f['sequence_id'], table);
    this.field(f['window_start_ms'], table);
    this.field(f['window_end_ms'], table);
    this.field(f['first_seen_ms'], table);
    this.field(f['last_seen_ms'], table);
    this.field(f['src_ip'], table);
    this.field(f['dst_ip'], table);
    this.field(f['dst_ports'], table);
    this.field(f['protocols'], table);
    this.field(f['connections'], table);
    this.field(f['fwd_bytes'], table);
    this.field(f['bwd_bytes'], table);
    this.field(f['fwd_pkts'], table);
    this.field(f['bwd_pkts'], table);
    this.field(f['label'], table);
    this.field(f['score'], table);
    this.field(f['anomaly'], table);
    this.field(f['verdict'], table);
    this.list(f['tactics'], CANDIDATE_KEYS, T_CANDIDATE, table);
    this.list(f['techniques'], CANDIDATE_KEYS, T_CANDIDATE, table);
    this.field(f['severity'], table);
    this.field(f['model_version'], table);
    this.field(f['status'], table);
    const e = f['explanation'];
    if (hasKeys(e, EXPLANATION_KEYS)) {
      this.u8(T_EXPLANATION);
      const sub = e['subscores'];
      if (hasKeys(sub, SUBSCORE_KEYS)) {
        this.u8(T_SUBSCORES_R);
        this.field(sub['beacon'], table);
        this.field(sub['scan'], table);
        this.field(sub['brute_force'], table);
        this.field(sub['exfiltration'], table);
        this.field(sub['reflection'], table);
      } else if (hasKeys(sub, SUBSCORE_KEYS_4)) {
        // A finding from before reflection: stored as it is (`ByteReader.payload` adds reflection 0).
        this.u8(T_SUBSCORES);
        this.field(sub['beacon'], table);
        this.field(sub['scan'], table);
        this.field(sub['brute_force'], table);
        this.field(sub['exfiltration'], table);
      } else this.field(sub, table);
      this.list(e['top_features'], FEATURE_KEYS, T_FEATURE, table);
      this.list(e['neighbours'], NEIGHBOUR_KEYS, T_NEIGHBOUR, table);
    } else this.field(e, table);
    this.field(f['suppressed_by'], table);
    this.field(f['scored_at_ms'], table);
  }

  /** An array whose elements of the given shape are written keyless (three or four tagged values). */
  private list(a: unknown, keys: readonly string[], tag: number, table: StringTable): void {
    if (!Array.isArray(a)) {
      this.field(a, table);
      return;
    }
    const n = a.length;
    this.u8(T_ARRAY);
    this.varint(n);
    for (let i = 0; i < n; i++) {
      const x: unknown = a[i];
      if (!hasKeys(x, keys)) {
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') this.u8(T_NULL);
        else this.value(x, table);
        continue;
      }
      this.u8(tag);
      for (let j = 0; j < keys.length; j++) this.field(x[keys[j] as string], table);
    }
  }

  /** A member of a shaped object: JSON would drop an undefined one, which the shaped form cannot. */
  private field(v: unknown, table: StringTable): void {
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') throw SHAPE_MISS;
    this.value(v, table);
  }

  private number(v: number): void {
    if (v >>> 0 === v) {
      if (v < 0x100) {
        this.ensure(2);
        this.buf[this.pos++] = T_U8;
        this.buf[this.pos++] = v;
      } else if (v < 0x10000) {
        this.ensure(3);
        this.buf[this.pos++] = T_U16;
        this.dv.setUint16(this.pos, v, true);
        this.pos += 2;
      } else {
        this.ensure(5);
        this.buf[this.pos++] = T_U32;
        this.dv.setUint32(this.pos, v, true);
        this.pos += 4;
      }
      return;
    }
    if (v === 0) {
      this.ensure(2); // -0: JSON writes 0
      this.buf[this.pos++] = T_U8;
      this.buf[this.pos++] = 0;
      return;
    }
    if (-v >>> 0 === -v) {
      this.ensure(5);
      this.buf[this.pos++] = T_NEG_U32;
      this.dv.setUint32(this.pos, -v, true);
      this.pos += 4;
      return;
    }
    if (!Number.isFinite(v)) {
      this.u8(T_NULL);
      return;
    }
    this.ensure(9);
    this.buf[this.pos++] = T_F64;
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  private key(k: string, table: StringTable): void {
    const code = table.intern(k);
    if (code === undefined) {
      this.u8(T_STR);
      this.utf8(k);
    } else {
      this.u8(T_SYM);
      this.varint(code);
    }
  }

  private string(s: string, table: StringTable): void {
    const n = s.length;
    if (n === 36 && this.uuid(s)) return;
    if (n >= 7 && n <= 15 && this.ipv4(s)) return;
    const code = n <= INTERN_MAX_LENGTH ? table.intern(s) : undefined;
    if (code === undefined) {
      this.u8(T_STR);
      this.utf8(s);
    } else {
      this.u8(T_SYM);
      this.varint(code);
    }
  }

  /** A lower-case 8-4-4-4-12 UUID as 16 bytes; false (nothing written) for anything else. */
  private uuid(s: string): boolean {
    if (
      s.charCodeAt(8) !== 45 ||
      s.charCodeAt(13) !== 45 ||
      s.charCodeAt(18) !== 45 ||
      s.charCodeAt(23) !== 45
    )
      return false;
    this.ensure(17);
    const b = this.buf;
    const at = this.pos + 1;
    let j = 0;
    for (let i = 0; i < 36; ) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        i++;
        continue;
      }
      const hi = HEX[s.charCodeAt(i)] ?? -1;
      const lo = HEX[s.charCodeAt(i + 1)] ?? -1;
      if (hi < 0 || lo < 0) return false;
      b[at + j++] = (hi << 4) | lo;
      i += 2;
    }
    b[this.pos] = T_UUID;
    this.pos = at + 16;
    return true;
  }

  /** A canonical dotted-quad IPv4 (no leading zeros) as a uint32; false (nothing written) otherwise. */
  private ipv4(s: string): boolean {
    let value = 0;
    let part = 0;
    let digits = 0;
    let parts = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 46) {
        if (digits === 0 || parts === 3) return false;
        value = value * 256 + part;
        parts++;
        part = 0;
        digits = 0;
      } else if (c >= 48 && c <= 57) {
        if (digits > 0 && part === 0) return false; // leading zero
        part = part * 10 + (c - 48);
        if (part > 255) return false;
        digits++;
      } else return false;
    }
    if (digits === 0 || parts !== 3) return false;
    value = value * 256 + part;
    this.ensure(5);
    this.buf[this.pos++] = T_IPV4;
    this.dv.setUint32(this.pos, value, true);
    this.pos += 4;
    return true;
  }
}

/** Reads what ByteWriter wrote from one buffer. */
export class ByteReader {
  readonly buf: Buffer;
  private readonly dv: DataView;
  pos: number;

  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = pos;
  }

  u8(): number {
    return this.buf[this.pos++] as number;
  }

  u32(): number {
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  varint(): number {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.pos++] as number;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  }

  utf8(): string {
    const n = this.varint();
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A stored payload as a store returns it (`value`, with findings.v1's reflection default). */
  payload(table: StringTable): unknown {
    return withReflectionDefault(this.value(table));
  }

  value(table: StringTable): unknown {
    const tag = this.buf[this.pos++] as number;
    switch (tag) {
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_U8:
        return this.buf[this.pos++] as number;
      case T_U16: {
        const v = this.dv.getUint16(this.pos, true);
        this.pos += 2;
        return v;
      }
      case T_U32:
        return this.u32();
      case T_NEG_U32:
        return -this.u32();
      case T_F64: {
        const v = this.dv.getFloat64(this.pos, true);
        this.pos += 8;
        return v;
      }
      case T_SYM:
        return this.sym(table);
      case T_STR:
        return this.utf8();
      case T_UUID: {
        const s = uuidText(this.buf, this.pos);
        this.pos += 16;
        return s;
      }
      case T_IPV4: {
        const v = this.u32();
        return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
      }
      case T_ARRAY: {
        const n = this.varint();
        const a: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) a[i] = this.value(table);
        return a;
      }
      case T_OBJECT: {
        const o: Record<string, unknown> = {};
        for (;;) {
          const kt = this.buf[this.pos++] as number;
          if (kt === T_END) return o;
          const k = kt === T_SYM ? this.sym(table) : this.utf8();
          const v = this.value(table);
          if (k === '__proto__')
            Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
          else o[k] = v;
        }
      }
      case T_FINDING:
        return this.finding(table);
      case T_CANDIDATE:
        return { id: this.value(table), name: this.value(table), probability: this.value(table) };
      case T_EXPLANATION:
        return {
          subscores: this.value(table),
          top_features: this.value(table),
          neighbours: this.value(table),
        };
      case T_SUBSCORES:
        return {
          beacon: this.value(table),
          scan: this.value(table),
          brute_force: this.value(table),
          exfiltration: this.value(table),
        };
      case T_SUBSCORES_R:
        return {
          beacon: this.value(table),
          scan: this.value(table),
          brute_force: this.value(table),
          exfiltration: this.value(table),
          reflection: this.value(table),
        };
      case T_FEATURE:
        return { name: this.value(table), value: this.value(table), contribution: this.value(table) };
      case T_NEIGHBOUR:
        return {
          sequence_id: this.value(table),
          similarity: this.value(table),
          verdict: this.value(table),
          label: this.value(table),
        };
      default:
        throw new Error(`payload record: unknown value tag ${tag} at byte ${this.pos - 1}`);
    }
  }

  /** The Finding's members in FINDING_KEYS order (an object literal evaluates in source order). */
  private finding(t: StringTable): Record<string, unknown> {
    return {
      sequence_id: this.value(t),
      window_start_ms: this.value(t),
      window_end_ms: this.value(t),
      first_seen_ms: this.value(t),
      last_seen_ms: this.value(t),
      src_ip: this.value(t),
      dst_ip: this.value(t),
      dst_ports: this.value(t),
      protocols: this.value(t),
      connections: this.value(t),
      fwd_bytes: this.value(t),
      bwd_bytes: this.value(t),
      fwd_pkts: this.value(t),
      bwd_pkts: this.value(t),
      label: this.value(t),
      score: this.value(t),
      anomaly: this.value(t),
      verdict: this.value(t),
      tactics: this.value(t),
      techniques: this.value(t),
      severity: this.value(t),
      model_version: this.value(t),
      status: this.value(t),
      explanation: this.value(t),
      suppressed_by: this.value(t),
      scored_at_ms: this.value(t),
    };
  }

  private sym(table: StringTable): string {
    const code = this.varint();
    const s = table.values[code];
    if (s === undefined) throw new Error(`payload record: string code ${code} is not in the table`);
    return s;
  }
}
