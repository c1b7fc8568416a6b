import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { deadLetterTopic } from '@tidewatch/bus';
import { createCodecs, type Sequence } from '@tidewatch/contracts';
import { waitFor } from '@tidewatch/testing';
import { inProcessApp } from './in-process-app.ts';

function sequence(k: number, flows: number): Sequence {
  return {
    sequence_id: `22222222-3333-5444-8555-${k.toString(16).padStart(12, '0')}`,
    src_ip: `10.3.0.${k}`,
    dst_ip: '10.4.0.1',
    window_start_ms: 1_700_000_000_000,
    window_end_ms: 1_700_000_300_000,
    part: 0,
    flows: Array.from({ length: flows }, (_, i) => ({
      start_ms: 1_700_000_000_000 + i * 1_000,
      end_ms: 1_700_000_000_000 + i * 1_000 + 20,
      protocol: 6,
      src_port: 41_000 + i,
      dst_port: k % 3 === 0 ? 22 : 443,
      fwd_bytes: 300 + 17 * k + i,
      fwd_pkts: 3,
      bwd_bytes: k % 4 === 0 ? 0 : 900 + k,
      bwd_pkts: k % 4 === 0 ? 0 : 2,
      tcp_flags: 0x1b,
      label: null,
      attack: null,
      origin: `test:${k}`,
    })),
    context: { distinct_dsts: 1 + (k % 30), distinct_dst_ports: 1 + (k % 5), connections: flows },
  };
}

/**
 * The service with a partition's next batch decoded and scored ahead (the default) stores and
 * emits exactly what it stores without, and dead-letters the same messages.
 */
describe('inference: batches prepared ahead', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  async function run(prepareAhead: '0' | '1') {
    const { app, bus, cleanup } = await inProcessApp({
      TIDEWATCH_INFERENCE_MAX_POLL: '8',
      TIDEWATCH_INFERENCE_BATCH_SIZE: '8',
      TIDEWATCH_INFERENCE_PREPARE_AHEAD: prepareAhead,
    });
    cleanups.push(cleanup);
    const codecs = await createCodecs();
    const producer = await bus.producer();
    const good = Array.from({ length: 48 }, (_, k) => sequence(k, 1 + (k % 7)));
    const messages = good.map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) }));
    // Refused in three consumer batches: bytes that are no sequence, and a sequence without flows.
    messages.splice(5, 0, { key: 'garbage-1', value: Buffer.from([0xff, 0x01, 0x02]) });
    messages.splice(20, 0, { key: 'no-flows', value: codecs.sequences.encode(sequence(99, 0)) });
    messages.splice(33, 0, { key: 'garbage-2', value: Buffer.from('not avro at all') });
    await bus.ensureTopics([{ topic: 'sequences.v1' }, { topic: 'findings.v1' }]);
    await producer.send('sequences.v1', messages);
    await app.start();
    try {
      await waitFor(async () => (await app.store.count()) === good.length, { what: `${good.length} points` });
      const dlq = () => bus.topic(deadLetterTopic('sequences.v1')).partitions[0]!.read(0n, 100);
      await waitFor(() => dlq().length === 3, { what: '3 dead letters' });
      const refused = dlq().map((r) => r.record.key?.toString());
      const { items } = await app.store.list({ limit: 100 });
      const stored = items
        .map((f) => [f.sequence_id, f.score, f.verdict, f.status, JSON.stringify(f.tactics)] as const)
        .sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const deadLettered = (
        await app.registry.getSingleMetricAsString('tidewatch_inference_dead_lettered_total')
      )
        .split('\n')
        .find((l) => l.startsWith('tidewatch_inference_dead_lettered_total'));
      return { refused, stored, deadLettered, ids: good.map((s) => s.sequence_id).sort() };
    } finally {
      await app.stop();
      await bus.close();
    }
  }

  it('stores every sequence once and dead-letters the same three messages, with or without it', async () => {
    const ahead = await run('1');
    const inline = await run('0');
    assert.deepEqual(ahead.refused, ['garbage-1', 'no-flows', 'garbage-2']);
    assert.deepEqual(inline.refused, ahead.refused);
    assert.deepEqual(
      ahead.stored.map((r) => r[0]),
      ahead.ids,
    );
    assert.deepEqual(ahead.stored, inline.stored);
    assert.equal(ahead.deadLettered, 'tidewatch_inference_dead_lettered_total 3');
    assert.equal(inline.deadLettered, ahead.deadLettered);
  });
});
