// Console audit log (GET /console/api/audit_logs, src/faces/console/audit.ts): every event type of
// the organization — keyplane's own too (`invite.link_created`, which the OpenAI face hides) — newest
// first, keyset-paged, filtered by type (with `prefix.*`), actor (id or email), target and time; a
// reader may read it; another organization's events never appear; not signed in is 401; a bad query
// is 400 in the console's envelope. Real server over HTTP on SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple';
const UA = 'keyplane-audit-test/1.0';
const ROOT_KEY = randomBytes(32).toString('hex');

interface Res {
  status: number;
  json: any;
}

async function call(s: TestServer, method: string, path: string, opts: { body?: unknown; cookie?: string; csrf?: string } = {}): Promise<Res> {
  const headers: Record<string, string> = { 'user-agent': UA };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  const res = await fetch(`${s.url}${path}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

function assertError(res: Res, status: number, code?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.deepEqual(Object.keys(res.json), ['error']);
  assert.deepEqual(Object.keys(res.json.error).sort(), ['code', 'message']);
  assert.ok(res.json.error.message.length > 5);
  if (code) assert.equal(res.json.error.code, code);
}

for (const dialect of await testDialects()) {
  describe(`console audit log (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let otherOrgId: string;
    let owner: { id: string; email: string; cookie: string; csrf: string };
    let reader: { id: string; email: string; cookie: string; csrf: string };
    let inviteId: string;
    let groupId: string;
    let t0: number;
    let n = 0;

    async function member(role: 'owner' | 'reader') {
      const email = `m${++n}-${randomBytes(3).toString('hex')}@example.com`;
      const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email, role });
      await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
      return { id: m.id, email, ...(await signIn(email)) };
    }

    async function signIn(email: string) {
      const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
      assert.equal(res.status, 200);
      const json = (await res.json()) as { csrf_token: string };
      return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: json.csrf_token };
    }

    const list = (query: string, who = owner) => call(s, 'GET', `/console/api/audit_logs${query ? `?${query}` : ''}`, { cookie: who.cookie });

    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY });
      orgId = (await s.rt.store.db.selectFrom('organizations').select('id').where('slug', '=', 'main').executeTakeFirstOrThrow()).id;
      owner = await member('owner');
      reader = await member('reader');
      t0 = Math.floor(Date.now() / 1000);
      // the owner works through the console session: OpenAI face for the invite and group, console API for the link
      const inv = await call(s, 'POST', '/v1/organization/invites', { cookie: owner.cookie, csrf: owner.csrf, body: { email: `new-${randomBytes(3).toString('hex')}@example.com`, role: 'reader' } });
      assert.equal(inv.status, 200, JSON.stringify(inv.json));
      inviteId = inv.json.id;
      const link = await call(s, 'POST', `/console/api/invites/${inviteId}/link`, { cookie: owner.cookie, csrf: owner.csrf });
      assert.equal(link.status, 200, JSON.stringify(link.json));
      const g = await call(s, 'POST', '/v1/organization/groups', { cookie: owner.cookie, csrf: owner.csrf, body: { name: 'Auditors' } });
      assert.equal(g.status, 200, JSON.stringify(g.json));
      groupId = g.json.id;
      // another organization, with events of its own (some of the same types)
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Elsewhere', slug: `else-${randomBytes(3).toString('hex')}`, ownerEmail: `else-${randomBytes(3).toString('hex')}@example.com` });
      otherOrgId = other.org.id;
      const oi = await s.rt.core.invites.create(SYSTEM, otherOrgId, { email: 'x@elsewhere.example', role: 'reader' });
      await s.rt.core.invites.createLink(SYSTEM, otherOrgId, oi.id);
      await s.rt.core.groups.create(SYSTEM, otherOrgId, { name: 'Other group' });
    });
    after(async () => s?.close());

    test('not signed in: 401 not_signed_in, for the list and the type catalog', async () => {
      assertError(await call(s, 'GET', '/console/api/audit_logs'), 401, 'not_signed_in');
      assertError(await call(s, 'GET', '/console/api/audit_logs/event_types'), 401, 'not_signed_in');
      assertError(await call(s, 'GET', '/console/api/audit_logs', { cookie: 'kp_session=made-up' }), 401, 'not_signed_in');
    });

    test('the operator (root key session) has no organization here: 403, not a 5xx', async () => {
      const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ root_key: ROOT_KEY }) });
      assert.equal(res.status, 200);
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      assertError(await call(s, 'GET', '/console/api/audit_logs', { cookie }), 403, 'insufficient_permissions');
    });

    test('the owner sees every event type, newest first, with actor, target, payload and request', async () => {
      const res = await list('limit=100');
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const types: string[] = res.json.data.map((e: any) => e.type);
      for (const t of ['invite.sent', 'invite.link_created', 'group.created', 'user.added']) assert.ok(types.includes(t), `${t} in ${types}`);
      const at: number[] = res.json.data.map((e: any) => e.effective_at);
      assert.deepEqual(at, [...at].sort((a, b) => b - a), 'newest first');
      assert.equal(types[0], 'group.created', 'the last change comes first');
      const link = res.json.data.find((e: any) => e.type === 'invite.link_created');
      assert.deepEqual(link.actor, { type: 'console_user', id: owner.id, key_id: null, email: owner.email });
      assert.deepEqual(link.target, { type: 'invite', id: inviteId });
      assert.equal(typeof link.payload.email, 'string');
      assert.ok(link.request.id && link.request.ip, JSON.stringify(link.request));
      assert.equal(link.request.user_agent, UA);
      assert.ok(link.effective_at >= t0);
      assert.equal(JSON.stringify(res.json).includes('token'), false, 'no link token in the log');
      // the OpenAI face hides keyplane's own types from the same session
      const openai = await call(s, 'GET', '/v1/organization/audit_logs?limit=100', { cookie: owner.cookie });
      assert.equal(openai.status, 200);
      assert.equal(openai.json.data.some((e: any) => e.type === 'invite.link_created'), false);
    });

    test("another organization's events never appear, whatever the filter", async () => {
      const theirs = await s.rt.store.db.selectFrom('audit_logs').select(['id', 'target_id']).where('org_id', '=', otherOrgId).execute();
      assert.ok(theirs.length >= 3);
      const theirIds = new Set(theirs.map((r) => r.id));
      for (const q of ['limit=100', 'limit=100&type=invite.*', 'limit=100&type=group.created', ...theirs.filter((r) => r.target_id).map((r) => `target=${r.target_id}`)]) {
        const res = await list(q);
        assert.equal(res.status, 200);
        for (const e of res.json.data) assert.equal(theirIds.has(e.id), false, `${q}: ${e.id}`);
      }
      // nor as a cursor: their event id is no cursor here
      assertError(await list(`after=${theirs[0]!.id}`), 400, 'invalid_cursor');
    });

    test('a reader reads the same log; a reader\'s write elsewhere is refused', async () => {
      const mine = await list('limit=100');
      const theirs = await list('limit=100', reader);
      assert.equal(theirs.status, 200);
      assert.deepEqual(theirs.json.data.map((e: any) => e.id), mine.json.data.map((e: any) => e.id));
      const refused = await call(s, 'POST', '/v1/organization/groups', { cookie: reader.cookie, csrf: reader.csrf, body: { name: 'nope' } });
      assert.equal(refused.status, 403);
      const types = await call(s, 'GET', '/console/api/audit_logs/event_types', { cookie: reader.cookie });
      assert.equal(types.status, 200);
      assert.ok(types.json.data.includes('invite.link_created') && types.json.data.includes('credential.created'));
    });

    test('filters: type (exact and prefix.*), actor (id or email), target, time range', async () => {
      const only = await list('type=invite.link_created');
      assert.deepEqual(only.json.data.map((e: any) => e.type), ['invite.link_created']);
      const invites = await list('type=invite.*&limit=100');
      assert.deepEqual(new Set(invites.json.data.map((e: any) => e.type)), new Set(['invite.sent', 'invite.link_created']));
      const two = await list('type=group.created&type=invite.sent&limit=100');
      assert.deepEqual(two.json.data.map((e: any) => e.type), ['group.created', 'invite.sent']);
      const byId = await list(`actor=${owner.id}&limit=100`);
      // (their sign-in is audited too: console.signed_in, the oldest of their events here)
      assert.deepEqual(byId.json.data.map((e: any) => e.type), ['group.created', 'invite.link_created', 'invite.sent', 'console.signed_in']);
      const byEmail = await list(`actor=${encodeURIComponent(owner.email.toUpperCase())}&limit=100`);
      assert.deepEqual(byEmail.json.data.map((e: any) => e.id), byId.json.data.map((e: any) => e.id));
      const byReader = await list(`actor=${reader.id}`);
      assert.deepEqual(byReader.json.data.map((e: any) => e.type), ['console.signed_in'], 'the reader only signed in');
      const target = await list(`target=${inviteId}&limit=100`);
      assert.deepEqual(target.json.data.map((e: any) => e.type), ['invite.link_created', 'invite.sent']);
      const group = await list(`target=${groupId}`);
      assert.deepEqual(group.json.data.map((e: any) => e.type), ['group.created']);
      const now = Math.floor(Date.now() / 1000);
      const inRange = await list(`from=${t0}&to=${now + 60}&actor=${owner.id}`);
      assert.equal(inRange.json.data.filter((e: any) => e.type !== 'console.signed_in').length, 3);
      assert.deepEqual((await list(`from=${now + 3600}`)).json.data, []);
      assert.deepEqual((await list(`to=${t0 - 3600}`)).json.data, []);
      assert.deepEqual((await list('type=no.such_type')).json.data, []);
    });

    test('keyset paging: `next` walks the whole log once, newest first, and matches one big page', async () => {
      const all = (await list('limit=100')).json.data.map((e: any) => e.id);
      assert.ok(all.length >= 6, String(all.length));
      const walked: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 50; i++) {
        const res: Res = await list(`limit=2${after ? `&after=${after}` : ''}`);
        assert.equal(res.status, 200);
        assert.ok(res.json.data.length <= 2);
        walked.push(...res.json.data.map((e: any) => e.id));
        if (!res.json.has_more) {
          assert.equal(res.json.next, null);
          break;
        }
        assert.equal(res.json.next, res.json.data.at(-1).id);
        after = res.json.next;
      }
      assert.deepEqual(walked, all);
      // with a filter too
      const first = await list('type=invite.*&limit=1');
      assert.equal(first.json.has_more, true);
      const second = await list(`type=invite.*&limit=1&after=${first.json.next}`);
      assert.deepEqual([first.json.data[0].type, second.json.data[0].type], ['invite.link_created', 'invite.sent']);
      assert.equal(second.json.has_more, false);
    });

    test('a bad query is 400 in the console envelope, never a 5xx', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=many', 'from=-1', 'from=yesterday', 'to=1.5', 'type=Not%20A%20Type', 'type=a..b', `type=${'a'.repeat(101)}`, `actor=${'x'.repeat(400)}`, 'actor=', 'target=', 'after=']) {
        const res = await list(q);
        assertError(res, 400);
      }
      assertError(await list(`from=${t0}&to=${t0}`), 400, 'invalid_value');
      assert.equal((await list(`from=${t0}&to=${t0}`)).json.error.message, 'The start of the time range must be before its end.');
      assertError(await list(`actor=${owner.id}&actor=${owner.email}`), 400, 'invalid_value');
      assertError(await list('after=audit_not_there'), 400, 'invalid_cursor');
    });
  });
}
