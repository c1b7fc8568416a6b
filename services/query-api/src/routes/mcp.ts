import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../app.ts';
import { createMcpServer } from '../mcp/server.ts';

/**
 * MCP over Streamable HTTP at /mcp, stateless: each POST gets a server bound to the caller's key
 * (read scope to connect; write tools check for the write scope themselves).
 */
export async function mcpRoutes(app: FastifyInstance, s: Services): Promise<void> {
  app.post('/mcp', { config: { scope: 'read' }, schema: { hide: true } }, async (req, reply) => {
    const server = createMcpServer(
      { queries: s.queries, cases: s.cases },
      req.principal ?? { keyId: 'none', name: 'none', scopes: [] },
    );
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    reply.hijack();
    await transport.handleRequest(req.raw, reply.raw, req.body);
  });
  const notAllowed = { error: 'method_not_allowed', message: 'this MCP endpoint is stateless: POST only' };
  app.get('/mcp', { config: { scope: 'read' }, schema: { hide: true } }, async (_req, reply) =>
    reply.code(405).header('allow', 'POST').send(notAllowed),
  );
  app.delete('/mcp', { config: { scope: 'read' }, schema: { hide: true } }, async (_req, reply) =>
    reply.code(405).header('allow', 'POST').send(notAllowed),
  );
}
