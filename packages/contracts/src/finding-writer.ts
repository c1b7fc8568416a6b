import type { AvroCodec } from './codec.ts';
import { schemaFingerprint, WIRE_HEADER_BYTES, WIRE_MAGIC } from './codec.ts';
import { FINDING_STATUSES, type Finding, SEVERITIES, VERDICTS } from './finding.ts';

/**
 * The schema `encodeFinding` is written for (finding.avsc.json as of this file). When the contract's
 * schema changes, its fingerprint no longer matches and FindingWriter hands every finding to avsc
 * until the encoder below is brought in line (a test says so).
 */
export const FINDING_WRITER_FINGERPRINT = 'c4d4422dc3fcd0dea25011e16d46205ff4e761f9e7151146b718dcc27c703500';

export class FindingEncodeError extends Error {
  override name = 'FindingEncodeError';
}

// Encoder state: one finding at a time, synchronously (module-level, so no tap object per finding).
let buf: Buffer = Buffer.allocUnsafe(4096);
let pos = 0;
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

/** Room for `n` more bytes (the scratch doubles and keeps what is written). */
function ensure(n: number): void {
  if (pos + n <= buf.length) return;
  let size = buf.length * 2;
  while (size < pos + n) size *= 2;
  const next = Buffer.allocUnsafe(size);
  buf.copy(next, 0, 0, pos);
  buf = next;
}

function invalid(what: string, expected: string, v: unknown): never {
  let shown: string;
  try {
    shown = typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : String(v);
  } catch {
    shown = typeof v;
  }
  throw new FindingEncodeError(`findings.v1 ${what}: expected ${expected}, got ${shown}`);
}

/**
 * avsc's `Tap#writeLong` (also its writeInt), byte for byte: zig-zag varint, integer arithmetic below
 * 2^30, floating point above. (Locals, not the module's `buf` / `pos`, inside the loops: each access
 * of a module-level binding is a context load or store.)
 */
function writeVarint(n: number): void {
  ensure(10);
  const b = buf;
  let p = pos;
  if (n >= -1073741824 && n < 1073741824) {
    let m = n >= 0 ? n << 1 : (~n << 1) | 1;
    while (m >>> 7 !== 0) {
      b[p++] = (m & 0x7f) | 0x80;
      m >>>= 7;
    }
    b[p++] = m;
  } else {
    let f = n >= 0 ? n * 2 : -n * 2 - 1;
    while (f >= 128) {
      b[p++] = (f & 0x7f) | 0x80;
      f = Math.floor(f / 128);
    }
    b[p++] = f;
  }
  pos = p;
}

/** An Avro long as avsc's LongType accepts it: an integer within ±(2^53 − 2). */
function writeLong(v: unknown, what: string): void {
  if (typeof v !== 'number' || Math.floor(v) !== v || !(v >= -9007199254740990 && v <= 9007199254740990))
    invalid(what, 'an integer within ±(2^53 − 2) (long)', v);
  writeVarint(v);
}

/** An Avro int as avsc's IntType accepts it: `v === (v | 0)`. */
function writeInt(v: unknown, what: string): void {
  if (typeof v !== 'number' || v !== (v | 0)) invalid(what, 'a 32-bit integer (int)', v);
  writeVarint(v);
}

function writeDouble(v: unknown, what: string): void {
  if (typeof v !== 'number') invalid(what, 'a number (double)', v);
  ensure(8);
  f64[0] = v;
  const b = buf;
  const p = pos;
  b[p] = f64Bytes[0] as number;
  b[p + 1] = f64Bytes[1] as number;
  b[p + 2] = f64Bytes[2] as number;
  b[p + 3] = f64Bytes[3] as number;
  b[p + 4] = f64Bytes[4] as number;
  b[p + 5] = f64Bytes[5] as number;
  b[p + 6] = f64Bytes[6] as number;
  b[p + 7] = f64Bytes[7] as number;
  pos = p + 8;
}

/**
 * avsc's `Tap#writeString`: the UTF-8 length, then the bytes; up to 64 bytes avsc encodes by hand
 * (a lone surrogate becomes its own 3-byte sequence), longer strings with Buffer's UTF-8 writer (a
 * lone surrogate becomes U+FFFD, also 3 bytes). ASCII, the common case, in one pass.
 */
function writeString(v: unknown, what: string): void {
  if (typeof v !== 'string') invalid(what, 'a string', v);
  const n = v.length;
  if (n < 64) {
    // A length below 64 is one varint byte (2n); the characters are written as they are checked.
    ensure(1 + n);
    const b = buf;
    const start = pos;
    let p = start + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) break;
      b[p++] = c;
    }
    if (i === n) {
      b[start] = n << 1;
      pos = p;
      return;
    }
  } else {
    let i = 0;
    while (i < n && v.charCodeAt(i) < 0x80) i++;
    if (i === n) {
      writeVarint(n);
      ensure(n);
      buf.write(v, pos, n, 'latin1');
      pos += n;
      return;
    }
  }
  const len = Buffer.byteLength(v);
  writeVarint(len);
  ensure(len);
  if (len > 64) {
    buf.write(v, pos, len, 'utf8');
    pos += len;
    return;
  }
  const b = buf;
  let p = pos;
  for (let i = 0; i < n; i++) {
    let c1 = v.charCodeAt(i);
    // NaN past the end, which is not a low surrogate either (as in avsc).
    const c2 = v.charCodeAt(i + 1);
    if (c1 < 0x80) b[p++] = c1;
    else if (c1 < 0x800) {
      b[p++] = (c1 >> 6) | 0xc0;
      b[p++] = (c1 & 0x3f) | 0x80;
    } else if ((c1 & 0xfc00) === 0xd800 && (c2 & 0xfc00) === 0xdc00) {
      c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
      i++;
      b[p++] = (c1 >> 18) | 0xf0;
      b[p++] = ((c1 >> 12) & 0x3f) | 0x80;
      b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
      b[p++] = (c1 & 0x3f) | 0x80;
    } else {
      b[p++] = (c1 >> 12) | 0xe0;
      b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
      b[p++] = (c1 & 0x3f) | 0x80;
    }
  }
  pos = p;
}

function writeEnum(v: unknown, symbols: readonly string[], what: string): void {
  const index = typeof v === 'string' ? symbols.indexOf(v) : -1;
  if (index < 0) invalid(what, `one of ${symbols.join(', ')}`, v);
  writeVarint(index);
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(what, 'a record', v);
  return v as Record<string, unknown>;
}

function array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) invalid(what, 'an array', v);
  return v;
}

function writeIntArray(v: unknown, what: string): void {
  const a = array(v, what);
  const n = a.length;
  if (n) {
    writeVarint(n);
    for (let i = 0; i < n; i++) writeInt(a[i], what);
  }
  writeVarint(0);
}

/** Field names of the candidates' errors, one constant string each (no concatenation per value). */
const CANDIDATE_FIELDS = {
  tactics: ['tactics[] id', 'tactics[] name', 'tactics[] probability'],
  techniques: ['techniques[] id', 'techniques[] name', 'techniques[] probability'],
} as const;

function writeCandidates(v: unknown, what: 'tactics' | 'techniques'): void {
  const a = array(v, what);
  const n = a.length;
  const names = CANDIDATE_FIELDS[what];
  if (n) {
    writeVarint(n);
    for (let i = 0; i < n; i++) {
      const c = record(a[i], what);
      writeString(c['id'], names[0]);
      writeString(c['name'], names[1]);
      writeDouble(c['probability'], names[2]);
    }
  }
  writeVarint(0);
}

function writeExplanation(v: unknown): void {
  const e = record(v, 'explanation');
  const s = record(e['subscores'], 'explanation.subscores');
  writeDouble(s['beacon'], 'explanation.subscores.beacon');
  writeDouble(s['scan'], 'explanation.subscores.scan');
  writeDouble(s['brute_force'], 'explanation.subscores.brute_force');
  writeDouble(s['exfiltration'], 'explanation.subscores.exfiltration');
  // Appended with a default: avsc writes 0 for a missing member (a producer that predates it).
  const reflection = s['reflection'];
  writeDouble(reflection === undefined ? 0 : reflection, 'explanation.subscores.reflection');
  const top = array(e['top_features'], 'explanation.top_features');
  if (top.length) {
    writeVarint(top.length);
    for (let i = 0; i < top.length; i++) {
      const t = record(top[i], 'explanation.top_features[]');
      writeString(t['name'], 'explanation.top_features[] name');
      writeDouble(t['value'], 'explanation.top_features[] value');
      writeDouble(t['contribution'], 'explanation.top_features[] contribution');
    }
  }
  writeVarint(0);
  const nb = array(e['neighbours'], 'explanation.neighbours');
  if (nb.length) {
    writeVarint(nb.length);
    for (let i = 0; i < nb.length; i++) {
      const h = record(nb[i], 'explanation.neighbours[]');
      writeString(h['sequence_id'], 'explanation.neighbours[] sequence_id');
      writeDouble(h['similarity'], 'explanation.neighbours[] similarity');
      // Unions with a null default: undefined writes the default, as avsc's record writer does.
      const verdict = h['verdict'];
      if (verdict === null || verdict === undefined) writeVarint(0);
      else {
        writeVarint(1);
        writeEnum(verdict, VERDICTS, 'explanation.neighbours[] verdict');
      }
      const label = h['label'];
      if (label === null || label === undefined) writeVarint(0);
      else {
        writeVarint(1);
        writeString(label, 'explanation.neighbours[] label');
      }
    }
  }
  writeVarint(0);
}

/** The Avro body of `f` (finding.avsc.json) at `pos`. */
function writeFinding(value: Finding): void {
  const f = record(value, 'finding') as unknown as Record<keyof Finding, unknown>;
  writeString(f.sequence_id, 'sequence_id');
  writeLong(f.window_start_ms, 'window_start_ms');
  writeLong(f.window_end_ms, 'window_end_ms');
  writeLong(f.first_seen_ms, 'first_seen_ms');
  writeLong(f.last_seen_ms, 'last_seen_ms');
  writeString(f.src_ip, 'src_ip');
  writeString(f.dst_ip, 'dst_ip');
  writeIntArray(f.dst_ports, 'dst_ports');
  writeIntArray(f.protocols, 'protocols');
  writeLong(f.connections, 'connections');
  writeLong(f.fwd_bytes, 'fwd_bytes');
  writeLong(f.bwd_bytes, 'bwd_bytes');
  writeLong(f.fwd_pkts, 'fwd_pkts');
  writeLong(f.bwd_pkts, 'bwd_pkts');
  writeDouble(f.score, 'score');
  writeDouble(f.anomaly, 'anomaly');
  writeEnum(f.verdict, VERDICTS, 'verdict');
  writeCandidates(f.tactics, 'tactics');
  writeCandidates(f.techniques, 'techniques');
  writeEnum(f.severity, SEVERITIES, 'severity');
  writeString(f.model_version, 'model_version');
  writeEnum(f.status, FINDING_STATUSES, 'status');
  writeExplanation(f.explanation);
  const by = f.suppressed_by;
  if (by === null || by === undefined) writeVarint(0);
  else {
    writeVarint(1);
    writeString(by, 'suppressed_by');
  }
  const label = f.label;
  if (label === null || label === undefined) writeVarint(0);
  else {
    writeVarint(1);
    writeInt(label, 'label');
  }
  writeLong(f.scored_at_ms, 'scored_at_ms');
}

/**
 * One findings.v1 message: the wire header with `schemaId`, then the Avro body of `f` exactly as
 * avsc writes it for finding.avsc.json (same bytes; `FindingWriter` checks the schema is that one).
 * A value avsc's writer refuses is refused here with a FindingEncodeError naming the field; where
 * avsc writes something for a value outside the schema (an enum given `'constructor'`), this refuses.
 */
export function encodeFinding(f: Finding, schemaId: number): Buffer {
  pos = 0;
  ensure(WIRE_HEADER_BYTES);
  buf[pos++] = WIRE_MAGIC;
  buf.writeUInt32BE(schemaId, pos);
  pos += 4;
  writeFinding(f);
  const out = Buffer.allocUnsafe(pos);
  buf.copy(out, 0, 0, pos);
  return out;
}

/** Per schema object: whether it is the one `encodeFinding` is written for (a fingerprint builds an avsc Type). */
const handEncodes = new WeakMap<object, boolean>();

/**
 * Encodes findings.v1 messages: by hand (`encodeFinding`, no avsc tap or per-field dispatch) when
 * the codec's schema is the one the encoder was written for, else with the codec itself. Same bytes
 * either way.
 */
export class FindingWriter {
  readonly #hand: boolean;

  constructor(readonly codec: AvroCodec<Finding>) {
    const schema = codec.contract.schema;
    const key = typeof schema === 'object' && schema !== null ? (schema as object) : null;
    let hand = key ? handEncodes.get(key) : undefined;
    if (hand === undefined) {
      hand = schemaFingerprint(schema) === FINDING_WRITER_FINGERPRINT;
      if (key) handEncodes.set(key, hand);
    }
    this.#hand = hand;
  }

  /** True when findings are encoded by hand. */
  get handEncoding(): boolean {
    return this.#hand;
  }

  encode(f: Finding): Buffer {
    if (!this.#hand) return this.codec.encode(f);
    const id = this.codec.schemaId;
    if (id < 0) throw new Error(`codec for ${this.codec.contract.topic} used before init()`);
    return encodeFinding(f, id);
  }
}
