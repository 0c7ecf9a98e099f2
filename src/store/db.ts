// Opens the store: an embedded SQLite file (WAL mode) by default, PostgreSQL when DATABASE_URL says so.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, sql, type DatabaseConnection, type Driver, type SqliteDialectConfig, type Transaction, type TransactionBuilder } from 'kysely';
import type { Database } from './schema.ts';
import { startCheckpoints, type Checkpointer } from './checkpoints.ts';
import { migrateToLatest } from './migrate.ts';
import { watchDataVersion, type Watcher } from './watch.ts';
import { loadLazily } from '../lazy.ts';
import { cachingStatements, type StatementCache } from './statement-cache.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** Either the database or an open transaction: store queries accept both. */
export type Executor = Kysely<Database>;

export interface StoreOptions {
  /** `postgres://…` for PostgreSQL; otherwise ignored. */
  databaseUrl?: string | undefined;
  /** Directory of the SQLite file `keyplane.db` when no PostgreSQL URL is given. */
  dataDir: string;
  /** Pool size for PostgreSQL. */
  poolMax?: number;
}

export interface Store {
  readonly db: Db;
  readonly dialect: Dialect;
  /** Path of the SQLite file, when the store is SQLite. */
  readonly file: string | null;
  /** The PostgreSQL pool, for LISTEN/NOTIFY. */
  readonly pool: pg.Pool | null;
  /**
   * The SQLite connection under Kysely, for the one bulk write that needs prepared statements
   * (src/store/usage-writes.ts); used only inside a Kysely transaction on it, never beside one.
   */
  readonly sqlite: SQLite.Database | null;
  /** SQLite: the prepared statements Kysely's queries reuse (src/store/statement-cache.ts). */
  readonly statements: StatementCache | null;
  migrate(): Promise<string[]>;
  /**
   * SQLite: checkpoints the write-ahead log from a worker thread from now until close()
   * (src/store/checkpoints.ts), for a long-running server. PostgreSQL: nothing to do.
   */
  startBackgroundCheckpoints(onError?: (err: Error) => void): void;
  /**
   * SQLite: calls `onChange` (within about 250 ms) whenever another process committed to the file
   * (src/store/watch.ts), until the returned function or close() is called. PostgreSQL: never (its
   * changes travel by NOTIFY, src/store/notify.ts).
   */
  watchExternalChanges(onChange: () => void): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//i.test(url);
}

/** The pg module, loaded by the first PostgreSQL store (a SQLite start never loads it). */
export function loadPg(): typeof pg {
  const mod = loadLazily<typeof pg>('pg');
  // int8 (COUNT(*), bigint columns) as numbers: epoch milliseconds and counters stay far below 2^53.
  mod.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
  return mod;
}

/**
 * SQLite transactions begin IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the
 * first read. A deferred transaction that read first cannot become a writer once another process (the
 * CLI beside a server, a second node on the file) committed meanwhile: SQLite answers SQLITE_BUSY at
 * once, without waiting, and the request would fail. Within one process nothing changes: Kysely runs
 * one transaction at a time on its one connection.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly sqliteConfig: SqliteDialectConfig) {
    super(sqliteConfig);
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.sqliteConfig);
  }
}

export function openStore(opts: StoreOptions): Store {
  if (isPostgresUrl(opts.databaseUrl)) {
    const pool = new (loadPg().Pool)({ connectionString: opts.databaseUrl, max: opts.poolMax ?? 10 });
    // An idle client that loses its connection must not crash the process.
    pool.on('error', () => {});
    const db = new StoreKysely({ dialect: new PostgresDialect({ pool }) });
    return makeStore(db, 'postgres', null, pool, null);
  }
  fs.mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(opts.dataDir, 'keyplane.db');
  // Owner-only from the start; SQLite gives its -wal and -shm files the database file's mode.
  fs.closeSync(fs.openSync(file, 'a', 0o600));
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const statements = cachingStatements(sqlite);
  const db = new StoreKysely({ dialect: new ImmediateSqliteDialect({ database: statements }) });
  return makeStore(db, 'sqlite', file, null, sqlite, statements);
}

function makeStore(db: Db, dialect: Dialect, file: string | null, pool: pg.Pool | null, sqlite: SQLite.Database | null, statements: StatementCache | null = null): Store {
  let closed = false;
  let checkpoints: Checkpointer | null = null;
  const watchers = new Set<Watcher>();
  return {
    db,
    dialect,
    file,
    pool,
    sqlite,
    statements,
    migrate: () => migrateToLatest(db),
    startBackgroundCheckpoints(onError) {
      if (sqlite && file && !checkpoints && !closed) checkpoints = startCheckpoints(sqlite, file, onError);
    },
    watchExternalChanges(onChange) {
      if (!sqlite || closed) return () => {};
      const w = watchDataVersion(sqlite, onChange);
      watchers.add(w);
      return () => {
        w.stop();
        watchers.delete(w);
      };
    },
    async ping() {
      await sql`select 1`.execute(db);
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of watchers) w.stop();
      watchers.clear();
      await checkpoints?.stop();
      await db.destroy();
    },
  };
}

/** True when `err` is a unique or primary-key violation on either dialect. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * The store's Kysely: every `transaction().execute(fn)` that fails on a unique or primary-key
 * violation (two identical requests racing: the loser's insert meets the winner's committed row) is
 * run once more, in a new transaction — never inside the failed one, which PostgreSQL has aborted.
 * The second run sees the winner's row, so the loser gets the answer a non-concurrent duplicate gets
 * ("already a member", "already uploaded"…). Should that run meet a violation again, its error is
 * thrown as it is; every face classifies a unique violation as a conflict (src/faces/common.ts).
 * Only the outermost execute retries (a `tx` passed down is not a new transaction), so `fn` must
 * keep its effects inside the transaction (or reset them when it starts).
 */
class StoreKysely extends Kysely<Database> {
  override transaction(): TransactionBuilder<Database> {
    return retryingOnUniqueViolation(super.transaction());
  }
}

function retryingOnUniqueViolation(builder: TransactionBuilder<Database>): TransactionBuilder<Database> {
  return new Proxy(builder, {
    get(target, prop) {
      if (prop === 'execute') {
        return async <T>(fn: (tx: Tx) => Promise<T>): Promise<T> => {
          try {
            return await target.execute(fn);
          } catch (first) {
            if (!isUniqueViolation(first)) throw first;
          }
          return target.execute(fn);
        };
      }
      if (prop === 'setIsolationLevel' || prop === 'setAccessMode') {
        return (arg: never) => retryingOnUniqueViolation(target[prop](arg));
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
