import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** /metrics, /livez and /readyz on one small HTTP server. */
export class HealthServer {
  #server: Server | undefined;
  #port = 0;

  constructor(
    private readonly registry: Registry,
    private readonly ready: () => boolean,
  ) {}

  get port(): number {
    return this.#port;
  }

  async start(port: number, host = '0.0.0.0'): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const ok = this.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (e: unknown) =>
            res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(e)}\n`),
        );
      } else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    this.#server = undefined;
  }
}
