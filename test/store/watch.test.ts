// The SQLite data_version watcher (src/store/watch.ts): another connection's commit is reported, the
// watching connection's own writes and a PASSIVE checkpoint (what the checkpoint worker runs) are not,
// and nothing is polled while a transaction is open on the watching connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { tmpDir } from '../helpers/db.ts';
import { watchDataVersion } from '../../src/store/watch.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('data_version watcher: other connections only, never inside a transaction', async (t) => {
  const file = path.join(tmpDir('kp-watch'), 'w.db');
  const mine = new SQLite(file);
  mine.pragma('journal_mode = WAL');
  mine.exec('CREATE TABLE t (x INTEGER)');
  const other = new SQLite(file);
  let changes = 0;
  const w = watchDataVersion(mine, () => changes++, 10);
  try {
    mine.exec('INSERT INTO t VALUES (1)');
    await tick(50);
    assert.equal(changes, 0, 'own write');
    other.pragma('wal_checkpoint(PASSIVE)');
    await tick(50);
    assert.equal(changes, 0, 'a PASSIVE checkpoint by another connection');
    other.exec('INSERT INTO t VALUES (2)');
    await tick(50);
    assert.equal(changes, 1, "another connection's commit");
    await tick(50);
    assert.equal(changes, 1, 'reported once');
    mine.exec('BEGIN');
    other.exec('INSERT INTO t VALUES (3)');
    await tick(50);
    assert.equal(changes, 1, 'not polled inside a transaction');
    mine.exec('COMMIT');
    await tick(50);
    assert.equal(changes, 2, 'seen once the transaction ended');
    const stmt = mine.prepare('PRAGMA data_version').pluck();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) stmt.get();
    t.diagnostic(`one poll: ${(Number(process.hrtime.bigint() - t0) / 1000 / 1000).toFixed(1)} µs`);
  } finally {
    w.stop();
    other.close();
    mine.close();
  }
});
