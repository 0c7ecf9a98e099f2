// WAL checkpoints of the SQLite file off the event loop. In WAL mode SQLite copies the log back into
// the database (a checkpoint, with an fsync) from inside whichever COMMIT pushes the log past its
// threshold: on the server's one connection that commit held the event loop for up to ~30 ms every
// few seconds under gateway load (the usage and key-use flushes commit every second). Here a worker
// thread with its own connection checkpoints every second (PASSIVE: it never waits for or blocks a
// writer), and the main connection's automatic checkpoint is raised to a safety net (about 80 MB of
// log) that a healthy worker keeps it from ever reaching.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type SQLite from 'better-sqlite3';

/** Pages of log after which the main connection checkpoints by itself (only if the worker stalls). */
export const SAFETY_AUTOCHECKPOINT_PAGES = 20_000;
export const CHECKPOINT_INTERVAL_MS = 1000;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
const checkpoint = (mode) => { try { db.pragma('wal_checkpoint(' + mode + ')'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); } };
const timer = setInterval(() => checkpoint('PASSIVE'), workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  checkpoint('PASSIVE');
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts background checkpoints of `file`, whose main connection is `main`. */
export function startCheckpoints(main: SQLite.Database, file: string, onError: (err: Error) => void = () => {}): Checkpointer {
  main.pragma(`wal_autocheckpoint = ${SAFETY_AUTOCHECKPOINT_PAGES}`);
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { file, driver, intervalMs: CHECKPOINT_INTERVAL_MS } });
  worker.unref();
  worker.on('message', (m: { error?: string }) => m?.error && onError(new Error(`WAL checkpoint: ${m.error}`)));
  worker.on('error', (err) => onError(err));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        worker.postMessage('stop');
        const t = setTimeout(() => void worker.terminate(), 5000);
        await exited;
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}
