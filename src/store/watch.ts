// SQLite: changes committed by another process on the same file (the `keyplane` CLI while a server
// runs). `PRAGMA data_version` on a connection changes only when some OTHER connection committed to
// the database since the last call (https://sqlite.org/pragma.html#pragma_data_version): the server's
// own writes leave it alone, and so do the checkpoint worker's checkpoints (they copy committed pages,
// they commit nothing). Polled with one prepared statement (a few microseconds, no disk read: the WAL
// index lives in shared memory), never inside an open transaction, every WATCH_INTERVAL_MS.
import type SQLite from 'better-sqlite3';

export const WATCH_INTERVAL_MS = 250;

export interface Watcher {
  stop(): void;
}

/** Calls `onChange` after another connection committed to the database `sqlite` is open on. */
export function watchDataVersion(sqlite: SQLite.Database, onChange: () => void, intervalMs = WATCH_INTERVAL_MS): Watcher {
  const stmt = sqlite.prepare('PRAGMA data_version').pluck();
  let last = stmt.get() as number;
  const timer = setInterval(() => {
    // inside a transaction (an awaited Kysely transaction on this connection) the value is that of its
    // snapshot: look again on the next tick
    if (!sqlite.open || sqlite.inTransaction) return;
    const v = stmt.get() as number;
    if (v !== last) {
      last = v;
      onChange();
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
