import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { needsServices, serviceEndpoints, uniqueName, waitFor } from '@tidewatch/testing';
import { KafkaBus } from '../src/index.ts';
import { busContract } from './bus-contract.ts';

const services = needsServices();
const brokers = () => serviceEndpoints()!.kafkaBrokers;

// The whole suite runs on both clients KafkaBus can use for produce, fetch and commit.
for (const client of ['wire', 'kafkajs'] as const) {
  busContract(
    `KafkaBus (${client})`,
    (metrics) =>
      new KafkaBus({
        brokers: brokers(),
        clientId: uniqueName('bus-test'),
        client,
        ...(metrics ? { metrics } : {}),
      }),
    { ...services, readsAhead: client === 'wire' },
  );

  describe(`KafkaBus (${client})`, { skip: services.skip }, () => {
    const buses: KafkaBus[] = [];
    after(async () => {
      await Promise.allSettled(buses.map((b) => b.close()));
    });

    it('creates each topic and its .dlq with the requested partitions, and tolerates existing ones', async () => {
      const bus = new KafkaBus({ brokers: brokers(), clientId: 'bus-test', client });
      buses.push(bus);
      const topic = uniqueName('ensure');
      await bus.ensureTopics([
        { topic, partitions: 3 },
        { topic: `${topic}-nodlq`, withDeadLetter: false },
      ]);
      await bus.ensureTopics([{ topic, partitions: 3 }]);
      const admin = await bus.admin();
      const { topics } = await admin.fetchTopicMetadata({
        topics: [topic, `${topic}.dlq`, `${topic}-nodlq`],
      });
      assert.deepEqual(
        topics.map((t) => [t.name, t.partitions.length]).sort(),
        [
          [topic, 3],
          [`${topic}-nodlq`, 4],
          [`${topic}.dlq`, 3],
        ].sort(),
      );
      assert.equal((await admin.listTopics()).includes(`${topic}-nodlq.dlq`), false);
    });

    it('fails to produce to a topic that does not exist (no auto-creation)', async () => {
      const bus = new KafkaBus({ brokers: brokers(), clientId: 'bus-test', client, retries: 1 });
      buses.push(bus);
      const producer = await bus.producer();
      await assert.rejects(
        producer.send(uniqueName('absent'), [{ key: 'k', value: Buffer.from('v') }]),
        /This server does not host this topic-partition/,
      );
      await producer.close();
    });

    it('loses nothing when the consumer process is killed mid-batch (SIGKILL, no commit, no leave)', async () => {
      const bus = new KafkaBus({ brokers: brokers(), clientId: 'bus-test', client });
      buses.push(bus);
      const topic = uniqueName('killed');
      const group = uniqueName('g');
      const total = 300;
      await bus.ensureTopics([{ topic, partitions: 2 }]);
      const producer = await bus.producer();
      await producer.send(
        topic,
        Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
      );
      await producer.close();

      const dir = mkdtempSync(join(tmpdir(), 'tw-killed-'));
      try {
        const outFile = join(dir, 'out');
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', fileURLToPath(new URL('./fixtures/crashing-consumer.ts', import.meta.url))],
          {
            env: {
              ...process.env,
              BUS_CLIENT: client,
              TOPIC: topic,
              GROUP: group,
              OUT_FILE: outFile,
              CRASH_AFTER: '120',
            },
            stdio: 'ignore',
          },
        );
        const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
          child.on('exit', (_c, s) => resolve(s)),
        );
        assert.equal(signal, 'SIGKILL');
        const writtenByChild = readFileSync(outFile, 'utf8').split('\n').filter(Boolean);
        const output = new Set(writtenByChild);
        assert.ok(output.size >= 120 && output.size < total, `the child died part-way (${output.size})`);

        let handled = 0;
        const redelivered = new Set<string>();
        const consumer = bus.consumer({ groupId: group, topics: [topic], maxBatchSize: 25 });
        await consumer.run(async (messages) => {
          for (const m of messages) {
            const key = m.key!.toString();
            if (output.has(key)) redelivered.add(key);
            output.add(key);
            handled += 1;
          }
        });
        await waitFor(() => output.size === total, { what: `all ${total} keys`, timeoutMs: 90_000 });
        await consumer.stop();
        assert.equal(output.size, total);
        // The batch the child died in was written but never committed: it comes again.
        assert.ok(redelivered.has(writtenByChild.at(-1)!), 'the last key the child wrote was redelivered');
        assert.ok(handled + writtenByChild.length > total);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
