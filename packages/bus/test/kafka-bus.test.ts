import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { needsServices, serviceEndpoints, uniqueName } from '@tidewatch/testing';
import { KafkaBus } from '../src/index.ts';
import { busContract } from './bus-contract.ts';

const services = needsServices();
const brokers = () => serviceEndpoints()!.kafkaBrokers;

busContract(
  'KafkaBus',
  () => new KafkaBus({ brokers: brokers(), clientId: uniqueName('bus-test') }),
  services,
);

describe('KafkaBus', { skip: services.skip }, () => {
  const buses: KafkaBus[] = [];
  after(async () => {
    await Promise.allSettled(buses.map((b) => b.close()));
  });

  it('creates each topic and its .dlq with the requested partitions, and tolerates existing ones', async () => {
    const bus = new KafkaBus({ brokers: brokers(), clientId: 'bus-test' });
    buses.push(bus);
    const topic = uniqueName('ensure');
    await bus.ensureTopics([
      { topic, partitions: 3 },
      { topic: `${topic}-nodlq`, withDeadLetter: false },
    ]);
    await bus.ensureTopics([{ topic, partitions: 3 }]);
    const admin = await bus.admin();
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic, `${topic}.dlq`, `${topic}-nodlq`] });
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
    const bus = new KafkaBus({ brokers: brokers(), clientId: 'bus-test', retries: 1 });
    buses.push(bus);
    const producer = await bus.producer();
    await assert.rejects(
      producer.send(uniqueName('absent'), [{ key: 'k', value: Buffer.from('v') }]),
      /This server does not host this topic-partition/,
    );
    await producer.close();
  });
});
