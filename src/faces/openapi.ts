// OpenAPI 3.1 documents, one per face, built by @fastify/swagger from the schemas the face's routes
// declare, and the /docs page (Swagger UI, served from node_modules: no CDN).
//
// @fastify/swagger is registered inside each face's own plugin, so it sees that face's routes only
// (its onRoute hook is encapsulated with the face): `/openapi/<face>.json` is that instance's
// document. Only the faces this node serves have a document (the platform face's exists only when
// the face is enabled, i.e. with a root key). The documents and the page are public: they describe
// the APIs, never a tenant's data, and hold no example values.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import pkg from '../../package.json' with { type: 'json' };
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';

/** An OpenAPI 3.1 security scheme (the subset the faces use). */
export type SecurityScheme =
  | { type: 'http'; scheme: string; bearerFormat?: string; description?: string }
  | { type: 'apiKey'; in: 'header' | 'query' | 'cookie'; name: string; description?: string };

/** What a face's OpenAPI document says about the face besides its routes. */
export interface FaceDocs {
  title: string;
  description: string;
  /** How the face's credential is presented (what its `auth.token` reads); any one of them is enough. */
  securitySchemes: Record<string, SecurityScheme>;
}

/** What a document needs of a face (a `Face` of the kit, which imports this module). */
export interface DocumentedFace {
  name: string;
  prefix: string;
  docs?: FaceDocs | undefined;
}

/** A face without `docs`: an API key as a Bearer token. */
const DEFAULT_DOCS = (face: DocumentedFace): FaceDocs => ({
  title: `keyplane ${face.name} API`,
  description: `The ${face.name} face of keyplane.`,
  securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key.' } },
});

/** The documents of the faces this server serves, by face name (filled as faces register). */
export type FaceDocuments = Map<string, () => unknown>;

declare module 'fastify' {
  interface FastifyInstance {
    openapiDocuments: FaceDocuments;
  }
}

/** Path segments that name no resource (an organization scope), skipped when tagging a route. */
const SCOPE_SEGMENTS = new Set(['organization', 'organizations', 'orgs']);

/** The tag of a route: the first resource segment of its URL after the face prefix (`projects`, `admin_api_keys`…). */
export function tagOf(url: string, prefix: string): string {
  const rest = url.startsWith(prefix) ? url.slice(prefix.length) : url;
  const segments = rest.split('/').filter((s) => s !== '' && !s.startsWith(':'));
  return segments.find((s) => !SCOPE_SEGMENTS.has(s)) ?? segments.at(-1) ?? 'root';
}

/** Registers @fastify/swagger in a face's own plugin instance, and records how to get its document. */
export async function registerFaceDocument(app: FastifyInstance, face: DocumentedFace): Promise<void> {
  const docs = face.docs ?? DEFAULT_DOCS(face);
  const tags = new Set<string>();
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: docs.title, description: docs.description, version: VERSION },
      servers: [{ url: '/' }],
      components: { securitySchemes: docs.securitySchemes },
      security: Object.keys(docs.securitySchemes).map((name) => ({ [name]: [] })),
    },
    // every route is tagged by its resource, unless it names its own tags
    transform: ({ schema, url }) => {
      const s = (schema ?? {}) as Record<string, unknown>;
      const own = Array.isArray(s.tags) ? (s.tags as string[]) : [tagOf(url, face.prefix)];
      for (const t of own) tags.add(t);
      return { schema: { ...s, tags: own } as never, url };
    },
  });
  app.openapiDocuments.set(face.name, () => {
    const doc = app.swagger() as { tags?: Array<{ name: string }> };
    // tags are known once every route was transformed, i.e. after the first call
    doc.tags ??= [...tags].sort().map((name) => ({ name }));
    return doc;
  });
}

// imported (not required at run time): the build inlines it, so dist/ does not look for ../../package.json
const VERSION: string = pkg.version;

/** Swagger UI's files served under /docs, with their media types: nothing else of the package is reachable. */
const UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const uiDir = (): string => (createRequire(import.meta.url)('swagger-ui-dist') as { getAbsoluteFSPath(): string }).getAbsoluteFSPath();

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * `/openapi/<face>.json` for every face with a document, and `/docs`: Swagger UI over those
 * documents, its scripts and styles served from the local swagger-ui-dist package. The page holds
 * no inline script (its set-up is /docs/docs.js), so a strict Content-Security-Policy allows it.
 */
export async function docsRoutes(app: FastifyInstance, documents: FaceDocuments): Promise<void> {
  const names = [...documents.keys()];
  for (const name of names) {
    const doc = documents.get(name)!;
    app.get(`/openapi/${name}.json`, async (_req, reply) => reply.type('application/json; charset=utf-8').send(JSON.stringify(doc())));
  }

  const links = names.map((n) => `<li><a href="/openapi/${escapeHtml(n)}.json">${escapeHtml(n)}</a></li>`).join('');
  const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>keyplane API documents</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<noscript><p>The API documents (OpenAPI 3.1):</p><ul>${links}</ul></noscript>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/docs.js"></script>
</body>
</html>
`;
  const urls = names.map((name) => ({ url: `/openapi/${name}.json`, name }));
  const init = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    urls: ${JSON.stringify(urls)},
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout'
  });
});
`;
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/docs/docs.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(init));
  for (const [file, type] of Object.entries(UI_FILES)) {
    app.get(`/docs/${file}`, async (_req, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=86400').send(createReadStream(join(uiDir(), file))),
    );
  }
}
