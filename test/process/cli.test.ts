// The operator's commands as real processes: migrate, orgs create|list, keys create-admin, then the
// server on the same database (keys issued by the CLI work and stay within their organization), and
// the platform API under /platform/v1 that exists only with a root key. SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { adminKeysIn, http as request, killAll, runKeyplane, startServer, stderrLines, storeArgs, type CliResult, type RunningServer } from './spawn.ts';

const ADMIN_KEYS = '/v1/organization/admin_api_keys';

after(killAll);

function cli(db: TestDb, ...args: string[]): Promise<CliResult> {
  return runKeyplane([...args, ...storeArgs(db)]);
}

/** The one key (and its id) a successful create command printed. */
function issued(r: CliResult): { id: string; key: string } {
  assert.equal(r.code, 0, `exit 0\n${r.stdout}\n${r.stderr}`);
  const keys = adminKeysIn(r.stdout);
  assert.equal(keys.length, 1, `one key printed\n${r.stdout}`);
  assert.match(keys[0]!, /^sk-admin-[A-Za-z0-9_-]{48}$/);
  assert.equal(r.stdout.split(keys[0]!).length - 1, 1, 'printed once');
  const id = /admin key (key_\S+)/.exec(r.stdout)?.[1];
  assert.ok(id, `key id printed\n${r.stdout}`);
  return { id, key: keys[0]! };
}

/** A failing command: non-zero exit, one stderr line, no key printed. */
function failedWithOneLine(r: CliResult): string {
  assert.notEqual(r.code, 0, `exits non-zero\n${r.stdout}`);
  const lines = stderrLines(r.stderr);
  assert.equal(lines.length, 1, `one stderr line, got ${JSON.stringify(r.stderr)}`);
  assert.ok(lines[0]!.trim());
  assert.ok(!r.stdout.includes('sk-admin-'), 'no key printed');
  return lines[0]!;
}

async function slugs(db: TestDb): Promise<string[]> {
  const r = await cli(db, 'orgs', 'list', '--json');
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Array<{ slug: string }>).map((o) => o.slug);
}

async function listIds(s: RunningServer, key: string): Promise<string[]> {
  const r = await request(s.url, ADMIN_KEYS, { key });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.object, 'list');
  return r.json.data.map((k: { id: string }) => k.id).sort();
}

async function stopCleanly(s: RunningServer): Promise<void> {
  assert.deepEqual(await s.proc.stop('SIGTERM'), { code: 0, signal: null }, s.proc.describe());
}

function assertErrorEnvelope(body: any): void {
  assert.equal(typeof body?.error?.message, 'string');
  assert.equal(typeof body.error.type, 'string');
  assert.ok('param' in body.error && 'code' in body.error, `param and code present: ${JSON.stringify(body)}`);
}

for (const dialect of await testDialects()) {
  describe(`CLI on a fresh database (${dialect})`, () => {
    let db: TestDb;
    let first: { id: string; key: string };
    let ci: { id: string; key: string };
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test('migrate, orgs create|list, keys create-admin', async () => {
      const m = await cli(db, 'migrate');
      assert.equal(m.code, 0, m.stderr);
      assert.match(m.stdout, new RegExp(`${dialect} database is up to date`));

      first = issued(await cli(db, 'orgs', 'create', '--name', 'Acme', '--slug', 'acme'));

      const dup = failedWithOneLine(await cli(db, 'orgs', 'create', '--name', 'Acme again', '--slug', 'acme'));
      assert.ok(dup.includes('acme'), `mentions the slug: ${dup}`);

      failedWithOneLine(await cli(db, 'orgs', 'create', '--name', 'Bad', '--slug', 'Bad Slug!'));

      ci = issued(await cli(db, 'keys', 'create-admin', '--org', 'acme', '--name', 'ci'));
      assert.notEqual(ci.key, first.key);
      assert.notEqual(ci.id, first.id);

      const nope = failedWithOneLine(await cli(db, 'keys', 'create-admin', '--org', 'nope'));
      assert.ok(nope.includes('nope'), nope);

      // CLI commands other than serve do not bootstrap, and the failed ones created nothing
      assert.deepEqual(await slugs(db), ['acme']);
    });

    test('serve on that database: no bootstrap, both CLI keys authenticate, no platform API', async () => {
      assert.ok(first && ci, 'needs the CLI test');
      const s = await startServer(db);
      try {
        // bootstrap only happens on an empty database
        assert.ok(!s.proc.stdout.includes('sk-admin-'), 'no bootstrap key printed');
        assert.ok(!fs.existsSync(path.join(db.dataDir, 'admin-key')), 'no admin-key file');
        assert.deepEqual(await listIds(s, first.key), [first.id, ci.id].sort());
        assert.deepEqual(await listIds(s, ci.key), [first.id, ci.id].sort());
        const names = (await request(s.url, ADMIN_KEYS, { key: ci.key })).json.data.map((k: { name: string }) => k.name).sort();
        assert.deepEqual(names, ['bootstrap', 'ci']);

        const platform = await request(s.url, '/platform/v1/organizations', { key: crypto.randomBytes(32).toString('hex') });
        assert.equal(platform.status, 404, 'no platform API without --root-key');
        assert.equal((await request(s.url, '/platform/v1/organizations')).status, 404);
      } finally {
        await stopCleanly(s);
      }
    });
  });

  describe(`tenant isolation between the bootstrap org and a CLI-made org (${dialect})`, () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test("each organization's admin keys see only that organization's keys", async () => {
      const boot = await startServer(db);
      let mainKey: string;
      let mainIds: string[];
      try {
        mainKey = fs.readFileSync(path.join(db.dataDir, 'admin-key'), 'utf8').trim();
        mainIds = await listIds(boot, mainKey);
        assert.equal(mainIds.length, 1);
      } finally {
        await stopCleanly(boot);
      }

      const acme = issued(await cli(db, 'orgs', 'create', '--name', 'Acme', '--slug', 'acme'));
      const ci = issued(await cli(db, 'keys', 'create-admin', '--org', 'acme', '--name', 'ci'));
      assert.deepEqual(await slugs(db), ['main', 'acme']);

      const s = await startServer(db);
      try {
        assert.ok(!s.proc.stdout.includes('sk-admin-'), 'restart prints no key');
        const acmeIds = [acme.id, ci.id].sort();
        assert.deepEqual(await listIds(s, acme.key), acmeIds, "acme's first key lists acme's 2 keys");
        assert.deepEqual(await listIds(s, ci.key), acmeIds);
        assert.deepEqual(await listIds(s, mainKey), mainIds, "main's key lists only main's key");

        // and neither can reach the other's keys by id
        const cross1 = await request(s.url, `${ADMIN_KEYS}/${mainIds[0]}`, { key: acme.key });
        assert.equal(cross1.status, 404, cross1.text);
        const cross2 = await request(s.url, `${ADMIN_KEYS}/${ci.id}`, { key: mainKey });
        assert.equal(cross2.status, 404, cross2.text);
        const del = await request(s.url, `${ADMIN_KEYS}/${ci.id}`, { method: 'DELETE', key: mainKey });
        assert.equal(del.status, 404, del.text);
        assert.deepEqual(await listIds(s, ci.key), acmeIds, 'the delete from the other org changed nothing');
      } finally {
        await stopCleanly(s);
      }
    });
  });

  describe(`platform API with --root-key (${dialect})`, () => {
    let db: TestDb;
    let s: RunningServer;
    const rootKey = crypto.randomBytes(32).toString('hex');
    let beta: { value: string; id: string };
    before(async () => {
      db = await createTestDb(dialect);
      s = await startServer(db, { args: ['--root-key', rootKey] });
    });
    after(async () => {
      if (s && !s.proc.exit) await stopCleanly(s);
      await killAll();
      await db?.drop();
    });

    test('GET /platform/v1/organizations needs the root key and lists main', async () => {
      assert.ok(!s.proc.stdout.includes(rootKey) && !s.proc.stderr.includes(rootKey), 'the root key is not logged');
      const ok = await request(s.url, '/platform/v1/organizations', { key: rootKey });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.object, 'list');
      assert.deepEqual(
        ok.json.data.map((o: { slug: string }) => o.slug),
        ['main'],
      );

      const mainKey = fs.readFileSync(path.join(db.dataDir, 'admin-key'), 'utf8').trim();
      for (const key of [undefined, crypto.randomBytes(32).toString('hex'), mainKey, rootKey.slice(0, -1)]) {
        const r = await request(s.url, '/platform/v1/organizations', key === undefined ? {} : { key });
        assert.equal(r.status, 401, `key ${key === undefined ? '(none)' : key.slice(0, 12)}…: ${r.text}`);
        assertErrorEnvelope(r.json);
      }
    });

    test('POST /platform/v1/organizations creates an org whose admin key works', async () => {
      const r = await request(s.url, '/platform/v1/organizations', { method: 'POST', key: rootKey, body: { name: 'Beta', slug: 'beta' } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.slug, 'beta');
      assert.equal(r.json.name, 'Beta');
      assert.match(r.json.admin_key.value, /^sk-admin-/);
      beta = { value: r.json.admin_key.value, id: r.json.admin_key.id };
      assert.deepEqual(await listIds(s, beta.value), [beta.id]);

      const list = await request(s.url, '/platform/v1/organizations', { key: rootKey });
      assert.deepEqual(list.json.data.map((o: { slug: string }) => o.slug).sort(), ['beta', 'main']);
    });

    test('a taken slug is 409, a bad body 400, an unauthenticated POST 401', async () => {
      const dup = await request(s.url, '/platform/v1/organizations', { method: 'POST', key: rootKey, body: { name: 'Beta 2', slug: 'beta' } });
      assert.equal(dup.status, 409, dup.text);
      assertErrorEnvelope(dup.json);

      const badBody = await request(s.url, '/platform/v1/organizations', { method: 'POST', key: rootKey, body: { slug: 5 } });
      assert.equal(badBody.status, 400, badBody.text);
      assertErrorEnvelope(badBody.json);

      const badSlug = await request(s.url, '/platform/v1/organizations', { method: 'POST', key: rootKey, body: { name: 'X', slug: 'Bad Slug!' } });
      assert.equal(badSlug.status, 400, badSlug.text);
      assertErrorEnvelope(badSlug.json);

      const noAuth = await request(s.url, '/platform/v1/organizations', { method: 'POST', body: { name: 'Gamma', slug: 'gamma' } });
      assert.equal(noAuth.status, 401, noAuth.text);

      const list = await request(s.url, '/platform/v1/organizations', { key: rootKey });
      assert.deepEqual(list.json.data.map((o: { slug: string }) => o.slug).sort(), ['beta', 'main'], 'nothing else was created');
    });

    test('POST /platform/v1/organizations/:slug/admin_keys issues a new key; unknown slug 404', async () => {
      assert.ok(beta, 'needs beta');
      const r = await request(s.url, '/platform/v1/organizations/beta/admin_keys', { method: 'POST', key: rootKey, body: {} });
      assert.equal(r.status, 201, r.text);
      assert.match(r.json.value, /^sk-admin-/);
      assert.notEqual(r.json.value, beta.value);
      assert.deepEqual(await listIds(s, r.json.value), [beta.id, r.json.id].sort());

      const unknown = await request(s.url, '/platform/v1/organizations/nope/admin_keys', { method: 'POST', key: rootKey, body: {} });
      assert.equal(unknown.status, 404, unknown.text);
      assertErrorEnvelope(unknown.json);

      const noAuth = await request(s.url, '/platform/v1/organizations/beta/admin_keys', { method: 'POST', body: {} });
      assert.equal(noAuth.status, 401, noAuth.text);
    });

    test('a bodyless POST /platform/v1/organizations/:slug/admin_keys works too', async () => {
        const r = await request(s.url, '/platform/v1/organizations/beta/admin_keys', { method: 'POST', key: rootKey });
        assert.equal(r.status, 201, r.text);
        const unknown = await request(s.url, '/platform/v1/organizations/nope/admin_keys', { method: 'POST', key: rootKey });
        assert.equal(unknown.status, 404, unknown.text);
    });
  });
}
