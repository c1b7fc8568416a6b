import {
  type AvroCodec,
  CONTRACTS,
  type FlowRecord,
  readSchemaId,
  schemaFingerprint,
  WIRE_HEADER_BYTES,
} from '@tidewatch/contracts';
import { AsciiInterner, type Utf8Buffer } from './ascii-interner.ts';

/** The flows.v1 schema this decoder is written for (fingerprint of its canonical form). */
const FLOW_SCHEMA_FINGERPRINT = schemaFingerprint(CONTRACTS.flows.schema);
const EXPECTED_FIELDS =
  'exporter:string,observation_domain:long,source_format:string,start_ms:long,end_ms:long,protocol:int,' +
  'src_ip:string,dst_ip:string,src_port:int,dst_port:int,fwd_bytes:long,fwd_pkts:long,bwd_bytes:long,' +
  'bwd_pkts:long,tcp_flags:int,sampling_rate:long,in_if:null|long,out_if:null|long,src_as:null|long,' +
  'dst_as:null|long,vlan:null|int,icmp_type:null|int,icmp_code:null|int,label:null|int,attack:null|string,' +
  'extra:map<string>';

export class FlowDecodeError extends Error {
  override name = 'FlowDecodeError';
}

/**
 * Decodes Confluent-framed flows.v1 Avro records into the same FlowRecord values avsc produces
 * (plain objects), several times faster: varints are read inline and short ASCII strings (addresses,
 * formats, exporters) are interned instead of decoded anew, so repeated addresses are one string
 * (cheaper map lookups downstream, less memory per open window). Records written with another
 * schema id go through the codec's schema resolution; malformed records throw like avsc does
 * ('truncated buffer', 'trailing data', 'invalid union index', 'potential precision loss').
 */
export class FlowDecoder {
  readonly #codec: AvroCodec<FlowRecord>;
  readonly #schemaId: number;
  readonly #strings = new AsciiInterner(65_536, 48);
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  /** The previous record's exporter and format: most records repeat them. */
  #exporter = '';
  #format = '';

  constructor(codec: AvroCodec<FlowRecord>) {
    const fields = (codec.contract.schema as { fields: { name: string; type: unknown }[] }).fields
      .map((f) => `${f.name}:${typeName(f.type)}`)
      .join(',');
    if (schemaFingerprint(codec.contract.schema) !== FLOW_SCHEMA_FINGERPRINT || fields !== EXPECTED_FIELDS) {
      throw new Error('FlowDecoder is written for the flows.v1 schema in @tidewatch/contracts; update it');
    }
    if (codec.schemaId < 0) throw new Error('FlowDecoder needs an initialised codec');
    this.#codec = codec;
    this.#schemaId = codec.schemaId;
  }

  decode(buf: Buffer): FlowRecord {
    return this.#read(buf, this.#blank());
  }

  /**
   * Like decode, but into one record reused by every call (no allocation per record): valid until
   * the next call, and its `extra` must not be changed. For consumers that copy what they keep
   * (PartitionSequencer.pushTransient).
   */
  decodeTransient(buf: Buffer): FlowRecord {
    return this.#read(buf, this.#scratch);
  }

  readonly #scratch: FlowRecord = this.#blank();

  /**
   * Like decodeTransient, but the addresses are left as bytes: `src_ip` and `dst_ip` of the record
   * are '' and `addresses` says where they are (until the next call), or is undefined when this
   * record was decoded another way (another schema id) and has its strings. PartitionSequencer
   * places such a flow into a window without making the strings.
   */
  decodeDeferred(buf: Buffer): FlowRecord {
    return this.#read(buf, this.#scratch, this.#addresses);
  }

  readonly #addresses = new FlowAddresses(this.#strings);
  #deferred: FlowAddresses | undefined;

  /** The addresses of the last decodeDeferred record (undefined when it has its strings). */
  get addresses(): FlowAddresses | undefined {
    return this.#deferred;
  }

  #blank(): FlowRecord {
    return {
      exporter: '',
      observation_domain: 0,
      source_format: 'netflow5',
      start_ms: 0,
      end_ms: 0,
      protocol: 0,
      src_ip: '',
      dst_ip: '',
      src_port: 0,
      dst_port: 0,
      fwd_bytes: 0,
      fwd_pkts: 0,
      bwd_bytes: 0,
      bwd_pkts: 0,
      tcp_flags: 0,
      sampling_rate: 0,
      in_if: null,
      out_if: null,
      src_as: null,
      dst_as: null,
      vlan: null,
      icmp_type: null,
      icmp_code: null,
      label: null,
      attack: null,
      extra: {},
    };
  }

  #read(buf: Buffer, r: FlowRecord, deferred?: FlowAddresses): FlowRecord {
    this.#deferred = undefined;
    if (readSchemaId(buf) !== this.#schemaId) return this.#codec.decode(buf);
    this.#buf = buf;
    this.#pos = WIRE_HEADER_BYTES;
    r.exporter = this.#exporterField();
    r.observation_domain = this.#long();
    r.source_format = this.#formatField() as FlowRecord['source_format'];
    r.start_ms = this.#long();
    r.end_ms = this.#long();
    r.protocol = this.#int();
    if (deferred === undefined) {
      r.src_ip = this.#string();
      r.dst_ip = this.#string();
    } else {
      deferred.bytes = buf;
      deferred.srcStart = this.#skipString();
      deferred.srcEnd = this.#pos;
      deferred.dstStart = this.#skipString();
      deferred.dstEnd = this.#pos;
      r.src_ip = '';
      r.dst_ip = '';
    }
    r.src_port = this.#int();
    r.dst_port = this.#int();
    r.fwd_bytes = this.#long();
    r.fwd_pkts = this.#long();
    r.bwd_bytes = this.#long();
    r.bwd_pkts = this.#long();
    r.tcp_flags = this.#int();
    r.sampling_rate = this.#long();
    r.in_if = this.#nullable() ? this.#long() : null;
    r.out_if = this.#nullable() ? this.#long() : null;
    r.src_as = this.#nullable() ? this.#long() : null;
    r.dst_as = this.#nullable() ? this.#long() : null;
    r.vlan = this.#nullable() ? this.#int() : null;
    r.icmp_type = this.#nullable() ? this.#int() : null;
    r.icmp_code = this.#nullable() ? this.#int() : null;
    r.label = this.#nullable() ? this.#int() : null;
    r.attack = this.#nullable() ? this.#string() : null;
    r.extra = this.#map(r === this.#scratch);
    const end = buf.length;
    this.#buf = EMPTY;
    if (this.#pos > end) throw new FlowDecodeError('truncated buffer');
    if (this.#pos < end) throw new FlowDecodeError('trailing data');
    this.#deferred = deferred;
    return r;
  }

  /** Avro int/long varint, exactly as avsc's Tap.readLong (zig-zag; float arithmetic beyond 28 bits). */
  #varint(): number {
    const buf = this.#buf;
    let pos = this.#pos;
    let b = buf[pos++] as number;
    if (b < 0x80) {
      this.#pos = pos;
      if (b === undefined) return Number.NaN;
      return (b >> 1) ^ -(b & 1);
    }
    let n = b & 0x7f;
    let k = 7;
    let h = 0x80;
    while (h && k < 28) {
      b = buf[pos++] as number;
      h = b & 0x80;
      n |= (b & 0x7f) << k;
      k += 7;
    }
    if (h) {
      let f = n;
      let fk = 268435456;
      do {
        b = buf[pos++] as number;
        f += (b & 0x7f) * fk;
        fk *= 128;
      } while (b & 0x80);
      this.#pos = pos;
      return (f % 2 ? -(f + 1) : f) / 2;
    }
    this.#pos = pos;
    return (n >> 1) ^ -(n & 1);
  }

  #int(): number {
    return this.#varint();
  }

  #long(): number {
    const n = this.#varint();
    if (!(n >= -MAX_LONG && n <= MAX_LONG)) {
      if (this.#pos > this.#buf.length) throw new FlowDecodeError('truncated buffer');
      throw new FlowDecodeError('potential precision loss');
    }
    return n;
  }

  /** A ["null", T] union: false for null, true when T follows. */
  #nullable(): boolean {
    const index = this.#varint();
    if (index === 1) return true;
    if (index === 0) return false;
    if (this.#pos > this.#buf.length) throw new FlowDecodeError('truncated buffer');
    throw new FlowDecodeError(`invalid union index: ${index}`);
  }

  #string(): string {
    const len = this.#varint();
    const start = this.#pos;
    const end = start + len;
    if (!(len >= 0) || end > this.#buf.length) throw new FlowDecodeError('truncated buffer');
    this.#pos = end;
    return this.#strings.decode(this.#buf as Utf8Buffer, start, end);
  }

  /** Moves past a string; returns where its bytes start. */
  #skipString(): number {
    const len = this.#varint();
    const start = this.#pos;
    const end = start + len;
    if (!(len >= 0) || end > this.#buf.length) throw new FlowDecodeError('truncated buffer');
    this.#pos = end;
    return start;
  }

  #exporterField(): string {
    this.#exporter = this.#repeated(this.#exporter);
    return this.#exporter;
  }

  #formatField(): string {
    this.#format = this.#repeated(this.#format);
    return this.#format;
  }

  /** A string that usually equals `last`: compared byte by byte before anything is decoded. */
  #repeated(last: string): string {
    const len = this.#varint();
    const start = this.#pos;
    const end = start + len;
    const buf = this.#buf;
    if (!(len >= 0) || end > buf.length) throw new FlowDecodeError('truncated buffer');
    this.#pos = end;
    if (last.length === len) {
      let i = 0;
      while (i < len && last.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) return last;
    }
    return this.#strings.decode(buf as Utf8Buffer, start, end);
  }

  /** An Avro map; an empty one is the shared frozen object when `shareEmpty`. */
  #map(shareEmpty: boolean): Record<string, string> {
    let count = this.#varint();
    if (count === 0 && shareEmpty) return EMPTY_MAP;
    const out: Record<string, string> = {};
    for (; count !== 0; count = this.#varint()) {
      if (count < 0) {
        count = -count;
        this.#varint(); // block size in bytes
      }
      for (let i = 0; i < count; i++) {
        const key = this.#string();
        out[key] = this.#string();
      }
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

/** Where a decoded record's addresses are: UTF-8 bytes of the message it was decoded from. */
export class FlowAddresses {
  bytes: Buffer = EMPTY;
  srcStart = 0;
  srcEnd = 0;
  dstStart = 0;
  dstEnd = 0;

  constructor(private readonly strings: AsciiInterner) {}

  /** Sets the record's `src_ip` and `dst_ip` from the bytes (what decodeTransient would have set). */
  resolve(flow: FlowRecord): void {
    const bytes = this.bytes as Utf8Buffer;
    flow.src_ip = this.strings.decode(bytes, this.srcStart, this.srcEnd);
    flow.dst_ip = this.strings.decode(bytes, this.dstStart, this.dstEnd);
  }
}
const EMPTY_MAP: Record<string, string> = Object.freeze({});
/** avsc's bound for a long read into a number (2^53 - 2). */
const MAX_LONG = 9007199254740990;

function typeName(type: unknown): string {
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.map(typeName).join('|');
  const t = type as { type: string; values?: unknown };
  return t.type === 'map' ? `map<${typeName(t.values)}>` : t.type;
}
