// The free trial's start and its `days` allowance (src/domain/free-trial.ts, PlatformService.setFreeTrial)
// on every dialect, with an injected clock: the start is recorded when the trial is first switched
// on and kept through re-saves and off/on toggles (a tenant admin cannot renew their trial), only the
// operator restarts it, the days come from the metadata or the operator's default, the trial is over
// at start + days (OpenAI's insufficient_quota naming the days), a trial from before migration 0005
// counts from its first use, and bad allowance metadata is refused without changing anything.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM, keyActor, type Actor } from '../../src/domain/actor.ts';
import { DAY_MS } from '../../src/domain/free-trial.ts';
import type { GatewayUsage } from '../../src/domain/usage-recorder.ts';
import { openTestCore, type TestCore } from '../helpers/core.ts';
import { testDialects } from '../helpers/db.ts';

const T0 = Date.UTC(2025, 0, 10, 12, 0, 0);
const HOUR = 3_600_000;

function trialUse(orgId: string, at: number, tokens: number): GatewayUsage {
  return {
    orgId, projectId: 'proj_1', apiKeyId: 'key_1', keyOwnerType: 'service_account', keyOwnerId: 'svc_1', endUser: null, sessionId: null,
    model: 'gpt-4o', servedModel: 'gpt-4o', provider: 'openai', credentialSource: 'free_trial', endpoint: 'chat.completions',
    inputTokens: tokens, cachedInputTokens: 0, outputTokens: 0, images: 0, audioSeconds: 0, audioBytes: 0, costNanoUsd: 0,
    status: 200, latencyMs: 10, stream: false, at,
  };
}

for (const dialect of await testDialects()) {
  describe(`free trial start and days (${dialect})`, () => {
    let t: TestCore;
    let clock = T0;
    let n = 0;

    before(async () => {
      t = await openTestCore(dialect, { now: () => clock, freeTrial: { tokens: null, requests: null, days: 14 } });
    });
    after(async () => {
      await t?.close();
    });

    /** A new organization and an actor holding its admin key (a tenant administrator). */
    async function tenant(): Promise<{ orgId: string; admin: Actor }> {
      const created = await t.core.orgs.create(SYSTEM, { name: 'Trial', slug: `trial-${++n}` });
      return { orgId: created.org.id, admin: keyActor((await t.core.keys.verify(created.adminKey.secret))!) };
    }
    const startedAt = async (orgId: string) =>
      (await t.store.db.selectFrom('organizations').select('free_trial_started_at').where('id', '=', orgId).executeTakeFirstOrThrow()).free_trial_started_at;
    const trialAudits = async (orgId: string) =>
      (await t.store.db.selectFrom('audit_logs').select('payload').where('org_id', '=', orgId).where('type', '=', 'organization.free_trial_updated').orderBy('id').execute()).map(
        (r) => JSON.parse(r.payload as unknown as string) as Record<string, unknown>,
      );
    /** check() at `at`, after dropping this node's cached reading of the trial. */
    const checkAt = (orgId: string, at: number) => {
      clock = at;
      t.core.freeTrial.forget(orgId);
      return t.core.freeTrial.check(orgId);
    };
    const over = (re: RegExp) => (e: any) => {
      assert.equal(e.kind, 'rate_limited');
      assert.equal(e.code, 'insufficient_quota');
      assert.match(e.message, re);
      return true;
    };

    test('the start is recorded when the trial is switched on, and kept by re-saves and off/on toggles; only the operator restarts it', async () => {
      const { orgId, admin } = await tenant();
      clock = T0;
      assert.equal((await t.core.platform.settings(admin, orgId)).freeTrialStartedAt, null, 'never switched on: no start');
      await t.core.platform.setFreeTrial(admin, orgId, { metadata: { days: 3 } });
      assert.equal(await startedAt(orgId), null, 'metadata alone does not start the trial');

      clock = T0 + HOUR;
      const on = await t.core.platform.setFreeTrial(admin, orgId, { enabled: true });
      assert.equal(on.freeTrialStartedAt, T0 + HOUR);
      assert.equal(await startedAt(orgId), T0 + HOUR);

      clock = T0 + 2 * HOUR;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: true, metadata: { days: 3, note: 'again' } });
      assert.equal(await startedAt(orgId), T0 + HOUR, 're-saved while on: kept');
      clock = T0 + 3 * HOUR;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: false });
      assert.equal(await startedAt(orgId), T0 + HOUR, 'switched off: kept');
      clock = T0 + 4 * HOUR;
      const again = await t.core.platform.setFreeTrial(admin, orgId, { enabled: true });
      assert.equal(again.freeTrialStartedAt, T0 + HOUR, 'switched off and on again: the trial does not restart');

      const audits = (await trialAudits(orgId)).length;
      await assert.rejects(t.core.platform.setFreeTrial(admin, orgId, { enabled: true, restart: true }), (e: any) => e.kind === 'forbidden' && /operator/.test(e.message));
      assert.equal(await startedAt(orgId), T0 + HOUR, 'a tenant admin cannot restart it');
      assert.equal((await trialAudits(orgId)).length, audits, 'a refused restart writes nothing');

      clock = T0 + 5 * HOUR;
      const restarted = await t.core.platform.setFreeTrial(SYSTEM, orgId, { restart: true });
      assert.equal(restarted.freeTrialStartedAt, T0 + 5 * HOUR, 'the operator restarts it');
      assert.equal(restarted.freeTrialEnabled, true);

      assert.deepEqual(await trialAudits(orgId), [
        { metadataChanged: true },
        { enabled: true, metadataChanged: false, startedAt: T0 + HOUR },
        { enabled: true, metadataChanged: true },
        { enabled: false, metadataChanged: false },
        { enabled: true, metadataChanged: false },
        { metadataChanged: false, startedAt: T0 + 5 * HOUR, restarted: true },
      ]);
    });

    test("days: the metadata's, else the operator's default; the trial is over at start + days with insufficient_quota naming them", async () => {
      const { orgId, admin } = await tenant();
      clock = T0;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: true });
      await checkAt(orgId, T0 + 14 * DAY_MS - 1); // the operator's default: 14 days
      await assert.rejects(checkAt(orgId, T0 + 14 * DAY_MS), over(/the organization's 14-day trial period ended \(2025-01-24T12:00:00\.000Z\)/));

      await t.core.platform.setFreeTrial(admin, orgId, { metadata: { days: 2 } });
      await checkAt(orgId, T0 + 2 * DAY_MS - 1);
      await assert.rejects(checkAt(orgId, T0 + 2 * DAY_MS), over(/2-day trial period ended/));

      await t.core.platform.setFreeTrial(admin, orgId, { metadata: { days: null } });
      await checkAt(orgId, T0 + 1000 * DAY_MS); // null: no time limit

      await t.core.platform.setFreeTrial(admin, orgId, { metadata: { days: 0 } });
      await assert.rejects(checkAt(orgId, T0), over(/0-day trial period ended/));

      // the cached reading does not hide the clock: days are compared at each check
      await t.core.platform.setFreeTrial(admin, orgId, { metadata: { days: 1 } });
      await checkAt(orgId, T0 + DAY_MS - 1);
      clock = T0 + DAY_MS;
      await assert.rejects(t.core.freeTrial.check(orgId), over(/1-day trial period ended/));
    });

    test('a restart by the operator starts the days and the counted usage over; toggling does not', async () => {
      const { orgId, admin } = await tenant();
      clock = T0;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: true, metadata: { tokens: 100, days: 1 } });
      t.core.usageRecorder.add(trialUse(orgId, T0 + 60_000, 120));
      await t.core.usageRecorder.flush();
      await assert.rejects(checkAt(orgId, T0 + 2 * 60_000), over(/used its 100 trial tokens/));

      clock = T0 + 2 * DAY_MS;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: false });
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: true });
      await assert.rejects(checkAt(orgId, T0 + 2 * DAY_MS), over(/1-day trial period ended/), 'off and on again: still over');

      await t.core.platform.setFreeTrial(SYSTEM, orgId, { restart: true });
      await checkAt(orgId, T0 + 2 * DAY_MS + 1); // neither the days nor the 120 tokens used before count
      t.core.usageRecorder.add(trialUse(orgId, T0 + 2 * DAY_MS + 60_000, 100));
      await t.core.usageRecorder.flush();
      await assert.rejects(checkAt(orgId, T0 + 2 * DAY_MS + 2 * 60_000), over(/used its 100 trial tokens/), 'usage since the restart counts');
    });

    test('a trial switched on before migration 0005 (no recorded start) counts from its first use of the platform key', async () => {
      const { orgId, admin } = await tenant();
      await t.store.db.updateTable('organizations').set({ free_trial_enabled: 1, free_trial_metadata: JSON.stringify({ days: 5 }), free_trial_started_at: null }).where('id', '=', orgId).execute();
      await checkAt(orgId, T0 + 100 * DAY_MS); // never used: its days have not started
      const first = T0 + 100 * DAY_MS;
      t.core.usageRecorder.add(trialUse(orgId, first, 10));
      t.core.usageRecorder.add(trialUse(orgId, first + HOUR, 10));
      await t.core.usageRecorder.flush();
      await checkAt(orgId, first + 5 * DAY_MS - 1);
      await assert.rejects(checkAt(orgId, first + 5 * DAY_MS), over(/5-day trial period ended/));

      // switched on again by the tenant: the recorded start is that first use, not now
      clock = first + 6 * DAY_MS;
      const s = await t.core.platform.setFreeTrial(admin, orgId, { enabled: true });
      assert.equal(s.freeTrialStartedAt, first);
      await assert.rejects(checkAt(orgId, first + 6 * DAY_MS), over(/5-day trial period ended/));
    });

    test('bad allowance metadata or restart values are refused and change nothing', async () => {
      const { orgId, admin } = await tenant();
      clock = T0;
      await t.core.platform.setFreeTrial(admin, orgId, { enabled: true, metadata: { days: 7 } });
      const row = async () => t.store.db.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
      const before = await row();
      const audits = (await trialAudits(orgId)).length;
      clock = T0 + HOUR;
      for (const metadata of [{ days: -1 }, { days: '30' }, { days: 1.5 }, { tokens: 'lots' }, { requests: Number.NaN }, { days: 2 ** 60 }]) {
        await assert.rejects(t.core.platform.setFreeTrial(admin, orgId, { enabled: true, metadata }), (e: any) => e.kind === 'invalid' && e.param === 'metadata', JSON.stringify(metadata));
      }
      await assert.rejects(t.core.platform.setFreeTrial(SYSTEM, orgId, { restart: 'yes' as unknown as boolean }), (e: any) => e.kind === 'invalid' && e.param === 'restart');
      await assert.rejects(t.core.platform.setFreeTrial(SYSTEM, orgId, { restart: false }), (e: any) => e.kind === 'invalid' && e.code === 'nothing_to_change');
      assert.deepEqual(await row(), before);
      assert.equal((await trialAudits(orgId)).length, audits);
    });
  });
}
