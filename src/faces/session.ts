// The console's session cookie, shared by the console face (src/faces/console/face.ts) and every
// face that accepts a console session besides its own keys (Face.acceptsSession: the OpenAI admin,
// ibl.ai and platform faces), so the browser console calls the same routes — and the same domain
// checks — as the API clients.
//
// A cookie-authenticated request that changes state must carry `x-csrf-token` equal to its
// session's token, and an Origin (or Referer), when it sends one, that is the server's own or in
// KEYPLANE_ALLOWED_ORIGINS. A request with an Authorization header is authenticated by it alone:
// the cookie is not looked at.
import type { FastifyRequest } from 'fastify';
import type { Actor } from '../domain/actor.ts';
import { rootActor } from '../domain/actor.ts';
import { DomainError } from '../domain/errors.ts';
import { safeEqual, type SessionLimits, type SessionView } from '../domain/console-sessions.ts';
import { originAccepted } from './common.ts';
import type { Core } from '../domain/core.ts';
import { requestContext } from './request-context.ts';

/** What the session rules need of a face's context (FaceContext has it; not imported, to keep kit.ts → session.ts one-way). */
export interface SessionContext {
  core: Core;
  allowedOrigins?: readonly string[] | undefined;
  console?: { idleMs?: number | undefined; maxMs?: number | undefined } | undefined;
}

export const SESSION_COOKIE = 'kp_session';
/** The cookie's name over TLS: `__Host-` binds it to this host, Path=/, Secure. */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function cookieValue(header: string | undefined, name: string): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return v && /^[A-Za-z0-9_-]{1,200}$/.test(v) ? v : null;
  }
  return null;
}

export const overTls = (req: FastifyRequest): boolean => req.protocol === 'https';

/** The session secret the request presents (the `__Host-` cookie over TLS, the plain one otherwise). */
export function presentedSecret(req: FastifyRequest): string | null {
  return overTls(req) ? cookieValue(req.headers.cookie, SECURE_SESSION_COOKIE) ?? cookieValue(req.headers.cookie, SESSION_COOKIE) : cookieValue(req.headers.cookie, SESSION_COOKIE);
}

export function sessionLimitsOf(ctx: SessionContext): SessionLimits {
  return { idleMs: ctx.console?.idleMs ?? 3_600_000, maxMs: ctx.console?.maxMs ?? 12 * 3_600_000 };
}

export const csrfFailed = (why: string) => new DomainError('forbidden', `Request refused (CSRF protection): ${why}`, null, 'csrf_failed');

/** The CSRF rule for a session-authenticated request (see the top of this file); throws csrf_failed. */
export function checkSessionCsrf(req: FastifyRequest, session: SessionView, ctx: SessionContext): void {
  if (SAFE_METHODS.has(req.method)) return;
  if (!originAccepted(req, ctx.allowedOrigins ?? [], false)) throw csrfFailed('the request comes from a foreign origin.');
  const token = req.headers['x-csrf-token'];
  if (typeof token !== 'string' || !safeEqual(token, session.csrfToken)) throw csrfFailed('the x-csrf-token header is missing or wrong.');
}

/** The actor of a session: the operator, or a user acting in the session's organization with their grants. */
export async function sessionActor(session: SessionView, req: FastifyRequest, ctx: SessionContext): Promise<Actor> {
  const request = requestContext(req);
  if (session.operator) return rootActor(request);
  if (session.user && session.org) {
    const grants = await ctx.core.access.grantsOf(session.user.id, session.org.id, session.org.role);
    return { type: 'console_user', user: { userId: session.user.id, orgId: session.org.id, role: session.org.role, grants }, request };
  }
  return { type: 'console_anonymous', request };
}

/**
 * For a face that accepts sessions: the request's session actor when it has no Authorization header
 * and presents a live session cookie (CSRF-checked), else null (the face's own credential applies).
 */
export async function sessionCredential(req: FastifyRequest, ctx: SessionContext): Promise<{ actor: Actor; session: SessionView } | null> {
  if (req.headers.authorization !== undefined) return null;
  const secret = presentedSecret(req);
  if (!secret) return null;
  const session = await ctx.core.consoleSessions.resolve(secret, sessionLimitsOf(ctx));
  if (!session) return null;
  checkSessionCsrf(req, session, ctx);
  return { actor: await sessionActor(session, req, ctx), session };
}
