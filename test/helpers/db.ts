// Databases for tests: SQLite always, PostgreSQL whenever one is reachable (KEYPLANE_TEST_POSTGRES=require
// makes it mandatory, as CI does). Each test gets a database of its own and drops it afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.KEYPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  dialect: 'sqlite' | 'postgres';
  dataDir: string;
  databaseUrl: string | undefined;
  drop(): Promise<void>;
}

let pgReachable: Promise<boolean> | null = null;

export function postgresReachable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
    try {
      await c.connect();
      await c.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => {});
    }
  })();
  return pgReachable;
}

/** The dialects to run store-level tests on. */
export async function testDialects(): Promise<Array<'sqlite' | 'postgres'>> {
  if (await postgresReachable()) return ['sqlite', 'postgres'];
  if (process.env.KEYPLANE_TEST_POSTGRES === 'require') {
    throw new Error(`PostgreSQL is required (KEYPLANE_TEST_POSTGRES=require) but ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')} is unreachable`);
  }
  return ['sqlite'];
}

export function tmpDir(label = 'kp'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${label}-`));
}

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function createTestDb(dialect: 'sqlite' | 'postgres'): Promise<TestDb> {
  const dataDir = tmpDir();
  if (dialect === 'sqlite') {
    return {
      dialect,
      dataDir,
      databaseUrl: undefined,
      async drop() {
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `kp_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    dialect,
    dataDir,
    databaseUrl: withDatabase(PG_ADMIN_URL, name),
    async drop() {
      fs.rmSync(dataDir, { recursive: true, force: true });
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
