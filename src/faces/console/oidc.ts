// OpenID Connect sign-in for the console (optional: on with KEYPLANE_OIDC_ISSUER, _CLIENT_ID and
// _CLIENT_SECRET). openid-client does the protocol; it is imported on the first sign-in, not at start.
//
//   GET /console/api/oidc           whether it is configured, and the provider's name (for the button)
//   GET /console/api/oidc/login     → 302 to the provider's authorization endpoint (authorization code,
//                                    PKCE S256, state, nonce); the state, nonce, PKCE verifier and redirect
//                                    URL ride in a short-lived cookie (HttpOnly, SameSite=Lax, 10 min),
//                                    HMAC-signed with a key derived from the master key (so any node of a
//                                    cluster can finish the sign-in)
//   GET /console/api/oidc/callback  exchanges the code, verifies the ID token (issuer, audience, nonce,
//                                    expiry, and its signature with the provider's JWKS), requires
//                                    `email_verified: true`, and signs in the EXISTING keyplane user with that
//                                    email who is a member of an organization (never creates one), exactly
//                                    as a password sign-in does; → 302 to /console/#/.
//
// Every failure of the callback redirects to /console/#/signin?error=<plain words> and counts against
// the console's sign-in throttles (per address, and per account once the email is known). Without
// the settings, login and callback are 404 (console envelope).
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { safeEqual } from '../../domain/console-sessions.ts';
import { overTls } from '../session.ts';
import type { FaceContext } from '../kit.ts';

type OidcClient = typeof import('openid-client');
type OidcSettings = NonNullable<FaceContext['oidc']>;

export const OIDC_COOKIE = 'kp_oidc';
const COOKIE_PATH = '/console/api/oidc';
const STATE_TTL_MS = 10 * 60_000;
const SIGN_IN_PAGE = '/console/#/signin';
const HOME = '/console/#/';

/** What the sign-in helpers of the console face give this file (src/faces/console/face.ts). */
export interface SignInHooks {
  /** Throws 429 too_many_attempts when the address (or account) is throttled. */
  throttled(req: FastifyRequest, account: string | null): void;
  /** Counts a failed sign-in against the address (and account). */
  failedSignIn(req: FastifyRequest, account: string | null): void;
  /** Ends the session the request came with, starts one for the user in the organization, sets the cookie. */
  startSession(req: FastifyRequest, reply: FastifyReply, userId: string, orgId: string): Promise<void>;
}

/** A failed sign-in: the plain message shown on the sign-in page, and the account it concerns (if known). */
class SignInFailed extends Error {
  constructor(
    readonly plain: string,
    readonly account: string | null = null,
    readonly counts = true,
  ) {
    super(plain);
  }
}

interface LoginState {
  /** state */ s: string;
  /** nonce */ n: string;
  /** PKCE code verifier */ v: string;
  /** redirect URL */ r: string;
  /** expires at (epoch ms) */ e: number;
}

/** The provider's display name: the issuer's host (accounts.example.com). */
export function issuerName(issuer: string): string {
  try {
    return new URL(issuer).host;
  } catch {
    return issuer;
  }
}

const notConfigured = () => new DomainError('not_found', 'OpenID Connect sign-in is not configured on this server.', null, 'not_found');

function readCookie(header: string | undefined, name: string): string | null {
  if (typeof header !== 'string') return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return v && v.length <= 2000 && /^[A-Za-z0-9_.-]+$/.test(v) ? v : null;
  }
  return null;
}

function stateCookie(req: FastifyRequest, value: string, maxAgeS: number): string {
  const tls = overTls(req);
  return `${OIDC_COOKIE}=${value}; Path=${COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${tls ? '; Secure' : ''}`;
}

export async function oidcRoutes(app: FastifyInstance, ctx: FaceContext, hooks: SignInHooks): Promise<void> {
  const settings: OidcSettings | undefined = ctx.oidc;

  app.get('/oidc', async () => (settings ? { enabled: true, issuer: settings.issuer, name: issuerName(settings.issuer), login_url: `${COOKIE_PATH}/login` } : { enabled: false }));

  if (!settings) {
    app.get('/oidc/login', async () => {
      throw notConfigured();
    });
    app.get('/oidc/callback', async () => {
      throw notConfigured();
    });
    return;
  }

  // the cookie's signing key: derived from the master key, the same on every node
  const signingKey = ctx.core.webhookSecret('keyplane console OpenID Connect login state');
  const sign = (payload: string) => createHmac('sha256', signingKey).update(payload).digest('base64url');
  const seal = (s: LoginState): string => {
    const payload = Buffer.from(JSON.stringify(s)).toString('base64url');
    return `${payload}.${sign(payload)}`;
  };
  const unseal = (value: string | null): LoginState | null => {
    if (!value) return null;
    const [payload, mac] = value.split('.');
    if (!payload || !mac || !safeEqual(mac, sign(payload))) return null;
    try {
      const s = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as LoginState;
      return typeof s.s === 'string' && typeof s.n === 'string' && typeof s.v === 'string' && typeof s.r === 'string' && typeof s.e === 'number' && s.e > Date.now() ? s : null;
    } catch {
      return null;
    }
  };

  let lib: Promise<OidcClient> | null = null;
  const client = (): Promise<OidcClient> => (lib ??= import('openid-client'));
  // the provider's configuration (discovery document), fetched once; a failed discovery is tried again next time
  let discovered: Promise<import('openid-client').Configuration> | null = null;
  const configuration = () => {
    discovered ??= (async () => {
      const oc = await client();
      const insecure = new URL(settings.issuer).protocol === 'http:'; // loopback only (src/config.ts)
      const config = await oc.discovery(new URL(settings.issuer), settings.clientId, settings.clientSecret, undefined, insecure ? { execute: [oc.allowInsecureRequests], timeout: 10 } : { timeout: 10 });
      // the ID token's signature is checked with the provider's JWKS (not only trusted for coming over TLS)
      oc.enableNonRepudiationChecks(config);
      return config;
    })().catch((err) => {
      discovered = null;
      throw err;
    });
    return discovered;
  };

  const redirectUrlOf = (req: FastifyRequest): string => settings.redirectUrl ?? `${req.protocol}://${req.host}${COOKIE_PATH}/callback`;
  const toSignIn = (reply: FastifyReply, message: string) => reply.redirect(`${SIGN_IN_PAGE}?error=${encodeURIComponent(message)}`, 302);

  app.get('/oidc/login', async (req, reply) => {
    try {
      hooks.throttled(req, null);
    } catch (err) {
      return toSignIn(reply, err instanceof Error ? err.message : 'Too many attempts. Wait a little and try again.');
    }
    let config;
    try {
      config = await configuration();
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'OpenID Connect discovery failed');
      return toSignIn(reply, `The sign-in provider (${issuerName(settings.issuer)}) could not be reached. Try again later, or sign in with your password.`);
    }
    const oc = await client();
    const state: LoginState = { s: oc.randomState(), n: oc.randomNonce(), v: oc.randomPKCECodeVerifier(), r: redirectUrlOf(req), e: Date.now() + STATE_TTL_MS };
    const url = oc.buildAuthorizationUrl(config, {
      redirect_uri: state.r,
      scope: 'openid email profile',
      code_challenge: await oc.calculatePKCECodeChallenge(state.v),
      code_challenge_method: 'S256',
      state: state.s,
      nonce: state.n,
    });
    reply.header('set-cookie', stateCookie(req, seal(state), STATE_TTL_MS / 1000));
    reply.header('cache-control', 'no-store');
    return reply.redirect(url.href, 302);
  });

  app.get('/oidc/callback', async (req, reply) => {
    // the login state is used once, whatever happens
    reply.header('set-cookie', stateCookie(req, '', 0));
    reply.header('cache-control', 'no-store');
    try {
      try {
        hooks.throttled(req, null);
      } catch (err) {
        throw new SignInFailed(err instanceof Error ? err.message : 'Too many attempts.', null, false);
      }
      const login = unseal(readCookie(req.headers.cookie, OIDC_COOKIE));
      if (!login) throw new SignInFailed('The sign-in did not complete (it expired or was started elsewhere). Start again.');
      const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
      const providerError = query.get('error');
      if (providerError) {
        throw new SignInFailed(`The sign-in provider did not sign you in (${/^[A-Za-z0-9_.-]{1,64}$/.test(providerError) ? providerError : 'error'}).`);
      }
      if (query.get('state') !== login.s) throw new SignInFailed('The sign-in did not complete (its state does not match). Start again.');
      const config = await configuration().catch(() => {
        throw new SignInFailed(`The sign-in provider (${issuerName(settings.issuer)}) could not be reached. Try again later.`);
      });
      const oc = await client();
      const current = new URL(login.r);
      current.search = query.toString();
      let claims: Record<string, unknown> | undefined;
      try {
        const tokens = await oc.authorizationCodeGrant(config, current, { pkceCodeVerifier: login.v, expectedState: login.s, expectedNonce: login.n, idTokenExpected: true });
        claims = tokens.claims() as Record<string, unknown> | undefined;
      } catch (err) {
        req.log.info({ err: (err as Error).message, code: (err as { code?: string }).code }, 'OpenID Connect code exchange or ID token check failed');
        throw new SignInFailed('The sign-in provider\'s answer could not be verified. Start again, or sign in with your password.');
      }
      const email = typeof claims?.email === 'string' ? claims.email.trim().toLowerCase() : '';
      if (!email) throw new SignInFailed('The sign-in provider did not give keyplane your email address.');
      if (claims?.email_verified !== true) throw new SignInFailed('Your email address is not verified at the sign-in provider.', email);
      hooks.throttled(req, email);
      const found = await ctx.core.consoleSessions.memberByEmail(email);
      if (!found) throw new SignInFailed(`No keyplane account with the email ${email} belongs to an organization. Ask an administrator for an invitation.`, email);
      await hooks.startSession(req, reply, found.userId, found.orgs[0]!.id);
      req.log.info({ userId: found.userId }, 'console sign-in with OpenID Connect');
      return reply.redirect(HOME, 302);
    } catch (err) {
      if (err instanceof SignInFailed) {
        if (err.counts) hooks.failedSignIn(req, err.account);
        return toSignIn(reply, err.plain);
      }
      if (err instanceof DomainError && err.kind === 'rate_limited') return toSignIn(reply, err.message);
      throw err;
    }
  });
}
