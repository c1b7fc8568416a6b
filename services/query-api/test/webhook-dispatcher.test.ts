import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '@tidewatch/testing';
import { Webhook } from 'standardwebhooks';
import { newWebhookSecret, signWebhook, WebhookDispatcher } from '../src/push/webhooks.ts';
import { EmbeddedDocumentStore } from '../src/stores/document-store.ts';
import { WebhookStore } from '../src/stores/domain.ts';
import { makeFinding } from './harness.ts';
import { startReceiver } from './receivers.ts';

describe('WebhookDispatcher', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('signs exactly as the standardwebhooks library verifies', () => {
    const secret = newWebhookSecret();
    const body = JSON.stringify({ hello: 'world' });
    const ts = Math.floor(Date.now() / 1000);
    const sig = signWebhook(secret, 'msg_1', ts, body);
    assert.equal(sig, new Webhook(secret).sign('msg_1', new Date(ts * 1000), body));
    assert.deepEqual(
      new Webhook(secret).verify(body, {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(ts),
        'webhook-signature': sig,
      }),
      { hello: 'world' },
    );
  });

  it('resumes a pending delivery after a restart and delivers it once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tw-hooks-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    let calls = 0;
    const rx = await startReceiver(() => (++calls === 1 ? { status: 500 } : { status: 200 }));
    cleanups.push(rx.close);
    const store = new WebhookStore(new EmbeddedDocumentStore(dir));
    await store.put({
      id: 'sub-1',
      url: rx.url,
      event_types: ['finding.created'],
      secret: newWebhookSecret(),
      min_severity: null,
      enabled: true,
      disabled_reason: null,
      created_at_ms: Date.now(),
    });
    const first = new WebhookDispatcher(store, {
      retryMs: [400],
      timeoutMs: 2_000,
      deadLetterTopic: 'unused',
    });
    await first.start();
    assert.equal(await first.onFinding(makeFinding(0)), 1);
    const id = `sub-1.msg_${makeFinding(0).sequence_id.replace(/-/g, '')}`;
    await waitFor(async () => (await store.getDelivery(id))?.attempts.length === 1, {
      what: 'the failed first attempt',
    });
    await first.stop();

    // A new process over the same files picks the pending delivery up at its due time.
    const reopened = new WebhookStore(new EmbeddedDocumentStore(dir));
    const second = new WebhookDispatcher(reopened, {
      retryMs: [400],
      timeoutMs: 2_000,
      deadLetterTopic: 'unused',
    });
    await second.start();
    cleanups.push(() => second.stop());
    const done = await waitFor(
      async () => {
        const d = await reopened.getDelivery(id);
        return d?.state === 'delivered' ? d : null;
      },
      { what: 'the resumed delivery' },
    );
    assert.deepEqual(
      done.attempts.map((a) => a.status),
      [500, 200],
    );
    assert.equal(calls, 2);
    assert.equal(await second.onFinding(makeFinding(0)), 0); // already delivered: no second delivery
  });
});
