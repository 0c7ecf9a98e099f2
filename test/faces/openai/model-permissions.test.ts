// OpenAI face, project model permissions (GET/POST/DELETE …/projects/{project_id}/model_permissions):
// through the official `openai` SDK against a real server, on every dialect; shapes checked against
// the spec extract. What the gateway does with them: test/gateway/project-settings.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const PATH = '/organization/projects/{project_id}/model_permissions';

for (const dialect of await testDialects()) {
  describe(`OpenAI project model permissions (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
    });
    after(async () => s?.close());

    const url = (p: string) => `/v1/organization/projects/${p}/model_permissions`;
    const audits = (projectId: string) =>
      s.rt.core.store.db.selectFrom('audit_logs').select(['type', 'payload', 'target_id']).where('project_id', '=', projectId).where('type', 'like', 'project.model_permissions%').orderBy('created_at').orderBy('id').execute();

    test('a new project has none: an empty deny list (every model allowed)', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'fresh' });
      const res = await http(s, 'GET', url(p.id), s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', PATH, 200, res.json);
      assert.deepEqual(res.json, { object: 'project.model_permissions', mode: 'deny_list', model_ids: [] });
      assert.deepEqual(await sdk.admin.organization.projects.modelPermissions.retrieve(p.id), res.json);
    });

    test('update replaces the policy, sticks, and is audited; delete removes it', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'allow' });
      const set = await sdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: ['gpt-4o', 'gpt-4.1', 'gpt-4o'] });
      assert.deepEqual(set, { object: 'project.model_permissions', mode: 'allow_list', model_ids: ['gpt-4o', 'gpt-4.1'] }, 'duplicates kept once, in order');
      const got = await http(s, 'GET', url(p.id), s.adminKey);
      assertMatchesSpec(SPEC, 'get', PATH, 200, got.json);
      assert.deepEqual(got.json, set);

      const raw = await http(s, 'POST', url(p.id), s.adminKey, { mode: 'deny_list', model_ids: ['o3'] });
      assert.equal(raw.status, 200);
      assertMatchesSpec(SPEC, 'post', PATH, 200, raw.json);
      assert.deepEqual(raw.json, { object: 'project.model_permissions', mode: 'deny_list', model_ids: ['o3'] }, 'the whole policy is replaced');
      const empty = await sdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: [] });
      assert.deepEqual(empty.model_ids, [], 'an empty allow list is a valid policy (no model allowed)');

      const del = await http(s, 'DELETE', url(p.id), s.adminKey);
      assert.equal(del.status, 200);
      assertMatchesSpec(SPEC, 'delete', PATH, 200, del.json);
      assert.deepEqual(del.json, { object: 'project.model_permissions.deleted', deleted: true });
      assert.deepEqual(await sdk.admin.organization.projects.modelPermissions.retrieve(p.id), { object: 'project.model_permissions', mode: 'deny_list', model_ids: [] });
      const again = await sdk.admin.organization.projects.modelPermissions.delete(p.id);
      assert.deepEqual(again, { object: 'project.model_permissions.deleted', deleted: true }, 'deleting is idempotent');

      const events = await audits(p.id);
      assert.deepEqual(
        events.map((e) => [e.type, JSON.parse(e.payload)]),
        [
          ['project.model_permissions_updated', { mode: 'allow_list', modelIds: ['gpt-4o', 'gpt-4.1'] }],
          ['project.model_permissions_updated', { mode: 'deny_list', modelIds: ['o3'] }],
          ['project.model_permissions_updated', { mode: 'allow_list', modelIds: [] }],
          ['project.model_permissions_deleted', { mode: 'allow_list' }],
        ],
        'every change once; the second delete changed nothing and is not recorded',
      );
      assert.ok(events.every((e) => e.target_id === p.id));
    });

    test('bad input is a 400 in the envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad' });
      await sdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: ['gpt-4o'] });
      const before = (await http(s, 'GET', url(p.id), s.adminKey)).json;
      const auditsBefore = (await audits(p.id)).length;
      const cases: Array<[unknown, string | null]> = [
        [{ mode: 'block_list', model_ids: [] }, 'mode'],
        [{ model_ids: ['gpt-4o'] }, 'mode'],
        [{ mode: 'allow_list' }, 'model_ids'],
        [{ mode: 'allow_list', model_ids: 'gpt-4o' }, 'model_ids'],
        [{ mode: 'allow_list', model_ids: [42] }, 'model_ids.0'],
        [{ mode: 'allow_list', model_ids: [''] }, 'model_ids.0'],
        [{ mode: 'allow_list', model_ids: ['gpt-4o', 'no-such-model'] }, 'model_ids'],
        [{ mode: null, model_ids: [] }, 'mode'],
        [{ mode: 'allow_list', model_ids: Array.from({ length: 1001 }, () => 'gpt-4o') }, 'model_ids'],
        ['{"mode": "allow_list", ', null],
        [{}, 'mode'],
      ];
      for (const [body, param] of cases) {
        const res = await http(s, 'POST', url(p.id), s.adminKey, body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 100));
        assertOpenAIError(res.json);
        if (param) assert.equal(res.json.error.param, param, JSON.stringify(body).slice(0, 100));
      }
      const unknown = await http(s, 'POST', url(p.id), s.adminKey, { mode: 'allow_list', model_ids: ['no-such-model'] });
      assert.equal(unknown.json.error.code, 'model_not_found');
      assert.match(unknown.json.error.message, /no-such-model/);
      assert.deepEqual((await http(s, 'GET', url(p.id), s.adminKey)).json, before);
      assert.equal((await audits(p.id)).length, auditsBefore);
    });

    test('unknown and archived projects; another organization sees nothing', async () => {
      for (const call of [
        () => sdk.admin.organization.projects.modelPermissions.retrieve('proj_nope'),
        () => sdk.admin.organization.projects.modelPermissions.update('proj_nope', { mode: 'allow_list', model_ids: [] }),
        () => sdk.admin.organization.projects.modelPermissions.delete('proj_nope'),
      ]) {
        await assert.rejects(call(), (e: any) => e instanceof OpenAI.NotFoundError);
      }
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      await sdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'deny_list', model_ids: ['o3'] });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-model-permissions' });
      const otherSdk = openaiClient(s, other.adminKey.secret);
      for (const call of [
        () => otherSdk.admin.organization.projects.modelPermissions.retrieve(p.id),
        () => otherSdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: [] }),
        () => otherSdk.admin.organization.projects.modelPermissions.delete(p.id),
      ]) {
        await assert.rejects(call(), (e: any) => e instanceof OpenAI.NotFoundError);
      }
      const res = await http(s, 'GET', url(p.id), other.adminKey.secret);
      assert.equal(res.status, 404);
      assertOpenAIError(res.json);
      assert.deepEqual((await sdk.admin.organization.projects.modelPermissions.retrieve(p.id)).model_ids, ['o3'], 'unchanged');

      await sdk.admin.organization.projects.archive(p.id);
      await assert.rejects(
        sdk.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: [] }),
        (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived',
      );
      await assert.rejects(sdk.admin.organization.projects.modelPermissions.delete(p.id), (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived');
      assert.deepEqual((await sdk.admin.organization.projects.modelPermissions.retrieve(p.id)).model_ids, ['o3'], 'an archived project can be read');
    });
  });
}
