// The SQLite store's prepared-statement cache (src/store/statement-cache.ts): Kysely's queries reuse
// the statement prepared for their SQL text, the cache stays bounded however many distinct texts
// run, and a statement prepared before a schema change (a migration adding a column, a table
// dropped and created again) answers with the new schema. The schema-change cases run on both
// dialects (PostgreSQL has no such cache: the same queries must simply work there too).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/store/db.ts';
import { STATEMENT_CACHE_MAX } from '../../src/store/statement-cache.ts';
import { compiledOnce } from '../../src/store/compiled.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

for (const dialect of await testDialects()) {
  describe(`prepared statements across schema changes (${dialect})`, () => {
    let tdb: TestDb;
    let store: Store;
    before(async () => {
      tdb = await createTestDb(dialect);
      store = openStore({ dataDir: tdb.dataDir, databaseUrl: tdb.databaseUrl });
      await store.migrate();
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    test('a repeated select * sees a column added by a migration, and a table dropped and created again', async () => {
      const db = store.db;
      await sql`create table cache_probe (id integer primary key, name text not null)`.execute(db);
      await sql`insert into cache_probe (id, name) values (1, 'one')`.execute(db);
      const read = () => sql<Record<string, unknown>>`select * from cache_probe where id = ${1}`.execute(db).then((r) => r.rows);
      assert.deepEqual(await read(), [{ id: 1, name: 'one' }]);
      assert.deepEqual(await read(), [{ id: 1, name: 'one' }]);

      // a migration's ALTER TABLE in a transaction, as the Migrator runs it
      await db.transaction().execute(async (tx) => {
        await sql`alter table cache_probe add column color text not null default 'blue'`.execute(tx);
      });
      assert.deepEqual(await read(), [{ id: 1, name: 'one', color: 'blue' }]);

      await sql`drop table cache_probe`.execute(db);
      await assert.rejects(read(), /cache_probe/);
      await sql`create table cache_probe (id integer primary key, size integer not null)`.execute(db);
      await sql`insert into cache_probe (id, size) values (1, 42)`.execute(db);
      assert.deepEqual(await read(), [{ id: 1, size: 42 }]);
      await sql`drop table cache_probe`.execute(db);
    });

    test('a query compiled once runs with each call’s values, in their places, beside the constants it was built with', async () => {
      const now = Date.now();
      for (const [slug, name] of [['x', 'Same'], ['y', 'Same'], ['z', 'Other']]) {
        await store.db.insertInto('organizations').values({ id: `org-${slug}`, slug: slug!, name: name!, use_default_llm_key: 0, free_trial_enabled: slug === 'y' ? 1 : 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
      }
      // arguments used in the opposite order of the parameters, and a constant between them
      const find = compiledOnce(2, (db, name: string, slug: string) =>
        db.selectFrom('organizations').select(['id']).where('slug', '=', slug).where('free_trial_enabled', '=', 0).where('name', '=', name),
      );
      assert.deepEqual(await find(store.db, 'Same', 'x'), [{ id: 'org-x' }]);
      assert.deepEqual(await find(store.db, 'Same', 'y'), [], 'the constant still applies');
      assert.deepEqual(await find(store.db, 'Other', 'z'), [{ id: 'org-z' }]);
      assert.deepEqual(await find(store.db, 'Other', 'x'), []);
      // inside a transaction too
      await store.db.transaction().execute(async (tx) => {
        assert.deepEqual(await find(tx, 'Same', 'x'), [{ id: 'org-x' }]);
      });
      await assert.rejects(compiledOnce(1, (db, _unused: string) => db.selectFrom('organizations').select('id'))(store.db, 'a'), /argument 0 is not a parameter/);
    });
  });
}

describe('statement cache (sqlite)', () => {
  let tdb: TestDb;
  let store: Store;
  before(async () => {
    tdb = await createTestDb('sqlite');
    store = openStore({ dataDir: tdb.dataDir });
    await store.migrate();
  });
  after(async () => {
    await store?.close();
    await tdb?.drop();
  });

  test('a query run again reuses its statement and returns its own parameters’ rows', async () => {
    const cache = store.statements!;
    assert.ok(cache, 'the SQLite store caches statements');
    const now = Date.now();
    for (const slug of ['a', 'b']) {
      await store.db.insertInto('organizations').values({ id: `org-${slug}`, slug, name: slug.toUpperCase(), use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
    }
    const bySlug = (slug: string) => store.db.selectFrom('organizations').select(['id', 'name']).where('slug', '=', slug).executeTakeFirst();
    assert.deepEqual(await bySlug('a'), { id: 'org-a', name: 'A' });
    const misses = cache.misses;
    const hits = cache.hits;
    assert.deepEqual(await bySlug('b'), { id: 'org-b', name: 'B' });
    assert.deepEqual(await bySlug('a'), { id: 'org-a', name: 'A' });
    assert.equal(await bySlug('c'), undefined);
    assert.equal(cache.misses, misses, 'no statement prepared again');
    assert.equal(cache.hits, hits + 3);
  });

  test(`the cache holds at most ${STATEMENT_CACHE_MAX} statements however many distinct SQL texts run, each answering correctly`, async () => {
    const cache = store.statements!;
    const n = STATEMENT_CACHE_MAX + 200;
    for (let i = 0; i < n; i++) {
      // a literal in the text: every query is a text of its own
      const r = await sql<{ v: number; p: string }>`select ${sql.raw(String(i))} as v, ${`p${i}`} as p`.execute(store.db);
      assert.deepEqual(r.rows, [{ v: i, p: `p${i}` }]);
      assert.ok(cache.size <= STATEMENT_CACHE_MAX, `size ${cache.size} after ${i + 1} texts`);
    }
    assert.equal(cache.size, STATEMENT_CACHE_MAX);
    // evicted texts are prepared again and still answer
    const r = await sql<{ v: number }>`select ${sql.raw('0')} as v`.execute(store.db);
    assert.deepEqual(r.rows, [{ v: 0 }]);
    // transactions (begin/commit/rollback statements are cached too) still commit and roll back
    await store.db.transaction().execute(async (tx) => {
      await tx.updateTable('organizations').set({ name: 'A2' }).where('id', '=', 'org-a').execute();
    });
    await assert.rejects(
      store.db.transaction().execute(async (tx) => {
        await tx.updateTable('organizations').set({ name: 'A3' }).where('id', '=', 'org-a').execute();
        throw new Error('boom');
      }),
      /boom/,
    );
    const row = await store.db.selectFrom('organizations').select('name').where('id', '=', 'org-a').executeTakeFirstOrThrow();
    assert.equal(row.name, 'A2');
  });
});

describe('admin reads over HTTP reuse prepared statements (sqlite)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('sqlite');
  });
  after(async () => {
    await s?.close();
  });

  test('GET of a project, repeated: the right project each time, no statement prepared after the first', async () => {
    const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    const p1 = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'first' });
    const p2 = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'second' });
    const get = async (id: string) => {
      const res = await fetch(`${s.url}/v1/organization/projects/${id}`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.equal(res.status, 200);
      return (await res.json()) as { id: string; name: string };
    };
    await get(p1.id); // warms the key cache and the statements
    // every SQL text prepared from now on (background writes, e.g. the keys' last-use flush, may prepare theirs)
    const sqlite = s.rt.store.sqlite!;
    const prepared: string[] = [];
    const prepare = sqlite.prepare.bind(sqlite);
    sqlite.prepare = ((text: string) => (prepared.push(text), prepare(text))) as typeof sqlite.prepare;
    for (let i = 0; i < 5; i++) {
      const [a, b] = [await get(p1.id), await get(p2.id)];
      assert.equal(a.id, p1.id);
      assert.equal(a.name, 'first');
      assert.equal(b.id, p2.id);
      assert.equal(b.name, 'second');
    }
    assert.deepEqual(prepared.filter((t) => /projects/.test(t)), [], 'the project read was not prepared again');
    assert.ok(s.rt.store.statements!.hits >= 10);
  });
});
