import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { type FilterParams, parseTime } from '../finding-queries.ts';
import { badRequest } from '../errors.ts';
import {
  askSchema,
  errorResponses,
  filterProperties,
  forensicsSchema,
  overviewSchema,
  rollupSchema,
} from './schemas.ts';

const TIME = filterProperties.from;

export async function analysisRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.get<{ Querystring: { from?: string; to?: string; top: number } }>(
    '/v1/overview',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['analytics'],
        response: { 200: overviewSchema, ...errorResponses },
        summary:
          'Threat overview for a time range (default: the last 24 hours), from incremental hourly aggregates.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: TIME,
            to: TIME,
            top: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
          },
        },
      },
    },
    async (req) => {
      const to = parseTime(req.query.to, 'to') ?? Date.now();
      const from = parseTime(req.query.from, 'from') ?? to - 86_400_000;
      if (from >= to) throw badRequest('from', 'from must be before to');
      return s.aggregates.overview(from, to, req.query.top);
    },
  );

  app.get<{ Querystring: FilterParams }>(
    '/v1/forensics',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['analytics'],
        response: { 200: forensicsSchema, ...errorResponses },
        summary:
          'Connections, forward/backward bytes, tactic distribution and occurrences for a source and/or destination (or all).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            src_ip: filterProperties.src_ip,
            dst_ip: filterProperties.dst_ip,
            from: TIME,
            to: TIME,
          },
        },
      },
    },
    (req) => s.queries.forensics(req.query),
  );

  app.get<{ Querystring: FilterParams }>(
    '/v1/techniques',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['analytics'],
        response: { 200: rollupSchema, ...errorResponses },
        summary: 'Technique and tactic roll-up of malicious findings (count, first/last seen, max score).',
        querystring: { type: 'object', additionalProperties: false, properties: filterProperties },
      },
    },
    (req) => s.queries.techniqueRollup(req.query),
  );

  app.post<{ Body: { question: string } }>(
    '/v1/ask',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['analytics'],
        response: { 200: askSchema, ...errorResponses },
        summary:
          'A question in plain language, answered by running one of the API queries; returns the query it ran and a table.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['question'],
          properties: { question: { type: 'string', minLength: 3, maxLength: 1000 } },
        },
      },
    },
    (req) => s.answerer.ask(req.body.question),
  );
}
