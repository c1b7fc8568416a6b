import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '@tidewatch/testing';
import { InProcessBus, PoisonMessageError, partitionForKey } from '../src/index.ts';
import { busContract } from './bus-contract.ts';

busContract('InProcessBus', (metrics) => new InProcessBus(metrics ? { metrics } : {}), {
  skip: false,
  readsAhead: true,
});

describe('InProcessBus', () => {
  it('places keyed messages on the partition Kafka would choose', async () => {
    const bus = new InProcessBus();
    await bus.ensureTopics([{ topic: 't', partitions: 6 }]);
    const producer = await bus.producer();
    const keys = Array.from({ length: 30 }, (_, i) => `10.0.0.${i}|10.0.1.${i}`);
    await producer.send(
      't',
      keys.map((key) => ({ key, value: Buffer.from(key) })),
    );
    const placed = new Map<string, number>();
    const consumer = bus.consumer({ groupId: 'g', topics: ['t'] });
    await consumer.run(async (messages) => {
      for (const m of messages) placed.set(m.key!.toString(), m.partition);
    });
    await waitFor(() => placed.size === keys.length);
    await consumer.stop();
    for (const key of keys) assert.equal(placed.get(key), partitionForKey(key, 6));
  });

  it('keeps a batch whose dead-lettering failed and delivers it again', async () => {
    const bus = new InProcessBus();
    await bus.ensureTopics([{ topic: 'plain', partitions: 1, withDeadLetter: false }]);
    const producer = await bus.producer();
    await producer.send('plain', [{ key: 'k', value: Buffer.from('poison') }]);
    let attempts = 0;
    const consumer = bus.consumer({ groupId: 'g', topics: ['plain'] });
    await consumer.run(async () => {
      attempts += 1;
      throw new PoisonMessageError('never valid');
    });
    await waitFor(() => attempts >= 2, { what: 'a second delivery' });
    await bus.ensureTopics([{ topic: 'plain', partitions: 1 }]);
    const dead: string[] = [];
    const dlq = bus.consumer({ groupId: 'd', topics: ['plain.dlq'] });
    await dlq.run(async (messages) => {
      dead.push(...messages.map((m) => m.headers['x-error']!));
    });
    await waitFor(() => dead.length === 1, { what: 'the dead letter', timeoutMs: 5_000 });
    await consumer.stop();
    await dlq.stop();
    assert.deepEqual(dead, ['PoisonMessageError: never valid']);
    assert.deepEqual(await consumer.lag(), [{ topic: 'plain', partition: 0, lag: 0 }]);
  });

  it('keeps only what some reading group has not committed, and a retention cap for the rest', async () => {
    const bus = new InProcessBus({ retainPerPartition: 50 });
    await bus.ensureTopics([{ topic: 't', partitions: 1 }]);
    const producer = await bus.producer();
    await producer.send(
      't',
      Array.from({ length: 30 }, (_, i) => ({ key: null, value: Buffer.from(String(i)) })),
    );
    const fast: string[] = [];
    const a = bus.consumer({ groupId: 'fast', topics: ['t'] });
    await a.run(async (messages) => {
      fast.push(...messages.map((m) => m.value.toString()));
    });
    await waitFor(() => fast.length === 30);
    const partition = bus.topic('t').partitions[0]!;
    assert.equal(partition.records.length, 0, 'the only reading group committed everything');
    await a.stop();

    // A second group joins later and has committed nothing: from now on its backlog stays.
    let slowSeen = 0;
    let gate!: () => void;
    const opened = new Promise<void>((r) => {
      gate = r;
    });
    const b = bus.consumer({ groupId: 'slow', topics: ['t'], fromBeginning: false });
    try {
      await b.run(async (messages) => {
        await opened;
        slowSeen += messages.length;
      });
      await new Promise((r) => setTimeout(r, 20)); // the consumer takes its "latest" position
      await producer.send(
        't',
        Array.from({ length: 80 }, (_, i) => ({ key: null, value: Buffer.from(String(30 + i)) })),
      );
      assert.equal(partition.records.length, 50, 'capped at retainPerPartition');
      assert.equal(partition.base, 60n);
      gate();
      await waitFor(() => slowSeen === 50, { what: 'the retained 50', timeoutMs: 5_000 });
    } finally {
      gate();
      await b.stop();
    }
    assert.equal(partition.records.length, 50, "the offline group 'fast' has not read them yet");

    const resumed: string[] = [];
    const again = bus.consumer({ groupId: 'fast', topics: ['t'] });
    await again.run(async (messages) => {
      resumed.push(...messages.map((m) => m.value.toString()));
    });
    await waitFor(() => resumed.length === 50, { what: 'the retained 50 again', timeoutMs: 5_000 });
    await again.stop();
    assert.equal(resumed[0], '60', '30..59 fell out of retention, as on a broker');
    assert.equal(partition.records.length, 0, 'every reading group committed everything');
  });

  it('refuses to produce to a topic that was never created', async () => {
    const bus = new InProcessBus();
    const producer = await bus.producer();
    await assert.rejects(producer.send('missing', [{ key: null, value: Buffer.from('x') }]), {
      message: 'topic missing does not exist (ensureTopics creates it)',
    });
  });

  it('persists the log and committed offsets: a new process resumes after its last commit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-bus-'));
    try {
      const first = new InProcessBus({ dir });
      await first.ensureTopics([{ topic: 'flows.v1', partitions: 2 }]);
      const producer = await first.producer();
      await producer.send(
        'flows.v1',
        Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
      );
      const seen: string[] = [];
      const consumer = first.consumer({ groupId: 'sequencer', topics: ['flows.v1'] });
      await consumer.run(async (messages) => {
        seen.push(...messages.map((m) => m.value.toString()));
      });
      await waitFor(() => seen.length === 10);
      await consumer.stop();
      await producer.send('flows.v1', [{ key: 'k10', value: Buffer.from('10') }]);
      await first.close();

      const second = new InProcessBus({ dir });
      const resumed: string[] = [];
      const again = second.consumer({ groupId: 'sequencer', topics: ['flows.v1'] });
      await again.run(async (messages) => {
        resumed.push(...messages.map((m) => m.value.toString()));
      });
      await waitFor(() => resumed.length === 1);
      await again.stop();
      assert.deepEqual(resumed, ['10']);
      assert.deepEqual(await again.lag(), [
        { topic: 'flows.v1', partition: 0, lag: 0 },
        { topic: 'flows.v1', partition: 1, lag: 0 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
