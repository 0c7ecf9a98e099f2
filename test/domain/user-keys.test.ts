// User keys (the h2oGPTe and WhyLabs faces' keys): formats, who may manage them, the owner's role
// carried by a verified key and its eviction when the role changes, username filtering.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM, keyActor, isOrgAdmin, type Actor } from '../../src/domain/actor.ts';
import { WHYLABS_KEY } from '../../src/domain/user-keys.ts';
import { openTestCore, type TestCore } from '../helpers/core.ts';
import { testDialects } from '../helpers/db.ts';
import type { CreatedOrganization } from '../../src/domain/organizations.ts';

for (const dialect of await testDialects()) {
  describe(`user keys (${dialect})`, () => {
    let t: TestCore;
    let org: CreatedOrganization;
    let admin: Actor;
    let reader: { id: string };
    let owner2: { id: string };
    before(async () => {
      t = await openTestCore(dialect);
      org = await t.core.orgs.create(SYSTEM, { name: 'U', slug: 'u' });
      admin = keyActor((await t.core.keys.verify(org.adminKey.secret))!);
      reader = await t.core.users.addMember(SYSTEM, org.org.id, { email: 'read_er%1@example.com', name: 'Reader', role: 'reader' });
      owner2 = await t.core.users.addMember(SYSTEM, org.org.id, { email: 'boss@example.com', name: 'Boss', role: 'owner' });
    });
    after(async () => t?.close());

    test('formats: sk- with 48 characters, or the WhyLabs keyId.suffix form with its public id', async () => {
      const sk = await t.core.userKeys.create(admin, org.org.id, { userId: reader.id, format: 'sk', name: 'h2o' });
      assert.match(sk.secret, /^sk-[A-Za-z0-9_-]{48}$/);
      const wl = await t.core.userKeys.create(admin, org.org.id, { userId: reader.id, format: 'whylabs', scopes: [':user'] });
      assert.match(wl.secret, WHYLABS_KEY);
      assert.equal(wl.row.public_id, wl.secret.slice(0, 10));
      assert.ok(!wl.row.redacted_value.includes(wl.secret.slice(11, 40)));
      assert.equal((await t.core.keys.verify(wl.secret))?.kind, 'user');
      await assert.rejects(t.core.userKeys.create(admin, org.org.id, { userId: 'user-nobody', format: 'sk' }), (e: any) => e.kind === 'not_found');
    });

    test("a reader's key manages only its own keys; an owner's key administers the organization", async () => {
      const mine = await t.core.userKeys.create(admin, org.org.id, { userId: reader.id, format: 'sk' });
      const bosses = await t.core.userKeys.create(admin, org.org.id, { userId: owner2.id, format: 'sk' });
      const readerActor = keyActor((await t.core.keys.verify(mine.secret))!);
      const ownerActor = keyActor((await t.core.keys.verify(bosses.secret))!);
      assert.equal(isOrgAdmin(readerActor, org.org.id), false);
      assert.equal(isOrgAdmin(ownerActor, org.org.id), true);
      // the reader: own keys yes, others' no, no organization administration
      const own = await t.core.userKeys.create(readerActor, org.org.id, { userId: reader.id, format: 'sk' });
      await assert.rejects(t.core.userKeys.create(readerActor, org.org.id, { userId: owner2.id, format: 'sk' }), (e: any) => e.kind === 'forbidden');
      assert.ok((await t.core.userKeys.list(readerActor, org.org.id, { userId: reader.id })).every((k) => k.owner_id === reader.id));
      await assert.rejects(t.core.userKeys.list(readerActor, org.org.id, {}), (e: any) => e.kind === 'forbidden');
      await assert.rejects(t.core.userKeys.deactivate(readerActor, org.org.id, bosses.row.id), (e: any) => e.kind === 'forbidden');
      await t.core.userKeys.deactivate(readerActor, org.org.id, own.row.id);
      assert.equal(await t.core.keys.verify(own.secret), null);
      await assert.rejects(t.core.projects.create(readerActor, org.org.id, { name: 'no' }), (e: any) => e.kind === 'forbidden');
      // the owner's key administers
      await t.core.userKeys.revoke(ownerActor, org.org.id, mine.row.id);
      assert.equal(await t.core.keys.verify(mine.secret), null);
      assert.ok(await t.core.projects.create(ownerActor, org.org.id, { name: 'yes' }));
    });

    test("demoting an owner takes effect on the owner's very next request", async () => {
      const k = await t.core.userKeys.create(admin, org.org.id, { userId: owner2.id, format: 'sk' });
      assert.equal(isOrgAdmin(keyActor((await t.core.keys.verify(k.secret))!), org.org.id), true);
      await t.core.users.updateRole(admin, org.org.id, owner2.id, 'reader');
      assert.equal(isOrgAdmin(keyActor((await t.core.keys.verify(k.secret))!), org.org.id), false);
      await t.core.users.updateRole(admin, org.org.id, owner2.id, 'owner');
    });

    test('username filter matches part of the email or name, with % and _ taken literally', async () => {
      const all = await t.core.userKeys.list(admin, org.org.id, {});
      assert.ok(all.length > 0);
      const byPercent = await t.core.userKeys.list(admin, org.org.id, { usernameLike: 'r%1' });
      assert.ok(byPercent.length > 0 && byPercent.every((k) => k.owner_email === 'read_er%1@example.com'));
      assert.equal((await t.core.userKeys.list(admin, org.org.id, { usernameLike: 'x%x' })).length, 0);
      assert.ok((await t.core.userKeys.list(admin, org.org.id, { usernameLike: 'BOSS' })).every((k) => k.owner_id === owner2.id));
      const page = await t.core.userKeys.list(admin, org.org.id, { offset: 1, limit: 2 });
      assert.deepEqual(page.map((k) => k.id), all.slice(1, 3).map((k) => k.id));
    });
  });
}
