import { randomUUID } from 'node:crypto';
import { SEVERITIES } from '@tidewatch/contracts';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { badRequest, notFound } from '../errors.ts';
import { newWebhookSecret } from '../push/webhooks.ts';
import { WEBHOOK_EVENTS, type WebhookEvent, type WebhookSubscription } from '../stores/domain.ts';
import { UUID, idParams } from './schemas.ts';

const hide = ({ secret: _s, ...rest }: WebhookSubscription) => rest;

function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badRequest('url', 'url must be an absolute http(s) URL');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw badRequest('url', 'url must use http or https');
}

export async function webhookRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const subBody = {
    url: { type: 'string', minLength: 8, maxLength: 2000 },
    event_types: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: [...WEBHOOK_EVENTS] },
    },
    min_severity: { type: ['string', 'null'], enum: [...SEVERITIES, null] },
  } as const;

  app.post<{
    Body: { url: string; event_types: WebhookEvent[]; min_severity?: string | null; secret?: string };
  }>(
    '/v1/webhooks',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary:
          'Subscribe an endpoint; deliveries are signed per Standard Webhooks with the returned whsec_ secret.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['url', 'event_types'],
          properties: { ...subBody, secret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/=]{32,}$' } },
        },
      },
    },
    async (req, reply) => {
      checkUrl(req.body.url);
      const sub: WebhookSubscription = {
        id: randomUUID(),
        url: req.body.url,
        event_types: req.body.event_types,
        secret: req.body.secret ?? newWebhookSecret(),
        min_severity: req.body.min_severity ?? null,
        enabled: true,
        disabled_reason: null,
        created_at_ms: Date.now(),
      };
      await s.stores.webhooks.put(sub);
      s.webhooks.invalidate();
      return reply.code(201).send(sub);
    },
  );

  app.get('/v1/webhooks', { config: { scope: 'admin' }, schema: { tags: ['webhooks'] } }, async () => ({
    items: (await s.stores.webhooks.list()).map(hide),
  }));

  const load = async (id: string) => {
    const sub = await s.stores.webhooks.get(id);
    if (!sub) throw notFound(`webhook ${id}`);
    return sub;
  };

  app.get<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    { config: { scope: 'admin' }, schema: { tags: ['webhooks'], params: idParams } },
    async (req) => hide(await load(req.params.id)),
  );

  app.patch<{
    Params: { id: string };
    Body: { url?: string; event_types?: WebhookEvent[]; min_severity?: string | null; enabled?: boolean };
  }>(
    '/v1/webhooks/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'Change or re-enable a subscription (e.g. after a 410 disabled it).',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { ...subBody, enabled: { type: 'boolean' } },
        },
      },
    },
    async (req) => {
      const sub = await load(req.params.id);
      if (req.body.url !== undefined) {
        checkUrl(req.body.url);
        sub.url = req.body.url;
      }
      if (req.body.event_types) sub.event_types = req.body.event_types;
      if (req.body.min_severity !== undefined) sub.min_severity = req.body.min_severity;
      if (req.body.enabled !== undefined) {
        sub.enabled = req.body.enabled;
        if (sub.enabled) sub.disabled_reason = null;
      }
      await s.stores.webhooks.put(sub);
      s.webhooks.invalidate();
      return hide(sub);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    { config: { scope: 'admin' }, schema: { tags: ['webhooks'], params: idParams } },
    async (req, reply) => {
      if (!(await s.stores.webhooks.delete(req.params.id))) throw notFound(`webhook ${req.params.id}`);
      s.webhooks.invalidate();
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string }; Querystring: { state?: string; limit: number } }>(
    '/v1/webhooks/:id/deliveries',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'The delivery log of a subscription, newest first, with every attempt.',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: ['pending', 'delivered', 'dead', 'disabled'] },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
      },
    },
    async (req) => {
      await load(req.params.id);
      const all = await s.stores.webhooks.deliveries(req.params.id);
      return {
        items: all
          .filter((d) => !req.query.state || d.state === req.query.state)
          .slice(0, req.query.limit)
          .map(({ body: _b, ...d }) => d),
      };
    },
  );

  app.post<{ Params: { id: string; delivery_id: string } }>(
    '/v1/webhooks/:id/deliveries/:delivery_id/replay',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a delivery again (same webhook-id, so receivers can deduplicate).',
        params: {
          type: 'object',
          properties: {
            id: { type: 'string', pattern: UUID },
            delivery_id: { type: 'string', maxLength: 200 },
          },
        },
      },
    },
    async (req, reply) => {
      const d = await s.stores.webhooks.getDelivery(req.params.delivery_id);
      if (!d || d.subscription_id !== req.params.id) throw notFound(`delivery ${req.params.delivery_id}`);
      const replayed = await s.webhooks.replay(d.id);
      const { body: _b, ...rest } = replayed ?? d;
      return reply.code(202).send(rest);
    },
  );
}
