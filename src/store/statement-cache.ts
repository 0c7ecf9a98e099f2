// Prepared statements of the SQLite store, kept by SQL text: Kysely's SqliteDialect asks its database
// for `prepare(sql)` on every query, and preparing (parsing and planning the SQL) was most of an
// admin read's time. The dialect is given this object instead of the better-sqlite3 Database (its
// documented SqliteDatabase interface: prepare and close), which returns the statement prepared the
// first time that text was seen.
//
// Bounded: the least recently used statements beyond `max` are dropped (better-sqlite3 finalizes a
// statement when it is garbage-collected), so SQL that embeds values (a query built with raw
// literals, an `in (…)` list of a new length) cannot grow it without end. A schema change needs
// nothing here: SQLite re-prepares a statement whose schema changed when it next runs. A statement
// still being iterated (Kysely's streamQuery) is busy and cannot be run again until it finishes, so
// that text gets a fresh, uncached statement meanwhile.
import type SQLite from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Statements kept by default: far more than keyplane's distinct queries, few enough to stay small. */
export const STATEMENT_CACHE_MAX = 500;

export interface StatementCache extends SqliteDatabase {
  /** Statements currently cached. */
  readonly size: number;
  /** Times `prepare` returned a cached statement / prepared a new one (for tests and benchmarks). */
  readonly hits: number;
  readonly misses: number;
}

export function cachingStatements(sqlite: SQLite.Database, max = STATEMENT_CACHE_MAX): StatementCache {
  const cache = new LRUCache<string, SQLite.Statement>({ max });
  let hits = 0;
  let misses = 0;
  return {
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached && !cached.busy) {
        hits++;
        return cached as unknown as SqliteStatement;
      }
      misses++;
      const stmt = sqlite.prepare(sql);
      if (!cached) cache.set(sql, stmt);
      return stmt as unknown as SqliteStatement;
    },
    close() {
      cache.clear();
      sqlite.close();
    },
    get size() {
      return cache.size;
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}
