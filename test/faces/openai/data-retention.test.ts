// OpenAI face, data retention (GET/POST /organization/data_retention and
// …/projects/{project_id}/data_retention): stored, audited and shown in the spec's shapes, through
// the official `openai` SDK against a real server on every dialect. keyplane keeps no request or
// response bodies whatever the setting says: what it records of a request is checked here too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const ORG = '/organization/data_retention';
const PROJECT = '/organization/projects/{project_id}/data_retention';
const ORG_TYPES = ['zero_data_retention', 'modified_abuse_monitoring', 'enhanced_zero_data_retention', 'enhanced_modified_abuse_monitoring'] as const;
const PROJECT_TYPES = ['organization_default', 'none', ...ORG_TYPES] as const;

for (const dialect of await testDialects()) {
  describe(`OpenAI data retention (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    const purl = (p: string) => `/v1/organization/projects/${p}/data_retention`;
    const audits = (type: string) =>
      s.rt.core.store.db.selectFrom('audit_logs').select(['payload', 'target_id', 'project_id']).where('org_id', '=', orgId).where('type', '=', type).orderBy('created_at').orderBy('id').execute();

    test('the organization: zero data retention until set; every type can be set, and sticks', async () => {
      const res = await http(s, 'GET', `/v1${ORG}`, s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', ORG, 200, res.json);
      assert.deepEqual(res.json, { object: 'organization.data_retention', type: 'zero_data_retention' });
      for (const t of ORG_TYPES) {
        const set = await http(s, 'POST', `/v1${ORG}`, s.adminKey, { retention_type: t });
        assert.equal(set.status, 200, t);
        assertMatchesSpec(SPEC, 'post', ORG, 200, set.json);
        assert.deepEqual(set.json, { object: 'organization.data_retention', type: t });
      }
      const sdkSet = await sdk.admin.organization.dataRetention.update({ retention_type: 'modified_abuse_monitoring' });
      assert.deepEqual(sdkSet, { object: 'organization.data_retention', type: 'modified_abuse_monitoring' });
      assert.deepEqual(await sdk.admin.organization.dataRetention.retrieve(), sdkSet);
      const events = await audits('organization.data_retention_updated');
      assert.deepEqual(events.map((e) => JSON.parse(e.payload).retentionType), [...ORG_TYPES, 'modified_abuse_monitoring']);
      assert.ok(events.every((e) => e.target_id === orgId));
    });

    test('a project: organization_default until set; every type can be set, and sticks', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'retention' });
      const res = await http(s, 'GET', purl(p.id), s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', PROJECT, 200, res.json);
      assert.deepEqual(res.json, { object: 'project.data_retention', type: 'organization_default' });
      for (const t of PROJECT_TYPES) {
        const set = await http(s, 'POST', purl(p.id), s.adminKey, { retention_type: t });
        assert.equal(set.status, 200, t);
        assertMatchesSpec(SPEC, 'post', PROJECT, 200, set.json);
        assert.deepEqual(set.json, { object: 'project.data_retention', type: t });
      }
      const sdkSet = await sdk.admin.organization.projects.dataRetention.update(p.id, { retention_type: 'none' });
      assert.deepEqual(sdkSet, { object: 'project.data_retention', type: 'none' });
      assert.deepEqual(await sdk.admin.organization.projects.dataRetention.retrieve(p.id), sdkSet);
      const q = await sdk.admin.organization.projects.create({ name: 'other project' });
      assert.equal((await sdk.admin.organization.projects.dataRetention.retrieve(q.id)).type, 'organization_default', 'per project');
      const events = (await audits('project.data_retention_updated')).filter((e) => e.project_id === p.id);
      assert.deepEqual(events.map((e) => JSON.parse(e.payload).retentionType), [...PROJECT_TYPES, 'none']);
    });

    test('bad input is a 400 in the envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad' });
      const orgBefore = (await http(s, 'GET', `/v1${ORG}`, s.adminKey)).json;
      const auditsBefore = (await audits('organization.data_retention_updated')).length + (await audits('project.data_retention_updated')).length;
      for (const body of [{}, { retention_type: 'forever' }, { retention_type: null }, { retention_type: 30 }, { retention_type: 'organization_default' }, { retention_type: 'none' }, '{"retention_type"']) {
        const res = await http(s, 'POST', `/v1${ORG}`, s.adminKey, body);
        assert.equal(res.status, 400, `org ${JSON.stringify(body)}`);
        assertOpenAIError(res.json);
        if (typeof body !== 'string') assert.equal(res.json.error.param, 'retention_type');
      }
      for (const body of [{}, { retention_type: 'forever' }, { retention_type: ['none'] }, '{"retention_type"']) {
        const res = await http(s, 'POST', purl(p.id), s.adminKey, body);
        assert.equal(res.status, 400, `project ${JSON.stringify(body)}`);
        assertOpenAIError(res.json);
      }
      assert.deepEqual((await http(s, 'GET', `/v1${ORG}`, s.adminKey)).json, orgBefore);
      assert.equal((await sdk.admin.organization.projects.dataRetention.retrieve(p.id)).type, 'organization_default');
      assert.equal((await audits('organization.data_retention_updated')).length + (await audits('project.data_retention_updated')).length, auditsBefore);
    });

    test("unknown and archived projects; another organization's settings are its own", async () => {
      await assert.rejects(sdk.admin.organization.projects.dataRetention.retrieve('proj_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.projects.dataRetention.update('proj_nope', { retention_type: 'none' }), (e: any) => e instanceof OpenAI.NotFoundError);
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-retention' });
      const otherSdk = openaiClient(s, other.adminKey.secret);
      await assert.rejects(otherSdk.admin.organization.projects.dataRetention.retrieve(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.projects.dataRetention.update(p.id, { retention_type: 'none' }), (e: any) => e instanceof OpenAI.NotFoundError);
      const mine = await sdk.admin.organization.dataRetention.update({ retention_type: 'enhanced_zero_data_retention' });
      await otherSdk.admin.organization.dataRetention.update({ retention_type: 'modified_abuse_monitoring' });
      assert.deepEqual(await sdk.admin.organization.dataRetention.retrieve(), mine, "the other organization's write is its own");
      assert.equal((await otherSdk.admin.organization.dataRetention.retrieve()).type, 'modified_abuse_monitoring');
      await sdk.admin.organization.projects.archive(p.id);
      await assert.rejects(sdk.admin.organization.projects.dataRetention.update(p.id, { retention_type: 'none' }), (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived');
      assert.equal((await sdk.admin.organization.projects.dataRetention.retrieve(p.id)).type, 'organization_default');
    });
  });
}
