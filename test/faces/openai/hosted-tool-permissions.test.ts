// OpenAI face, project hosted tool permissions (GET/POST …/projects/{project_id}/hosted_tool_permissions):
// through the official `openai` SDK against a real server, on every dialect; shapes checked against
// the spec extract. The gateway's refusals: test/gateway/project-settings.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const PATH = '/organization/projects/{project_id}/hosted_tool_permissions';
const ALL_ON = { file_search: { enabled: true }, web_search: { enabled: true }, image_generation: { enabled: true }, mcp: { enabled: true }, code_interpreter: { enabled: true } };

for (const dialect of await testDialects()) {
  describe(`OpenAI project hosted tool permissions (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
    });
    after(async () => s?.close());

    const url = (p: string) => `/v1/organization/projects/${p}/hosted_tool_permissions`;
    const audits = (projectId: string) =>
      s.rt.core.store.db.selectFrom('audit_logs').select(['type', 'payload']).where('project_id', '=', projectId).where('type', '=', 'project.hosted_tool_permissions_updated').orderBy('created_at').orderBy('id').execute();

    test('every tool is enabled until disabled', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'fresh' });
      const res = await http(s, 'GET', url(p.id), s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', PATH, 200, res.json);
      assert.deepEqual(res.json, ALL_ON);
      assert.deepEqual(await sdk.admin.organization.projects.hostedToolPermissions.retrieve(p.id), ALL_ON);
    });

    test('update sets the given tools only (null or absent: unchanged), sticks, and is audited', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'tools' });
      const upd = await sdk.admin.organization.projects.hostedToolPermissions.update(p.id, { web_search: { enabled: false }, mcp: { enabled: false }, file_search: null });
      assert.deepEqual(upd, { ...ALL_ON, web_search: { enabled: false }, mcp: { enabled: false } });
      const raw = await http(s, 'POST', url(p.id), s.adminKey, { mcp: { enabled: true }, code_interpreter: { enabled: false } });
      assert.equal(raw.status, 200);
      assertMatchesSpec(SPEC, 'post', PATH, 200, raw.json);
      assert.deepEqual(raw.json, { ...ALL_ON, web_search: { enabled: false }, code_interpreter: { enabled: false } });
      const same = await http(s, 'POST', url(p.id), s.adminKey, {});
      assert.deepEqual(same.json, raw.json, 'an empty update changes nothing');
      const got = await http(s, 'GET', url(p.id), s.adminKey);
      assertMatchesSpec(SPEC, 'get', PATH, 200, got.json);
      assert.deepEqual(got.json, raw.json);
      assert.deepEqual(
        (await audits(p.id)).map((e) => JSON.parse(e.payload)),
        [{ changes: { web_search: false, mcp: false } }, { changes: { mcp: true, code_interpreter: false } }],
      );
      const q = await sdk.admin.organization.projects.create({ name: 'untouched' });
      assert.deepEqual(await sdk.admin.organization.projects.hostedToolPermissions.retrieve(q.id), ALL_ON, 'another project keeps the defaults');
    });

    test('bad input is a 400 in the envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad' });
      await sdk.admin.organization.projects.hostedToolPermissions.update(p.id, { image_generation: { enabled: false } });
      const before = (await http(s, 'GET', url(p.id), s.adminKey)).json;
      const cases: Array<[unknown, string | null]> = [
        [{ web_search: { enabled: 'no' } }, 'web_search'],
        [{ web_search: {} }, 'web_search'],
        [{ web_search: true }, 'web_search'],
        [{ mcp: { enabled: null } }, 'mcp'],
        [{ file_search: { enabled: false }, code_interpreter: { enabled: 1 } }, 'code_interpreter'],
        ['[1, 2', null],
        ['[]', null],
      ];
      for (const [body, param] of cases) {
        const res = await http(s, 'POST', url(p.id), s.adminKey, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assertOpenAIError(res.json);
        if (param) assert.ok(res.json.error.param?.startsWith(param), `${JSON.stringify(body)}: ${res.json.error.param}`);
      }
      assert.deepEqual((await http(s, 'GET', url(p.id), s.adminKey)).json, before);
      assert.equal((await audits(p.id)).length, 1);
    });

    test('unknown and archived projects; another organization sees nothing', async () => {
      await assert.rejects(sdk.admin.organization.projects.hostedToolPermissions.retrieve('proj_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.projects.hostedToolPermissions.update('proj_nope', { mcp: { enabled: false } }), (e: any) => e instanceof OpenAI.NotFoundError);
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-hosted-tools' });
      const otherSdk = openaiClient(s, other.adminKey.secret);
      await assert.rejects(otherSdk.admin.organization.projects.hostedToolPermissions.retrieve(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.projects.hostedToolPermissions.update(p.id, { mcp: { enabled: false } }), (e: any) => e instanceof OpenAI.NotFoundError);
      assert.deepEqual(await sdk.admin.organization.projects.hostedToolPermissions.retrieve(p.id), ALL_ON, 'unchanged');
      await sdk.admin.organization.projects.archive(p.id);
      await assert.rejects(
        sdk.admin.organization.projects.hostedToolPermissions.update(p.id, { mcp: { enabled: false } }),
        (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived',
      );
      assert.deepEqual(await sdk.admin.organization.projects.hostedToolPermissions.retrieve(p.id), ALL_ON);
    });
  });
}
