import {
  type AvroCodec,
  type AvroProjection,
  CONTRACTS,
  schemaFingerprint,
  WIRE_HEADER_BYTES,
  WIRE_MAGIC,
  withoutFields,
} from './codec.ts';
import type { Sequence } from './sequence.ts';
import type { SequenceBatch } from './sequence-batch.ts';

/**
 * sequences.v1 as the scoring path reads it: flows without `attack` and `origin` (the ground
 * truth's name and where a flow came from), whose bytes are skipped instead of built. Those two
 * members are absent from the decoded flows.
 */
export const SEQUENCE_SCORING_SCHEMA = withoutFields(CONTRACTS.sequences.schema, 'SequenceFlow', [
  'attack',
  'origin',
]);

/**
 * The writer schema `decodeSequenceBody` is written for (sequence.avsc.json as of this file). When
 * the contract's schema changes, its fingerprint no longer matches and every message takes the
 * generic path until the decoder below is brought in line (a test says so).
 */
export const SEQUENCE_READER_WRITER_FINGERPRINT =
  '83aa0fca2bde8488e57e0435d887c1d3523e5452d27bcf24b0e689cd4dc214cd';

/** Bytes of the smallest SequenceFlow: eleven numbers, two union indexes, an empty string, one byte each. */
const MIN_FLOW_BYTES = 14;

export class SequenceDecodeError extends Error {
  override name = 'SequenceDecodeError';
}

// Decoder state: one message at a time, synchronously (module-level, so no cursor object per message).
let buf: Buffer = Buffer.alloc(0);
let pos = 0;
let end = 0;

function truncated(what: string): never {
  throw new SequenceDecodeError(`truncated sequences.v1 message: ${what} runs past byte ${end}`);
}

/**
 * avsc's `Tap#readLong` (also its `readInt`: no range check for Avro int), bit for bit, with the
 * bounds checked: zig-zag varint, integer arithmetic up to 28 bits, then floating point.
 */
function readLong(what: string): number {
  let n = 0;
  let k = 0;
  let b: number;
  let h: number;
  do {
    if (pos >= end) truncated(what);
    b = buf[pos++] as number;
    h = b & 0x80;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (h && k < 28);
  if (h) {
    let f = n;
    let fk = 268435456;
    do {
      if (pos >= end) truncated(what);
      b = buf[pos++] as number;
      f += (b & 0x7f) * fk;
      fk *= 128;
    } while (b & 0x80);
    return (f % 2 ? -(f + 1) : f) / 2;
  }
  return (n >> 1) ^ -(n & 1);
}

/** An Avro long as avsc's LongType reads it: outside ±(2^53 − 2) it refuses (precision loss). */
function readSafeLong(what: string): number {
  const n = readLong(what);
  if (!(n >= -9007199254740990 && n <= 9007199254740990))
    throw new SequenceDecodeError(
      `sequences.v1 ${what} = ${n} is not a safe integer (potential precision loss)`,
    );
  return n;
}

function skipLong(what: string): void {
  do if (pos >= end) truncated(what);
  while ((buf[pos++] as number) & 0x80);
}

function stringLength(what: string): number {
  const len = readLong(what);
  if (len < 0) throw new SequenceDecodeError(`sequences.v1 ${what} has a negative length (${len})`);
  if (len > end - pos) truncated(what);
  return len;
}

function readString(what: string): string {
  const len = stringLength(what);
  const start = pos;
  pos += len;
  return buf.toString('utf8', start, pos);
}

/**
 * The last address string decoded per slot (direct-mapped by a hash of its bytes): a conversation's
 * endpoints recur across sequences, so most src_ip / dst_ip are the same string again instead of
 * a new one. The bytes are compared in full, so a hit is exactly what decoding them would give.
 */
const INTERN_SLOTS = 1024;
const INTERN_MAX_BYTES = 48;
const internBytes = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLength = new Int32Array(INTERN_SLOTS).fill(-1);
const internString: string[] = new Array<string>(INTERN_SLOTS).fill('');

function readAddress(what: string): string {
  const len = stringLength(what);
  const start = pos;
  pos += len;
  if (len > INTERN_MAX_BYTES) return buf.toString('utf8', start, pos);
  let h = 0x811c9dc5 ^ len;
  for (let i = start; i < pos; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  const slot = (h ^ (h >>> 16)) & (INTERN_SLOTS - 1);
  const base = slot * INTERN_MAX_BYTES;
  if (internLength[slot] === len) {
    let i = 0;
    while (i < len && internBytes[base + i] === buf[start + i]) i++;
    if (i === len) return internString[slot] as string;
  }
  const s = buf.toString('utf8', start, pos);
  for (let i = 0; i < len; i++) internBytes[base + i] = buf[start + i] as number;
  internLength[slot] = len;
  internString[slot] = s;
  return s;
}

function skipString(what: string): void {
  const len = stringLength(what); // not `pos += stringLength()`: that adds to pos as it was before the length
  pos += len;
}

function unionIndex(what: string): number {
  const index = readLong(what);
  if (index !== 0 && index !== 1)
    throw new SequenceDecodeError(`sequences.v1 ${what}: invalid union index ${index}`);
  return index;
}

function readFlow(): Sequence['flows'][number] {
  const startMs = readSafeLong('flow start_ms');
  const endMs = readSafeLong('flow end_ms');
  const protocol = readLong('flow protocol');
  const srcPort = readLong('flow src_port');
  const dstPort = readLong('flow dst_port');
  const fwdBytes = readSafeLong('flow fwd_bytes');
  const fwdPkts = readSafeLong('flow fwd_pkts');
  const bwdBytes = readSafeLong('flow bwd_bytes');
  const bwdPkts = readSafeLong('flow bwd_pkts');
  const tcpFlags = readLong('flow tcp_flags');
  const label = unionIndex('flow label') === 0 ? null : readLong('flow label');
  if (unionIndex('flow attack') === 1) skipString('flow attack');
  skipString('flow origin');
  // Built once all are read, members in the projection's order (attack and origin left out).
  return {
    start_ms: startMs,
    end_ms: endMs,
    protocol,
    src_port: srcPort,
    dst_port: dstPort,
    fwd_bytes: fwdBytes,
    fwd_pkts: fwdPkts,
    bwd_bytes: bwdBytes,
    bwd_pkts: bwdPkts,
    tcp_flags: tcpFlags,
    label,
    sampling_rate: readSafeLong('flow sampling_rate'),
  } as Sequence['flows'][number];
}

/** The item count of the next block of flows (0: the array ended), its byte size skipped where written. */
function readFlowBlockCount(): number {
  let n = readLong('flows block count');
  if (n < 0) {
    n = -n;
    skipLong('flows block size');
  }
  // Each flow takes at least MIN_FLOW_BYTES: a larger count cannot be honest (and must not size an array).
  if (n > (end - pos) / MIN_FLOW_BYTES) truncated(`a block of ${n} flows`);
  return n;
}

function readFlows(): Sequence['flows'] {
  let flows: Sequence['flows'] | undefined;
  let i = 0;
  for (;;) {
    const n = readFlowBlockCount();
    if (n === 0) break;
    if (!flows) flows = new Array(n);
    for (let k = 0; k < n; k++) flows[i++] = readFlow();
  }
  return flows ?? [];
}

/**
 * The Avro body of a sequences.v1 message written with the contract's schema, from `offset` to the
 * end of `message`, as `AvroProjection<Sequence>` over SEQUENCE_SCORING_SCHEMA decodes it: the same
 * values (avsc's varint arithmetic, its precision-loss check on longs, UTF-8 as Buffer decodes it)
 * into plain objects with the same members in the same order. Truncated or malformed bytes and
 * trailing data throw a SequenceDecodeError; nothing is read outside `message`.
 */
export function decodeSequenceBody(message: Buffer, offset: number): Sequence {
  buf = message;
  pos = offset;
  end = message.length;
  try {
    const seq = {
      sequence_id: readString('sequence_id'),
      src_ip: readAddress('src_ip'),
      dst_ip: readAddress('dst_ip'),
      window_start_ms: readSafeLong('window_start_ms'),
      window_end_ms: readSafeLong('window_end_ms'),
      part: readLong('part'),
      flows: readFlows(),
      context: {
        distinct_dsts: readSafeLong('context distinct_dsts'),
        distinct_dst_ports: readSafeLong('context distinct_dst_ports'),
        connections: readSafeLong('context connections'),
        distinct_srcs: readSafeLong('context distinct_srcs'),
        distinct_probe_srcs: readSafeLong('context distinct_probe_srcs'),
      },
    };
    if (pos < end) throw new SequenceDecodeError(`sequences.v1 message has ${end - pos} trailing bytes`);
    return seq;
  } finally {
    buf = EMPTY;
  }
}

/** The flows of one message into the batch's flow columns after its first `batch.flowCount`; returns the end index. */
function readFlowsInto(batch: SequenceBatch): number {
  let j = batch.flowCount;
  for (;;) {
    const n = readFlowBlockCount();
    if (n === 0) break;
    batch.reserveFlows(j, n);
    // After reserveFlows: the columns may be new arrays.
    const {
      startMs,
      endMs,
      protocol,
      srcPort,
      dstPort,
      fwdBytes,
      fwdPkts,
      bwdBytes,
      bwdPkts,
      tcpFlags,
      label,
      samplingRate,
    } = batch;
    for (let k = 0; k < n; k++, j++) {
      startMs[j] = readSafeLong('flow start_ms');
      endMs[j] = readSafeLong('flow end_ms');
      protocol[j] = readLong('flow protocol');
      srcPort[j] = readLong('flow src_port');
      dstPort[j] = readLong('flow dst_port');
      fwdBytes[j] = readSafeLong('flow fwd_bytes');
      fwdPkts[j] = readSafeLong('flow fwd_pkts');
      bwdBytes[j] = readSafeLong('flow bwd_bytes');
      bwdPkts[j] = readSafeLong('flow bwd_pkts');
      tcpFlags[j] = readLong('flow tcp_flags');
      label[j] = unionIndex('flow label') === 0 ? Number.NaN : readLong('flow label');
      if (unionIndex('flow attack') === 1) skipString('flow attack');
      skipString('flow origin');
      samplingRate[j] = readSafeLong('flow sampling_rate');
    }
  }
  return j;
}

/**
 * `decodeSequenceBody` into the columns of `batch` (appended; no object per sequence or flow):
 * the same values, read in the same order, refused with the same errors. A refused message leaves
 * the batch as it was. Returns the sequence's index in the batch.
 */
export function decodeSequenceInto(batch: SequenceBatch, message: Buffer, offset: number): number {
  buf = message;
  pos = offset;
  end = message.length;
  try {
    const id = readString('sequence_id');
    const srcIp = readAddress('src_ip');
    const dstIp = readAddress('dst_ip');
    const windowStart = readSafeLong('window_start_ms');
    const windowEnd = readSafeLong('window_end_ms');
    const part = readLong('part');
    batch.reserveSequence();
    const flowEnd = readFlowsInto(batch);
    const distinctDsts = readSafeLong('context distinct_dsts');
    const distinctDstPorts = readSafeLong('context distinct_dst_ports');
    const connections = readSafeLong('context connections');
    const distinctSrcs = readSafeLong('context distinct_srcs');
    const distinctProbeSrcs = readSafeLong('context distinct_probe_srcs');
    if (pos < end) throw new SequenceDecodeError(`sequences.v1 message has ${end - pos} trailing bytes`);
    return batch.commit(
      id,
      srcIp,
      dstIp,
      windowStart,
      windowEnd,
      part,
      flowEnd,
      distinctDsts,
      distinctDstPorts,
      connections,
      distinctSrcs,
      distinctProbeSrcs,
    );
  } finally {
    buf = EMPTY;
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes sequences.v1 messages for scoring (SEQUENCE_SCORING_SCHEMA): messages written with the
 * contract's own schema (the writer schema id in the header is the codec's) are read by
 * `decodeSequenceBody` without avsc records; any other writer schema goes through the generic
 * AvroProjection (schema resolution, a registry lookup on first sight). Same interface as the
 * projection. A message of an earlier sequences.v1 (before `context.distinct_srcs` or before
 * `context.distinct_probe_srcs`: another schema id, PREVIOUS_SCHEMAS) takes that path and reads
 * the missing fields as their default, 0; a message of the current id must carry both (a message that ends before it is refused as truncated, as avsc
 * refuses it).
 */
export class SequenceReader {
  readonly #projection: AvroProjection<Sequence>;
  /** The writer schema id read by hand, or -1 when the contract's schema is not the one it was written for. */
  readonly #fastId: number;

  constructor(codec: AvroCodec<Sequence>) {
    this.#projection = codec.project<Sequence>(SEQUENCE_SCORING_SCHEMA);
    this.#fastId =
      schemaFingerprint(codec.contract.schema) === SEQUENCE_READER_WRITER_FINGERPRINT ? codec.schemaId : -1;
  }

  /** True when messages of the codec's own schema id are decoded by hand. */
  get handDecoding(): boolean {
    return this.#fastId >= 0;
  }

  /** Synchronous for schema ids already seen; throws UnknownSchemaError otherwise. */
  decode(message: Buffer): Sequence {
    if (this.#isFast(message)) return decodeSequenceBody(message, WIRE_HEADER_BYTES);
    return this.#projection.decode(message);
  }

  async decodeAsync(message: Buffer): Promise<Sequence> {
    if (this.#isFast(message)) return decodeSequenceBody(message, WIRE_HEADER_BYTES);
    return this.#projection.decodeAsync(message);
  }

  /**
   * `decode` appended to a SequenceBatch (by hand into its columns for the codec's own schema id);
   * returns the sequence's index there. A refused message leaves the batch as it was.
   */
  decodeInto(batch: SequenceBatch, message: Buffer): number {
    if (this.#isFast(message)) return decodeSequenceInto(batch, message, WIRE_HEADER_BYTES);
    return batch.push(this.#projection.decode(message));
  }

  async decodeIntoAsync(batch: SequenceBatch, message: Buffer): Promise<number> {
    if (this.#isFast(message)) return decodeSequenceInto(batch, message, WIRE_HEADER_BYTES);
    return batch.push(await this.#projection.decodeAsync(message));
  }

  /** The header is checked by the projection (magic byte, length) when this says no. */
  #isFast(m: Buffer): boolean {
    return (
      this.#fastId >= 0 &&
      m.length >= WIRE_HEADER_BYTES &&
      m[0] === WIRE_MAGIC &&
      (m[1] as number) * 0x1000000 + ((m[2] as number) << 16) + ((m[3] as number) << 8) + (m[4] as number) ===
        this.#fastId
    );
  }
}
