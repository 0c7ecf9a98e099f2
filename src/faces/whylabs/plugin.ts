// The WhyLabs ("Songbird") face under /v0: X-API-Key auth (header or cookie, optionally suffixed with
// `:<orgId>`), the path's organization checked against the key's, and WhyLabs error bodies
// `{message, requestId, type}`. See reference §2.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { keyActor } from '../../domain/actor.ts';
import { requestContext } from '../request-context.ts';
import { forbidden, isDomainError, notFound, unauthenticated } from '../../domain/errors.ts';
import { SLUG } from '../../domain/organizations.ts';
import { classifyError } from '../common.ts';
import { apiKeyRoutes } from './api-keys.ts';

export interface WhyLabsError {
  message: string;
  requestId: string;
  type: string;
}

/** `type` is the server's exception class name without "Exception" (reference §2, error body shapes). */
const TYPE_BY_STATUS: Record<number, string> = {
  400: 'IllegalArgument',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'ResourceNotFound',
  409: 'ResourceAlreadyExists',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
};

/** The caller's X-Request-Id (when it is short printable text), else WhyLabs' own placeholder. */
function requestIdOf(req: FastifyRequest): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && h.length > 0 && h.length <= 200 && /^[\x20-\x7e]+$/.test(h) ? h : 'unknown-request-id';
}

export function whylabsError(err: unknown, req: FastifyRequest): { status: number; body: WhyLabsError } {
  const c = classifyError(err);
  const requestId = requestIdOf(req);
  if (c.status >= 500) return { status: 500, body: { message: 'Internal error. Unable to process request', requestId, type: 'Internal' } };
  return { status: c.status, body: { message: c.message, requestId, type: TYPE_BY_STATUS[c.status] ?? 'IllegalArgument' } };
}

/** Sends any error as a WhyLabs error body (also used for framework errors on /v0 paths). */
export function sendWhyLabsError(reply: FastifyReply, err: unknown, req: FastifyRequest): FastifyReply {
  const { status, body } = whylabsError(err, req);
  return reply.code(status).type('application/json').send(body);
}

/** True for paths of this face (`/v0` and below), whose framework errors answer in its error body. */
export function isWhyLabsPath(url: string): boolean {
  return url === '/v0' || url.startsWith('/v0/') || url.startsWith('/v0?');
}

/** The key presented in `X-API-Key` (header first, then cookie), without its optional `:<orgId>` suffix. */
export function presentedKey(req: FastifyRequest): string | null {
  let value: string | null = null;
  const h = req.headers['x-api-key'];
  if (typeof h === 'string' && h.trim()) value = h.trim();
  else if (typeof req.headers.cookie === 'string') value = cookieValue(req.headers.cookie, 'X-API-Key');
  if (!value) return null;
  // WhyLabs splits on ':' and uses the first part when there are exactly two; the suffix is not checked
  const parts = value.split(':');
  return parts.length === 2 ? parts[0]! : value;
}

function cookieValue(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    try {
      v = decodeURIComponent(v);
    } catch {
      return null;
    }
    return v || null;
  }
  return null;
}

/** The organization of the request: the `{org_id}` path segment, resolved to the key's organization id. */
const resolvedOrg = new WeakMap<FastifyRequest, string>();

export function orgOf(req: FastifyRequest): string {
  const org = resolvedOrg.get(req);
  if (!org) throw forbidden('You do not have access to this organization.');
  return org;
}

export async function whylabsFace(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  app.setErrorHandler((err, req, reply) => {
    if ((err as { statusCode?: number }).statusCode === undefined && !(err as { validation?: unknown }).validation && !isDomainError(err)) {
      req.log.error({ err }, 'unhandled error');
    }
    return sendWhyLabsError(reply, err, req);
  });
  // WhyLabs answers unknown routes with an empty 404; keyplane sends its usual body (reference §2).
  app.setNotFoundHandler((req, reply) => sendWhyLabsError(reply, notFound(`No route for ${req.method} ${req.url.split('?')[0]}.`), req));

  // Every operation takes no body and sends no Content-Type: any body sent anyway (within the body
  // limit) is read and ignored, rather than refused for its media type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, {}));

  app.addHook('onRequest', async (req) => {
    const token = presentedKey(req);
    if (!token) throw unauthenticated('Missing API key: send it in the X-API-Key header.');
    const principal = await core.keys.verify(token);
    if (!principal) throw unauthenticated('Invalid, expired or revoked API key.');
    req.actor = keyActor(principal, requestContext(req));
    // The path's organization must be the key's: its id (`org-…`) or, for convenience, its slug.
    const pathOrg = (req.params as Record<string, unknown> | undefined)?.org_id;
    if (typeof pathOrg !== 'string') return;
    if (pathOrg === principal.orgId) {
      resolvedOrg.set(req, principal.orgId);
      return;
    }
    if (SLUG.test(pathOrg)) {
      const org = await core.orgs.getBySlug(req.actor, pathOrg).catch((e: unknown) => {
        if (isDomainError(e)) return null; // no such slug, or another organization's
        throw e;
      });
      if (org && org.id === principal.orgId) {
        resolvedOrg.set(req, org.id);
        return;
      }
    }
    throw forbidden('You do not have access to this organization.');
  });

  await app.register(apiKeyRoutes, { core });
}
