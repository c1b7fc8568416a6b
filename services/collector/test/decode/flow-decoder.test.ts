import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FlowDecoder } from '../../src/decode/index.ts';

/** Builders for hand-made datagrams (RFC 3954 / RFC 7011 / Cisco v5 / sFlow v5 layouts). */
type Field = [id: number, len: number, pen?: number];

function set(id: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(4);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([h, body]);
}

function templateRecord(id: number, fields: Field[], scopeCount?: number): Buffer {
  const parts: Buffer[] = [];
  const h = Buffer.alloc(scopeCount === undefined ? 4 : 6);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(fields.length, 2);
  if (scopeCount !== undefined) h.writeUInt16BE(scopeCount, 4);
  parts.push(h);
  for (const [ie, len, pen] of fields) {
    const f = Buffer.alloc(pen === undefined ? 4 : 8);
    f.writeUInt16BE(pen === undefined ? ie : ie | 0x8000, 0);
    f.writeUInt16BE(len, 2);
    if (pen !== undefined) f.writeUInt32BE(pen, 4);
    parts.push(f);
  }
  return Buffer.concat(parts);
}

function ipfix(domain: number, seq: number, exportSecs: number, ...sets: Buffer[]): Buffer {
  const body = Buffer.concat(sets);
  const h = Buffer.alloc(16);
  h.writeUInt16BE(10, 0);
  h.writeUInt16BE(16 + body.length, 2);
  h.writeUInt32BE(exportSecs, 4);
  h.writeUInt32BE(seq, 8);
  h.writeUInt32BE(domain, 12);
  return Buffer.concat([h, body]);
}

function v9(sourceId: number, seq: number, uptime: number, unixSecs: number, ...sets: Buffer[]): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(9, 0);
  h.writeUInt16BE(sets.length, 2);
  h.writeUInt32BE(uptime, 4);
  h.writeUInt32BE(unixSecs, 8);
  h.writeUInt32BE(seq, 12);
  h.writeUInt32BE(sourceId, 16);
  return Buffer.concat([h, ...sets]);
}

function bytes(...values: [number, number][]): Buffer {
  return Buffer.concat(
    values.map(([v, len]) => {
      const b = Buffer.alloc(len);
      if (len === 8) b.writeBigUInt64BE(BigInt(v));
      else b.writeUIntBE(v, 0, len);
      return b;
    }),
  );
}

const ip = (s: string): [number, number] => [s.split('.').reduce((a, o) => a * 256 + Number(o), 0), 4];
const ctx = (exporter = '192.0.2.1', receivedAtMs = 1_700_000_000_000) => ({ exporter, receivedAtMs });
const T5: Field[] = [
  [8, 4],
  [12, 4],
  [7, 2],
  [11, 2],
  [4, 1],
  [1, 4],
  [2, 4],
];
const rec5 = (src: string, dst: string, sport: number, dport: number, bytesN: number) =>
  bytes(ip(src), ip(dst), [sport, 2], [dport, 2], [6, 1], [bytesN, 4], [3, 4]);

describe('FlowDecoder: IPFIX templates', () => {
  test('decodes data with its template; keys templates by exporter and domain', () => {
    const d = new FlowDecoder();
    const out = d.decode(
      ipfix(
        1,
        0,
        1_700_000_000,
        set(2, templateRecord(256, T5)),
        set(256, rec5('10.0.0.1', '10.0.0.2', 1234, 80, 500)),
      ),
      ctx(),
    );
    assert.equal(out.length, 1);
    const r = out[0];
    assert.deepEqual(
      [
        r?.src_ip,
        r?.dst_ip,
        r?.src_port,
        r?.dst_port,
        r?.protocol,
        r?.fwd_bytes,
        r?.fwd_pkts,
        r?.source_format,
        r?.observation_domain,
      ],
      ['10.0.0.1', '10.0.0.2', 1234, 80, 6, 500, 3, 'ipfix', 1],
    );
    // same template id, other domain or other exporter: unknown there
    assert.equal(
      d.decode(ipfix(2, 0, 1_700_000_000, set(256, rec5('10.0.0.1', '10.0.0.2', 1, 2, 3))), ctx()).length,
      0,
    );
    assert.equal(
      d.decode(ipfix(1, 0, 1_700_000_000, set(256, rec5('10.0.0.1', '10.0.0.2', 1, 2, 3))), ctx('192.0.2.9'))
        .length,
      0,
    );
    assert.equal(d.snapshot().totals.templateMisses, 2);
  });

  test('withdrawal, redefinition mid-stream and expiry', () => {
    const d = new FlowDecoder({ templateTtlMs: 60_000 });
    d.decode(ipfix(1, 0, 1_700_000_000, set(2, templateRecord(256, T5))), ctx());
    // redefinition: same id, different layout
    const t2: Field[] = [
      [12, 4],
      [8, 4],
      [1, 8],
    ];
    const out = d.decode(
      ipfix(
        1,
        0,
        1_700_000_000,
        set(2, templateRecord(256, t2)),
        set(256, bytes(ip('10.9.9.9'), ip('10.1.1.1'), [2 ** 40, 8])),
      ),
      ctx(),
    );
    assert.deepEqual([out[0]?.src_ip, out[0]?.dst_ip, out[0]?.fwd_bytes], ['10.1.1.1', '10.9.9.9', 2 ** 40]);
    // withdrawal (field count 0)
    d.decode(ipfix(1, 1, 1_700_000_000, set(2, bytes([256, 2], [0, 2]))), ctx());
    assert.equal(d.templatesActive('192.0.2.1', 1), 0);
    assert.equal(d.snapshot().domains[0]?.templatesWithdrawn, 1);
    // expiry
    d.decode(ipfix(1, 1, 1_700_000_000, set(2, templateRecord(257, T5))), ctx());
    const late = d.decode(
      ipfix(1, 1, 1_700_000_000, set(257, rec5('10.0.0.1', '10.0.0.2', 1, 2, 3))),
      ctx('192.0.2.1', 1_700_000_000_000 + 61_000),
    );
    assert.equal(late.length, 0);
    assert.equal(d.snapshot().domains[0]?.templatesExpired, 1);
  });

  test('data before template is held and replayed when the template arrives', () => {
    const d = new FlowDecoder();
    assert.equal(
      d.decode(
        ipfix(
          1,
          0,
          1_700_000_000,
          set(256, rec5('10.0.0.1', '10.0.0.2', 1, 2, 3), rec5('10.0.0.3', '10.0.0.4', 5, 6, 7)),
        ),
        ctx(),
      ).length,
      0,
    );
    const out = d.decode(ipfix(1, 2, 1_700_000_000, set(2, templateRecord(256, T5))), ctx());
    assert.deepEqual(
      out.map((r) => r.src_ip),
      ['10.0.0.1', '10.0.0.3'],
    );
    const s = d.snapshot().domains[0];
    assert.deepEqual(
      [s?.templateMisses, s?.pendingBuffered, s?.pendingReplayed, s?.pendingDrops],
      [1, 1, 1, 0],
    );
  });

  test('variable-length, enterprise and reverse (RFC 5103) elements; padding', () => {
    const d = new FlowDecoder();
    const fields: Field[] = [
      [8, 4],
      [12, 4],
      [1, 8],
      [2, 8],
      [1, 8, 29305],
      [2, 8, 29305],
      [96, 65535],
      [4321, 2, 41916],
      [7, 2, 99999],
    ];
    const data = Buffer.concat([
      bytes(ip('10.0.0.1'), ip('10.0.0.2'), [100, 8], [2, 8], [900, 8], [3, 8]),
      Buffer.from([4]),
      Buffer.from('http'),
      bytes([7, 2], [42, 2]),
      Buffer.from([0, 0, 0]), // set padding
    ]);
    const out = d.decode(
      ipfix(5, 0, 1_700_000_000, set(2, templateRecord(300, fields)), set(300, data)),
      ctx(),
    );
    assert.equal(out.length, 1);
    const r = out[0];
    assert.deepEqual([r?.fwd_bytes, r?.fwd_pkts, r?.bwd_bytes, r?.bwd_pkts], [100, 2, 900, 3]);
    assert.deepEqual(r?.extra, { applicationName: 'http', viptelaVPNId: '7', pen99999_7: '42' });
    assert.equal(d.snapshot().totals.errors, 0);
  });

  test('timestamps: seconds, milliseconds, NTP microseconds, delta microseconds', () => {
    const d = new FlowDecoder();
    const exportSecs = 1_700_000_000;
    const ntp = (ms: number): [number, number][] => [
      [Math.floor(ms / 1000) + 2208988800, 4],
      [Math.floor(((ms % 1000) / 1000) * 2 ** 32), 4],
    ];
    const m = ipfix(
      1,
      0,
      exportSecs,
      set(
        2,
        templateRecord(256, [
          [150, 4],
          [151, 4],
        ]),
        templateRecord(257, [
          [152, 8],
          [153, 8],
        ]),
        templateRecord(258, [
          [154, 8],
          [155, 8],
        ]),
        templateRecord(259, [
          [158, 4],
          [159, 4],
        ]),
      ),
      set(256, bytes([exportSecs - 10, 4], [exportSecs - 5, 4])),
      set(257, bytes([1_699_999_990_123, 8], [1_699_999_995_456, 8])),
      set(258, bytes(...ntp(1_699_999_990_250), ...ntp(1_699_999_991_500))),
      set(259, bytes([3_000_000, 4], [1_000_000, 4])),
    );
    const out = d.decode(m, ctx());
    assert.deepEqual(
      out.map((r) => [r.start_ms, r.end_ms]),
      [
        [1_699_999_990_000, 1_699_999_995_000],
        [1_699_999_990_123, 1_699_999_995_456],
        [1_699_999_990_250, 1_699_999_991_500],
        [1_699_999_997_000, 1_699_999_999_000],
      ],
    );
  });

  test('sequence gaps count lost data records per domain', () => {
    const d = new FlowDecoder();
    const tpl = set(2, templateRecord(256, T5));
    const two = set(256, rec5('10.0.0.1', '10.0.0.2', 1, 2, 3), rec5('10.0.0.1', '10.0.0.2', 1, 2, 3));
    d.decode(ipfix(1, 100, 1_700_000_000, tpl, two), ctx());
    d.decode(ipfix(1, 102, 1_700_000_000, two), ctx()); // in order
    d.decode(ipfix(1, 110, 1_700_000_000, two), ctx()); // 6 records lost
    assert.equal(d.snapshot().domains[0]?.sequenceLostRecords, 6);
  });
});

describe('FlowDecoder: NetFlow v9 options', () => {
  test('sampling rate per sampler id and interface names from options data apply to records', () => {
    const d = new FlowDecoder();
    // options template 300: scope interface (type 2, 4 bytes); fields interfaceName (82, 16)
    const ifOpt = Buffer.concat([
      bytes([300, 2], [4, 2], [4, 2]),
      bytes([2, 2], [4, 2]),
      bytes([82, 2], [16, 2]),
    ]);
    // options template 301: scope system; samplerId (48, 1), samplingInterval (34, 4)
    const smpOpt = Buffer.concat([
      bytes([301, 2], [4, 2], [8, 2]),
      bytes([1, 2], [4, 2]),
      bytes([48, 2], [1, 2], [34, 2], [4, 2]),
    ]);
    const name = Buffer.alloc(16);
    name.write('Gi0/0/1');
    const flowT: Field[] = [
      [8, 4],
      [12, 4],
      [10, 4],
      [48, 1],
      [22, 4],
      [21, 4],
      [1, 4],
      [2, 4],
    ];
    const uptime = 1_000_000;
    const unix = 1_700_000_000;
    const out = d.decode(
      v9(
        7,
        0,
        uptime,
        unix,
        set(1, ifOpt, smpOpt),
        set(0, templateRecord(400, flowT)),
        set(300, bytes([5, 4]), name),
        set(301, bytes([0, 4], [3, 1], [512, 4])),
        set(
          400,
          bytes(
            ip('10.0.0.1'),
            ip('10.0.0.2'),
            [5, 4],
            [3, 1],
            [uptime - 3000, 4],
            [uptime - 1000, 4],
            [1500, 4],
            [1, 4],
          ),
        ),
      ),
      ctx(),
    );
    assert.equal(out.length, 1);
    const r = out[0];
    assert.equal(r?.sampling_rate, 512);
    assert.equal(r?.fwd_bytes, 1500); // as exported, not scaled
    assert.equal(r?.extra?.in_if_name, 'Gi0/0/1');
    assert.deepEqual([r?.start_ms, r?.end_ms], [unix * 1000 - 3000, unix * 1000 - 1000]);
    assert.equal(d.snapshot().domains[0]?.optionsRecords, 2);
  });

  test('v9 sequence counts datagrams', () => {
    const d = new FlowDecoder();
    const t = set(0, templateRecord(256, T5));
    d.decode(v9(1, 10, 5000, 1_700_000_000, t), ctx());
    d.decode(v9(1, 11, 5000, 1_700_000_000, t), ctx());
    d.decode(v9(1, 15, 5000, 1_700_000_000, t), ctx());
    assert.equal(d.snapshot().domains[0]?.sequenceLostDatagrams, 3);
  });
});

describe('FlowDecoder: NSEL event times', () => {
  // Cisco ASA's teardown/update templates: conn id, addresses, ports, protocol, event,
  // NF_F_EVENT_TIME_MSEC (323), NF_F_FLOW_CREATE_TIME_MSEC (152), initiator/responder bytes.
  const T: Field[] = [
    [148, 4],
    [8, 4],
    [12, 4],
    [7, 2],
    [11, 2],
    [4, 1],
    [233, 1],
    [323, 8],
    [152, 8],
    [231, 4],
    [232, 4],
  ];
  const created = 1_700_000_000_000;
  const rec = (id: number, event: number, eventMs: number, createMs: number) =>
    bytes(
      [id, 4],
      ip('10.0.0.1'),
      ip('10.0.0.2'),
      [50_000, 2],
      [443, 2],
      [6, 1],
      [event, 1],
      [eventMs, 8],
      [createMs, 8],
      [1800, 4],
      [30_000, 4],
    );

  test("a teardown or update lasts from the connection's creation to the event; the event time stays in extra", () => {
    const d = new FlowDecoder();
    const out = d.decode(
      v9(
        1,
        0,
        10_000,
        1_700_000_100,
        set(0, templateRecord(263, T)),
        set(
          263,
          rec(1, 5, created + 61_000, created),
          rec(1, 2, created + 63_500, created),
          rec(2, 2, created - 5, created),
        ),
      ),
      ctx(),
    );
    assert.deepEqual(
      out.map((r) => [r.start_ms, r.end_ms, r.extra?.observationTimeMilliseconds, r.fwd_bytes, r.bwd_bytes]),
      [
        [created, created + 61_000, String(created + 61_000), 1800, 30_000],
        [created, created + 63_500, String(created + 63_500), 1800, 30_000],
        // an event time before the creation time says nothing about the end
        [created, created, String(created - 5), 1800, 30_000],
      ],
    );
  });

  test('a record with an event time and no other time happened then, not when it was exported', () => {
    const d = new FlowDecoder();
    const t: Field[] = [
      [8, 4],
      [12, 4],
      [233, 1],
      [323, 8],
    ];
    const [r] = d.decode(
      v9(
        1,
        0,
        10_000,
        1_700_000_100,
        set(0, templateRecord(260, t)),
        set(260, bytes(ip('10.0.0.1'), ip('10.0.0.2'), [3, 1], [created, 8])),
      ),
      ctx(),
    );
    assert.deepEqual([r?.start_ms, r?.end_ms], [created, created]);
  });
});

describe('FlowDecoder: NetFlow v5 and sFlow v5', () => {
  test('v5: records, header sampling, lost flows by sequence', () => {
    const mk = (seq: number, count: number) => {
      const b = Buffer.alloc(24 + 48 * count);
      b.writeUInt16BE(5, 0);
      b.writeUInt16BE(count, 2);
      b.writeUInt32BE(10_000, 4);
      b.writeUInt32BE(1_700_000_000, 8);
      b.writeUInt32BE(seq, 16);
      b.writeUInt16BE(0x4000 | 100, 22);
      for (let i = 0; i < count; i++) {
        const o = 24 + 48 * i;
        b.writeUInt32BE(0x0a000001, o);
        b.writeUInt32BE(0x0a000002, o + 4);
        b.writeUInt32BE(4, o + 16);
        b.writeUInt32BE(400, o + 20);
        b.writeUInt32BE(9_000, o + 24);
        b.writeUInt32BE(9_500, o + 28);
        b.writeUInt16BE(443, o + 32);
        b.writeUInt16BE(50_000, o + 34);
        b[o + 38] = 6;
      }
      return b;
    };
    const d = new FlowDecoder();
    const out = d.decode(mk(0, 2), ctx());
    assert.deepEqual(
      [
        out[0]?.src_ip,
        out[0]?.fwd_pkts,
        out[0]?.fwd_bytes,
        out[0]?.sampling_rate,
        out[0]?.start_ms,
        out[0]?.end_ms,
      ],
      ['10.0.0.1', 4, 400, 100, 1_700_000_000_000 - 1000, 1_700_000_000_000 - 500],
    );
    d.decode(mk(2, 1), ctx());
    d.decode(mk(10, 1), ctx());
    assert.equal(d.snapshot().domains[0]?.sequenceLostRecords, 7);
  });

  test('sFlow: raw Ethernet/802.1Q/IPv4/TCP header, sampling rate from the sample, counter samples counted', () => {
    const frame = Buffer.alloc(14 + 4 + 20 + 20);
    frame.writeUInt16BE(0x8100, 12);
    frame.writeUInt16BE(42, 14);
    frame.writeUInt16BE(0x0800, 16);
    const ipo = 18;
    frame[ipo] = 0x45;
    frame.writeUInt16BE(1400, ipo + 2);
    frame[ipo + 9] = 6;
    frame.writeUInt32BE(0xc0a80001, ipo + 12);
    frame.writeUInt32BE(0xc0a80002, ipo + 16);
    frame.writeUInt16BE(33000, ipo + 20);
    frame.writeUInt16BE(22, ipo + 22);
    frame[ipo + 20 + 13] = 0x12;
    const rawHeader = Buffer.concat([bytes([1, 4], [1418, 4], [4, 4], [frame.length, 4]), frame]);
    const flowRecord = Buffer.concat([bytes([1, 4], [rawHeader.length, 4]), rawHeader]);
    const flowSample = Buffer.concat([
      bytes([1, 4], [3, 4], [2048, 4], [100_000, 4], [0, 4], [7, 4], [8, 4], [1, 4]),
      flowRecord,
    ]);
    const counter = bytes([2, 4], [8, 4], [1, 4], [0, 4]);
    const dg = Buffer.concat([
      bytes([5, 4], [1, 4], ip('172.16.0.1'), [0, 4], [1, 4], [12345, 4], [2, 4]),
      bytes([1, 4], [flowSample.length, 4]),
      flowSample,
      counter,
    ]);
    const d = new FlowDecoder();
    const out = d.decode(dg, ctx('172.16.0.1'));
    assert.equal(out.length, 1);
    const r = out[0];
    assert.deepEqual(
      [
        r?.src_ip,
        r?.dst_ip,
        r?.src_port,
        r?.dst_port,
        r?.protocol,
        r?.tcp_flags,
        r?.vlan,
        r?.fwd_bytes,
        r?.fwd_pkts,
        r?.sampling_rate,
        r?.in_if,
        r?.out_if,
      ],
      ['192.168.0.1', '192.168.0.2', 33000, 22, 6, 0x12, 42, 1418, 1, 2048, 7, 8],
    );
    assert.equal(d.snapshot().totals.counterSamples, 1);
  });

  test('unknown versions and short datagrams are counted, never thrown', () => {
    const d = new FlowDecoder();
    for (const b of [Buffer.alloc(0), Buffer.from([0, 7, 0, 0]), Buffer.from([0, 9, 0])])
      assert.deepEqual(d.decode(b, ctx()), []);
    assert.deepEqual(d.snapshot().errorsByReason, { truncated_header: 2, unsupported_version: 1 });
  });
});
