// One ordered list of migrations for both dialects, applied at start and by `keyplane migrate`.
import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import * as m0001 from './migrations/0001_core_model.ts';
import * as m0002 from './migrations/0002_audit_request_context.ts';
import * as m0003 from './migrations/0003_gateway_usage.ts';
import * as m0004 from './migrations/0004_platform_credentials.ts';
import * as m0005 from './migrations/0005_free_trial_start.ts';
import * as m0006 from './migrations/0006_usage_rollups.ts';
import * as m0007 from './migrations/0007_spend.ts';
import * as m0008 from './migrations/0008_project_settings.ts';
import * as m0009 from './migrations/0009_unique_rules.ts';
import * as m0010 from './migrations/0010_org_disabled.ts';
import * as m0011 from './migrations/0011_console_auth.ts';

const migrations: Record<string, Migration> = {
  '0001_core_model': m0001,
  '0002_audit_request_context': m0002,
  '0003_gateway_usage': m0003,
  '0004_platform_credentials': m0004,
  '0005_free_trial_start': m0005,
  '0006_usage_rollups': m0006,
  '0007_spend': m0007,
  '0008_project_settings': m0008,
  '0009_unique_rules': m0009,
  '0010_org_disabled': m0010,
  '0011_console_auth': m0011,
};

/** Every migration this build knows, in order (a database that applied another one is newer than this build). */
export const MIGRATION_NAMES: readonly string[] = Object.keys(migrations);

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

/**
 * True when the database has applied exactly this list of migrations: a start on an up-to-date
 * database then reads one small table instead of running the Migrator (which introspects every
 * table and takes its lock). Anything else (no table yet, a pending or an unknown migration) goes
 * through the Migrator, which applies or reports it.
 */
async function upToDate(db: Kysely<any>): Promise<boolean> {
  let rows: { name: string }[];
  try {
    rows = await db.selectFrom('kysely_migration').select('name').execute();
  } catch {
    return false; // a new database
  }
  const names = Object.keys(migrations);
  const applied = new Set(rows.map((r) => r.name));
  return applied.size === names.length && names.every((n) => applied.has(n));
}

/** Applies every pending migration; returns the names applied by this call. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  if (await upToDate(db)) return [];
  return settle(await new Migrator({ db, provider: new StaticProvider() }).migrateToLatest());
}

/** Applies the pending migrations up to and including `name` (tests: a database as an older release left it). */
export async function migrateUpTo(db: Kysely<any>, name: string): Promise<string[]> {
  if (!(name in migrations)) throw new Error(`no migration named ${name}`);
  return settle(await new Migrator({ db, provider: new StaticProvider() }).migrateTo(name));
}

function settle({ error, results }: MigrationResultSet): string[] {
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    const why = (error as Error).message ?? String(error);
    throw new Error(failed ? `migration ${failed} failed: ${why}` : why);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
