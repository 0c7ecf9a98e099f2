// SQLite transactions beside another process writing to the same file (the operator CLI beside a
// running server, or a second node on one file): a transaction that reads and then writes must wait
// for the other writer, not fail. A deferred `begin` fails here with SQLITE_BUSY as soon as the other
// process commits between the read and the write; the store begins IMMEDIATE (src/store/db.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { openStore } from '../../src/store/db.ts';
import { createTestDb } from '../helpers/db.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

test('SQLite: read-then-write transactions succeed while another process commits every few milliseconds', async () => {
  const tdb = await createTestDb('sqlite');
  const store = openStore({ dataDir: tdb.dataDir });
  try {
    await sql`create table counter (id integer primary key, n integer not null)`.execute(store.db);
    await sql`create table other (id integer primary key autoincrement, at integer not null)`.execute(store.db);
    await sql`insert into counter (id, n) values (1, 0)`.execute(store.db);

    // another process: a commit every 2 ms, for as long as it runs (its own busy_timeout waits for us)
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(${JSON.stringify(store.file)}); db.pragma('busy_timeout = 5000');
         const ins = db.prepare('insert into other (at) values (?)'); let n = 0;
         process.stdout.write('ready\\n');
         const t = setInterval(() => { ins.run(Date.now()); n++; }, 2);
         process.stdin.on('data', () => { clearInterval(t); db.close(); process.stdout.write('wrote ' + n + '\\n'); process.exit(0); });`,
      ],
      { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    writer.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
    while (!out.includes('ready')) await sleep(5);

    const failures: string[] = [];
    const ROUNDS = 25;
    for (let i = 0; i < ROUNDS; i++) {
      try {
        await store.db.transaction().execute(async (tx) => {
          const { n } = (await sql<{ n: number }>`select n from counter where id = 1`.execute(tx)).rows[0]!;
          await sleep(10); // the other process commits meanwhile (unless it has to wait for us)
          await sql`update counter set n = ${n + 1} where id = 1`.execute(tx);
        });
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    writer.stdin!.write('stop\n');
    await exited;

    assert.deepEqual(failures, [], 'no transaction failed');
    const { n } = (await sql<{ n: number }>`select n from counter where id = 1`.execute(store.db)).rows[0]!;
    assert.equal(n, ROUNDS, 'every increment kept');
    const wrote = Number(/wrote (\d+)/.exec(out)?.[1]);
    const { c } = (await sql<{ c: number }>`select count(*) as c from other`.execute(store.db)).rows[0]!;
    assert.ok(wrote > 0, 'the other process wrote meanwhile');
    assert.equal(c, wrote, "every one of the other process's commits is there");
  } finally {
    await store.close();
    await tdb.drop();
  }
});
