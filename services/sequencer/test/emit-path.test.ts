import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaBus, type MessageBus } from '@tidewatch/bus';
import { conversationKey, createCodecs, type FlowRecord } from '@tidewatch/contracts';
import { needsServices, needsShared, serviceEndpoints, uniqueName, waitFor } from '@tidewatch/testing';
import { createApp } from '../src/app.ts';
import type { SequencerConfig } from '../src/config.ts';
import { expectedOutput, loadCaptures, testConfig } from './harness.ts';

const services = serviceEndpoints();
const enabled = needsShared().skip === false && needsServices().skip === false;
const skip = enabled ? {} : { skip: 'needs Kafka, Redis and the shared data' };

/** The bus with a producer that only has send(): the service then takes its encodeWindow + send() path. */
function sendOnly(bus: MessageBus): MessageBus {
  return {
    ensureTopics: (specs) => bus.ensureTopics(specs),
    producer: async () => {
      const producer = await bus.producer();
      return { send: (topic, messages) => producer.send(topic, messages), close: () => producer.close() };
    },
    consumer: (options) => bus.consumer(options),
    close: async () => {},
  };
}

describe('sequencer emit path: records written into the batches vs encoded messages sent', skip, () => {
  let bus: KafkaBus;
  let flows: FlowRecord[];

  before(async () => {
    if (!services) return;
    bus = new KafkaBus({ brokers: services.kafkaBrokers, clientId: 'sequencer-emit-test' });
    flows = await loadCaptures();
  });

  after(async () => {
    await bus?.close();
  });

  /** Runs the service over `flows` and returns every message of its sequences topic, as text. */
  async function run(config: SequencerConfig, through: MessageBus): Promise<string[]> {
    const codecs = await createCodecs();
    await bus.ensureTopics([
      { topic: config.flowsTopic, partitions: config.flowsPartitions },
      { topic: config.sequencesTopic, partitions: config.sequencesPartitions },
    ]);
    const producer = await bus.producer();
    for (let i = 0; i < flows.length; i += 1000) {
      await producer.send(
        config.flowsTopic,
        flows
          .slice(i, i + 1000)
          .map((f) => ({ key: conversationKey(f.src_ip, f.dst_ip), value: codecs.flows.encode(f) })),
      );
    }
    await producer.close();
    const expected = expectedOutput(flows, config.flowsPartitions, config.spec).sequences.length;
    const got: string[] = [];
    const consumer = bus.consumer({ groupId: uniqueName('emit-reader'), topics: [config.sequencesTopic] });
    await consumer.run(async (messages) => {
      for (const m of messages)
        got.push(`${m.partition} ${m.key?.toString('hex')} ${m.value.toString('hex')}`);
    });
    const app = createApp(config, { bus: through });
    await app.start();
    try {
      await waitFor(() => got.length >= expected, { timeoutMs: 90_000, what: `${expected} sequences` });
    } finally {
      await app.stop();
      await consumer.stop();
    }
    assert.equal(got.length, expected, 'one message per sequence');
    return got.sort();
  }

  it('puts the same messages (partition, key, value) on the sequences topic', async () => {
    const producer = await bus.producer();
    assert.ok(producer.sendRecords, 'KafkaBus has sendRecords (the path under test)');
    await producer.close();
    // Small max_flows: windows of several parts, each keyed by its own id.
    const over = { TIDEWATCH_SEQUENCER_MAX_FLOWS: '8', TIDEWATCH_SEQUENCES_PARTITIONS: '3' };
    const viaRecords = await run(testConfig(uniqueName('emit-records'), over), bus);
    const viaSend = await run(testConfig(uniqueName('emit-send'), over), sendOnly(bus));
    assert.ok(viaRecords.length > 1000, `${viaRecords.length} sequences`);
    assert.equal(new Set(viaRecords.map((m) => m.split(' ')[1])).size, viaRecords.length, 'no key twice');
    assert.deepEqual(viaRecords, viaSend);
  });
});
