import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createCodecs,
  type FlowRecord,
  LocalSchemaRegistry,
  type Sequence,
  type SequenceFlow,
} from '@tidewatch/contracts';
import { toSequenceFlow } from '../src/conversation-flow.ts';
import {
  encodeWindow,
  FlowDecoder,
  OpenWindow,
  InMemoryEntityStats,
  PartitionSequencer,
  SequenceEncoder,
  sequencingSpec,
  windowContribution,
  windowSequences,
} from '../src/index.ts';
import { flow, rng } from './helpers.ts';

const codecs = await createCodecs(new LocalSchemaRegistry());
const random = rng(11);
/** The largest long avsc reads or writes as a number. */
const MAX_LONG = 2 ** 53 - 2;
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
const int = (max: number) => Math.floor(random() * max);
/** Values across varint widths and signs, up to the safe-integer limits. */
const long = () =>
  pick([
    0,
    1,
    -1,
    63,
    64,
    -65,
    2 ** 28,
    2 ** 31 + 5,
    -(2 ** 40) - 3,
    1_700_000_123_456,
    MAX_LONG,
    -MAX_LONG,
    int(1e9),
  ]);
const text = () =>
  pick(['', '10.0.0.1', '2001:db8::1', 'fe80::1%eth0', 'ünïcödé→✓', 'x'.repeat(200), `h${int(1000)}`]);

function randomFlow(): FlowRecord {
  return flow({
    exporter: text(),
    observation_domain: long(),
    source_format: pick(['netflow5', 'ipfix', 'zeek_conn'] as const),
    start_ms: long(),
    end_ms: long(),
    protocol: pick([6, 17, 1, -5, 2 ** 30]),
    src_ip: text(),
    dst_ip: text(),
    src_port: int(65536),
    dst_port: int(65536),
    fwd_bytes: long(),
    fwd_pkts: long(),
    bwd_bytes: long(),
    bwd_pkts: long(),
    tcp_flags: int(256),
    sampling_rate: long(),
    in_if: pick([null, long()]),
    out_if: pick([null, long()]),
    src_as: pick([null, long()]),
    dst_as: pick([null, long()]),
    vlan: pick([null, int(4096)]),
    icmp_type: pick([null, int(256)]),
    icmp_code: pick([null, int(256)]),
    label: pick([null, 0, 1]),
    attack: pick([null, text()]),
    extra: pick<Record<string, string>>([
      {},
      { origin: text() },
      { a: text(), ü: text(), origin: 'zeek:sensor-1' },
    ]),
  });
}

describe('FlowDecoder', () => {
  const decoder = new FlowDecoder(codecs.flows);

  it('decodes what avsc decodes, field for field, over varint widths, nulls, maps and UTF-8', () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = codecs.flows.encode(randomFlow());
      assert.deepEqual(decoder.decode(bytes), { ...codecs.flows.decode(bytes) });
    }
  });

  it('decodes into one reused record with decodeTransient, with the same values', () => {
    const bytes = Array.from({ length: 50 }, () => codecs.flows.encode(randomFlow()));
    const first = decoder.decodeTransient(bytes[0] as Buffer);
    for (const b of bytes) {
      const reused = decoder.decodeTransient(b);
      assert.equal(reused, first);
      assert.deepEqual({ ...reused, extra: { ...reused.extra } }, decoder.decode(b));
    }
  });

  it('gives the same sequences and outcomes through pushTransient as through push (kept halves are copies)', () => {
    const spec = sequencingSpec({ allowed_lateness_ms: 20_000 });
    const records = Array.from({ length: 400 }, (_, i) =>
      flow({
        source_format: i % 3 === 0 ? 'zeek_conn' : 'netflow9',
        bwd_bytes: i % 3 === 0 ? 10 : 0,
        bwd_pkts: i % 3 === 0 ? 1 : 0,
        src_ip: i % 2 ? '10.0.0.1' : '10.0.0.2',
        dst_ip: i % 2 ? '10.0.0.2' : '10.0.0.1',
        src_port: i % 2 ? 40000 : 443,
        dst_port: i % 2 ? 443 : 40000,
        start_ms: 1_700_000_000_000 + i * 3000 - (i % 5) * 100_000,
        fwd_bytes: i,
        extra: i % 4 === 0 ? { origin: `o${i}` } : {},
      }),
    );
    const bytes = records.map((r) => codecs.flows.encode(r));
    const run = (transient: boolean) => {
      const sequencer = new PartitionSequencer(spec);
      const stats = new InMemoryEntityStats();
      const out: unknown[] = [];
      const late: unknown[] = [];
      const outcomes: string[] = [];
      bytes.forEach((b, i) => {
        outcomes.push(
          transient
            ? sequencer.pushTransient(decoder.decodeTransient(b), i)
            : sequencer.push(decoder.decode(b), i),
        );
        stats.applySync(sequencer.seal().map(windowContribution));
        late.push(...sequencer.takeLate().map((f) => ({ ...f })));
        for (const w of sequencer.takeEmittable())
          out.push(...windowSequences(w, stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms), spec));
      });
      return { out, late, outcomes };
    };
    const plain = run(false);
    assert.ok(plain.outcomes.includes('late') && plain.out.length > 0);
    assert.deepEqual(run(true), plain);
  });

  it('places flows by their address bytes (decodeDeferred) with the bytes, outcomes and late records of decode + push', () => {
    const spec = sequencingSpec({ allowed_lateness_ms: 20_000, max_flows: 3 });
    // Few addresses (windows of several flows), UTF-8 and long ones; unidirectional records
    // (stitched, so their strings are set) and records late enough to be routed (their addresses set).
    const address = () => pick(['10.0.0.1', '10.0.0.2', '2001:db8::1', 'ünïcödé→✓', 'x'.repeat(60), '']);
    const records = Array.from({ length: 1500 }, (_, i) => {
      const stitched = i % 5 === 0;
      return flow({
        source_format: stitched ? 'netflow9' : 'zeek_conn',
        bwd_bytes: stitched ? 0 : int(1000),
        bwd_pkts: stitched ? 0 : 1 + int(5),
        src_ip: address(),
        dst_ip: address(),
        src_port: pick([443, 40000, 53]),
        dst_port: pick([443, 40000, 53]),
        start_ms: 1_700_000_000_000 + i * 1000 - int(5) * 8_000,
        end_ms: 1_700_000_000_000 + i * 1000,
        fwd_bytes: long(),
        label: pick([null, 0, 1]),
        attack: pick([null, 'scan', 'ünï']),
        extra: i % 4 === 0 ? { origin: `o${i % 3}` } : {},
      });
    });
    const bytes = records.map((r) => codecs.flows.encode(r));
    const run = (deferred: boolean) => {
      const sequencer = new PartitionSequencer(spec);
      const stats = new InMemoryEntityStats();
      const out: [string, number[]][] = [];
      const late: unknown[] = [];
      const outcomes: string[] = [];
      const lateAddresses: string[] = [];
      const drain = () => {
        stats.applySync(sequencer.seal().map(windowContribution));
        late.push(...sequencer.takeLate().map((f) => ({ ...f })));
        for (const w of sequencer.takeEmittable()) {
          const context = stats.contextOf(w.src_ip, w.dst_ip, w.window_start_ms);
          if (deferred) {
            const encoded: { key: string; value: Buffer }[] = [];
            encodeWindow(w, context, spec, new SequenceEncoder(codecs.sequences), encoded);
            for (const m of encoded) out.push([m.key, [...m.value]]);
          } else {
            for (const s of windowSequences(w, context, spec))
              out.push([s.sequence_id, [...codecs.sequences.encode(s)]]);
          }
        }
      };
      bytes.forEach((b, i) => {
        let outcome: string;
        if (deferred) {
          const f = decoder.decodeDeferred(b);
          assert.ok(decoder.addresses);
          assert.equal(f.src_ip, '');
          outcome = sequencer.pushTransient(f, i, decoder.addresses);
          if (outcome === 'late') lateAddresses.push(`${f.src_ip}>${f.dst_ip}`);
        } else {
          const f = decoder.decode(b);
          outcome = sequencer.push(f, i);
          if (outcome === 'late') lateAddresses.push(`${f.src_ip}>${f.dst_ip}`);
        }
        outcomes.push(outcome);
        if (i % 50 === 49) drain();
      });
      sequencer.finish();
      drain();
      return { out, late, outcomes, lateAddresses };
    };
    const plain = run(false);
    assert.ok(plain.outcomes.includes('late'));
    assert.ok(plain.out.length > 500);
    const deferred = run(true);
    assert.deepEqual(deferred.outcomes, plain.outcomes);
    assert.deepEqual(deferred.lateAddresses, plain.lateAddresses);
    assert.deepEqual(deferred.late, plain.late);
    assert.deepEqual(deferred.out, plain.out);
  });

  it('decodes map blocks written with a negative count and a byte size', () => {
    // extra as one block of count -1 (zig-zag 1), byte size, key, value, then the 0 terminator.
    const plain = codecs.flows.encode(flow({ extra: {} }));
    const entry = Buffer.from([0x01, 0x10, 0x0c, ...Buffer.from('origin'), 0x06, ...Buffer.from('x:y')]);
    const bytes = Buffer.concat([plain.subarray(0, plain.length - 1), entry, Buffer.from([0x00])]);
    assert.deepEqual(decoder.decode(bytes).extra, { origin: 'x:y' });
    assert.deepEqual({ ...codecs.flows.decode(bytes) }.extra, { origin: 'x:y' });
  });

  it('rejects truncated records, trailing bytes and bad union indexes like avsc', () => {
    const bytes = codecs.flows.encode(flow({ label: 1 }));
    for (const cut of [6, 20, bytes.length - 1]) {
      assert.throws(() => decoder.decode(bytes.subarray(0, cut)), /truncated buffer/);
      assert.throws(() => codecs.flows.decode(bytes.subarray(0, cut)), /truncated buffer/);
    }
    assert.throws(() => decoder.decode(Buffer.concat([bytes, Buffer.from([0])])), /trailing data/);
    // observation_domain (right after the exporter string) set to 2^53 - 1: beyond avsc's bound.
    const exporterEnd = 5 + 1 + '192.0.2.1'.length;
    const huge = Buffer.concat([
      bytes.subarray(0, exporterEnd),
      Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]),
      bytes.subarray(exporterEnd + 1),
    ]);
    assert.throws(() => decoder.decode(huge), /potential precision loss/);
    assert.throws(() => codecs.flows.decode(huge), /potential precision loss/);
    const badUnion = codecs.flows.encode(flow({}));
    // in_if is the first union after the 16 leading fields; find it by re-encoding with in_if set.
    const withIf = codecs.flows.encode(flow({ in_if: 0 }));
    let at = 0;
    while (badUnion[at] === withIf[at]) at++;
    const corrupted = Buffer.from(badUnion);
    corrupted[at] = 0x08;
    assert.throws(() => decoder.decode(corrupted), /invalid union index: 4/);
  });

  it('rejects a header that is not the Confluent framing and unknown schema ids', () => {
    assert.throws(() => decoder.decode(Buffer.from([1, 0, 0, 0, 1, 0])), /magic byte is 1/);
    assert.throws(() => decoder.decode(Buffer.from([0, 0, 0, 0, 7, 0])), /unknown schema id 7/);
  });
});

describe('SequenceEncoder', () => {
  const encoder = new SequenceEncoder(codecs.sequences);

  function randomSequence(): Sequence {
    const n = pick([0, 1, 2, 64, 200]);
    return {
      sequence_id: text(),
      src_ip: text(),
      dst_ip: text(),
      window_start_ms: long(),
      window_end_ms: long(),
      part: pick([0, 1, 63, 2 ** 30, -3]),
      flows: Array.from({ length: n }, () => ({
        start_ms: long(),
        end_ms: long(),
        protocol: pick([6, 17]),
        src_port: int(65536),
        dst_port: int(65536),
        fwd_bytes: long(),
        fwd_pkts: long(),
        bwd_bytes: long(),
        bwd_pkts: long(),
        tcp_flags: int(256),
        label: pick([null, 0, 1, -2]),
        attack: pick([null, text()]),
        origin: text(),
      })),
      context: { distinct_dsts: long(), distinct_dst_ports: long(), connections: long() },
    };
  }

  it('writes the bytes avsc writes', () => {
    for (let i = 0; i < 400; i++) {
      const s = randomSequence();
      assert.deepEqual(encoder.encode(s), codecs.sequences.encode(s));
    }
  });

  it('keeps earlier messages intact while later ones are written (across 1 MiB chunks)', () => {
    const sequences = Array.from({ length: 600 }, randomSequence);
    const encoded = sequences.map((s) => encoder.encode(s));
    assert.ok(encoded.reduce((n, b) => n + b.length, 0) > 2 * 2 ** 20);
    sequences.forEach((s, i) => {
      assert.deepEqual({ ...codecs.sequences.decode(encoded[i] as Buffer) }.sequence_id, s.sequence_id);
      assert.deepEqual(encoded[i], codecs.sequences.encode(s));
    });
  });

  it('encodes a window straight from the window store as windowSequences + encode do', () => {
    const spec = sequencingSpec({ max_flows: 4 });
    const sequencer = new PartitionSequencer(spec);
    // Windows of 1 to 11 flows (up to three parts), flows of a window out of rule-4 order.
    let offset = 0;
    for (let c = 0; c < 60; c++) {
      const n = 1 + (c % 11);
      for (let k = 0; k < n; k++) {
        sequencer.push(
          flow({
            src_ip: `10.0.${c % 7}.1`,
            dst_ip: `10.1.0.${c}`,
            start_ms: 1_700_000_000_000 + ((k * 7919) % n) * 1000,
            dst_port: 20 + (k % 3),
            label: pick([null, 1]),
            attack: pick([null, 'scan']),
            extra: { origin: `row${k}` },
          }),
          offset++,
        );
      }
    }
    sequencer.finish();
    sequencer.seal();
    const windows = sequencer.takeEmittable();
    assert.equal(windows.length, 60);
    const context = { distinct_dsts: 3, distinct_dst_ports: 2, connections: 9 };
    let parts = 0;
    for (const w of windows) {
      const direct: { key: string; value: Buffer }[] = [];
      const count = encodeWindow(w, context, spec, encoder, direct);
      const sequences = windowSequences(w, context, spec);
      assert.equal(count, sequences.length);
      assert.deepEqual(
        direct.map((m) => [m.key, [...m.value]]),
        sequences.map((s) => [s.sequence_id, [...codecs.sequences.encode(s)]]),
      );
      parts += count;
    }
    assert.equal(
      parts,
      windows.reduce((n, w) => n + Math.ceil(w.flowCount / 4), 0),
    );
    assert.ok(windows.some((w) => w.flowCount > 8));
  });

  it('keys and encodes windows of any namespace and addresses as windowSequences + encode do (ids written in place)', () => {
    const addresses = ['10.0.0.1', '2001:db8::1', 'fe80::1%eth0', 'ünïcödé→✓', 'x'.repeat(200)];
    for (const namespace of ['tidewatch.sequence.v1', 'tidewatch·séquence', 'n'.repeat(600), '']) {
      const spec = sequencingSpec({ max_flows: 10_000, sequence_id_namespace: namespace });
      const sequencer = new PartitionSequencer(spec);
      let offset = 0;
      const t0 = Math.floor(1_700_000_000_000 / spec.window_ms) * spec.window_ms;
      for (const [i, src] of addresses.entries()) {
        // Responders apart from initiators: no flow is stitched to another as its reverse.
        for (const [j, dst] of addresses.map((a) => `${a}.r`).entries()) {
          // One window whose bound (146 bytes per flow here) is over a 1 MiB chunk: a buffer of its own.
          const n = i === 1 && j === 2 ? 9_000 : 1 + ((i + j) % 3);
          for (let k = 0; k < n; k++) {
            const start_ms = t0 + k;
            sequencer.push(
              flow({ src_ip: src, dst_ip: dst, start_ms, extra: { origin: `o${k % 5}` } }),
              offset++,
            );
          }
        }
      }
      sequencer.finish();
      sequencer.seal();
      const windows = sequencer.takeEmittable();
      assert.equal(windows.length, 25);
      const context = { distinct_dsts: 1, distinct_dst_ports: 1, connections: 2 };
      // Every message checked once all are written: later ids in the chunk leave earlier ones intact.
      const direct: { key: string; value: Buffer }[] = [];
      const expected: [string, number[]][] = [];
      for (const w of windows) {
        encodeWindow(w, context, spec, encoder, direct);
        for (const s of windowSequences(w, context, spec))
          expected.push([s.sequence_id, [...codecs.sequences.encode(s)]]);
      }
      assert.deepEqual(
        direct.map((m) => [m.key, [...m.value]]),
        expected,
      );
      assert.ok(windows.some((w) => w.flowCount * 146 > 2 ** 20));
    }
  });

  it('refuses values the schema cannot hold, as avsc does', () => {
    const s = randomSequence();
    assert.throws(() => encoder.encode({ ...s, window_start_ms: 1.5 }), /invalid "long": 1.5/);
    assert.throws(() => encoder.encode({ ...s, part: 2 ** 31 }), /invalid "int": 2147483648/);
    assert.throws(() => encoder.encode({ ...s, window_end_ms: MAX_LONG + 1 }), /invalid "long"/);
    assert.throws(() => codecs.sequences.encode({ ...s, window_end_ms: MAX_LONG + 1 }), /invalid "long"/);
    // The same from a window's columns (encodeWindow), field by field.
    const spec = sequencingSpec();
    const context = { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1 };
    const base = toSequenceFlow(flow({ start_ms: 1_700_000_000_000 }));
    const bad: [Partial<SequenceFlow>, RegExp][] = [
      [{ start_ms: 1.5 }, /invalid "long": 1.5/],
      [{ end_ms: MAX_LONG + 2 }, /invalid "long"/],
      [{ protocol: 2 ** 31 }, /invalid "int": 2147483648/],
      [{ dst_port: 0.5 }, /invalid "int": 0.5/],
      [{ bwd_pkts: -MAX_LONG - 2 }, /invalid "long"/],
      [{ fwd_bytes: Number.NaN }, /invalid "long": NaN/],
      [{ bwd_bytes: Number.POSITIVE_INFINITY }, /invalid "long": Infinity/],
      [{ fwd_pkts: 2 ** 40 + 0.5 }, /invalid "long": 1099511627776.5/],
      [{ end_ms: -(2 ** 31) - 0.5 }, /invalid "long": -2147483648.5/],
      [{ tcp_flags: Number.NaN }, /invalid "int": NaN/],
      [{ label: 2 ** 40 }, /invalid "int"/],
    ];
    for (const [over, message] of bad) {
      const w = OpenWindow.of('10.0.0.1', '10.0.0.2', 0, 300_000, [{ ...base, ...over }]);
      assert.throws(() => encodeWindow(w, context, spec, encoder, []), message, JSON.stringify(over));
      assert.throws(() => codecs.sequences.encode(windowSequences(w, context, spec)[0] as Sequence));
    }
    const ok = OpenWindow.of('10.0.0.1', '10.0.0.2', 0, 300_000, [{ ...base, fwd_bytes: MAX_LONG }]);
    assert.equal(encodeWindow(ok, context, spec, encoder, []), 1);
  });
});
