// Provider credential resolution (core.providerCredentials) on every dialect: the order (tenant
// credential, the operator's default under the default-LLM-key or free-trial switch, else a 400
// telling the tenant admin what to configure), value parsing, immediate invalidation on this node
// (credential update / delete, switches, default credentials, master-key rotation), the cache really
// sparing the database (queries counted through a Kysely plugin; a row deleted behind its back stays
// cached until an invalidation), use audited in aggregate (≤ 1 row per credential per minute), and,
// on PostgreSQL, invalidation across two nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { SYSTEM, keyActor, type Actor } from '../../src/domain/actor.ts';
import { Core } from '../../src/domain/core.ts';
import { generateKey } from '../../src/crypto/envelope.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { decodeScope, encodeScope, USE_WINDOW_MS } from '../../src/domain/provider-credentials.ts';
import { PLATFORM_AUDIT_ORG } from '../../src/domain/default-credentials.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';

const TENANT_KEY = 'sk-tenant-SECRET-0123456789abcdef';
const DEFAULT_KEY = 'sk-platform-SECRET-fedcba9876543210';

/** Counts the queries a Kysely instance runs (reads and writes apart). */
class QueryCounter implements KyselyPlugin {
  reads = 0;
  writes = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (args.node.kind === 'SelectQueryNode') this.reads++;
    else if (args.node.kind === 'InsertQueryNode' || args.node.kind === 'UpdateQueryNode' || args.node.kind === 'DeleteQueryNode') this.writes++;
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
  reset(): void {
    this.reads = 0;
    this.writes = 0;
  }
}

test('invalidation scopes travel as JSON and back', () => {
  for (const s of ['all', { orgId: 'org-a', provider: 'azure:openai' }, { orgId: 'org-a' }, { provider: 'openai' }] as const) assert.deepEqual(decodeScope(encodeScope(s)), s);
  assert.deepEqual(decodeScope(encodeScope({ orgId: 'org-a' }, 'node-1')), { orgId: 'org-a' });
  assert.equal(decodeScope('not json'), null);
  assert.equal(decodeScope('{}'), null);
});

for (const dialect of await testDialects()) {
  describe(`provider credential resolution (${dialect})`, () => {
    let db: TestDb;
    let store: Store;
    let core: Core;
    const counter = new QueryCounter();
    let clock = Date.now();
    const now = () => clock;
    let masterKey = generateKey();
    let orgId: string;
    let admin: Actor;
    const resolve = (provider = 'openai') => core.providerCredentials.resolve(orgId, provider);
    const rejectsWith = async (p: Promise<unknown>, code: string, re?: RegExp) =>
      assert.rejects(p, (e: any) => {
        assert.equal(e.name, 'DomainError');
        assert.equal(e.kind, 'invalid');
        assert.equal(e.code, code);
        assert.equal(e.param, null);
        if (re) assert.match(e.message, re);
        assert.ok(!/SECRET/.test(e.message), 'no secret in the message');
        return true;
      });

    before(async () => {
      db = await createTestDb(dialect);
      const raw = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      await raw.migrate();
      // the core sees the database through the counting plugin
      store = { ...raw, db: raw.db.withPlugin(counter) };
      // no background flush during the test (it would add its own queries to the count): the test flushes
      core = new Core(store, { masterKey, now, databaseUrl: db.databaseUrl, usageFlushMs: 3_600_000 });
      await core.start();
      const org = await core.orgs.create(SYSTEM, { name: 'Acme', slug: 'acme' });
      orgId = org.org.id;
      admin = keyActor((await core.keys.verify(org.adminKey.secret))!);
    });
    after(async () => {
      await core?.stop().catch(() => {});
      await store?.close().catch(() => {});
      await db?.drop();
    });

    test('nothing configured: a 400 telling the tenant admin what to add', async () => {
      await rejectsWith(resolve(), 'provider_credential_missing', /No credential for provider 'openai': add one through the ibl\.ai credential API \(name 'openai'\) or ask the operator to enable the default LLM key\./);
      // the switch on but no default credential set by the operator: said so
      await core.platform.setDefaultLlmKey(admin, orgId, true);
      await rejectsWith(resolve(), 'provider_credential_missing', /default LLM key is enabled.*operator has set no default credential for 'openai'/);
      await core.platform.setDefaultLlmKey(admin, orgId, false);
      await assert.rejects(core.providerCredentials.resolve('org-nope', 'openai'), (e: any) => e.kind === 'not_found');
      await assert.rejects(resolve('bad\u0000name'), (e: any) => e.kind === 'invalid' && e.param === 'provider');
    });

    test('the platform default applies under the default-LLM-key switch, or else the free trial; switches apply at once', async () => {
      await core.defaultCredentials.set(SYSTEM, 'openai', { key: DEFAULT_KEY, base_url: 'https://llm.example/v1' });
      await core.platform.setFreeTrial(admin, orgId, { enabled: true });
      const trial = await resolve();
      assert.equal(trial.source, 'free_trial');
      assert.deepEqual(trial.secret, { apiKey: DEFAULT_KEY, baseUrl: 'https://llm.example/v1' });
      // both on: the default key wins
      await core.platform.setDefaultLlmKey(admin, orgId, true);
      const both = await resolve();
      assert.equal(both.source, 'platform_default');
      assert.equal(both.credentialId, trial.credentialId);
      assert.equal(both.provider, 'openai');
      await core.platform.setFreeTrial(admin, orgId, { enabled: false });
      assert.equal((await resolve()).source, 'platform_default');
      await core.platform.setDefaultLlmKey(admin, orgId, false);
      await rejectsWith(resolve(), 'provider_credential_missing');
      await core.platform.setFreeTrial(admin, orgId, { enabled: true });
      assert.equal((await resolve()).source, 'free_trial');
      // a change of the operator's default is seen at once
      await core.defaultCredentials.set(SYSTEM, 'openai', { api_key: `${DEFAULT_KEY}-v2` });
      assert.deepEqual((await resolve()).secret, { apiKey: `${DEFAULT_KEY}-v2` });
    });

    test("the tenant's own credential wins; its update and deletion are seen by the next resolve", async () => {
      await core.credentials.create(admin, orgId, 'llm', { name: 'openai', value: { key: TENANT_KEY }, platform: 'acme' });
      const own = await resolve();
      assert.equal(own.source, 'tenant');
      assert.deepEqual(own.secret, { apiKey: TENANT_KEY });
      const row = await store.db.selectFrom('credentials').select('id').where('org_id', '=', orgId).where('name', '=', 'openai').executeTakeFirstOrThrow();
      assert.equal(own.credentialId, row.id);
      // rotation of the tenant's key
      await core.credentials.update(admin, orgId, 'llm', 'openai', { value: { key: `${TENANT_KEY}-rotated` } });
      assert.equal((await resolve()).secret.apiKey, `${TENANT_KEY}-rotated`);
      // what a caller gets is frozen: it cannot change what the next caller gets
      const mine = await resolve();
      assert.throws(() => {
        (mine.secret as { apiKey: string }).apiKey = 'tampered';
      }, TypeError);
      assert.equal((await resolve()).secret.apiKey, `${TENANT_KEY}-rotated`);
      // deleted: back to the platform default (free trial still on)…
      await core.credentials.delete(admin, orgId, 'llm', 'openai');
      assert.equal((await resolve()).source, 'free_trial');
      // …or, without a switch, the 400
      await core.platform.setFreeTrial(admin, orgId, { enabled: false });
      await rejectsWith(resolve(), 'provider_credential_missing');
      // written through ibl.ai platform metadata (a credential inside a larger transaction): seen too
      await core.platform.createMetadata(admin, orgId, { platform: 'acme', llms: { openai: { credential: { key: `${TENANT_KEY}-meta` } } } });
      const meta = await store.db.selectFrom('credentials').select('id').where('org_id', '=', orgId).where('name', '=', 'openai').executeTakeFirstOrThrow();
      assert.deepEqual(await resolve(), { source: 'tenant', credentialId: meta.id, provider: 'openai', secret: { apiKey: `${TENANT_KEY}-meta` } });
      await core.credentials.delete(admin, orgId, 'llm', 'openai');
      await rejectsWith(resolve(), 'provider_credential_missing');
    });

    test('Azure fields and the api_key alias are read; a value without a usable key is a clear 400', async () => {
      const azure = { api_key: `${TENANT_KEY}-az`, endpoint: 'https://acme.openai.azure.com', deployment: 'gpt-4o-prod', api_version: '2024-10-21', note: 'ignored' };
      await core.credentials.create(admin, orgId, 'llm', { name: 'azure', value: azure, platform: 'acme' });
      assert.deepEqual((await resolve('azure')).secret, { apiKey: azure.api_key, endpoint: azure.endpoint, deployment: azure.deployment, apiVersion: azure.api_version });
      const bad: Array<[unknown, RegExp]> = [
        [{ token: `${TENANT_KEY}-tok` }, /credential for provider 'broken' is unusable: its value has no API key: set "key" \(or "api_key"\)/],
        [{ key: '' }, /no API key/],
        [{ key: 42 }, /no API key/],
        [`${TENANT_KEY}-bare-string`, /must be a JSON object/],
        [{ key: `${TENANT_KEY}-a`, api_key: `${TENANT_KEY}-b` }, /both "key" and "api_key"/],
        [{ key: `${TENANT_KEY}-c`, endpoint: 7 }, /"endpoint" must be a non-empty string/],
        [{ key: `${TENANT_KEY}-d`, base_url: 'llm.internal/v1' }, /"base_url" must be an http:\/\/ or https:\/\/ URL/],
        [{ key: `${TENANT_KEY}-e`, endpoint: 'ftp://acme.example' }, /"endpoint" must be an http:\/\/ or https:\/\/ URL/],
      ];
      await core.credentials.create(admin, orgId, 'llm', { name: 'broken', value: bad[0]![0], platform: 'acme' });
      // the switch on: a broken tenant credential still wins (no silent fallback to the platform's key)
      await core.platform.setDefaultLlmKey(admin, orgId, true);
      await core.defaultCredentials.set(SYSTEM, 'broken', { key: DEFAULT_KEY });
      for (const [value, re] of bad) {
        await core.credentials.update(admin, orgId, 'llm', 'broken', { value });
        await rejectsWith(resolve('broken'), 'provider_credential_invalid', re);
      }
      await core.platform.setDefaultLlmKey(admin, orgId, false);
      // the operator's default is checked when it is set
      await assert.rejects(core.defaultCredentials.set(SYSTEM, 'openai', { secret: DEFAULT_KEY }), (e: any) => e.code === 'provider_credential_invalid' && !e.message.includes('SECRET'));
    });

    test('a cached resolution costs no database query and no write; a change behind its back shows only at an invalidation', async () => {
      await core.credentials.create(admin, orgId, 'llm', { name: 'cached', value: { key: `${TENANT_KEY}-cached` }, platform: 'acme' });
      await resolve('cached'); // fill
      counter.reset();
      for (let i = 0; i < 100; i++) assert.equal((await resolve('cached')).secret.apiKey, `${TENANT_KEY}-cached`);
      assert.deepEqual({ reads: counter.reads, writes: counter.writes }, { reads: 0, writes: 0 }, '100 cached resolves: no query');
      // a fill is reads only (the credential with its data key), never a write
      core.providerCredentials.invalidateLocal({ orgId, provider: 'cached' });
      counter.reset();
      await resolve('cached');
      assert.equal(counter.writes, 0);
      assert.ok(counter.reads >= 1 && counter.reads <= 1, `one read for a tenant credential, got ${counter.reads}`);
      // the row deleted in SQL, behind the service: the cache still answers (it does not read)…
      await store.db.deleteFrom('credentials').where('org_id', '=', orgId).where('name', '=', 'cached').execute();
      assert.equal((await resolve('cached')).secret.apiKey, `${TENANT_KEY}-cached`);
      // …until something invalidates the entry
      core.providerCredentials.invalidateLocal({ orgId, provider: 'cached' });
      await rejectsWith(resolve('cached'), 'provider_credential_missing');
      // concurrent first resolves share one fill
      await core.credentials.create(admin, orgId, 'llm', { name: 'burst', value: { key: `${TENANT_KEY}-burst` }, platform: 'acme' });
      counter.reset();
      const all = await Promise.all(Array.from({ length: 20 }, () => resolve('burst')));
      assert.ok(all.every((r) => r.secret.apiKey === `${TENANT_KEY}-burst`));
      assert.equal(counter.reads, 1, 'one fill for 20 concurrent resolves');
    });

    test('invalidation is scoped: a switch drops only that organization, a default only that provider', async () => {
      const other = await core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' });
      const otherId = other.org.id;
      await core.defaultCredentials.set(SYSTEM, 'p1', { key: `${DEFAULT_KEY}-p1` });
      await core.defaultCredentials.set(SYSTEM, 'p2', { key: `${DEFAULT_KEY}-p2` });
      await core.platform.setFreeTrial(admin, orgId, { enabled: true });
      await core.platform.setFreeTrial(SYSTEM, otherId, { enabled: true });
      const fill = async () => {
        core.providerCredentials.invalidateLocal('all');
        for (const o of [orgId, otherId]) for (const p of ['p1', 'p2']) await core.providerCredentials.resolve(o, p);
        assert.equal(core.providerCredentials.size, 4);
      };
      await fill();
      await core.platform.setDefaultLlmKey(SYSTEM, otherId, false); // no change of value, still a change notice
      assert.equal(core.providerCredentials.size, 2, "the other organization's two entries dropped");
      counter.reset();
      for (const p of ['p1', 'p2']) await core.providerCredentials.resolve(orgId, p);
      assert.equal(counter.reads, 0, "this organization's entries kept");
      await fill();
      await core.defaultCredentials.set(SYSTEM, 'p2', { key: `${DEFAULT_KEY}-p2b` });
      assert.equal(core.providerCredentials.size, 2, "p2's entries dropped in both organizations");
      assert.equal((await core.providerCredentials.resolve(otherId, 'p2')).secret.apiKey, `${DEFAULT_KEY}-p2b`);
      await core.platform.setFreeTrial(admin, orgId, { enabled: false });
    });

    test('use is audited in aggregate: 100 resolves → one credential.decrypted row per minute window', async () => {
      await core.flush(true); // earlier tests' uses out of the way
      const rows = async () =>
        store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', orgId).where('type', '=', 'credential.decrypted').orderBy('created_at').orderBy('id').execute();
      const before = (await rows()).length;
      await core.credentials.create(admin, orgId, 'llm', { name: 'audited', value: { key: `${TENANT_KEY}-audited` }, platform: 'acme' });
      const id = (await resolve('audited')).credentialId;
      for (let i = 1; i < 100; i++) await resolve('audited');
      counter.reset();
      await core.flush();
      assert.equal((await rows()).length, before, 'nothing written before the window has passed');
      clock += USE_WINDOW_MS - 1;
      await core.flush();
      assert.equal((await rows()).length, before);
      clock += 1;
      await core.flush();
      const written = (await rows()).slice(before);
      assert.equal(written.length, 1);
      assert.equal(written[0]!.target_id, id);
      assert.equal(written[0]!.actor_type, 'system');
      const p = JSON.parse(written[0]!.payload);
      assert.deepEqual({ ...p, from: typeof p.from, to: typeof p.to }, { name: 'audited', kind: 'llm', purpose: 'provider', source: 'tenant', uses: 100, from: 'number', to: 'number' });
      assert.ok(p.to - p.from < USE_WINDOW_MS);
      // the next uses open a new window: still one row per minute
      for (let i = 0; i < 30; i++) {
        await resolve('audited');
        clock += 1_000; // 30 s of traffic
        await core.flush();
      }
      assert.equal((await rows()).length, before + 1, 'no second row within the minute');
      clock += 30_000;
      await core.flush();
      const second = (await rows()).slice(before + 1);
      assert.equal(second.length, 1);
      assert.equal(JSON.parse(second[0]!.payload).uses, 30);
      // a platform default's use is recorded in the tenant's log, naming the default credential
      await core.platform.setDefaultLlmKey(admin, orgId, true);
      const d = await resolve('openai');
      assert.equal(d.source, 'platform_default');
      await core.flush(true);
      const last = (await rows()).at(-1)!;
      assert.equal(last.target_type, 'default_credential');
      assert.equal(last.target_id, d.credentialId);
      assert.equal(JSON.parse(last.payload).source, 'platform_default');
      await core.platform.setDefaultLlmKey(admin, orgId, false);
      // no secret anywhere in the audit log
      assert.ok(!JSON.stringify(await store.db.selectFrom('audit_logs').selectAll().execute()).includes('SECRET'));
    });

    test('rotating the master key drops the cache; resolution then works under the new key (tenant and platform values)', async () => {
      await core.platform.setFreeTrial(admin, orgId, { enabled: true });
      assert.equal((await resolve('audited')).source, 'tenant');
      assert.equal((await resolve('openai')).source, 'free_trial');
      assert.ok(core.providerCredentials.size >= 2);
      const next = generateKey();
      const r = await core.credentials.rotateMasterKeyAndReseal(next);
      assert.equal(r.platformKey, true);
      assert.equal(core.providerCredentials.size, 0, 'cache dropped');
      assert.equal((await resolve('audited')).secret.apiKey, `${TENANT_KEY}-audited`);
      assert.equal((await resolve('openai')).secret.apiKey, `${DEFAULT_KEY}-v2`);
      const platformKey = await store.db.selectFrom('platform_data_key').selectAll().executeTakeFirstOrThrow();
      assert.notEqual(platformKey.rotated_at, null);
      const rotated = await store.db.selectFrom('audit_logs').select('target_type').where('org_id', '=', PLATFORM_AUDIT_ORG).where('type', '=', 'vault.master_key_rotated').execute();
      assert.deepEqual(rotated.map((x) => x.target_type), ['platform_data_key']);
      // a fresh core with the new key (a restart) opens both; with the old one, neither
      const fresh = new Core(store, { masterKey: next });
      assert.equal((await fresh.providerCredentials.resolve(orgId, 'openai')).secret.apiKey, `${DEFAULT_KEY}-v2`);
      assert.equal((await fresh.providerCredentials.resolve(orgId, 'audited')).secret.apiKey, `${TENANT_KEY}-audited`);
      const stale = new Core(store, { masterKey });
      await assert.rejects(stale.providerCredentials.resolve(orgId, 'openai'), { name: 'MasterKeyMismatchError', message: /must restart keyplane with the new master key/ });
      await assert.rejects(stale.providerCredentials.resolve(orgId, 'audited'), { name: 'MasterKeyMismatchError' });
      masterKey = next;
      await core.platform.setFreeTrial(admin, orgId, { enabled: false });
    });

    if (dialect === 'postgres') {
      test('two nodes on one database: a change on one is seen by the other within a second', async () => {
        const other = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
        const node2 = new Core(other, { masterKey, databaseUrl: db.databaseUrl });
        await node2.start();
        try {
          const seen = async (want: (r: { source: string; apiKey: string } | string) => boolean, provider: string) => {
            const t0 = Date.now();
            for (;;) {
              let got: { source: string; apiKey: string } | string;
              try {
                const r = await node2.providerCredentials.resolve(orgId, provider);
                got = { source: r.source, apiKey: r.secret.apiKey };
              } catch (e: any) {
                got = e.code;
              }
              if (want(got)) return Date.now() - t0;
              assert.ok(Date.now() - t0 < 1000, `not seen within 1 s: ${JSON.stringify(got)}`);
              await new Promise((r) => setTimeout(r, 20));
            }
          };
          await core.credentials.create(admin, orgId, 'llm', { name: 'shared', value: { key: `${TENANT_KEY}-n1` }, platform: 'acme' });
          await seen((g) => typeof g === 'object' && g.apiKey === `${TENANT_KEY}-n1`, 'shared'); // node 2 caches it
          // the tenant rotates its key on node 1
          await core.credentials.update(admin, orgId, 'llm', 'shared', { value: { key: `${TENANT_KEY}-n1-rotated` } });
          await seen((g) => typeof g === 'object' && g.apiKey === `${TENANT_KEY}-n1-rotated`, 'shared');
          // deleted on node 1: node 2 falls back to the 400
          await core.credentials.delete(admin, orgId, 'llm', 'shared');
          await seen((g) => g === 'provider_credential_missing', 'shared');
          // a switch changed on node 1
          await core.defaultCredentials.set(SYSTEM, 'shared', { key: `${DEFAULT_KEY}-shared` });
          await core.platform.setDefaultLlmKey(admin, orgId, true);
          await seen((g) => typeof g === 'object' && g.source === 'platform_default' && g.apiKey === `${DEFAULT_KEY}-shared`, 'shared');
          // the operator's default changed on node 1
          await core.defaultCredentials.set(SYSTEM, 'shared', { key: `${DEFAULT_KEY}-shared-2` });
          await seen((g) => typeof g === 'object' && g.apiKey === `${DEFAULT_KEY}-shared-2`, 'shared');
          await core.defaultCredentials.delete(SYSTEM, 'shared');
          await seen((g) => g === 'provider_credential_missing', 'shared');
          await core.platform.setDefaultLlmKey(admin, orgId, false);
        } finally {
          await node2.stop();
          await other.close();
        }
      });
    }
  });
}
