import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { needsShared, sharedPath } from '@tidewatch/testing';
import { decodeFlowFiles } from '../src/capture/flow-files.ts';
import { FlowDecoder } from '../src/decode/index.ts';
import { FlowAvroWriter } from '../src/flow-avro-writer.ts';

function base(): FlowRecord {
  return {
    exporter: '192.0.2.1',
    observation_domain: 0,
    source_format: 'ipfix',
    start_ms: 1_700_000_000_000,
    end_ms: 1_700_000_000_500,
    protocol: 6,
    src_ip: '10.0.0.1',
    dst_ip: '2001:db8::1',
    src_port: 1024,
    dst_port: 443,
    fwd_bytes: 100,
    fwd_pkts: 1,
    bwd_bytes: 0,
    bwd_pkts: 0,
    tcp_flags: 2,
    sampling_rate: 1,
  };
}

describe('FlowAvroWriter', () => {
  test('writes exactly the bytes avsc writes, for edge values and for records avsc must handle', async () => {
    const { flows } = await createCodecs();
    const w = new FlowAvroWriter(flows);
    const cases: FlowRecord[] = [
      base(),
      { ...base(), in_if: 0, out_if: 2 ** 32 - 1, src_as: 4_200_000_000, dst_as: null, vlan: 4095 },
      { ...base(), icmp_type: 3, icmp_code: 13, protocol: 1, tcp_flags: 0 },
      { ...base(), fwd_bytes: 2 ** 40 + 7, fwd_pkts: 2 ** 33, bwd_bytes: 2 ** 31, bwd_pkts: 2 ** 30 - 1 },
      { ...base(), fwd_bytes: 2 ** 30, bwd_bytes: 2 ** 30 + 1, bwd_pkts: 63, fwd_pkts: 64 },
      { ...base(), start_ms: -1, end_ms: -(2 ** 40), observation_domain: 2 ** 32 - 1 },
      { ...base(), start_ms: 2 ** 52 - 1, end_ms: -(2 ** 52) + 1 },
      { ...base(), start_ms: 2 ** 53 - 2 }, // beyond the writer's own range: avsc writes it
      { ...base(), extra: {} },
      { ...base(), extra: { a: '', ipNextHopIPv4Address: '10.0.0.1', ['x'.repeat(70)]: 'y'.repeat(200) } },
      { ...base(), extra: Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, String(i)])) },
      { ...base(), extra: { interfaceName: 'Gi0/0/1 — uplink ü', '2': 'integer-like key first' } },
      { ...base(), exporter: 'rtr-ß' },
      { ...base(), label: 1, attack: 'dos' },
      { ...base(), src_port: 65535, dst_port: 0, protocol: 255, tcp_flags: 511 },
    ];
    for (const [i, f] of cases.entries()) {
      const ours = w.encode(f);
      assert.deepEqual([...ours], [...flows.encode(f)], `case ${i}`);
      assert.deepEqual(flows.decode(ours).extra, f.extra ?? {}, `case ${i} decodes`);
    }
  });

  test('refuses what the schema refuses, with avsc’s error, and keeps earlier messages intact', async () => {
    const { flows } = await createCodecs();
    const w = new FlowAvroWriter(flows);
    const first = w.encode(base());
    const copy = Buffer.from(first);
    for (const bad of [
      { ...base(), src_port: 1.5 },
      { ...base(), protocol: 2 ** 31 },
      { ...base(), fwd_bytes: Number.NaN },
      { ...base(), in_if: '3' },
      { ...base(), extra: { n: 1 } },
      { ...base(), extra: null },
      { ...base(), src_ip: undefined },
    ] as unknown as FlowRecord[])
      assert.throws(() => w.encode(bad), /invalid/);
    assert.deepEqual(first, copy, 'a refused record does not overwrite a message already handed out');
    assert.deepEqual(flows.decode(w.encode(base())), flows.decode(copy));
  });

  test('messages stay valid across slabs (thousands of records, each its own view)', async () => {
    const { flows } = await createCodecs();
    const w = new FlowAvroWriter(flows);
    const records: FlowRecord[] = Array.from({ length: 6000 }, (_, i) => ({
      ...base(),
      src_ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
      start_ms: 1_700_000_000_000 + i * 37,
      fwd_bytes: i * 1_000_003,
      in_if: i % 3 === 0 ? null : i,
      extra: i % 2 === 0 ? { ipNextHopIPv4Address: '10.0.0.1', note: 'n'.repeat(i % 300) } : undefined,
    }));
    const encoded = records.map((r) => w.encode(r));
    for (let i = 0; i < records.length; i++)
      assert.deepEqual(encoded[i], flows.encode(records[i] as FlowRecord), `record ${i}`);
  });

  test('every decoded vendor sample record encodes to avsc’s bytes', {
    skip: needsShared().skip,
  }, async () => {
    const { flows } = await createCodecs();
    const w = new FlowAvroWriter(flows);
    const root = sharedPath('testdata', 'flows');
    let n = 0;
    for (const sample of readdirSync(root).filter((d) => !d.endsWith('.md'))) {
      const dir = join(root, sample);
      const files = readdirSync(dir)
        .filter((f) => f !== 'expected.json')
        .map((f) => join(dir, f));
      await decodeFlowFiles(
        files,
        (r) => {
          assert.deepEqual(w.encode(r), flows.encode(r), sample);
          n++;
        },
        { decoder: new FlowDecoder(), receivedAtMs: Date.UTC(2024, 0, 1) },
      );
    }
    assert.ok(n > 500, `only ${n} records`);
  });
});
