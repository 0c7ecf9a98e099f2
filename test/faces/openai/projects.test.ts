// OpenAI face: projects, organization users and invites, project users, service accounts and
// project API keys, through the official SDK against a real server, checked against the spec.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { http } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const ROOT_KEY = 'r'.repeat(0) + 'f3b1c9a07d2e4b6a8c5d1e0f9a7b3c2d4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b';

const raw = http;

const is = (cls: any) => (e: unknown) => e instanceof cls;

for (const dialect of await testDialects()) {
  describe(`OpenAI projects and members (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI['admin']['organization'];
    let orgId: string;
    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY });
      sdk = new OpenAI({ adminAPIKey: s.adminKey, baseURL: `${s.url}/v1`, maxRetries: 0 }).admin.organization;
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    test('projects: create, retrieve, update, list with paging, archive', async () => {
      const p = await sdk.projects.create({ name: 'Alpha', external_key_id: 'ext-1' });
      assert.equal(p.object, 'organization.project');
      assert.equal(p.status, 'active');
      assert.equal(p.archived_at, null);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}', 200, (await raw(s, 'GET', `/v1/organization/projects/${p.id}`, s.adminKey)).json);
      const u = await sdk.projects.update(p.id, { name: 'Alpha 2' });
      assert.equal(u.name, 'Alpha 2');
      assert.equal((await sdk.projects.retrieve(p.id)).name, 'Alpha 2');
      for (let i = 0; i < 5; i++) await sdk.projects.create({ name: `P${i}` });
      const seen: string[] = [];
      for await (const x of sdk.projects.list({ limit: 2 })) seen.push(x.id);
      assert.equal(seen.length, 6);
      assert.equal(new Set(seen).size, 6);
      assertMatchesSpec(SPEC, 'get', '/organization/projects', 200, (await raw(s, 'GET', '/v1/organization/projects?limit=2', s.adminKey)).json);
      const archived = await sdk.projects.archive(p.id);
      assert.equal(archived.status, 'archived');
      assert.ok(archived.archived_at! >= archived.created_at);
      assertMatchesSpec(SPEC, 'post', '/organization/projects/{project_id}/archive', 200, (await raw(s, 'POST', `/v1/organization/projects/${p.id}/archive`, s.adminKey)).json);
      const active: string[] = [];
      for await (const x of sdk.projects.list()) active.push(x.id);
      assert.ok(!active.includes(p.id));
      const all: string[] = [];
      for await (const x of sdk.projects.list({ include_archived: true })) all.push(x.id);
      assert.ok(all.includes(p.id));
      await assert.rejects(sdk.projects.update(p.id, { name: 'nope' }), is(OpenAI.BadRequestError));
      await assert.rejects(sdk.projects.retrieve('proj_missing'), is(OpenAI.NotFoundError));
      for (const body of [{}, { name: '' }, { name: 7 }, { name: 'x', residency: 'MARS' }]) {
        const res = await raw(s, 'POST', '/v1/organization/projects', s.adminKey, body);
        assert.equal(res.status, 400, JSON.stringify(body));
      }
    });

    test('invites, acceptance through the platform API, organization users', async () => {
      const proj = await sdk.projects.create({ name: 'Invited into' });
      const inv = await sdk.invites.create({ email: 'Ann@Example.com', role: 'reader', projects: [{ id: proj.id, role: 'member' }] });
      assert.equal(inv.status, 'pending');
      assert.equal(inv.email, 'ann@example.com');
      assertMatchesSpec(SPEC, 'get', '/organization/invites/{invite_id}', 200, (await raw(s, 'GET', `/v1/organization/invites/${inv.id}`, s.adminKey)).json);
      await assert.rejects(sdk.invites.create({ email: 'ann@example.com', role: 'reader' }), is(OpenAI.BadRequestError));
      await assert.rejects(sdk.invites.create({ email: 'not-an-email', role: 'reader' }), is(OpenAI.BadRequestError));
      await assert.rejects(sdk.invites.create({ email: 'b@example.com', role: 'god' as any }), is(OpenAI.BadRequestError));
      const listed = await raw(s, 'GET', '/v1/organization/invites', s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/invites', 200, listed.json);
      // the admin key cannot accept; the operator can
      const denied = await raw(s, 'POST', `/platform/v1/organizations/main/invites/${inv.id}/accept`, s.adminKey, {});
      assert.equal(denied.status, 401);
      const ok = await raw(s, 'POST', `/platform/v1/organizations/main/invites/${inv.id}/accept`, ROOT_KEY, { name: 'Ann' });
      assert.equal(ok.status, 200);
      const userId = ok.json.user.id as string;
      assert.equal((await sdk.invites.retrieve(inv.id)).status, 'accepted');
      await assert.rejects(sdk.invites.delete(inv.id), is(OpenAI.BadRequestError));
      const again = await raw(s, 'POST', `/platform/v1/organizations/main/invites/${inv.id}/accept`, ROOT_KEY, {});
      assert.equal(again.status, 400);
      // the user is in the organization and in the invite's project
      const user = await sdk.users.retrieve(userId);
      assert.equal(user.email, 'ann@example.com');
      assert.equal(user.role, 'reader');
      assertMatchesSpec(SPEC, 'get', '/organization/users/{user_id}', 200, (await raw(s, 'GET', `/v1/organization/users/${userId}`, s.adminKey)).json);
      const pu = await sdk.projects.users.retrieve(userId, { project_id: proj.id });
      assert.equal(pu.role, 'member');
      const filtered = await raw(s, 'GET', '/v1/organization/users?emails[]=ann@example.com', s.adminKey);
      assert.deepEqual(filtered.json.data.map((u: any) => u.id), [userId]);
      assertMatchesSpec(SPEC, 'get', '/organization/users', 200, filtered.json);
      assert.equal((await sdk.users.update(userId, { role: 'owner' })).role, 'owner');
      // a pending invite can be deleted
      const inv2 = await sdk.invites.create({ email: 'bob@example.com', role: 'reader' });
      const del = await raw(s, 'DELETE', `/v1/organization/invites/${inv2.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/invites/{invite_id}', 200, del.json);
      await assert.rejects(sdk.invites.retrieve(inv2.id), is(OpenAI.NotFoundError));
      // the last owner cannot leave
      const owners = (await s.rt.core.users.listMembers(SYSTEM, orgId, {}, { limit: 100 })).items.filter((m) => m.role === 'owner');
      assert.equal(owners.length, 2);
      await sdk.users.delete(userId);
      const bootstrapOwner = owners.find((o) => o.id !== userId)!;
      await assert.rejects(sdk.users.update(bootstrapOwner.id, { role: 'reader' }), is(OpenAI.BadRequestError));
      await assert.rejects(sdk.users.retrieve(userId), is(OpenAI.NotFoundError));
    });

    test('project users: add, change role, remove; their keys go with them', async () => {
      const proj = await sdk.projects.create({ name: 'Team' });
      const m = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'carol@example.com', role: 'reader' });
      await assert.rejects(sdk.projects.users.create(proj.id, { user_id: m.id, role: 'boss' }), is(OpenAI.BadRequestError));
      const added = await sdk.projects.users.create(proj.id, { email: 'carol@example.com', role: 'member' });
      assert.equal(added.id, m.id);
      await assert.rejects(sdk.projects.users.create(proj.id, { user_id: m.id, role: 'member' }), is(OpenAI.ConflictError));
      await assert.rejects(sdk.projects.users.create(proj.id, { user_id: 'user-nobody', role: 'member' }), is(OpenAI.NotFoundError));
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/users', 200, (await raw(s, 'GET', `/v1/organization/projects/${proj.id}/users`, s.adminKey)).json);
      assert.equal((await sdk.projects.users.update(m.id, { project_id: proj.id, role: 'owner' })).role, 'owner');
      // a key for the user, issued by the operator
      const issued = await raw(s, 'POST', `/platform/v1/organizations/main/projects/${proj.id}/api_keys`, ROOT_KEY, { user_id: m.id, name: 'carol key' });
      assert.equal(issued.status, 201);
      assert.match(issued.json.value, /^sk-proj-/);
      const keys = await sdk.projects.apiKeys.list(proj.id);
      assert.equal(keys.data.length, 1);
      assert.equal(keys.data[0]!.owner.type, 'user');
      assert.equal(keys.data[0]!.owner.user!.email, 'carol@example.com');
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/api_keys', 200, (await raw(s, 'GET', `/v1/organization/projects/${proj.id}/api_keys`, s.adminKey)).json);
      assert.ok(await s.rt.core.keys.verify(issued.json.value));
      const del = await raw(s, 'DELETE', `/v1/organization/projects/${proj.id}/users/${m.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/projects/{project_id}/users/{user_id}', 200, del.json);
      assert.equal(await s.rt.core.keys.verify(issued.json.value), null, 'the removed user’s key is refused at once');
      assert.equal((await sdk.projects.apiKeys.list(proj.id)).data.length, 0);
    });

    test('service accounts and project API keys; a deleted key is refused on the very next request', async () => {
      const proj = await sdk.projects.create({ name: 'Robots' });
      const sa = await sdk.projects.serviceAccounts.create(proj.id, { name: 'bot' });
      assert.equal(sa.role, 'member');
      assert.match(sa.api_key!.value, /^sk-svcacct-/);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/service_accounts/{service_account_id}', 200, (await raw(s, 'GET', `/v1/organization/projects/${proj.id}/service_accounts/${sa.id}`, s.adminKey)).json);
      const only = await raw(s, 'POST', `/v1/organization/projects/${proj.id}/service_accounts`, s.adminKey, { name: 'bare', create_service_account_only: true });
      assertMatchesSpec(SPEC, 'post', '/organization/projects/{project_id}/service_accounts', 200, only.json);
      assert.equal(only.json.api_key, null);
      assert.equal(only.json.role, 'none');
      const extra = await sdk.projects.serviceAccounts.apiKeys.create(sa.id, { project_id: proj.id, name: 'second', expires_in_seconds: 600 });
      assert.match(extra.value, /^sk-svcacct-/);
      const renamed = await sdk.projects.serviceAccounts.update(sa.id, { project_id: proj.id, name: 'bot 2', role: 'owner' });
      assert.equal(renamed.name, 'bot 2');
      const list = await raw(s, 'GET', `/v1/organization/projects/${proj.id}/service_accounts`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/service_accounts', 200, list.json);
      assert.equal(list.json.data.length, 2);
      // project keys: list, retrieve, update, delete
      const keys = await sdk.projects.apiKeys.list(proj.id);
      assert.equal(keys.data.length, 2);
      assert.ok(keys.data.every((k) => k.owner.type === 'service_account' && k.owner.service_account!.id === sa.id));
      const one = await raw(s, 'GET', `/v1/organization/projects/${proj.id}/api_keys/${extra.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/api_keys/{api_key_id}', 200, one.json);
      assert.ok(!JSON.stringify(one.json).includes(extra.value));
      const upd = await sdk.projects.apiKeys.update(extra.id, { project_id: proj.id, scopes: ['model.read'] });
      assert.equal(upd.id, extra.id);
      assert.ok(await s.rt.core.keys.verify(extra.value));
      const del = await raw(s, 'DELETE', `/v1/organization/projects/${proj.id}/api_keys/${extra.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/projects/{project_id}/api_keys/{api_key_id}', 200, del.json);
      assert.equal(await s.rt.core.keys.verify(extra.value), null);
      // a project key is not an admin key
      const asAdmin = await raw(s, 'GET', '/v1/organization/projects', sa.api_key!.value);
      assert.equal(asAdmin.status, 403);
      // deleting the service account deletes its keys
      const sadel = await raw(s, 'DELETE', `/v1/organization/projects/${proj.id}/service_accounts/${sa.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'delete', '/organization/projects/{project_id}/service_accounts/{service_account_id}', 200, sadel.json);
      assert.equal(await s.rt.core.keys.verify(sa.api_key!.value), null);
      // archived projects take nothing new
      await sdk.projects.archive(proj.id);
      await assert.rejects(sdk.projects.serviceAccounts.create(proj.id, { name: 'late' }), is(OpenAI.BadRequestError));
      await assert.rejects(sdk.projects.serviceAccounts.list(proj.id), is(OpenAI.BadRequestError));
      // bad bodies
      const proj2 = await sdk.projects.create({ name: 'Robots 2' });
      for (const body of [{}, { name: '' }, { name: 'x', expires_in_seconds: 0 }, { name: 'x', create_service_account_only: 'yes' }]) {
        assert.equal((await raw(s, 'POST', `/v1/organization/projects/${proj2.id}/service_accounts`, s.adminKey, body)).status, 400, JSON.stringify(body));
      }
      assert.equal((await sdk.projects.serviceAccounts.list(proj2.id)).data.length, 0);
    });

    test("another organization never sees or changes this organization's projects and members", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: `other-${dialect}` });
      const theirs = new OpenAI({ adminAPIKey: other.adminKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 }).admin.organization;
      const mine = await sdk.projects.create({ name: 'Private' });
      const sa = await sdk.projects.serviceAccounts.create(mine.id, { name: 'private bot' });
      await assert.rejects(theirs.projects.retrieve(mine.id), is(OpenAI.NotFoundError));
      await assert.rejects(theirs.projects.update(mine.id, { name: 'pwned' }), is(OpenAI.NotFoundError));
      await assert.rejects(theirs.projects.archive(mine.id), is(OpenAI.NotFoundError));
      await assert.rejects(theirs.projects.serviceAccounts.retrieve(sa.id, { project_id: mine.id }), is(OpenAI.NotFoundError));
      await assert.rejects(theirs.projects.apiKeys.delete(sa.api_key!.id, { project_id: mine.id }), is(OpenAI.NotFoundError));
      const list: string[] = [];
      for await (const p of theirs.projects.list({ include_archived: true })) list.push(p.id);
      assert.deepEqual(list, []);
      assert.equal((await sdk.projects.retrieve(mine.id)).name, 'Private');
      assert.ok(await s.rt.core.keys.verify(sa.api_key!.value));
    });
  });
}
