// The free trial's days over HTTP, on SQLite and PostgreSQL, against the mock upstream: a tenant in
// its trial (switched on through the ibl.ai face) uses the platform's default key within its days;
// past them (KEYPLANE_FREE_TRIAL_DAYS, or the metadata's `days`) the gateway answers OpenAI's 429
// insufficient_quota naming the days, and nothing reaches the upstream. Switching the trial off and
// on again through the ibl.ai face does not restart it; the operator restarts it over the platform API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { assertOpenAIError, http, readResponse } from '../helpers/http.ts';
import { ibl } from '../faces/iblai/helpers.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { DAY_MS } from '../../src/domain/free-trial.ts';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret'; // the key the mock upstream accepts

function modelsFile(): string {
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ 'plain-chat': { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 } }));
  return file;
}

for (const dialect of await testDialects()) {
  describe(`gateway: free trial days (${dialect})`, () => {
    const rootKey = randomBytes(32).toString('hex');
    let s: TestServer;
    let mock: MockUpstream;
    let orgId: string;
    let slug: string;
    let adminKey: string;
    let trialKey: string;

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile(), rootKey, freeTrialDays: '14' });
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Trial Days', slug: `trial-days-${dialect}` });
      orgId = created.org.id;
      slug = created.org.slug;
      adminKey = created.adminKey.secret;
      await s.rt.core.defaultCredentials.set(SYSTEM, 'openai', { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` });
      const admin = new OpenAI({ adminAPIKey: adminKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const project = await admin.admin.organization.projects.create({ name: 'Trying' });
      trialKey = (await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' })).api_key!.value;
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    const chat = async (body: Record<string, unknown> = {}) =>
      readResponse(
        await fetch(`${s.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${trialKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'plain-chat', messages: [{ role: 'user', content: 'hi' }], ...body }),
        }),
      );
    const tenantTrial = (body: Record<string, unknown>) => ibl(s, 'POST', `/api/ai-account/orgs/${slug}/use-free-trial/`, adminKey, body);
    const operatorTrial = (body?: unknown) => http(s, body === undefined ? 'GET' : 'POST', `/platform/v1/organizations/${slug}/free_trial`, rootKey, body);
    const startedAtMs = async () => (await s.rt.store.db.selectFrom('organizations').select('free_trial_started_at').where('id', '=', orgId).executeTakeFirstOrThrow()).free_trial_started_at;
    /** Moves the recorded start into the past (a store write: this node's cached reading is dropped by hand). */
    const backdate = async (ms: number) => {
      await s.rt.store.db.updateTable('organizations').set({ free_trial_started_at: ms }).where('id', '=', orgId).execute();
      s.rt.core.freeTrial.forget(orgId);
    };
    const assertTrialOver = (r: { status: number; json: any }, days: RegExp) => {
      assert.equal(r.status, 429, JSON.stringify(r.json));
      assertOpenAIError(r.json, 'insufficient_quota');
      assert.equal(r.json.error.code, 'insufficient_quota');
      assert.equal(r.json.error.type, 'insufficient_quota');
      assert.match(r.json.error.message, days);
    };

    test("within its days the trial uses the platform's key; past them OpenAI's 429 insufficient_quota names the days and nothing reaches the upstream", async () => {
      const t0 = Date.now();
      const on = await tenantTrial({ enable: true });
      assert.equal(on.status, 200, on.text);
      const started = await startedAtMs();
      assert.ok(started !== null && started >= t0 && started <= Date.now(), 'switching the trial on records its start');
      const shown = await operatorTrial();
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.json, { object: 'organization.free_trial', enabled: true, metadata: null, started_at: Math.floor(started / 1000) });

      let sent = mock.received.length;
      const ok = await chat();
      assert.equal(ok.status, 200, ok.text);
      assert.equal(mock.received.length, sent + 1);
      assert.equal(mock.received[sent]!.headers.authorization, `Bearer ${UPSTREAM_KEY}`, "the platform's default key");

      // a day short of the operator's 14: still within
      await backdate(Date.now() - 13 * DAY_MS);
      assert.equal((await chat()).status, 200);

      await backdate(Date.now() - 15 * DAY_MS);
      sent = mock.received.length;
      assertTrialOver(await chat(), /free trial is over: the organization's 14-day trial period ended/);
      assertTrialOver(await chat({ stream: true }), /14-day trial period ended/);
      assert.equal(mock.received.length, sent, 'nothing reaches the upstream once the trial is over');
    });

    test('the tenant cannot restart its trial: off and on again, re-saved, or with a restart field, through the ibl.ai face', async () => {
      const started = await startedAtMs();
      assert.ok(started !== null && started < Date.now() - 14 * DAY_MS, 'over since the previous test');
      const sent = mock.received.length;
      assert.deepEqual((await tenantTrial({ disable: true })).json, { message: 'Tenant is not in free trial' });
      assert.deepEqual((await tenantTrial({ enable: true })).json, { message: 'Tenant is now in free trial' });
      assert.equal(await startedAtMs(), started, 'switched off and on again: the same start');
      assertTrialOver(await chat(), /14-day trial period ended/);
      assert.equal((await tenantTrial({ enable: true, restart: true, started_at: Date.now() })).status, 200, 'unknown fields are ignored, as DRF does');
      assert.equal((await tenantTrial({ enable: true, metadata: { note: 're-saved' } })).status, 200);
      assert.equal(await startedAtMs(), started, 'the ibl.ai face has no way to restart a trial');
      assertTrialOver(await chat(), /14-day trial period ended/);
      // a tenant key is not the operator's: the platform API refuses it
      const r = await http(s, 'POST', `/platform/v1/organizations/${slug}/free_trial`, adminKey, { restart: true });
      assert.equal(r.status, 401);
      assert.equal(await startedAtMs(), started);
      assert.equal(mock.received.length, sent, 'nothing reached the upstream');
    });

    test("the operator restarts the trial over the platform API, and sets the organization's own days", async () => {
      const before = Date.now();
      const restarted = await operatorTrial({ restart: true });
      assert.equal(restarted.status, 200, JSON.stringify(restarted.json));
      const started = (await startedAtMs())!;
      assert.ok(started >= before && started <= Date.now());
      assert.equal(restarted.json.started_at, Math.floor(started / 1000));
      assert.equal(restarted.json.enabled, true);
      const audit = await s.rt.store.db.selectFrom('audit_logs').select(['payload', 'actor_type']).where('org_id', '=', orgId).where('type', '=', 'organization.free_trial_updated').orderBy('id', 'desc').executeTakeFirstOrThrow();
      assert.equal(audit.actor_type, 'root');
      assert.deepEqual(JSON.parse(audit.payload), { metadataChanged: false, startedAt: started, restarted: true });
      assert.equal((await chat()).status, 200, 'a restarted trial answers again');

      // the organization's own days, in its metadata, replace the operator's 14
      const set = await operatorTrial({ metadata: { days: 1 } });
      assert.equal(set.status, 200, JSON.stringify(set.json));
      assert.deepEqual(set.json.metadata, { days: 1 });
      assert.equal(set.json.started_at, Math.floor(started / 1000), 'changing the metadata keeps the start');
      await backdate(Date.now() - 2 * DAY_MS);
      const sent = mock.received.length;
      assertTrialOver(await chat(), /1-day trial period ended/);
      assert.equal(mock.received.length, sent);

      // bad input: the OpenAI envelope's 400, nothing changed
      const row = await s.rt.store.db.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
      for (const body of [{ metadata: { days: -1 } }, { metadata: { days: 'forever' } }, { metadata: [1] }, { restart: 'yes' }, {}, { restart: false }]) {
        const r = await operatorTrial(body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assertOpenAIError(r.json);
      }
      assert.deepEqual(await s.rt.store.db.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow(), row);
    });
  });
}
