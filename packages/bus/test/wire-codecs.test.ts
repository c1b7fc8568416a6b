import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Partitioners } from 'kafkajs';
import { type BusMessage, murmur2, partitionForKey } from '../src/index.ts';
import { API, apiVersions, produce } from '../src/wire/apis.ts';
import { Reader, varintSize, varlongSize, Writer, writeVarint, writeVarlong } from '../src/wire/codec.ts';
import { BrokerConnection } from '../src/wire/connection.ts';
import { crc32c } from '../src/wire/crc32c.ts';
import { roundRobinAssign } from '../src/wire/group-member.ts';
import {
  KafkaProtocolError,
  MalformedResponseError,
  UnsupportedVersionError,
} from '../src/wire/protocol-errors.ts';
import {
  CorruptRecordBatchError,
  decodeRecordBatches,
  decodeVarlong,
  RecordBatchBuilder,
  RecordBatchReader,
} from '../src/wire/record-batch.ts';
import { ScramSession } from '../src/wire/sasl.ts';

/** Bit-at-a-time CRC-32C, the reference for the table-driven one. */
function crc32cReference(data: Uint8Array): number {
  let crc = ~0;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('crc32c', () => {
  it('gives the standard check value and the RFC 3720 (iSCSI) vectors', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('matches the bitwise reference on every length and alignment', () => {
    const data = randomBytes(300);
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= data.length; end += 7) {
        assert.equal(
          crc32c(data, start, end),
          crc32cReference(data.subarray(start, end)),
          `[${start}, ${end})`,
        );
      }
    }
  });
});

/** Zigzag varint bytes computed with BigInt, the reference. */
function zigzagReference(v: number): number[] {
  const n = BigInt(v);
  let u = n >= 0n ? n << 1n : (-n << 1n) - 1n;
  const out: number[] = [];
  while (u >= 0x80n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

describe('varints', () => {
  const int32Edges = [
    0,
    -1,
    1,
    63,
    -64,
    64,
    -65,
    8191,
    -8192,
    8192,
    2 ** 20,
    -(2 ** 20),
    2 ** 31 - 1,
    -(2 ** 31),
  ];
  it('encodes zigzag varints like the protocol (known bytes and edge cases)', () => {
    const bytes = (v: number) => {
      const buf = Buffer.alloc(10);
      return [...buf.subarray(0, writeVarint(buf, 0, v))];
    };
    assert.deepEqual(bytes(0), [0x00]);
    assert.deepEqual(bytes(-1), [0x01]);
    assert.deepEqual(bytes(1), [0x02]);
    assert.deepEqual(bytes(63), [0x7e]);
    assert.deepEqual(bytes(-64), [0x7f]);
    assert.deepEqual(bytes(64), [0x80, 0x01]);
    assert.deepEqual(bytes(2 ** 31 - 1), [0xfe, 0xff, 0xff, 0xff, 0x0f]);
    assert.deepEqual(bytes(-(2 ** 31)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
    for (const v of int32Edges) {
      assert.deepEqual(bytes(v), zigzagReference(v), `varint ${v}`);
      assert.equal(varintSize(v), zigzagReference(v).length, `size of ${v}`);
      const encoded = Buffer.from(zigzagReference(v));
      assert.deepEqual(decodeVarlong(encoded, 0), { value: v, next: encoded.length });
    }
  });

  it('encodes and decodes varlongs beyond 32 bits (timestamp deltas)', () => {
    for (const v of [
      2 ** 31,
      -(2 ** 31) - 1,
      2 ** 40 + 3,
      -(2 ** 40) - 3,
      2 ** 52 - 1,
      -(2 ** 52),
      0x3fffffff,
      -0x40000000,
    ]) {
      const buf = Buffer.alloc(12);
      const end = writeVarlong(buf, 0, v);
      assert.deepEqual([...buf.subarray(0, end)], zigzagReference(v), `varlong ${v}`);
      assert.equal(varlongSize(v), end);
      assert.deepEqual(decodeVarlong(buf, 0, end), { value: v, next: end });
    }
  });

  it('rejects a varint that runs past its end', () => {
    assert.throws(() => decodeVarlong(Buffer.from([0x80, 0x80]), 0), /varint past the end/);
    assert.throws(() => decodeVarlong(Buffer.from([0x02]), 0, 0), /varint past the end/);
  });
});

interface TestRecord {
  key: Buffer | string | null;
  value: Buffer;
  headers?: [string, string][];
  ts: number;
}

function buildBatch(records: TestRecord[], producerId = 7, epoch = 1, baseSequence = 0): Buffer {
  const builder = new RecordBatchBuilder(128);
  for (const r of records) {
    const key = typeof r.key === 'string' ? Buffer.from(r.key) : r.key;
    builder.append(key, 0, key?.length ?? 0, r.value, r.ts, r.headers);
  }
  return Buffer.from(builder.seal(producerId, epoch, baseSequence));
}

/** A sealed batch as the broker returns it: baseOffset filled in. */
function atOffset(batch: Buffer, baseOffset: number): Buffer {
  const copy = Buffer.from(batch);
  copy.writeBigInt64BE(BigInt(baseOffset), 0);
  return copy;
}

describe('record batches (v2)', () => {
  const t0 = 1_700_000_000_000;
  const records: TestRecord[] = [
    { key: 'k0', value: Buffer.from('v0'), ts: t0 },
    { key: null, value: Buffer.from('no key'), ts: t0 + 5, headers: [['x-test', 'flow']] },
    {
      key: 'clé-ü|10.0.0.1',
      value: Buffer.alloc(0),
      ts: t0 + 1,
      headers: [
        ['a', ''],
        ['ü', 'ß'],
      ],
    },
    { key: Buffer.from('k'.repeat(100)), value: randomBytes(3000), ts: t0 + 10_000_000_000 },
  ];

  it('round-trips keys (null, UTF-8, long), values, headers and timestamps', () => {
    const batch = atOffset(buildBatch(records), 42);
    assert.equal(batch.readInt8(16), 2, 'magic 2');
    assert.equal(batch.readInt32BE(8), batch.length - 12, 'batch length');
    assert.equal(batch.readBigInt64BE(43), 7n, 'producer id');
    assert.equal(batch.readInt32BE(57), records.length, 'record count');
    const out: BusMessage[] = [];
    const { nextOffset } = decodeRecordBatches(batch, 0, batch.length, 't', 3, 0, out);
    assert.equal(nextOffset, 46);
    assert.deepEqual(
      out.map((m) => ({
        offset: m.offset,
        partition: m.partition,
        key: m.key === null ? null : m.key.toString(),
        value: m.value.toString('hex'),
        headers: { ...m.headers },
        ts: m.timestampMs,
      })),
      records.map((r, i) => ({
        offset: String(42 + i),
        partition: 3,
        key: r.key === null ? null : r.key.toString(),
        value: r.value.toString('hex'),
        headers: Object.fromEntries(r.headers ?? []),
        ts: r.ts,
      })),
    );
  });

  it('reads in chunks across batches and skips records before the fetch offset', () => {
    const many = Array.from({ length: 10 }, (_, i) => ({
      key: `k${i}`,
      value: Buffer.from(`v${i}`),
      ts: t0,
    }));
    const data = Buffer.concat([atOffset(buildBatch(many), 100), atOffset(buildBatch(many), 110)]);
    const reader = new RecordBatchReader(data, 0, data.length, 't', 0, 104);
    const seen: string[] = [];
    for (;;) {
      const chunk: BusMessage[] = [];
      if (reader.read(4, chunk) === 0) break;
      assert.ok(chunk.length <= 4);
      seen.push(...chunk.map((m) => m.offset));
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 16 }, (_, i) => String(104 + i)),
    );
    assert.equal(reader.nextOffset, 120);
  });

  it('ignores a trailing partial batch (cut by the fetch size)', () => {
    const one = atOffset(buildBatch(records.slice(0, 2)), 0);
    const data = Buffer.concat([one, atOffset(buildBatch(records.slice(0, 2)), 2).subarray(0, 30)]);
    const out: BusMessage[] = [];
    assert.equal(decodeRecordBatches(data, 0, data.length, 't', 0, 0, out).nextOffset, 2);
    assert.equal(out.length, 2);
  });

  it('reports a batch whose CRC does not match its bytes, naming where', () => {
    const batch = atOffset(buildBatch(records), 9);
    batch[batch.length - 1]! ^= 0xff;
    assert.throws(
      () => decodeRecordBatches(batch, 0, batch.length, 'flows.v1', 2, 0, []),
      (error: Error) =>
        error instanceof CorruptRecordBatchError &&
        /^flows\.v1\[2\] batch at offset 9: CRC mismatch \(batch says [0-9a-f]+, data gives [0-9a-f]+\)$/.test(
          error.message,
        ),
    );
  });

  it('reports records that overrun their batch and impossible lengths', () => {
    const batch = atOffset(buildBatch(records.slice(0, 2)), 0);
    batch.writeInt32BE(5, 57); // claims more records than it holds
    batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
    assert.throws(
      () => decodeRecordBatches(batch, 0, batch.length, 't', 0, 0, []),
      /t\[0\] batch at offset 0: varint past the end|overruns/,
    );
    const short = atOffset(buildBatch(records.slice(0, 1)), 0);
    short.writeInt32BE(10, 8);
    assert.throws(
      () => decodeRecordBatches(short, 0, short.length, 't', 0, 0, []),
      /batch length 10 is too small/,
    );
    const legacy = atOffset(buildBatch(records.slice(0, 1)), 0);
    legacy[16] = 1;
    assert.throws(
      () => decodeRecordBatches(legacy, 0, legacy.length, 't', 0, 0, []),
      /message format v1 is not supported/,
    );
  });

  it('decodes gzip-compressed batches and names unsupported codecs', () => {
    const plain = atOffset(buildBatch(records.slice(0, 3)), 5);
    const compressed = gzipSync(plain.subarray(61));
    const batch = Buffer.concat([plain.subarray(0, 61), compressed]);
    batch.writeInt32BE(batch.length - 12, 8);
    batch.writeInt16BE(1, 21);
    batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
    const out: BusMessage[] = [];
    decodeRecordBatches(batch, 0, batch.length, 't', 0, 0, out);
    assert.deepEqual(
      out.map((m) => m.value.toString()),
      ['v0', 'no key', ''],
    );
    batch.writeInt16BE(2, 21);
    batch.writeUInt32BE(crc32c(batch, 21, batch.length), 17);
    assert.throws(
      () => decodeRecordBatches(batch, 0, batch.length, 't', 0, 0, []),
      /snappy compression is not supported/,
    );
  });

  it('skips control batches (transaction markers) but moves past them', () => {
    const control = atOffset(
      buildBatch([{ key: Buffer.from([0, 0, 0, 1]), value: Buffer.alloc(6), ts: t0 }]),
      0,
    );
    control.writeInt16BE(0x30, 21);
    control.writeUInt32BE(crc32c(control, 21, control.length), 17);
    const data = Buffer.concat([control, atOffset(buildBatch(records.slice(0, 1)), 1)]);
    const out: BusMessage[] = [];
    assert.equal(decodeRecordBatches(data, 0, data.length, 't', 0, 0, out).nextOffset, 2);
    assert.deepEqual(
      out.map((m) => m.offset),
      ['1'],
    );
  });
});

describe('murmur2 partitioning', () => {
  it('gives the partition kafkajs’ DefaultPartitioner (Java-compatible) gives, on many keys', () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    for (const partitions of [1, 3, 4, 7, 12, 64]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({
        partitionId: i,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      for (let n = 0; n < 400; n++) {
        const key =
          n % 3 === 0
            ? `10.${n % 256}.${(n * 7) % 256}.1|192.168.${n % 7}.${n % 250}`
            : n % 3 === 1
              ? randomBytes(n % 40).toString('base64')
              : `ü-${n}-€-${'x'.repeat(n % 9)}`;
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        assert.equal(
          partitionForKey(key, partitions),
          expected,
          `key ${JSON.stringify(key)} over ${partitions}`,
        );
      }
    }
  });

  it('hashes a key inside a larger buffer like the key alone', () => {
    const data = randomBytes(64);
    for (let start = 0; start < 8; start++) {
      for (let end = start; end < 40; end++) {
        assert.equal(murmur2(data, start, end), murmur2(Buffer.from(data.subarray(start, end))));
      }
    }
  });
});

describe('round-robin assignment', () => {
  it('spreads partitions over members that subscribe to them, each partition once', () => {
    const plan = roundRobinAssign(
      [
        { memberId: 'b', topics: ['t1', 't2'] },
        { memberId: 'a', topics: ['t1'] },
      ],
      new Map([
        ['t1', 4],
        ['t2', 3],
      ]),
    );
    assert.deepEqual(Object.fromEntries([...plan.get('a')!]), { t1: [0, 2] });
    assert.deepEqual(Object.fromEntries([...plan.get('b')!]), { t1: [1, 3], t2: [0, 1, 2] });
  });
});

describe('SCRAM (RFC 5802 / RFC 7677 test vectors)', () => {
  it('SCRAM-SHA-1: the RFC 5802 exchange', () => {
    const scram = new ScramSession('sha1', 'user', 'pencil', 'fyko+d2lbbFgONRv9qkxdawL');
    assert.equal(scram.first().toString(), 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL');
    const final = scram.next(
      Buffer.from('r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096'),
    );
    assert.equal(
      final?.toString(),
      'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    );
    assert.equal(scram.next(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')), null);
  });

  it('SCRAM-SHA-256: the RFC 7677 exchange', () => {
    const scram = new ScramSession('sha256', 'user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    assert.equal(scram.first().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const final = scram.next(
      Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'),
    );
    assert.equal(
      final?.toString(),
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    assert.equal(scram.next(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')), null);
  });

  it('rejects a server that cannot prove it knows the password, and escapes user names', () => {
    const scram = new ScramSession('sha256', 'us=er,x', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    assert.equal(scram.first().toString(), 'n,,n=us=3Der=2Cx,r=rOprNGfwEbeRWgbNEkqO');
    scram.next(Buffer.from('r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
    assert.throws(() => scram.next(Buffer.from('v=AAAA')), /server signature does not match/);
    const other = new ScramSession('sha512', 'user', 'pencil', 'abc');
    other.first();
    assert.throws(() => other.next(Buffer.from('r=zzz,s=AAAA,i=4096')), /server nonce does not extend ours/);
  });
});

describe('protocol framing', () => {
  const servers: Server[] = [];
  const connections: BrokerConnection[] = [];
  const sockets: Socket[] = [];
  after(() => {
    for (const c of connections) c.close();
    for (const socket of sockets) socket.destroy();
    for (const s of servers) s.close();
  });

  /** A TCP peer that answers each request frame with `reply(correlationId, apiKey)`. */
  async function peer(reply: (correlationId: number, apiKey: number) => Buffer): Promise<number> {
    const server = createServer((socket) => {
      sockets.push(socket);
      let pending = Buffer.alloc(0);
      socket.on('data', (chunk) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
          const frame = pending.subarray(4, 4 + pending.readInt32BE(0));
          pending = pending.subarray(4 + frame.length);
          socket.write(reply(frame.readInt32BE(4), frame.readInt16BE(0)));
        }
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  function frame(correlationId: number, body: Writer): Buffer {
    const out = Buffer.alloc(8 + body.pos);
    out.writeInt32BE(4 + body.pos, 0);
    out.writeInt32BE(correlationId, 4);
    body.buf.copy(out, 8, 0, body.pos);
    return out;
  }

  function versions(produceMax: number): Writer {
    const w = new Writer();
    w.int16(0);
    w.array(Object.values(API), (x, api) => {
      x.int16(api.key);
      x.int16(0);
      x.int16(api.key === API.Produce.key ? produceMax : 20);
    });
    w.int32(0);
    return w;
  }

  it('names the API and versions when the broker cannot speak what this client needs', async () => {
    const port = await peer((id) => frame(id, versions(2)));
    const conn = new BrokerConnection({ host: '127.0.0.1', port, clientId: 't' });
    connections.push(conn);
    await assert.rejects(
      conn.request(produce(-1, 1000, [])),
      (error: Error) =>
        error instanceof UnsupportedVersionError &&
        error.message ===
          `broker 127.0.0.1:${port} cannot speak Produce v7 (it supports v0-v2); this client needs a Kafka 2.4-4.x broker`,
    );
  });

  it('fails a truncated response with an error naming the API, not a crash', async () => {
    const port = await peer((id, apiKey) => {
      if (apiKey === API.ApiVersions.key) return frame(id, versions(11));
      const w = new Writer();
      w.int32(1); // one topic...
      w.int16(5); // ...whose 5-byte name is missing
      return frame(id, w);
    });
    const conn = new BrokerConnection({ host: '127.0.0.1', port, clientId: 't' });
    connections.push(conn);
    await assert.rejects(
      conn.request(produce(-1, 1000, [])),
      (error: Error) =>
        error instanceof MalformedResponseError &&
        error.message ===
          `Produce response from 127.0.0.1:${port}: truncated (needed 5 bytes at offset 10 of 10)`,
    );
  });

  it('drops the connection on an impossible frame length and fails what was pending', async () => {
    const port = await peer((id, apiKey) => {
      if (apiKey === API.ApiVersions.key) return frame(id, versions(11));
      return Buffer.from([0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0]);
    });
    const conn = new BrokerConnection({ host: '127.0.0.1', port, clientId: 't' });
    connections.push(conn);
    await assert.rejects(conn.request(produce(-1, 1000, [])), {
      name: 'MalformedResponseError',
      message: `response frame from 127.0.0.1:${port} has length -16`,
    });
  });

  it('reads a broker error code as a named, described error', () => {
    const error = new KafkaProtocolError(6, 'produce to flows.v1[2]');
    assert.equal(error.type, 'NOT_LEADER_OR_FOLLOWER');
    assert.equal(error.retriable, true);
    assert.equal(
      error.message,
      'This server is not the leader for that topic-partition [NOT_LEADER_OR_FOLLOWER]: produce to flows.v1[2]',
    );
    assert.equal(new KafkaProtocolError(9999).type, 'UNKNOWN_ERROR_CODE_9999');
    const r = new Reader(Buffer.from([0, 5]), 'Metadata response');
    assert.throws(() => r.int32(), /^MalformedResponseError: Metadata response: truncated/);
    assert.equal(apiVersions().name, 'ApiVersions');
  });
});
