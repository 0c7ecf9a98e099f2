// OpenAI face, spend alerts of the organization and of a project: list (paging after/before/order/
// limit), create, retrieve, update, delete, through the official `openai` SDK against a real server,
// on SQLite and PostgreSQL; answers checked against the spec, changes audited, bad input a 400 that
// changes nothing, another organization's alerts and projects 404. Firing: test/gateway/spend.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const body = (threshold: number, recipients = ['ops@example.com'], subject_prefix?: string | null) => ({
  threshold_amount: threshold,
  currency: 'USD' as const,
  interval: 'month' as const,
  notification_channel: { type: 'email' as const, recipients, ...(subject_prefix !== undefined ? { subject_prefix } : {}) },
});

for (const dialect of await testDialects()) {
  describe(`OpenAI spend alerts (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;

    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    for (const level of ['organization', 'project'] as const) {
      test(`${level} alerts: create, retrieve, update, delete, each audited and spec-conformant`, async () => {
        const p = level === 'project' ? await sdk.admin.organization.projects.create({ name: 'alerts' }) : null;
        const LIST = p ? '/organization/projects/{project_id}/spend_alerts' : '/organization/spend_alerts';
        const ONE = `${LIST}/{alert_id}`;
        const base = p ? `/v1/organization/projects/${p.id}/spend_alerts` : '/v1/organization/spend_alerts';
        const object = p ? 'project.spend_alert' : 'organization.spend_alert';

        const created = await http(s, 'POST', base, s.adminKey, body(10_000, ['finance@example.com', 'cto@example.com'], 'Heads up'));
        assert.equal(created.status, 200);
        assertMatchesSpec(SPEC, 'post', LIST, 200, created.json);
        const id = created.json.id as string;
        assert.match(id, /^alert_/);
        assert.deepEqual(created.json, { id, object, threshold_amount: 10_000, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: ['finance@example.com', 'cto@example.com'], subject_prefix: 'Heads up' } });

        const got = await http(s, 'GET', `${base}/${id}`, s.adminKey);
        assertMatchesSpec(SPEC, 'get', ONE, 200, got.json);
        assert.deepEqual(got.json, created.json);

        const updated = await http(s, 'POST', `${base}/${id}`, s.adminKey, body(0, ['ops@example.com']));
        assert.equal(updated.status, 200);
        assertMatchesSpec(SPEC, 'post', ONE, 200, updated.json);
        assert.deepEqual(updated.json.notification_channel, { type: 'email', recipients: ['ops@example.com'], subject_prefix: null });
        assert.equal(updated.json.threshold_amount, 0);

        // through the SDK
        const viaSdk = p
          ? await sdk.admin.organization.projects.spendAlerts.retrieve(id, { project_id: p.id })
          : await sdk.admin.organization.spendAlerts.retrieve(id);
        assert.equal(viaSdk.threshold_amount, 0);
        const sdkUpdated = p
          ? await sdk.admin.organization.projects.spendAlerts.update(id, { project_id: p.id, ...body(2500) })
          : await sdk.admin.organization.spendAlerts.update(id, body(2500));
        assert.equal(sdkUpdated.threshold_amount, 2500);
        const listed = await http(s, 'GET', base, s.adminKey);
        assertMatchesSpec(SPEC, 'get', LIST, 200, listed.json);
        assert.deepEqual(listed.json.data.map((a: any) => a.id), [id]);

        const deleted = await http(s, 'DELETE', `${base}/${id}`, s.adminKey);
        assert.equal(deleted.status, 200);
        assertMatchesSpec(SPEC, 'delete', ONE, 200, deleted.json);
        assert.deepEqual(deleted.json, { id, object: `${object}.deleted`, deleted: true });
        const gone = await http(s, 'GET', `${base}/${id}`, s.adminKey);
        assert.equal(gone.status, 404);
        assertOpenAIError(gone.json);
        assert.equal((await http(s, 'DELETE', `${base}/${id}`, s.adminKey)).status, 404);

        const audits = await s.rt.store.db.selectFrom('audit_logs').select(['type', 'payload', 'project_id']).where('org_id', '=', orgId).where('target_id', '=', id).orderBy('id').execute();
        assert.deepEqual(audits.map((a) => a.type), ['spend_alert.created', 'spend_alert.updated', 'spend_alert.updated', 'spend_alert.deleted']);
        assert.equal(audits[0]!.project_id, p?.id ?? null);
        assert.deepEqual(JSON.parse(audits[0]!.payload).recipients, ['finance@example.com', 'cto@example.com']);
      });
    }

    test('list pages with after, before, limit and order; the SDK walks every page', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'paging' });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await sdk.admin.organization.projects.spendAlerts.create(p.id, body(100 * (i + 1)))).id);
      const base = `/v1/organization/projects/${p.id}/spend_alerts`;
      const first = await http(s, 'GET', `${base}?limit=2`, s.adminKey);
      assert.deepEqual(first.json.data.map((a: any) => a.id), ids.slice(0, 2));
      assert.equal(first.json.first_id, ids[0]);
      assert.equal(first.json.last_id, ids[1]);
      assert.equal(first.json.has_more, true);
      const next = await http(s, 'GET', `${base}?limit=2&after=${ids[1]}`, s.adminKey);
      assert.deepEqual(next.json.data.map((a: any) => a.id), ids.slice(2, 4));
      const last = await http(s, 'GET', `${base}?limit=2&after=${ids[3]}`, s.adminKey);
      assert.deepEqual(last.json.data.map((a: any) => a.id), [ids[4]]);
      assert.equal(last.json.has_more, false);
      const back = await http(s, 'GET', `${base}?limit=2&before=${ids[4]}`, s.adminKey);
      assert.deepEqual(back.json.data.map((a: any) => a.id), ids.slice(2, 4));
      assert.equal(back.json.has_more, true);
      const desc = await http(s, 'GET', `${base}?order=desc&limit=3`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', '/organization/projects/{project_id}/spend_alerts', 200, desc.json);
      assert.deepEqual(desc.json.data.map((a: any) => a.id), [...ids].reverse().slice(0, 3));
      const none = await http(s, 'GET', `${base}?limit=0`, s.adminKey);
      assert.deepEqual([none.json.data, none.json.first_id, none.json.has_more], [[], null, true]);
      const walked: string[] = [];
      for await (const a of sdk.admin.organization.projects.spendAlerts.list(p.id, { limit: 2 })) walked.push(a.id);
      assert.deepEqual(walked, ids);
      const badCursor = await http(s, 'GET', `${base}?after=alert_nope`, s.adminKey);
      assert.equal(badCursor.status, 400);
      assertOpenAIError(badCursor.json);
      // organization alerts and project alerts are separate lists
      const orgList = await sdk.admin.organization.spendAlerts.list();
      assert.ok(orgList.data.every((a) => !ids.includes(a.id)));
    });

    test('bad input is a 400 in the OpenAI envelope and changes nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad alerts' });
      const alert = await sdk.admin.organization.projects.spendAlerts.create(p.id, body(700));
      const cases: unknown[] = [
        {},
        { ...body(100), threshold_amount: -1 },
        { ...body(100), threshold_amount: 1.5 },
        { ...body(100), threshold_amount: '100' },
        { ...body(100), currency: 'EUR' },
        { ...body(100), interval: 'day' },
        { ...body(100), notification_channel: { type: 'sms', recipients: ['a@b.c'] } },
        { ...body(100), notification_channel: { type: 'email', recipients: [] } },
        { ...body(100), notification_channel: { type: 'email', recipients: ['not-an-email'] } },
        { ...body(100), notification_channel: { type: 'email', recipients: ['a@b.c', 'A@b.c'] } },
        { ...body(100), notification_channel: { type: 'email', recipients: 'a@b.c' } },
        { threshold_amount: 100, currency: 'USD', interval: 'month' },
        '{"threshold_amount": 1',
      ];
      const urls = ['/v1/organization/spend_alerts', `/v1/organization/projects/${p.id}/spend_alerts`, `/v1/organization/projects/${p.id}/spend_alerts/${alert.id}`];
      for (const url of urls) {
        for (const b of cases) {
          const res = await http(s, 'POST', url, s.adminKey, b);
          assert.equal(res.status, 400, `${url} ${JSON.stringify(b)}`);
          assertOpenAIError(res.json);
        }
      }
      assert.equal((await sdk.admin.organization.projects.spendAlerts.retrieve(alert.id, { project_id: p.id })).threshold_amount, 700);
      assert.deepEqual((await sdk.admin.organization.projects.spendAlerts.list(p.id)).data.map((a) => a.id), [alert.id]);
    });

    test("another organization's alerts and projects are invisible (404); an alert belongs to its own list", async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'private' });
      const projectAlert = await sdk.admin.organization.projects.spendAlerts.create(p.id, body(1));
      const orgAlert = await sdk.admin.organization.spendAlerts.create(body(2));
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: `other-alerts-${dialect}` });
      const theirs = openaiClient(s, other.adminKey.secret);
      const notFound = (e: any) => e instanceof OpenAI.NotFoundError;
      await assert.rejects(theirs.admin.organization.spendAlerts.retrieve(orgAlert.id), notFound);
      await assert.rejects(theirs.admin.organization.spendAlerts.update(orgAlert.id, body(5)), notFound);
      await assert.rejects(theirs.admin.organization.spendAlerts.delete(orgAlert.id), notFound);
      await assert.rejects(theirs.admin.organization.projects.spendAlerts.list(p.id), notFound);
      await assert.rejects(theirs.admin.organization.projects.spendAlerts.create(p.id, body(5)), notFound);
      await assert.rejects(theirs.admin.organization.projects.spendAlerts.retrieve(projectAlert.id, { project_id: p.id }), notFound);
      await assert.rejects(theirs.admin.organization.projects.spendAlerts.delete(projectAlert.id, { project_id: p.id }), notFound);
      assert.deepEqual((await theirs.admin.organization.spendAlerts.list()).data, []);
      const foreignCursor = await http(s, 'GET', `/v1/organization/spend_alerts?after=${orgAlert.id}`, other.adminKey.secret);
      assert.equal(foreignCursor.status, 400);
      // a project alert is not an organization alert, nor another project's
      await assert.rejects(sdk.admin.organization.spendAlerts.retrieve(projectAlert.id), notFound);
      const q = await sdk.admin.organization.projects.create({ name: 'elsewhere' });
      await assert.rejects(sdk.admin.organization.projects.spendAlerts.retrieve(projectAlert.id, { project_id: q.id }), notFound);
      assert.equal((await sdk.admin.organization.spendAlerts.retrieve(orgAlert.id)).threshold_amount, 2);
      const unknownProject = await http(s, 'GET', '/v1/organization/projects/proj_nope/spend_alerts', s.adminKey);
      assert.equal(unknownProject.status, 404);
      assertOpenAIError(unknownProject.json);
    });
  });
}
