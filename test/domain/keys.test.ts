// Key rules on every dialect: who may issue and change keys, audit rows written with each change,
// verification and its cache, buffered usage, and cross-node invalidation on PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM, ROOT, keyActor, type Actor } from '../../src/domain/actor.ts';
import { hashSecret } from '../../src/crypto/keys.ts';
import { openTestCore, type TestCore } from '../helpers/core.ts';
import { testDialects } from '../helpers/db.ts';
import { Core } from '../../src/domain/core.ts';
import { openStore } from '../../src/store/db.ts';
import type { CreatedOrganization } from '../../src/domain/organizations.ts';

async function auditTypes(t: TestCore, orgId: string, targetId?: string) {
  let q = t.store.db.selectFrom('audit_logs').select(['type', 'actor_type', 'actor_key_id', 'target_id', 'payload']).where('org_id', '=', orgId);
  if (targetId) q = q.where('target_id', '=', targetId);
  return q.orderBy('created_at').orderBy('id').execute();
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const dialect of await testDialects()) {
  describe(`keys (${dialect})`, () => {
    let t: TestCore;
    let a: CreatedOrganization;
    let b: CreatedOrganization;
    let adminA: Actor;
    before(async () => {
      t = await openTestCore(dialect, { usageFlushMs: 60_000 });
      a = await t.core.orgs.create(SYSTEM, { name: 'A', slug: 'a' });
      b = await t.core.orgs.create(SYSTEM, { name: 'B', slug: 'b' });
      adminA = keyActor((await t.core.keys.verify(a.adminKey.secret))!);
    });
    after(async () => t?.close());

    test('admin keys of an organization act only in it; other keys and other tenants are forbidden', async () => {
      const k = await t.core.keys.createAdminKey(adminA, a.org.id, { name: 'second' });
      assert.equal(k.row.owner_id, a.owner.id, 'owned by the acting key’s owner');
      const adminB = keyActor((await t.core.keys.verify(b.adminKey.secret))!);
      await assert.rejects(t.core.keys.createAdminKey(adminB, a.org.id, { name: 'x' }), (e: any) => e.kind === 'forbidden');
      await assert.rejects(t.core.keys.list(adminB, a.org.id, {}, { limit: 10 }), (e: any) => e.kind === 'forbidden');
      await assert.rejects(t.core.keys.delete(adminB, a.org.id, k.row.id), (e: any) => e.kind === 'forbidden');
      const userKey = await t.store.db.transaction().execute((tx) => t.core.keys.issue(tx, SYSTEM, { orgId: a.org.id, kind: 'user', name: 'u' }));
      const userActor = keyActor((await t.core.keys.verify(userKey.secret))!);
      await assert.rejects(t.core.keys.createAdminKey(userActor, a.org.id, { name: 'x' }), (e: any) => e.kind === 'forbidden');
      await assert.rejects(t.core.orgs.create(adminA, { name: 'C', slug: 'c' }), (e: any) => e.kind === 'forbidden');
      // nothing was written by the refused calls
      const names = (await t.core.keys.list(SYSTEM, a.org.id, { kind: 'admin' }, { limit: 100 })).items.map((r) => r.name);
      assert.deepEqual(names.sort(), ['bootstrap', 'second']);
    });

    test('the secret is stored only as its hash; every change has its audit row', async () => {
      const k = await t.core.keys.createAdminKey(ROOT, a.org.id, { name: 'audited' });
      const row = await t.store.db.selectFrom('api_keys').selectAll().where('id', '=', k.row.id).executeTakeFirstOrThrow();
      assert.equal(row.secret_hash, hashSecret(k.secret));
      assert.ok(!JSON.stringify(row).includes(k.secret));
      await t.core.keys.setExpiry(adminA, a.org.id, k.row.id, Date.now() + 3_600_000);
      await t.core.keys.setStatus(adminA, a.org.id, k.row.id, 'deactivated');
      await t.core.keys.setStatus(adminA, a.org.id, k.row.id, 'deactivated'); // no change: no event
      await t.core.keys.delete(adminA, a.org.id, k.row.id);
      const events = await auditTypes(t, a.org.id, k.row.id);
      assert.deepEqual(events.map((e) => e.type), ['api_key.created', 'api_key.updated', 'api_key.updated', 'api_key.deleted']);
      assert.equal(events[0]!.actor_type, 'root');
      assert.equal(events[1]!.actor_type, 'api_key');
      assert.equal(events[1]!.actor_key_id, a.adminKey.row.id);
      for (const e of events) assert.ok(!e.payload.includes(k.secret), 'no secret in audit payloads');
    });

    test('a refused or failed change writes no audit row', async () => {
      const before = (await auditTypes(t, a.org.id)).length;
      await assert.rejects(t.core.keys.delete(adminA, a.org.id, 'key_missing'), (e: any) => e.kind === 'not_found');
      await assert.rejects(t.core.keys.setExpiry(adminA, a.org.id, a.adminKey.row.id, Date.now() - 1000), (e: any) => e.kind === 'invalid');
      // a duplicate supplied secret fails inside the transaction: no key, no audit row
      await assert.rejects(t.core.keys.createAdminKey(ROOT, a.org.id, { name: 'dup', secret: a.adminKey.secret }), (e: any) => e.kind === 'conflict');
      assert.equal((await auditTypes(t, a.org.id)).length, before);
    });

    test('verification: revoke, deactivate, delete and expiry are enforced on the very next call', async () => {
      for (const change of ['revoke', 'deactivate', 'delete'] as const) {
        const k = await t.core.keys.createAdminKey(ROOT, a.org.id, { name: change });
        assert.ok(await t.core.keys.verify(k.secret));
        assert.ok(t.core.cache.get(hashSecret(k.secret)), 'cached after the first use');
        if (change === 'revoke') await t.core.keys.setStatus(adminA, a.org.id, k.row.id, 'revoked');
        if (change === 'deactivate') await t.core.keys.setStatus(adminA, a.org.id, k.row.id, 'deactivated');
        if (change === 'delete') await t.core.keys.delete(adminA, a.org.id, k.row.id);
        assert.equal(await t.core.keys.verify(k.secret), null, change);
      }
      // expiry, on a clock of the test's own (no sleeping, so a loaded machine cannot make it flaky)
      let now = Date.now();
      const clocked = new Core(t.store, { now: () => now });
      const k = await clocked.keys.createAdminKey(ROOT, a.org.id, { name: 'expire' });
      assert.ok(await clocked.keys.verify(k.secret));
      await clocked.keys.setExpiry(adminA, a.org.id, k.row.id, now + 1000);
      assert.ok(await clocked.keys.verify(k.secret), 'still valid before the new expiry');
      now += 1001;
      assert.equal(await clocked.keys.verify(k.secret), null, 'expire');
      assert.equal(await t.core.keys.verify('sk-admin-unknown'), null);
      assert.equal(await t.core.keys.verify(''), null);
    });

    test('a key that expires while cached is refused without a database read', async () => {
      let now = Date.now();
      const clocked = new Core(t.store, { now: () => now });
      const k = await clocked.keys.createAdminKey(ROOT, a.org.id, { name: 'clocked', expiresAt: now + 10_000 });
      assert.ok(await clocked.keys.verify(k.secret));
      now += 10_001;
      assert.equal(await clocked.keys.verify(k.secret), null);
    });

    test('last_used_at and call counts are buffered and flushed in one write', async () => {
      const k = await t.core.keys.createAdminKey(ROOT, a.org.id, { name: 'counted' });
      for (let i = 0; i < 5; i++) assert.ok(await t.core.keys.verify(k.secret));
      let row = await t.store.db.selectFrom('api_keys').selectAll().where('id', '=', k.row.id).executeTakeFirstOrThrow();
      assert.equal(row.usage_count, 0, 'nothing written per request');
      await t.core.flush();
      row = await t.store.db.selectFrom('api_keys').selectAll().where('id', '=', k.row.id).executeTakeFirstOrThrow();
      assert.equal(row.usage_count, 5);
      assert.ok(row.last_used_at && row.last_used_at >= row.created_at);
    });

    test('a flush of many used keys writes each key its own count and time (batched statements)', async () => {
      const keys = [];
      for (let i = 0; i < 1201; i++) keys.push(await t.core.keys.createAdminKey(ROOT, a.org.id, { name: `batch-${i}` }));
      // key i is used (i % 3) + 1 times
      for (const [i, k] of keys.entries()) for (let j = 0; j <= i % 3; j++) assert.ok(await t.core.keys.verify(k.secret));
      await t.core.flush();
      const rows = await t.store.db.selectFrom('api_keys').select(['id', 'usage_count', 'last_used_at']).where('name', 'like', 'batch-%').execute();
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const [i, k] of keys.entries()) {
        const r = byId.get(k.row.id)!;
        assert.equal(Number(r.usage_count), (i % 3) + 1, `key ${i}`);
        assert.ok(Number(r.last_used_at) >= k.row.created_at);
      }
      // a second round adds to the counts
      assert.ok(await t.core.keys.verify(keys[0]!.secret));
      await t.core.flush();
      const again = await t.store.db.selectFrom('api_keys').select('usage_count').where('id', '=', keys[0]!.row.id).executeTakeFirstOrThrow();
      assert.equal(Number(again.usage_count), 2);
    });

    if (dialect === 'postgres') {
      test('a revoke on one node evicts the key from every node’s cache', async () => {
        const store2 = openStore({ dataDir: t.db.dataDir, databaseUrl: t.db.databaseUrl });
        const node2 = new Core(store2, { databaseUrl: t.db.databaseUrl, keyCacheTtlMs: 3_600_000 });
        await node2.start();
        try {
          const k = await t.core.keys.createAdminKey(ROOT, a.org.id, { name: 'clustered' });
          assert.ok(await node2.keys.verify(k.secret));
          assert.ok(node2.cache.get(hashSecret(k.secret)));
          await t.core.keys.setStatus(adminA, a.org.id, k.row.id, 'revoked');
          await waitFor(() => node2.cache.get(hashSecret(k.secret)) === undefined);
          assert.equal(await node2.keys.verify(k.secret), null);
        } finally {
          await node2.stop();
          await store2.close();
        }
      });
    }
  });

  describe(`organizations (${dialect})`, () => {
    let t: TestCore;
    before(async () => {
      t = await openTestCore(dialect);
    });
    after(async () => t?.close());

    test('create makes an owner membership, an admin key and audit rows in one go', async () => {
      const c = await t.core.orgs.create(ROOT, { name: 'Acme', slug: 'acme', ownerEmail: 'Boss@Acme.example' });
      assert.match(c.org.id, /^org-/);
      assert.equal(c.owner.email, 'boss@acme.example');
      assert.equal(c.adminKey.row.kind, 'admin');
      assert.equal(c.adminKey.row.owner_id, c.owner.id);
      const member = await t.store.db.selectFrom('org_memberships').selectAll().where('org_id', '=', c.org.id).execute();
      assert.deepEqual(member.map((m) => [m.user_id, m.role]), [[c.owner.id, 'owner']]);
      assert.deepEqual((await auditTypes(t, c.org.id)).map((e) => e.type), ['organization.created', 'user.added', 'api_key.created']);
      assert.equal((await t.core.orgs.getBySlug(SYSTEM, 'acme')).id, c.org.id);
      // OpenAI's predefined roles come with the organization and with each project
      const names = async (projectId: string | null) =>
        (await t.store.db.selectFrom('roles').select(['name', 'predefined', 'project_id']).where('org_id', '=', c.org.id).orderBy('created_at').orderBy('id').execute())
          .filter((r) => r.project_id === projectId && r.predefined === 1)
          .map((r) => r.name);
      assert.deepEqual(await names(null), ['owner', 'reader']);
      const p = await t.core.projects.create(ROOT, c.org.id, { name: 'P' });
      assert.deepEqual(await names(p.id), ['owner', 'member', 'viewer']);
    });

    test('slugs are unique and well-formed; a refused create leaves nothing', async () => {
      const count = await t.core.orgs.count();
      await assert.rejects(t.core.orgs.create(ROOT, { name: 'Again', slug: 'acme' }), (e: any) => e.kind === 'conflict' && e.param === 'slug');
      for (const slug of ['', 'Upper', 'has space', '-lead', 'x'.repeat(64), 'semi;colon']) {
        await assert.rejects(t.core.orgs.create(ROOT, { name: 'N', slug }), (e: any) => e.kind === 'invalid' && e.param === 'slug', slug);
      }
      await assert.rejects(t.core.orgs.create(ROOT, { name: '  ', slug: 'blank' }), (e: any) => e.kind === 'invalid' && e.param === 'name');
      await assert.rejects(t.core.orgs.create(ROOT, { name: 'Mail', slug: 'mail', ownerEmail: 'not-an-email' }), (e: any) => e.kind === 'invalid');
      assert.equal(await t.core.orgs.count(), count);
      assert.equal(await t.store.db.selectFrom('organizations').select('id').where('slug', '=', 'mail').executeTakeFirst(), undefined);
    });

    test('an admin key never resolves another organization by slug', async () => {
      const x = await t.core.orgs.create(ROOT, { name: 'X', slug: 'x' });
      const y = await t.core.orgs.create(ROOT, { name: 'Y', slug: 'y' });
      const ax = keyActor((await t.core.keys.verify(x.adminKey.secret))!);
      assert.equal((await t.core.orgs.getBySlug(ax, 'x')).id, x.org.id);
      await assert.rejects(t.core.orgs.getBySlug(ax, 'y'), (e: any) => e.kind === 'not_found');
      await assert.rejects(t.core.orgs.list(ax), (e: any) => e.kind === 'forbidden');
      assert.ok(y);
    });
  });
}
