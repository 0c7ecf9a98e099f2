// OpenAI face, roles and user role assignments: organization roles (/organization/roles), project
// roles (/projects/{project_id}/roles) and the roles of users at organization level and in projects,
// driven through the official `openai` SDK against a real server, every body checked against the
// OpenAI spec extract, on SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';

const client = openaiClient;

const raw = (s: TestServer, method: string, path: string, key: string | null, body?: unknown, contentType?: string) => http(s, method, `/v1${path}`, key, body, contentType);


const isNotFound = (e: any) => e instanceof OpenAI.NotFoundError;
const isBadRequest = (e: any) => e instanceof OpenAI.BadRequestError;

let seq = 0;
const uniq = (p: string) => `${p}-${++seq}`;

for (const dialect of await testDialects()) {
  describe(`OpenAI roles and user role assignments (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    const roles = () => sdk.admin.organization.roles;
    const projectRoles = () => sdk.admin.organization.projects.roles;

    async function newUser() {
      return s.rt.core.users.addMember(SYSTEM, orgId, { email: `${uniq('u')}@example.com`, role: 'reader' });
    }
    async function newProject() {
      return s.rt.core.projects.create(SYSTEM, orgId, { name: uniq('project') });
    }
    async function auditTypes(targetId: string): Promise<string[]> {
      const rows = await s.rt.store.db.selectFrom('audit_logs').select('type').where('target_id', '=', targetId).orderBy('created_at').orderBy('id').execute();
      return rows.map((r) => r.type);
    }
    async function count(table: 'roles' | 'role_assignments'): Promise<number> {
      const r = await s.rt.store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      return Number(r.n);
    }

    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    test('organization roles: create, retrieve, update, list and delete in the spec shape', async () => {
      const created = await raw(s, 'POST', '/organization/roles', s.adminKey, JSON.stringify({ role_name: 'Key Manager', permissions: ['api.organization.admin_api_keys.read'], description: 'Reads keys' }));
      assert.equal(created.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/roles', 200, created.json);
      const r = created.json;
      assert.match(r.id, /^role_/);
      assert.deepEqual({ ...r, id: undefined }, {
        object: 'role', id: undefined, name: 'Key Manager', description: 'Reads keys',
        permissions: ['api.organization.admin_api_keys.read'], resource_type: 'api.organization', predefined_role: false,
      });

      const got = await roles().retrieve(r.id);
      assert.deepEqual(got, r);
      assertMatchesSpec(SPEC, 'get', '/organization/roles/{role_id}', 200, (await raw(s, 'GET', `/organization/roles/${r.id}`, s.adminKey)).json);

      const updated = await roles().update(r.id, { role_name: 'Key Admin', permissions: ['api.organization.admin_api_keys.read', 'api.organization.admin_api_keys.write'] });
      assert.equal(updated.name, 'Key Admin');
      assert.equal(updated.description, 'Reads keys', 'absent fields stay');
      assert.deepEqual(updated.permissions, ['api.organization.admin_api_keys.read', 'api.organization.admin_api_keys.write']);
      const upd2 = await raw(s, 'POST', `/organization/roles/${r.id}`, s.adminKey, JSON.stringify({ description: null, role_name: null }));
      assertMatchesSpec(SPEC, 'post', '/organization/roles/{role_id}', 200, upd2.json);
      assert.equal(upd2.json.name, 'Key Admin');
      const bodyless = await raw(s, 'POST', `/organization/roles/${r.id}`, s.adminKey);
      assert.equal(bodyless.status, 200, 'a bodyless POST counts as {}');
      assert.equal(bodyless.json.name, 'Key Admin');

      const list = await raw(s, 'GET', '/organization/roles', s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/roles', 200, list.json);
      assert.ok(list.json.data.some((x: any) => x.id === r.id));
      assert.equal(list.json.next, null);
      assert.equal(list.json.has_more, false);

      const del = await raw(s, 'DELETE', `/organization/roles/${r.id}`, s.adminKey);
      assert.equal(del.status, 200);
      assertMatchesSpec(SPEC, 'delete', '/organization/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'role.deleted', id: r.id, deleted: true });
      await assert.rejects(roles().retrieve(r.id), isNotFound);
      await assert.rejects(roles().delete(r.id), isNotFound);
      await assert.rejects(roles().update(r.id, { role_name: 'x' }), isNotFound);
      assert.deepEqual(await auditTypes(r.id), ['role.created', 'role.updated', 'role.deleted']);
    });

    test('role names are unique per scope; a duplicate is a 400 that changes nothing', async () => {
      const a = await roles().create({ role_name: 'Unique', permissions: [] });
      await assert.rejects(roles().create({ role_name: 'Unique', permissions: ['x.read'] }), (e: any) => isBadRequest(e) && e.param === 'role_name');
      const b = await roles().create({ role_name: 'Other', permissions: [] });
      await assert.rejects(roles().update(b.id, { role_name: 'Unique' }), isBadRequest);
      assert.equal((await roles().retrieve(b.id)).name, 'Other');
      // the same name in a project is another scope
      const p = await newProject();
      const pr = await projectRoles().create(p.id, { role_name: 'Unique', permissions: [] });
      assert.equal(pr.resource_type, 'api.project');
      await assert.rejects(projectRoles().create(p.id, { role_name: 'Unique', permissions: [] }), isBadRequest);
      assert.equal((await roles().update(a.id, { role_name: 'Unique' })).name, 'Unique', 'renaming to its own name is fine');
    });

    test('project roles live under /projects/{project_id}/roles', async () => {
      const p = await newProject();
      const created = await raw(s, 'POST', `/projects/${p.id}/roles`, s.adminKey, JSON.stringify({ role_name: 'Project Key Manager', permissions: ['api.organization.projects.api_keys.read'] }));
      assert.equal(created.status, 200);
      assertMatchesSpec(SPEC, 'post', '/projects/{project_id}/roles', 200, created.json);
      const r = created.json;
      assert.equal(r.resource_type, 'api.project');
      assert.equal(r.description, null);

      const got = await raw(s, 'GET', `/projects/${p.id}/roles/${r.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/roles/{role_id}', 200, got.json);
      assert.deepEqual(await projectRoles().retrieve(r.id, { project_id: p.id }), r);

      const upd = await raw(s, 'POST', `/projects/${p.id}/roles/${r.id}`, s.adminKey, JSON.stringify({ description: 'now described' }));
      assertMatchesSpec(SPEC, 'post', '/projects/{project_id}/roles/{role_id}', 200, upd.json);
      assert.equal(upd.json.description, 'now described');

      const list = await raw(s, 'GET', `/projects/${p.id}/roles`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/roles', 200, list.json);
      assert.deepEqual(list.json.data.filter((x: any) => !x.predefined_role).map((x: any) => x.id), [r.id]);
      // every project starts with OpenAI's predefined roles, which cannot be changed or deleted
      const predefined = list.json.data.filter((x: any) => x.predefined_role);
      assert.deepEqual(predefined.map((x: any) => x.name), ['owner', 'member', 'viewer']);
      await assert.rejects(projectRoles().delete(predefined[0].id, { project_id: p.id }), isBadRequest);
      await assert.rejects(projectRoles().update(predefined[1].id, { project_id: p.id, role_name: 'boss' }), isBadRequest);

      // a project role is unknown at organization level and in other projects, and vice versa
      await assert.rejects(roles().retrieve(r.id), isNotFound);
      const other = await newProject();
      await assert.rejects(projectRoles().retrieve(r.id, { project_id: other.id }), isNotFound);
      await assert.rejects(projectRoles().delete(r.id, { project_id: other.id }), isNotFound);
      const orgRole = await roles().create({ role_name: uniq('org'), permissions: [] });
      await assert.rejects(projectRoles().retrieve(orgRole.id, { project_id: p.id }), isNotFound);
      assert.deepEqual((await projectRoles().list(other.id)).data.filter((x) => !x.predefined_role), []);
      await assert.rejects(projectRoles().list('proj_nope'), isNotFound);
      await assert.rejects(projectRoles().create('proj_nope', { role_name: 'x', permissions: [] }), isNotFound);

      const del = await raw(s, 'DELETE', `/projects/${p.id}/roles/${r.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/projects/{project_id}/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'role.deleted', id: r.id, deleted: true });
      await assert.rejects(projectRoles().retrieve(r.id, { project_id: p.id }), isNotFound);
    });

    test('an archived project keeps its roles readable but refuses changes', async () => {
      const p = await newProject();
      const r = await projectRoles().create(p.id, { role_name: 'Before archive', permissions: ['a.read'] });
      await s.rt.core.projects.archive(SYSTEM, orgId, p.id);
      const before = await count('roles');
      assert.equal((await projectRoles().retrieve(r.id, { project_id: p.id })).id, r.id);
      assert.equal((await projectRoles().list(p.id)).data.filter((x) => !x.predefined_role).length, 1);
      await assert.rejects(projectRoles().create(p.id, { role_name: 'After', permissions: [] }), (e: any) => isBadRequest(e) && e.code === 'project_archived');
      await assert.rejects(projectRoles().update(r.id, { project_id: p.id, role_name: 'Renamed' }), isBadRequest);
      await assert.rejects(projectRoles().delete(r.id, { project_id: p.id }), isBadRequest);
      assert.equal(await count('roles'), before);
      assert.equal((await projectRoles().retrieve(r.id, { project_id: p.id })).name, 'Before archive');
    });

    test('paging walks every role once, in both orders, following `next`', async () => {
      const p = await newProject();
      const made: string[] = [];
      const predefined = (await projectRoles().list(p.id)).data.map((r) => r.id); // created with the project
      for (let i = 0; i < 7; i++) made.push((await projectRoles().create(p.id, { role_name: `page-${i}`, permissions: [] })).id);
      const all = [...predefined, ...made];
      const seen: string[] = [];
      for await (const r of projectRoles().list(p.id, { limit: 2 })) seen.push(r.id);
      assert.deepEqual(seen, all);
      const first = await raw(s, 'GET', `/projects/${p.id}/roles?limit=3`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/roles', 200, first.json);
      assert.equal(first.json.has_more, true);
      assert.equal(first.json.next, all[2]);
      const desc: string[] = [];
      for await (const r of projectRoles().list(p.id, { limit: 3, order: 'desc' })) desc.push(r.id);
      assert.deepEqual(desc, [...all].reverse());
      const zero = await raw(s, 'GET', `/projects/${p.id}/roles?limit=0`, s.adminKey);
      assert.equal(zero.status, 200);
      assert.deepEqual(zero.json.data, []);
      // organization roles page the same way
      const orgSeen: string[] = [];
      for await (const r of roles().list({ limit: 2 })) orgSeen.push(r.id);
      assert.equal(new Set(orgSeen).size, orgSeen.length);
      assert.equal(orgSeen.length, (await roles().list()).data.length);
    });

    test('bad input gets a 400 in the OpenAI envelope and creates nothing', async () => {
      const p = await newProject();
      const r = await roles().create({ role_name: uniq('bad-input'), permissions: ['a.read'] });
      const before = await count('roles');
      const bodies = [
        ['{}', 'role_name'],
        ['{"role_name": "x"}', 'permissions'],
        ['{"role_name": "", "permissions": []}', 'role_name'],
        ['{"role_name": "   ", "permissions": []}', 'role_name'],
        ['{"role_name": 5, "permissions": []}', 'role_name'],
        ['{"role_name": "x", "permissions": "a.read"}', 'permissions'],
        ['{"role_name": "x", "permissions": [1]}', 'permissions.0'],
        ['{"role_name": "x", "permissions": ["has space"]}', 'permissions'],
        ['{"role_name": "x", "permissions": [], "description": 5}', 'description'],
        [`{"role_name": "${'n'.repeat(257)}", "permissions": []}`, 'role_name'],
        ['{"role_name": ', null],
        ['[]', null],
      ] as const;
      for (const [body, param] of bodies) {
        for (const path of ['/organization/roles', `/projects/${p.id}/roles`]) {
          const res = await raw(s, 'POST', path, s.adminKey, body);
          assert.equal(res.status, 400, `${path} ${body}`);
          assertOpenAIError(res.json);
          if (param) assert.equal(res.json.error.param, param, body);
        }
      }
      const noBody = await raw(s, 'POST', '/organization/roles', s.adminKey);
      assert.equal(noBody.status, 400);
      assert.equal(noBody.json.error.param, 'role_name');
      for (const body of ['{"role_name": ""}', '{"permissions": "x"}', '{"permissions": [""]}', '{"description": 7}']) {
        const res = await raw(s, 'POST', `/organization/roles/${r.id}`, s.adminKey, body);
        assert.equal(res.status, 400, body);
        assertOpenAIError(res.json);
      }
      for (const q of ['limit=-1', 'limit=1001', 'limit=abc', 'order=sideways', 'after=role_doesnotexist']) {
        for (const path of ['/organization/roles', `/projects/${p.id}/roles`]) {
          const res = await raw(s, 'GET', `${path}?${q}`, s.adminKey);
          assert.equal(res.status, 400, `${path}?${q}`);
          assertOpenAIError(res.json);
        }
      }
      assert.equal(await count('roles'), before);
      assert.deepEqual((await roles().retrieve(r.id)).permissions, ['a.read']);
    });

    test('predefined roles cannot be changed or deleted', async () => {
      // the organization's own predefined 'owner' (role names are unique per organization: 0009)
      const { id } = await s.rt.store.db.selectFrom('roles').select('id').where('org_id', '=', orgId).where('project_id', 'is', null).where('name', '=', 'owner').where('predefined', '=', 1).executeTakeFirstOrThrow();
      const got = await roles().retrieve(id);
      assert.equal(got.predefined_role, true);
      await assert.rejects(roles().update(id, { role_name: 'mine' }), (e: any) => isBadRequest(e) && e.code === 'predefined_role');
      await assert.rejects(roles().delete(id), isBadRequest);
      assert.equal((await roles().retrieve(id)).name, 'owner');
    });

    test('organization user roles: assign, list, retrieve and unassign', async () => {
      const u = await newUser();
      const r1 = await roles().create({ role_name: uniq('user-role'), permissions: ['api.groups.read'] });
      const r2 = await roles().create({ role_name: uniq('user-role'), permissions: [] });
      const assigned = await raw(s, 'POST', `/organization/users/${u.id}/roles`, s.adminKey, JSON.stringify({ role_id: r1.id }));
      assert.equal(assigned.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/users/{user_id}/roles', 200, assigned.json);
      assert.equal(assigned.json.object, 'user.role');
      assert.equal(assigned.json.user.id, u.id);
      assert.equal(assigned.json.user.email, u.email);
      assert.deepEqual(assigned.json.role, r1);
      const viaSdk = await sdk.admin.organization.users.roles.create(u.id, { role_id: r2.id });
      assert.equal(viaSdk.role.id, r2.id);

      const list = await raw(s, 'GET', `/organization/users/${u.id}/roles`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/users/{user_id}/roles', 200, list.json);
      assert.deepEqual(list.json.data.map((x: any) => x.id), [r1.id, r2.id]);
      assert.equal(list.json.data[0].object, undefined, 'assigned role details carry no object');

      const one = await raw(s, 'GET', `/organization/users/${u.id}/roles/${r1.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/users/{user_id}/roles/{role_id}', 200, one.json);
      assert.equal(one.json.name, r1.name);
      assert.deepEqual(one.json.permissions, ['api.groups.read']);
      assert.equal((await sdk.admin.organization.users.roles.retrieve(r2.id, { user_id: u.id })).id, r2.id);

      await assert.rejects(sdk.admin.organization.users.roles.create(u.id, { role_id: r1.id }), (e: any) => e instanceof OpenAI.ConflictError);
      const del = await raw(s, 'DELETE', `/organization/users/${u.id}/roles/${r1.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/users/{user_id}/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'user.role.deleted', deleted: true });
      await assert.rejects(sdk.admin.organization.users.roles.retrieve(r1.id, { user_id: u.id }), isNotFound);
      await assert.rejects(sdk.admin.organization.users.roles.delete(r1.id, { user_id: u.id }), isNotFound);

      // deleting a role removes its assignments
      await roles().delete(r2.id);
      assert.deepEqual((await sdk.admin.organization.users.roles.list(u.id)).data, []);
      const types = (await s.rt.store.db.selectFrom('audit_logs').select('type').where('type', 'like', 'role.assignment.%').execute()).map((r) => r.type);
      assert.ok(types.includes('role.assignment.created') && types.includes('role.assignment.deleted'));
    });

    test('organization user roles refuse unknown users and roles, and project roles', async () => {
      const u = await newUser();
      const p = await newProject();
      const pr = await projectRoles().create(p.id, { role_name: 'project only', permissions: [] });
      const r = await roles().create({ role_name: uniq('org-role'), permissions: [] });
      const before = await count('role_assignments');
      await assert.rejects(sdk.admin.organization.users.roles.create('user-nope', { role_id: r.id }), isNotFound);
      await assert.rejects(sdk.admin.organization.users.roles.create(u.id, { role_id: 'role_nope' }), (e: any) => isNotFound(e) && e.param === 'role_id');
      await assert.rejects(sdk.admin.organization.users.roles.create(u.id, { role_id: pr.id }), (e: any) => isBadRequest(e) && e.code === 'invalid_role_scope');
      await assert.rejects(sdk.admin.organization.users.roles.list('user-nope'), isNotFound);
      await assert.rejects(sdk.admin.organization.users.roles.retrieve(r.id, { user_id: u.id }), isNotFound);
      for (const body of ['{}', '{"role_id": 5}', '{"role_id": ""}']) {
        const res = await raw(s, 'POST', `/organization/users/${u.id}/roles`, s.adminKey, body);
        assert.equal(res.status, 400, body);
        assertOpenAIError(res.json);
      }
      for (const q of ['limit=-1', 'limit=1001', 'order=up', 'after=role_nope']) {
        const res = await raw(s, 'GET', `/organization/users/${u.id}/roles?${q}`, s.adminKey);
        assert.equal(res.status, 400, q);
      }
      assert.equal(await count('role_assignments'), before);
    });

    test('project user roles: only project members, only roles of that project', async () => {
      const p = await newProject();
      const other = await newProject();
      const member = await newUser();
      const outsider = await newUser();
      await s.rt.core.projectUsers.add(SYSTEM, orgId, p.id, { userId: member.id, role: 'member' });
      const pr = await projectRoles().create(p.id, { role_name: 'Reader', permissions: ['api.project.read'] });
      const foreign = await projectRoles().create(other.id, { role_name: 'Reader', permissions: [] });
      const orgRole = await roles().create({ role_name: uniq('org-level'), permissions: [] });
      const api = sdk.admin.organization.projects.users.roles;

      const assigned = await raw(s, 'POST', `/projects/${p.id}/users/${member.id}/roles`, s.adminKey, JSON.stringify({ role_id: pr.id }));
      assert.equal(assigned.status, 200);
      assertMatchesSpec(SPEC, 'post', '/projects/{project_id}/users/{user_id}/roles', 200, assigned.json);
      assert.equal(assigned.json.object, 'user.role');
      assert.equal(assigned.json.role.resource_type, 'api.project');

      const list = await raw(s, 'GET', `/projects/${p.id}/users/${member.id}/roles`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/users/{user_id}/roles', 200, list.json);
      assert.deepEqual(list.json.data.map((x: any) => x.id), [pr.id]);
      assert.deepEqual((await api.list(member.id, { project_id: p.id })).data.map((x) => x.id), [pr.id]);
      // project assignments are not organization assignments
      assert.deepEqual((await sdk.admin.organization.users.roles.list(member.id)).data, []);

      const one = await raw(s, 'GET', `/projects/${p.id}/users/${member.id}/roles/${pr.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/users/{user_id}/roles/{role_id}', 200, one.json);
      assert.equal((await api.retrieve(pr.id, { project_id: p.id, user_id: member.id })).name, 'Reader');

      const before = await count('role_assignments');
      await assert.rejects(api.create(outsider.id, { project_id: p.id, role_id: pr.id }), isNotFound);
      await assert.rejects(api.create(member.id, { project_id: p.id, role_id: foreign.id }), (e: any) => isBadRequest(e) && e.code === 'invalid_role_scope');
      await assert.rejects(api.create(member.id, { project_id: p.id, role_id: orgRole.id }), isBadRequest);
      await assert.rejects(api.create(member.id, { project_id: 'proj_nope', role_id: pr.id }), isNotFound);
      await assert.rejects(api.create(member.id, { project_id: other.id, role_id: foreign.id }), isNotFound, 'not a member of the other project');
      await assert.rejects(api.list(outsider.id, { project_id: p.id }), isNotFound);
      assert.equal(await count('role_assignments'), before);

      const del = await raw(s, 'DELETE', `/projects/${p.id}/users/${member.id}/roles/${pr.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/projects/{project_id}/users/{user_id}/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'user.role.deleted', deleted: true });
      await assert.rejects(api.retrieve(pr.id, { project_id: p.id, user_id: member.id }), isNotFound);

      // archived: readable, not assignable
      await api.create(member.id, { project_id: p.id, role_id: pr.id });
      await s.rt.core.projects.archive(SYSTEM, orgId, p.id);
      const pr2 = pr.id;
      assert.equal((await api.list(member.id, { project_id: p.id })).data.length, 1);
      await assert.rejects(api.delete(pr2, { project_id: p.id, user_id: member.id }), isBadRequest);
      assert.equal((await api.list(member.id, { project_id: p.id })).data.length, 1);
    });

    test('role assignment lists page with `next`', async () => {
      const u = await newUser();
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await roles().create({ role_name: uniq('paged'), permissions: [] });
        await sdk.admin.organization.users.roles.create(u.id, { role_id: r.id });
        made.push(r.id);
      }
      const seen: string[] = [];
      for await (const r of sdk.admin.organization.users.roles.list(u.id, { limit: 2 })) seen.push(r.id);
      assert.deepEqual(seen, made);
      const desc: string[] = [];
      for await (const r of sdk.admin.organization.users.roles.list(u.id, { limit: 2, order: 'desc' })) desc.push(r.id);
      assert.deepEqual(desc, [...made].reverse());
      const first = await raw(s, 'GET', `/organization/users/${u.id}/roles?limit=2`, s.adminKey);
      assert.equal(first.json.next, made[1]);
      assertMatchesSpec(SPEC, 'get', '/organization/users/{user_id}/roles', 200, first.json);
    });

    test("another organization never sees or changes this organization's roles", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other roles', slug: 'other-roles' });
      const them = client(s, other.adminKey.secret);
      const p = await newProject();
      const u = await newUser();
      await s.rt.core.projectUsers.add(SYSTEM, orgId, p.id, { userId: u.id, role: 'member' });
      const mine = await roles().create({ role_name: uniq('mine'), permissions: ['a.read'] });
      const minePr = await projectRoles().create(p.id, { role_name: 'mine', permissions: [] });
      await sdk.admin.organization.users.roles.create(u.id, { role_id: mine.id });

      assert.ok(!(await them.admin.organization.roles.list()).data.some((r) => r.id === mine.id));
      await assert.rejects(them.admin.organization.roles.retrieve(mine.id), isNotFound);
      await assert.rejects(them.admin.organization.roles.update(mine.id, { role_name: 'stolen' }), isNotFound);
      await assert.rejects(them.admin.organization.roles.delete(mine.id), isNotFound);
      await assert.rejects(them.admin.organization.projects.roles.list(p.id), isNotFound);
      await assert.rejects(them.admin.organization.projects.roles.create(p.id, { role_name: 'x', permissions: [] }), isNotFound);
      await assert.rejects(them.admin.organization.projects.roles.retrieve(minePr.id, { project_id: p.id }), isNotFound);
      await assert.rejects(them.admin.organization.users.roles.list(u.id), isNotFound);
      await assert.rejects(them.admin.organization.users.roles.delete(mine.id, { user_id: u.id }), isNotFound);
      // their own role cannot be given to our user, nor ours to theirs
      const theirs = await them.admin.organization.roles.create({ role_name: 'theirs', permissions: [] });
      await assert.rejects(them.admin.organization.users.roles.create(u.id, { role_id: theirs.id }), isNotFound);
      await assert.rejects(sdk.admin.organization.users.roles.create(u.id, { role_id: theirs.id }), isNotFound);
      await assert.rejects(them.admin.organization.projects.users.roles.create(u.id, { project_id: p.id, role_id: minePr.id }), isNotFound);
      const res = await raw(s, 'GET', `/organization/roles?after=${mine.id}`, other.adminKey.secret);
      assert.equal(res.status, 400, 'a foreign cursor is refused');
      assert.equal((await roles().retrieve(mine.id)).name, mine.name);
      assert.deepEqual((await sdk.admin.organization.users.roles.list(u.id)).data.map((r) => r.id), [mine.id]);
    });
  });
}
