// First start, restart and shutdown of `keyplane serve` as a real process, on SQLite and PostgreSQL:
// the bootstrap admin key is shown exactly once, saved 0600, stored only as a hash, never re-created;
// SIGTERM drains in-flight requests and exits 0; a weak KEYPLANE_BOOTSTRAP_ADMIN_KEY is refused before
// anything is created.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { adminKeysIn, http as request, killAll, runKeyplane, startServer, stderrLines, storeArgs, type RunningServer } from './spawn.ts';

const ADMIN_KEYS = '/v1/organization/admin_api_keys';
const GENERATED_KEY = /sk-admin-[A-Za-z0-9_-]{48}/;

after(killAll);

function sha256(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

function randomAdminKey(): string {
  return 'sk-admin-' + crypto.randomBytes(30).toString('base64url'); // 40 characters
}

async function tableCount(databaseUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'");
    return r.rows[0].n as number;
  } finally {
    await c.end();
  }
}

async function stopCleanly(s: RunningServer): Promise<void> {
  const exit = await s.proc.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, `SIGTERM should exit 0\n${s.proc.describe()}`);
}

for (const dialect of await testDialects()) {
  describe(`bootstrap across restarts (${dialect})`, () => {
    let db: TestDb;
    let key = '';
    let keyFile = '';
    let keyFileText = '';
    before(async () => {
      db = await createTestDb(dialect);
      keyFile = path.join(db.dataDir, 'admin-key');
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test('first start prints the admin key once, saves it 0600, and it authenticates; SIGTERM exits 0', async () => {
      const s = await startServer(db);
      try {
        const printed = adminKeysIn(s.proc.stdout);
        assert.equal(printed.length, 1, `exactly one sk-admin key in stdout\n${s.proc.stdout}`);
        key = printed[0]!;
        assert.match(key, new RegExp(`^${GENERATED_KEY.source}$`));

        keyFileText = fs.readFileSync(keyFile, 'utf8');
        assert.equal(keyFileText.trim(), key, 'admin-key holds the printed key');
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);

        const ok = await request(s.url, ADMIN_KEYS, { key });
        assert.equal(ok.status, 200);
        assert.equal(ok.json.object, 'list');
        assert.equal(ok.json.data.length, 1);
        assert.ok(key.endsWith(ok.json.data[0].redacted_value.slice(-4)), 'the listed key is the printed one');

        const wrong = await request(s.url, ADMIN_KEYS, { key: 'sk-admin-' + crypto.randomBytes(36).toString('base64url') });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.json.error.code, 'invalid_api_key');
        const none = await request(s.url, ADMIN_KEYS);
        assert.equal(none.status, 401);

        assert.equal((await request(s.url, '/healthz')).status, 200);
        const ready = await request(s.url, '/readyz');
        assert.equal(ready.status, 200);
        assert.equal(ready.json.database, dialect);
      } finally {
        await stopCleanly(s);
      }
      // the key appears once in everything the process ever wrote, requests logged included
      assert.equal(s.proc.stdout.split(key).length - 1, 1, 'the key is printed exactly once');
      assert.ok(!s.proc.stderr.includes(key), 'the key is not on stderr');
      assert.ok(s.proc.logRecords().some((r) => r.msg === 'stopped'), 'the shutdown completed');
    });

    test('second start creates nothing and prints no key; the first key still works', async () => {
      assert.ok(key, 'needs the first start');
      const s = await startServer(db);
      try {
        assert.ok(!s.proc.stdout.includes('sk-admin-'), `no key printed on restart\n${s.proc.stdout}`);
        assert.equal(fs.readFileSync(keyFile, 'utf8'), keyFileText, 'admin-key is unchanged');
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
        const list = await request(s.url, ADMIN_KEYS, { key });
        assert.equal(list.status, 200);
        assert.equal(list.json.data.length, 1, 'still exactly one admin key');
      } finally {
        await stopCleanly(s);
      }
      assert.ok(!s.proc.stdout.includes('sk-admin-'));
      assert.ok(!s.proc.stderr.includes('sk-admin-'));

      const orgs = await runKeyplane(['orgs', 'list', '--json', ...storeArgs(db)]);
      assert.equal(orgs.code, 0, orgs.stderr);
      const list = JSON.parse(orgs.stdout) as Array<{ slug: string }>;
      assert.deepEqual(
        list.map((o) => o.slug),
        ['main'],
        'exactly one organization, main',
      );
    });

    if (dialect === 'sqlite') {
      test('the SQLite files hold the key hash, never the plaintext key', async () => {
        assert.ok(key, 'needs the first start');
        const files = fs.readdirSync(db.dataDir).filter((f) => f.startsWith('keyplane.db'));
        assert.ok(files.includes('keyplane.db'), `db file present: ${files.join(', ')}`);
        const plain = Buffer.from(key, 'utf8');
        const hash = Buffer.from(sha256(key), 'utf8');
        let hashSeen = false;
        for (const f of files) {
          const bytes = fs.readFileSync(path.join(db.dataDir, f));
          assert.equal(bytes.indexOf(plain), -1, `${f} must not contain the plaintext key`);
          if (bytes.indexOf(hash) !== -1) hashSeen = true;
        }
        assert.ok(hashSeen, 'the sha256 of the key is stored (the scan reads the real data)');
      });
    }
  });

  describe(`shutdown with a request in flight (${dialect})`, () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test('SIGTERM lets an in-flight request finish, commits it, then exits 0', async () => {
      // debug: the server logs each request's arrival
      const s = await startServer(db, { args: ['--log-level', 'debug'] });
      const key = adminKeysIn(s.proc.stdout)[0]!;
      assert.ok(key);
      const port = Number(new URL(s.url).port);

      // A create-key POST whose body arrives in two parts: the server has the request (and logged it)
      // when SIGTERM lands, and gets the rest of the body only after shutdown has begun.
      const body = JSON.stringify({ name: 'in-flight' });
      const split = 5;
      let reqId = '';
      const response = new Promise<{ status: number; json: any }>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: ADMIN_KEYS,
            agent: false,
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => {
              try {
                resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
              } catch (err) {
                reject(err);
              }
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, split));
        (async () => {
          const incoming = await s.proc.waitForLog('the POST to reach the server', (r) => r.msg === 'incoming request' && r.method === 'POST' && r.route === ADMIN_KEYS);
          reqId = incoming.reqId;
          s.proc.child.kill('SIGTERM');
          await s.proc.waitForLog('shutdown to begin', (r) => r.msg === 'shutting down: finishing in-flight requests');
          req.end(body.slice(split));
        })().catch((err) => {
          req.destroy();
          reject(err);
        });
      });

      const res = await response;
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.name, 'in-flight');
      assert.match(res.json.value, /^sk-admin-/);
      const exit = await s.proc.waitForExit();
      assert.deepEqual(exit, { code: 0, signal: null }, s.proc.describe());
      const records = s.proc.logRecords();
      const shutdownAt = records.findIndex((r) => r.msg === 'shutting down: finishing in-flight requests');
      const completedAt = records.findIndex((r) => r.msg === 'request' && r.reqId === reqId && r.status === 200);
      assert.ok(shutdownAt >= 0 && completedAt > shutdownAt, 'the request completed after shutdown began');

      // the key created by the drained request was committed
      const again = await startServer(db);
      try {
        const list = await request(again.url, ADMIN_KEYS, { key: res.json.value });
        assert.equal(list.status, 200);
        assert.deepEqual(list.json.data.map((k: { name: string }) => k.name).sort(), ['bootstrap', 'in-flight']);
      } finally {
        await stopCleanly(again);
      }
    });
  });

  describe(`KEYPLANE_BOOTSTRAP_ADMIN_KEY (${dialect})`, () => {
    after(killAll);

    test('a supplied strong key becomes the bootstrap key and is never printed', async () => {
      const db = await createTestDb(dialect);
      try {
        const supplied = randomAdminKey();
        const s = await startServer(db, { env: { KEYPLANE_BOOTSTRAP_ADMIN_KEY: supplied } });
        try {
          const ok = await request(s.url, ADMIN_KEYS, { key: supplied });
          assert.equal(ok.status, 200);
          assert.equal(ok.json.data.length, 1);
        } finally {
          await stopCleanly(s);
        }
        assert.ok(!s.proc.stdout.includes(supplied), 'the supplied key is not echoed on stdout');
        assert.ok(!s.proc.stderr.includes(supplied), 'nor on stderr');
        assert.ok(!s.proc.stdout.includes('sk-admin-'), 'no generated key is printed either');
      } finally {
        await db.drop();
      }
    });

    const rejected: Array<[string, string]> = [
      ['low entropy', 'sk-admin-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
      ['wrong prefix', 'sk-proj-' + crypto.randomBytes(30).toString('base64url')],
      ['too short', 'sk-admin-' + crypto.randomBytes(12).toString('base64url')],
    ];
    for (const [why, value] of rejected) {
      test(`a ${why} key is refused before anything is created`, async () => {
        const db = await createTestDb(dialect);
        try {
          const dataDir = path.join(db.dataDir, 'data'); // does not exist yet
          const r = await runKeyplane(['serve', '--port', '0', ...storeArgs({ dataDir, databaseUrl: db.databaseUrl }), '--log-level', 'info'], {
            env: { KEYPLANE_BOOTSTRAP_ADMIN_KEY: value },
          });
          assert.notEqual(r.code, 0, 'exits non-zero');
          assert.equal(r.signal, null);
          assert.ok(!r.stdout.includes('Server listening'), 'never listened');
          const lines = stderrLines(r.stderr);
          assert.equal(lines.length, 1, `one stderr line, got: ${JSON.stringify(r.stderr)}`);
          assert.ok(lines[0]!.includes('KEYPLANE_BOOTSTRAP_ADMIN_KEY'), lines[0]);
          assert.ok(!r.stderr.includes(value) && !r.stdout.includes(value), 'the rejected value is not echoed');
          assert.ok(!fs.existsSync(path.join(dataDir, 'keyplane.db')), 'no keyplane.db');
          assert.ok(!fs.existsSync(dataDir), 'not even the data dir was created');
          if (db.databaseUrl) assert.equal(await tableCount(db.databaseUrl), 0, 'no tables in the database');
        } finally {
          await db.drop();
        }
      });
    }
  });
}
