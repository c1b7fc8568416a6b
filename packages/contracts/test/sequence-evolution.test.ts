import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AvroCodec,
  CONTRACTS,
  decodeSequenceBody,
  LocalSchemaRegistry,
  PREVIOUS_SCHEMAS,
  type Sequence,
  SequenceBatch,
  SequenceDecodeError,
  SequenceReader,
  WIRE_HEADER_BYTES,
  withoutFields,
} from '../src/index.ts';

// sequences.v1's EntityContext gained two last fields (long, default 0): distinct_srcs, the
// responder's distinct initiators in the window, then distinct_probe_srcs, those of them with a
// probe-shaped flow; then SequenceFlow gained a last field, sampling_rate (long, default 1).
// Producers and readers of all four schemas must get along.

/** Before distinct_srcs (and so before distinct_probe_srcs). */
const PRE_FANIN = PREVIOUS_SCHEMAS[0] as NonNullable<(typeof PREVIOUS_SCHEMAS)[0]>;
/** With distinct_srcs, before distinct_probe_srcs. */
const PRE_PROBE = PREVIOUS_SCHEMAS[1] as NonNullable<(typeof PREVIOUS_SCHEMAS)[1]>;
/** With both, before SequenceFlow.sampling_rate. */
const PRE_SAMPLING = PREVIOUS_SCHEMAS[2] as NonNullable<(typeof PREVIOUS_SCHEMAS)[2]>;
const OLD_SCHEMA = PRE_FANIN;

function sequence(distinctSrcs: number | undefined, distinctProbeSrcs?: number): Sequence {
  return {
    sequence_id: '00000000-0000-5000-8000-000000000007',
    src_ip: '198.51.100.7',
    dst_ip: '203.0.113.9',
    window_start_ms: 1_700_000_100_000,
    window_end_ms: 1_700_000_400_000,
    part: 0,
    flows: [
      {
        start_ms: 1_700_000_100_500,
        end_ms: 1_700_000_100_500,
        protocol: 17,
        src_port: 161,
        dst_port: 40_123,
        fwd_bytes: 1_400,
        fwd_pkts: 1,
        bwd_bytes: 0,
        bwd_pkts: 0,
        tcp_flags: 0,
        label: null,
        attack: null,
        origin: 'snmp.pcap:1',
      },
    ],
    context: {
      distinct_dsts: 1,
      distinct_dst_ports: 1,
      connections: 1,
      ...(distinctSrcs === undefined ? {} : { distinct_srcs: distinctSrcs }),
      ...(distinctProbeSrcs === undefined ? {} : { distinct_probe_srcs: distinctProbeSrcs }),
    },
  };
}

/** Avro's zig-zag varint of a non-negative safe integer. */
function varint(n: number): Buffer {
  const out: number[] = [];
  let z = 2 * n;
  while (z >= 128) {
    out.push((z % 128) | 0x80);
    z = Math.floor(z / 128);
  }
  out.push(z);
  return Buffer.from(out);
}

/** Avro records are class instances: compare their JSON. */
const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;

async function codecs() {
  const registry = new LocalSchemaRegistry();
  const current = await new AvroCodec<Sequence>(CONTRACTS.sequences, registry).init();
  const old = await new AvroCodec<Sequence>({ topic: 'sequences.v1', schema: OLD_SCHEMA }, registry).init();
  const preProbe = await new AvroCodec<Sequence>(
    { topic: 'sequences.v1', schema: PRE_PROBE },
    registry,
  ).init();
  const preSampling = await new AvroCodec<Sequence>(
    { topic: 'sequences.v1', schema: PRE_SAMPLING },
    registry,
  ).init();
  return { current, old, preProbe, preSampling };
}

describe('sequences.v1 context.distinct_srcs (appended, default 0)', () => {
  it('is the last field of the schema, a long with default 0, and the only difference from the previous schema', () => {
    type Field = { name: string; type: unknown; default?: unknown };
    /** The fields of the record's last field's record type (EntityContext). */
    const fields = (schema: unknown): Field[] => {
      const last = (schema as { fields: Field[] }).fields.at(-1) as Field;
      return (last.type as { fields: Field[] }).fields;
    };
    const now = fields(PRE_SAMPLING);
    assert.deepEqual(now.at(-2), { name: 'distinct_srcs', type: 'long', default: 0 });
    assert.deepEqual(fields(CONTRACTS.sequences.schema), now);
    assert.deepEqual(fields(OLD_SCHEMA), now.slice(0, -2));
    assert.notEqual(
      LocalSchemaRegistry.idFor(OLD_SCHEMA),
      LocalSchemaRegistry.idFor(CONTRACTS.sequences.schema),
    );
  });

  it('a new message is the old one with the new schema id and the field as one more varint at the end', async () => {
    // Within the flows' layout before sampling_rate (its own block below).
    const { preSampling: current, old } = await codecs();
    for (const n of [0, 1, 63, 64, 4_276, 2 ** 40]) {
      const oldBytes = old.encode(sequence(undefined));
      const newBytes = current.encode(sequence(n));
      assert.equal(newBytes.readUInt32BE(1), current.schemaId);
      assert.deepEqual(
        newBytes.subarray(WIRE_HEADER_BYTES),
        Buffer.concat([oldBytes.subarray(WIRE_HEADER_BYTES), varint(n), varint(0)]),
      );
    }
    // An object without the member is written with the default.
    assert.deepEqual(current.encode(sequence(undefined)), current.encode(sequence(0)));
  });

  it('every reader of the current schema reads the value: codec, projection, hand decoder, batch columns', async () => {
    const { current } = await codecs();
    const reader = new SequenceReader(current);
    assert.ok(reader.handDecoding);
    const buf = current.encode(sequence(4_276));
    assert.equal(current.decode(buf).context.distinct_srcs, 4_276);
    assert.equal(reader.decode(buf).context.distinct_srcs, 4_276);
    assert.deepEqual(reader.decode(buf), decodeSequenceBody(buf, WIRE_HEADER_BYTES));
    const batch = new SequenceBatch();
    const i = reader.decodeInto(batch, buf);
    assert.equal(batch.distinctSrcs[i], 4_276);
    assert.equal(batch.sequence(i).context.distinct_srcs, 4_276);
    assert.equal(batch.select([i]).distinctSrcs[0], 4_276);
    const pushed = new SequenceBatch();
    pushed.push(sequence(undefined));
    assert.equal(pushed.distinctSrcs[0], 0);
  });

  it('a message of the current schema id that ends before the field is refused as truncated, as avsc refuses it', async () => {
    const { current } = await codecs();
    const reader = new SequenceReader(current);
    const buf = current.encode(sequence(4_276));
    const cut = buf.subarray(0, buf.length - varint(4_276).length - varint(0).length);
    assert.throws(
      () => reader.decode(cut),
      (e: unknown) => e instanceof SequenceDecodeError && /context distinct_srcs runs past/.test(e.message),
    );
    assert.throws(() => current.decode(cut), /truncated/);
    const batch = new SequenceBatch();
    assert.throws(() => reader.decodeInto(batch, cut), SequenceDecodeError);
    assert.equal(batch.count, 0);
  });

  it('a message from an earlier producer (the previous schema id) reads as 0 through schema resolution', async () => {
    const { current, old } = await codecs();
    const reader = new SequenceReader(current);
    const oldBytes = old.encode(sequence(undefined));
    const expected = reader.decode(current.encode(sequence(0)));
    assert.deepEqual(plain(await reader.decodeAsync(oldBytes)), plain(expected));
    assert.deepEqual(plain(reader.decode(oldBytes)), plain(expected)); // known once seen
    assert.equal((await current.decodeAsync(oldBytes)).context.distinct_srcs, 0);
    const batch = new SequenceBatch();
    const i = await reader.decodeIntoAsync(batch, oldBytes);
    assert.equal(batch.distinctSrcs[i], 0);
    assert.equal(batch.connections[i], 1);
    // A fresh process's local registry knows the previous schema without having seen a writer of it.
    const fresh = await new AvroCodec<Sequence>(CONTRACTS.sequences, new LocalSchemaRegistry()).init();
    assert.equal((await fresh.decodeAsync(oldBytes)).context.distinct_srcs, 0);
  });

  it("an earlier reader skips the field: the new schema id takes its resolution path, never its hand decoder's trailing-bytes check", async () => {
    const { current, old } = await codecs();
    const oldReader = new SequenceReader(old);
    assert.equal(oldReader.handDecoding, false);
    const newBytes = current.encode(sequence(4_276));
    const back = await old.decodeAsync(newBytes);
    assert.deepEqual(plain(back.context), { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1 });
    // What the earlier SequenceReader decoded with: its own schema without the flows' attack and origin.
    const projected = await old
      .project<Sequence>(withoutFields(OLD_SCHEMA, 'SequenceFlow', ['attack', 'origin']))
      .decodeAsync(newBytes);
    assert.deepEqual(plain(projected.context), { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1 });
    assert.equal(projected.flows[0]?.src_port, 161);
  });
});

describe('sequences.v1 context.distinct_probe_srcs (appended after distinct_srcs, default 0)', () => {
  it('is the last field of the schema, a long with default 0, and the only difference from the schema with distinct_srcs', () => {
    type Field = { name: string; type: unknown; default?: unknown };
    const fields = (schema: unknown): Field[] => {
      const last = (schema as { fields: Field[] }).fields.at(-1) as Field;
      return (last.type as { fields: Field[] }).fields;
    };
    const now = fields(CONTRACTS.sequences.schema);
    assert.deepEqual(now.at(-1), { name: 'distinct_probe_srcs', type: 'long', default: 0 });
    assert.deepEqual(fields(PRE_SAMPLING), now);
    assert.deepEqual(fields(PRE_PROBE), now.slice(0, -1));
    const ids = new Set(
      [PRE_FANIN, PRE_PROBE, PRE_SAMPLING, CONTRACTS.sequences.schema].map(LocalSchemaRegistry.idFor),
    );
    assert.equal(ids.size, 4);
  });

  it('a new message is the previous one with the new schema id and the field as one more varint at the end', async () => {
    const { preSampling: current, preProbe } = await codecs();
    for (const n of [0, 1, 63, 64, 3_700, 2 ** 40]) {
      const before = preProbe.encode(sequence(4_276));
      const now = current.encode(sequence(4_276, n));
      assert.equal(now.readUInt32BE(1), current.schemaId);
      assert.deepEqual(
        now.subarray(WIRE_HEADER_BYTES),
        Buffer.concat([before.subarray(WIRE_HEADER_BYTES), varint(n)]),
      );
    }
    assert.deepEqual(current.encode(sequence(4_276)), current.encode(sequence(4_276, 0)));
  });

  it('every reader of the current schema reads the value: codec, projection, hand decoder, batch columns', async () => {
    const { current } = await codecs();
    const reader = new SequenceReader(current);
    assert.ok(reader.handDecoding);
    const buf = current.encode(sequence(4_276, 3_700));
    assert.equal(current.decode(buf).context.distinct_probe_srcs, 3_700);
    assert.deepEqual(plain(reader.decode(buf).context), {
      distinct_dsts: 1,
      distinct_dst_ports: 1,
      connections: 1,
      distinct_srcs: 4_276,
      distinct_probe_srcs: 3_700,
    });
    assert.deepEqual(reader.decode(buf), decodeSequenceBody(buf, WIRE_HEADER_BYTES));
    const batch = new SequenceBatch();
    const i = reader.decodeInto(batch, buf);
    assert.equal(batch.distinctProbeSrcs[i], 3_700);
    assert.equal(batch.distinctSrcs[i], 4_276);
    assert.equal(batch.sequence(i).context.distinct_probe_srcs, 3_700);
    assert.equal(batch.select([i]).distinctProbeSrcs[0], 3_700);
    const pushed = new SequenceBatch();
    pushed.push(sequence(4_276));
    assert.equal(pushed.distinctProbeSrcs[0], 0);
    pushed.push(sequence(4_276, 9));
    assert.equal(pushed.distinctProbeSrcs[1], 9);
  });

  it('a message of the current schema id that ends before the field is refused as truncated, as avsc refuses it', async () => {
    const { current } = await codecs();
    const reader = new SequenceReader(current);
    const buf = current.encode(sequence(4_276, 3_700));
    const cut = buf.subarray(0, buf.length - varint(3_700).length);
    assert.throws(
      () => reader.decode(cut),
      (e: unknown) =>
        e instanceof SequenceDecodeError && /context distinct_probe_srcs runs past/.test(e.message),
    );
    assert.throws(() => current.decode(cut), /truncated/);
    const batch = new SequenceBatch();
    assert.throws(() => reader.decodeInto(batch, cut), SequenceDecodeError);
    assert.equal(batch.count, 0);
  });

  it('a message of the schema with distinct_srcs keeps it and reads distinct_probe_srcs as 0', async () => {
    const { current, preProbe } = await codecs();
    const reader = new SequenceReader(current);
    const before = preProbe.encode(sequence(4_276));
    const expected = reader.decode(current.encode(sequence(4_276, 0)));
    assert.deepEqual(plain(await reader.decodeAsync(before)), plain(expected));
    assert.deepEqual(plain(reader.decode(before)), plain(expected));
    const batch = new SequenceBatch();
    const i = await reader.decodeIntoAsync(batch, before);
    assert.equal(batch.distinctSrcs[i], 4_276);
    assert.equal(batch.distinctProbeSrcs[i], 0);
    const fresh = await new AvroCodec<Sequence>(CONTRACTS.sequences, new LocalSchemaRegistry()).init();
    assert.deepEqual(plain((await fresh.decodeAsync(before)).context), plain(expected.context));
    // The earliest schema (neither field) reads 0 for both.
    const { old } = await codecs();
    const earliest = await fresh.decodeAsync(old.encode(sequence(undefined)));
    assert.equal(earliest.context.distinct_srcs, 0);
    assert.equal(earliest.context.distinct_probe_srcs, 0);
  });

  it('a reader of the schema with distinct_srcs skips the field and keeps distinct_srcs', async () => {
    const { current, preProbe } = await codecs();
    const previousReader = new SequenceReader(preProbe);
    assert.equal(previousReader.handDecoding, false);
    const now = current.encode(sequence(4_276, 3_700));
    const back = await preProbe.decodeAsync(now);
    assert.deepEqual(plain(back.context), {
      distinct_dsts: 1,
      distinct_dst_ports: 1,
      connections: 1,
      distinct_srcs: 4_276,
    });
    const projected = await preProbe
      .project<Sequence>(withoutFields(PRE_PROBE, 'SequenceFlow', ['attack', 'origin']))
      .decodeAsync(now);
    assert.equal(projected.context.distinct_srcs, 4_276);
    assert.equal(projected.flows[0]?.src_port, 161);
  });
});

describe('sequences.v1 SequenceFlow.sampling_rate (appended, default 1)', () => {
  type Field = { name: string; type: unknown; default?: unknown };
  /** The fields of the flows' record type (SequenceFlow). */
  const flowFields = (schema: unknown): Field[] => {
    const flows = (schema as { fields: Field[] }).fields.find((f) => f.name === 'flows') as Field;
    return ((flows.type as { items: unknown }).items as { fields: Field[] }).fields;
  };
  /** Two flows of one conversation, sampled 1 in `rate` (undefined: the member left out). */
  const sampled = (rate: number | undefined): Sequence => {
    const s = sequence(4_276, 3_700);
    const f = s.flows[0] as Sequence['flows'][number];
    const second = {
      ...f,
      start_ms: f.start_ms + 1_000,
      end_ms: f.end_ms + 1_000,
      origin: 'sflow5:192.0.2.1',
    };
    s.flows = [f, second].map((x) => (rate === undefined ? x : { ...x, sampling_rate: rate }));
    return s;
  };

  it("is the flows' last field, a long with default 1, and the only difference from the previous schema", () => {
    assert.deepEqual(flowFields(CONTRACTS.sequences.schema).at(-1), {
      name: 'sampling_rate',
      type: 'long',
      default: 1,
    });
    assert.deepEqual(flowFields(PRE_SAMPLING), flowFields(CONTRACTS.sequences.schema).slice(0, -1));
    assert.deepEqual(
      withoutFields(CONTRACTS.sequences.schema, 'SequenceFlow', ['sampling_rate']),
      PRE_SAMPLING,
    );
  });

  it('a new message is the previous one with the new schema id and one more varint after each flow', async () => {
    const { current, preSampling } = await codecs();
    for (const rate of [1, 2, 64, 1_000, 2 ** 32 - 1]) {
      const before = preSampling.encode(sampled(undefined)).subarray(WIRE_HEADER_BYTES);
      const now = current.encode(sampled(rate));
      assert.equal(now.readUInt32BE(1), current.schemaId);
      // Each flow ends with its origin (a length, then the text): the rate follows it.
      const flowEnd = (origin: string, from: number) => before.indexOf(origin, from) + origin.length;
      const first = flowEnd('snmp.pcap:1', 0);
      const second = flowEnd('sflow5:192.0.2.1', first);
      assert.deepEqual(
        now.subarray(WIRE_HEADER_BYTES),
        Buffer.concat([
          before.subarray(0, first),
          varint(rate),
          before.subarray(first, second),
          varint(rate),
          before.subarray(second),
        ]),
      );
    }
    // An object without the member is written with the default.
    assert.deepEqual(current.encode(sampled(undefined)), current.encode(sampled(1)));
  });

  it('every reader of the current schema reads the value: codec, projection, hand decoder, batch columns', async () => {
    const { current } = await codecs();
    const reader = new SequenceReader(current);
    assert.ok(reader.handDecoding);
    const buf = current.encode(sampled(1_000));
    assert.deepEqual(
      current.decode(buf).flows.map((f) => f.sampling_rate),
      [1_000, 1_000],
    );
    assert.deepEqual(
      reader.decode(buf).flows.map((f) => f.sampling_rate),
      [1_000, 1_000],
    );
    assert.deepEqual(reader.decode(buf), decodeSequenceBody(buf, WIRE_HEADER_BYTES));
    const batch = new SequenceBatch();
    const i = reader.decodeInto(batch, buf);
    assert.deepEqual(Array.from(batch.samplingRate.subarray(0, 2)), [1_000, 1_000]);
    assert.equal(batch.sequence(i).flows[1]?.sampling_rate, 1_000);
    assert.deepEqual(Array.from(batch.select([i]).samplingRate.subarray(0, 2)), [1_000, 1_000]);
    const pushed = new SequenceBatch();
    pushed.push(sampled(undefined));
    assert.equal(pushed.samplingRate[0], 1);
  });

  it('a message from an earlier producer reads 1 through schema resolution', async () => {
    const { current, preSampling } = await codecs();
    const reader = new SequenceReader(current);
    const before = preSampling.encode(sampled(undefined));
    const expected = reader.decode(current.encode(sampled(1)));
    assert.deepEqual(plain(await reader.decodeAsync(before)), plain(expected));
    const batch = new SequenceBatch();
    await reader.decodeIntoAsync(batch, before);
    assert.deepEqual(Array.from(batch.samplingRate.subarray(0, 2)), [1, 1]);
    const fresh = await new AvroCodec<Sequence>(CONTRACTS.sequences, new LocalSchemaRegistry()).init();
    assert.equal((await fresh.decodeAsync(before)).flows[0]?.sampling_rate, 1);
  });

  it('a reader of the previous schema skips the field', async () => {
    const { current, preSampling } = await codecs();
    assert.equal(new SequenceReader(preSampling).handDecoding, false);
    const now = current.encode(sampled(1_000));
    const back = await preSampling.decodeAsync(now);
    assert.equal(back.flows.length, 2);
    assert.equal(back.flows[1]?.origin, 'sflow5:192.0.2.1');
    assert.equal('sampling_rate' in (back.flows[0] as object), false);
    assert.deepEqual(plain(back.context), plain(sampled(1).context));
  });
});
