// `keyplane backup` and `keyplane restore` as real processes. SQLite: a backup taken while a spawned
// server is being written to through the API is consistent and restores into a fresh data dir where a
// server starts with the data (organization, a key that authenticates, a credential that decrypts);
// a restore with another master key, or while a server runs on the data dir, is refused and changes
// nothing. PostgreSQL: both commands refuse clearly and point to pg_dump / pg_restore.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { generateKey, keyFingerprint } from '../../src/crypto/envelope.ts';
import { http, killAll, runKeyplane, startServer, stderrLines, storeArgs, type CliResult, type RunningServer } from './spawn.ts';

after(killAll);

const CRED = '/api/ai-account/orgs/main/credential/';
const UPSTREAM_KEY = 'sk-PLAINTEXT-upstream-0123456789abcdef-wxyz';

function sdk(s: RunningServer, key: string): OpenAI {
  return new OpenAI({ adminAPIKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
}

async function stopCleanly(s: RunningServer): Promise<void> {
  assert.deepEqual(await s.proc.stop('SIGTERM'), { code: 0, signal: null }, s.proc.describe());
}

/** A failing command: exit 1, exactly one stderr line, returned. */
function refused(r: CliResult): string {
  assert.equal(r.code, 1, `exit 1\n${r.stdout}\n${r.stderr}`);
  const lines = stderrLines(r.stderr);
  assert.equal(lines.length, 1, `one stderr line: ${JSON.stringify(r.stderr)}`);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  return lines[0]!;
}

const dbFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith('keyplane.db')).sort() : []);

describe('SQLite: backup under load, restore into a fresh data dir', () => {
  const masterKey = generateKey().toString('hex');
  const mk = ['--master-key', masterKey];
  let db: TestDb;
  let s: RunningServer;
  let adminKey: string;
  let backupFile: string;
  let early: string[]; // projects that existed when the backup started
  let restoredDir: string;
  const work = tmpDir('kp-backup');

  before(async () => {
    db = await createTestDb('sqlite');
    s = await startServer(db, { args: mk });
    adminKey = fs.readFileSync(path.join(db.dataDir, 'admin-key'), 'utf8').trim();
  });
  after(async () => {
    await killAll();
    await db?.drop();
    fs.rmSync(work, { recursive: true, force: true });
    if (restoredDir) fs.rmSync(restoredDir, { recursive: true, force: true });
  });

  test('a backup taken while the API writes is consistent, mode 0600, and leaves no .tmp', async () => {
    const api = sdk(s, adminKey);
    const cred = await http(s.url, CRED, { method: 'POST', headers: { authorization: `Api-Token ${adminKey}` }, body: { name: 'openai', value: { key: UPSTREAM_KEY }, platform: 'main' } });
    assert.equal(cred.status, 200, cred.text);
    for (let i = 0; i < 5; i++) await api.admin.organization.projects.create({ name: `early-${i}` });
    early = (await api.admin.organization.projects.list({ limit: 100 })).data.map((p) => p.name ?? '');

    // writers keep going while the backup runs
    let writing = true;
    let written = 0;
    const writers = Array.from({ length: 3 }, async (_, w) => {
      while (writing) {
        await api.admin.organization.projects.create({ name: `load-${w}-${written++}` });
      }
    });
    backupFile = path.join(work, 'keyplane-backup.db');
    const r = await runKeyplane(['backup', '--to', backupFile, ...storeArgs(db)]);
    const during = written;
    writing = false;
    await Promise.all(writers);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(during > 0, 'the API was written to while the backup ran');
    assert.match(r.stdout, new RegExp(`sealed under master key ${keyFingerprint(Buffer.from(masterKey, 'hex'))}`));
    assert.ok(!r.stdout.includes(masterKey), 'the master key itself is never printed');
    assert.equal(fs.statSync(backupFile).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(work), ['keyplane-backup.db'], 'no .tmp, no -wal beside the copy');
    assert.equal(fs.readFileSync(backupFile).indexOf(UPSTREAM_KEY), -1, 'the credential is sealed in the copy');
    await stopCleanly(s);
  });

  test('restore into a fresh data dir with the same master key: the server starts with the data', async () => {
    assert.ok(backupFile, 'needs the backup');
    restoredDir = tmpDir('kp-restored');
    const r = await runKeyplane(['restore', '--from', backupFile, '--data-dir', restoredDir, ...mk]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /restored/);
    assert.equal(fs.statSync(path.join(restoredDir, 'keyplane.db')).mode & 0o777, 0o600);

    const s2 = await startServer({ dataDir: restoredDir }, { args: mk });
    try {
      assert.ok(!s2.proc.stdout.includes('sk-admin-'), 'no new bootstrap: the restored organization is there');
      const api = sdk(s2, adminKey);
      const names = (await api.admin.organization.projects.list({ limit: 100 })).data.map((p) => p.name);
      for (const n of early) assert.ok(names.includes(n), `project ${n} restored`);
      const cred = await http(s2.url, `${CRED}?name=openai`, { headers: { authorization: `Api-Token ${adminKey}` } });
      assert.equal(cred.status, 200, cred.text);
      assert.deepEqual(cred.json.value, { key: `****${UPSTREAM_KEY.slice(-4)}` }, 'the credential decrypts (it is masked from its plaintext)');
      const unauth = await http(s2.url, '/v1/organization/projects', { key: 'sk-admin-not-a-key' });
      assert.equal(unauth.status, 401);
    } finally {
      await stopCleanly(s2);
    }
  });

  test('restore with another master key is refused and changes nothing', async () => {
    assert.ok(backupFile, 'needs the backup');
    const dir = tmpDir('kp-wrongkey');
    try {
      const other = generateKey();
      const r = await runKeyplane(['restore', '--from', backupFile, '--data-dir', dir, '--master-key', other.toString('hex')]);
      const line = refused(r);
      assert.ok(
        line.includes(`this backup was sealed under master key ${keyFingerprint(Buffer.from(masterKey, 'hex'))}, the current one is ${keyFingerprint(other)}`),
        line,
      );
      assert.deepEqual(dbFiles(dir), [], 'no database installed');
      // and with no master key at all (a fresh data dir, nothing configured)
      const none = refused(await runKeyplane(['restore', '--from', backupFile, '--data-dir', dir]));
      assert.match(none, /no master key is set/);
      assert.deepEqual(fs.readdirSync(dir), [], 'no master key generated, nothing left');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('restore while a server runs on the data dir is refused; after it stops the old database is kept aside', async () => {
    assert.ok(restoredDir, 'needs the restored dir');
    const s3 = await startServer({ dataDir: restoredDir }, { args: mk });
    try {
      const line = refused(await runKeyplane(['restore', '--from', backupFile, '--data-dir', restoredDir, ...mk]));
      assert.match(line, /has .*keyplane\.db open: stop every keyplane process/);
      assert.ok(!dbFiles(restoredDir).some((f) => f.includes('before-restore') || f.includes('restoring')), 'nothing moved or staged');
      // the server still works
      const ok = await http(s3.url, '/v1/organization/projects', { key: adminKey });
      assert.equal(ok.status, 200, ok.text);
      // a project made after the backup, to see the restore replace it
      await sdk(s3, adminKey).admin.organization.projects.create({ name: 'after-backup' });
    } finally {
      await stopCleanly(s3);
    }
    const r = await runKeyplane(['restore', '--from', backupFile, '--data-dir', restoredDir, ...mk]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const aside = dbFiles(restoredDir).filter((f) => /^keyplane\.db\.before-restore-\d{8}T\d{6}Z$/.test(f));
    assert.equal(aside.length, 1, `the previous database kept aside: ${dbFiles(restoredDir)}`);
    const s4 = await startServer({ dataDir: restoredDir }, { args: mk });
    try {
      const names = (await sdk(s4, adminKey).admin.organization.projects.list({ limit: 100 })).data.map((p) => p.name);
      assert.ok(!names.includes('after-backup'), 'the backup replaced the database');
      assert.ok(names.includes('early-0'));
    } finally {
      await stopCleanly(s4);
    }
  });

  test('restore refuses a file that is not a keyplane database', async () => {
    const dir = tmpDir('kp-notdb');
    try {
      const junk = path.join(dir, 'junk.db');
      fs.writeFileSync(junk, 'not a database at all, just text\n'.repeat(200));
      assert.match(refused(await runKeyplane(['restore', '--from', junk, '--data-dir', path.join(dir, 'data'), ...mk])), /not a SQLite database/);
      assert.match(refused(await runKeyplane(['restore', '--from', path.join(dir, 'missing.db'), '--data-dir', path.join(dir, 'data'), ...mk])), /cannot read --from/);
      assert.deepEqual(dbFiles(path.join(dir, 'data')), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

if ((await testDialects()).includes('postgres')) {
  describe('PostgreSQL: backup and restore refuse and point to pg_dump / pg_restore', () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb('postgres');
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test('backup and restore on PostgreSQL exit 1 with a clear message', async () => {
      const to = path.join(db.dataDir, 'b.db');
      const b = refused(await runKeyplane(['backup', '--to', to, ...storeArgs(db)]));
      assert.match(b, /PostgreSQL: back it up with pg_dump/);
      assert.ok(!fs.existsSync(to) && !fs.existsSync(`${to}.tmp`), 'nothing written');
      const r = refused(await runKeyplane(['restore', '--from', to, ...storeArgs(db)]));
      assert.match(r, /PostgreSQL: restore it with pg_restore/);
      assert.ok(!b.includes(db.databaseUrl!) && !r.includes(db.databaseUrl!), 'the URL is not echoed');
    });
  });
}
