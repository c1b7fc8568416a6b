import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createSocket } from 'node:dgram';
import { type BusProducer, InProcessBus, type OutgoingMessage } from '@tidewatch/bus';
import { type AvroCodec, conversationKey, createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { hasShared, sharedPath, waitFor, seededRandom } from '@tidewatch/testing';
import { detectCapture, readCapture, splitRawDatagrams } from '../src/capture/index.ts';
import { FlowDecoder } from '../src/decode/index.ts';
import { collectorConfigFromEnv, createApp, DEFAULT_CONFIG } from '../src/index.ts';
import { FlowAvroWriter } from '../src/flow-avro-writer.ts';
import type { DirectOutput } from '../src/netflow5-avro.ts';

/**
 * The direct path (NetFlow v5 records written as `flows.v1` Avro straight from the datagram)
 * against the object path (FlowRecord → FlowAvroWriter, as FlowPublisher.message does): for
 * every vendor sample, random and mutated v5 datagrams, the same messages in the same order
 * (keys and value bytes) and the same decoder counters.
 */

function sampleDatagrams(): Buffer[] {
  if (!hasShared()) return [];
  const root = sharedPath('testdata', 'flows');
  const out: Buffer[] = [];
  for (const dir of readdirSync(root).sort()) {
    if (dir.endsWith('.md')) continue;
    for (const f of readdirSync(join(root, dir)).sort()) {
      if (f === 'expected.json') continue;
      const buf = readFileSync(join(root, dir, f));
      if (detectCapture(buf) === 'raw') out.push(...splitRawDatagrams(buf));
      else out.push(...readCapture(buf).map((d) => d.payload));
    }
  }
  return out;
}

/** A well-formed v5 datagram with random values everywhere (ICMP and large counters included). */
function randomV5(rand: () => number, seqNo: number): Buffer {
  const count = 1 + Math.floor(rand() * 30);
  const b = Buffer.alloc(24 + count * 48);
  const u = (bits: number) => Math.floor(rand() * 2 ** bits);
  b.writeUInt16BE(5, 0);
  b.writeUInt16BE(count, 2);
  b.writeUInt32BE(u(32), 4); // sysUptime (wraps are exercised too)
  b.writeUInt32BE(u(32), 8);
  b.writeUInt32BE(u(32), 12);
  b.writeUInt32BE(seqNo >>> 0, 16);
  b[20] = u(8);
  b[21] = u(8);
  b.writeUInt16BE(rand() < 0.5 ? 0 : u(16), 22);
  for (let i = 0, o = 24; i < count; i++, o += 48) {
    for (let k = 0; k < 48; k++) b[o + k] = u(8);
    b[o + 38] = [1, 58, 6, 17, u(8)][i % 5] as number;
    if (rand() < 0.3) b.writeUInt32BE(0xffffffff, o + 20); // counters at their largest
  }
  return b;
}

function* mutatedV5(rand: () => number, seeds: Buffer[], n: number): Generator<Buffer> {
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(seeds[i % seeds.length] as Buffer);
    const kind = rand();
    if (kind < 0.4) {
      for (let k = 0; k < 1 + Math.floor(rand() * 8); k++)
        b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      b.writeUInt16BE(5, 0);
      yield b;
    } else if (kind < 0.7) yield b.subarray(0, Math.floor(rand() * b.length));
    else {
      // a count that lies (more than the datagram holds, or more than v5 allows)
      b.writeUInt16BE(Math.floor(rand() * 70), 2);
      yield b;
    }
  }
}

/** As FlowPublisher.offer() does: a record the schema refuses is counted and left out. */
function messages(writer: FlowAvroWriter, records: FlowRecord[], refused: { n: number }): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (const r of records) {
    try {
      out.push({ key: conversationKey(r.src_ip, r.dst_ip), value: writer.encode(r) });
    } catch {
      refused.n++;
    }
  }
  return out;
}

interface Compared {
  datagrams: number;
  messages: number;
  direct: number;
}

function compare(
  codec: AvroCodec<FlowRecord>,
  datagrams: Iterable<Buffer>,
  exporters: string[],
  extras = true,
): Compared {
  const oldDecoder = new FlowDecoder({ extras });
  const newDecoder = new FlowDecoder({ extras });
  const oldWriter = new FlowAvroWriter(codec);
  const newWriter = new FlowAvroWriter(codec);
  const direct: DirectOutput = { writer: new FlowAvroWriter(codec), messages: [] };
  const seen: Compared = { datagrams: 0, messages: 0, direct: 0 };
  const oldRefused = { n: 0 };
  const newRefused = { n: 0 };
  for (const d of datagrams) {
    const ctx = {
      exporter: exporters[seen.datagrams % exporters.length] as string,
      receivedAtMs: 1_700_000_000_000 + seen.datagrams,
    };
    const oldOut: FlowRecord[] = [];
    oldDecoder.decodeInto(d, ctx, oldOut);
    const expected = messages(oldWriter, oldOut, oldRefused);
    const newOut: FlowRecord[] = [];
    direct.messages.length = 0;
    newDecoder.decodeMessagesInto(d, ctx, newOut, direct);
    assert.ok(direct.messages.length === 0 || newOut.length === 0, 'one datagram fills one output');
    const got = direct.messages.length > 0 ? [...direct.messages] : messages(newWriter, newOut, newRefused);
    const at = `datagram ${seen.datagrams} (${d.length} bytes, exporter ${ctx.exporter})`;
    assert.equal(got.length, expected.length, `${at}: message count`);
    for (let i = 0; i < got.length; i++) {
      const g = got[i] as OutgoingMessage;
      const e = expected[i] as OutgoingMessage;
      assert.equal(g.key, e.key, `${at} message ${i}: key`);
      assert.deepEqual(g.value, e.value, `${at} message ${i}: value bytes`);
    }
    seen.datagrams++;
    seen.messages += got.length;
    seen.direct += direct.messages.length;
  }
  assert.deepEqual(newDecoder.snapshot(0), oldDecoder.snapshot(0), 'decoder counters');
  assert.equal(newRefused.n, oldRefused.n, 'records the schema refuses');
  return seen;
}

describe('direct NetFlow v5 → Avro path', async () => {
  const codecs = await createCodecs();
  const exporters = ['192.0.2.1', '2001:db8::7', '10.1.2.3'];

  test('every vendor sample: same messages and counters as the object path', () => {
    const samples = sampleDatagrams();
    // ../shared sits beside every checkout: its absence is a failure, not a reason to skip.
    assert.ok(samples.length > 10, `${samples.length} vendor datagrams found in ../shared/testdata/flows`);
    const seen = compare(codecs.flows, samples, exporters);
    assert.ok(seen.direct > 0, 'the v5 samples took the direct path');
    assert.ok(seen.messages > seen.direct, 'the other samples took the object path');
  });

  test('random v5 datagrams, with and without extras', () => {
    for (const extras of [true, false]) {
      const rand = seededRandom(extras ? 5 : 6);
      const datagrams = Array.from({ length: 300 }, (_, i) => randomV5(rand, i * 7));
      const seen = compare(codecs.flows, datagrams, exporters, extras);
      assert.equal(seen.direct, seen.messages);
      assert.ok(seen.messages > 3000, `${seen.messages} records`);
    }
  });

  test('mutated and truncated v5 datagrams: same messages, errors and gaps', () => {
    const rand = seededRandom(11);
    const seeds = [
      ...Array.from({ length: 20 }, (_, i) => randomV5(rand, i * 30)),
      ...sampleDatagrams().filter((d) => d[0] === 0 && d[1] === 5),
    ];
    const seen = compare(codecs.flows, mutatedV5(rand, seeds, 1500), exporters);
    assert.ok(seen.direct > 1000, `${seen.direct} records took the direct path`);
  });

  test('exporter names the direct path leaves to the object path give the same bytes', () => {
    const rand = seededRandom(3);
    const datagrams = Array.from({ length: 20 }, (_, i) => randomV5(rand, i));
    const odd = ['exporté', 'x'.repeat(64), ''];
    const seen = compare(codecs.flows, datagrams, odd);
    assert.ok(seen.messages > 0);
    // '' is short ASCII: only it goes direct
    assert.ok(seen.direct > 0 && seen.direct < seen.messages);
  });
});

/** InProcessBus that also keeps every message sent, in send order. */
class CapturingBus extends InProcessBus {
  readonly sent: OutgoingMessage[] = [];
  override async producer(): Promise<BusProducer> {
    const p = await super.producer();
    return {
      send: (topic, messages) => {
        this.sent.push(...messages);
        return p.send(topic, messages);
      },
      close: () => p.close(),
    };
  }
}

/** Runs the collector with the direct path on or off and returns what it published. */
async function publishedByApp(
  directEncode: boolean,
  datagrams: Buffer[],
  decodeWorkers = 0,
): Promise<OutgoingMessage[]> {
  const expected = datagrams.reduce(
    (n, d, i) => n + new FlowDecoder().decode(d, { exporter: '127.0.0.1', receivedAtMs: i }).length,
    0,
  );
  const bus = new CapturingBus();
  const app = createApp(
    {
      ...DEFAULT_CONFIG,
      netflowPort: 0,
      ipfixPort: null,
      sflowPort: null,
      host: '127.0.0.1',
      httpPort: null,
      socketsPerPort: 1,
      decodeWorkers,
      directEncode,
    },
    { bus },
  );
  await app.start();
  const sock = createSocket('udp4');
  try {
    for (const d of datagrams) {
      await new Promise<void>((r) => sock.send(d, app.ports.netflow as number, '127.0.0.1', () => r()));
    }
    await waitFor(() => app.publisher.stats.published >= expected, { what: `${expected} flows published` });
    await app.publisher.flush();
    assert.equal(app.publisher.stats.published, expected);
    return bus.sent;
  } finally {
    sock.close();
    await app.stop();
    await bus.close();
  }
}

describe('collector app with the direct v5 path', () => {
  test('TIDEWATCH_COLLECTOR_DIRECT: on by default, 0/false turns it off, anything else is refused', () => {
    assert.equal(collectorConfigFromEnv({}).directEncode, true);
    assert.equal(collectorConfigFromEnv({ TIDEWATCH_COLLECTOR_DIRECT: '0' }).directEncode, false);
    assert.equal(collectorConfigFromEnv({ TIDEWATCH_COLLECTOR_DIRECT: 'false' }).directEncode, false);
    assert.equal(collectorConfigFromEnv({ TIDEWATCH_COLLECTOR_DIRECT: '1' }).directEncode, true);
    assert.throws(
      () => collectorConfigFromEnv({ TIDEWATCH_COLLECTOR_DIRECT: 'yes' }),
      /^ConfigError: TIDEWATCH_COLLECTOR_DIRECT: expected 1, 0, true or false, got "yes"$/,
    );
  });

  const v5Datagrams = (seed: number) => {
    const rand = seededRandom(seed);
    return [
      ...sampleDatagrams().filter((d) => d[0] === 0 && d[1] === 5),
      ...Array.from({ length: 40 }, (_, i) => randomV5(rand, i * 30)),
    ];
  };
  const same = (direct: OutgoingMessage[], object: OutgoingMessage[]) => {
    assert.ok(direct.length > 40, `${direct.length} messages`);
    assert.equal(direct.length, object.length);
    for (let i = 0; i < direct.length; i++) {
      assert.deepEqual(direct[i]?.key, object[i]?.key, `message ${i}: key`);
      assert.deepEqual(direct[i]?.value, object[i]?.value, `message ${i}: value`);
    }
  };

  test('a decode worker publishes the same messages with the direct path as without', async () => {
    const datagrams = v5Datagrams(22);
    same(await publishedByApp(true, datagrams, 1), await publishedByApp(false, datagrams, 1));
  });

  test('publishes exactly what the object path publishes (TIDEWATCH_COLLECTOR_DIRECT=0)', async () => {
    const datagrams = v5Datagrams(21);
    const direct = await publishedByApp(true, datagrams);
    const object = await publishedByApp(false, datagrams);
    same(direct, object);
  });
});
