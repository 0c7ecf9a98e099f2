// The credential vault on every dialect: sealed at rest, masked on read, every decrypt audited,
// master-key rotation, a wrong master key refused at start.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM, ROOT, keyActor, type Actor } from '../../src/domain/actor.ts';
import { maskSecrets } from '../../src/domain/credentials.ts';
import { generateKey } from '../../src/crypto/envelope.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, StartupError, type Runtime } from '../../src/runtime.ts';
import { Core } from '../../src/domain/core.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';

const OPENAI_KEY = 'sk-live-PLAINTEXT-4f1c9e2a7b3d5c8e0a1f';
const GOOGLE_SA = { type: 'service_account', project_id: 'acme', private_key: '-----BEGIN PRIVATE KEY-----\nMIIEv-PLAINTEXT-PRIVATE\n-----END PRIVATE KEY-----\n', client_email: 'svc@acme.iam.gserviceaccount.com' };

test('masking keeps only a short tail of every string', () => {
  assert.deepEqual(maskSecrets({ key: 'sk-abcdefghijkl', n: 3, nested: ['short', { t: true, s: '123456789' }] }), { key: '****ijkl', n: 3, nested: ['****', { t: true, s: '****6789' }] });
});

for (const dialect of await testDialects()) {
  describe(`credential vault (${dialect})`, () => {
    let db: TestDb;
    let rt: Runtime;
    let orgId: string;
    let admin: Actor;
    const masterKey = generateKey();
    const config = () => loadConfig({ logLevel: 'silent', dataDir: db.dataDir, masterKey: masterKey.toString('hex'), ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
    before(async () => {
      db = await createTestDb(dialect);
      rt = await openRuntime(config());
      const org = await rt.core.orgs.create(SYSTEM, { name: 'V', slug: 'v' });
      orgId = org.org.id;
      admin = keyActor((await rt.core.keys.verify(org.adminKey.secret))!);
    });
    after(async () => {
      await rt?.close().catch(() => {});
      await db?.drop();
    });

    test('values are sealed at rest and masked on every read; duplicates and unknown names are refused', async () => {
      const c = await rt.core.credentials.create(admin, orgId, 'llm', { name: 'openai', value: { key: OPENAI_KEY }, platform: 'v' });
      assert.deepEqual(c.value, { key: `****${OPENAI_KEY.slice(-4)}` });
      await rt.core.credentials.create(admin, orgId, 'integration', { name: 'google', value: GOOGLE_SA, platform: 'v' });
      await assert.rejects(rt.core.credentials.create(admin, orgId, 'llm', { name: 'openai', value: {}, platform: 'v' }), (e: any) => e.kind === 'invalid' && e.code === 'already_exists');
      await assert.rejects(rt.core.credentials.create(admin, orgId, 'llm', { name: '', value: {}, platform: 'v' }), (e: any) => e.kind === 'invalid');
      await assert.rejects(rt.core.credentials.create(admin, orgId, 'llm', { name: 'x', value: undefined, platform: 'v' }), (e: any) => e.kind === 'invalid');
      await assert.rejects(rt.core.credentials.update(admin, orgId, 'llm', 'nope', { value: 1 }), (e: any) => e.kind === 'not_found');
      const all = await rt.core.credentials.list(admin, orgId, 'llm');
      assert.deepEqual(all.map((x) => x.name), ['openai']);
      assert.ok(!JSON.stringify(all).includes(OPENAI_KEY));
      const g = await rt.core.credentials.get(admin, orgId, 'integration', 'google');
      assert.ok(!JSON.stringify(g).includes('PLAINTEXT'));
      assert.deepEqual(await rt.core.credentials.reveal(admin, orgId, 'llm', 'openai'), { key: OPENAI_KEY });
      // nothing in the database holds the plaintext
      const rows = await rt.store.db.selectFrom('credentials').selectAll().execute();
      const keys = await rt.store.db.selectFrom('data_keys').selectAll().execute();
      const audit = await rt.store.db.selectFrom('audit_logs').selectAll().execute();
      for (const blob of [rows, keys, audit]) {
        assert.ok(!JSON.stringify(blob).includes('PLAINTEXT'));
        assert.ok(!JSON.stringify(blob).includes(OPENAI_KEY));
      }
      if (dialect === 'sqlite') {
        await rt.close();
        for (const f of fs.readdirSync(db.dataDir).filter((f) => f.startsWith('keyplane.db'))) {
          assert.equal(fs.readFileSync(path.join(db.dataDir, f)).indexOf('PLAINTEXT'), -1, f);
        }
        rt = await openRuntime(config());
      }
    });

    test('every decrypt is in the audit log; another tenant is refused', async () => {
      const count = async () => (await rt.store.db.selectFrom('audit_logs').select('id').where('org_id', '=', orgId).where('type', '=', 'credential.decrypted').execute()).length;
      const before = await count();
      await rt.core.credentials.get(admin, orgId, 'llm', 'openai');
      await rt.core.credentials.reveal(ROOT, orgId, 'llm', 'openai');
      assert.equal(await count(), before + 2);
      const other = await rt.core.orgs.create(SYSTEM, { name: 'W', slug: 'w' });
      const otherAdmin = keyActor((await rt.core.keys.verify(other.adminKey.secret))!);
      await assert.rejects(rt.core.credentials.get(otherAdmin, orgId, 'llm', 'openai'), (e: any) => e.kind === 'forbidden');
      assert.deepEqual(await rt.core.credentials.list(otherAdmin, other.org.id, 'llm'), [], 'its own vault is empty');
    });

    test('a data key made by a rolled-back transaction is never used', async () => {
      const org = await rt.core.orgs.create(SYSTEM, { name: 'R', slug: 'r' });
      await assert.rejects(
        rt.store.db.transaction().execute(async (tx) => {
          await rt.core.credentials.create(ROOT, org.org.id, 'llm', { name: 'a', value: { k: 'first' }, platform: 'r' }, tx);
          throw new Error('rollback');
        }),
        /rollback/,
      );
      assert.deepEqual(await rt.core.credentials.names(org.org.id, 'llm'), []);
      await rt.core.credentials.create(ROOT, org.org.id, 'llm', { name: 'a', value: { k: 'second' }, platform: 'r' });
      // a fresh core, as after a restart, reads it with the stored data key
      const fresh = new Core(rt.store, { masterKey });
      assert.deepEqual(await fresh.credentials.reveal(ROOT, org.org.id, 'llm', 'a'), { k: 'second' });
    });

    test('rotating the master key rewraps data keys; reads still work; the old key is then refused at start', async () => {
      const next = generateKey();
      const before = await rt.store.db.selectFrom('credentials').selectAll().execute();
      const n = await rt.core.credentials.rotateMasterKey(next);
      assert.ok(n >= 1);
      const after = await rt.store.db.selectFrom('credentials').selectAll().execute();
      assert.deepEqual(after.map((r) => r.ciphertext), before.map((r) => r.ciphertext), 'values untouched');
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, orgId, 'llm', 'openai'), { key: OPENAI_KEY });
      await rt.close();
      // the old master key is refused, with a clear message, never garbage
      await assert.rejects(openRuntime(config()), (e: any) => e instanceof StartupError && /not the one that encrypted this vault/.test(e.message));
      // the new one opens the vault
      rt = await openRuntime(loadConfig({ logLevel: 'silent', dataDir: db.dataDir, masterKey: next.toString('base64'), ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {}));
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, orgId, 'integration', 'google'), GOOGLE_SA);
      await rt.core.credentials.delete(admin, orgId, 'integration', 'google');
      await assert.rejects(rt.core.credentials.get(admin, orgId, 'integration', 'google'), (e: any) => e.kind === 'not_found');
    });
  });
}
