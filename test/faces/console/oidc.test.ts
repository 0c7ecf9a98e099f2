// OpenID Connect sign-in for the console (src/faces/console/oidc.ts) against a real mock OpenID
// provider run here as an HTTP server: discovery document, JWKS with a generated RSA key, an
// authorize endpoint that sends the browser back with a code, a token endpoint issuing an RS256 ID
// token (signed with node:crypto) whose claims each test chooses. The flow is driven over HTTP the
// way a browser would (redirects followed by hand, cookies kept): a verified email of an existing
// member signs in (the session works on GET /console/api/session); a wrong state, nonce, audience,
// issuer or signature, an unverified email and an unknown email are refused with no session and a
// plain message on the sign-in page; failures count against the sign-in throttle; without the
// settings the routes are 404 in the console envelope. Never a 5xx, never a stack trace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import { chromiumPresent, collectProblems, launchBrowser, screenshot } from '../../helpers/browser.ts';

const CLIENT_ID = 'keyplane-console';
const CLIENT_SECRET = 'client-secret-' + randomBytes(8).toString('hex');

/** What the mock provider puts in (or does with) the next ID token. */
interface Behaviour {
  email?: string;
  email_verified?: unknown;
  nonce?: string;
  aud?: string;
  iss?: string;
  /** Sign with a key that is not in the JWKS. */
  foreignKey?: boolean;
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jwt(claims: Record<string, unknown>, key: KeyObject, kid: string): string {
  const head = b64({ alg: 'RS256', typ: 'JWT', kid });
  const body = b64(claims);
  return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
}

class MockProvider {
  private server!: http.Server;
  issuer = '';
  private readonly key = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly foreign = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly codes = new Map<string, { nonce: string; challenge: string; redirect: string }>();
  next: Behaviour = {};
  tokenRequests = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.issuer = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url!, this.issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return this.send(res, 200, {
        issuer: this.issuer,
        authorization_endpoint: `${this.issuer}/authorize`,
        token_endpoint: `${this.issuer}/token`,
        jwks_uri: `${this.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      });
    }
    if (url.pathname === '/jwks') {
      return this.send(res, 200, { keys: [{ ...this.key.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
    }
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      // what a provider checks: its client, the code flow, PKCE S256, a state and a nonce
      if (p.get('client_id') !== CLIENT_ID || p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256' || !p.get('state') || !p.get('nonce') || !p.get('code_challenge')) {
        return this.send(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('hex');
      this.codes.set(code, { nonce: p.get('nonce')!, challenge: p.get('code_challenge')!, redirect: p.get('redirect_uri')! });
      const back = new URL(p.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state')!);
      res.writeHead(302, { location: back.href });
      return void res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      this.tokenRequests++;
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const form = new URLSearchParams(raw);
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString() : null;
      const [id, secret] = basic ? basic.split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
      if (id !== CLIENT_ID || secret !== CLIENT_SECRET) return this.send(res, 401, { error: 'invalid_client' });
      const grant = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!grant || form.get('grant_type') !== 'authorization_code' || form.get('redirect_uri') !== grant.redirect) return this.send(res, 400, { error: 'invalid_grant' });
      const challenge = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (challenge !== grant.challenge) return this.send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
      const b = this.next;
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: b.iss ?? this.issuer,
        sub: 'user-' + randomBytes(4).toString('hex'),
        aud: b.aud ?? CLIENT_ID,
        iat: now,
        exp: now + 300,
        nonce: b.nonce ?? grant.nonce,
        email: b.email,
        email_verified: 'email_verified' in b ? b.email_verified : true,
      };
      const idToken = jwt(claims, b.foreignKey ? this.foreign.privateKey : this.key.privateKey, 'k1');
      return this.send(res, 200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken });
    }
    this.send(res, 404, { error: 'not_found' });
  }
}

interface Hop {
  status: number;
  location: string | null;
  cookies: string[];
  body: string;
}

async function get(url: string, cookie?: string): Promise<Hop> {
  const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  const body = await res.text();
  assert.ok(res.status < 500, `${url}: HTTP ${res.status} ${body}`);
  assert.ok(!body.includes('    at '), 'no stack trace');
  return { status: res.status, location: res.headers.get('location'), cookies: res.headers.getSetCookie(), body };
}

const cookieNamed = (cookies: string[], name: string): string | undefined => cookies.map((c) => c.split(';')[0]!).find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1);

/** The sign-in page's error message of a redirect to it, or null when the redirect goes elsewhere. */
function signInError(location: string | null): string | null {
  const m = location?.match(/^\/console\/#\/signin\?error=(.*)$/);
  return m ? decodeURIComponent(m[1]!) : null;
}

test('the OpenID Connect settings go together and the issuer is https (http only on loopback)', () => {
  const env = { KEYPLANE_OIDC_ISSUER: 'https://accounts.example.com', KEYPLANE_OIDC_CLIENT_ID: 'kp', KEYPLANE_OIDC_CLIENT_SECRET: 's3cret-value' };
  const ok = loadConfig({}, env);
  assert.equal(ok.oidcIssuer, 'https://accounts.example.com');
  assert.equal(ok.oidcRedirectUrl, undefined);
  assert.equal(loadConfig({}, {}).oidcIssuer, undefined);
  assert.equal(loadConfig({}, { ...env, KEYPLANE_OIDC_ISSUER: 'http://127.0.0.1:8000' }).oidcIssuer, 'http://127.0.0.1:8000');
  const refused = (e: Record<string, string>, setting: string) =>
    assert.throws(() => loadConfig({}, e), (err: unknown) => err instanceof ConfigError && err.message.includes(setting) && !err.message.includes('s3cret-value'));
  refused({ ...env, KEYPLANE_OIDC_ISSUER: 'http://accounts.example.com' }, 'KEYPLANE_OIDC_ISSUER');
  refused({ KEYPLANE_OIDC_ISSUER: env.KEYPLANE_OIDC_ISSUER, KEYPLANE_OIDC_CLIENT_ID: 'kp' }, 'KEYPLANE_OIDC_CLIENT_SECRET');
  refused({ KEYPLANE_OIDC_CLIENT_ID: 'kp', KEYPLANE_OIDC_CLIENT_SECRET: 's3cret-value' }, 'KEYPLANE_OIDC_ISSUER');
  refused({ ...env, KEYPLANE_OIDC_REDIRECT_URL: 'not a url' }, 'KEYPLANE_OIDC_REDIRECT_URL');
});

for (const dialect of await testDialects()) {
  describe(`console OpenID Connect sign-in (${dialect})`, () => {
    const idp = new MockProvider();
    let s: TestServer;
    let member: string;

    before(async () => {
      await idp.start();
      s = await startServer(dialect, { oidcIssuer: idp.issuer, oidcClientId: CLIENT_ID, oidcClientSecret: CLIENT_SECRET });
      member = `ada-${randomBytes(3).toString('hex')}@example.com`;
      await s.rt.core.orgs.create(SYSTEM, { name: 'OIDC Org', slug: `oidc-${randomBytes(3).toString('hex')}`, ownerEmail: member, ownerName: 'Ada' });
    });
    after(async () => {
      await s?.close();
      await idp.close();
    });

    /** login → provider → callback; `tamper` may change the callback URL. Returns the callback's answer. */
    async function flow(behaviour: Behaviour, tamper?: (callback: URL) => void): Promise<Hop> {
      idp.next = behaviour;
      const login = await get(`${s.url}/console/api/oidc/login`);
      assert.equal(login.status, 302);
      const authorize = new URL(login.location!);
      assert.equal(authorize.origin, idp.issuer);
      assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
      const state = cookieNamed(login.cookies, 'kp_oidc');
      assert.ok(state, 'the login state cookie');
      const sc = login.cookies.find((c) => c.startsWith('kp_oidc='))!;
      assert.match(sc, /HttpOnly/);
      assert.match(sc, /SameSite=Lax/);
      const back = await get(authorize.href);
      assert.equal(back.status, 302);
      const callback = new URL(back.location!);
      assert.equal(callback.href.split('?')[0], `${s.url}/console/api/oidc/callback`);
      tamper?.(callback);
      return get(callback.href, state);
    }

    test('GET /console/api/oidc names the provider for the sign-in button', async () => {
      const res = await get(`${s.url}/console/api/oidc`);
      assert.equal(res.status, 200);
      const body = JSON.parse(res.body);
      assert.equal(body.enabled, true);
      assert.equal(body.issuer, idp.issuer);
      assert.equal(body.name, new URL(idp.issuer).host);
    });

    test('a verified email of an existing member signs in: the session works like a password sign-in', async () => {
      const res = await flow({ email: member.toUpperCase() });
      assert.equal(res.status, 302);
      assert.equal(res.location, '/console/#/');
      const session = cookieNamed(res.cookies, 'kp_session');
      assert.ok(session, 'a session cookie');
      assert.match(res.cookies.find((c) => c.startsWith('kp_session='))!, /HttpOnly; SameSite=Strict/);
      // the login state is used up
      assert.ok(res.cookies.some((c) => /^kp_oidc=;.*Max-Age=0/.test(c)));
      const me = await get(`${s.url}/console/api/session`, session);
      assert.equal(me.status, 200);
      const body = JSON.parse(me.body);
      assert.equal(body.user.email, member);
      assert.equal(body.org.name, 'OIDC Org');
      assert.equal(body.operator, false);
    });

    const refused: Array<[string, Behaviour, ((u: URL) => void)?]> = [
      ['a wrong state', {}, (u) => u.searchParams.set('state', 'forged-state')],
      ['a wrong nonce', { nonce: 'another-nonce' }],
      ['a wrong audience', { aud: 'some-other-client' }],
      ['a wrong issuer', { iss: 'https://evil.example' }],
      ['a signature by a key not in the JWKS', { foreignKey: true }],
      ['email_verified false', { email_verified: false }],
      ['email_verified missing', { email_verified: undefined }],
      ['an unknown email', { email: 'nobody-here@example.com' }],
      ['the provider\'s error', {}, (u) => (u.searchParams.delete('code'), u.searchParams.set('error', 'access_denied'))],
    ];
    for (const [what, behaviour, tamper] of refused) {
      test(`${what} is refused: no session, a plain message on the sign-in page`, async () => {
        const res = await flow({ email: member, ...behaviour }, tamper);
        assert.equal(res.status, 302);
        const message = signInError(res.location);
        assert.ok(message, `redirected to the sign-in page with an error, got ${res.location}`);
        assert.ok(message.length < 200 && !/Error:|\bat \S+\.(ts|js)/.test(message), message);
        assert.equal(cookieNamed(res.cookies, 'kp_session'), undefined, 'no session cookie');
        if (what === 'an unknown email') assert.match(message, /No keyplane account/);
        if (what.startsWith('email_verified')) assert.match(message, /not verified/);
      });
    }

    test('in the browser: the sign-in page offers the provider, signs a member in, and says why an unknown email is refused', { skip: !chromiumPresent() && 'no chromium' }, async () => {
      const b = await launchBrowser();
      try {
        const page = await b.newPage(1280, 800);
        const problems = collectProblems(page);
        idp.next = { email: member };
        await page.goto(`${s.url}/console/#/signin`);
        const button = page.locator('#signin-oidc');
        await button.waitFor();
        assert.equal(await button.textContent(), `Sign in with ${new URL(idp.issuer).host}`);
        await screenshot(page, `signin-oidc-${dialect}`);
        await button.click();
        await page.locator('#whoami').waitFor();
        assert.match((await page.locator('#whoami').textContent()) ?? '', new RegExp(member.replace('.', '\\.')));
        const other = await b.newPage(375, 740);
        idp.next = { email: 'stranger@example.com' };
        await other.goto(`${s.url}/console/#/signin`);
        await other.locator('#signin-oidc').click();
        await other.locator('#signin-oidc-error').waitFor();
        assert.match((await other.locator('#signin-oidc-error').textContent()) ?? '', /No keyplane account with the email stranger@example\.com/);
        await screenshot(other, `signin-oidc-refused-375-${dialect}`);
        // 401: the session probe before sign-in; 404: the browser's /favicon.ico
        assert.deepEqual(problems.filter((p) => !/status of (401|404)/.test(p)), []);
      } finally {
        await b.close();
      }
    });

    test('a callback without the login cookie (or with a forged one) is refused', async () => {
      idp.next = { email: member };
      const login = await get(`${s.url}/console/api/oidc/login`);
      const back = await get(login.location!);
      for (const cookie of [undefined, 'kp_oidc=forged.value', cookieNamed(login.cookies, 'kp_oidc')!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))]) {
        const res = await get(back.location!, cookie);
        assert.ok(signInError(res.location), `refused with ${cookie}`);
        assert.equal(cookieNamed(res.cookies, 'kp_session'), undefined);
      }
    });
  });

  describe(`console OpenID Connect: throttle and not configured (${dialect})`, () => {
    const idp = new MockProvider();
    let s: TestServer;
    let plain: TestServer;

    before(async () => {
      await idp.start();
      s = await startServer(dialect, { oidcIssuer: idp.issuer, oidcClientId: CLIENT_ID, oidcClientSecret: CLIENT_SECRET, signinAddressBurst: '2' });
      plain = await startServer(dialect);
    });
    after(async () => {
      await s?.close();
      await plain?.close();
      await idp.close();
    });

    test('failed OpenID Connect sign-ins count against the sign-in throttle', async () => {
      for (let i = 0; i < 2; i++) {
        const res = await get(`${s.url}/console/api/oidc/callback?code=x&state=y`);
        assert.ok(signInError(res.location));
      }
      const login = await get(`${s.url}/console/api/oidc/login`);
      assert.equal(login.status, 302);
      assert.match(signInError(login.location) ?? '', /Too many/);
      // a password sign-in from the same address is throttled too
      const pw = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'a@example.com', password: 'whatever' }) });
      assert.equal(pw.status, 429);
      await pw.arrayBuffer();
    });

    test('without the settings: GET /console/api/oidc says so, login and callback are 404 in the console envelope', async () => {
      const info = await get(`${plain.url}/console/api/oidc`);
      assert.equal(info.status, 200);
      assert.deepEqual(JSON.parse(info.body), { enabled: false });
      for (const path of ['/console/api/oidc/login', '/console/api/oidc/callback?code=a&state=b']) {
        const res = await get(`${plain.url}${path}`);
        assert.equal(res.status, 404);
        const body = JSON.parse(res.body);
        assert.deepEqual(Object.keys(body), ['error']);
        assert.equal(body.error.code, 'not_found');
        assert.match(body.error.message, /not configured/);
      }
    });
  });
}
