// `keyplane defaults set-credential|list|delete` as real processes: values from a file or inline JSON,
// masked output, one-line errors that never echo a value, audit rows; and, on PostgreSQL, a running
// node's resolver hearing of a change the CLI made within a second (PostgreSQL: NOTIFY without a
// listener of its own; SQLite: the running node's data_version watcher). Both dialects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { killAll, runKeyplane, stderrLines, storeArgs, type CliResult } from './spawn.ts';
import { openStore } from '../../src/store/db.ts';
import { Core } from '../../src/domain/core.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { generateKey } from '../../src/crypto/envelope.ts';
import { PLATFORM_AUDIT_ORG } from '../../src/domain/default-credentials.ts';

after(killAll);

const SECRET = 'sk-CLI-DEFAULT-SECRET-0123456789abcd';

for (const dialect of await testDialects()) {
  describe(`keyplane defaults (${dialect})`, () => {
    let db: TestDb;
    const masterKey = generateKey().toString('hex');
    const cli = (...args: string[]): Promise<CliResult> => runKeyplane([...args, ...storeArgs(db), '--master-key', masterKey]);
    const ok = (r: CliResult) => {
      assert.equal(r.code, 0, `exit 0\n${r.stdout}\n${r.stderr}`);
      assert.ok(!r.stdout.includes('SECRET') && !r.stderr.includes('SECRET'), `no secret printed:\n${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const fails = (r: CliResult) => {
      assert.notEqual(r.code, 0, r.stdout);
      const lines = stderrLines(r.stderr);
      assert.equal(lines.length, 1, `one stderr line: ${JSON.stringify(r.stderr)}`);
      assert.ok(!r.stderr.includes('SECRET') && !r.stdout.includes('SECRET'), 'the value is never echoed');
      return lines[0]!;
    };
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await db?.drop();
    });

    test('set-credential from a file and inline, list (masked), delete; each change audited', async () => {
      const file = path.join(db.dataDir, 'openai.json');
      fs.writeFileSync(file, JSON.stringify({ key: SECRET, base_url: 'https://llm.example/v1' }), { mode: 0o600 });
      assert.match(ok(await cli('defaults', 'set-credential', 'openai', '--value-file', file)), /default credential for openai created: \{"key":"\*\*\*\*abcd","base_url":"\*\*\*\*e\/v1"\}/);
      assert.match(ok(await cli('defaults', 'set-credential', 'openai', '--value-json', JSON.stringify({ api_key: `${SECRET}-2` }))), /default credential for openai replaced/);
      ok(await cli('defaults', 'set-credential', 'azure', '--value-json', JSON.stringify({ key: `${SECRET}-az`, endpoint: 'https://acme.openai.azure.com', deployment: 'gpt-4o', api_version: '2024-10-21' })));
      const text = ok(await cli('defaults', 'list'));
      assert.deepEqual(text.trim().split('\n').map((l) => l.split('\t')[0]), ['azure', 'openai']);
      const json = JSON.parse(ok(await cli('defaults', 'list', '--json')));
      assert.deepEqual(json.map((c: any) => [c.provider, c.value]), [
        ['azure', { key: '****d-az', endpoint: '****.com', deployment: '****', api_version: '****0-21' }],
        ['openai', { api_key: '****cd-2' }],
      ]);
      assert.match(ok(await cli('defaults', 'delete', 'azure')), /default credential for azure deleted/);
      assert.deepEqual(JSON.parse(ok(await cli('defaults', 'list', '--json'))).map((c: any) => c.provider), ['openai']);

      const store = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
      try {
        const rows = await store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', PLATFORM_AUDIT_ORG).orderBy('created_at').orderBy('id').execute();
        const changes = rows.filter((r) => r.type !== 'default_credential.decrypted').map((r) => [r.type, JSON.parse(r.payload).provider, r.actor_type]);
        assert.deepEqual(changes, [
          ['default_credential.created', 'openai', 'system'],
          ['default_credential.updated', 'openai', 'system'],
          ['default_credential.created', 'azure', 'system'],
          ['default_credential.deleted', 'azure', 'system'],
        ]);
        assert.equal(rows.filter((r) => r.type === 'default_credential.decrypted').length, 2 + 2 + 1, 'masked reads audited');
        assert.ok(!JSON.stringify(rows).includes('SECRET'));
        assert.ok(!JSON.stringify(await store.db.selectFrom('platform_credentials').selectAll().execute()).includes('SECRET'), 'sealed at rest');
      } finally {
        await store.close();
      }
    });

    test('refusals: one line, nothing written, the value never echoed', async () => {
      assert.match(fails(await cli('defaults', 'set-credential', 'openai')), /exactly one of --value-file and --value-json/);
      assert.match(fails(await cli('defaults', 'set-credential', 'openai', '--value-json', '{}', '--value-file', '/nope')), /exactly one/);
      assert.match(fails(await cli('defaults', 'set-credential', 'openai', '--value-json', `{"key": "${SECRET}`)), /not valid JSON/);
      assert.match(fails(await cli('defaults', 'set-credential', 'openai', '--value-json', JSON.stringify({ token: SECRET }))), /no API key: set "key" \(or "api_key"\)/);
      assert.match(fails(await cli('defaults', 'set-credential', 'openai', '--value-file', path.join(db.dataDir, 'missing.json'))), /cannot read --value-file .*ENOENT/);
      assert.match(fails(await cli('defaults', 'set-credential', 'bad/name', '--value-json', JSON.stringify({ key: SECRET }))), /provider name is 1 to 255 characters/);
      assert.match(fails(await cli('defaults', 'delete', 'nope')), /No default credential for provider 'nope'/);
      assert.deepEqual(JSON.parse(ok(await cli('defaults', 'list', '--json'))).map((c: any) => [c.provider, c.value]), [['openai', { api_key: '****cd-2' }]]);
    });

    // PostgreSQL: the CLI's NOTIFY; SQLite: the server's data_version watcher (src/store/watch.ts)
    {
      test('a running node sees a change made by the CLI within a second', async (t) => {
        const store = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
        const core = new Core(store, { masterKey: Buffer.from(masterKey, 'hex'), databaseUrl: db.databaseUrl });
        await core.start();
        try {
          const org = await core.orgs.create(SYSTEM, { name: 'N', slug: 'n' });
          await core.platform.setDefaultLlmKey(SYSTEM, org.org.id, true);
          assert.equal((await core.providerCredentials.resolve(org.org.id, 'openai')).secret.apiKey, `${SECRET}-2`); // cached now
          ok(await cli('defaults', 'set-credential', 'openai', '--value-json', JSON.stringify({ key: `${SECRET}-3` })));
          const t0 = Date.now();
          while ((await core.providerCredentials.resolve(org.org.id, 'openai')).secret.apiKey !== `${SECRET}-3`) {
            assert.ok(Date.now() - t0 < 1000, 'not seen within 1 s');
            await new Promise((r) => setTimeout(r, 20));
          }
          t.diagnostic(`seen ${Date.now() - t0} ms after the CLI exited (${dialect})`);
        } finally {
          await core.stop();
          await store.close();
        }
      });
    }
  });
}
