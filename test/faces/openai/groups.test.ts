// OpenAI face, groups: organization groups, their users, their organization roles, project groups
// and their project roles, driven through the official `openai` SDK against a real server, every
// body checked against the OpenAI spec extract, on SQLite and PostgreSQL.
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
const isConflict = (e: any) => e instanceof OpenAI.ConflictError;

let seq = 0;
const uniq = (p: string) => `${p}-${++seq}`;

for (const dialect of await testDialects()) {
  describe(`OpenAI groups (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    const groups = () => sdk.admin.organization.groups;
    const projectGroups = () => sdk.admin.organization.projects.groups;

    async function newUser() {
      return s.rt.core.users.addMember(SYSTEM, orgId, { email: `${uniq('g')}@example.com`, role: 'reader' });
    }
    async function newProject() {
      return s.rt.core.projects.create(SYSTEM, orgId, { name: uniq('project') });
    }
    async function count(table: 'groups' | 'group_members' | 'project_groups' | 'role_assignments', where?: [string, string]): Promise<number> {
      let q = s.rt.store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n'));
      if (where) q = q.where(where[0] as any, '=', where[1]);
      return Number((await q.executeTakeFirstOrThrow()).n);
    }

    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    test('groups: create, retrieve, rename, list and delete in the spec shape', async () => {
      const created = await raw(s, 'POST', '/organization/groups', s.adminKey, JSON.stringify({ name: 'Support Team' }));
      assert.equal(created.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/groups', 200, created.json);
      const g = created.json;
      assert.match(g.id, /^group_/);
      assert.equal(g.name, 'Support Team');
      assert.equal(g.is_scim_managed, false);
      assert.equal(g.group_type, 'group');

      const got = await raw(s, 'GET', `/organization/groups/${g.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}', 200, got.json);
      assert.deepEqual(await groups().retrieve(g.id), g);

      const renamed = await raw(s, 'POST', `/organization/groups/${g.id}`, s.adminKey, JSON.stringify({ name: 'Escalations' }));
      assertMatchesSpec(SPEC, 'post', '/organization/groups/{group_id}', 200, renamed.json);
      assert.deepEqual(renamed.json, { id: g.id, name: 'Escalations', created_at: g.created_at, is_scim_managed: false });
      assert.equal((await groups().update(g.id, { name: 'Escalations 2' })).name, 'Escalations 2');

      const list = await raw(s, 'GET', '/organization/groups', s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups', 200, list.json);
      assert.ok(list.json.data.some((x: any) => x.id === g.id && x.name === 'Escalations 2'));
      assert.equal(list.json.next, null);

      const del = await raw(s, 'DELETE', `/organization/groups/${g.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/groups/{group_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'group.deleted', id: g.id, deleted: true });
      await assert.rejects(groups().retrieve(g.id), isNotFound);
      await assert.rejects(groups().update(g.id, { name: 'x' }), isNotFound);
      await assert.rejects(groups().delete(g.id), isNotFound);
      const audit = await s.rt.store.db.selectFrom('audit_logs').select('type').where('target_id', '=', g.id).orderBy('created_at').orderBy('id').execute();
      assert.deepEqual(audit.map((a) => a.type), ['group.created', 'group.updated', 'group.updated', 'group.deleted']);
    });

    test('paging walks every group once, in both orders, following `next`', async () => {
      const made: string[] = [];
      for (let i = 0; i < 7; i++) made.push((await groups().create({ name: `page-${i}` })).id);
      const seen: string[] = [];
      for await (const g of groups().list({ limit: 2 })) seen.push(g.id);
      assert.equal(new Set(seen).size, seen.length);
      for (const id of made) assert.ok(seen.includes(id));
      const desc: string[] = [];
      for await (const g of groups().list({ limit: 3, order: 'desc' })) desc.push(g.id);
      assert.deepEqual(desc, [...seen].reverse());
      const first = await raw(s, 'GET', '/organization/groups?limit=2', s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups', 200, first.json);
      assert.equal(first.json.has_more, true);
      assert.equal(first.json.next, first.json.data[1].id);
    });

    test('bad input gets a 400 in the OpenAI envelope and changes nothing', async () => {
      const g = await groups().create({ name: uniq('stable') });
      const before = await count('groups');
      for (const [body, param] of [
        ['{}', 'name'],
        ['{"name": ""}', 'name'],
        ['{"name": "   "}', 'name'],
        ['{"name": 5}', 'name'],
        [`{"name": "${'n'.repeat(256)}"}`, 'name'],
        ['{"name": ', null],
      ] as const) {
        for (const path of ['/organization/groups', `/organization/groups/${g.id}`]) {
          const res = await raw(s, 'POST', path, s.adminKey, body);
          assert.equal(res.status, 400, `${path} ${body}`);
          assertOpenAIError(res.json);
          if (param) assert.equal(res.json.error.param, param);
        }
      }
      for (const q of ['limit=-1', 'limit=1001', 'limit=x', 'order=up', 'after=group_nope']) {
        const res = await raw(s, 'GET', `/organization/groups?${q}`, s.adminKey);
        assert.equal(res.status, 400, q);
        assertOpenAIError(res.json);
      }
      assert.equal(await count('groups'), before);
      assert.equal((await groups().retrieve(g.id)).name, g.name);
    });

    test('group users: add, list, retrieve and remove organization members', async () => {
      const g = await groups().create({ name: uniq('team') });
      const a = await newUser();
      const b = await newUser();
      const added = await raw(s, 'POST', `/organization/groups/${g.id}/users`, s.adminKey, JSON.stringify({ user_id: a.id }));
      assert.equal(added.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/groups/{group_id}/users', 200, added.json);
      assert.deepEqual(added.json, { object: 'group.user', user_id: a.id, group_id: g.id });
      assert.equal((await groups().users.create(g.id, { user_id: b.id })).user_id, b.id);

      const list = await raw(s, 'GET', `/organization/groups/${g.id}/users`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}/users', 200, list.json);
      assert.deepEqual(list.json.data.map((u: any) => u.id), [b.id, a.id], 'newest first by default');
      assert.deepEqual(list.json.data[1], { id: a.id, name: a.name, email: a.email });
      const asc = await groups().users.list(g.id, { order: 'asc' });
      assert.deepEqual(asc.data.map((u) => u.id), [a.id, b.id]);

      const one = await raw(s, 'GET', `/organization/groups/${g.id}/users/${a.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}/users/{user_id}', 200, one.json);
      assert.equal(one.json.email, a.email);
      assert.equal((await groups().users.retrieve(b.id, { group_id: g.id })).id, b.id);

      await assert.rejects(groups().users.create(g.id, { user_id: a.id }), isConflict);
      await assert.rejects(groups().users.create(g.id, { user_id: 'user-nope' }), isNotFound);
      await assert.rejects(groups().users.create('group_nope', { user_id: a.id }), isNotFound);
      await assert.rejects(groups().users.list('group_nope'), isNotFound);
      for (const body of ['{}', '{"user_id": 3}', '{"user_id": ""}']) {
        const res = await raw(s, 'POST', `/organization/groups/${g.id}/users`, s.adminKey, body);
        assert.equal(res.status, 400, body);
        assertOpenAIError(res.json);
      }
      assert.equal(await count('group_members', ['group_id', g.id]), 2);

      const del = await raw(s, 'DELETE', `/organization/groups/${g.id}/users/${a.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/groups/{group_id}/users/{user_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'group.user.deleted', deleted: true });
      await assert.rejects(groups().users.retrieve(a.id, { group_id: g.id }), isNotFound);
      await assert.rejects(groups().users.delete(a.id, { group_id: g.id }), isNotFound);
      assert.deepEqual((await groups().users.list(g.id)).data.map((u) => u.id), [b.id]);

      // a user leaving the organization leaves its groups
      await s.rt.core.users.removeMember(SYSTEM, orgId, b.id);
      assert.deepEqual((await groups().users.list(g.id)).data, []);
    });

    test('group users page with `next`', async () => {
      const g = await groups().create({ name: uniq('big') });
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const u = await newUser();
        await groups().users.create(g.id, { user_id: u.id });
        made.push(u.id);
      }
      const seen: string[] = [];
      for await (const u of groups().users.list(g.id, { limit: 2 })) seen.push(u.id);
      assert.deepEqual(seen, [...made].reverse());
      const asc: string[] = [];
      for await (const u of groups().users.list(g.id, { limit: 2, order: 'asc' })) asc.push(u.id);
      assert.deepEqual(asc, made);
    });

    test('group organization roles: assign, list, retrieve and unassign', async () => {
      const g = await groups().create({ name: uniq('with-roles') });
      const r = await sdk.admin.organization.roles.create({ role_name: uniq('group-role'), permissions: ['api.groups.read'] });
      const p = await newProject();
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'only here', permissions: [] });
      const assigned = await raw(s, 'POST', `/organization/groups/${g.id}/roles`, s.adminKey, JSON.stringify({ role_id: r.id }));
      assert.equal(assigned.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/groups/{group_id}/roles', 200, assigned.json);
      assert.equal(assigned.json.object, 'group.role');
      assert.deepEqual(assigned.json.group, { object: 'group', id: g.id, name: g.name, created_at: g.created_at, scim_managed: false });
      assert.deepEqual(assigned.json.role, r);

      const list = await raw(s, 'GET', `/organization/groups/${g.id}/roles`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}/roles', 200, list.json);
      assert.deepEqual(list.json.data.map((x: any) => x.id), [r.id]);
      const one = await raw(s, 'GET', `/organization/groups/${g.id}/roles/${r.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}/roles/{role_id}', 200, one.json);
      assert.equal((await groups().roles.retrieve(r.id, { group_id: g.id })).name, r.name);

      await assert.rejects(groups().roles.create(g.id, { role_id: r.id }), isConflict);
      await assert.rejects(groups().roles.create(g.id, { role_id: pr.id }), isBadRequest);
      await assert.rejects(groups().roles.create('group_nope', { role_id: r.id }), isNotFound);
      await assert.rejects(groups().roles.create(g.id, { role_id: 'role_nope' }), isNotFound);

      const del = await raw(s, 'DELETE', `/organization/groups/${g.id}/roles/${r.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/groups/{group_id}/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'group.role.deleted', deleted: true });
      await assert.rejects(groups().roles.retrieve(r.id, { group_id: g.id }), isNotFound);
      await assert.rejects(groups().roles.delete(r.id, { group_id: g.id }), isNotFound);
    });

    test('project groups: add with a project role, list, retrieve and remove', async () => {
      const p = await newProject();
      const g = await groups().create({ name: 'Support Team' });
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'Project reader', permissions: ['api.project.read'] });
      const added = await raw(s, 'POST', `/organization/projects/${p.id}/groups`, s.adminKey, JSON.stringify({ group_id: g.id, role: pr.id }));
      assert.equal(added.status, 200);
      assertMatchesSpec(SPEC, 'post', '/organization/projects/{project_id}/groups', 200, added.json);
      assert.deepEqual({ ...added.json, created_at: 0 }, { object: 'project.group', project_id: p.id, group_id: g.id, group_name: 'Support Team', group_type: 'group', created_at: 0 });

      const list = await raw(s, 'GET', `/organization/projects/${p.id}/groups`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/groups', 200, list.json);
      assert.deepEqual(list.json.data, [added.json]);
      const one = await raw(s, 'GET', `/organization/projects/${p.id}/groups/${g.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/groups/{group_id}', 200, one.json);
      assert.deepEqual(await projectGroups().retrieve(g.id, { project_id: p.id, group_type: 'group' }), added.json);
      await assert.rejects(projectGroups().retrieve(g.id, { project_id: p.id, group_type: 'tenant_group' }), isNotFound);
      const bad = await raw(s, 'GET', `/organization/projects/${p.id}/groups/${g.id}?group_type=team`, s.adminKey);
      assert.equal(bad.status, 400);

      // the role it was added with is the group's role in the project
      const roles = await sdk.admin.organization.projects.groups.roles.list(g.id, { project_id: p.id });
      assert.deepEqual(roles.data.map((r) => r.id), [pr.id]);

      const before = await count('project_groups');
      await assert.rejects(projectGroups().create(p.id, { group_id: g.id, role: pr.id }), isConflict);
      const g2 = await groups().create({ name: uniq('second') });
      const orgRole = await sdk.admin.organization.roles.create({ role_name: uniq('org'), permissions: [] });
      await assert.rejects(projectGroups().create(p.id, { group_id: g2.id, role: orgRole.id }), (e: any) => isBadRequest(e) && e.param === 'role');
      await assert.rejects(projectGroups().create(p.id, { group_id: g2.id, role: 'role_nope' }), isNotFound);
      await assert.rejects(projectGroups().create(p.id, { group_id: 'group_nope', role: pr.id }), isNotFound);
      await assert.rejects(projectGroups().create('proj_nope', { group_id: g2.id, role: pr.id }), isNotFound);
      await assert.rejects(projectGroups().retrieve(g2.id, { project_id: p.id }), isNotFound);
      for (const body of ['{}', `{"group_id": "${g2.id}"}`, `{"role": "${pr.id}"}`, `{"group_id": 1, "role": "${pr.id}"}`]) {
        const res = await raw(s, 'POST', `/organization/projects/${p.id}/groups`, s.adminKey, body);
        assert.equal(res.status, 400, body);
        assertOpenAIError(res.json);
      }
      for (const q of ['limit=-1', 'limit=101', 'order=up', 'after=group_nope']) {
        const res = await raw(s, 'GET', `/organization/projects/${p.id}/groups?${q}`, s.adminKey);
        assert.equal(res.status, 400, q);
      }
      assert.equal(await count('project_groups'), before);

      const del = await raw(s, 'DELETE', `/organization/projects/${p.id}/groups/${g.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/projects/{project_id}/groups/{group_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'project.group.deleted', deleted: true });
      await assert.rejects(projectGroups().retrieve(g.id, { project_id: p.id }), isNotFound);
      await assert.rejects(projectGroups().delete(g.id, { project_id: p.id }), isNotFound);
      assert.equal(await count('role_assignments', ['principal_id', g.id]), 0, 'its project roles went with it');
    });

    test('project groups page with `next`', async () => {
      const p = await newProject();
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'r', permissions: [] });
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const g = await groups().create({ name: uniq('pg') });
        await projectGroups().create(p.id, { group_id: g.id, role: pr.id });
        made.push(g.id);
      }
      const seen: string[] = [];
      for await (const pg of projectGroups().list(p.id, { limit: 2 })) seen.push(pg.group_id);
      assert.deepEqual(seen, made);
      const desc: string[] = [];
      for await (const pg of projectGroups().list(p.id, { limit: 2, order: 'desc' })) desc.push(pg.group_id);
      assert.deepEqual(desc, [...made].reverse());
    });

    test('project group roles: only groups added to the project, only roles of that project', async () => {
      const p = await newProject();
      const other = await newProject();
      const g = await groups().create({ name: uniq('pgr') });
      const outside = await groups().create({ name: uniq('outside') });
      const base = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'base', permissions: [] });
      const extra = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'extra', permissions: ['x.write'] });
      const foreign = await sdk.admin.organization.projects.roles.create(other.id, { role_name: 'extra', permissions: [] });
      await projectGroups().create(p.id, { group_id: g.id, role: base.id });
      const api = sdk.admin.organization.projects.groups.roles;

      const assigned = await raw(s, 'POST', `/projects/${p.id}/groups/${g.id}/roles`, s.adminKey, JSON.stringify({ role_id: extra.id }));
      assert.equal(assigned.status, 200);
      assertMatchesSpec(SPEC, 'post', '/projects/{project_id}/groups/{group_id}/roles', 200, assigned.json);
      assert.equal(assigned.json.object, 'group.role');
      assert.equal(assigned.json.group.id, g.id);

      const list = await raw(s, 'GET', `/projects/${p.id}/groups/${g.id}/roles`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/groups/{group_id}/roles', 200, list.json);
      assert.deepEqual(list.json.data.map((x: any) => x.id), [base.id, extra.id]);
      const one = await raw(s, 'GET', `/projects/${p.id}/groups/${g.id}/roles/${extra.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/projects/{project_id}/groups/{group_id}/roles/{role_id}', 200, one.json);
      assert.equal((await api.retrieve(extra.id, { project_id: p.id, group_id: g.id })).name, 'extra');
      // project roles are not organization roles of the group
      assert.deepEqual((await groups().roles.list(g.id)).data, []);

      const before = await count('role_assignments');
      await assert.rejects(api.create(outside.id, { project_id: p.id, role_id: extra.id }), isNotFound);
      await assert.rejects(api.create(g.id, { project_id: p.id, role_id: foreign.id }), isBadRequest);
      await assert.rejects(api.create(g.id, { project_id: p.id, role_id: extra.id }), isConflict);
      await assert.rejects(api.list(outside.id, { project_id: p.id }), isNotFound);
      assert.equal(await count('role_assignments'), before);

      const del = await raw(s, 'DELETE', `/projects/${p.id}/groups/${g.id}/roles/${extra.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/projects/{project_id}/groups/{group_id}/roles/{role_id}', 200, del.json);
      assert.deepEqual(del.json, { object: 'group.role.deleted', deleted: true });
      await assert.rejects(api.retrieve(extra.id, { project_id: p.id, group_id: g.id }), isNotFound);
    });

    test('an archived project refuses new groups and changes, and stays readable', async () => {
      const p = await newProject();
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'r', permissions: [] });
      const g = await groups().create({ name: uniq('arch') });
      const g2 = await groups().create({ name: uniq('arch2') });
      await projectGroups().create(p.id, { group_id: g.id, role: pr.id });
      await s.rt.core.projects.archive(SYSTEM, orgId, p.id);
      const before = await count('project_groups');
      await assert.rejects(projectGroups().create(p.id, { group_id: g2.id, role: pr.id }), (e: any) => isBadRequest(e) && e.code === 'project_archived');
      await assert.rejects(projectGroups().delete(g.id, { project_id: p.id }), isBadRequest);
      await assert.rejects(sdk.admin.organization.projects.groups.roles.delete(pr.id, { project_id: p.id, group_id: g.id }), isBadRequest);
      assert.equal(await count('project_groups'), before);
      assert.deepEqual((await projectGroups().list(p.id)).data.map((x) => x.group_id), [g.id]);
      assert.equal((await projectGroups().retrieve(g.id, { project_id: p.id })).group_id, g.id);
    });

    test('deleting a group removes its members, project accesses and role assignments', async () => {
      const p = await newProject();
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'r', permissions: [] });
      const r = await sdk.admin.organization.roles.create({ role_name: uniq('gone'), permissions: [] });
      const g = await groups().create({ name: uniq('doomed') });
      const u = await newUser();
      await groups().users.create(g.id, { user_id: u.id });
      await groups().roles.create(g.id, { role_id: r.id });
      await projectGroups().create(p.id, { group_id: g.id, role: pr.id });
      await groups().delete(g.id);
      assert.equal(await count('group_members', ['group_id', g.id]), 0);
      assert.equal(await count('project_groups', ['group_id', g.id]), 0);
      assert.equal(await count('role_assignments', ['principal_id', g.id]), 0);
      assert.deepEqual((await projectGroups().list(p.id)).data, []);
      // deleting a role removes the group's assignment of it
      const g2 = await groups().create({ name: uniq('keeps') });
      await groups().roles.create(g2.id, { role_id: r.id });
      await sdk.admin.organization.roles.delete(r.id);
      assert.deepEqual((await groups().roles.list(g2.id)).data, []);
    });

    test("another organization never sees or changes this organization's groups", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other groups', slug: 'other-groups' });
      const them = client(s, other.adminKey.secret);
      const p = await newProject();
      const pr = await sdk.admin.organization.projects.roles.create(p.id, { role_name: 'r', permissions: [] });
      const g = await groups().create({ name: uniq('mine') });
      const u = await newUser();
      await groups().users.create(g.id, { user_id: u.id });

      assert.ok(!(await them.admin.organization.groups.list()).data.some((x) => x.id === g.id));
      await assert.rejects(them.admin.organization.groups.retrieve(g.id), isNotFound);
      await assert.rejects(them.admin.organization.groups.update(g.id, { name: 'stolen' }), isNotFound);
      await assert.rejects(them.admin.organization.groups.delete(g.id), isNotFound);
      await assert.rejects(them.admin.organization.groups.users.list(g.id), isNotFound);
      await assert.rejects(them.admin.organization.groups.users.retrieve(u.id, { group_id: g.id }), isNotFound);
      await assert.rejects(them.admin.organization.groups.users.delete(u.id, { group_id: g.id }), isNotFound);
      await assert.rejects(them.admin.organization.groups.roles.list(g.id), isNotFound);
      await assert.rejects(them.admin.organization.projects.groups.list(p.id), isNotFound);
      await assert.rejects(them.admin.organization.projects.groups.create(p.id, { group_id: g.id, role: pr.id }), isNotFound);
      // their group cannot take our user, nor our project take their group
      const theirs = await them.admin.organization.groups.create({ name: 'theirs' });
      await assert.rejects(them.admin.organization.groups.users.create(theirs.id, { user_id: u.id }), isNotFound);
      await assert.rejects(projectGroups().create(p.id, { group_id: theirs.id, role: pr.id }), isNotFound);
      const res = await raw(s, 'GET', `/organization/groups?after=${g.id}`, other.adminKey.secret);
      assert.equal(res.status, 400, 'a foreign cursor is refused');
      assert.equal((await groups().retrieve(g.id)).name, g.name);
      assert.deepEqual((await groups().users.list(g.id)).data.map((x) => x.id), [u.id]);
    });
  });
}
