import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface InferenceHttpDeps {
  registry: Registry;
  live: () => boolean;
  ready: () => boolean;
  adminKey: string | undefined;
  modelInfo: () => Promise<unknown>;
  swap: (version: string | undefined) => Promise<unknown>;
  rollback: () => Promise<unknown>;
}

const MAX_BODY = 64 * 1024;

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw Object.assign(new Error('body must be a JSON object'), { status: 400 });
}

function send(res: ServerResponse, status: number, payload: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(payload) : String(payload);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * /livez, /readyz, /metrics, GET /v1/model, and the admin calls POST /v1/admin/model/swap
 * ({"version": "..."} or {} for DEFAULT) and POST /v1/admin/model/rollback, which need
 * `Authorization: Bearer <TIDEWATCH_ADMIN_KEY>`.
 */
export class InferenceHttpServer {
  private readonly server: Server;

  constructor(private readonly deps: InferenceHttpDeps) {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e: unknown) => {
        const status = (e as { status?: number }).status ?? 500;
        send(res, status, { error: e instanceof Error ? e.message : String(e) });
      });
    });
  }

  async listen(port: number, host = '0.0.0.0'): Promise<number> {
    await new Promise<void>((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(port, host, () => res());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((res) => this.server.close(() => res()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const { deps } = this;
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /livez':
        return send(res, deps.live() ? 200 : 503, { status: deps.live() ? 'ok' : 'down' });
      case 'GET /readyz':
        return send(res, deps.ready() ? 200 : 503, { status: deps.ready() ? 'ready' : 'not ready' });
      case 'GET /metrics':
        return send(res, 200, await deps.registry.metrics(), deps.registry.contentType);
      case 'GET /v1/model':
        return send(res, 200, await deps.modelInfo());
      case 'POST /v1/admin/model/swap':
      case 'POST /v1/admin/model/rollback': {
        if (!deps.adminKey)
          return send(res, 403, {
            error: 'model administration is disabled: TIDEWATCH_ADMIN_KEY is not set',
          });
        if (req.headers.authorization !== `Bearer ${deps.adminKey}`) {
          return send(res, 401, { error: 'admin key required (Authorization: Bearer <key>)' });
        }
        const b = await body(req);
        try {
          if (route.endsWith('/swap')) {
            const v = b['version'];
            if (v !== undefined && typeof v !== 'string')
              return send(res, 400, { error: 'version must be a string' });
            await deps.swap(v);
          } else {
            await deps.rollback();
          }
        } catch (e) {
          return send(res, 409, { error: e instanceof Error ? e.message : String(e) });
        }
        return send(res, 200, await deps.modelInfo());
      }
      default:
        return send(res, 404, { error: `no route ${route}` });
    }
  }
}
