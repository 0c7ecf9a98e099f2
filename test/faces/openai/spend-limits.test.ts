// OpenAI face, hard spend limits of the organization and of a project: get, create or replace,
// delete, through the official `openai` SDK against a real server, on SQLite and PostgreSQL; every
// answer checked against the spec, every change audited, bad input a 400 that changes nothing,
// another organization's project a 404. Enforcement by the gateway: test/gateway/spend.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const ORG = '/organization/spend_limit';
const PROJECT = '/organization/projects/{project_id}/spend_limit';

for (const dialect of await testDialects()) {
  describe(`OpenAI spend limits (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    const audits = async (type: string) => s.rt.store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', orgId).where('type', '=', type).orderBy('id').execute();

    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    test('organization limit: none (404), set, replace, read, delete (audited), then none again', async () => {
      const none = await http(s, 'GET', `/v1${ORG}`, s.adminKey);
      assert.equal(none.status, 404);
      assertOpenAIError(none.json);
      await assert.rejects(sdk.admin.organization.spendLimit.retrieve(), (e: any) => e instanceof OpenAI.NotFoundError);

      const set = await sdk.admin.organization.spendLimit.update({ threshold_amount: 5000, currency: 'USD', interval: 'month' });
      assert.deepEqual(set, { object: 'organization.spend_limit', threshold_amount: 5000, currency: 'USD', interval: 'month', enforcement: { status: 'inactive' } });
      const got = await http(s, 'GET', `/v1${ORG}`, s.adminKey);
      assert.equal(got.status, 200);
      assertMatchesSpec(SPEC, 'get', ORG, 200, got.json);
      assert.deepEqual(got.json, set);

      const replaced = await http(s, 'POST', `/v1${ORG}`, s.adminKey, { threshold_amount: 7500, currency: 'USD', interval: 'month' });
      assert.equal(replaced.status, 200);
      assertMatchesSpec(SPEC, 'post', ORG, 200, replaced.json);
      assert.equal((await sdk.admin.organization.spendLimit.retrieve()).threshold_amount, 7500);

      const updates = await audits('spend_limit.updated');
      assert.equal(updates.length, 2);
      assert.deepEqual(JSON.parse(updates[1]!.payload), { thresholdAmount: 7500, currency: 'USD', interval: 'month', previous: 5000 });
      assert.equal(updates[1]!.actor_type, 'api_key');

      const del = await http(s, 'DELETE', `/v1${ORG}`, s.adminKey);
      assert.equal(del.status, 200);
      assertMatchesSpec(SPEC, 'delete', ORG, 200, del.json);
      assert.deepEqual(del.json, { object: 'organization.spend_limit.deleted', deleted: true });
      assert.equal((await audits('spend_limit.deleted')).length, 1);
      await assert.rejects(sdk.admin.organization.spendLimit.retrieve(), (e: any) => e instanceof OpenAI.NotFoundError);
      const again = await http(s, 'DELETE', `/v1${ORG}`, s.adminKey);
      assert.equal(again.status, 404);
      assertOpenAIError(again.json);
    });

    test('project limit through the SDK; enforcement turns to enforcing once the month spend reaches it', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'limited' });
      await assert.rejects(sdk.admin.organization.projects.spendLimit.retrieve(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      const set = await sdk.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
      assert.deepEqual(set, { object: 'project.spend_limit', threshold_amount: 1, currency: 'USD', interval: 'month', enforcement: { status: 'inactive' } });
      const got = await http(s, 'GET', `/v1/organization/projects/${p.id}/spend_limit`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', PROJECT, 200, got.json);
      // a cent of recorded spend this month reaches a 1-cent limit
      s.rt.core.usageRecorder.add({
        orgId, projectId: p.id, apiKeyId: null, keyOwnerType: null, keyOwnerId: null, endUser: null, sessionId: null, model: 'gpt-4o', servedModel: 'gpt-4o', provider: 'openai',
        credentialSource: 'tenant', endpoint: 'chat.completions', inputTokens: 1, cachedInputTokens: 0, outputTokens: 1, images: 0, audioSeconds: 0, audioBytes: 0,
        costNanoUsd: 10_000_000, status: 200, latencyMs: 1, stream: false, at: Date.now(),
      });
      await s.rt.core.flush();
      assert.deepEqual((await sdk.admin.organization.projects.spendLimit.retrieve(p.id)).enforcement, { status: 'enforcing' });
      const audit = (await audits('spend_limit.updated')).find((r) => r.project_id === p.id)!;
      assert.deepEqual(JSON.parse(audit.payload), { projectId: p.id, thresholdAmount: 1, currency: 'USD', interval: 'month', previous: null });
      const del = await http(s, 'DELETE', `/v1/organization/projects/${p.id}/spend_limit`, s.adminKey);
      assert.equal(del.status, 200);
      assertMatchesSpec(SPEC, 'delete', PROJECT, 200, del.json);
      assert.deepEqual(del.json, { object: 'project.spend_limit.deleted', deleted: true });
      assert.deepEqual(await sdk.admin.organization.projects.spendLimit.delete(p.id).catch((e) => e.status), 404);
    });

    test('bad input is a 400 in the OpenAI envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad input' });
      await sdk.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 300, currency: 'USD', interval: 'month' });
      const cases: unknown[] = [
        {},
        { threshold_amount: 0, currency: 'USD', interval: 'month' },
        { threshold_amount: -1, currency: 'USD', interval: 'month' },
        { threshold_amount: 1.5, currency: 'USD', interval: 'month' },
        { threshold_amount: '100', currency: 'USD', interval: 'month' },
        { threshold_amount: 1e15, currency: 'USD', interval: 'month' },
        { threshold_amount: 100, currency: 'EUR', interval: 'month' },
        { threshold_amount: 100, currency: 'USD', interval: 'week' },
        { threshold_amount: 100, interval: 'month' },
        { threshold_amount: 100, currency: 'USD' },
        '{"threshold_amount": ',
        '[]',
      ];
      for (const path of [ORG, `/organization/projects/${p.id}/spend_limit`]) {
        for (const body of cases) {
          const res = await http(s, 'POST', `/v1${path}`, s.adminKey, body);
          assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
          assertOpenAIError(res.json);
        }
      }
      assert.equal((await sdk.admin.organization.projects.spendLimit.retrieve(p.id)).threshold_amount, 300);
      assert.equal((await http(s, 'GET', `/v1${ORG}`, s.adminKey)).status, 404, 'no organization limit was made');
    });

    test("unknown, archived and another organization's projects", async () => {
      const unknown = await http(s, 'GET', '/v1/organization/projects/proj_nope/spend_limit', s.adminKey);
      assert.equal(unknown.status, 404);
      assertOpenAIError(unknown.json);
      assert.equal((await http(s, 'POST', '/v1/organization/projects/proj_nope/spend_limit', s.adminKey, { threshold_amount: 1, currency: 'USD', interval: 'month' })).status, 404);

      const p = await sdk.admin.organization.projects.create({ name: 'mine' });
      await sdk.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 100, currency: 'USD', interval: 'month' });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: `other-limits-${dialect}` });
      const theirs = openaiClient(s, other.adminKey.secret);
      await assert.rejects(theirs.admin.organization.projects.spendLimit.retrieve(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(theirs.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' }), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(theirs.admin.organization.projects.spendLimit.delete(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      // their organization limit is theirs
      await theirs.admin.organization.spendLimit.update({ threshold_amount: 42, currency: 'USD', interval: 'month' });
      assert.equal((await http(s, 'GET', `/v1${ORG}`, s.adminKey)).status, 404);
      assert.equal((await sdk.admin.organization.projects.spendLimit.retrieve(p.id)).threshold_amount, 100);

      await sdk.admin.organization.projects.archive(p.id);
      const archived = await http(s, 'POST', `/v1/organization/projects/${p.id}/spend_limit`, s.adminKey, { threshold_amount: 5, currency: 'USD', interval: 'month' });
      assert.equal(archived.status, 400);
      assertOpenAIError(archived.json);
      assert.equal((await sdk.admin.organization.projects.spendLimit.retrieve(p.id)).threshold_amount, 100, 'an archived project can be read');
    });
  });
}
