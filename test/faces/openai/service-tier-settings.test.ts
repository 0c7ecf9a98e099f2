// OpenAI face, project service tier settings (GET/POST …/projects/{project_id}/service_tier_settings):
// SDK-only endpoints (not in OpenAI's spec), so shapes are checked against the SDK's types (quoted in
// the wire reference): exactly `object`, `default`, `enabled_tiers`. The gateway's use of them:
// test/gateway/project-settings.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { ProjectServiceTierSettings } from 'openai/resources/admin/organization/projects/service-tier-settings';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

/** The SDK's ProjectServiceTierSettings, exactly: no other keys, each value of its type. */
function assertSdkShape(body: any): asserts body is ProjectServiceTierSettings {
  assert.deepEqual(Object.keys(body).sort(), ['default', 'enabled_tiers', 'object']);
  assert.equal(body.object, 'project.service_tier_settings');
  assert.ok(['standard', 'fast', 'scale'].includes(body.default), body.default);
  assert.ok(body.enabled_tiers === 'all' || (Array.isArray(body.enabled_tiers) && body.enabled_tiers.every((t: unknown) => t === 'flex' || t === 'fast' || t === 'ultrafast')), JSON.stringify(body.enabled_tiers));
}

for (const dialect of await testDialects()) {
  describe(`OpenAI project service tier settings (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
    });
    after(async () => s?.close());

    const url = (p: string) => `/v1/organization/projects/${p}/service_tier_settings`;
    const audits = (projectId: string) =>
      s.rt.core.store.db.selectFrom('audit_logs').select(['type', 'payload']).where('project_id', '=', projectId).where('type', '=', 'project.service_tier_settings_updated').orderBy('created_at').orderBy('id').execute();

    test('until set: default standard, every tier enabled', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'fresh' });
      const res = await http(s, 'GET', url(p.id), s.adminKey);
      assert.equal(res.status, 200);
      assertSdkShape(res.json);
      assert.deepEqual(res.json, { object: 'project.service_tier_settings', default: 'standard', enabled_tiers: 'all' });
      const got: ProjectServiceTierSettings = await sdk.admin.organization.projects.serviceTierSettings.retrieve(p.id);
      assert.deepEqual(got, res.json);
    });

    test('update sets the given fields, omitted ones keep their values; audited', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'tiers' });
      const a = await sdk.admin.organization.projects.serviceTierSettings.update(p.id, { enabled_tiers: ['fast', 'flex', 'fast'] });
      assertSdkShape(a);
      assert.deepEqual(a, { object: 'project.service_tier_settings', default: 'standard', enabled_tiers: ['flex', 'fast'] }, 'each tier once, in the SDK order');
      const b = await sdk.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'fast' });
      assert.deepEqual(b, { object: 'project.service_tier_settings', default: 'fast', enabled_tiers: ['flex', 'fast'] });
      const c = await http(s, 'POST', url(p.id), s.adminKey, { default: 'scale', enabled_tiers: [] });
      assert.equal(c.status, 200);
      assertSdkShape(c.json);
      assert.deepEqual(c.json, { object: 'project.service_tier_settings', default: 'scale', enabled_tiers: [] });
      const d = await sdk.admin.organization.projects.serviceTierSettings.update(p.id, { enabled_tiers: 'all' });
      assert.deepEqual(d, { object: 'project.service_tier_settings', default: 'scale', enabled_tiers: 'all' });
      assert.deepEqual(await sdk.admin.organization.projects.serviceTierSettings.retrieve(p.id), d);
      assert.deepEqual(
        (await audits(p.id)).map((e) => JSON.parse(e.payload)),
        [{ changes: { enabledTiers: ['flex', 'fast'] } }, { changes: { default: 'fast' } }, { changes: { default: 'scale', enabledTiers: [] } }, { changes: { enabledTiers: 'all' } }],
      );
    });

    test('bad input is a 400 in the envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad' });
      await sdk.admin.organization.projects.serviceTierSettings.update(p.id, { enabled_tiers: ['flex'] });
      const before = (await http(s, 'GET', url(p.id), s.adminKey)).json;
      const cases: Array<[unknown, string | null]> = [
        [{}, null], // at least one field
        [{ default: 'flex' }, 'default'],
        [{ default: 'auto' }, 'default'],
        [{ default: null }, 'default'],
        [{ enabled_tiers: 'some' }, 'enabled_tiers'],
        [{ enabled_tiers: ['scale'] }, 'enabled_tiers'],
        [{ enabled_tiers: [null] }, 'enabled_tiers'],
        [{ default: 'fast' }, 'default'], // fast is not enabled here
        [{ default: 'fast', enabled_tiers: ['flex'] }, 'default'],
        ['{"default": ', null],
      ];
      for (const [body, param] of cases) {
        const res = await http(s, 'POST', url(p.id), s.adminKey, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assertOpenAIError(res.json);
        if (param) assert.ok(res.json.error.param?.startsWith(param), `${JSON.stringify(body)}: ${res.json.error.param}`);
      }
      // with fast the default, fast cannot be disabled
      await sdk.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'fast', enabled_tiers: ['fast'] });
      const res = await http(s, 'POST', url(p.id), s.adminKey, { enabled_tiers: [] });
      assert.equal(res.status, 400);
      assert.equal(res.json.error.param, 'enabled_tiers');
      assert.deepEqual((await http(s, 'GET', url(p.id), s.adminKey)).json, { ...before, default: 'fast', enabled_tiers: ['fast'] });
      assert.equal((await audits(p.id)).length, 2);
    });

    test('concurrent updates take turns: a fast default and disabling fast cannot both win', async () => {
      for (let i = 0; i < 5; i++) {
        const p = await sdk.admin.organization.projects.create({ name: `race ${i}` });
        const results = await Promise.allSettled([
          sdk.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'fast' }),
          sdk.admin.organization.projects.serviceTierSettings.update(p.id, { enabled_tiers: [] }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results.map((r) => r.status)));
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        assert.ok(lost.reason instanceof OpenAI.BadRequestError);
        const now = await sdk.admin.organization.projects.serviceTierSettings.retrieve(p.id);
        assert.ok(!(now.default === 'fast' && Array.isArray(now.enabled_tiers) && !now.enabled_tiers.includes('fast')), JSON.stringify(now));
      }
    });

    test('unknown and archived projects; another organization sees nothing', async () => {
      await assert.rejects(sdk.admin.organization.projects.serviceTierSettings.retrieve('proj_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.projects.serviceTierSettings.update('proj_nope', { default: 'scale' }), (e: any) => e instanceof OpenAI.NotFoundError);
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-service-tiers' });
      const otherSdk = openaiClient(s, other.adminKey.secret);
      await assert.rejects(otherSdk.admin.organization.projects.serviceTierSettings.retrieve(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'scale' }), (e: any) => e instanceof OpenAI.NotFoundError);
      const res = await http(s, 'GET', url(p.id), other.adminKey.secret);
      assert.equal(res.status, 404);
      assertOpenAIError(res.json);
      await sdk.admin.organization.projects.archive(p.id);
      await assert.rejects(sdk.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'scale' }), (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived');
      assert.equal((await sdk.admin.organization.projects.serviceTierSettings.retrieve(p.id)).default, 'standard');
    });
  });
}
