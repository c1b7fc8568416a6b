import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export interface UiPluginOptions {
  /** The built UI (`pnpm --filter @tidewatch/ui build`); defaults to services/query-api/ui/dist. */
  distDir?: string;
  /** Path prefixes that belong to the API: never answered with the UI's index.html. */
  apiPrefixes?: string[];
}

export const DEFAULT_UI_DIST = fileURLToPath(new URL('../../ui/dist/', import.meta.url));
export const API_PREFIXES = ['/v1', '/livez', '/readyz', '/metrics', '/openapi.json', '/docs', '/mcp'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.json', '.svg', '.txt', '.map']);

// Scripts and styles come from the same origin only; the UI talks to the API on the same origin.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  gzip: Buffer | null;
  br: Buffer | null;
  type: string;
  etag: string;
  /** Vite puts a content hash in every name under assets/, so those never change. */
  immutable: boolean;
}

/** Every file of the built UI, read once into memory with its compressed forms (the UI is small). */
export function loadUiAssets(dist: string): Map<string, Asset> | null {
  if (!existsSync(join(dist, 'index.html'))) return null;
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) {
        walk(full);
        continue;
      }
      const rel = `/${relative(dist, full).split(sep).join('/')}`;
      const ext = extname(name).toLowerCase();
      const body = readFileSync(full);
      const compress = COMPRESSIBLE.has(ext) && body.length > 512;
      assets.set(rel, {
        body,
        gzip: compress ? gzipSync(body, { level: 9 }) : null,
        br: compress ? brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11 } }) : null,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: rel.startsWith('/assets/'),
      });
    }
  };
  walk(dist);
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  reply
    .header('content-type', asset.type)
    .header('etag', asset.etag)
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (asset.type.startsWith('text/html'))
    reply
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
  const accept = String(req.headers['accept-encoding'] ?? '');
  if (asset.br && /\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(asset.br);
  if (asset.gzip && /\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(asset.gzip);
  return reply.send(asset.body);
}

/**
 * Serves the analyst UI: the built files with caching headers, and index.html for any other
 * GET outside the API (client-side routes such as /findings/<id> are deep-linkable). Unknown API
 * paths fall through to the app's own not-found handler. The UI itself is public: it holds no
 * data, every API call it makes carries the analyst's key.
 */
export const uiPlugin: FastifyPluginAsync<UiPluginOptions> = async (app, opts) => {
  const dist = opts.distDir ?? DEFAULT_UI_DIST;
  const prefixes = opts.apiPrefixes ?? API_PREFIXES;
  let assets = loadUiAssets(dist);
  if (!assets)
    app.log.warn({ dist }, 'UI not built: run `pnpm --filter @tidewatch/ui build`; / answers 503 until then');

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    let path: string;
    try {
      path = decodeURIComponent(req.url.split('?')[0] ?? '/');
    } catch {
      return reply
        .code(400)
        .send({ statusCode: 400, error: 'Bad Request', message: 'malformed URL encoding' });
    }
    if (prefixes.some((p) => path === p || path.startsWith(`${p}/`))) return reply.callNotFound();
    assets ??= loadUiAssets(dist);
    if (!assets)
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The Tidewatch UI is not built. Run: pnpm --filter @tidewatch/ui build\n');
    const file = assets.get(path);
    if (file) return send(req, reply, file);
    // A missing file (a name with an extension) is a 404; anything else is a client-side route.
    if (extname(path) !== '') return reply.callNotFound();
    return send(req, reply, assets.get('/index.html') as Asset);
  };
  app.get('/', { schema: { hide: true } }, handler);
  app.get('/*', { schema: { hide: true } }, handler);
};
