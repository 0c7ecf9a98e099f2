// First start of `keyplane serve` as a real process, on SQLite and PostgreSQL: beside the admin key it
// prints, once, the owner's console sign-in (email and a generated password); that password signs
// in over HTTP, is stored only as an argon2id hash, appears in no log record, and a restart prints
// none again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { killAll, startServer } from './spawn.ts';

after(killAll);

const SIGN_IN = /email:\s+(\S+)\n\s+password: ([A-Za-z0-9_-]{24})\n/;

for (const dialect of await testDialects()) {
  describe(`console sign-in at first start (${dialect})`, () => {
    let db: TestDb;
    before(async () => {
      db = await createTestDb(dialect);
    });
    after(async () => {
      await killAll();
      await db?.drop();
    });

    test('the owner sign-in is printed once and works; a restart prints none', async () => {
      const s = await startServer(db);
      let password = '';
      try {
        const m = SIGN_IN.exec(s.proc.stdout);
        assert.ok(m, `an owner sign-in in stdout\n${s.proc.stdout}`);
        const email = m[1]!;
        password = m[2]!;
        assert.equal(s.proc.stdout.split(password).length - 1, 1, 'printed exactly once');
        assert.ok(!JSON.stringify(s.proc.logRecords()).includes(password), 'in no log record');
        assert.ok(!s.proc.stderr.includes(password));
        const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
        const body = (await res.json()) as any;
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(body.org.slug, 'main');
        assert.equal(body.org.role, 'owner');
        assert.match(res.headers.get('set-cookie') ?? '', /^kp_session=/);
      } finally {
        const exit = await s.proc.stop('SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null });
      }
      const again = await startServer(db);
      try {
        assert.ok(!SIGN_IN.test(again.proc.stdout), 'no sign-in printed at a restart');
        assert.ok(!again.proc.stdout.includes(password));
      } finally {
        await again.proc.stop('SIGTERM');
      }
    });
  });
}
