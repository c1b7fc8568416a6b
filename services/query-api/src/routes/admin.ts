import { BUILTIN_RULES } from '@tidewatch/suppression';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { addressError } from '../device-types.ts';
import { badRequest, notFound } from '../errors.ts';
import { publicRule } from '../suppressions.ts';
import { DEVICE_TYPES, type DeviceTypeEntry, SCOPES, type Scope } from '../stores/domain.ts';
import { UUID, idParams } from './schemas.ts';

export interface Settings {
  suppression_threshold: number;
  retention_days: number | null;
}

export async function adminRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const publicKey = ({ salt: _s, hash: _h, ...rest }: Awaited<ReturnType<typeof s.keys.list>>[number]) =>
    rest;

  app.get(
    '/v1/whoami',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['admin'],
        summary: 'The calling key: id, name and scopes (what the UI may offer).',
        response: {
          200: {
            type: 'object',
            properties: {
              key_id: { type: 'string' },
              name: { type: 'string' },
              scopes: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    async (req) => ({
      key_id: req.principal?.keyId,
      name: req.principal?.name,
      scopes: req.principal?.scopes ?? [],
    }),
  );

  app.get('/v1/keys', { config: { scope: 'admin' }, schema: { tags: ['admin'] } }, async () => ({
    items: (await s.keys.list()).map(publicKey),
  }));

  app.post<{ Body: { name: string; scopes: Scope[] } }>(
    '/v1/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'Create an API key; the key is shown once, only its salted hash is stored.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scopes'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            scopes: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              items: { type: 'string', enum: [...SCOPES] },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const { key, record } = await s.keys.create(req.body.name, req.body.scopes);
      return reply.code(201).send({ key, ...publicKey(record) });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['admin'],
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{16}$' } } },
      },
    },
    async (req) => {
      const r = await s.keys.revoke(req.params.id);
      if (!r) throw notFound(`key ${req.params.id}`);
      return publicKey(r);
    },
  );

  const defaults = (): Settings => ({
    suppression_threshold: s.config.suppressionThreshold,
    retention_days: null,
  });
  app.get('/v1/settings', { config: { scope: 'read' }, schema: { tags: ['admin'] } }, async () => ({
    ...defaults(),
    ...((await s.stores.settings.get<Partial<Settings>>('settings')) ?? {}),
  }));
  app.put<{ Body: Partial<Settings> }>(
    '/v1/settings',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['admin'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            suppression_threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            retention_days: { type: ['integer', 'null'], minimum: 1, maximum: 3650 },
          },
        },
      },
    },
    async (req) => {
      const merged = {
        ...defaults(),
        ...((await s.stores.settings.get<Partial<Settings>>('settings')) ?? {}),
        ...req.body,
      };
      await s.stores.settings.put('settings', merged);
      return merged;
    },
  );

  app.get(
    '/v1/device-types',
    { config: { scope: 'read' }, schema: { tags: ['device types'] } },
    async () => ({
      items: await s.stores.devices.list(),
    }),
  );
  app.put<{ Body: { address: string; type: DeviceTypeEntry['type']; label?: string } }>(
    '/v1/device-types',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['device types'],
        summary: 'Set the device type of an address or CIDR (shown on findings and in the Tempo CSV export).',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['address', 'type'],
          properties: {
            address: { type: 'string', minLength: 2, maxLength: 64 },
            type: { type: 'string', enum: [...DEVICE_TYPES] },
            label: { type: 'string', maxLength: 200 },
          },
        },
      },
    },
    async (req) => {
      const err = addressError(req.body.address);
      if (err) throw badRequest('address', `address: ${err}`);
      const entry: DeviceTypeEntry = {
        address: req.body.address,
        type: req.body.type,
        label: req.body.label ?? '',
        updated_at_ms: Date.now(),
      };
      await s.stores.devices.put(entry);
      await s.devices.refresh(true);
      return entry;
    },
  );
  app.delete<{ Querystring: { address: string } }>(
    '/v1/device-types',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['device types'],
        querystring: {
          type: 'object',
          required: ['address'],
          additionalProperties: false,
          properties: { address: { type: 'string', maxLength: 64 } },
        },
      },
    },
    async (req, reply) => {
      if (!(await s.stores.devices.delete(req.query.address)))
        throw notFound(`device type for ${req.query.address}`);
      await s.devices.refresh(true);
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { finding_id: string; reason: string; threshold?: number; scope?: 'similar' | 'pair' } }>(
    '/v1/suppressions',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['suppressions'],
        summary:
          'Suppress a finding and everything similar: stored findings at or above the similarity threshold become status suppressed (suppressed_by = rule id) and the rule applies to future sequences.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['finding_id', 'reason'],
          properties: {
            finding_id: { type: 'string', pattern: UUID },
            reason: { type: 'string', minLength: 1, maxLength: 1000 },
            threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
            scope: { type: 'string', enum: ['similar', 'pair'], default: 'similar' },
          },
        },
      },
    },
    async (req, reply) => {
      const settings = await s.stores.settings.get<Partial<Settings>>('settings');
      const threshold = req.body.threshold ?? settings?.suppression_threshold;
      const rule = await s.suppressions.create({
        ...req.body,
        ...(threshold !== undefined ? { threshold } : {}),
        author: req.principal?.keyId ?? 'unknown',
      });
      await s.webhooks.enqueue(
        'suppression.created',
        `msg_suppression_${rule.id.replace(/-/g, '')}`,
        publicRule(rule),
      );
      return reply.code(201).send(publicRule(rule));
    },
  );
  app.get(
    '/v1/suppressions',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['suppressions'],
        summary:
          "The analysts' rules (items) and the product's built-in rules (builtin: id and reason; the inference service applies them first, a finding they match carries suppressed_by = the built-in id).",
      },
    },
    async () => ({
      items: (await s.suppressions.list()).map(publicRule),
      builtin: BUILTIN_RULES.map(({ id, reason }) => ({ id, reason })),
    }),
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/suppressions/:id',
    {
      config: { scope: 'write' },
      schema: { tags: ['suppressions'], summary: 'Disable a rule (kept for the record).', params: idParams },
    },
    async (req) => publicRule(await s.suppressions.disable(req.params.id)),
  );
}
