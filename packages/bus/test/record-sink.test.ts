import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CollectingRecordSink, InProcessBus, sendCollected } from '../src/index.ts';
import { RecordBatchBuilder } from '../src/wire/record-batch.ts';

const t0 = 1_700_000_000_000;

/**
 * Value lengths and the bounds given for them, across the sizes where a zigzag varint grows (64 B,
 * 8 KiB, 1 MiB), so that the record and value lengths reserved from the bound are longer than the
 * value needs (the bytes must move up), exactly right, or the bound is the value's length.
 */
const CASES: [valueLength: number, bound: number][] = [
  [0, 0],
  [0, 10],
  [10, 10],
  [20, 100],
  [63, 63],
  [63, 64],
  [64, 64],
  [100, 500],
  [100, 8191],
  [100, 8192],
  [100, 9000],
  [5000, 9000],
  [8100, 8192],
  [8191, 8191],
  [8192, 8192],
  [1000, 1_100_000],
  [9000, 1_100_000],
  [1_048_600, 1_100_000],
];

function keyOf(i: number): Buffer {
  return Buffer.from(
    i % 3 === 2
      ? `long-key-${'k'.repeat(70)}-${i}`
      : `0b4e28ba-2fa1-51d2-883f-0016d3cc${String(i).padStart(4, '0')}`,
  );
}

describe('RecordBatchBuilder.beginRecord/endRecord', () => {
  it('writes the same batch bytes as append() for every value length and bound', () => {
    const values = CASES.map(([n]) => randomBytes(n));
    const appended = new RecordBatchBuilder(128);
    const written = new RecordBatchBuilder(128);
    CASES.forEach(([, bound], i) => {
      const key = keyOf(i);
      const value = values[i] as Buffer;
      // Timestamps out of order: the batch's base and max timestamps must follow them alike.
      const ts = t0 + ((i * 7919) % 13) * 1000;
      appended.append(key, 0, key.length, value, ts);
      const at = written.beginRecord(key, 0, key.length, bound, ts);
      value.copy(written.buf, at);
      written.endRecord(at + value.length);
    });
    assert.equal(written.count, CASES.length);
    assert.equal(written.pos, appended.pos);
    assert.ok(
      Buffer.from(written.seal(9, 2, 40)).equals(Buffer.from(appended.seal(9, 2, 40))),
      'sealed batches differ',
    );
  });

  it('takes a key from the middle of a buffer', () => {
    const appended = new RecordBatchBuilder();
    const written = new RecordBatchBuilder();
    const keys = Buffer.from('xxsequence-id-1yy');
    appended.append(keys, 2, 15, Buffer.from('value'), t0);
    const at = written.beginRecord(keys, 2, 15, 40, t0);
    written.buf.write('value', at);
    written.endRecord(at + 5);
    assert.ok(Buffer.from(written.seal(1, 0, 0)).equals(Buffer.from(appended.seal(1, 0, 0))));
  });
});

describe('CollectingRecordSink (the send() fallback)', () => {
  it('gathers keys and values as written, across a buffer that must grow', () => {
    const sink = new CollectingRecordSink(256);
    const expected: { key: string; value: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const key = keyOf(i);
      const value = randomBytes(i * 37);
      const at = sink.begin(key, 0, key.length, value.length + (i % 5) * 10);
      value.copy(sink.buf, at);
      sink.end(at + value.length);
      expected.push({ key: key.toString('hex'), value: value.toString('hex') });
    }
    assert.deepEqual(
      sink.messages.map((m) => ({ key: (m.key as Buffer).toString('hex'), value: m.value.toString('hex') })),
      expected,
    );
  });

  it('names what is wrong: a value past its bound, a key range outside the key, begin twice, end without begin', () => {
    const sink = new CollectingRecordSink();
    const key = Buffer.from('k1');
    assert.throws(() => sink.end(0), /RecordSink\.end: no record was begun/);
    assert.throws(() => sink.begin(key, 1, 3, 10), /key range \[1, 3\) is not within the key's 2 bytes/);
    assert.throws(() => sink.begin(key, 0, 2, -1), /maxValueBytes must be a non-negative integer \(got -1\)/);
    const at = sink.begin(key, 0, 2, 10);
    assert.throws(() => sink.begin(key, 0, 2, 10), /the record begun before was not ended/);
    assert.throws(
      () => sink.end(at + 11),
      /value end \d+ is outside \[\d+, \d+\] \(the room begin\(\) gave it\)/,
    );
  });

  it('sends nothing when the writer throws or leaves a record open', async () => {
    const sent: number[] = [];
    const send = async (messages: unknown[]) => {
      sent.push(messages.length);
    };
    const key = Buffer.from('k');
    await assert.rejects(
      sendCollected(send, (sink) => {
        sink.end(sink.begin(key, 0, 1, 0));
        throw new Error('encoder failed');
      }),
      /encoder failed/,
    );
    await assert.rejects(
      sendCollected(send, (sink) => {
        sink.begin(key, 0, 1, 0);
      }),
      /record begun but not ended/,
    );
    assert.equal(await sendCollected(send, () => {}), 0);
    assert.deepEqual(sent, []);
  });

  it('InProcessBus.sendRecords refuses a closed producer', async () => {
    const bus = new InProcessBus();
    await bus.ensureTopics([{ topic: 't', partitions: 2 }]);
    const producer = await bus.producer();
    await producer.close();
    const key = Buffer.from('k');
    await assert.rejects(
      producer.sendRecords?.('t', (sink) => sink.end(sink.begin(key, 0, 1, 0))) ?? Promise.resolve(),
      /producer is closed/,
    );
    await bus.close();
  });
});
