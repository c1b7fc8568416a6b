import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InProcessBus } from '@tidewatch/bus';
import { type ContractCodecs, createCodecs } from '@tidewatch/contracts';
import { waitFor } from '@tidewatch/testing';
import { Webhook } from 'standardwebhooks';
import { type Harness, makeFinding, makeSequence, startHarness } from './harness.ts';
import { startReceiver } from './receivers.ts';

describe('one-process mode (InProcessBus, embedded stores)', () => {
  let h: Harness;
  let bus: InProcessBus;
  let codecs: ContractCodecs;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  const secret = `whsec_${Buffer.from('one-process-secret-32-bytes-long').toString('base64')}`;
  const received: string[] = [];

  before(async () => {
    codecs = await createCodecs();
    bus = new InProcessBus();
    rx = await startReceiver((r) => {
      new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
      received.push(r.headers['webhook-id'] as string);
      return { status: 200 };
    });
    h = await startHarness({ bus });
    await h.call('POST', '/v1/webhooks', { body: { url: rx.url, event_types: ['finding.created'], secret } });
  });
  after(async () => {
    await h?.close();
    await bus?.close();
    await rx?.close();
  });

  it('consumes sequences.v1 and findings.v1 in process: evidence, overview and webhooks', async () => {
    const producer = await bus.producer();
    const ns = [0, 3, 6];
    await producer.send(
      'sequences.v1',
      ns.map((n) => ({ key: makeSequence(n).sequence_id, value: codecs.sequences.encode(makeSequence(n)) })),
    );
    await h.store.upsert(
      ns.map((n) => ({
        id: makeFinding(n).sequence_id,
        vector: [1, 0, 0, 0, 0, 0, 0, 0],
        payload: makeFinding(n),
      })),
    );
    await producer.send(
      'findings.v1',
      ns.map((n) => ({ key: makeFinding(n).sequence_id, value: codecs.findings.encode(makeFinding(n)) })),
    );
    await producer.send('findings.v1', [{ key: 'bad', value: Buffer.from('not avro') }]);
    await waitFor(() => received.length === ns.length, { what: 'webhook deliveries' });
    const ev = await h.call('GET', `/v1/findings/${makeFinding(6).sequence_id}/evidence`, {
      key: h.keys.read,
    });
    assert.equal(ev.status, 200);
    assert.equal(ev.body.flows.length, 3);
    const ov = await h.call(
      'GET',
      `/v1/overview?from=${makeFinding(0).window_start_ms}&to=${makeFinding(6).window_end_ms}`,
      { key: h.keys.read },
    );
    assert.equal(ov.body.total_sequences, ns.length);
    // The undecodable message went to findings.v1.dlq with its error; the stream went on.
    const dead: { key: string | null; headers: Record<string, string> }[] = [];
    const dlq = bus.consumer({ groupId: 'dlq-check', topics: ['findings.v1.dlq'] });
    await dlq.run(async (messages) => {
      for (const m of messages) dead.push({ key: m.key?.toString() ?? null, headers: m.headers });
    });
    await waitFor(() => dead.length === 1, { what: 'the dead-lettered message' });
    assert.equal(dead[0]?.key, 'bad');
    await dlq.stop();
    await producer.close();
  });
});
