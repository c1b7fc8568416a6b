import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaBus } from '@tidewatch/bus';
import { type ContractCodecs, createCodecs, type Finding } from '@tidewatch/contracts';
import { needsServices, uniqueName, waitFor } from '@tidewatch/testing';
import { Webhook } from 'standardwebhooks';
import { SplunkHecSink } from '../src/push/sinks.ts';
import { type Harness, makeFinding, makeSequence, startHarness } from './harness.ts';
import { startHecReceiver, startReceiver } from './receivers.ts';

const N = 12;
const seqs = () => Array.from({ length: N }, (_, n) => makeSequence(n));

describe('findings.v1 and sequences.v1 consumers over real Kafka', needsServices(), () => {
  let h: Harness;
  let bus: KafkaBus;
  let codecs: ContractCodecs;
  let topics: { sequences: string; findings: string; webhookDeadLetter: string };
  const secret = `whsec_${Buffer.from('a-test-secret-of-32-bytes-length').toString('base64')}`;
  const accepted = new Map<string, number>();
  const verifyErrors: string[] = [];
  const failedOnce = new Set<string>();
  let hook: Awaited<ReturnType<typeof startReceiver>>;
  let gone: Awaited<ReturnType<typeof startReceiver>>;
  let broken: Awaited<ReturnType<typeof startReceiver>>;
  let hec: Awaited<ReturnType<typeof startHecReceiver>>;
  let producer: Awaited<ReturnType<KafkaBus['producer']>>;

  const publish = async (findings: Finding[]) => {
    await producer.send(
      topics.findings,
      findings.map((f) => ({ key: f.sequence_id, value: codecs.findings.encode(f) })),
    );
  };

  before(async () => {
    codecs = await createCodecs();
    const base = uniqueName('twq');
    topics = {
      sequences: `${base}.sequences.v1`,
      findings: `${base}.findings.v1`,
      webhookDeadLetter: `${base}.webhooks.v1.dlq`,
    };
    bus = new KafkaBus({
      brokers: (process.env['KAFKA_BROKERS'] as string).split(','),
      clientId: 'query-api-test',
    });
    // One partition each: the sentinel checks below rely on per-partition order.
    await bus.ensureTopics([
      { topic: topics.sequences, partitions: 1 },
      { topic: topics.findings, partitions: 1 },
      { topic: topics.webhookDeadLetter, partitions: 1, withDeadLetter: false },
    ]);
    producer = await bus.producer();
    hook = await startReceiver((r) => {
      try {
        new Webhook(secret).verify(r.body, r.headers as Record<string, string>);
      } catch (e) {
        verifyErrors.push((e as Error).message);
        return { status: 400 };
      }
      const id = r.headers['webhook-id'] as string;
      if (!failedOnce.has(id)) {
        failedOnce.add(id); // forced failure: the first attempt of every message
        return { status: 503 };
      }
      accepted.set(id, (accepted.get(id) ?? 0) + 1);
      return { status: 204 };
    });
    gone = await startReceiver(() => ({ status: 410 }));
    broken = await startReceiver(() => ({ status: 500 }));
    hec = await startHecReceiver('hec-token');
    const sink = new SplunkHecSink(
      { url: hec.url, token: 'hec-token', batchSize: 5, ackTimeoutMs: 10_000 },
      20,
    );
    h = await startHarness({ bus, deps: { topics, sinks: [sink] } });
    for (const [url, min] of [
      [hook.url, null],
      [gone.url, 'high'],
      [broken.url, 'high'],
    ] as const) {
      const r = await h.call('POST', '/v1/webhooks', {
        body: {
          url,
          event_types: ['finding.created'],
          min_severity: min,
          ...(url === hook.url ? { secret } : {}),
        },
      });
      assert.equal(r.status, 201);
    }
    await producer.send(
      topics.sequences,
      seqs().map((s) => ({ key: s.sequence_id, value: codecs.sequences.encode(s) })),
    );
    await h.store.upsert(
      Array.from({ length: N }, (_, n) => ({
        id: makeFinding(n).sequence_id,
        vector: [1, 0, 0, 0, 0, 0, 0, 0],
        payload: makeFinding(n),
      })),
    );
    await publish(Array.from({ length: N }, (_, n) => makeFinding(n)));
  });

  after(async () => {
    await h?.close();
    await producer?.close();
    await bus?.close();
    for (const r of [hook, gone, broken, hec]) await r?.close();
  });

  it('delivers every finding to the webhook exactly once across a forced failure and retry, signed per Standard Webhooks', async () => {
    await waitFor(() => accepted.size === N, { what: `${N} webhook deliveries`, timeoutMs: 30_000 });
    assert.deepEqual(verifyErrors, []);
    assert.ok([...accepted.values()].every((c) => c === 1));
    const subs = (await h.call('GET', '/v1/webhooks')).body.items as { id: string; url: string }[];
    const mine = subs.find((s) => s.url === hook.url);
    const log = await h.call('GET', `/v1/webhooks/${mine?.id}/deliveries?state=delivered`);
    assert.equal(log.body.items.length, N);
    for (const d of log.body.items) {
      assert.equal(d.attempts.length, 2);
      assert.equal(d.attempts[0].status, 503);
      assert.equal(d.attempts[1].status, 204);
    }
  });

  it('never delivers a replayed finding twice (same webhook-id, one delivery)', async () => {
    await publish(Array.from({ length: N }, (_, n) => makeFinding(n)));
    const sentinel = makeFinding(1000);
    await publish([sentinel]);
    const sentinelId = `msg_${sentinel.sequence_id.replace(/-/g, '')}`;
    await waitFor(() => accepted.has(sentinelId), { what: 'the sentinel delivery', timeoutMs: 30_000 });
    assert.equal(accepted.size, N + 1);
    assert.ok([...accepted.values()].every((c) => c === 1));
  });

  it('replays a delivery on request with the same webhook-id', async () => {
    const subs = (await h.call('GET', '/v1/webhooks')).body.items as { id: string; url: string }[];
    const mine = subs.find((s) => s.url === hook.url) as { id: string };
    const [first] = (await h.call('GET', `/v1/webhooks/${mine.id}/deliveries?state=delivered&limit=1`)).body
      .items;
    const r = await h.call(
      'POST',
      `/v1/webhooks/${mine.id}/deliveries/${encodeURIComponent(first.id)}/replay`,
    );
    assert.equal(r.status, 202);
    await waitFor(() => accepted.get(first.message_id) === 2, { what: 'the replayed delivery' });
    assert.equal((await h.call('POST', `/v1/webhooks/${mine.id}/deliveries/nope/replay`)).status, 404);
    assert.equal(
      (
        await h.call('POST', `/v1/webhooks/${mine.id}/deliveries/${encodeURIComponent(first.id)}/replay`, {
          key: h.keys.write,
        })
      ).status,
      403,
    );
  });

  it('disables an endpoint that answers 410 Gone', async () => {
    await waitFor(
      async () => {
        const subs = (await h.call('GET', '/v1/webhooks')).body.items as { url: string; enabled: boolean }[];
        return subs.find((s) => s.url === gone.url)?.enabled === false;
      },
      { what: '410 to disable the subscription' },
    );
    assert.equal(gone.requests.length, 1);
  });

  it('dead-letters a delivery after the last retry', async () => {
    const dlq: { key: string | null; headers: Record<string, string> }[] = [];
    const consumer = bus.consumer({ groupId: uniqueName('dlq-reader'), topics: [topics.webhookDeadLetter] });
    await consumer.run(async (messages) => {
      for (const m of messages) dlq.push({ key: m.key?.toString() ?? null, headers: m.headers });
    });
    try {
      const highs = Array.from({ length: N }, (_, n) => makeFinding(n)).filter(
        (f) => f.severity === 'high',
      ).length;
      await waitFor(() => dlq.length >= highs, { what: 'dead-lettered deliveries', timeoutMs: 30_000 });
      assert.equal(dlq.length, highs);
      assert.equal(dlq[0]?.headers['tidewatch-attempts'], '4');
      assert.equal(dlq[0]?.headers['tidewatch-error'], 'HTTP 500');
      assert.equal(broken.requests.length, highs * 4);
    } finally {
      await consumer.stop();
    }
  });

  it('sends well-formed, acknowledged batches to Splunk HEC from its own consumer group', async () => {
    await waitFor(
      () =>
        new Set(
          hec.batches.flatMap((b) =>
            b.events.map((e) => (e['event'] as { finding_info: { uid: string } }).finding_info.uid),
          ),
        ).size >=
        N + 1,
      {
        what: 'HEC events',
        timeoutMs: 30_000,
      },
    );
    assert.deepEqual(hec.errors, []);
    for (const b of hec.batches) {
      assert.ok(b.events.length >= 1 && b.events.length <= 5, `batch of ${b.events.length}`);
      for (const e of b.events) {
        assert.equal(e['sourcetype'], 'tidewatch:finding:ocsf');
        assert.equal(typeof e['time'], 'number');
        assert.equal((e['event'] as { class_uid: number }).class_uid, 2004);
      }
    }
    // Every batch is acknowledged through /services/collector/ack (polled until indexed).
    await waitFor(
      () => hec.polls.size === hec.batches.length && [...hec.polls.values()].every((n) => n >= 2),
      {
        what: 'every HEC batch polled until acknowledged',
      },
    );
  });

  it('stores the evidence flows of sequences.v1 and feeds the overview: traffic from every sequence, suspicious counts from findings.v1', async () => {
    const id = makeFinding(3).sequence_id;
    const ev = await waitFor(
      async () => {
        const r = await h.call('GET', `/v1/findings/${id}/evidence`, { key: h.keys.read });
        return r.status === 200 ? r.body : null;
      },
      { what: 'evidence' },
    );
    assert.equal(ev.flows.length, 3);
    assert.deepEqual(ev.flows, makeSequence(3).flows);
    const ov = await h.call(
      'GET',
      `/v1/overview?from=${makeFinding(0).window_start_ms}&to=${makeFinding(1000).window_end_ms + 3_600_000}`,
      { key: h.keys.read },
    );
    // The sentinel finding has no sequence on sequences.v1: it adds a verdict, not traffic.
    assert.equal(ov.body.total_sequences, N);
    assert.equal(
      ov.body.total_flows,
      seqs().reduce((n, s) => n + s.flows.length, 0),
    );
    const alerts = [...Array.from({ length: N }, (_, n) => makeFinding(n)), makeFinding(1000)];
    assert.equal(ov.body.suspicious, alerts.filter((f) => f.verdict === 'malicious').length);
  });
});
