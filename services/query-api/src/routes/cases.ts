import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import type { CaseUpdate } from '../cases.ts';
import { CASE_PRIORITIES, CASE_STATUSES, type Case } from '../stores/domain.ts';
import { errorResponses, idParams, UUID } from './schemas.ts';

const findingIds = { type: 'array', maxItems: 1000, items: { type: 'string', pattern: UUID } } as const;

export async function caseRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.post<{
    Body: { title: string; description?: string; priority?: Case['priority']; finding_ids?: string[] };
  }>(
    '/v1/cases',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['cases'],
        response: { 201: { $ref: 'Case#' }, ...errorResponses },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['title'],
          properties: {
            title: { type: 'string', minLength: 1, maxLength: 200 },
            description: { type: 'string', maxLength: 10_000 },
            priority: { type: 'string', enum: [...CASE_PRIORITIES] },
            finding_ids: findingIds,
          },
        },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await s.cases.create(req.body, req.principal?.keyId ?? 'unknown')),
  );

  app.get<{ Querystring: { status?: Case['status']; priority?: Case['priority'] } }>(
    '/v1/cases',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['cases'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...CASE_STATUSES] },
            priority: { type: 'string', enum: [...CASE_PRIORITIES] },
          },
        },
      },
    },
    async (req) => ({ items: await s.cases.list(req.query) }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/cases/:id',
    {
      config: { scope: 'read' },
      schema: { tags: ['cases'], params: idParams, response: { 200: { $ref: 'Case#' }, ...errorResponses } },
    },
    (req) => s.cases.get(req.params.id),
  );

  app.patch<{ Params: { id: string }; Body: CaseUpdate }>(
    '/v1/cases/:id',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['cases'],
        summary: 'Update status, priority, title/description, add a note, attach or detach findings.',
        response: { 200: { $ref: 'Case#' }, ...errorResponses },
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            title: { type: 'string', minLength: 1, maxLength: 200 },
            description: { type: 'string', maxLength: 10_000 },
            status: { type: 'string', enum: [...CASE_STATUSES] },
            priority: { type: 'string', enum: [...CASE_PRIORITIES] },
            note: { type: 'string', minLength: 1, maxLength: 10_000 },
            add_findings: findingIds,
            remove_findings: findingIds,
          },
        },
      },
    },
    (req) => s.cases.update(req.params.id, req.body, req.principal?.keyId ?? 'unknown'),
  );

  app.post<{ Params: { id: string }; Body: { finding_ids: string[] } }>(
    '/v1/cases/:id/findings',
    {
      config: { scope: 'write' },
      schema: {
        tags: ['cases'],
        summary: 'Attach findings to a case.',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['finding_ids'],
          properties: { finding_ids: { ...findingIds, minItems: 1 } },
        },
      },
    },
    (req) =>
      s.cases.update(
        req.params.id,
        { add_findings: req.body.finding_ids },
        req.principal?.keyId ?? 'unknown',
      ),
  );
}
