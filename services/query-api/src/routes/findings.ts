import { FINDING_STATUSES, type FindingStatus } from '@tidewatch/contracts';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { notFound } from '../errors.ts';
import type { FilterParams } from '../finding-queries.ts';
import { FEEDBACK_LABELS, type Feedback } from '../stores/domain.ts';
import { errorResponses, filterProperties, idParams } from './schemas.ts';

type Id = { id: string };

export async function findingRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const page = {
    type: 'object',
    properties: {
      items: { type: 'array', items: { $ref: 'Finding#' } },
      next_cursor: { type: ['string', 'null'] },
    },
  } as const;

  app.get<{ Querystring: FilterParams & { sort?: string; limit?: number; cursor?: string } }>(
    '/v1/findings',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        summary:
          'List findings. Without a status filter, suppressed findings are hidden (status != suppressed).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            sort: {
              type: 'string',
              pattern: '^-?(score|window_start_ms|anomaly|scored_at_ms)$',
              default: '-window_start_ms',
            },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            cursor: { type: 'string', maxLength: 1024 },
          },
        },
        response: { 200: page, ...errorResponses },
      },
    },
    (req) => s.queries.list(req.query),
  );

  app.get<{ Params: Id }>(
    '/v1/findings/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        params: idParams,
        response: { 200: { $ref: 'Finding#' }, ...errorResponses },
      },
    },
    (req) => s.queries.get(req.params.id),
  );

  app.patch<{ Params: Id; Body: { status: FindingStatus } }>(
    '/v1/findings/:id',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['findings'],
        summary: 'Set a finding status (triage).',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: { status: { type: 'string', enum: [...FINDING_STATUSES] } },
        },
      },
    },
    async (req) => {
      await s.queries.get(req.params.id);
      await s.store.updatePayload([req.params.id], { status: req.body.status });
      return s.queries.get(req.params.id);
    },
  );

  const similarity = {
    type: 'object',
    properties: {
      items: {
        type: 'array',
        items: {
          type: 'object',
          properties: { similarity: { type: 'number' }, finding: { $ref: 'Finding#' } },
        },
      },
    },
  } as const;

  app.get<{ Params: Id; Querystring: FilterParams & { k: number; min_similarity?: number } }>(
    '/v1/findings/:id/similar',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        summary: 'The k findings nearest by embedding (cosine similarity), with optional filters.',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...filterProperties,
            k: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            min_similarity: { type: 'number', minimum: -1, maximum: 1 },
          },
        },
        response: { 200: similarity, ...errorResponses },
      },
    },
    async (req) => ({ items: await s.queries.similar(req.params.id, req.query.k, req.query) }),
  );

  app.post<{ Body: { vector: number[]; k: number; min_similarity?: number; filter?: FilterParams } }>(
    '/v1/similar',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        summary: 'The k findings nearest to a given embedding vector.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['vector'],
          properties: {
            vector: { type: 'array', minItems: 2, maxItems: 4096, items: { type: 'number' } },
            k: { type: 'integer', minimum: 1, maximum: 1000, default: 20 },
            min_similarity: { type: 'number', minimum: -1, maximum: 1 },
            filter: { type: 'object', additionalProperties: false, properties: filterProperties },
          },
        },
        response: { 200: similarity, ...errorResponses },
      },
    },
    async (req) => ({
      items: await s.queries.similarTo(req.body.vector, req.body.k, {
        ...(req.body.filter ?? {}),
        ...(req.body.min_similarity !== undefined ? { min_similarity: req.body.min_similarity } : {}),
      }),
    }),
  );

  app.get<{ Params: Id }>(
    '/v1/findings/:id/evidence',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        summary: 'The flows of the sequence behind a finding.',
        params: idParams,
      },
    },
    (req) => s.queries.evidence(req.params.id),
  );

  app.post<{ Params: Id; Body: { label: Feedback['label']; comment?: string } }>(
    '/v1/findings/:id/feedback',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['findings'],
        summary:
          'Analyst feedback: tp (true positive), fp (false positive) or commonplace (benign but recurring).',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['label'],
          properties: {
            label: { type: 'string', enum: [...FEEDBACK_LABELS] },
            comment: { type: 'string', maxLength: 10_000 },
          },
        },
      },
    },
    async (req, reply) => {
      await s.queries.get(req.params.id);
      const fb: Feedback = {
        sequence_id: req.params.id,
        label: req.body.label,
        comment: req.body.comment ?? '',
        author: req.principal?.keyId ?? 'unknown',
        at_ms: Date.now(),
      };
      await s.stores.feedback.put(fb);
      return reply.code(201).send(fb);
    },
  );

  app.get<{ Params: Id }>(
    '/v1/findings/:id/feedback',
    { config: { scope: 'read' }, schema: { tags: ['findings'], params: idParams } },
    async (req) => {
      const fb = await s.stores.feedback.get(req.params.id);
      if (!fb) throw notFound(`feedback for finding ${req.params.id}`);
      return fb;
    },
  );
}
