import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { defaultLogger, type Logger } from './logger.ts';

export interface HealthServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  registry?: Registry;
  /** /readyz answers 200 while this returns true, 503 otherwise. */
  ready: () => boolean | Promise<boolean>;
  logger?: Logger;
}

/** /metrics, /livez and /readyz for services that have no HTTP server of their own. */
export class HealthServer {
  readonly #server: Server;
  readonly #options: HealthServerOptions;
  readonly #logger: Logger;

  constructor(options: HealthServerOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? defaultLogger()).child({ component: 'health' });
    this.#server = createServer((req, res) => {
      void this.#route(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!).then(
        ({ status, type, body }) => {
          res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (error: unknown) => {
          this.#logger.error({ err: error }, 'health endpoint failed');
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error\n');
        },
      );
    });
    // Scrapers and probes keep connections alive; they must not hold shutdown up.
    this.#server.keepAliveTimeout = 5_000;
  }

  async #route(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
    if (method !== 'GET' && method !== 'HEAD') {
      return { status: 405, type: 'text/plain', body: 'method not allowed\n' };
    }
    if (path === '/livez') return { status: 200, type: 'application/json', body: '{"status":"ok"}\n' };
    if (path === '/readyz') {
      const ready = await this.#options.ready();
      return {
        status: ready ? 200 : 503,
        type: 'application/json',
        body: `${JSON.stringify({ status: ready ? 'ready' : 'not ready' })}\n`,
      };
    }
    if (path === '/metrics' && this.#options.registry) {
      return {
        status: 200,
        type: this.#options.registry.contentType,
        body: await this.#options.registry.metrics(),
      };
    }
    return { status: 404, type: 'text/plain', body: 'not found\n' };
  }

  /** Listens; resolves with the bound port. */
  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host ?? '0.0.0.0', () => {
        this.#server.off('error', reject);
        const { port } = this.#server.address() as AddressInfo;
        this.#logger.info({ port }, 'health server listening (/metrics /livez /readyz)');
        resolve(port);
      });
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo | null)?.port ?? 0;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }
}
