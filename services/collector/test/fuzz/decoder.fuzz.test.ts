import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hasShared, sharedPath, seededRandom } from '@tidewatch/testing';
import { detectCapture, readCapture, splitRawDatagrams } from '../../src/capture/index.ts';
import { createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { FlowDecoder } from '../../src/decode/index.ts';
import { FlowAvroWriter } from '../../src/flow-avro-writer.ts';

/**
 * Fuzzing the decoder with a fixed seed (reproducible): random bytes, mutated real vendor
 * packets, template bombs, lying lengths and empty sets. The decoder must never throw, must
 * count what it rejects, must never hit its internal-error safety net (that would mean an
 * unchecked read), and its state must stay within the configured limits.
 */

const LIMITS = {
  maxTemplatesPerExporter: 64,
  pendingDataLimit: 16,
  pendingBytesLimit: 256 * 1024,
  maxTemplates: 4096,
};

function realDatagrams(): Buffer[] {
  if (!hasShared()) return [];
  const root = sharedPath('testdata', 'flows');
  const out: Buffer[] = [];
  for (const dir of readdirSync(root)) {
    if (dir.endsWith('.md')) continue;
    for (const f of readdirSync(join(root, dir))) {
      if (f === 'expected.json') continue;
      const buf = readFileSync(join(root, dir, f));
      if (detectCapture(buf) === 'raw') out.push(...splitRawDatagrams(buf));
      else out.push(...readCapture(buf).map((d) => d.payload));
    }
  }
  return out;
}

function decodeAll(
  decoder: FlowDecoder,
  datagrams: Iterable<Buffer>,
  exporters = 4,
  onRecord?: (r: FlowRecord) => void,
): number {
  let i = 0;
  let records = 0;
  for (const d of datagrams) {
    const out = decoder.decode(d, {
      exporter: `10.0.0.${i % exporters}`,
      receivedAtMs: 1_700_000_000_000 + i,
    });
    for (const r of out) {
      assert.equal(typeof r.src_ip, 'string');
      assert.ok(Number.isFinite(r.start_ms) && Number.isFinite(r.end_ms));
      assert.ok(r.sampling_rate >= 1);
      onRecord?.(r);
    }
    records += out.length;
    i++;
  }
  return records;
}

function assertBounded(decoder: FlowDecoder, exporters: number): void {
  const sizes = decoder.sizes();
  assert.ok(sizes.templates <= LIMITS.maxTemplatesPerExporter * exporters, `templates ${sizes.templates}`);
  assert.ok(sizes.templates <= LIMITS.maxTemplates);
  assert.ok(sizes.pendingSets <= LIMITS.pendingDataLimit * exporters, `pending ${sizes.pendingSets}`);
  assert.ok(sizes.pendingBytes <= LIMITS.pendingBytesLimit, `pending bytes ${sizes.pendingBytes}`);
  assert.ok(sizes.statsEntries <= 65 * exporters + 1, `stats entries ${sizes.statsEntries}`);
  assert.equal(decoder.snapshot().errorsByReason.internal, undefined, 'an exception escaped a decoder');
}

function* randomDatagrams(rand: () => number, n: number): Generator<Buffer> {
  const heads = [
    [0, 5],
    [0, 9],
    [0, 10],
    [0, 0, 0, 5],
    [0, 7],
  ];
  for (let i = 0; i < n; i++) {
    const len = Math.floor(rand() * 1500);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rand() * 256);
    const head = heads[i % heads.length] as number[];
    for (let j = 0; j < head.length && j < len; j++) b[j] = head[j] as number;
    // give IPFIX a plausible length field half of the time so the set parser gets exercised
    if (head[1] === 10 && len >= 4 && rand() < 0.5) b.writeUInt16BE(len, 2);
    yield b;
  }
}

function* mutated(rand: () => number, real: Buffer[], n: number): Generator<Buffer> {
  for (let i = 0; i < n; i++) {
    const src = real[i % real.length] as Buffer;
    const b = Buffer.from(src);
    const kind = rand();
    if (kind < 0.5) {
      const flips = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < flips && b.length > 0; k++)
        b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      yield b;
    } else if (kind < 0.7) yield b.subarray(0, Math.floor(rand() * b.length));
    else if (kind < 0.85) {
      // a length field that lies: overwrite a 16-bit word at a 4-byte boundary with a big value
      if (b.length >= 8)
        b.writeUInt16BE(
          Math.floor(rand() * 65536),
          4 * Math.floor((rand() * b.length) / 4) - 2 < 0
            ? 2
            : 4 * Math.floor((rand() * (b.length - 2)) / 4) + 2,
        );
      yield b;
    } else yield Buffer.concat([b, b.subarray(0, Math.floor(rand() * b.length))]);
  }
}

function ipfixMessage(domain: number, sets: Buffer[], seq = 0): Buffer {
  const body = Buffer.concat(sets);
  const h = Buffer.alloc(16);
  h.writeUInt16BE(10, 0);
  h.writeUInt16BE(16 + body.length, 2);
  h.writeUInt32BE(1_700_000_000, 4);
  h.writeUInt32BE(seq, 8);
  h.writeUInt32BE(domain, 12);
  return Buffer.concat([h, body]);
}

function set(id: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([h, body]);
}

function template(id: number, fields: [number, number][]): Buffer {
  const b = Buffer.alloc(4 + fields.length * 4);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(fields.length, 2);
  fields.forEach(([ie, len], i) => {
    b.writeUInt16BE(ie, 4 + i * 4);
    b.writeUInt16BE(len, 6 + i * 4);
  });
  return b;
}

describe('decoder fuzz', () => {
  test('random bytes never throw and are counted as errors', () => {
    const decoder = new FlowDecoder(LIMITS);
    decodeAll(decoder, randomDatagrams(seededRandom(1), 20_000));
    const snap = decoder.snapshot();
    assert.equal(snap.totals.datagrams, 20_000);
    assert.ok(snap.totals.errors > 10_000, `only ${snap.totals.errors} errors for random input`);
    assertBounded(decoder, 4);
  });

  test('mutated vendor packets never throw; state stays bounded', {
    skip: hasShared() ? false : 'needs ../shared',
  }, async () => {
    const real = realDatagrams();
    assert.ok(real.length > 50);
    const decoder = new FlowDecoder(LIMITS);
    // templates first so mutations reach the data-record readers
    const clean = decodeAll(decoder, real, 1);
    assert.ok(clean > 500);
    // whatever a mutated packet decodes to, the publisher's writer encodes it as avsc does (or
    // refuses it as avsc does)
    const { flows } = await createCodecs();
    const writer = new FlowAvroWriter(flows);
    let checked = 0;
    const sameAsAvsc = (r: FlowRecord) => {
      if (checked++ % 5 !== 0) return;
      let ours: Buffer | Error;
      let theirs: Buffer | Error;
      try {
        ours = Buffer.from(writer.encode(r));
      } catch (e) {
        ours = e as Error;
      }
      try {
        theirs = flows.encode(r);
      } catch (e) {
        theirs = e as Error;
      }
      if (theirs instanceof Error) assert.ok(ours instanceof Error, 'avsc refused a record the writer took');
      else assert.deepEqual(ours, theirs);
    };
    decodeAll(decoder, mutated(seededRandom(2), real, 60_000), 1, sameAsAvsc);
    assert.ok(checked > 1000, `only ${checked} records`);
    assert.ok(decoder.snapshot().totals.errors > 0);
    assertBounded(decoder, 1);
  });

  test('template bombs: many templates, many domains, huge templates', () => {
    const decoder = new FlowDecoder(LIMITS);
    const msgs: Buffer[] = [];
    for (let i = 0; i < 2000; i++)
      msgs.push(
        ipfixMessage(i % 300, [
          set(
            2,
            template(256 + i, [
              [8, 4],
              [12, 4],
              [1, 8],
            ]),
          ),
        ]),
      );
    const huge: [number, number][] = Array.from({ length: 1000 }, (_, k) => [k % 400, 65535]);
    for (let i = 0; i < 50; i++) msgs.push(ipfixMessage(1, [set(2, template(5000 + i, huge))]));
    decodeAll(decoder, msgs, 2);
    const snap = decoder.snapshot();
    assert.ok((snap.errorsByReason.template_limit ?? 0) > 1000, JSON.stringify(snap.errorsByReason));
    assertBounded(decoder, 2);
  });

  test('data before template: the pending buffer is bounded and drops are counted', () => {
    const decoder = new FlowDecoder(LIMITS);
    const data = Buffer.alloc(16 * 10);
    const msgs: Buffer[] = [];
    for (let i = 0; i < 500; i++) msgs.push(ipfixMessage(7, [set(256 + (i % 50), data)], i));
    decodeAll(decoder, msgs, 1);
    const snap = decoder.snapshot();
    assert.equal(snap.totals.templateMisses, 500);
    assert.equal(
      snap.domains.reduce((n, d) => n + d.pendingBuffered, 0),
      500,
    );
    assert.equal(snap.totals.pendingDrops, 500 - LIMITS.pendingDataLimit);
    assertBounded(decoder, 1);
    // the template arrives: the sets still held for it are replayed
    const out = decoder.decode(
      ipfixMessage(7, [
        set(
          2,
          template(256 + (499 % 50), [
            [8, 4],
            [12, 4],
            [1, 8],
          ]),
        ),
      ]),
      {
        exporter: '10.0.0.0',
        receivedAtMs: 1_700_000_001_000,
      },
    );
    assert.equal(out.length, 10 * 1); // one held set of 10 records for that template id among the last 16
  });

  test('lying lengths, zero-length sets and empty templates', () => {
    const decoder = new FlowDecoder(LIMITS);
    const ctx = { exporter: '192.0.2.1', receivedAtMs: 1_700_000_000_000 };
    const tooLong = ipfixMessage(1, []);
    tooLong.writeUInt16BE(9000, 2);
    const zeroSet = ipfixMessage(1, [Buffer.from([0x01, 0x00, 0x00, 0x00])]);
    const overSet = ipfixMessage(1, [Buffer.from([0x01, 0x00, 0xff, 0xf0, 1, 2, 3, 4])]);
    const emptyTemplate = ipfixMessage(1, [
      set(
        2,
        template(300, [
          [8, 0],
          [12, 0],
        ]),
      ),
      set(300, Buffer.alloc(8)),
    ]);
    const varOverrun = ipfixMessage(1, [
      set(2, template(301, [[82, 65535]])),
      set(301, Buffer.from([255, 0xff, 0xff, 0x41])),
    ]);
    const nf5Lies = Buffer.alloc(24 + 48);
    nf5Lies.writeUInt16BE(5, 0);
    nf5Lies.writeUInt16BE(30, 2);
    for (const m of [tooLong, zeroSet, overSet, emptyTemplate, varOverrun, nf5Lies])
      assert.doesNotThrow(() => decoder.decode(m, ctx));
    const errs = decoder.snapshot().errorsByReason;
    assert.equal(errs.bad_message_length, 1);
    assert.equal(errs.bad_set_length, 2);
    assert.equal(errs.empty_template, 1);
    assert.equal(errs.bad_record, 2); // variable-length overrun, v5 count larger than the datagram
    assert.equal(errs.internal, undefined);
  });
});
