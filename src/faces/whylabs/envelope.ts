// The WhyLabs ("Songbird") wire conventions: error bodies `{message, requestId, type}` and the
// X-API-Key credential (header or cookie, optionally suffixed with `:<orgId>`). See reference §2.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { classifyError, originAccepted } from '../common.ts';
import { forbidden } from '../../domain/errors.ts';

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

/** Whether the request's credential came from the `X-API-Key` cookie (no usable header). */
function cookieAuthenticated(req: FastifyRequest): boolean {
  const h = req.headers['x-api-key'];
  if (typeof h === 'string' && h.trim()) return false;
  return typeof req.headers.cookie === 'string' && cookieValue(req.headers.cookie, 'X-API-Key') !== null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cross-site request forgery guard: a state-changing request authenticated by the cookie must come
 * from the server's own origin (scheme, host and port of its Host) or one of `allowed`, as its
 * `Origin` header says (or, without one, its `Referer`'s origin); neither header: refused.
 * Header-authenticated requests and safe methods pass. Throws a 403.
 */
export function checkCookieOrigin(req: FastifyRequest, allowed: readonly string[]): void {
  if (SAFE_METHODS.has(req.method) || !cookieAuthenticated(req)) return;
  if (originAccepted(req, allowed, true)) return;
  throw forbidden('Cross-origin request refused: a write authenticated by the X-API-Key cookie must come from this server\'s origin or one in KEYPLANE_ALLOWED_ORIGINS (or send the key in the X-API-Key header).');
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
