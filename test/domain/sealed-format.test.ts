// Sealed values in the store on every dialect: values written before format versions (version 0) still
// open; the next write of a credential, and a master-key rotation, rewrite them in version 1; stored
// idempotent answers open in both formats; a tampered version byte is refused with a clear error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM, ROOT } from '../../src/domain/actor.ts';
import { generateKey, SealedValueError, sealedVersion, unwrapDataKey } from '../../src/crypto/envelope.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { IdempotencyService } from '../../src/domain/idempotency.ts';
import type { CredentialKind } from '../../src/domain/credentials.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { idempotencyKey, sealV0, withVersionByte } from '../helpers/legacy-seal.ts';

const SECRET = 'sk-PLAINTEXT-legacy-0a1b2c3d4e5f6a7b8c9d';

for (const dialect of await testDialects()) {
  describe(`sealed value formats (${dialect})`, () => {
    let db: TestDb;
    let rt: Runtime;
    let masterKey = generateKey();
    const config = () => loadConfig({ logLevel: 'silent', dataDir: db.dataDir, masterKey: masterKey.toString('hex'), ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
    before(async () => {
      db = await createTestDb(dialect);
      rt = await openRuntime(config());
    });
    after(async () => {
      await rt?.close().catch(() => {});
      await db?.drop();
    });

    const stored = async (orgId: string, kind: CredentialKind, name: string) =>
      (await rt.store.db.selectFrom('credentials').select('ciphertext').where('org_id', '=', orgId).where('kind', '=', kind).where('name', '=', name).executeTakeFirstOrThrow()).ciphertext;

    /** Creates a credential, then rewrites its stored value (and optionally its wrapped data key) the way keyplane wrote them before format versions. */
    async function legacyCredential(orgId: string, kind: CredentialKind, name: string, value: unknown, legacyDataKey = false): Promise<string> {
      await rt.core.credentials.create(ROOT, orgId, kind, { name, value: { placeholder: true }, platform: 'p' });
      const dk = await rt.store.db.selectFrom('data_keys').selectAll().where('org_id', '=', orgId).executeTakeFirstOrThrow();
      const dataKey = unwrapDataKey(masterKey, dk.wrapped_key, orgId);
      if (legacyDataKey) await rt.store.db.updateTable('data_keys').set({ wrapped_key: sealV0(masterKey, dataKey, `data-key:${orgId}`) }).where('org_id', '=', orgId).execute();
      const old = sealV0(dataKey, JSON.stringify(value), `credential:${orgId}:${kind}:${name}`);
      await rt.store.db.updateTable('credentials').set({ ciphertext: old }).where('org_id', '=', orgId).where('kind', '=', kind).where('name', '=', name).execute();
      assert.equal(sealedVersion(await stored(orgId, kind, name)), 0);
      return old;
    }

    async function noPlaintextInDb() {
      for (const table of ['credentials', 'data_keys', 'idempotency_records', 'audit_logs'] as const) {
        const rows = JSON.stringify(await rt.store.db.selectFrom(table).selectAll().execute());
        assert.ok(!rows.includes('PLAINTEXT'), table);
      }
    }

    test('a version-0 credential opens; the next write (new value, or platform only) rewrites it in version 1', async () => {
      const org = (await rt.core.orgs.create(SYSTEM, { name: 'L', slug: 'l' })).org.id;
      await legacyCredential(org, 'llm', 'openai', { key: SECRET }, true);
      await legacyCredential(org, 'integration', 'google', { private_key: `${SECRET}-g` });
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'openai'), { key: SECRET });
      assert.deepEqual((await rt.core.credentials.get(ROOT, org, 'integration', 'google')).value, { private_key: `****${SECRET.slice(-2)}-g` });
      assert.equal(sealedVersion(await stored(org, 'llm', 'openai')), 0, 'reads do not rewrite');
      // platform-only update: same value, now sealed in version 1
      const u = await rt.core.credentials.update(ROOT, org, 'llm', 'openai', { platform: 'q' });
      assert.equal(u.platform, 'q');
      const v1 = await stored(org, 'llm', 'openai');
      assert.ok(v1.startsWith('$'));
      assert.equal(Buffer.from(v1.slice(1), 'base64')[0], 1, 'leading version byte');
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'openai'), { key: SECRET });
      // new value
      await rt.core.credentials.update(ROOT, org, 'integration', 'google', { value: { private_key: `${SECRET}-h` } });
      assert.equal(sealedVersion(await stored(org, 'integration', 'google')), 1);
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'integration', 'google'), { private_key: `${SECRET}-h` });
      // a version-1 value is left as it is by a platform-only update
      await rt.core.credentials.update(ROOT, org, 'llm', 'openai', { platform: 'r' });
      assert.equal(await stored(org, 'llm', 'openai'), v1);
      // the data key wrapped the old way still unwraps, and is left as it is until a rotation
      assert.equal(sealedVersion((await rt.store.db.selectFrom('data_keys').select('wrapped_key').where('org_id', '=', org).executeTakeFirstOrThrow()).wrapped_key), 0);
      await noPlaintextInDb();
    });

    test('a tampered version byte is refused with a clear error; the other values still open', async () => {
      const org = (await rt.core.orgs.create(SYSTEM, { name: 'T', slug: 't' })).org.id;
      await rt.core.credentials.create(ROOT, org, 'llm', { name: 'a', value: { key: SECRET }, platform: 'p' });
      await rt.core.credentials.create(ROOT, org, 'llm', { name: 'b', value: { key: `${SECRET}-b` }, platform: 'p' });
      const good = await stored(org, 'llm', 'a');
      for (const v of [2, 0]) {
        await rt.store.db.updateTable('credentials').set({ ciphertext: withVersionByte(good, v) }).where('org_id', '=', org).where('name', '=', 'a').execute();
        await assert.rejects(rt.core.credentials.reveal(ROOT, org, 'llm', 'a'), (e: unknown) => e instanceof SealedValueError && /format version/.test(e.message));
        await assert.rejects(rt.core.credentials.update(ROOT, org, 'llm', 'a', { platform: 'x' }), SealedValueError);
      }
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'b'), { key: `${SECRET}-b` });
      // a rotation meeting it changes nothing (one transaction) and leaves the current master key in use
      await rt.store.db.updateTable('credentials').set({ ciphertext: sealV0(generateKey(), 'x', 'nope') }).where('org_id', '=', org).where('name', '=', 'a').execute();
      const keysBefore = await rt.store.db.selectFrom('data_keys').selectAll().orderBy('org_id').execute();
      await assert.rejects(rt.core.credentials.rotateMasterKeyAndReseal(generateKey()), SealedValueError);
      assert.deepEqual(await rt.store.db.selectFrom('data_keys').selectAll().orderBy('org_id').execute(), keysBefore);
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'b'), { key: `${SECRET}-b` });
      await rt.core.credentials.delete(ROOT, org, 'llm', 'a');
    });

    test('stored idempotent answers open in both formats; new ones are version 1; a tampered version byte is refused', async () => {
      const org = (await rt.core.orgs.create(SYSTEM, { name: 'I', slug: 'i' })).org.id;
      const idem = new IdempotencyService(rt.store, masterKey);
      const hash = IdempotencyService.requestHash('POST', '/v1/x', { a: 1 });
      const body = JSON.stringify({ value: SECRET });
      await rt.store.db
        .insertInto('idempotency_records')
        .values({ org_id: org, key_id: 'key_old', idempotency_key: 'k-old', request_hash: hash, status_code: 200, response_body: sealV0(idempotencyKey(masterKey), body, `${org}:key_old:k-old`), created_at: Date.now() })
        .execute();
      assert.deepEqual(await idem.lookup(org, 'key_old', 'k-old', hash), { kind: 'replay', answer: { status: 200, body } });
      await idem.save(org, 'key_new', 'k-new', hash, { status: 201, body });
      const row = await rt.store.db.selectFrom('idempotency_records').selectAll().where('org_id', '=', org).where('key_id', '=', 'key_new').executeTakeFirstOrThrow();
      assert.equal(sealedVersion(row.response_body), 1);
      assert.equal(Buffer.from(row.response_body.slice(1), 'base64')[0], 1);
      assert.deepEqual(await idem.lookup(org, 'key_new', 'k-new', hash), { kind: 'replay', answer: { status: 201, body } });
      // bound to the organization, the key and the Idempotency-Key
      await rt.store.db.updateTable('idempotency_records').set({ key_id: 'key_other' }).where('org_id', '=', org).where('key_id', '=', 'key_new').execute();
      await assert.rejects(idem.lookup(org, 'key_other', 'k-new', hash), SealedValueError);
      await rt.store.db.updateTable('idempotency_records').set({ key_id: 'key_new', response_body: withVersionByte(row.response_body, 9) }).where('org_id', '=', org).where('key_id', '=', 'key_other').execute();
      await assert.rejects(idem.lookup(org, 'key_new', 'k-new', hash), (e: unknown) => e instanceof SealedValueError && /format version 9/.test(e.message));
      await noPlaintextInDb();
    });

    test('rotate-master-key re-seals every version-0 value and rewraps every data key: nothing of version 0 remains', async () => {
      const a = (await rt.core.orgs.create(SYSTEM, { name: 'RA', slug: 'ra' })).org.id;
      const b = (await rt.core.orgs.create(SYSTEM, { name: 'RB', slug: 'rb' })).org.id;
      await legacyCredential(a, 'llm', 'one', { key: `${SECRET}-1` }, true);
      await legacyCredential(a, 'integration', 'two', { key: `${SECRET}-2` });
      await legacyCredential(b, 'llm', 'three', { key: `${SECRET}-3` }, true);
      await rt.core.credentials.create(ROOT, b, 'llm', { name: 'current', value: { key: `${SECRET}-4` }, platform: 'p' });
      const currentBefore = await stored(b, 'llm', 'current');
      const oldV0 = (await rt.store.db.selectFrom('credentials').select('ciphertext').execute()).filter((r) => sealedVersion(r.ciphertext) === 0);
      assert.ok(oldV0.length >= 3);
      const next = generateKey();
      const r = await rt.core.credentials.rotateMasterKeyAndReseal(next);
      assert.equal(r.valuesResealed, oldV0.length);
      assert.equal(r.dataKeys, (await rt.store.db.selectFrom('data_keys').select('org_id').execute()).length);
      for (const c of await rt.store.db.selectFrom('credentials').select('ciphertext').execute()) assert.equal(sealedVersion(c.ciphertext), 1);
      for (const k of await rt.store.db.selectFrom('data_keys').select('wrapped_key').execute()) assert.equal(sealedVersion(k.wrapped_key), 1);
      assert.equal((await rt.store.db.selectFrom('idempotency_records').select('org_id').execute()).length, 0, 'answers under the old master key are dropped');
      assert.equal(await stored(b, 'llm', 'current'), currentBefore, 'version-1 values are not rewritten');
      // a second rotation has nothing left to re-seal
      masterKey = generateKey();
      assert.equal((await rt.core.credentials.rotateMasterKeyAndReseal(masterKey)).valuesResealed, 0);
      // after a restart with the new key, every value opens
      await rt.close();
      rt = await openRuntime(config());
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, a, 'llm', 'one'), { key: `${SECRET}-1` });
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, a, 'integration', 'two'), { key: `${SECRET}-2` });
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, b, 'llm', 'three'), { key: `${SECRET}-3` });
      assert.deepEqual(await rt.core.credentials.reveal(ROOT, b, 'llm', 'current'), { key: `${SECRET}-4` });
      await noPlaintextInDb();
    });
  });
}
