import {
  type AvroCodec,
  CONTRACTS,
  type EntityContext,
  type Sequence,
  type SequenceFlow,
  schemaFingerprint,
  WIRE_HEADER_BYTES,
  WIRE_MAGIC,
} from '@tidewatch/contracts';
import {
  F_BWD_BYTES,
  F_BWD_PKTS,
  F_DST_PORT,
  F_END,
  F_FWD_BYTES,
  F_FWD_PKTS,
  F_LABEL,
  F_PROTOCOL,
  F_SAMPLING_RATE,
  F_SRC_PORT,
  F_START,
  F_TCP_FLAGS,
  type FlowColumns,
  I_ATTACK,
  FLAG_LABEL_NULL,
  I_FLAGS,
  I_ORIGIN,
  INT,
  NUM,
} from './flow-columns.ts';
import { writeSequenceId } from './sequence-id.ts';

const SEQUENCE_SCHEMA_FINGERPRINT = schemaFingerprint(CONTRACTS.sequences.schema);
const EXPECTED_SHAPE =
  'sequence_id:string,src_ip:string,dst_ip:string,window_start_ms:long,window_end_ms:long,part:int,' +
  'flows:array<start_ms:long,end_ms:long,protocol:int,src_port:int,dst_port:int,fwd_bytes:long,' +
  'fwd_pkts:long,bwd_bytes:long,bwd_pkts:long,tcp_flags:int,label:null|int,attack:null|string,' +
  'origin:string,sampling_rate:long>,context:distinct_dsts:long,distinct_dst_ports:long,connections:long,distinct_srcs:long,' +
  'distinct_probe_srcs:long';

const CHUNK_BYTES = 1 << 20;
/** A sequence id is a UUID's text: 36 ASCII chars. */
const ID_LENGTH = 36;
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };
/** avsc's bound for a long written from a number (2^53 - 2). */
const MAX_LONG = 9007199254740990;

/**
 * Encodes sequences.v1 with the Confluent framing, byte for byte what avsc writes, without avsc's
 * per-value type dispatch and without one allocation per message: messages are views into shared
 * 1 MiB chunks (a chunk is freed once every message cut from it is).
 */
export class SequenceEncoder {
  readonly #schemaId: number;
  #chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  #chunkPos = 0;
  #buf: Buffer = this.#chunk;
  #pos = 0;
  /** The bound the last `#reserve` was given. */
  #bound = 0;
  #lastId = '';
  /** The id writeIdRows writes: the record's key, copied into the value. */
  readonly #key = Buffer.alloc(ID_LENGTH);

  constructor(codec: AvroCodec<Sequence>) {
    if (
      schemaFingerprint(codec.contract.schema) !== SEQUENCE_SCHEMA_FINGERPRINT ||
      shapeOf(codec.contract.schema) !== EXPECTED_SHAPE
    ) {
      throw new Error(
        'SequenceEncoder is written for the sequences.v1 schema in @tidewatch/contracts; update it',
      );
    }
    if (codec.schemaId < 0) throw new Error('SequenceEncoder needs an initialised codec');
    this.#schemaId = codec.schemaId;
  }

  encode(s: Sequence): Buffer {
    return this.encodePart(s.sequence_id, s, s.part, s.flows, 0, s.flows.length, s.context);
  }

  /**
   * The sequence `flows[from, to)` of a window as part `part`, without a Sequence object (the
   * service's path); `flows` may be a single flow (a one-flow window is its own flow).
   */
  encodePart(
    id: string,
    head: SequenceHead,
    part: number,
    flows: readonly SequenceFlow[] | SequenceFlow,
    from: number,
    to: number,
    context: EntityContext,
  ): Buffer {
    const bound = maxBytes(id, head, flows, from, to);
    const start = this.#reserve(bound);
    this.#write(id, head, part, flows, from, to, context);
    return this.#finish(start);
  }

  /**
   * The sequence of `rows[from, to)` (or the single row `rows`) of a window's flow columns as part
   * `part`: the same bytes as encodePart of those flows as objects.
   */
  encodeRows(
    id: string,
    head: SequenceHead,
    part: number,
    columns: FlowColumns,
    rows: readonly number[] | number,
    from: number,
    to: number,
    context: EntityContext,
  ): Buffer {
    const start = this.#reserve(rowsBound(id.length, head, columns, rows, from, to));
    this.#head(id, head, part);
    return this.#rowsAndTail(columns, rows, from, to, context, start);
  }

  /** The id `encodeIdRows` wrote last (its message's key). */
  get lastId(): string {
    return this.#lastId;
  }

  /**
   * encodeRows with the id `sequenceId(namespace, head's addresses and window start, part)`,
   * written straight into the message and read back from it as `lastId`.
   */
  encodeIdRows(
    namespace: string,
    head: SequenceHead,
    part: number,
    columns: FlowColumns,
    rows: readonly number[] | number,
    from: number,
    to: number,
    context: EntityContext,
  ): Buffer {
    const start = this.#reserve(rowsBound(ID_LENGTH, head, columns, rows, from, to));
    const buf = this.#buf as Latin1Buffer;
    const pos = this.#idPrefix(buf, this.#pos);
    writeSequenceId(namespace, head.src_ip, head.dst_ip, head.window_start_ms, part, buf, pos);
    this.#lastId = buf.latin1Slice(pos, pos + ID_LENGTH);
    this.#pos = pos + ID_LENGTH;
    this.#headAfterId(head, part);
    return this.#rowsAndTail(columns, rows, from, to, context, start);
  }

  /**
   * encodeIdRows, written into `sink` as a record keyed by the id: the id is computed once, its
   * bytes are the key and the value's first field, and the value goes straight into the sink's
   * buffer (no message Buffer, no key string).
   */
  writeIdRows(
    namespace: string,
    head: SequenceHead,
    part: number,
    columns: FlowColumns,
    rows: readonly number[] | number,
    from: number,
    to: number,
    context: EntityContext,
    sink: SequenceSink,
  ): void {
    const key = this.#key;
    writeSequenceId(namespace, head.src_ip, head.dst_ip, head.window_start_ms, part, key, 0);
    const begun = sink.begin(key, 0, ID_LENGTH, rowsBound(ID_LENGTH, head, columns, rows, from, to));
    const buf = sink.buf;
    const pos = this.#idPrefix(buf, begun);
    for (let i = 0; i < ID_LENGTH; i++) buf[pos + i] = key[i] as number;
    this.#buf = buf;
    this.#pos = pos + ID_LENGTH;
    this.#headAfterId(head, part);
    this.#writeRowsAndTail(columns, rows, from, to, context);
    const end = this.#pos;
    this.#buf = this.#chunk;
    sink.end(end);
  }

  /** The wire header and the sequence id's length at `pos`; returns where the id's bytes go. */
  #idPrefix(buf: Buffer, pos: number): number {
    buf[pos] = WIRE_MAGIC;
    buf.writeUInt32BE(this.#schemaId, pos + 1);
    buf[pos + WIRE_HEADER_BYTES] = 2 * ID_LENGTH; // the id's length as a zig-zag varint
    return pos + WIRE_HEADER_BYTES + 1;
  }

  #rowsAndTail(
    columns: FlowColumns,
    rows: readonly number[] | number,
    from: number,
    to: number,
    context: EntityContext,
    start: number,
  ): Buffer {
    this.#writeRowsAndTail(columns, rows, from, to, context);
    return this.#finish(start);
  }

  /** The flows array (one row, or rows[from, to)) and the fields after it, at the write position. */
  #writeRowsAndTail(
    columns: FlowColumns,
    rows: readonly number[] | number,
    from: number,
    to: number,
    context: EntityContext,
  ): void {
    if (typeof rows === 'number') {
      this.#long(1);
      this.#row(columns, rows);
    } else if (to > from) {
      this.#long(to - from);
      for (let i = from; i < to; i++) this.#row(columns, rows[i] as number);
    }
    this.#tail(context);
  }

  /**
   * Points the writer at room for `bound` bytes: the shared chunk (a new one when this would not
   * fit), or a buffer of its own for a sequence larger than a chunk. Returns where writing starts.
   */
  #reserve(bound: number): number {
    this.#bound = bound;
    if (bound > CHUNK_BYTES) {
      this.#buf = Buffer.allocUnsafe(bound);
      this.#pos = 0;
      return 0;
    }
    if (this.#chunkPos + bound > CHUNK_BYTES) {
      this.#chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      this.#chunkPos = 0;
    }
    this.#buf = this.#chunk;
    this.#pos = this.#chunkPos;
    return this.#pos;
  }

  /** The bytes written since `#reserve` returned `start`; a chunk's room is used up to them. */
  #finish(start: number): Buffer {
    if (this.#bound > CHUNK_BYTES) return this.#buf.subarray(0, this.#pos);
    this.#chunkPos = this.#pos;
    return this.#chunk.subarray(start, this.#pos);
  }

  #head(id: string, head: SequenceHead, part: number): void {
    const buf = this.#buf;
    buf[this.#pos] = WIRE_MAGIC;
    buf.writeUInt32BE(this.#schemaId, this.#pos + 1);
    this.#pos += WIRE_HEADER_BYTES;
    this.#string(id);
    this.#headAfterId(head, part);
  }

  #headAfterId(head: SequenceHead, part: number): void {
    this.#string(head.src_ip);
    this.#string(head.dst_ip);
    this.#long(head.window_start_ms);
    this.#long(head.window_end_ms);
    this.#int(part);
  }

  #tail(context: EntityContext): void {
    this.#long(0);
    this.#long(context.distinct_dsts);
    this.#long(context.distinct_dst_ports);
    this.#long(context.connections);
    this.#long(context.distinct_srcs ?? 0);
    this.#long(context.distinct_probe_srcs ?? 0);
  }

  #row(c: FlowColumns, row: number): void {
    const num = c.num;
    const o = row * NUM;
    this.#long(num[o + F_START] as number);
    this.#long(num[o + F_END] as number);
    this.#int(num[o + F_PROTOCOL] as number);
    this.#int(num[o + F_SRC_PORT] as number);
    this.#int(num[o + F_DST_PORT] as number);
    this.#long(num[o + F_FWD_BYTES] as number);
    this.#long(num[o + F_FWD_PKTS] as number);
    this.#long(num[o + F_BWD_BYTES] as number);
    this.#long(num[o + F_BWD_PKTS] as number);
    this.#int(num[o + F_TCP_FLAGS] as number);
    const int = c.int;
    const p = row * INT;
    if ((int[p + I_FLAGS] as number) & FLAG_LABEL_NULL) this.#buf[this.#pos++] = 0;
    else {
      this.#buf[this.#pos++] = 2;
      this.#int(num[o + F_LABEL] as number);
    }
    const attack = int[p + I_ATTACK] as number;
    if (attack < 0) this.#buf[this.#pos++] = 0;
    else {
      this.#buf[this.#pos++] = 2;
      this.#string(c.strings[attack] as string);
    }
    this.#string(c.strings[int[p + I_ORIGIN] as number] as string);
    this.#long(num[o + F_SAMPLING_RATE] as number);
  }

  #write(
    id: string,
    head: SequenceHead,
    part: number,
    flows: readonly SequenceFlow[] | SequenceFlow,
    from: number,
    to: number,
    context: EntityContext,
  ): void {
    this.#head(id, head, part);
    if (!isFlowList(flows)) {
      this.#long(1);
      this.#flow(flows);
    } else if (to > from) {
      this.#long(to - from);
      for (let i = from; i < to; i++) this.#flow(flows[i] as SequenceFlow);
    }
    this.#tail(context);
  }

  #flow(f: SequenceFlow): void {
    this.#long(f.start_ms);
    this.#long(f.end_ms);
    this.#int(f.protocol);
    this.#int(f.src_port);
    this.#int(f.dst_port);
    this.#long(f.fwd_bytes);
    this.#long(f.fwd_pkts);
    this.#long(f.bwd_bytes);
    this.#long(f.bwd_pkts);
    this.#int(f.tcp_flags);
    if (f.label === null || f.label === undefined) this.#buf[this.#pos++] = 0;
    else {
      this.#buf[this.#pos++] = 2;
      this.#int(f.label);
    }
    if (f.attack === null || f.attack === undefined) this.#buf[this.#pos++] = 0;
    else {
      this.#buf[this.#pos++] = 2;
      this.#string(f.attack);
    }
    this.#string(f.origin);
    this.#long(f.sampling_rate ?? 1);
  }

  #int(n: number): void {
    if (typeof n !== 'number' || n !== (n | 0)) throw new Error(`invalid "int": ${n}`);
    this.#varint(n);
  }

  #long(n: number): void {
    // An int32 (most values) needs no further check; otherwise Math.trunc, not `n % 1`: a value
    // read from a Float64Array is a double, and a double's `%` is a call out of optimized code.
    if ((n | 0) !== n && (typeof n !== 'number' || Math.trunc(n) !== n || !(n >= -MAX_LONG && n <= MAX_LONG)))
      throw new Error(`invalid "long": ${n}`);
    this.#varint(n);
  }

  /** Zig-zag varint, exactly as avsc's Tap.writeLong. */
  #varint(n: number): void {
    const buf = this.#buf;
    let pos = this.#pos;
    if (n >= -1073741824 && n < 1073741824) {
      let m = n >= 0 ? n << 1 : (~n << 1) | 1;
      while (m > 0x7f) {
        buf[pos++] = (m & 0x7f) | 0x80;
        m >>>= 7;
      }
      buf[pos++] = m;
    } else {
      let f = n >= 0 ? n * 2 : -n * 2 - 1;
      while (f >= 128) {
        buf[pos++] = (f & 0x7f) | 0x80;
        f /= 128;
      }
      buf[pos++] = f & 0x7f;
    }
    this.#pos = pos;
  }

  #string(s: string): void {
    const len = s.length;
    const buf = this.#buf;
    const start = this.#pos;
    // ASCII (the usual case) is one byte per char: write the length, then the chars, in one pass.
    this.#varint(len);
    let pos = this.#pos;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.#pos = start;
        const bytes = Buffer.byteLength(s);
        this.#varint(bytes);
        this.#pos += buf.write(s, this.#pos, bytes, 'utf8');
        return;
      }
      buf[pos++] = c;
    }
    this.#pos = pos;
  }
}

/**
 * Where writeIdRows puts a sequence (@tidewatch/bus's RecordSink has this shape): begin() with the
 * key and a bound of the value's size gives where the value starts in `buf`; end() at its end.
 */
export interface SequenceSink {
  readonly buf: Buffer;
  begin(key: Uint8Array, keyStart: number, keyEnd: number, maxValueBytes: number): number;
  end(valueEnd: number): void;
}

/** The fields of a sequence besides its id, part, flows and context. */
export type SequenceHead = Pick<Sequence, 'src_ip' | 'dst_ip' | 'window_start_ms' | 'window_end_ms'>;

function isFlowList(flows: readonly SequenceFlow[] | SequenceFlow): flows is readonly SequenceFlow[] {
  return Array.isArray(flows);
}

/** An upper bound of the encoded size (strings at 3 bytes per UTF-16 unit, varints at 10 bytes). */
function maxBytes(
  id: string,
  head: SequenceHead,
  flows: readonly SequenceFlow[] | SequenceFlow,
  from: number,
  to: number,
): number {
  const n = WIRE_HEADER_BYTES + 10 * 10 + 3 * (id.length + head.src_ip.length + head.dst_ip.length + 3);
  if (!isFlowList(flows)) return n + flowBytes(flows);
  let m = n;
  for (let i = from; i < to; i++) m += flowBytes(flows[i] as SequenceFlow);
  return m;
}

function rowsBound(
  idLength: number,
  head: SequenceHead,
  columns: FlowColumns,
  rows: readonly number[] | number,
  from: number,
  to: number,
): number {
  let bound = WIRE_HEADER_BYTES + 10 * 10 + 3 * (idLength + head.src_ip.length + head.dst_ip.length + 3);
  if (typeof rows === 'number') bound += rowBytes(columns, rows);
  else for (let i = from; i < to; i++) bound += rowBytes(columns, rows[i] as number);
  return bound;
}

function rowBytes(c: FlowColumns, row: number): number {
  return 15 * 10 + 3 * (c.origin(row).length + (c.attack(row)?.length ?? 0));
}

function flowBytes(f: SequenceFlow): number {
  return 15 * 10 + 3 * (f.origin.length + (f.attack?.length ?? 0));
}

function shapeOf(schema: unknown): string {
  const fields = (schema as { fields: { name: string; type: unknown }[] }).fields;
  return fields.map((f) => `${f.name}:${typeShape(f.type)}`).join(',');
}

function typeShape(type: unknown): string {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.map(typeShape).join('|');
  const t = type as { type: string; items?: unknown; fields?: unknown };
  if (t.type === 'array') return `array<${typeShape(t.items)}>`;
  if (t.type === 'record') return shapeOf(t);
  return t.type;
}
