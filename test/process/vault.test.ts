// `keyplane vault rotate-master-key` as a real process, on SQLite and PostgreSQL, with the master key in
// the data dir: credential values written before format versions (version 0) are re-sealed in version 1
// in the rotation's transaction, every data key is rewrapped, and the vault opens with the new key.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM, ROOT } from '../../src/domain/actor.ts';
import { sealedVersion, unwrapDataKey } from '../../src/crypto/envelope.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime } from '../../src/runtime.ts';
import { createTestDb, testDialects } from '../helpers/db.ts';
import { sealV0 } from '../helpers/legacy-seal.ts';
import { killAll, runKeyplane, storeArgs } from './spawn.ts';

after(killAll);

for (const dialect of await testDialects()) {
  describe(`keyplane vault rotate-master-key (${dialect})`, () => {
    test('re-seals version-0 values and rewraps data keys; the data-dir key is replaced', async () => {
      const db = await createTestDb(dialect);
      try {
        const config = () => loadConfig({ logLevel: 'silent', dataDir: db.dataDir, ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
        let rt = await openRuntime(config());
        const keyFile = path.join(db.dataDir, 'master-key');
        const before = fs.readFileSync(keyFile, 'utf8');
        const org = (await rt.core.orgs.create(SYSTEM, { name: 'C', slug: 'c' })).org.id;
        await rt.core.credentials.create(ROOT, org, 'llm', { name: 'old', value: 'x', platform: 'p' });
        await rt.core.credentials.create(ROOT, org, 'llm', { name: 'new', value: { key: 'sk-PLAINTEXT-new' }, platform: 'p' });
        const dk = await rt.store.db.selectFrom('data_keys').selectAll().where('org_id', '=', org).executeTakeFirstOrThrow();
        const dataKey = unwrapDataKey(rt.masterKey.key, dk.wrapped_key, org);
        await rt.store.db.updateTable('data_keys').set({ wrapped_key: sealV0(rt.masterKey.key, dataKey, `data-key:${org}`) }).where('org_id', '=', org).execute();
        await rt.store.db.updateTable('credentials').set({ ciphertext: sealV0(dataKey, JSON.stringify({ key: 'sk-PLAINTEXT-old' }), `credential:${org}:llm:old`) }).where('name', '=', 'old').execute();
        await rt.close();

        const r = await runKeyplane(['vault', 'rotate-master-key', '--generate', ...storeArgs(db)]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /rewrapped 1 data key\(s\) under master key [0-9a-f]{16}; re-sealed 1 credential value\(s\) from an older format/);
        assert.notEqual(fs.readFileSync(keyFile, 'utf8'), before);
        assert.ok(!fs.existsSync(`${keyFile}.next`));

        rt = await openRuntime(config());
        try {
          for (const c of await rt.store.db.selectFrom('credentials').select('ciphertext').execute()) assert.equal(sealedVersion(c.ciphertext), 1);
          for (const k of await rt.store.db.selectFrom('data_keys').select('wrapped_key').execute()) assert.equal(sealedVersion(k.wrapped_key), 1);
          assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'old'), { key: 'sk-PLAINTEXT-old' });
          assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'new'), { key: 'sk-PLAINTEXT-new' });
          assert.ok(!JSON.stringify(await rt.store.db.selectFrom('credentials').selectAll().execute()).includes('PLAINTEXT'));
        } finally {
          await rt.close();
        }
      } finally {
        await db.drop();
      }
    });
  });
}
