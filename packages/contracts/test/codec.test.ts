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
});
