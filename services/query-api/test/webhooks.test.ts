import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '@tidewatch/testing';
import { Webhook } from 'standardwebhooks';
import { type Harness, seqId, startHarness } from './harness.ts';
import { startReceiver } from './receivers.ts';

describe('webhook subscriptions', () => {
  let h: Harness;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  const events: { type: string; data: Record<string, unknown> }[] = [];
  let secret = '';
  before(async () => {
    h = await startHarness({ seed: 12 });
    rx = await startReceiver((r) => {
      const payload = new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        data: Record<string, unknown>;
      };
      events.push(payload);
      return { status: 200 };
    });
  });
  after(async () => {
    await h?.close();
    await rx?.close();
  });

  it('creates a subscription with a whsec_ secret shown once, and validates input', async () => {
    const r = await h.call('POST', '/v1/webhooks', {
      body: { url: `${rx.url}/hook`, event_types: ['case.created', 'case.updated', 'suppression.created'] },
    });
    assert.equal(r.status, 201);
    assert.match(r.body.secret, /^whsec_[A-Za-z0-9+/=]{32,}$/);
    secret = r.body.secret;
    const got = await h.call('GET', `/v1/webhooks/${r.body.id}`);
    assert.equal(got.body.secret, undefined);
    assert.equal(
      (
        await h.call('POST', '/v1/webhooks', {
          body: { url: 'ftp://x.example/a', event_types: ['case.created'] },
        })
      ).body.field,
      'url',
    );
    assert.equal(
      (
        await h.call('POST', '/v1/webhooks', {
          body: { url: 'https://x.example/a', event_types: ['everything'] },
        })
      ).body.field,
      'event_types.0',
    );
    assert.equal(
      (await h.call('POST', '/v1/webhooks', { body: { url: 'https://x.example/a' } })).body.field,
      'event_types',
    );
    assert.equal(
      (
        await h.call('POST', '/v1/webhooks', {
          key: h.keys.write,
          body: { url: 'https://x.example/a', event_types: ['case.created'] },
        })
      ).status,
      403,
    );
    assert.equal((await h.call('GET', '/v1/webhooks', { key: null })).status, 401);
    assert.equal((await h.call('GET', `/v1/webhooks/${seqId(1)}`)).status, 404);
  });

  it('pushes signed case and suppression events', async () => {
    const c = await h.call('POST', '/v1/cases', { key: h.keys.write, body: { title: 'pushed' } });
    await h.call('PATCH', `/v1/cases/${c.body.id}`, { key: h.keys.write, body: { status: 'closed' } });
    await h.call('POST', '/v1/suppressions', {
      key: h.keys.write,
      body: { finding_id: seqId(1), reason: 'scanner', threshold: 0.999 },
    });
    await waitFor(() => events.length === 3, { what: 'three webhook events' });
    assert.deepEqual(events.map((e) => e.type).sort(), [
      'case.created',
      'case.updated',
      'suppression.created',
    ]);
    const updated = events.find((e) => e.type === 'case.updated');
    assert.equal(updated?.data['status'], 'closed');
  });

  it('pauses, re-enables and deletes a subscription', async () => {
    const [sub] = (await h.call('GET', '/v1/webhooks')).body.items;
    const off = await h.call('PATCH', `/v1/webhooks/${sub.id}`, { body: { enabled: false } });
    assert.equal(off.body.enabled, false);
    assert.equal((await h.call('PATCH', `/v1/webhooks/${sub.id}`, { body: {} })).status, 400);
    const on = await h.call('PATCH', `/v1/webhooks/${sub.id}`, { body: { enabled: true } });
    assert.equal(on.body.enabled, true);
    const log = await h.call('GET', `/v1/webhooks/${sub.id}/deliveries`);
    assert.equal(log.body.items.length, 3);
    assert.ok(log.body.items.every((d: { state: string }) => d.state === 'delivered'));
    assert.equal((await h.call('DELETE', `/v1/webhooks/${sub.id}`)).status, 204);
    assert.equal((await h.call('DELETE', `/v1/webhooks/${sub.id}`)).status, 404);
  });
});
