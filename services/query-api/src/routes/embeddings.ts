import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { type FilterParams, toFilter } from '../finding-queries.ts';
import { errorResponses, filterProperties } from './schemas.ts';

/** Points fetched with their vectors concurrently, this many at a time. */
const FETCH_BATCH = 64;

export async function embeddingRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.get<{ Querystring: Pick<FilterParams, 'from' | 'to'> & { limit: number } }>(
    '/v1/embeddings',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['findings'],
        summary: 'Finding embeddings for the embedding map, newest window first, every status included.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: filterProperties.from,
            to: filterProperties.to,
            limit: { type: 'integer', minimum: 1, maximum: 5000, default: 2000 },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    vector: { type: 'array', items: { type: 'number' } },
                    finding: { $ref: 'Finding#' },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const { items } = await s.store.list({
        filter: toFilter({ from: req.query.from, to: req.query.to }, { defaultStatus: false }),
        sort: { field: 'window_start_ms', order: 'desc' },
        limit: req.query.limit,
      });
      const out: { vector: number[]; finding: unknown }[] = [];
      for (let i = 0; i < items.length; i += FETCH_BATCH) {
        const batch = items.slice(i, i + FETCH_BATCH);
        const points = await Promise.all(batch.map((f) => s.store.get(f.sequence_id, { withVector: true })));
        // A point deleted between list and get (retention) is left out rather than sent without a vector.
        const kept = points.filter((p) => p !== null);
        const decorated = await s.queries.decorate(kept.map((p) => p.payload));
        kept.forEach((p, j) => {
          out.push({ vector: p.vector, finding: decorated[j] });
        });
      }
      return { items: out };
    },
  );
}
