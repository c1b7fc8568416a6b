import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AvroCodec,
  CONTRACTS,
  LocalSchemaRegistry,
  UnknownSchemaError,
  WireFormatError,
  createCodecs,
  type FlowRecord,
  type Sequence,
  withoutFields,
} from '../src/index.ts';

const flow: FlowRecord = {
  exporter: '192.0.2.1',
  observation_domain: 0,
  source_format: 'netflow5',
  start_ms: 1_700_000_000_000,
  end_ms: 1_700_000_001_500,
  protocol: 6,
  src_ip: '10.0.0.1',
  dst_ip: '2001:db8::1',
  src_port: 51000,
  dst_port: 443,
  fwd_bytes: 1200,
  fwd_pkts: 10,
  bwd_bytes: 0,
  bwd_pkts: 0,
  tcp_flags: 0x1b,
  sampling_rate: 1,
};

describe('AvroCodec', () => {
  it('round-trips a flow with the Confluent header and fills optional fields with null', async () => {
    const { flows } = await createCodecs();
    const buf = flows.encode(flow);
    assert.equal(buf[0], 0);
    assert.equal(buf.readUInt32BE(1), LocalSchemaRegistry.idFor(CONTRACTS.flows.schema));
    const back = flows.decode(buf);
    assert.deepEqual(
      { ...back, extra: { ...back.extra } },
      {
        ...flow,
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
      },
    );
  });

  it('derives the same schema id in every process without a registry server', () => {
    const a = LocalSchemaRegistry.idFor(CONTRACTS.sequences.schema);
    const b = LocalSchemaRegistry.idFor(JSON.parse(JSON.stringify(CONTRACTS.sequences.schema)));
    assert.equal(a, b);
    assert.notEqual(a, LocalSchemaRegistry.idFor(CONTRACTS.flows.schema));
  });

  it('rejects a message without the magic byte, naming what was wrong', async () => {
    const { flows } = await createCodecs();
    const buf = flows.encode(flow);
    buf[0] = 7;
    assert.throws(
      () => flows.decode(buf),
      (e: unknown) => e instanceof WireFormatError && /magic byte is 7/.test(e.message),
    );
    assert.throws(() => flows.decode(Buffer.from([0, 1])), WireFormatError);
  });

  it('reports an unknown schema id', async () => {
    const { flows } = await createCodecs();
    const buf = flows.encode(flow);
    buf.writeUInt32BE(12345, 1);
    assert.throws(() => flows.decode(buf), UnknownSchemaError);
    await assert.rejects(flows.decodeAsync(buf), UnknownSchemaError);
  });

  it('reads a message written with an older schema version through Avro resolution', async () => {
    const registry = new LocalSchemaRegistry();
    const current = CONTRACTS.flows.schema as unknown as { fields: { name: string }[] };
    const oldSchema = { ...current, fields: current.fields.filter((f) => f.name !== 'vlan') };
    const writer = await new AvroCodec<FlowRecord>(
      { topic: 'flows.v1', schema: oldSchema as never },
      registry,
    ).init();
    const reader = await new AvroCodec<FlowRecord>(CONTRACTS.flows, registry).init();
    const back = await reader.decodeAsync(writer.encode({ ...flow }));
    assert.equal(back.vlan, null);
    assert.equal(back.fwd_bytes, 1200);
  });

  it('a projection decodes into a reader schema that leaves fields out, from any writer version', async () => {
    const registry = new LocalSchemaRegistry();
    const codec = await new AvroCodec<Sequence>(CONTRACTS.sequences, registry).init();
    const reader = withoutFields(CONTRACTS.sequences.schema, 'SequenceFlow', ['attack', 'origin']);
    const projection = codec.project<Sequence>(reader);
    const seqFlow = (i: number, attack: string | null) => ({
      start_ms: 1_700_000_000_000 + i,
      end_ms: 1_700_000_000_900 + i,
      protocol: 6,
      src_port: 40_000 + i,
      dst_port: 443,
      fwd_bytes: 2 ** 40 + i,
      fwd_pkts: 3,
      bwd_bytes: 900,
      bwd_pkts: 2,
      tcp_flags: 0x1b,
      label: attack ? 1 : i % 2 === 0 ? 0 : null,
      attack,
      origin: `capture.csv:${'x'.repeat(200 * i)}${i}`,
    });
    const seq: Sequence = {
      sequence_id: '00000000-0000-5000-8000-000000000001',
      src_ip: '10.0.0.1',
      dst_ip: '2001:db8::1',
      window_start_ms: 1_700_000_000_000,
      window_end_ms: 1_700_000_300_000,
      part: 2,
      flows: [seqFlow(0, null), seqFlow(1, 'C&C-Torii'), seqFlow(2, null)],
      context: { distinct_dsts: 3, distinct_dst_ports: 4, connections: 5 },
    };
    const buf = codec.encode(seq);
    const full = codec.decode(buf);
    const projected = projection.decode(buf);
    // Everything but the two left-out members, which are absent (not null).
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
    const expected = { ...full, flows: full.flows.map(({ attack: _a, origin: _o, ...rest }) => rest) };
    assert.deepEqual(plain(projected), plain(expected));
    assert.ok(projected.flows.every((f) => !('origin' in f) && !('attack' in f)));
    assert.throws(() => projection.decode(buf.subarray(0, buf.length - 3)), /truncated/);
    assert.throws(() => projection.decode(Buffer.concat([buf, Buffer.from([0])])), /trailing/);
    // An older writer (flows without label): unknown to the projection until the registry answers.
    const oldSchema = withoutFields(CONTRACTS.sequences.schema, 'SequenceFlow', ['label']);
    assert.notDeepEqual(oldSchema, CONTRACTS.sequences.schema);
    const writer = await new AvroCodec<Sequence>(
      { topic: 'sequences.v1', schema: oldSchema },
      registry,
    ).init();
    const old = writer.encode(seq);
    assert.throws(() => projection.decode(old), UnknownSchemaError);
    const back = await projection.decodeAsync(old);
    assert.deepEqual(
      back.flows.map((f) => [f.label, f.fwd_bytes, f.dst_port]),
      seq.flows.map((f) => [null, f.fwd_bytes, f.dst_port]),
    );
    assert.ok(projection.decode(old)); // now known
  });
});
