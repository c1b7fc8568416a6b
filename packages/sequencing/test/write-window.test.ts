import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCodecs, LocalSchemaRegistry, type SequenceFlow } from '@tidewatch/contracts';
import { toSequenceFlow } from '../src/conversation-flow.ts';
import {
  encodeWindow,
  OpenWindow,
  PartitionSequencer,
  SequenceEncoder,
  type SequenceSink,
  sequencingSpec,
  writeWindow,
} from '../src/index.ts';
import { flow } from './helpers.ts';

const codecs = await createCodecs(new LocalSchemaRegistry());

/**
 * A sink as a producer's record batch is one: records back to back in one buffer, each value
 * written after its key; it checks that every value stays within the bound it was begun with.
 */
class TestSink implements SequenceSink {
  buf = Buffer.alloc(1 << 16);
  records: { key: string; value: Buffer }[] = [];
  #pos = 0;
  #key = '';
  #valueStart = -1;
  #limit = 0;

  begin(key: Uint8Array, keyStart: number, keyEnd: number, maxValueBytes: number): number {
    assert.equal(this.#valueStart, -1, 'begin after begin');
    this.#key = Buffer.from(key.subarray(keyStart, keyEnd)).toString('latin1');
    if (this.#pos + maxValueBytes + 8 > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.#pos + maxValueBytes + 8));
      this.buf.copy(next);
      this.buf = next;
    }
    // Not at 0: the encoder must write where it is told.
    this.#valueStart = this.#pos + 3;
    this.#limit = this.#valueStart + maxValueBytes;
    return this.#valueStart;
  }

  end(valueEnd: number): void {
    assert.ok(valueEnd >= this.#valueStart && valueEnd <= this.#limit, 'value within its bound');
    this.records.push({ key: this.#key, value: Buffer.from(this.buf.subarray(this.#valueStart, valueEnd)) });
    this.#pos = valueEnd;
    this.#valueStart = -1;
  }
}

function windowsOf(spec: ReturnType<typeof sequencingSpec>, addresses: string[]): OpenWindow[] {
  const sequencer = new PartitionSequencer(spec);
  const t0 = Math.floor(1_700_000_000_000 / spec.window_ms) * spec.window_ms;
  let offset = 0;
  for (const [i, src] of addresses.entries()) {
    for (const [j, dst] of addresses.map((a) => `${a}.r`).entries()) {
      const n = i === 1 && j === 2 ? 9_000 : 1 + ((i * 5 + j) % 13);
      for (let k = 0; k < n; k++) {
        sequencer.push(
          flow({
            src_ip: src,
            dst_ip: dst,
            // Out of rule-4 order within a window.
            start_ms: t0 + ((k * 7919) % n) * 10,
            fwd_bytes: k * 1_000_003,
            label: k % 3 === 0 ? null : 1,
            attack: k % 4 === 0 ? 'scan' : null,
            extra: { origin: `o${k % 5}` },
          }),
          offset++,
        );
      }
    }
  }
  sequencer.finish();
  sequencer.seal();
  return sequencer.takeEmittable();
}

describe('writeWindow (a sequence written straight into a sink)', () => {
  it('gives the keys and values encodeWindow gives, window after window, parts included', () => {
    const addresses = ['10.0.0.1', '2001:db8::1', 'ünïcödé→✓', 'x'.repeat(200), '192.168.100.200'];
    for (const spec of [
      sequencingSpec(),
      sequencingSpec({ max_flows: 4, sequence_id_namespace: 'tidewatch·séquence' }),
      sequencingSpec({ max_flows: 10_000, sequence_id_namespace: 'n'.repeat(600) }),
    ]) {
      const windows = windowsOf(spec, addresses);
      assert.equal(windows.length, 25);
      const context = { distinct_dsts: 300, distinct_dst_ports: 2, connections: 2 ** 40 };
      const expected: { key: string; value: Buffer }[] = [];
      const encoder = new SequenceEncoder(codecs.sequences);
      for (const w of windows) encodeWindow(w, context, spec, encoder, expected);
      const sink = new TestSink();
      // The same encoder for both: writeWindow must leave its chunk for encodeWindow intact.
      let count = 0;
      for (const w of windows) count += writeWindow(w, context, spec, encoder, sink);
      const again: { key: string; value: Buffer }[] = [];
      for (const w of windows) encodeWindow(w, context, spec, encoder, again);
      assert.equal(count, expected.length);
      if (spec.max_flows < 9_000) assert.ok(count > windows.length, 'some windows have several parts');
      assert.deepEqual(
        sink.records.map((r) => [r.key, r.value.toString('hex')]),
        expected.map((m) => [m.key, m.value.toString('hex')]),
      );
      assert.deepEqual(
        again.map((m) => [m.key, m.value.toString('hex')]),
        expected.map((m) => [m.key, m.value.toString('hex')]),
      );
    }
  });

  it('refuses values the schema cannot hold, before the record is ended', () => {
    const spec = sequencingSpec();
    const encoder = new SequenceEncoder(codecs.sequences);
    const context = { distinct_dsts: 1, distinct_dst_ports: 1, connections: 1 };
    const base = toSequenceFlow(flow({ start_ms: 1_700_000_000_000 }));
    const bad: [Partial<SequenceFlow>, RegExp][] = [
      [{ start_ms: 1.5 }, /invalid "long": 1.5/],
      [{ protocol: 2 ** 31 }, /invalid "int": 2147483648/],
      [{ fwd_bytes: Number.NaN }, /invalid "long": NaN/],
    ];
    for (const [over, message] of bad) {
      const w = OpenWindow.of('10.0.0.1', '10.0.0.2', 0, 300_000, [{ ...base, ...over }]);
      const sink = new TestSink();
      assert.throws(() => writeWindow(w, context, spec, encoder, sink), message);
      assert.equal(sink.records.length, 0);
    }
  });
});
