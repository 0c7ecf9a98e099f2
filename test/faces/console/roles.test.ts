// Roles that mean something (issue [10]): a console user acts with their organization role and the
// roles assigned to them and their groups, at organization and project level, as stored through
// the OpenAI face (src/domain/access.ts). Driven over HTTP with console sessions against the same
// OpenAI admin routes the `openai` SDK uses, on SQLite and PostgreSQL:
//   - a reader reads the organization and no project that is not theirs, and changes nothing;
//   - a project member sees their project only, issues and revokes their own keys, nobody else's;
//   - a project owner changes their project, not another;
//   - an org role with `api.organization.*` assigned to a reader, or a project role given to a
//     reader's group, takes effect at the next request (no new sign-in) and ends when unassigned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const PASSWORD = 'roles that mean something';

interface Res {
  status: number;
  json: any;
}
interface Who {
  id: string;
  email: string;
  cookie: string;
  csrf: string;
}

for (const dialect of await testDialects()) {
  describe(`console roles (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let slug: string;
    let projA: string;
    let projB: string;
    let n = 0;

    async function call(who: Who, method: string, path: string, body?: unknown): Promise<Res> {
      const headers: Record<string, string> = { cookie: who.cookie };
      if (method !== 'GET') headers['x-csrf-token'] = who.csrf;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${s.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    }
    async function user(role: 'owner' | 'reader'): Promise<Who> {
      const email = `r${++n}-${randomBytes(3).toString('hex')}@roles.example`;
      const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email, name: `User ${n}`, role });
      await s.rt.core.consoleSessions.setPassword(m.id, PASSWORD);
      const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD }) });
      const json = (await res.json()) as { csrf_token: string };
      assert.equal(res.status, 200);
      return { id: m.id, email, cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: json.csrf_token };
    }
    const ok = (r: Res, what: string) => assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.json)}`);
    const refused = (r: Res, what: string) => {
      assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.error.message, 'string');
    };
    const projectIds = (r: Res) => (r.json.data as Array<{ id: string }>).map((p) => p.id);

    before(async () => {
      s = await startServer(dialect);
      slug = `roles-${randomBytes(3).toString('hex')}`;
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Roles Inc', slug, ownerEmail: `owner-${slug}@roles.example`, ownerName: 'Owner' });
      orgId = created.org.id;
      projA = (await s.rt.core.projects.create(SYSTEM, orgId, { name: 'Alpha' })).id;
      projB = (await s.rt.core.projects.create(SYSTEM, orgId, { name: 'Beta' })).id;
    });
    after(() => s?.close());

    test('a reader reads the organization, sees no project that is not theirs, and changes nothing', async () => {
      const r = await user('reader');
      ok(await call(r, 'GET', '/v1/organization/users?limit=100'), 'members');
      ok(await call(r, 'GET', '/v1/organization/groups'), 'groups');
      ok(await call(r, 'GET', '/v1/organization/roles'), 'roles');
      ok(await call(r, 'GET', '/v1/organization/invites'), 'invites');
      const projects = await call(r, 'GET', '/v1/organization/projects');
      ok(projects, 'projects');
      assert.deepEqual(projectIds(projects), []);
      refused(await call(r, 'GET', `/v1/organization/projects/${projA}`), 'a project they have no role in');
      refused(await call(r, 'GET', `/v1/organization/projects/${projA}/api_keys`), "that project's keys");
      refused(await call(r, 'POST', '/v1/organization/projects', { name: 'Mine' }), 'create a project');
      refused(await call(r, 'POST', '/v1/organization/invites', { email: `x-${n}@roles.example`, role: 'reader' }), 'invite');
      refused(await call(r, 'GET', '/v1/organization/admin_api_keys'), 'admin keys');
      const perms = await call(r, 'GET', '/console/api/me/permissions');
      assert.deepEqual(perms.json, { operator: false, org_role: 'reader', org_write: false, org_read: true, projects: {} });
    });

    test('a project member sees their project only and manages their own keys, nobody else\'s', async () => {
      const m = await user('reader');
      const other = await user('reader');
      await s.rt.core.projectUsers.add(SYSTEM, orgId, projA, { userId: m.id, role: 'member' });
      await s.rt.core.projectUsers.add(SYSTEM, orgId, projA, { userId: other.id, role: 'member' });
      const list = await call(m, 'GET', '/v1/organization/projects');
      assert.deepEqual(projectIds(list), [projA]);
      ok(await call(m, 'GET', `/v1/organization/projects/${projA}`), 'their project');
      refused(await call(m, 'GET', `/v1/organization/projects/${projB}`), 'another project');
      refused(await call(m, 'POST', `/v1/organization/projects/${projA}`, { name: 'Renamed' }), 'rename their project');
      refused(await call(m, 'POST', `/v1/organization/projects/${projA}/archive`), 'archive their project');
      // their own key: issued and revoked by them; another member's: neither
      const mine = await call(m, 'POST', `/v1/organization/projects/${projA}/api_keys`, { user_id: m.id, name: 'mine' });
      assert.equal(mine.status, 200, JSON.stringify(mine.json));
      assert.match(mine.json.value, /^sk-proj-/);
      refused(await call(m, 'POST', `/v1/organization/projects/${projA}/api_keys`, { user_id: other.id, name: 'theirs' }), "issue another member's key");
      const theirs = await s.rt.core.projectKeys.createForUser(SYSTEM, orgId, projA, other.id, { name: 'theirs' });
      refused(await call(m, 'DELETE', `/v1/organization/projects/${projA}/api_keys/${theirs.row.id}`), "revoke another member's key");
      ok(await call(m, 'GET', `/v1/organization/projects/${projA}/api_keys`), 'list the project keys');
      ok(await call(m, 'DELETE', `/v1/organization/projects/${projA}/api_keys/${mine.json.id}`), 'revoke their own key');
      const perms = await call(m, 'GET', '/console/api/me/permissions');
      assert.deepEqual(perms.json.projects, { [projA]: 'member' });
    });

    test('a project owner changes their project and not another', async () => {
      const o = await user('reader');
      await s.rt.core.projectUsers.add(SYSTEM, orgId, projA, { userId: o.id, role: 'owner' });
      ok(await call(o, 'POST', `/v1/organization/projects/${projA}`, { name: 'Alpha' }), 'rename their project');
      const sa = await call(o, 'POST', `/v1/organization/projects/${projA}/service_accounts`, { name: 'bot' });
      ok(sa, 'create a service account');
      const limits = await call(o, 'GET', `/v1/organization/projects/${projA}/rate_limits`);
      ok(limits, 'rate limits');
      refused(await call(o, 'POST', `/v1/organization/projects/${projB}`, { name: 'Beta 2' }), 'rename another project');
      refused(await call(o, 'POST', `/v1/organization/projects/${projB}/service_accounts`, { name: 'bot' }), "another project's service account");
      refused(await call(o, 'POST', '/v1/organization/projects', { name: 'New' }), 'create a project (an organization write)');
    });

    test('roles assigned to a user or their group take effect at the next request and end when removed', async () => {
      const r = await user('reader');
      refused(await call(r, 'POST', '/v1/organization/projects', { name: 'Gamma' }), 'before: create a project');
      const admin = await s.rt.core.roles.create(SYSTEM, orgId, null, { name: `org admins ${n}`, permissions: ['api.organization.*'] });
      await s.rt.core.roles.assign(SYSTEM, orgId, { type: 'user', id: r.id }, null, admin.id);
      const gamma = await call(r, 'POST', '/v1/organization/projects', { name: 'Gamma' });
      ok(gamma, 'with api.organization.*: create a project');
      assert.equal((await call(r, 'GET', '/console/api/me/permissions')).json.org_write, true);
      await s.rt.core.roles.unassign(SYSTEM, orgId, { type: 'user', id: r.id }, null, admin.id);
      refused(await call(r, 'POST', '/v1/organization/projects', { name: 'Delta' }), 'after unassigning: create a project');

      // a group given a project role: its members get that level in the project
      const g = await s.rt.core.groups.create(SYSTEM, orgId, { name: `editors ${n}` });
      await s.rt.core.groups.addUser(SYSTEM, orgId, g.id, r.id);
      const projectRoles = await s.rt.core.roles.list(SYSTEM, orgId, projB, { limit: 100 });
      const ownerRole = projectRoles.items.find((x) => x.name === 'owner')!;
      refused(await call(r, 'POST', `/v1/organization/projects/${projB}`, { name: 'Beta' }), 'before the group role');
      await s.rt.core.groups.addToProject(SYSTEM, orgId, projB, { groupId: g.id, roleId: ownerRole.id });
      ok(await call(r, 'POST', `/v1/organization/projects/${projB}`, { name: 'Beta' }), "through the group's project owner role");
      // (the project they created in the console has them as its owner)
      assert.deepEqual(projectIds(await call(r, 'GET', '/v1/organization/projects')).sort(), [projB, gamma.json.id].sort());
      await s.rt.core.groups.removeUser(SYSTEM, orgId, g.id, r.id);
      refused(await call(r, 'POST', `/v1/organization/projects/${projB}`, { name: 'Beta' }), 'after leaving the group');
    });

    test('an owner demoted to reader loses writes at the next request', async () => {
      const o = await user('owner');
      ok(await call(o, 'POST', '/v1/organization/groups', { name: `g-${n}` }), 'owner creates a group');
      await s.rt.core.users.updateRole(SYSTEM, orgId, o.id, 'reader');
      refused(await call(o, 'POST', '/v1/organization/groups', { name: `g2-${n}` }), 'demoted: create a group');
      ok(await call(o, 'GET', '/v1/organization/groups'), 'demoted: read groups');
    });

    test('the ibl.ai face: a reader reads masked credentials and cannot change them', async () => {
      const r = await user('reader');
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-live-abcdefghijklmnop' }, platform: slug });
      const res = await fetch(`${s.url}/api/ai-account/orgs/${slug}/credential/?name=openai`, { headers: { cookie: r.cookie } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.ok(!text.includes('abcdefghijklmnop'), 'the value is masked');
      const write = await fetch(`${s.url}/api/ai-account/orgs/${slug}/use-free-trial/`, { method: 'POST', headers: { cookie: r.cookie, 'x-csrf-token': r.csrf, 'content-type': 'application/json' }, body: '{"enable":true}' });
      assert.equal(write.status, 403, await write.text());
    });
  });
}
