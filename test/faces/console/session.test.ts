// Console sign-in (src/faces/console): email + password sessions in an HttpOnly, SameSite=Strict
// cookie, no session fixation, CSRF on every state-changing console route, the sign-in throttles per
// account and per address, sign-out, idle expiry, membership and disabled organizations, the
// operator's root-key session, and no secret in plain text in the logs or the database. Driven over
// HTTP (fetch) against a real server on SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { tmpDir } from '../../helpers/db.ts';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const ROOT_KEY = 'root-' + randomBytes(16).toString('hex');
const PASSWORD = 'correct horse battery staple';

interface Res {
  status: number;
  json: any;
  headers: Headers;
}

async function call(s: TestServer, method: string, path: string, opts: { body?: unknown; cookie?: string; csrf?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  const res = await fetch(`${s.url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** `name=value` of the response's session cookie. */
function sessionCookie(res: Res): string {
  const sc = res.headers.get('set-cookie');
  assert.ok(sc, 'a Set-Cookie header');
  return sc.split(';')[0]!;
}

function assertError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message']);
  assert.equal(res.json.error.code, code);
  assert.ok(!JSON.stringify(res.json).includes('    at '), 'no stack trace');
}

for (const dialect of await testDialects()) {
  describe(`console sign-in (${dialect})`, () => {
    let s: TestServer;
    const logs: string[] = [];
    let mainOrg: { id: string; slug: string; name: string };
    let n = 0;

    /** A new member of `main` (role given) with PASSWORD set; returns email and id. */
    async function member(role: 'owner' | 'reader' = 'owner', orgId = mainOrg.id): Promise<{ email: string; id: string }> {
      const email = `u${++n}-${randomBytes(3).toString('hex')}@example.com`;
      const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email, name: `User ${n}`, role });
      await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
      return { email, id: m.id };
    }

    async function signIn(email: string, password = PASSWORD, extra: Record<string, unknown> = {}, cookie?: string) {
      const res = await call(s, 'POST', '/console/api/session', { body: { email, password, ...extra }, ...(cookie ? { cookie } : {}) });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return { res, cookie: sessionCookie(res), csrf: res.json.csrf_token as string };
    }

    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY, signinFailureBurst: '3', signinAddressBurst: '1000', logLevel: 'info' }, { logStream: { write: (l) => void logs.push(l) } });
      const o = await s.rt.store.db.selectFrom('organizations').select(['id', 'slug', 'name']).where('slug', '=', 'main').executeTakeFirstOrThrow();
      mainOrg = o;
    });
    after(async () => s?.close());

    test('sign-in answers the session and sets an HttpOnly, SameSite=Strict, Path=/ cookie (no Secure over plain HTTP)', async () => {
      const u = await member('owner');
      const { res, cookie, csrf } = await signIn(u.email.toUpperCase());
      assert.equal(res.json.operator, false);
      assert.deepEqual(res.json.user, { id: u.id, email: u.email, name: `User ${n}` });
      assert.deepEqual(res.json.org, { id: mainOrg.id, slug: 'main', name: mainOrg.name, role: 'owner' });
      assert.deepEqual(res.json.orgs, [res.json.org]);
      assert.ok(typeof csrf === 'string' && csrf.length >= 32);
      const sc = res.headers.get('set-cookie')!;
      const attrs = sc.split(';').map((a) => a.trim());
      assert.match(attrs[0]!, /^kp_session=[A-Za-z0-9_-]{40,}$/);
      assert.ok(attrs.includes('HttpOnly'));
      assert.ok(attrs.includes('SameSite=Strict'));
      assert.ok(attrs.includes('Path=/'));
      assert.ok(!attrs.some((a) => a.toLowerCase() === 'secure'), 'no Secure over plain HTTP');
      assert.ok(!sc.includes('__Host-'));
      const me = await call(s, 'GET', '/console/api/session', { cookie });
      assert.equal(me.status, 200);
      assert.deepEqual(me.json, res.json);
    });

    test('a user of several organizations picks one with `org` (default: the first by name)', async () => {
      const u = await member('reader');
      const { org } = await s.rt.core.orgs.create(SYSTEM, { name: 'Aardvark Co', slug: `aard-${n}` });
      await s.rt.core.users.addMember(SYSTEM, org.id, { email: u.email, role: 'owner' });
      const first = await signIn(u.email);
      assert.equal(first.res.json.org.slug, `aard-${n}`);
      assert.equal(first.res.json.orgs.length, 2);
      const picked = await signIn(u.email, PASSWORD, { org: 'main' });
      assert.deepEqual(picked.res.json.org, { id: mainOrg.id, slug: 'main', name: mainOrg.name, role: 'reader' });
      assertError(await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: PASSWORD, org: 'nope' } }), 403, 'not_a_member');
    });

    test('wrong password and unknown email get the same 401', async () => {
      const u = await member();
      const wrong = await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: 'not the password at all' } });
      const unknown = await call(s, 'POST', '/console/api/session', { body: { email: `nobody-${n}@example.com`, password: 'not the password at all' } });
      assertError(wrong, 401, 'invalid_credentials');
      assertError(unknown, 401, 'invalid_credentials');
      assert.deepEqual(wrong.json, unknown.json);
      assert.equal(wrong.headers.get('set-cookie'), null);
      // a user without a password cannot sign in
      const nopw = await s.rt.core.users.addMember(SYSTEM, mainOrg.id, { email: `nopw-${n}@example.com`, role: 'owner' });
      assertError(await call(s, 'POST', '/console/api/session', { body: { email: `nopw-${n}@example.com`, password: 'x'.repeat(12) } }), 401, 'invalid_credentials');
      assert.ok(nopw.id);
      // malformed bodies: 400 in the console envelope
      assertError(await call(s, 'POST', '/console/api/session', { body: { email: 5 } }), 400, 'invalid_value');
      assertError(await call(s, 'POST', '/console/api/session', { body: {} }), 400, 'invalid_value');
    });

    test('no session fixation: a cookie sent with the sign-in is not reused and stops working', async () => {
      const u = await member();
      const a = await signIn(u.email);
      const b = await signIn(u.email, PASSWORD, {}, a.cookie);
      assert.notEqual(b.cookie, a.cookie);
      assert.notEqual(b.csrf, a.csrf);
      assertError(await call(s, 'GET', '/console/api/session', { cookie: a.cookie }), 401, 'not_signed_in');
      assert.equal((await call(s, 'GET', '/console/api/session', { cookie: b.cookie })).status, 200);
      // a made-up cookie value is never adopted either
      const made = `kp_session=${randomBytes(32).toString('base64url')}`;
      const c = await signIn(u.email, PASSWORD, {}, made);
      assert.notEqual(c.cookie, made);
      assertError(await call(s, 'GET', '/console/api/session', { cookie: made }), 401, 'not_signed_in');
    });

    test('CSRF: every state-changing console route refuses a missing or wrong token and a foreign Origin, changing nothing', async () => {
      const writes = s.app.routeList.filter((r) => r.face === 'console' && !['GET', 'HEAD', 'OPTIONS'].includes(r.method));
      assert.ok(writes.length > 0);
      const PUBLIC = new Set(['POST /console/api/session', 'POST /console/api/invites/accept']);
      for (const r of writes) {
        const name = `${r.method} ${r.url}`;
        const path = r.url.replace(/:[a-z_]+/g, 'x');
        const u = await member();
        const { cookie, csrf } = await signIn(u.email);
        const sessionsBefore = await s.rt.store.db.selectFrom('console_sessions').select('id').execute();
        const body = r.method === 'DELETE' ? undefined : {};
        if (!PUBLIC.has(name)) {
          assertError(await call(s, r.method, path, { cookie, body }), 403, 'csrf_failed');
          assertError(await call(s, r.method, path, { cookie, body, csrf: csrf.slice(0, -2) + 'xx' }), 403, 'csrf_failed');
          assertError(await call(s, r.method, path, { cookie, body, csrf: 'a' }), 403, 'csrf_failed');
          // no session at all: 401
          assertError(await call(s, r.method, path, { body, csrf }), 401, 'not_signed_in');
        }
        assertError(await call(s, r.method, path, { cookie, body, csrf, headers: { origin: 'https://evil.example' } }), 403, 'csrf_failed');
        assertError(await call(s, r.method, path, { cookie, body, csrf, headers: { referer: 'https://evil.example/page' } }), 403, 'csrf_failed');
        const sessionsAfter = await s.rt.store.db.selectFrom('console_sessions').select('id').execute();
        assert.deepEqual(sessionsAfter.map((x) => x.id).sort(), sessionsBefore.map((x) => x.id).sort(), `${name}: nothing changed`);
        assert.equal((await call(s, 'GET', '/console/api/session', { cookie })).status, 200, `${name}: the session still works`);
      }
      // the right token from the server's own origin passes (sign-out)
      const u = await member();
      const { cookie, csrf } = await signIn(u.email);
      const out = await call(s, 'DELETE', '/console/api/session', { cookie, csrf, headers: { origin: s.url } });
      assert.equal(out.status, 204);
    });

    test('sign-out ends the session and clears the cookie', async () => {
      const u = await member();
      const { cookie, csrf } = await signIn(u.email);
      const out = await call(s, 'DELETE', '/console/api/session', { cookie, csrf });
      assert.equal(out.status, 204);
      const sc = out.headers.get('set-cookie')!;
      assert.match(sc, /^kp_session=;/);
      assert.match(sc, /Max-Age=0/);
      assertError(await call(s, 'GET', '/console/api/session', { cookie }), 401, 'not_signed_in');
      assertError(await call(s, 'GET', '/console/api/session'), 401, 'not_signed_in');
    });

    test('a session idle past KEYPLANE_SESSION_IDLE_MINUTES or past its lifetime ends', async () => {
      const u = await member();
      const a = await signIn(u.email);
      const b = await signIn(u.email);
      const db = s.rt.store.db;
      const now = Date.now();
      // age the sessions as time would: one unused for 61 minutes, one signed in 13 hours ago
      const [ra, rb] = await Promise.all([a, b].map(async (x) => (await db.selectFrom('console_sessions').select('id').where('user_id', '=', u.id).orderBy('created_at').execute())));
      assert.equal(ra!.length, 2);
      await db.updateTable('console_sessions').set({ last_seen_at: now - 61 * 60_000 }).where('id', '=', ra![0]!.id).execute();
      await db.updateTable('console_sessions').set({ expires_at: now - 1 }).where('id', '=', rb![1]!.id).execute();
      const ids = [ra![0]!.id, rb![1]!.id];
      const results = [await call(s, 'GET', '/console/api/session', { cookie: a.cookie }), await call(s, 'GET', '/console/api/session', { cookie: b.cookie })];
      for (const r of results) assertError(r, 401, 'not_signed_in');
      const left = await db.selectFrom('console_sessions').select('id').where('id', 'in', ids).execute();
      assert.deepEqual(left, [], 'expired sessions are deleted');
    });

    test('sign-ins, wrong passwords and password changes are audited in the organization (keyplane-own types)', async () => {
      const u = await member();
      const events = async () =>
        (await s.rt.store.db.selectFrom('audit_logs').select(['type', 'actor_type', 'actor_id', 'target_id', 'client_ip', 'payload']).where('org_id', '=', mainOrg.id).where('target_id', '=', u.id).where('type', 'like', 'console.%').orderBy('id').execute()).map((e) => ({ ...e, payload: JSON.parse(String(e.payload)) }));
      const bad = await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: 'not the password at all' } });
      assert.equal(bad.status, 401);
      await call(s, 'POST', '/console/api/session', { body: { email: `nobody-${u.id}@example.com`, password: 'not the password at all' } });
      const ok = await signIn(u.email);
      const res = await call(s, 'POST', '/console/api/password', { cookie: ok.cookie, csrf: ok.csrf, body: { current_password: PASSWORD, new_password: PASSWORD } });
      assert.equal(res.status, 204);
      const got = await events();
      assert.deepEqual(got.map((e) => [e.type, e.actor_type]), [
        ['console.sign_in_failed', 'console_anonymous'],
        ['console.signed_in', 'console_user'],
        ['console.password_changed', 'console_user'],
      ]);
      assert.deepEqual(got[0]!.payload, { email: u.email, reason: 'wrong_password' });
      assert.equal(got[1]!.actor_id, u.id);
      assert.deepEqual(got[1]!.payload, { method: 'password' });
      assert.ok(got.every((e) => e.client_ip), 'with the client address');
      assert.ok(!JSON.stringify(got).includes('not the password'), 'no password in the audit log');
      // OpenAI's audit log has no such types: its face does not show them
      const openai = await fetch(`${s.url}/v1/organization/audit_logs?limit=100`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.ok(!(await openai.text()).includes('console.'), 'hidden from /v1/organization/audit_logs');
    });

    test('a request keeps an active session alive (last seen written at most every 30 s)', async () => {
      const u = await member();
      const a = await signIn(u.email);
      const db = s.rt.store.db;
      const row = await db.selectFrom('console_sessions').select(['id', 'last_seen_at']).where('user_id', '=', u.id).executeTakeFirstOrThrow();
      // used again at once: no write (the stored time stays)
      assert.equal((await call(s, 'GET', '/console/api/session', { cookie: a.cookie })).status, 200);
      assert.equal((await db.selectFrom('console_sessions').select('last_seen_at').where('id', '=', row.id).executeTakeFirstOrThrow()).last_seen_at, row.last_seen_at);
      // last seen 59 minutes ago (idle limit 60): the request is let in and moves the idle clock to now
      const old = Date.now() - 59 * 60_000;
      await db.updateTable('console_sessions').set({ last_seen_at: old }).where('id', '=', row.id).execute();
      assert.equal((await call(s, 'GET', '/console/api/session', { cookie: a.cookie })).status, 200);
      const seen = Number((await db.selectFrom('console_sessions').select('last_seen_at').where('id', '=', row.id).executeTakeFirstOrThrow()).last_seen_at);
      assert.ok(seen > Date.now() - 60_000, `last seen moved to now (${new Date(seen).toISOString()})`);
    });

    test('sessions of a user removed from the organization, or of a disabled organization, stop working', async () => {
      const u = await member();
      const { cookie } = await signIn(u.email);
      await s.rt.core.users.removeMember(SYSTEM, mainOrg.id, u.id);
      assertError(await call(s, 'GET', '/console/api/session', { cookie }), 401, 'not_signed_in');
      const { org } = await s.rt.core.orgs.create(SYSTEM, { name: `Dis ${n}`, slug: `dis-${n}` });
      const v = await member('owner', org.id);
      const sv = await signIn(v.email);
      await s.rt.store.db.updateTable('organizations').set({ disabled_at: Date.now() }).where('id', '=', org.id).execute();
      assertError(await call(s, 'GET', '/console/api/session', { cookie: sv.cookie }), 401, 'not_signed_in');
      assertError(await call(s, 'POST', '/console/api/session', { body: { email: v.email, password: PASSWORD } }), 401, 'invalid_credentials');
    });

    test('the operator signs in with the root key; a wrong root key gets 401', async () => {
      const res = await call(s, 'POST', '/console/api/session', { body: { root_key: ROOT_KEY } });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.operator, true);
      assert.equal(res.json.user, null);
      assert.equal(res.json.org, null);
      assert.deepEqual(res.json.orgs, []);
      const cookie = sessionCookie(res);
      const me = await call(s, 'GET', '/console/api/session', { cookie });
      assert.equal(me.json.operator, true);
      const row = await s.rt.store.db.selectFrom('console_sessions').selectAll().where('user_id', 'is', null).executeTakeFirstOrThrow();
      assert.equal(row.org_id, null);
      assertError(await call(s, 'POST', '/console/api/session', { body: { root_key: ROOT_KEY + 'x' } }), 401, 'invalid_credentials');
    });

    test('password guessing: past the per-account burst even the right password is refused 429 with Retry-After', async () => {
      const u = await member();
      for (let i = 0; i < 3; i++) assertError(await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: `wrong password ${i}` } }), 401, 'invalid_credentials');
      const locked = await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: PASSWORD } });
      assertError(locked, 429, 'too_many_attempts');
      assert.ok(Number(locked.headers.get('retry-after')) >= 1);
      // another account from the same address is not locked by it
      const v = await member();
      await signIn(v.email);
    });

    test('secrets never appear in plain text in the database or the logs', async () => {
      const u = await member();
      const { cookie, csrf } = await signIn(u.email, PASSWORD, {}, 'kp_session=whatever');
      const secret = cookie.split('=')[1]!;
      await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: 'a wrong guess 12' } });
      const dump = JSON.stringify(await Promise.all(['console_sessions', 'user_passwords', 'users', 'audit_logs', 'invites'].map((t) => s.rt.store.db.selectFrom(t as 'users').selectAll().execute())));
      for (const x of [PASSWORD, 'a wrong guess 12', secret, csrf, ROOT_KEY]) {
        assert.ok(!dump.includes(x), 'not in the tables');
        assert.ok(!logs.join('\n').includes(x), 'not in the logs');
      }
      assert.ok(logs.some((l) => l.includes('console sign-in failed')), 'the logs were read (the failed sign-in is logged, without its password)');
      const hash = (await s.rt.store.db.selectFrom('user_passwords').select('hash').where('user_id', '=', u.id).executeTakeFirstOrThrow()).hash;
      assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      if (dialect === 'sqlite') {
        const dir = s.db.dataDir;
        const files = fs.readdirSync(dir).filter((x) => x.includes('.db') || x.includes('sqlite'));
        assert.ok(files.length > 0, `database files in ${dir}: ${fs.readdirSync(dir).join(', ')}`);
        for (const f of files) {
          const bytes = fs.readFileSync(`${dir}/${f}`);
          for (const x of [PASSWORD, secret, csrf]) assert.ok(!bytes.includes(Buffer.from(x)), `${x.slice(0, 4)}… not in ${f}`);
        }
      }
    });
  });

  describe(`console cookie over TLS (${dialect})`, () => {
    let s: TestServer;
    let tls: https.Server;
    let port = 0;
    before(async () => {
      s = await startServer(dialect);
      // the same app behind a TLS listener of its own (a self-signed certificate made by openssl):
      // Fastify routes the decrypted requests, so the requests really come over TLS
      const dir = tmpDir('kp-tls');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
      tls = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (req, res) => s.app.routing(req, res));
      await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
      port = (tls.address() as { port: number }).port;
    });
    after(async () => {
      tls?.closeAllConnections();
      await new Promise((r) => tls?.close(r));
      await s?.close();
    });

    function post(body: unknown, cookie?: string): Promise<{ status: number; setCookie: string[]; json: any }> {
      return new Promise((resolve, reject) => {
        const data = JSON.stringify(body);
        const req = https.request({ host: '127.0.0.1', port, method: 'POST', path: '/console/api/session', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...(cookie ? { cookie } : {}) } }, (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: res.headers['set-cookie'] ?? [], json: text ? JSON.parse(text) : undefined }));
        });
        req.on('error', reject);
        req.end(data);
      });
    }

    test('over TLS the cookie is __Host-kp_session with Secure, HttpOnly, SameSite=Strict, Path=/', async () => {
      const email = `tls-${randomBytes(3).toString('hex')}@example.com`;
      const m = await s.rt.core.users.addMember(SYSTEM, (await s.rt.store.db.selectFrom('organizations').select('id').where('slug', '=', 'main').executeTakeFirstOrThrow()).id, { email, role: 'owner' });
      await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
      const res = await post({ email, password: PASSWORD });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.setCookie.length, 1);
      const attrs = res.setCookie[0]!.split(';').map((a) => a.trim());
      assert.match(attrs[0]!, /^__Host-kp_session=[A-Za-z0-9_-]{40,}$/);
      for (const a of ['Secure', 'HttpOnly', 'SameSite=Strict', 'Path=/']) assert.ok(attrs.includes(a), `${a} in ${res.setCookie[0]}`);
      assert.ok(!attrs.some((a) => a.toLowerCase().startsWith('domain=')), '__Host- cookies name no Domain');
    });
  });

  describe(`console sign-in throttle per address (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect, { signinFailureBurst: '100', signinAddressBurst: '4' });
    });
    after(async () => s?.close());

    test('failures from one address across accounts are refused 429 past the address burst', async () => {
      for (let i = 0; i < 4; i++) assertError(await call(s, 'POST', '/console/api/session', { body: { email: `x${i}@example.com`, password: 'wrong password!' } }), 401, 'invalid_credentials');
      const r = await call(s, 'POST', '/console/api/session', { body: { email: 'y@example.com', password: 'wrong password!' } });
      assertError(r, 429, 'too_many_attempts');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    });

    test('without a root key, operator sign-in is disabled (404)', async () => {
      assertError(await call(s, 'POST', '/console/api/session', { body: { root_key: 'anything' } }), 404, 'not_found');
    });
  });
}
