// Key lifetimes given in seconds become expiry times on the domain's injected clock, not the wall clock.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM, ROOT } from '../../src/domain/actor.ts';
import { Core } from '../../src/domain/core.ts';
import { expiryFrom } from '../../src/domain/expiry.ts';
import { openTestCore, type TestCore } from '../helpers/core.ts';
import { testDialects } from '../helpers/db.ts';

test('expiryFrom: a lifetime is added to the given clock; an instant is kept; both are refused', () => {
  assert.equal(expiryFrom(1_000, { expiresInSeconds: 60 }), 61_000);
  assert.equal(expiryFrom(1_000, { expiresAt: 5_000 }), 5_000);
  assert.equal(expiryFrom(1_000, { expiresAt: null }), null);
  assert.equal(expiryFrom(1_000, { expiresInSeconds: null }), null);
  assert.equal(expiryFrom(1_000, {}), undefined);
  assert.throws(() => expiryFrom(1_000, { expiresAt: 5_000, expiresInSeconds: 60 }), (e: any) => e.kind === 'invalid');
  assert.throws(() => expiryFrom(1_000, { expiresInSeconds: 0 }), (e: any) => e.kind === 'invalid' && e.param === 'expires_in_seconds');
  assert.throws(() => expiryFrom(1_000, { expiresInSeconds: Number.NaN }), (e: any) => e.kind === 'invalid');
});

for (const dialect of await testDialects()) {
  describe(`key lifetimes on the injected clock (${dialect})`, () => {
    let t: TestCore;
    before(async () => {
      t = await openTestCore(dialect);
    });
    after(async () => t?.close());

    test('services turn expiresInSeconds into an expiry on their own clock', async () => {
      const now = Date.UTC(2031, 0, 1); // far from the wall clock
      const clocked = new Core(t.store, { now: () => now });
      const org = await clocked.orgs.create(SYSTEM, { name: 'Clocked', slug: 'clocked' });
      const admin = await clocked.keys.createAdminKey(ROOT, org.org.id, { name: 'a', expiresInSeconds: 3600 });
      assert.equal(admin.row.expires_at, now + 3_600_000);
      const member = await clocked.userKeys.create(ROOT, org.org.id, { userId: org.owner.id, format: 'sk', expiresInSeconds: 60 });
      assert.equal(member.row.expires_at, now + 60_000);
      const changed = await clocked.userKeys.setExpiry(ROOT, org.org.id, member.row.id, { expiresInSeconds: 120 });
      assert.equal(changed.expires_at, now + 120_000);
      const cleared = await clocked.userKeys.setExpiry(ROOT, org.org.id, member.row.id, { expiresInSeconds: null });
      assert.equal(cleared.expires_at, null);
    });
  });
}
