// The console's browser side (issue [10]): the files Vite built into dist/console (console/ holds
// their sources), served by keyplane itself, no CDN. `/console` is index.html; `/console/assets/<file>`
// the hashed bundle files. Only files listed from dist/console/assets are reachable (a name is looked
// up in that listing, never joined onto a path), so no request reaches outside it. Every answer carries
// a strict Content-Security-Policy (the page has no inline script or style), denies framing and sends
// no referrer. A checkout whose console was never built answers /console with a 503 page saying so.
// The console's API (/console/api/*) is a face of its own, not here.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Where the built console is: dist/console beside the server bundle (dist/keyplane.mjs and its
 * chunks) or, running from the sources (src/faces/), the repository's dist/console.
 */
export function consoleDir(): string {
  const candidates = [fileURLToPath(new URL('./console/', import.meta.url)), fileURLToPath(new URL('../../dist/console/', import.meta.url))];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[candidates.length - 1]!;
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>keyplane console: not built</title></head>
<body><h1>The console is not built</h1>
<p>This keyplane checkout has no built console (dist/console is missing).
Run <code>npm run build</code> (or <code>npm ci</code>, which builds it) and reload this page.</p>
</body></html>
`;

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff');
}

interface Built {
  index: Buffer;
  assets: Map<string, { path: string; type: string; size: number }>;
}

export async function consoleRoutes(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? consoleDir();
  let built: Built | null = null;
  // read once it exists: a server started before `npm run build` picks the console up afterwards
  const load = (): Built | null => {
    if (built) return built;
    const indexPath = join(dir, 'index.html');
    if (!existsSync(indexPath)) return null;
    const assets = new Map<string, { path: string; type: string; size: number }>();
    const assetDir = join(dir, 'assets');
    if (existsSync(assetDir)) {
      for (const name of readdirSync(assetDir)) {
        const path = join(assetDir, name);
        const dot = name.lastIndexOf('.');
        const type = TYPES[dot >= 0 ? name.slice(dot) : ''];
        if (type && statSync(path).isFile()) assets.set(name, { path, type, size: statSync(path).size });
      }
    }
    built = { index: readFileSync(indexPath), assets };
    return built;
  };

  const index = async (_req: unknown, reply: FastifyReply) => {
    const b = load();
    secure(reply).header('cache-control', 'no-cache');
    if (!b) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT);
    return reply.type('text/html; charset=utf-8').send(b.index);
  };
  app.get('/console', index);
  app.get('/console/', index);
  app.get<{ Params: { file: string } }>('/console/assets/:file', async (req, reply) => {
    const asset = load()?.assets.get(req.params.file);
    secure(reply);
    if (!asset) return reply.code(404).header('cache-control', 'no-cache').type('text/plain; charset=utf-8').send('Not found\n');
    // Vite names every asset after its content's hash: a new build is a new URL
    return reply.type(asset.type).header('cache-control', 'public, max-age=31536000, immutable').header('content-length', asset.size).send(createReadStream(asset.path));
  });
}
