import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { packageInfo } from '../../../lib/package-root.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The browser UI: a handful of static files, loaded once at start-up and served with ETags. */
export const webRoutes: FastifyPluginAsync = async (app) => {
  const dir = join(packageInfo().root, 'src/dashboard/web');
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, {
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  const serve = (name: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const asset = assets.get(name);
    if (!asset) return reply.callNotFound();
    reply.header('etag', asset.etag).header('cache-control', 'no-cache').type(asset.type);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };
  const open = { config: { roles: 'public' as const }, schema: { hide: true } };
  app.get('/', open, serve('index.html'));
  for (const name of assets.keys()) if (name !== 'index.html') app.get(`/assets/${name}`, open, serve(name));
};
