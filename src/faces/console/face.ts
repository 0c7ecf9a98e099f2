// The console's API under /console/api: sign-in with email and password (or the operator's root
// key), sessions in an HttpOnly, SameSite=Strict cookie (Secure and `__Host-` over TLS), and a CSRF
// guard on every state change. Errors are `{"error":{"message","code"}}`.
//
// Authentication is by the session cookie. Every request gets an actor: a signed-in user (acting in
// the session's organization with their role), the operator (root key session), or nobody — sign-in
// and invite acceptance work without a session, every other route asks for one (401 not_signed_in).
// A state-changing request (anything but GET/HEAD/OPTIONS) other than sign-in and invite acceptance
// must carry `x-csrf-token` equal to its session's token, and an Origin (or Referer), when it sends
// one, that is the server's own or in KEYPLANE_ALLOWED_ORIGINS; 403 csrf_failed otherwise.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Actor } from '../../domain/actor.ts';
import { DomainError } from '../../domain/errors.ts';
import { checkPassword, type SessionView } from '../../domain/console-sessions.ts';
import { checkSessionCsrf, csrfFailed, overTls, presentedSecret, SECURE_SESSION_COOKIE, SESSION_COOKIE, sessionActor, sessionLimitsOf } from '../session.ts';
import { constantTimeEqual } from '../../crypto/keys.ts';
import { classifyError, originAccepted } from '../common.ts';
import { defineFace, JSON_ADMIN_BODY, type FaceContext } from '../kit.ts';
import { requestContext } from '../request-context.ts';
import { notSignedIn, requireSession, state, stateOf } from './state.ts';
export { requireSession } from './state.ts';
import { oidcRoutes } from './oidc.ts';
import { consoleAuditRoutes } from './audit.ts';

export const CONSOLE_PREFIX = '/console/api';
export { SESSION_COOKIE, SECURE_SESSION_COOKIE } from '../session.ts';
/** State-changing routes that need no session (and so no CSRF token): they start one. */
const PUBLIC_WRITES = new Set([`POST ${CONSOLE_PREFIX}/session`, `POST ${CONSOLE_PREFIX}/invites/accept`]);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const invalidCredentials = () => new DomainError('unauthenticated', 'Wrong email or password.', null, 'invalid_credentials');

function setSessionCookie(req: FastifyRequest, reply: FastifyReply, secret: string, maxMs: number): void {
  const tls = overTls(req);
  const name = tls ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  reply.header('set-cookie', `${name}=${secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(maxMs / 1000)}${tls ? '; Secure' : ''}`);
}

function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  const tls = overTls(req);
  reply.header('set-cookie', `${tls ? SECURE_SESSION_COOKIE : SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${tls ? '; Secure' : ''}`);
}

/** The console URL of an invite's sign-up link (relative to the server). */
export const inviteLinkUrl = (token: string): string => `/console/#/accept?token=${token}`;

/** The session body every sign-in, invite acceptance and `GET /session` answers with. */
export function sessionBody(s: SessionView) {
  return {
    operator: s.operator,
    user: s.user ? { id: s.user.id, email: s.user.email, name: s.user.name } : null,
    org: s.org,
    orgs: s.orgs,
    csrf_token: s.csrfToken,
  };
}

/** The CSRF guard (see the top of this file); throws csrf_failed or not_signed_in. */
function checkCsrf(req: FastifyRequest, ctx: FaceContext): void {
  if (SAFE_METHODS.has(req.method)) return;
  const route = `${req.method} ${req.routeOptions.url ?? ''}`;
  // the Origin check applies to sign-in too (a forged cross-site sign-in is refused as well)
  if (!originAccepted(req, ctx.allowedOrigins ?? [], false)) throw csrfFailed('the request comes from a foreign origin.');
  if (PUBLIC_WRITES.has(route)) return;
  const { session } = stateOf(req);
  if (!session) throw notSignedIn();
  checkSessionCsrf(req, session, ctx);
}


const limitsOf = sessionLimitsOf;

export function sendConsoleError(reply: FastifyReply, err: unknown): FastifyReply {
  const c = classifyError(err);
  if (c.status >= 500) return reply.code(500).send({ error: { message: 'The server had an error while processing your request.', code: 'server_error' } });
  let code = c.code ?? c.kind;
  if (c.status === 429) code = 'too_many_attempts';
  return reply.code(c.status).send({ error: { message: c.message, code } });
}

const SignInBody = Type.Object({
  email: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
  password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  org: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  root_key: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
});

const routes: FastifyPluginAsyncTypebox<FaceContext> = async (app, ctx) => {
  const { core } = ctx;
  const sessions = core.consoleSessions;
  const limits = limitsOf(ctx);

  // before the body is validated: a forged or anonymous write learns nothing about its input
  app.addHook('preValidation', async (req) => checkCsrf(req, ctx));

  /** Refuses a throttled address or account before any password is checked (429 too_many_attempts). */
  function throttled(req: FastifyRequest, account: string | null): void {
    const byAddress = ctx.console?.addressThrottle?.exhausted(req.ip);
    if (byAddress) throw byAddress;
    const byAccount = account !== null ? ctx.console?.accountThrottle?.exhausted(account) : null;
    if (byAccount) throw byAccount;
  }
  function failedSignIn(req: FastifyRequest, account: string | null): void {
    ctx.console?.addressThrottle?.fail(req.ip);
    if (account !== null) ctx.console?.accountThrottle?.fail(account);
    req.log.info({ clientAddress: req.ip }, 'console sign-in failed');
  }

  // OpenID Connect sign-in (src/faces/console/oidc.ts): the same throttles, the same sessions
  await oidcRoutes(app, ctx, {
    throttled,
    failedSignIn,
    async startSession(req, reply, userId, orgId) {
      const { secret: old } = stateOf(req);
      if (old) await sessions.destroy(old);
      const { secret, session } = await sessions.create(userId, orgId, limits);
      await sessions.auditSignIn(await sessionActor(session, req, ctx), { userId, orgId, method: 'oidc' });
      setSessionCookie(req, reply, secret, limits.maxMs);
    },
  });

  app.post('/session', { schema: { body: SignInBody } }, async (req, reply) => {
    const body = req.body;
    // no fixation: whatever session the caller came with ends here; the new one has a new secret
    const { secret: old } = stateOf(req);
    if (old) await sessions.destroy(old);
    if (body.root_key !== undefined) {
      if (!ctx.rootKey) throw new DomainError('not_found', 'Operator sign-in is disabled: no root key is configured (KEYPLANE_ROOT_KEY).', null, 'not_found');
      throttled(req, null);
      if (!constantTimeEqual(body.root_key, ctx.rootKey)) {
        failedSignIn(req, null);
        throw new DomainError('unauthenticated', 'Wrong root key.', null, 'invalid_credentials');
      }
      const { secret, session } = await sessions.create(null, null, limits);
      setSessionCookie(req, reply, secret, limits.maxMs);
      return sessionBody(session);
    }
    if (body.email === undefined || body.password === undefined) {
      throw new DomainError('invalid', 'Sign in with email and password (or root_key).', body.email === undefined ? 'email' : 'password', 'invalid_value');
    }
    const account = body.email.trim().toLowerCase();
    throttled(req, account);
    const found = await sessions.checkCredentials(body.email, body.password);
    if (!found) {
      failedSignIn(req, account);
      await sessions.auditSignIn(req.actor, { failedEmail: body.email });
      throw invalidCredentials();
    }
    const org = body.org === undefined ? found.orgs[0]! : found.orgs.find((o) => o.slug === body.org);
    if (!org) throw new DomainError('forbidden', `You are not a member of an organization '${body.org}'.`, 'org', 'not_a_member');
    const { secret, session } = await sessions.create(found.userId, org.id, limits);
    await sessions.auditSignIn(await sessionActor(session, req, ctx), { userId: found.userId, orgId: org.id, method: 'password' });
    setSessionCookie(req, reply, secret, limits.maxMs);
    return sessionBody(session);
  });

  app.get('/session', async (req) => sessionBody(requireSession(req)));

  const AcceptBody = Type.Object({
    token: Type.String({ minLength: 1, maxLength: 200 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  });
  app.post('/invites/accept', { schema: { body: AcceptBody } }, async (req, reply) => {
    const { token, name, password } = req.body;
    checkPassword(password);
    const hash = await sessions.hashPassword(password); // before the transaction: argon2 takes a while
    const { secret: old } = stateOf(req);
    if (old) await sessions.destroy(old);
    const { member, invite } = await core.invites.acceptByLink(token, { name: name ?? null }, async (tx, m) => {
      // a user who already has a password (a member of another organization) keeps it: the invite
      // link of one organization must not reset an account; they confirm it instead
      const existing = await sessions.passwordHashOf(m.id, tx);
      if (existing === null) await sessions.setPasswordHash(m.id, hash, tx);
      else if (!(await sessions.verifyPassword(existing, password))) {
        throw new DomainError('invalid', 'You already have a keyplane password: enter it to accept this invite.', 'password', 'password_mismatch');
      }
    });
    const { secret, session } = await sessions.create(member.id, invite.org_id, limits);
    await sessions.auditSignIn(await sessionActor(session, req, ctx), { userId: member.id, orgId: invite.org_id, method: 'invite' });
    setSessionCookie(req, reply, secret, limits.maxMs);
    return sessionBody(session);
  });

  app.post('/invites/:invite_id/link', { schema: { params: Type.Object({ invite_id: Type.String({ minLength: 1, maxLength: 100 }) }) } }, async (req) => {
    const s = requireSession(req);
    if (!s.org) throw new DomainError('forbidden', 'Sign in as a member of the invite\'s organization (the operator uses `keyplane invites link`).', null, 'insufficient_permissions');
    const token = await core.invites.createLink(req.actor, s.org.id, req.params.invite_id);
    return { url: inviteLinkUrl(token) };
  });

  const PasswordBody = Type.Object({
    current_password: Type.String({ minLength: 1, maxLength: 1024 }),
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
  });
  app.post('/password', { schema: { body: PasswordBody } }, async (req, reply) => {
    const s = requireSession(req);
    if (!s.user) throw new DomainError('invalid', 'The operator has no password: the root key signs in.', null, 'no_password');
    const account = s.user.email;
    throttled(req, account);
    if (!(await sessions.passwordMatches(s.user.id, req.body.current_password))) {
      failedSignIn(req, account);
      throw new DomainError('invalid', 'The current password is wrong.', 'current_password', 'invalid_credentials');
    }
    checkPassword(req.body.new_password, 'new_password');
    await sessions.setPassword(s.user.id, req.body.new_password);
    await sessions.destroyOthers(s.user.id, s.id);
    await sessions.auditPasswordChange(req.actor, s.user.id);
    return reply.code(204).send();
  });

  // what the domain will allow this user (src/domain/access.ts): the console shows only that, and the
  // server refuses the rest anyway
  app.get('/me/permissions', async (req) => {
    const s = requireSession(req);
    const a = req.actor;
    if (s.operator || a.type !== 'console_user') return { operator: true, org_role: null, org_write: false, org_read: false, projects: {} };
    const g = a.user.grants;
    return { operator: false, org_role: s.org!.role, org_write: g.orgWrite, org_read: g.orgRead, projects: Object.fromEntries(g.projects) };
  });

  // the organization's audit log, every event type (src/faces/console/audit.ts)
  await app.register(consoleAuditRoutes(requireSession), ctx);

  app.delete('/session', async (req, reply) => {
    requireSession(req);
    await sessions.destroy(stateOf(req).secret!);
    clearSessionCookie(req, reply);
    return reply.code(204).send();
  });
};

export const consoleFace = defineFace({
  name: 'console',
  prefix: CONSOLE_PREFIX,
  auth: {
    // every request is let in with its session or none: the routes ask for one where they need it
    token: () => '-',
    missing: 'You are not signed in.',
    invalid: 'You are not signed in.',
    async verify(_token, ctx, req): Promise<Actor> {
      const secret = presentedSecret(req);
      const session = secret ? await ctx.core.consoleSessions.resolve(secret, limitsOf(ctx)) : null;
      state.set(req, { session, secret });
      return session ? sessionActor(session, req, ctx) : { type: 'console_anonymous', request: requestContext(req) };
    },
  },
  needsOrg: false,
  org(req) {
    const s = stateOf(req).session;
    return s?.org ? { id: s.org.id, slug: s.org.slug } : null;
  },
  admit() {},
  render: (reply, err) => sendConsoleError(reply, err),
  notFoundMessage: (req) => `Invalid URL (${req.method} ${req.url.split('?')[0]}).`,
  body: JSON_ADMIN_BODY,
  routes,
  docs: { title: 'keyplane console API', description: 'The console\'s sign-in and session API (cookie sessions, CSRF token in x-csrf-token).', securitySchemes: { session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'The session cookie set by POST /console/api/session (`__Host-kp_session` over TLS).' } } },
});

