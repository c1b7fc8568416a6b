import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';

export async function healthRoutes(app: FastifyInstance, s: Services): Promise<void> {
  const open = { scope: 'public' as const, rateLimit: false as const };
  app.get('/livez', { config: open, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: open, schema: { hide: true } }, async (_req, reply) =>
    s.state.ready ? { status: 'ready' } : reply.code(503).send({ status: 'starting' }),
  );
  app.get('/metrics', { config: open, schema: { hide: true } }, async (_req, reply) =>
    reply.type(s.metrics.contentType).send(await s.metrics.metrics()),
  );
  app.get('/openapi.json', { config: open, schema: { hide: true } }, async () => app.swagger());
}
