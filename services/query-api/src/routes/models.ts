import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { errorResponses, errorSchema } from './schemas.ts';

const modelRow = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    created_at: { type: 'string' },
    active: { type: 'boolean' },
    default: { type: 'boolean' },
    embedding_dim: { type: 'integer' },
    tactics: { type: 'array', items: { type: 'string' } },
    thresholds: { type: 'object', additionalProperties: { type: 'number' } },
    feature_spec_hash: { type: 'string' },
    metrics: {},
  },
} as const;

/** Model versions, activation, and what this API knows about the pipeline. */
export async function modelRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.get(
    '/v1/models',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['models'],
        summary:
          'Model versions on disk, newest first, with manifest facts; active is known only when inference runs in this process.',
        response: {
          200: {
            type: 'object',
            properties: {
              versions: { type: 'array', items: modelRow },
              active: { type: ['string', 'null'] },
              default: { type: ['string', 'null'] },
            },
          },
          ...errorResponses,
        },
      },
    },
    () => s.models.list(),
  );

  app.post<{ Params: { version: string } }>(
    '/v1/models/:version/activate',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['models'],
        summary:
          'Switch scoring to this version (in-process inference, or TIDEWATCH_INFERENCE_ADMIN_URL); 409 when neither is available.',
        params: {
          type: 'object',
          required: ['version'],
          properties: { version: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', maxLength: 100 } },
        },
        response: { 200: modelRow, ...errorResponses, 404: errorSchema, 409: errorSchema, 502: errorSchema },
      },
    },
    (req) => s.models.activate(req.params.version),
  );

  app.get(
    '/v1/status',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['models'],
        summary:
          'What this API knows: readiness, model versions, services, sinks; in one-process mode also the collector.',
        response: {
          200: {
            type: 'object',
            additionalProperties: true,
            properties: {
              ready: { type: 'boolean' },
              model: {
                type: 'object',
                properties: { active: { type: ['string', 'null'] }, default: { type: ['string', 'null'] } },
              },
              services: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { name: { type: 'string' }, ready: { type: ['boolean', 'null'] } },
                },
              },
              sinks: { type: 'array', items: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async () => {
      const active = s.models.active();
      return {
        ready: s.state.ready,
        model: { active, default: await s.models.defaultVersion() },
        services: [
          { name: 'query-api', ready: s.state.ready },
          // Another process's readiness is not ours to report; null says "not known here".
          { name: 'inference', ready: s.models.inProcess ? active !== null : null },
        ],
        sinks: Object.entries(s.config.sinks)
          .filter(([, v]) => v)
          .map(([k]) => k),
        ...(s.status ? s.status() : {}),
      };
    },
  );
}
