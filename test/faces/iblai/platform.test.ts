// ibl.ai face, platform metadata, token usage, default LLM key and free trial over HTTP on a real
// server, both dialects: exact statuses, spec checks where the 4.90.4 extract has the operation,
// DRF-style bad input with no change, and usage recorded through core.usage.record.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { P, SPEC, assertDetail, assertFieldErrors, auditCount, ibl } from './helpers.ts';

const DAY = 86_400_000;
const D1 = Date.UTC(2024, 1, 5, 10); // 2024-02-05
const D2 = D1 + DAY; // 2024-02-06

for (const dialect of await testDialects()) {
  describe(`ibl.ai platform metadata, tokens and tenant settings (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let otherId: string;
    let otherKey: string;
    let alice: { id: string; email: string };
    let bob: { id: string; email: string };
    let readerKey: string;
    const base = '/api/ai-account/orgs/main';
    const meta = `${base}/platform-metadata/`;

    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      alice = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'alice@example.com', role: 'reader' });
      bob = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'bob@example.com', role: 'reader' });
      readerKey = (await s.rt.core.userKeys.create(SYSTEM, orgId, { userId: alice.id, format: 'sk' })).secret;
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' });
      otherId = other.org.id;
      otherKey = other.adminKey.secret;
    });
    after(async () => s?.close());

    test('platform metadata: 404 before creation; create 201 (credentials go to the vault), list and update 200 arrays', async () => {
      assertDetail(await ibl(s, 'GET', meta, s.adminKey), 404);
      assertDetail(await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'openai' }), 404);
      await ibl(s, 'POST', `${base}/credential/`, s.adminKey, { name: 'openai', value: { key: 'sk-PLAINTEXT-meta-openai-1234' }, platform: 'main' });

      const audits = await auditCount(s);
      const created = await ibl(s, 'POST', meta, s.adminKey, {
        data: {
          llms: {
            google: { credential: { type: 'service_account', private_key: 'PLAINTEXT-google-pk-5678' }, llm_options: { temperature: 0.7 } },
            openai: { llm_options: { temperature: 0.2 } },
          },
          active_llm: 'openai',
          active_stt: 'google',
        },
      });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.json, {
        metadata: {
          services: { openai: { llm_options: { temperature: 0.2 } }, google: { llm_options: { temperature: 0.7 } } },
          active_llm: 'openai',
          active_stt: 'google',
          active_tts: null,
        },
      });
      assert.ok(!created.text.includes('PLAINTEXT'));
      // the embedded credential is in the vault, sealed
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'google'), { type: 'service_account', private_key: 'PLAINTEXT-google-pk-5678' });
      const types = (await s.rt.store.db.selectFrom('audit_logs').select('type').where('org_id', '=', orgId).orderBy('created_at').orderBy('id').execute()).slice(-3).map((r) => r.type);
      assert.deepEqual(types, ['credential.created', 'platform_settings.created', 'credential.decrypted']);
      assert.equal(await auditCount(s), audits + 3);

      const list = await ibl(s, 'GET', meta, s.adminKey);
      assert.equal(list.status, 200);
      assert.deepEqual(list.json, [created.json]);

      const upd = await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'google', llms: ['google'] });
      assert.equal(upd.status, 200, upd.text);
      assert.deepEqual(upd.json, [{ metadata: { services: { google: { llm_options: { temperature: 0.7 } } }, active_llm: 'google', active_stt: 'google', active_tts: null } }]);
      // a form body: llms as repeated keys
      const form = await ibl(s, 'PUT', meta, s.adminKey, { llms: ['openai', 'google'], active_tts: 'google' }, { as: 'form' });
      assert.equal(form.status, 200, form.text);
      assert.deepEqual(Object.keys(form.json[0].metadata.services), ['openai', 'google']);
      assert.equal(form.json[0].metadata.active_tts, 'google');
      // a second create merges options
      const again = await ibl(s, 'POST', meta, s.adminKey, { data: { llms: { openai: { llm_options: { temperature: 1 } } } } });
      assert.equal(again.status, 201);
      assert.deepEqual(again.json.metadata.services.openai, { llm_options: { temperature: 1 } });
      assert.equal(again.json.metadata.active_llm, 'google');
    });

    test('platform metadata: a PUT that changes nothing writes nothing and audits nothing', async () => {
      const updates = async () =>
        Number((await s.rt.store.db.selectFrom('audit_logs').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'platform_settings.updated').where('org_id', '=', orgId).executeTakeFirstOrThrow()).n);
      const stamp = async () => Number((await s.rt.store.db.selectFrom('platform_settings').select('updated_at').where('org_id', '=', orgId).executeTakeFirstOrThrow()).updated_at);
      const first = await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'openai', llms: ['openai', 'google'] });
      assert.equal(first.status, 200, first.text);
      const [n, at] = [await updates(), await stamp()];
      const same = await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'openai', llms: ['openai', 'google'] });
      assert.equal(same.status, 200, same.text);
      assert.deepEqual(same.json, first.json);
      assert.equal(await updates(), n, 'no audit event for a PUT that changes nothing');
      assert.equal(await stamp(), at, 'updated_at unchanged');
      const changed = await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'google', llms: ['openai', 'google'] });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(await updates(), n + 1);
      const payload = JSON.parse((await s.rt.store.db.selectFrom('audit_logs').select('payload').where('type', '=', 'platform_settings.updated').orderBy('created_at', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow()).payload);
      assert.deepEqual(payload, { changes: { activeLlm: 'google' } }, 'only what changed is recorded');
    });

    test('platform metadata bad input: unknown providers and wrong types are DRF 400s with no change', async () => {
      const audits = await auditCount(s);
      const before = (await ibl(s, 'GET', meta, s.adminKey)).json;
      assertFieldErrors(await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 'anthropic' }), ['active_llm'], { active_llm: /No LLM credential for provider 'anthropic'/ });
      assertFieldErrors(await ibl(s, 'PUT', meta, s.adminKey, { llms: ['openai', 'mistral'] }), ['llms'], { llms: /mistral/ });
      assertFieldErrors(await ibl(s, 'PUT', meta, s.adminKey, { llms: 'openai' }), ['llms'], { llms: /Expected a list/ });
      assertFieldErrors(await ibl(s, 'PUT', meta, s.adminKey, { active_llm: 5 }), ['active_llm'], { active_llm: /Not a valid string/ });
      assertFieldErrors(await ibl(s, 'POST', meta, s.adminKey, { data: { active_llm: 'anthropic' } }), ['active_llm']);
      assertFieldErrors(await ibl(s, 'POST', meta, s.adminKey, {}), ['data'], { data: /required/ });
      assertFieldErrors(await ibl(s, 'POST', meta, s.adminKey, { data: [1] }), ['data'], { data: /dictionary/ });
      assertFieldErrors(await ibl(s, 'POST', meta, s.adminKey, { data: { llms: { openai: { llm_options: 3 } } } }), ['data']);
      // an invalid embedded credential next to a valid one: nothing is written
      assertFieldErrors(await ibl(s, 'POST', meta, s.adminKey, { data: { llms: { mistral: { credential: { key: 'k' } }, 'bad/name': { credential: { key: 'k' } } } } }), ['data']);
      assert.deepEqual(await s.rt.core.credentials.names(orgId, 'llm'), ['openai', 'google']);
      assert.equal(await auditCount(s), audits);
      assert.deepEqual((await ibl(s, 'GET', meta, s.adminKey)).json, before);
      // a deleted credential drops out of services and of the active choices
      await ibl(s, 'DELETE', `${base}/credential/?name=google`, s.adminKey);
      const after = (await ibl(s, 'GET', meta, s.adminKey)).json[0].metadata;
      assert.deepEqual(Object.keys(after.services), ['openai']);
      assert.equal(after.active_llm, null);
    });

    test('use-default-llm-key and the per-user read', async () => {
      const userPath = (u: string) => `${base}/users/${encodeURIComponent(u)}/default-llm-key-usage`;
      const r0 = await ibl(s, 'GET', userPath(alice.id), s.adminKey);
      assert.equal(r0.status, 200);
      assert.deepEqual(r0.json, { use_main_credentials: false });
      const on = await ibl(s, 'POST', `${base}/use-default-llm-key/`, s.adminKey, { enable: true, disable: false });
      assert.equal(on.status, 200);
      assertMatchesSpec(SPEC, 'POST', P.defaultKey, 200, on.json);
      assert.deepEqual(on.json, { message: 'Tenant is now using the main credentials' });
      assert.deepEqual((await ibl(s, 'GET', userPath('alice@example.com'), s.adminKey)).json, { use_main_credentials: true });
      assert.equal((await s.rt.store.db.selectFrom('organizations').select('use_default_llm_key').where('id', '=', orgId).executeTakeFirstOrThrow()).use_default_llm_key, 1);
      const off = await ibl(s, 'POST', `${base}/use-default-llm-key/`, s.adminKey, { disable: 'true' }, { as: 'form' });
      assert.deepEqual(off.json, { message: 'Tenant is not using the main credentials' });
      assert.deepEqual((await ibl(s, 'GET', userPath(bob.id), s.adminKey)).json, { use_main_credentials: false });

      const carol = await s.rt.core.users.addMember(SYSTEM, otherId, { email: 'carol@example.com', role: 'reader' });
      const audits = await auditCount(s);
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-default-llm-key/`, s.adminKey, { message: 'hi' }), ['non_field_errors']);
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-default-llm-key/`, s.adminKey, { enable: true, disable: true }), ['non_field_errors']);
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-default-llm-key/`, s.adminKey, { enable: 'maybe' }), ['enable', 'non_field_errors'], { enable: /valid boolean/ });
      assertDetail(await ibl(s, 'GET', userPath('nobody@example.com'), s.adminKey), 404);
      assertDetail(await ibl(s, 'POST', `${base}/use-default-llm-key/`, readerKey, { enable: true }), 403);
      assertDetail(await ibl(s, 'POST', `${base}/use-default-llm-key/`, otherKey, { enable: true }), 404);
      // another tenant's member is not ours
      assertDetail(await ibl(s, 'GET', userPath(carol.id), s.adminKey), 404);
      assert.equal(await auditCount(s), audits);
    });

    test('use-free-trial (enable, disable, metadata) and the per-user {is_in_free_trial}', async () => {
      const userPath = (u: string) => `${base}/users/${encodeURIComponent(u)}/free-trial`;
      const r0 = await ibl(s, 'GET', userPath(alice.id), s.adminKey);
      assert.equal(r0.status, 200);
      assertMatchesSpec(SPEC, 'GET', P.userFreeTrial, 200, r0.json);
      assert.deepEqual(r0.json, { is_in_free_trial: false });
      const on = await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { enable: true, disable: false, metadata: { key: 'value' } });
      assert.equal(on.status, 200, on.text);
      assert.deepEqual(on.json, { message: 'Tenant is now in free trial' });
      assert.deepEqual((await ibl(s, 'GET', userPath('bob@example.com'), s.adminKey)).json, { is_in_free_trial: true });
      let settings = await s.rt.core.platform.settings(SYSTEM, orgId);
      const { freeTrialStartedAt, ...rest } = settings;
      assert.deepEqual(rest, { useDefaultLlmKey: false, freeTrialEnabled: true, freeTrialMetadata: { key: 'value' } });
      assert.equal(typeof freeTrialStartedAt, 'number', 'switching the trial on starts it');
      const meta = await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { metadata: { max_tokens: 1000 } }, { as: 'multipart' });
      assert.equal(meta.status, 200, meta.text);
      settings = await s.rt.core.platform.settings(SYSTEM, orgId);
      assert.deepEqual(settings.freeTrialMetadata, { max_tokens: 1000 });
      assert.equal(settings.freeTrialEnabled, true);
      const off = await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { disable: true });
      assert.deepEqual(off.json, { message: 'Tenant is not in free trial' });
      assert.deepEqual((await ibl(s, 'GET', userPath(alice.id), s.adminKey)).json, { is_in_free_trial: false });

      const audits = await auditCount(s);
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, {}), ['non_field_errors']);
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { metadata: 'x' }), ['metadata'], { metadata: /dictionary/ });
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { enable: true, metadata: [1] }), ['metadata']);
      // the allowance fields of the metadata are whole numbers (or null: no limit)
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { enable: true, metadata: { days: -1 } }), ['metadata'], { metadata: /days/ });
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { metadata: { tokens: 'lots' } }), ['metadata'], { metadata: /tokens/ });
      assertFieldErrors(await ibl(s, 'POST', `${base}/use-free-trial/`, s.adminKey, { metadata: { days: 1.5 } }), ['metadata'], { metadata: /days/ });
      assertDetail(await ibl(s, 'GET', userPath('user-00000000000000000000000000'), s.adminKey), 404);
      assert.equal(await auditCount(s), audits);
    });

    test('tokens: per-day sums from the rollups, filtered by username and session_id', async () => {
      const rec = (userId: string | null, sessionId: string | null, at: number, p: number, c: number, model = 'gpt-4o') =>
        s.rt.core.usage.record({ orgId, userId, sessionId, model, promptTokens: p, completionTokens: c, at });
      await rec(alice.id, 's-1', D1, 100, 10);
      await rec(alice.id, 's-1', D1 + 1000, 50, 5); // same rollup row
      await rec(alice.id, 's-2', D1 + 2000, 7, 3, 'gpt-4o-mini');
      await rec(bob.id, 's-3', D1 + 3000, 1000, 100);
      await rec(bob.id, 's-3', D2, 2, 1);
      await rec(null, null, D2 + 5, 30, 40);
      await s.rt.core.usage.record({ orgId: otherId, userId: null, sessionId: 's-other', model: 'gpt-4o', promptTokens: 9999, completionTokens: 9999, at: D1 });
      const rows = await s.rt.store.db.selectFrom('usage_daily').selectAll().where('org_id', '=', orgId).where('session_id', '=', 's-1').execute();
      assert.equal(rows.length, 1);
      assert.equal(Number(rows[0]!.requests), 2);
      assert.equal((await s.rt.store.db.selectFrom('usage_events').select('id').where('org_id', '=', orgId).execute()).length, 6);

      const all = await ibl(s, 'GET', `${base}/tokens/`, s.adminKey);
      assert.equal(all.status, 200, all.text);
      assert.deepEqual(all.json, [
        { date: '2024-02-05', prompt_tokens: 1157, completion_tokens: 118 },
        { date: '2024-02-06', prompt_tokens: 32, completion_tokens: 41 },
      ]);
      assert.deepEqual((await ibl(s, 'GET', `${base}/tokens/?username=${alice.id}`, s.adminKey)).json, [{ date: '2024-02-05', prompt_tokens: 157, completion_tokens: 18 }]);
      assert.deepEqual((await ibl(s, 'GET', `${base}/tokens/?username=bob%40example.com`, s.adminKey)).json, [
        { date: '2024-02-05', prompt_tokens: 1000, completion_tokens: 100 },
        { date: '2024-02-06', prompt_tokens: 2, completion_tokens: 1 },
      ]);
      assert.deepEqual((await ibl(s, 'GET', `${base}/tokens/?session_id=s-2`, s.adminKey)).json, [{ date: '2024-02-05', prompt_tokens: 7, completion_tokens: 3 }]);
      assert.deepEqual((await ibl(s, 'GET', `${base}/tokens/?session_id=s-3&username=${alice.id}`, s.adminKey)).json, []);
      // the rollups are what is read: events alone count for nothing
      await s.rt.store.db.insertInto('usage_events').values({ id: 'use_manual', org_id: orgId, project_id: null, api_key_id: null, user_id: alice.id, session_id: 's-1', model: 'x', prompt_tokens: 5, completion_tokens: 5, created_at: D1 }).execute();
      assert.deepEqual((await ibl(s, 'GET', `${base}/tokens/?session_id=s-1`, s.adminKey)).json, [{ date: '2024-02-05', prompt_tokens: 150, completion_tokens: 15 }]);

      assertDetail(await ibl(s, 'GET', `${base}/tokens/?session_id=nope`, s.adminKey), 404);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?session_id=s-other`, s.adminKey), 404); // another tenant's session
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?username=ghost%40example.com`, s.adminKey), 404);
      assertFieldErrors(await ibl(s, 'GET', `${base}/tokens/?username=`, s.adminKey), ['username']);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/`, readerKey), 403);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/`, otherKey), 404);
      const theirs = await ibl(s, 'GET', '/api/ai-account/orgs/other/tokens/', otherKey);
      assert.deepEqual(theirs.json, [{ date: '2024-02-05', prompt_tokens: 9999, completion_tokens: 9999 }]);
      // bad events are refused by the domain
      await assert.rejects(s.rt.core.usage.record({ orgId, model: 'gpt-4o', promptTokens: -1, completionTokens: 0 }), (e: any) => e.kind === 'invalid');
      await assert.rejects(s.rt.core.usage.record({ orgId: 'org-none', model: 'gpt-4o', promptTokens: 1, completionTokens: 0 }), (e: any) => e.kind === 'not_found');
    });
  });
}
