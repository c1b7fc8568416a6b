import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { needsServices, serviceEndpoints, uniqueName, waitFor } from '@tidewatch/testing';
import { Partitioners } from 'kafkajs';
import { Writable } from 'node:stream';
import { createLogger } from '@tidewatch/observability';
import { type BusConsumer, type BusMessage, KafkaBus } from '../src/index.ts';
import { Cluster } from '../src/wire/cluster.ts';
import { WireConsumer } from '../src/wire/consumer.ts';
import { groupLag, listPartitionOffsets } from '../src/wire/offsets.ts';
import { WireProducer } from '../src/wire/producer.ts';

const services = needsServices();
const brokers = () => serviceEndpoints()!.kafkaBrokers;

/** What the wire client does beyond the shared contract: interop with kafkajs, partitioning, limits. */
describe('KafkaBus wire client', { skip: services.skip }, () => {
  const buses: KafkaBus[] = [];
  const consumers: BusConsumer[] = [];
  const bus = (client: 'wire' | 'kafkajs') => {
    const b = new KafkaBus({ brokers: brokers(), clientId: uniqueName('wire-test'), client });
    buses.push(b);
    return b;
  };
  after(async () => {
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await Promise.allSettled(buses.map((b) => b.close()));
  });

  async function consumeAll(b: KafkaBus, topic: string, count: number): Promise<BusMessage[]> {
    const out: BusMessage[] = [];
    const consumer = b.consumer({ groupId: uniqueName('g'), topics: [topic] });
    consumers.push(consumer);
    await consumer.run(async (messages) => {
      out.push(...messages);
    });
    await waitFor(() => out.length >= count, { what: `${count} messages of ${topic}`, timeoutMs: 60_000 });
    await consumer.stop();
    return out;
  }

  it('puts each key on the partition kafkajs’ default partitioner picks, and each client reads the other’s records', async () => {
    const wire = bus('wire');
    const kafkajs = bus('kafkajs');
    const topic = uniqueName('parity');
    await wire.ensureTopics([{ topic, partitions: 7, withDeadLetter: false }]);
    // ASCII and non-ASCII keys (hashed from their char codes or from their UTF-8 bytes), empty
    // ones, and keys longer than the producer's first scratch buffer.
    const keys = Array.from({ length: 600 }, (_, i) =>
      i % 100 === 0
        ? ''
        : i % 100 === 1
          ? `${'ä'.repeat(i % 7)}${'x'.repeat(400 + i)}`
          : i % 100 === 2
            ? `long-${'y'.repeat(1000 + i)}`
            : i % 2
              ? `10.0.${i % 256}.${i}|192.168.1.${i % 200}`
              : `k-ü-${i}`,
    );
    const producer = await wire.producer();
    await producer.send(
      topic,
      keys.map((key, i) => ({ key, value: Buffer.from(`v${i}`), headers: { i: String(i) } })),
    );
    await producer.close();
    const fromKafkajs = await kafkajs.producer();
    await fromKafkajs.send(topic, [{ key: 'from-kafkajs', value: Buffer.from('x'), headers: { i: 'k' } }]);
    await fromKafkajs.close();

    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: 7 }, (_, i) => ({
      partitionId: i,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    const expected = (key: string) =>
      partitioner({ topic, partitionMetadata, message: { key, value: null } });
    for (const client of [wire, kafkajs]) {
      const messages = await consumeAll(client, topic, keys.length + 1);
      assert.equal(messages.length, keys.length + 1, `${client.client} read every record once`);
      for (const m of messages) {
        const key = m.key!.toString();
        assert.equal(m.partition, expected(key), `${client.client}: partition of ${key}`);
        if (key === 'from-kafkajs') assert.equal(m.value.toString(), 'x');
        else {
          assert.equal(m.value.toString(), `v${m.headers['i']}`);
          assert.deepEqual(
            m.key,
            Buffer.from(keys[Number(m.headers['i'])]!),
            `key bytes of ${m.headers['i']}`,
          );
        }
      }
    }
  });

  it('splits a send larger than one batch and keeps each send’s messages in order', async () => {
    const wire = bus('wire');
    const topic = uniqueName('big');
    await wire.ensureTopics([{ topic, partitions: 2, withDeadLetter: false }]);
    const producer = await wire.producer();
    const value = Buffer.alloc(200, 7);
    // 12k x 200 B on one partition is over the 1 MB batch limit; concurrent sends interleave only
    // between batches, never inside one send's run of a partition.
    await Promise.all(
      Array.from({ length: 4 }, (_, s) =>
        producer.send(
          topic,
          Array.from({ length: 3000 }, (_, i) => ({
            key: null,
            value,
            partition: 0,
            headers: { s: `${s}`, i: `${i}` },
          })),
        ),
      ),
    );
    await assert.rejects(producer.send(topic, [{ key: 'k', value, partition: 2 }]), {
      name: 'RangeError',
      message: `partition 2 does not exist in ${topic} (2 partitions)`,
    });
    await producer.close();
    const messages = await consumeAll(wire, topic, 12_000);
    assert.equal(messages.length, 12_000);
    const last = new Map<string, number>();
    for (const m of messages) {
      const s = m.headers['s']!;
      const i = Number(m.headers['i']);
      assert.equal(i, (last.get(s) ?? -1) + 1, `send ${s} in order`);
      last.set(s, i);
    }
  });

  it('coalesces concurrent sends to several topics into shared requests, each message once', async () => {
    const wire = bus('wire');
    const topics = [uniqueName('multi-a'), uniqueName('multi-b'), uniqueName('multi-c')];
    await wire.ensureTopics(topics.map((topic) => ({ topic, partitions: 3, withDeadLetter: false })));
    const producer = await wire.producer();
    await Promise.all(
      topics.flatMap((topic, t) =>
        Array.from({ length: 8 }, (_, s) =>
          producer.send(
            topic,
            Array.from({ length: 50 * (t + 1) }, (_, i) => ({ key: `${s}-${i}`, value: Buffer.from(topic) })),
          ),
        ),
      ),
    );
    await producer.close();
    for (const [t, topic] of topics.entries()) {
      const ends = await listPartitionOffsets(
        wire.wireAdmin(),
        [0, 1, 2].map((partition) => ({ topic, partition })),
        -1,
      );
      assert.equal(
        [...ends.values()].reduce((a, b) => a + b, 0),
        8 * 50 * (t + 1),
        `${topic} holds every message once`,
      );
    }
  });

  it('shares a group with kafkajs members (same assignment protocol names)', async () => {
    const topic = uniqueName('mixed');
    const groupId = uniqueName('g');
    const wire = bus('wire');
    await wire.ensureTopics([{ topic, partitions: 4, withDeadLetter: false }]);
    const seen = [new Map<string, number>(), new Map<string, number>()] as const;
    const members = [
      wire.consumer({ groupId, topics: [topic] }),
      bus('kafkajs').consumer({ groupId, topics: [topic] }),
    ];
    consumers.push(...members);
    for (const [i, c] of members.entries()) {
      await c.run(async (messages) => {
        for (const m of messages) seen[i]!.set(m.key!.toString(), m.partition);
      });
    }
    const producer = await wire.producer();
    await producer.send(
      topic,
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
    );
    await producer.close();
    await waitFor(() => seen[0].size + seen[1].size >= 200, { what: '200 messages', timeoutMs: 60_000 });
    await Promise.all(members.map((c) => c.stop()));
    assert.equal(seen[0].size + seen[1].size, 200, 'no message reached both members');
    assert.ok(seen[0].size > 0 && seen[1].size > 0, 'both clients got partitions');
    const wirePartitions = new Set(seen[0].values());
    for (const p of seen[1].values()) assert.ok(!wirePartitions.has(p), `partition ${p} had one owner`);
  });

  it('retries a produce whose connection dropped under it, and the log holds each message once', async () => {
    const wire = bus('wire');
    const topic = uniqueName('reset');
    await wire.ensureTopics([{ topic, partitions: 3, withDeadLetter: false }]);
    const lines: string[] = [];
    const logger = createLogger({
      name: 'reset-test',
      level: 'warn',
      destination: new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const cluster = new Cluster({ brokers: brokers(), clientId: 'reset-test' });
    const producer = new WireProducer(cluster, { retries: 5, initialRetryMs: 20, logger });
    await producer.connect();
    const leader = (await cluster.topic(topic)).leaders[0]!;
    for (let round = 0; round < 10; round++) {
      const sent = producer.send(
        topic,
        Array.from({ length: 100 }, (_, i) => ({
          key: `r${round}-${i}`,
          value: Buffer.from(`${round}:${i}`),
        })),
      );
      // The request is written within this tick; the connection is cut before its answer is read.
      await new Promise((resolve) => setImmediate(resolve));
      (await cluster.connectionTo(leader, 'produce')).reset('cut by the test');
      await sent;
    }
    await producer.close();
    assert.ok(
      lines.some((l) => l.includes('produce failed, retrying') && l.includes('cut by the test')),
      'at least one produce request was cut in flight and retried',
    );
    const ends = await listPartitionOffsets(
      wire.wireAdmin(),
      [0, 1, 2].map((partition) => ({ topic, partition })),
      -1,
    );
    assert.equal(
      [...ends.values()].reduce((a, b) => a + b, 0),
      1000,
      'retried batches were deduplicated by the broker (idempotent producer)',
    );
    const messages = await consumeAll(wire, topic, 1000);
    assert.equal(new Set(messages.map((m) => m.key!.toString())).size, 1000);
  });

  it('consumes everything and commits to the end while its connections keep being cut', async () => {
    const wire = bus('wire');
    const topic = uniqueName('cut');
    const groupId = uniqueName('g');
    await wire.ensureTopics([{ topic, partitions: 3, withDeadLetter: false }]);
    const producer = await wire.producer();
    await producer.send(
      topic,
      Array.from({ length: 3000 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
    );
    await producer.close();
    const cluster = new Cluster({ brokers: brokers(), clientId: 'cut-test' });
    const consumer = new WireConsumer(
      { groupId, topics: [topic], maxBatchSize: 50 },
      {
        cluster,
        logger: createLogger({ name: 'cut-test', level: 'silent' }),
        metrics: undefined,
        deadLetter: async () => {
          throw new Error('nothing is dead-lettered here');
        },
        lag: () => groupLag(wire.wireAdmin(), groupId, [topic], true),
        stopDeadlineMs: 30_000,
      },
    );
    consumers.push(consumer);
    const seen = new Set<string>();
    await consumer.run(async (messages) => {
      for (const m of messages) seen.add(m.key!.toString());
      await new Promise((resolve) => setTimeout(resolve, 2));
    });
    let cuts = 0;
    const cutter = setInterval(() => {
      cluster.resetConnections('cut by the test');
      cuts++;
    }, 25);
    try {
      await waitFor(() => seen.size === 3000 || cuts >= 40, { what: 'forty cuts', timeoutMs: 60_000 });
    } finally {
      clearInterval(cutter);
    }
    await waitFor(() => seen.size === 3000, { what: 'all 3000 keys', timeoutMs: 60_000 });
    await waitFor(async () => (await consumer.lag()).every((p) => p.lag === 0), {
      what: 'committed to the end',
    });
    await consumer.stop();
    assert.ok(cuts >= 5, `connections were cut while consuming (${cuts})`);
    assert.equal(seen.size, 3000);
  });

  it('creates topics once when two processes ensure them at the same time', async () => {
    const topic = uniqueName('race');
    const [a, b] = [bus('wire'), bus('wire')];
    await Promise.all([
      a.ensureTopics([{ topic, partitions: 3 }]),
      b.ensureTopics([{ topic, partitions: 3 }]),
    ]);
    const described = await a.wireAdmin().describe([topic, `${topic}.dlq`]);
    assert.deepEqual(
      described.topics.map((t) => [t.name, t.errorCode, t.partitions.length]).sort(),
      [
        [topic, 0, 3],
        [`${topic}.dlq`, 0, 3],
      ].sort(),
    );
  });

  it('starts a new group at the end of the log when fromBeginning is false', async () => {
    const wire = bus('wire');
    const topic = uniqueName('latest');
    await wire.ensureTopics([{ topic, partitions: 1, withDeadLetter: false }]);
    const producer = await wire.producer();
    await producer.send(topic, [{ key: 'old', value: Buffer.from('old') }]);
    const seen: string[] = [];
    const consumer = wire.consumer({ groupId: uniqueName('g'), topics: [topic], fromBeginning: false });
    consumers.push(consumer);
    await consumer.run(async (messages) => {
      seen.push(...messages.map((m) => m.key!.toString()));
    });
    await producer.send(topic, [{ key: 'new', value: Buffer.from('new') }]);
    await producer.close();
    await waitFor(() => seen.includes('new'), { what: 'the new message' });
    await consumer.stop();
    assert.deepEqual(seen, ['new']);
  });
});
