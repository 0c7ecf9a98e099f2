// The bulk writer of gateway usage events (src/store/usage-writes.ts), on SQLite (through its
// prepared statement, and through Kysely when no connection is given) and PostgreSQL (one
// jsonb_to_recordset statement per slice): every column lands as given, ids already present are
// skipped and not reported, slices are seamless, and a rolled-back transaction leaves nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/db.ts';
import { insertUsageEvents, PG_SLICE, SQLITE_SLICE, type UsageEventRow } from '../../src/store/usage-writes.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';

function row(i: number, over: Partial<UsageEventRow> = {}): UsageEventRow {
  return {
    id: `use_${String(i).padStart(8, '0')}`,
    org_id: 'org-w',
    project_id: i % 3 ? 'proj_1' : null,
    api_key_id: `key_${i % 5}`,
    user_id: i % 2 ? 'alice@example.com' : null,
    session_id: i % 4 ? null : "sess-'quoted' \"too\" {a,b} back\\slash NULL",
    model: 'gpt-4o',
    prompt_tokens: 2 ** 40 + i,
    completion_tokens: i,
    created_at: 1_760_000_000_000 + i,
    key_owner_type: i % 2 ? 'user' : 'service_account',
    key_owner_id: 'owner',
    served_model: 'gpt-4o-2024-08-06',
    provider: 'openai',
    credential_source: i % 3 === 0 ? 'free_trial' : 'tenant',
    endpoint: 'chat.completions',
    cached_input_tokens: i % 7,
    images: i % 2,
    audio_ms: 1500,
    audio_bytes: 2 ** 33,
    cost_nano_usd: 123_456_789_012 + i,
    status: i % 10 ? 200 : 502,
    latency_ms: 2 ** 31 - 1,
    stream: i % 2,
    service_tier: i % 2 ? 'default' : null,
    batch: 0,
    characters: i,
    ...over,
  };
}

for (const dialect of await testDialects()) {
  describe(`usage event bulk writes (${dialect})`, () => {
    let tdb: TestDb;
    let store: Store;
    before(async () => {
      tdb = await createTestDb(dialect);
      store = openStore({ dataDir: tdb.dataDir, databaseUrl: tdb.databaseUrl });
      await store.migrate();
      const now = Date.now();
      await store.db.insertInto('organizations').values({ id: 'org-w', slug: 'w', name: 'W', use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    const paths = dialect === 'sqlite' ? (['prepared', 'kysely'] as const) : (['jsonb_to_recordset'] as const);
    for (const via of paths) {
      test(`every column as given, across slices; duplicates skipped and not reported (${via})`, async () => {
        const base = via === 'prepared' ? 0 : 100_000;
        const n = Math.max(SQLITE_SLICE, dialect === 'postgres' ? PG_SLICE : 0) * 2 + 7;
        const rows = Array.from({ length: n }, (_, i) => row(base + i));
        const raw = via === 'prepared' ? store.sqlite : null;
        const first = await store.db.transaction().execute((tx) => insertUsageEvents(tx, rows, raw));
        assert.equal(first.size, n);
        // half again plus new ones: only the new are inserted and reported
        const again = [...rows.slice(0, 10), row(base + n), row(base + n + 1)];
        const second = await store.db.transaction().execute((tx) => insertUsageEvents(tx, again, raw));
        assert.deepEqual([...second].sort(), [row(base + n).id, row(base + n + 1).id]);
        const stored = await store.db.selectFrom('usage_events').selectAll().where('id', '>=', row(base).id).where('id', '<=', row(base + n + 1).id).orderBy('id').execute();
        assert.equal(stored.length, n + 2);
        for (const [i, s] of stored.entries()) assert.deepEqual({ ...s }, row(base + i), `row ${i}`);
      });
    }

    test('a rolled-back transaction leaves nothing', async () => {
      const rows = [row(900_001), row(900_002)];
      await assert.rejects(
        store.db.transaction().execute(async (tx) => {
          await insertUsageEvents(tx, rows, store.sqlite);
          throw new Error('roll back');
        }),
        /roll back/,
      );
      const left = await store.db.selectFrom('usage_events').select('id').where('id', 'in', rows.map((r) => r.id)).execute();
      assert.deepEqual(left, []);
    });
  });
}
