// Console invites, password change and permissions (src/faces/console): an owner makes a single-use
// sign-up link for a pending invite (a new link voids the old; the CLI's `keyplane invites link`
// prints one too), the invitee accepts it with a name and a password and is signed in; a used,
// voided or made-up token is 400 invalid_invite; a reader may not make links; a password change
// ends the user's other sessions; /me/permissions follows the org role. Real server over HTTP on
// SQLite and PostgreSQL (the CLI as a real process on the same database).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { runKeyplane, storeArgs } from '../../process/spawn.ts';

const PASSWORD = 'correct horse battery staple';

interface Res {
  status: number;
  json: any;
  headers: Headers;
}

async function call(s: TestServer, method: string, path: string, opts: { body?: unknown; cookie?: string; csrf?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  const res = await fetch(`${s.url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

function assertError(res: Res, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.equal(res.json.error.code, code);
}

const tokenOf = (url: string): string => {
  const m = /^\/console\/#\/accept\?token=([A-Za-z0-9_-]{40,})$/.exec(url);
  assert.ok(m, `a console accept link: ${url}`);
  return m[1]!;
};

for (const dialect of await testDialects()) {
  describe(`console invites, password and permissions (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let n = 0;

    async function member(role: 'owner' | 'reader') {
      const email = `m${++n}-${randomBytes(3).toString('hex')}@example.com`;
      const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email, role });
      await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
      const res = await call(s, 'POST', '/console/api/session', { body: { email, password: PASSWORD } });
      assert.equal(res.status, 200);
      return { id: m.id, email, cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: res.json.csrf_token as string };
    }
    async function invite(email = `inv${++n}-${randomBytes(3).toString('hex')}@example.com`, role: 'owner' | 'reader' = 'reader') {
      return { email, inv: await s.rt.core.invites.create(SYSTEM, orgId, { email, role }) };
    }

    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.store.db.selectFrom('organizations').select('id').where('slug', '=', 'main').executeTakeFirstOrThrow()).id;
    });
    after(async () => s?.close());

    test('invite link → accept → signed in; the link is single-use, a new link voids the old, both audited', async () => {
      const owner = await member('owner');
      const { email, inv } = await invite();
      const first = await call(s, 'POST', `/console/api/invites/${inv.id}/link`, { cookie: owner.cookie, csrf: owner.csrf });
      assert.equal(first.status, 200, JSON.stringify(first.json));
      const old = tokenOf(first.json.url);
      const second = await call(s, 'POST', `/console/api/invites/${inv.id}/link`, { cookie: owner.cookie, csrf: owner.csrf });
      const token = tokenOf(second.json.url);
      assert.notEqual(token, old);
      const row = await s.rt.store.db.selectFrom('invites').selectAll().where('id', '=', inv.id).executeTakeFirstOrThrow();
      assert.ok(row.token_hash && !JSON.stringify(row).includes(token), 'only a hash of the token is stored');
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token: old, name: 'Ada', password: PASSWORD } }), 400, 'invalid_invite');
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token, name: 'Ada', password: 'short' } }), 400, 'invalid_password');
      const ok = await call(s, 'POST', '/console/api/invites/accept', { body: { token, name: 'Ada', password: PASSWORD } });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.user.email, email);
      assert.equal(ok.json.user.name, 'Ada');
      assert.equal(ok.json.org.role, 'reader');
      const cookie = ok.headers.get('set-cookie')!.split(';')[0]!;
      assert.equal((await call(s, 'GET', '/console/api/session', { cookie })).json.user.email, email);
      // single use
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token, name: 'Eve', password: PASSWORD } }), 400, 'invalid_invite');
      // the password works for a later sign-in
      assert.equal((await call(s, 'POST', '/console/api/session', { body: { email, password: PASSWORD } })).status, 200);
      const events = await s.rt.store.db.selectFrom('audit_logs').select(['type', 'actor_type', 'actor_id']).where('target_id', '=', inv.id).orderBy('created_at').execute();
      assert.deepEqual(events.map((e) => e.type), ['invite.sent', 'invite.link_created', 'invite.link_created', 'invite.accepted']);
      assert.deepEqual(events[1], { type: 'invite.link_created', actor_type: 'console_user', actor_id: owner.id });
      // a link for an accepted invite is refused
      assertError(await call(s, 'POST', `/console/api/invites/${inv.id}/link`, { cookie: owner.cookie, csrf: owner.csrf }), 400, 'invite_accepted');
    });

    test('a made-up or expired token is invalid_invite; an existing user keeps their password', async () => {
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token: randomBytes(32).toString('base64url'), password: PASSWORD } }), 400, 'invalid_invite');
      const owner = await member('owner');
      const { inv } = await invite();
      const token = tokenOf((await call(s, 'POST', `/console/api/invites/${inv.id}/link`, { cookie: owner.cookie, csrf: owner.csrf })).json.url);
      await s.rt.store.db.updateTable('invites').set({ expires_at: Date.now() - 1 }).where('id', '=', inv.id).execute();
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token, password: PASSWORD } }), 400, 'invalid_invite');
      // a member of another organization invited here: the link cannot reset their password
      const { org } = await s.rt.core.orgs.create(SYSTEM, { name: `Other ${n}`, slug: `other-${n}` });
      const existing = await member('owner');
      const inv2 = await s.rt.core.invites.create(SYSTEM, org.id, { email: existing.email, role: 'reader' });
      const t2 = await s.rt.core.invites.createLink(SYSTEM, org.id, inv2.id);
      assertError(await call(s, 'POST', '/console/api/invites/accept', { body: { token: t2, password: 'a brand new password' } }), 400, 'password_mismatch');
      const members = await s.rt.store.db.selectFrom('org_memberships').select('user_id').where('org_id', '=', org.id).where('user_id', '=', existing.id).execute();
      assert.deepEqual(members, [], 'nothing accepted');
      assert.equal((await call(s, 'POST', '/console/api/session', { body: { email: existing.email, password: 'a brand new password' } })).status, 401);
      const ok = await call(s, 'POST', '/console/api/invites/accept', { body: { token: t2, password: PASSWORD } });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.org.id, org.id);
      assert.equal(ok.json.orgs.length, 2);
    });

    test('a reader may not make invite links (403), and nothing changes', async () => {
      const reader = await member('reader');
      const { inv } = await invite();
      assertError(await call(s, 'POST', `/console/api/invites/${inv.id}/link`, { cookie: reader.cookie, csrf: reader.csrf }), 403, 'insufficient_permissions');
      const row = await s.rt.store.db.selectFrom('invites').select('token_hash').where('id', '=', inv.id).executeTakeFirstOrThrow();
      assert.equal(row.token_hash, null);
    });

    test('`keyplane invites link <invite>` prints a working single-use link', async () => {
      const { email, inv } = await invite();
      const r = await runKeyplane(['invites', 'link', inv.id, ...storeArgs(s.db)]);
      assert.equal(r.code, 0, r.stderr);
      const token = tokenOf(r.stdout.trim());
      const ok = await call(s, 'POST', '/console/api/invites/accept', { body: { token, password: PASSWORD } });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      assert.equal(ok.json.user.email, email);
      const bad = await runKeyplane(['invites', 'link', 'invite-nope', ...storeArgs(s.db)]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /No such invite/);
    });

    test('a password change (CSRF) needs the current password and ends the other sessions', async () => {
      const u = await member('owner');
      const other = await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: PASSWORD } });
      const otherCookie = other.headers.get('set-cookie')!.split(';')[0]!;
      assertError(await call(s, 'POST', '/console/api/password', { cookie: u.cookie, body: { current_password: PASSWORD, new_password: 'another good password' } }), 403, 'csrf_failed');
      assertError(await call(s, 'POST', '/console/api/password', { cookie: u.cookie, csrf: u.csrf, body: { current_password: 'not my password', new_password: 'another good password' } }), 400, 'invalid_credentials');
      assertError(await call(s, 'POST', '/console/api/password', { cookie: u.cookie, csrf: u.csrf, body: { current_password: PASSWORD, new_password: 'short' } }), 400, 'invalid_password');
      const res = await call(s, 'POST', '/console/api/password', { cookie: u.cookie, csrf: u.csrf, body: { current_password: PASSWORD, new_password: 'another good password' } });
      assert.equal(res.status, 204);
      assertError(await call(s, 'GET', '/console/api/session', { cookie: otherCookie }), 401, 'not_signed_in');
      assert.equal((await call(s, 'GET', '/console/api/session', { cookie: u.cookie })).status, 200, 'this session goes on');
      assert.equal((await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: PASSWORD } })).status, 401);
      assert.equal((await call(s, 'POST', '/console/api/session', { body: { email: u.email, password: 'another good password' } })).status, 200);
    });

    test('/me/permissions follows the org role', async () => {
      const owner = await member('owner');
      const reader = await member('reader');
      const o = await call(s, 'GET', '/console/api/me/permissions', { cookie: owner.cookie });
      assert.equal(o.json.org_role, 'owner');
      assert.equal(o.json.org_write, true);
      assert.equal(o.json.org_read, true);
      const r = await call(s, 'GET', '/console/api/me/permissions', { cookie: reader.cookie });
      assert.equal(r.json.org_role, 'reader');
      assert.equal(r.json.org_write, false);
      assert.equal(r.json.org_read, true);
      assert.deepEqual(r.json.projects, {});
      assertError(await call(s, 'GET', '/console/api/me/permissions'), 401, 'not_signed_in');
    });
  });
}
