// POST /v1/organization/projects/{project_id}/api_keys (a keyplane extension the console's Projects
// page uses): an API key for a project member, its secret `value` returned once. Project owners (and
// admin keys) issue keys to any member; a project `member` signed in to the console only to
// themselves; a non-member is refused; the owner must be in the project.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertOpenAIError, http } from '../../helpers/http.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple 42';

for (const dialect of await testDialects()) {
  describe(`POST …/projects/{id}/api_keys (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let adminKey: string;
    let proj: string;
    const slug = `keys-${randomBytes(3).toString('hex')}`;
    const users: Record<'owner' | 'member' | 'outsider', { id: string; email: string }> = {} as never;

    /** A console session of `email`: cookie and CSRF token. */
    async function session(email: string): Promise<{ cookie: string; csrf: string }> {
      const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD, org: slug }) });
      assert.equal(res.status, 200, await res.clone().text());
      const body = (await res.json()) as { csrf_token: string };
      return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: body.csrf_token };
    }
    async function asUser(email: string, body: unknown) {
      const { cookie, csrf } = await session(email);
      const res = await fetch(`${s.url}/v1/organization/projects/${proj}/api_keys`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as any };
    }

    before(async () => {
      s = await startServer(dialect);
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Key Org', slug, ownerEmail: `boss-${slug}@example.com` });
      orgId = created.org.id;
      adminKey = created.adminKey.secret;
      proj = (await http(s, 'POST', '/v1/organization/projects', adminKey, { name: 'P' })).json.id;
      for (const [name, role] of [['owner', 'owner'], ['member', 'member'], ['outsider', null]] as const) {
        const email = `${name}-${slug}@example.com`;
        const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email, name, role: 'reader' });
        await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
        if (role) await s.rt.core.projectUsers.add(SYSTEM, orgId, proj, { userId: m.id, role });
        users[name] = { id: m.id, email };
      }
    });
    after(() => s?.close());

    test('an admin key issues a key to a member: the secret once, then only its redacted value', async () => {
      const r = await http(s, 'POST', `/v1/organization/projects/${proj}/api_keys`, adminKey, { user_id: users.member.id, name: 'ci', expires_in_seconds: 3600 });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.object, 'organization.project.api_key');
      assert.equal(r.json.name, 'ci');
      assert.equal(r.json.owner.type, 'user');
      assert.equal(r.json.owner.user.id, users.member.id);
      assert.equal(typeof r.json.value, 'string');
      assert.ok(r.json.value.startsWith('sk-'), r.json.value);
      assert.notEqual(r.json.redacted_value, r.json.value);
      assert.ok(Math.abs(r.json.expires_at - (r.json.created_at + 3600)) <= 1);
      const got = await http(s, 'GET', `/v1/organization/projects/${proj}/api_keys/${r.json.id}`, adminKey);
      assert.equal(got.status, 200);
      assert.equal(got.json.redacted_value, r.json.redacted_value);
      assert.ok(!JSON.stringify(got.json).includes(r.json.value));
    });

    test('the owner must be in the project; bad bodies are 400s naming the field', async () => {
      const r = await http(s, 'POST', `/v1/organization/projects/${proj}/api_keys`, adminKey, { user_id: users.outsider.id });
      assert.equal(r.status, 404);
      assertOpenAIError(r.json);
      assert.equal(r.json.error.param, 'user_id');
      const bad = await http(s, 'POST', `/v1/organization/projects/${proj}/api_keys`, adminKey, { user_id: users.member.id, expires_in_seconds: 0 });
      assert.equal(bad.status, 400);
      const missing = await http(s, 'POST', `/v1/organization/projects/${proj}/api_keys`, adminKey, {});
      assert.equal(missing.status, 400);
    });

    test('console users: an owner issues to anyone, a member only to themselves, a non-member not at all', async () => {
      assert.equal((await asUser(users.owner.email, { user_id: users.member.id })).status, 200);
      const own = await asUser(users.member.email, { user_id: users.member.id, name: 'mine' });
      assert.equal(own.status, 200, JSON.stringify(own.json));
      assert.equal(own.json.owner.user.id, users.member.id);
      assert.equal((await asUser(users.member.email, { user_id: users.owner.id })).status, 403);
      assert.equal((await asUser(users.outsider.email, { user_id: users.member.id })).status, 403);
    });
  });
}
