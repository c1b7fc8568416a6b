import { createHmac, randomBytes } from 'node:crypto';
import { SEVERITIES, type Finding } from '@tidewatch/contracts';
import type { BusProducer } from '@tidewatch/bus';
import type { Delivery, WebhookEvent, WebhookStore, WebhookSubscription } from '../stores/domain.ts';

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** Standard Webhooks signature: v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>. */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
}

export interface WebhookDispatcherOptions {
  retryMs: number[];
  timeoutMs: number;
  deadLetterTopic: string;
  /** Producer for dead-lettered deliveries (absent in a bus-less app: they stay in the log as dead). */
  producer?: () => Promise<BusProducer>;
  concurrency?: number;
  tickMs?: number;
  log?: { warn: (o: object, msg: string) => void };
  /** Called after each attempt with its outcome (metrics). */
  onAttempt?: (outcome: WebhookAttemptOutcome) => void;
}

export const WEBHOOK_ATTEMPT_OUTCOMES = ['delivered', 'retry', 'dead', 'disabled'] as const;
export type WebhookAttemptOutcome = (typeof WEBHOOK_ATTEMPT_OUTCOMES)[number];

/**
 * Deliveries are written to the store before any attempt (so a restart resumes them), attempted
 * by a small worker loop, retried on the configured schedule with ±20% jitter, dead-lettered after
 * the last retry, and a 410 Gone disables the subscription. The delivery id is derived from the
 * subscription and the event's message id, so a replayed finding never creates a second delivery.
 */
export class WebhookDispatcher {
  readonly #due = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #subs: { at: number; list: WebhookSubscription[] } = { at: 0, list: [] };
  #stopping = false;
  #idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: WebhookStore,
    private readonly opts: WebhookDispatcherOptions,
  ) {}

  async start(): Promise<void> {
    for (const d of await this.store.deliveries())
      if (d.state === 'pending') this.#due.set(d.id, d.next_attempt_ms);
    this.#stopping = false;
    this.#timer = setInterval(() => this.#tick(), this.opts.tickMs ?? 100);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#idle;
  }

  invalidate(): void {
    this.#subs.at = 0;
  }

  async #subscriptions(): Promise<WebhookSubscription[]> {
    if (Date.now() - this.#subs.at > 1_000) this.#subs = { at: Date.now(), list: await this.store.list() };
    return this.#subs.list;
  }

  async onFinding(f: Finding): Promise<number> {
    const rank = SEVERITIES.indexOf(f.severity);
    return this.enqueue('finding.created', `msg_${f.sequence_id.replace(/-/g, '')}`, f, (s) =>
      s.min_severity === null
        ? true
        : rank >= SEVERITIES.indexOf(s.min_severity as (typeof SEVERITIES)[number]),
    );
  }

  /** Enqueues one event for every enabled subscription to its type; returns how many were created. */
  async enqueue(
    event: WebhookEvent,
    messageId: string,
    data: unknown,
    accept: (s: WebhookSubscription) => boolean = () => true,
  ): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const s of await this.#subscriptions()) {
      if (!s.enabled || !s.event_types.includes(event) || !accept(s)) continue;
      const d: Delivery = {
        id: `${s.id}.${messageId}`,
        subscription_id: s.id,
        message_id: messageId,
        event_type: event,
        body: JSON.stringify({ type: event, timestamp: new Date(now).toISOString(), data }),
        state: 'pending',
        attempts: [],
        next_attempt_ms: now,
        created_at_ms: now,
      };
      if (await this.store.createDelivery(d)) {
        this.#due.set(d.id, now);
        n++;
      }
    }
    if (n) this.#tick();
    return n;
  }

  /** Re-sends a delivery (any state) as a new attempt with the same webhook-id. */
  async replay(deliveryId: string): Promise<Delivery | null> {
    const d = await this.store.getDelivery(deliveryId);
    if (!d) return null;
    d.state = 'pending';
    d.next_attempt_ms = Date.now();
    await this.store.putDelivery(d);
    this.#due.set(d.id, d.next_attempt_ms);
    this.#tick();
    return d;
  }

  #tick(): void {
    if (this.#stopping) return;
    const now = Date.now();
    const limit = this.opts.concurrency ?? 8;
    const work: Promise<void>[] = [];
    for (const [id, at] of this.#due) {
      if (this.#inFlight.size >= limit) break;
      if (at > now || this.#inFlight.has(id)) continue;
      this.#inFlight.add(id);
      this.#due.delete(id);
      work.push(
        this.#attempt(id)
          .catch((e) => this.opts.log?.warn({ err: e, delivery: id }, 'webhook delivery failed unexpectedly'))
          .finally(() => this.#inFlight.delete(id)),
      );
    }
    if (work.length) this.#idle = Promise.all([this.#idle, ...work]).then(() => {});
  }

  async #attempt(id: string): Promise<void> {
    const d = await this.store.getDelivery(id);
    if (d?.state !== 'pending') return;
    const sub = await this.store.get(d.subscription_id);
    if (!sub?.enabled) {
      d.state = 'disabled';
      await this.store.putDelivery(d);
      return;
    }
    const started = Date.now();
    const ts = Math.floor(started / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(sub.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tidewatch-Webhooks/1',
          'webhook-id': d.message_id,
          'webhook-timestamp': String(ts),
          'webhook-signature': signWebhook(sub.secret, d.message_id, ts, d.body),
        },
        body: d.body,
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        redirect: 'manual',
      });
      status = res.status;
      await res.body?.cancel();
    } catch (e) {
      error =
        (e as Error).name === 'TimeoutError'
          ? `timed out after ${this.opts.timeoutMs} ms`
          : (e as Error).message;
    }
    d.attempts.push({ at_ms: started, status, error, duration_ms: Date.now() - started });
    if (status !== null && status >= 200 && status < 300) {
      d.state = 'delivered';
    } else if (status === 410) {
      d.state = 'disabled';
      sub.enabled = false;
      sub.disabled_reason = `endpoint answered 410 Gone at ${new Date(started).toISOString()}`;
      await this.store.put(sub);
      this.invalidate();
    } else {
      const retry = this.opts.retryMs[d.attempts.length - 1];
      if (retry === undefined) {
        d.state = 'dead';
        await this.#deadLetter(d, error ?? `HTTP ${status}`);
      } else {
        d.next_attempt_ms = Date.now() + Math.round(retry * (0.8 + 0.4 * Math.random()));
        this.#due.set(d.id, d.next_attempt_ms);
      }
    }
    await this.store.putDelivery(d);
    this.opts.onAttempt?.(d.state === 'pending' ? 'retry' : (d.state as WebhookAttemptOutcome));
  }

  async #deadLetter(d: Delivery, reason: string): Promise<void> {
    if (!this.opts.producer) return;
    const producer = await this.opts.producer();
    await producer.send(this.opts.deadLetterTopic, [
      {
        key: d.message_id,
        value: Buffer.from(d.body),
        headers: {
          'tidewatch-error': reason,
          'tidewatch-subscription': d.subscription_id,
          'tidewatch-delivery': d.id,
          'tidewatch-attempts': String(d.attempts.length),
        },
      },
    ]);
  }
}
