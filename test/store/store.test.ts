// Store-level behaviour on every dialect: migrations, constraints, number types, keyset pages.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, isUniqueViolation, type Store } from '../../src/store/db.ts';
import { keysetPage } from '../../src/domain/paging.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';

const TABLES = [
  'organizations', 'users', 'org_memberships', 'invites', 'projects', 'project_members', 'groups', 'group_members',
  'project_groups', 'roles', 'role_assignments', 'service_accounts', 'api_keys', 'rate_limits', 'certificates',
  'project_certificates', 'data_keys', 'credentials', 'platform_settings', 'usage_events', 'usage_daily', 'usage_rollups', 'audit_logs',
  'idempotency_records', 'platform_data_key', 'platform_credentials',
  'spend_limits', 'spend_alerts', 'spend_alert_firings', // 0007
  'project_settings', 'organization_data_retention', // 0008
  'user_passwords', 'console_sessions', // 0011
];

for (const dialect of await testDialects()) {
  describe(`store (${dialect})`, () => {
    let tdb: TestDb;
    let store: Store;
    before(async () => {
      tdb = await createTestDb(dialect);
      store = openStore({ dataDir: tdb.dataDir, databaseUrl: tdb.databaseUrl });
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    test('migrations create the whole model once; a second run applies nothing', async () => {
      const applied = await store.migrate();
      assert.deepEqual(applied, ['0001_core_model', '0002_audit_request_context', '0003_gateway_usage', '0004_platform_credentials', '0005_free_trial_start', '0006_usage_rollups', '0007_spend', '0008_project_settings', '0009_unique_rules', '0010_org_disabled', '0011_console_auth']);
      assert.deepEqual(await store.migrate(), []);
      const tables = (await store.db.introspection.getTables()).map((t) => t.name);
      for (const t of TABLES) assert.ok(tables.includes(t), `table ${t}`);
    });

    test('bigint columns come back as numbers; unique slugs are enforced', async () => {
      const now = Date.now();
      await store.db.insertInto('organizations').values({ id: 'org-a', slug: 'a', name: 'A', use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
      const row = await store.db.selectFrom('organizations').selectAll().where('id', '=', 'org-a').executeTakeFirstOrThrow();
      assert.equal(row.created_at, now);
      assert.equal(typeof row.created_at, 'number');
      const n = await store.db.selectFrom('organizations').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      assert.equal(n.n, 1);
      await assert.rejects(
        store.db.insertInto('organizations').values({ id: 'org-b', slug: 'a', name: 'B', use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute(),
        (e) => isUniqueViolation(e),
      );
    });

    test('a failed transaction leaves nothing behind', async () => {
      const now = Date.now();
      await assert.rejects(
        store.db.transaction().execute(async (tx) => {
          await tx.insertInto('organizations').values({ id: 'org-t', slug: 't', name: 'T', use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
          await tx.insertInto('audit_logs').values({ id: 'a1', org_id: 'org-t', type: 'x', actor_type: 'system', actor_id: null, actor_key_id: null, target_type: null, target_id: null, project_id: null, payload: '{}', created_at: now }).execute();
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.equal(await store.db.selectFrom('organizations').select('id').where('id', '=', 'org-t').executeTakeFirst(), undefined);
      assert.equal(await store.db.selectFrom('audit_logs').select('id').where('id', '=', 'a1').executeTakeFirst(), undefined);
    });

    test('keyset pages cover every row once, ties on created_at broken by id, both orders', async () => {
      const base = 1_700_000_000_000;
      const rows = Array.from({ length: 25 }, (_, i) => ({
        id: `audit_log-${String(i).padStart(3, '0')}`,
        org_id: 'org-p',
        type: 'x',
        actor_type: 'system',
        actor_id: null,
        actor_key_id: null,
        target_type: null,
        target_id: null,
        project_id: null,
        payload: '{}',
        created_at: base + Math.floor(i / 4), // groups of four share a millisecond
      }));
      await store.db.insertInto('audit_logs').values(rows).execute();
      for (const order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let after: string | undefined;
        for (;;) {
          const q = store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', 'org-p');
          const page = await keysetPage(q, 'audit_logs', { limit: 7, after, order });
          seen.push(...page.items.map((r) => r.id));
          if (!page.hasMore) break;
          after = page.items[page.items.length - 1]!.id;
        }
        const expected = rows.map((r) => r.id);
        assert.deepEqual(seen, order === 'asc' ? expected : [...expected].reverse());
      }
      // a cursor outside the filtered listing is refused
      const q = store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', 'org-other');
      await assert.rejects(keysetPage(q, 'audit_logs', { limit: 5, after: 'audit_log-001' }), (e: any) => e.kind === 'invalid' && e.param === 'after');
    });

    test('ping works and readiness fails after close', async () => {
      await store.ping();
    });
  });
}
