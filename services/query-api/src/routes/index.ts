import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { adminRoutes } from './admin.ts';
import { analysisRoutes } from './analysis.ts';
import { caseRoutes } from './cases.ts';
import { embeddingRoutes } from './embeddings.ts';
import { exportRoutes } from './exports.ts';
import { findingRoutes } from './findings.ts';
import { healthRoutes } from './health.ts';
import { mcpRoutes } from './mcp.ts';
import { modelRoutes } from './models.ts';
import { caseSchema, findingSchema } from './schemas.ts';
import { webhookRoutes } from './webhooks.ts';

export async function registerRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.addSchema(findingSchema);
  app.addSchema(caseSchema);
  for (const routes of [
    healthRoutes,
    findingRoutes,
    analysisRoutes,
    caseRoutes,
    adminRoutes,
    webhookRoutes,
    exportRoutes,
    mcpRoutes,
    embeddingRoutes,
    modelRoutes,
  ])
    await routes(app, s);
}
