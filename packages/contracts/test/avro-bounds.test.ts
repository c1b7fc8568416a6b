import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import {
  AvroBoundsError,
  AvroCodec,
  CONTRACTS,
  checkAvroBounds,
  createCodecs,
  LocalSchemaRegistry,
  type Sequence,
  WIRE_HEADER_BYTES,
  withoutFields,
} from '../src/index.ts';

// Not @tidewatch/testing's seededRandom: that package depends on this one.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let x = n * 2; // zig-zag of a non-negative count
  while (x >= 0x80) {
    out.push((x % 128) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  return Buffer.from(out);
}

const flow = (i: number) => ({
  start_ms: 1_700_000_000_000 + i,
  end_ms: 1_700_000_000_900 + i,
  protocol: 6,
  src_port: 40_000 + i,
  dst_port: 443,
  fwd_bytes: 1200,
  fwd_pkts: 3,
  bwd_bytes: 900,
  bwd_pkts: 2,
  tcp_flags: 0x1b,
  label: null,
  attack: null,
  origin: `capture.csv:${i}`,
});

const sequence = (flows: number): Sequence => ({
  sequence_id: '00000000-0000-5000-8000-000000000001',
  src_ip: '10.0.0.1',
  dst_ip: '10.0.0.2',
  window_start_ms: 1_700_000_000_000,
  window_end_ms: 1_700_000_300_000,
  part: 0,
  flows: Array.from({ length: flows }, (_, i) => flow(i)),
  context: { distinct_dsts: 1, distinct_dst_ports: 1, connections: flows },
});

/** A one-flow sequences.v1 message whose flow count says `count`: where the two encodings first differ. */
async function withFlowCount(count: number): Promise<{ codec: AvroCodec<Sequence>; bytes: Buffer }> {
  const codec = await new AvroCodec<Sequence>(CONTRACTS.sequences, new LocalSchemaRegistry()).init();
  const none = codec.encode(sequence(0));
  const one = codec.encode(sequence(1));
  let at = 0;
  while (none[at] === one[at]) at++;
  assert.equal(one[at], 0x02, 'the flows block count of a one-flow sequence');
  return { codec, bytes: Buffer.concat([one.subarray(0, at), varint(count), one.subarray(at + 1)]) };
}

describe('checkAvroBounds (before every generic decode)', () => {
  it('refuses a corrupted array count at once instead of looping over it (avsc alone ran minutes and 4 GB)', {
    timeout: 20_000,
  }, async () => {
    const { codec, bytes } = await withFlowCount(200_000_000);
    const expected =
      /^AvroBoundsError: invalid flows: block of 200000000 items at byte \d+ cannot fit in the \d+ bytes left$/;
    const asText = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as Error).name}: ${(e as Error).message}`;
      }
      return 'decoded';
    };
    assert.match(
      asText(() => codec.decode(bytes)),
      expected,
    );
    const projection = codec.project<Sequence>(
      withoutFields(CONTRACTS.sequences.schema, 'SequenceFlow', ['origin']),
    );
    assert.match(
      asText(() => projection.decode(bytes)),
      expected,
    );
    await assert.rejects(codec.decodeAsync(bytes), AvroBoundsError);
  });

  it('still decodes the largest count that fits, and a count one too large is refused', async () => {
    const { codec, bytes } = await withFlowCount(1);
    assert.equal(codec.decode(bytes).flows.length, 1);
    const { bytes: two } = await withFlowCount(2);
    assert.throws(() => codec.decode(two), AvroBoundsError);
  });

  it('accepts every valid message of every contract (random values, avsc round trip unchanged)', async () => {
    const codecs = await createCodecs();
    for (const codec of [codecs.flows, codecs.sequences, codecs.findings] as AvroCodec<unknown>[]) {
      for (let i = 0; i < 300; i++) {
        const value = codec.type.random();
        const bytes = codec.encode(value);
        assert.doesNotThrow(() => checkAvroBounds(codec.type, bytes, WIRE_HEADER_BYTES));
        assert.deepEqual(
          codec.type.toBuffer(codec.decode(bytes)),
          codec.type.toBuffer(value),
          `${codec.contract.topic} #${i}`,
        );
      }
    }
  });

  it('refuses every truncation and reports trailing bytes, with avsc-style messages consumers classify', async () => {
    const codecs = await createCodecs();
    for (const codec of [codecs.flows, codecs.sequences, codecs.findings] as AvroCodec<unknown>[]) {
      const bytes = codec.encode(codec.type.random());
      for (let cut = WIRE_HEADER_BYTES; cut < bytes.length; cut++) {
        assert.throws(
          () => checkAvroBounds(codec.type, bytes.subarray(0, cut), WIRE_HEADER_BYTES),
          /^AvroBoundsError: (truncated buffer|invalid )/,
          `${codec.contract.topic} cut at ${cut} of ${bytes.length}`,
        );
      }
      assert.throws(
        () => codec.decode(Buffer.concat([bytes, Buffer.from([0])])),
        /^AvroBoundsError: trailing data: 1 bytes after the value$/,
      );
    }
  });

  it('never hangs or throws anything but a decode error on corrupted bytes', {
    timeout: 60_000,
  }, async () => {
    const codecs = await createCodecs();
    const rand = random(5);
    const decodeError =
      /^(truncated buffer|trailing data|invalid |unknown |no matching |potential precision loss)/;
    for (const codec of [codecs.flows, codecs.sequences, codecs.findings] as AvroCodec<unknown>[]) {
      for (let i = 0; i < 2000; i++) {
        const bytes = Buffer.from(codec.encode(codec.type.random()));
        for (let k = 1 + Math.floor(rand() * 3); k > 0; k--) {
          const at = WIRE_HEADER_BYTES + Math.floor(rand() * (bytes.length - WIRE_HEADER_BYTES));
          bytes[at] = Math.floor(rand() * 256);
        }
        try {
          codec.decode(bytes);
        } catch (e) {
          assert.match(
            (e as Error).message,
            decodeError,
            `${codec.contract.topic} #${i}: ${(e as Error).stack}`,
          );
        }
      }
    }
  });

  it('bounds maps, unions, enums, fixed and zero-byte items of any schema', () => {
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'T',
      fields: [
        { name: 'm', type: { type: 'map', values: 'long' } },
        { name: 'u', type: ['null', 'string'] },
        { name: 'e', type: { type: 'enum', name: 'E', symbols: ['A', 'B'] } },
        { name: 'f', type: { type: 'fixed', name: 'F', size: 3 } },
        { name: 'n', type: { type: 'array', items: 'null' } },
      ],
    });
    const value = { m: { a: 1 }, u: 'x', e: 'B', f: Buffer.from('abc'), n: [null, null] };
    const ok = type.toBuffer(value);
    checkAvroBounds(type, ok, 0);
    const at = (b: Buffer, i: number, v: number) => {
      const c = Buffer.from(b);
      c[i] = v;
      return c;
    };
    // m: count 2 (1 entry), key 'a' (len 2, 'a'), value 1 (2), end 0 → u union index at byte 5
    assert.throws(
      () => checkAvroBounds(type, at(ok, 0, 0x7e), 0),
      /^AvroBoundsError: invalid m: block of 63 items/,
    );
    assert.throws(
      () => checkAvroBounds(type, at(ok, 5, 0x04), 0),
      /^AvroBoundsError: invalid u: union index 2 outside 0\.\.1$/,
    );
    assert.throws(
      () => checkAvroBounds(type, at(ok, 8, 0x04), 0),
      /^AvroBoundsError: invalid e: enum index 2 outside 0\.\.1$/,
    );
    assert.throws(
      () => checkAvroBounds(type, ok.subarray(0, 11), 0),
      /^AvroBoundsError: truncated buffer: f runs past byte 11$/,
    );
    // A string length of 300 varint bytes (0xff...): far too large, never NaN.
    const longVarint = Buffer.concat([
      ok.subarray(0, 5),
      Buffer.from([0x02]),
      Buffer.alloc(300, 0xff),
      Buffer.from([0x01]),
    ]);
    assert.throws(
      () => checkAvroBounds(type, longVarint, 0),
      /^AvroBoundsError: truncated buffer: u runs past byte 307$/,
    );
    const manyNulls = Buffer.concat([ok.subarray(0, 12), varint(2_000_000), Buffer.from([0])]);
    assert.throws(
      () => checkAvroBounds(type, manyNulls, 0),
      /^AvroBoundsError: invalid n: block of 2000000 items/,
    );
  });
});
