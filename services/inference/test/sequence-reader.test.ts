import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AvroCodec,
  type AvroProjection,
  CONTRACTS,
  createCodecs,
  LocalSchemaRegistry,
  type Sequence,
  SEQUENCE_READER_WRITER_FINGERPRINT,
  SEQUENCE_SCORING_SCHEMA,
  SequenceBatch,
  SequenceReader,
  schemaFingerprint,
  UnknownSchemaError,
  WIRE_HEADER_BYTES,
} from '@tidewatch/contracts';
import { readFlowFile } from '@tidewatch/flow-importers';
import { buildSequences } from '@tidewatch/sequencing';
import { needsShared, seededRandom, sharedPath } from '@tidewatch/testing';

const SAFE = 9007199254740990;
const LONG_EDGES = [
  0,
  1,
  -1,
  63,
  64,
  -64,
  -65,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 31,
  2 ** 32,
  -(2 ** 40),
  SAFE,
  -SAFE,
];
const INT_EDGES = [0, 1, -1, 63, -64, 2 ** 31 - 1, -(2 ** 31), 65535, 255];
const CHARS = ['a', 'Z', '0', '.', ':', 'é', 'ß', '€', '中', '😀', '\u0000', '\uFFFD', '\n'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

function randLong(r: () => number): number {
  const u = r();
  if (u < 0.3) return pick(r, LONG_EDGES);
  if (u < 0.6) return Math.floor((r() - 0.5) * 2 * SAFE);
  return Math.floor((r() - 0.3) * 2 ** (1 + Math.floor(r() * 40)));
}

function randInt(r: () => number): number {
  return r() < 0.3 ? pick(r, INT_EDGES) : Math.floor((r() - 0.5) * 2 ** 32) | 0;
}

function randString(r: () => number): string {
  const u = r();
  const len = u < 0.1 ? 0 : u < 0.9 ? Math.floor(r() * 40) : 200 + Math.floor(r() * 5000);
  let s = '';
  for (let i = 0; i < len; i++)
    s += r() < 0.8 ? String.fromCharCode(32 + Math.floor(r() * 95)) : pick(r, CHARS);
  return s;
}

/**
 * Addresses recur (the reader keeps the last string per hash slot): half from a pool of 3,000, more
 * than its 1,024 slots, so hits, misses and slot collisions all happen; the rest any string.
 */
const ADDRESSES = (() => {
  const r = seededRandom(5);
  return Array.from({ length: 3000 }, (_, i) =>
    i % 3 === 0 ? randString(r) : `10.${i >> 8}.${i & 255}.${i % 7}`,
  );
})();
function address(r: () => number): string {
  return r() < 0.5 ? pick(r, ADDRESSES) : randString(r);
}

function randomSequence(r: () => number): Sequence {
  const u = r();
  const n = u < 0.1 ? 0 : u < 0.7 ? 1 : u < 0.95 ? 2 + Math.floor(r() * 30) : 100 + Math.floor(r() * 300);
  const flows: Sequence['flows'] = [];
  for (let i = 0; i < n; i++) {
    flows.push({
      start_ms: randLong(r),
      end_ms: randLong(r),
      protocol: randInt(r),
      src_port: randInt(r),
      dst_port: randInt(r),
      fwd_bytes: randLong(r),
      fwd_pkts: randLong(r),
      bwd_bytes: randLong(r),
      bwd_pkts: randLong(r),
      tcp_flags: randInt(r),
      label: r() < 0.4 ? null : r() < 0.8 ? (r() < 0.5 ? 0 : 1) : randInt(r),
      attack: r() < 0.5 ? null : randString(r),
      origin: randString(r),
    });
  }
  return {
    sequence_id: randString(r),
    src_ip: address(r),
    dst_ip: address(r),
    window_start_ms: randLong(r),
    window_end_ms: randLong(r),
    part: randInt(r),
    flows,
    context: { distinct_dsts: randLong(r), distinct_dst_ports: randLong(r), connections: randLong(r) },
  };
}

/** The avsc types of the contract's fields (through the codec: avsc is the contracts package's dependency). */
interface AvroTypeLike {
  toBuffer(v: unknown): Buffer;
  fields?: { name: string; type: AvroTypeLike }[];
  itemsType?: AvroTypeLike;
}
let sequenceType: AvroTypeLike | undefined;
function fieldType(name: string): AvroTypeLike {
  const t = sequenceType?.fields?.find((f) => f.name === name)?.type;
  if (!t) throw new Error(`no field ${name}`);
  return t;
}
const flowType = (): AvroTypeLike => fieldType('flows').itemsType as AvroTypeLike;

/** Zig-zag varint of `n` (any safe integer), with `pad` redundant continuation bytes (still valid Avro for avsc). */
function varint(n: number, pad = 0): number[] {
  let f = n >= 0 ? n * 2 : -n * 2 - 1;
  const canonical: number[] = [];
  do {
    const b = f % 128;
    f = Math.floor(f / 128);
    canonical.push(f > 0 ? b | 0x80 : b);
  } while (f > 0);
  if (pad === 0) return canonical;
  const last = canonical.length - 1;
  canonical[last] = (canonical[last] as number) | 0x80;
  for (let i = 1; i < pad; i++) canonical.push(0x80);
  canonical.push(0);
  return canonical;
}

/**
 * A sequences.v1 message as another writer might lay it out: the flows array in several blocks,
 * some with a negative count followed by their size in bytes (both allowed by the Avro spec;
 * avsc writes one positive block), and some numbers in non-minimal varints.
 */
function blockedMessage(seq: Sequence, schemaId: number, r: () => number): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(WIRE_HEADER_BYTES);
  header.writeUInt32BE(schemaId, 1);
  parts.push(header);
  for (const name of ['sequence_id', 'src_ip', 'dst_ip'] as const)
    parts.push(fieldType(name).toBuffer(seq[name]));
  parts.push(Buffer.from(varint(seq.window_start_ms, r() < 0.5 ? 2 : 0)));
  parts.push(Buffer.from(varint(seq.window_end_ms)));
  parts.push(Buffer.from(varint(seq.part, r() < 0.5 ? 3 : 0)));
  let i = 0;
  while (i < seq.flows.length) {
    const size = 1 + Math.floor(r() * 4);
    const items = seq.flows.slice(i, i + size).map((f) => flowType().toBuffer(f));
    i += items.length;
    const body = Buffer.concat(items);
    if (r() < 0.5) parts.push(Buffer.from([...varint(-items.length), ...varint(body.length)]));
    else parts.push(Buffer.from(varint(items.length)));
    parts.push(body);
  }
  parts.push(Buffer.from([0]));
  parts.push(fieldType('context').toBuffer(seq.context));
  return Buffer.concat(parts);
}

/** avsc's record instances as plain objects (deepStrictEqual also compares prototypes). */
function plain(s: Sequence): Sequence {
  return { ...s, flows: s.flows.map((f) => ({ ...f })), context: { ...s.context } };
}

function keysOf(s: Sequence): string[][] {
  return [Object.keys(s), Object.keys(s.context), ...s.flows.map((f) => Object.keys(f))];
}

/** One batch that every decoded message is also appended to (emptied after 50, once checked). */
const batch = new SequenceBatch();
const inBatch: Sequence[] = [];

/**
 * `reader.decodeInto(batch, message)` against `reader.decode(message)`: the same Sequence from the
 * columns, or the same error with the batch left as it was; the sequences decoded before unchanged.
 */
function sameInBatch(reader: SequenceReader, message: Buffer, what: string): void {
  let want: Sequence | undefined;
  let refused: Error | undefined;
  try {
    want = reader.decode(message);
  } catch (e) {
    refused = e as Error;
  }
  const { count, flowCount } = batch;
  if (refused) {
    assert.throws(
      () => reader.decodeInto(batch, message),
      (e: Error) => e.message === refused.message && e.name === refused.name,
      `${what}: decodeInto refuses as decode does`,
    );
    assert.equal(batch.count, count, `${what}: no sequence added`);
    assert.equal(batch.flowCount, flowCount, `${what}: no flow added`);
    return;
  }
  const at = reader.decodeInto(batch, message);
  assert.equal(at, count);
  const got = batch.sequence(at);
  assert.deepStrictEqual(got, want, `${what} from the batch`);
  assert.deepStrictEqual(keysOf(got), keysOf(want as Sequence), `${what} from the batch: member order`);
  inBatch.push(want as Sequence);
  if (batch.count >= 50) {
    for (let i = 0; i < batch.count; i++)
      assert.deepStrictEqual(batch.sequence(i), inBatch[i], `${what}: batch sequence ${i}`);
    batch.clear();
    inBatch.length = 0;
  }
}

/** Decodes `message` both ways: equal values when avsc reads it, an error from both when it does not. */
function sameAsAvsc(
  reader: SequenceReader,
  projection: AvroProjection<Sequence>,
  message: Buffer,
  what: string,
): 'ok' | 'error' {
  sameInBatch(reader, message, what);
  let expected: Sequence | undefined;
  let avscError: unknown;
  try {
    reader.decode(message);
  } catch (e) {
    // A flow count larger than the bytes left could hold: avsc would size an array by it and read
    // that many flows past the end (out of memory for a corrupted count of 10^9), so it is not asked.
    if (/a block of \d+ flows runs past/.test(String(e))) return 'error';
  }
  try {
    expected = projection.decode(message);
  } catch (e) {
    avscError = e;
  }
  if (avscError !== undefined) {
    assert.throws(
      () => reader.decode(message),
      `${what}: avsc refused it (${avscError}), the reader did not`,
    );
    return 'error';
  }
  const got = reader.decode(message);
  const want = plain(expected as Sequence);
  assert.deepStrictEqual(got, want, what);
  assert.deepStrictEqual(keysOf(got), keysOf(want), `${what}: member order`);
  return 'ok';
}

async function setup(): Promise<{
  codec: AvroCodec<Sequence>;
  reader: SequenceReader;
  projection: AvroProjection<Sequence>;
}> {
  const { sequences: codec } = await createCodecs(new LocalSchemaRegistry());
  sequenceType = codec.type as unknown as AvroTypeLike;
  const reader = new SequenceReader(codec);
  assert.equal(reader.handDecoding, true);
  return { codec, reader, projection: codec.project<Sequence>(SEQUENCE_SCORING_SCHEMA) };
}

describe('SequenceReader (sequences.v1 decoded without avsc records)', () => {
  it('is written for the current sequences.v1 schema (update decodeSequenceBody with the schema)', () => {
    assert.equal(schemaFingerprint(CONTRACTS.sequences.schema), SEQUENCE_READER_WRITER_FINGERPRINT);
  });

  it('decodes 3,000 random sequences to exactly what avsc decodes, in avsc layout and in blocked arrays', async () => {
    const { codec, reader, projection } = await setup();
    const r = seededRandom(6);
    let flows = 0;
    for (let i = 0; i < 3000; i++) {
      const seq = randomSequence(r);
      flows += seq.flows.length;
      assert.equal(sameAsAvsc(reader, projection, codec.encode(seq), `sequence ${i}`), 'ok');
      assert.equal(
        sameAsAvsc(reader, projection, blockedMessage(seq, codec.schemaId, r), `blocked sequence ${i}`),
        'ok',
      );
    }
    assert.ok(flows > 20_000, `${flows} flows`);
  });

  it('reads numbers as avsc does beyond their types: unsafe longs refused, int fields past 32 bits kept', async () => {
    const { codec, reader, projection } = await setup();
    const seq = { ...randomSequence(seededRandom(7)), flows: [] };
    const base = codec.encode(seq);
    const strings = ['sequence_id', 'src_ip', 'dst_ip'] as const;
    let at = WIRE_HEADER_BYTES;
    for (const name of strings) at += fieldType(name).toBuffer(seq[name]).length;
    /** `base` with the varint at `from` (of `len` bytes) replaced by `v`. */
    const patch = (from: number, len: number, v: number) =>
      Buffer.concat([base.subarray(0, from), Buffer.from(varint(v)), base.subarray(from + len)]);
    const endAt = at + varint(seq.window_start_ms).length;
    for (const v of [SAFE + 2, -SAFE - 2, 2 ** 60]) {
      const m = patch(endAt, varint(seq.window_end_ms).length, v);
      assert.equal(sameAsAvsc(reader, projection, m, `window_end_ms ${v}`), 'error');
      assert.throws(() => reader.decode(m), /window_end_ms = .* is not a safe integer/);
    }
    const partAt = endAt + varint(seq.window_end_ms).length;
    for (const v of [2 ** 40, -(2 ** 45), 2 ** 31]) {
      const m = patch(partAt, varint(seq.part).length, v);
      assert.equal(sameAsAvsc(reader, projection, m, `part ${v}`), 'ok');
      assert.equal(reader.decode(m).part, v);
    }
  });

  it('refuses every truncation and agrees with avsc on corrupted bytes, never reading past the message', async () => {
    const { codec, reader, projection } = await setup();
    const r = seededRandom(8);
    let refused = 0;
    let read = 0;
    for (let i = 0; i < 120; i++) {
      const m = codec.encode(randomSequence(r));
      const step = Math.max(1, Math.floor((m.length - WIRE_HEADER_BYTES) / 40));
      for (let cut = WIRE_HEADER_BYTES; cut < m.length; cut += 1 + Math.floor(r() * step)) {
        // A copy of exactly `cut` bytes: anything read beyond it would be outside the buffer.
        const short = Buffer.from(m.subarray(0, cut));
        assert.throws(
          () => reader.decode(short),
          /truncated|negative|union|precision|trailing/,
          `cut ${cut}`,
        );
        sameAsAvsc(reader, projection, short, `sequence ${i} cut at ${cut}`);
      }
      for (let k = 0; k < 40; k++) {
        const bad = Buffer.from(m);
        const at = WIRE_HEADER_BYTES + Math.floor(r() * (bad.length - WIRE_HEADER_BYTES));
        bad[at] = Math.floor(r() * 256);
        if (r() < 0.3) bad[at + 1 < bad.length ? at + 1 : at] = 0xff;
        if (sameAsAvsc(reader, projection, bad, `sequence ${i} corrupted at ${at}`) === 'error') refused++;
        else read++;
      }
      assert.throws(() => reader.decode(Buffer.concat([m, Buffer.from([0])])), /1 trailing bytes/);
    }
    assert.ok(refused > 100 && read > 100, `refused ${refused}, read ${read}`);
  });

  it('names what was wrong', async () => {
    const { codec, reader } = await setup();
    const seq = randomSequence(seededRandom(9));
    const m = codec.encode({ ...seq, sequence_id: 'abc' });
    const hugeCount = Buffer.concat([m.subarray(0, WIRE_HEADER_BYTES), Buffer.from([0x06, 0x61])]);
    assert.throws(
      () => reader.decode(hugeCount),
      /truncated sequences\.v1 message: sequence_id runs past byte 7/,
    );
    const negative = Buffer.concat([m.subarray(0, WIRE_HEADER_BYTES), Buffer.from([0x01])]);
    assert.throws(() => reader.decode(negative), /sequence_id has a negative length \(-1\)/);
    const manyFlows = Buffer.concat([
      m.subarray(0, WIRE_HEADER_BYTES),
      Buffer.from([0, 0, 0, 0, 0, 0]),
      Buffer.from(varint(1e12)),
      Buffer.alloc(30),
    ]);
    assert.throws(() => reader.decode(manyFlows), /a block of 1000000000000 flows runs past/);
    await assert.rejects(reader.decodeAsync(manyFlows), /a block of 1000000000000 flows runs past/);
    const b = new SequenceBatch();
    assert.throws(() => reader.decodeInto(b, manyFlows), /a block of 1000000000000 flows runs past/);
    assert.throws(() => reader.decodeInto(b, negative), /sequence_id has a negative length \(-1\)/);
    assert.equal(b.count + b.flowCount, 0);
  });

  it('leaves other writer schemas to avsc schema resolution (registry lookup on first sight)', async () => {
    const registry = new LocalSchemaRegistry();
    const { sequences: codec } = await createCodecs(registry);
    const reader = new SequenceReader(codec);
    const projection = codec.project<Sequence>(SEQUENCE_SCORING_SCHEMA);
    // A newer writer with one more field, which the scoring reader skips.
    const newer = JSON.parse(JSON.stringify(CONTRACTS.sequences.schema)) as { fields: unknown[] };
    newer.fields.push({ name: 'note', type: 'string', default: '' });
    const writer = await new AvroCodec<Sequence & { note: string }>(
      { topic: CONTRACTS.sequences.topic, schema: newer as typeof CONTRACTS.sequences.schema },
      registry,
    ).init();
    assert.notEqual(writer.schemaId, codec.schemaId);
    const r = seededRandom(10);
    for (let i = 0; i < 50; i++) {
      const seq = randomSequence(r);
      const message = writer.encode({ ...seq, note: 'x'.repeat(i) });
      if (i === 0) {
        assert.throws(() => reader.decode(message), UnknownSchemaError);
        assert.throws(() => reader.decodeInto(new SequenceBatch(), message), UnknownSchemaError);
      }
      const want = plain(projection.decode(codec.encode(seq)));
      const b = new SequenceBatch();
      if (i === 0) assert.equal(await reader.decodeIntoAsync(b, message), 0);
      assert.deepStrictEqual(plain(await reader.decodeAsync(message)), want);
      assert.deepStrictEqual(plain(reader.decode(message)), want);
      const at = reader.decodeInto(b, message);
      assert.deepStrictEqual(b.sequence(at), want);
    }
  });

  it('decodes every sequence of the labelled captures as avsc does', {
    skip: needsShared().skip,
  }, async () => {
    const { codec, reader, projection } = await setup();
    const files = [
      'ctu-malware-capture-botnet-4/conn.log.labeled',
      'iot23/CTU-IoT-Malware-Capture-42-1.conn.log.labeled',
      'iot23/CTU-Malware-Capture-20-1-labeled.csv',
      'stratosphere_nmap-portscan/conn.log',
      'cic-ids2017_improved_cns2022/DoS_Hulk_5000.csv',
    ];
    let n = 0;
    for (const file of files) {
      const flows = [];
      for await (const r of readFlowFile(sharedPath('testdata/labeled', file)))
        if (r.flow) flows.push(r.flow);
      for (const seq of buildSequences(flows)) {
        sameAsAvsc(reader, projection, codec.encode(seq), `${file} ${seq.sequence_id}`);
        n++;
      }
    }
    assert.ok(n > 5000, `${n} sequences`);
  });
});
