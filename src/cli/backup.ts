// `keyplane backup --to FILE` and `keyplane restore --from FILE` for the embedded SQLite database.
//
// Backup: SQLite's online backup API (better-sqlite3's db.backup) from this process while a server
// may be writing the same file (WAL mode): all pages are copied in one step, inside one read
// transaction, so the copy is one consistent snapshot and never blocks the server's writers. The copy
// goes to FILE.tmp (mode 0600: it holds sealed secrets), is checked (quick_check), switched to a
// single self-contained file (journal_mode DELETE), fsynced and renamed to FILE.
//
// Restore: refused while any process has the database open. A connection in WAL mode keeps a shared
// lock on the database file for as long as it is open, so a probe connection in exclusive locking
// mode that cannot BEGIN EXCLUSIVE (busy timeout 0) proves a server (or another CLI) is using it.
// The backup is staged in the data dir and checked there: integrity_check, a keyplane migrations
// table, no migration unknown to this build, and the master key in use must unwrap every data key.
// Then the current database is checkpointed, kept aside as keyplane.db.before-restore-<ts>, and the
// staged copy renamed into place.
//
// PostgreSQL is refused with a pointer to pg_dump / pg_restore (README "Backups and restore").
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type { Command } from 'commander';
import { loadConfig, type Config, type FlagValues } from '../config.ts';
import { keyFingerprint, open as openSealed, parseKey, unwrapDataKey } from '../crypto/envelope.ts';
import { MASTER_KEY_FILE } from '../crypto/master-key.ts';
import { PLATFORM_DATA_KEY_CONTEXT } from '../domain/credentials.ts';
import { isPostgresUrl } from '../store/db.ts';
import { MIGRATION_NAMES } from '../store/migrate.ts';
import { StartupError } from '../runtime.ts';
import { examples, STORE_SETTINGS, withSettings } from './common.ts';

export const DB_FILE = 'keyplane.db';
const MIGRATION_TABLE = 'kysely_migration';

function refusePostgres(config: Config, what: 'backup' | 'restore'): void {
  if (!isPostgresUrl(config.databaseUrl)) return;
  throw new StartupError(
    what === 'backup'
      ? 'keyplane backup copies the embedded SQLite database; this installation uses PostgreSQL: back it up with pg_dump (or pg_basebackup) and keep the master key with it (README: Backups and restore)'
      : 'keyplane restore restores the embedded SQLite database; this installation uses PostgreSQL: restore it with pg_restore or psql, and start with the master key it was sealed under (README: Backups and restore)',
  );
}

function code(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message?.split('\n')[0] ?? String(err);
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // not every platform can fsync a directory
  }
}

/** Fingerprints of the master keys the data keys in `db` are wrapped under (empty: nothing sealed yet). */
function masterKeyIds(db: SQLite.Database): string[] {
  const ids = new Set<string>();
  for (const t of ['data_keys', 'platform_data_key']) {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t);
    if (!exists) continue;
    for (const r of db.prepare(`SELECT DISTINCT master_key_id FROM ${t}`).pluck().all() as string[]) ids.add(r);
  }
  return [...ids];
}

export async function backup(config: Config, to: string): Promise<void> {
  refusePostgres(config, 'backup');
  const src = path.resolve(config.dataDir, DB_FILE);
  if (!fs.existsSync(src)) throw new StartupError(`no keyplane database in ${path.resolve(config.dataDir)} (expected ${src}); check --data-dir`);
  const dest = path.resolve(to);
  if (dest === src || dest.startsWith(`${src}-`)) throw new StartupError(`--to ${dest} is the live database (or one of its files); write the backup elsewhere`);
  if (!fs.existsSync(path.dirname(dest))) throw new StartupError(`cannot write ${dest}: directory ${path.dirname(dest)} does not exist`);
  const tmp = `${dest}.tmp`;
  fs.rmSync(tmp, { force: true });
  // owner-only from the first byte: the copy holds sealed credentials and key hashes
  fs.closeSync(fs.openSync(tmp, 'wx', 0o600));
  let ok = false;
  try {
    const db = new SQLite(src, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      // every remaining page in the step after the first: one read transaction, one snapshot
      await db.backup(tmp, { progress: () => 0x7fffffff });
    } finally {
      db.close();
    }
    const copy = new SQLite(tmp, { fileMustExist: true });
    let ids: string[];
    let schema: string | undefined;
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StartupError(`the copy failed its integrity check (${String(check)}); nothing was written to ${dest}`);
      copy.pragma('journal_mode = DELETE'); // one self-contained file
      ids = masterKeyIds(copy);
      schema = copy.prepare(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name DESC LIMIT 1`).pluck().get() as string | undefined;
    } finally {
      copy.close();
    }
    fs.chmodSync(tmp, 0o600);
    fsyncFile(tmp);
    fs.renameSync(tmp, dest);
    fsyncDir(path.dirname(dest));
    ok = true;
    const size = fs.statSync(dest).size;
    process.stdout.write(
      `keyplane: backed up ${src} to ${dest} (${size} bytes, schema ${schema ?? 'unknown'}, mode 0600)\n` +
        (ids.length
          ? `its credentials are sealed under master key ${ids.join(', ')}: keep that key (KEYPLANE_MASTER_KEY or ${path.join(path.resolve(config.dataDir), MASTER_KEY_FILE)}) with the backup, but not in the same place; without it they cannot be read\n`
          : 'it holds no sealed credentials yet\n'),
    );
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(`backup of ${src} failed: ${code(err)}`);
  } finally {
    if (!ok) fs.rmSync(tmp, { force: true });
  }
}

/** The master key a restore must match: the configured one, else the data dir's file (never generated here). */
function currentMasterKey(config: Config): { key: Buffer; where: string } | null {
  if (config.masterKey) return { key: config.masterKey, where: 'KEYPLANE_MASTER_KEY' };
  const file = path.join(config.dataDir, MASTER_KEY_FILE);
  if (!fs.existsSync(file)) return null;
  const key = parseKey(fs.readFileSync(file, 'utf8'));
  if (!key) throw new StartupError(`${file} does not hold a 256-bit key (64 hex characters)`);
  return { key, where: file };
}

/** Refuses while a process has `file` open (see the header); else checkpoints it so the file alone is the database. */
function requireUnused(file: string): void {
  let db: SQLite.Database;
  try {
    db = new SQLite(file, { fileMustExist: true });
  } catch (err) {
    throw new StartupError(`cannot open the current database ${file}: ${code(err)}`);
  }
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    try {
      db.exec('BEGIN EXCLUSIVE');
      db.exec('ROLLBACK');
    } catch (err) {
      if (code(err).startsWith('SQLITE_BUSY')) {
        throw new StartupError(`a keyplane server (or another keyplane command) has ${file} open: stop every keyplane process on this data dir, then restore`);
      }
      throw new StartupError(`cannot lock the current database ${file}: ${code(err)}`);
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close(); // the last connection: SQLite removes the -wal file
  }
}

/** Checks the staged copy of a backup; throws the reason it cannot be restored. */
function checkBackup(staged: string, from: string, config: Config): { schema: string; masterKeyId: string | null } {
  let db: SQLite.Database;
  try {
    db = new SQLite(staged, { fileMustExist: true });
  } catch (err) {
    throw new StartupError(`${from} cannot be opened as a SQLite database: ${code(err)}`);
  }
  try {
    let check: unknown;
    try {
      check = db.pragma('integrity_check', { simple: true });
    } catch (err) {
      throw new StartupError(`${from} is not a SQLite database (${code(err)})`);
    }
    if (check !== 'ok') throw new StartupError(`${from} failed SQLite's integrity check: ${String(check)}`);
    const hasMigrations = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(MIGRATION_TABLE);
    if (!hasMigrations) throw new StartupError(`${from} is a SQLite database but not a keyplane one (no ${MIGRATION_TABLE} table)`);
    const applied = db.prepare(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY name`).pluck().all() as string[];
    const unknown = applied.filter((n) => !MIGRATION_NAMES.includes(n));
    if (unknown.length) {
      throw new StartupError(`${from} was written by a newer keyplane (migration ${unknown.join(', ')} is unknown to this one); restore it with that version or a later one`);
    }
    if (!applied.length) throw new StartupError(`${from} is not a keyplane database (no migration applied)`);
    const ids = masterKeyIds(db);
    if (!ids.length) return { schema: applied.at(-1)!, masterKeyId: null };
    const current = currentMasterKey(config);
    if (!current) {
      throw new StartupError(`this backup was sealed under master key ${ids.join(', ')}, and no master key is set: set KEYPLANE_MASTER_KEY (or put the key in ${path.join(config.dataDir, MASTER_KEY_FILE)}) to that key`);
    }
    const fp = keyFingerprint(current.key);
    const other = ids.find((id) => id !== fp);
    if (other) throw new StartupError(`this backup was sealed under master key ${other}, the current one is ${fp} (${current.where}); restore with the key it was sealed under`);
    // the fingerprints match: prove the key really opens every data key
    try {
      for (const r of db.prepare('SELECT org_id, wrapped_key FROM data_keys').all() as Array<{ org_id: string; wrapped_key: string }>) unwrapDataKey(current.key, r.wrapped_key, r.org_id);
      const hasPlatform = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'platform_data_key'").get();
      if (hasPlatform) for (const w of db.prepare('SELECT wrapped_key FROM platform_data_key').pluck().all() as string[]) openSealed(current.key, w, PLATFORM_DATA_KEY_CONTEXT);
    } catch {
      throw new StartupError(`the current master key ${fp} cannot open this backup's data keys; restore with the key it was sealed under`);
    }
    return { schema: applied.at(-1)!, masterKeyId: fp };
  } finally {
    db.close();
  }
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function restore(config: Config, from: string): Promise<void> {
  refusePostgres(config, 'restore');
  const source = path.resolve(from);
  let st: fs.Stats;
  try {
    st = fs.statSync(source);
  } catch (err) {
    throw new StartupError(`cannot read --from ${source}: ${code(err)}`);
  }
  if (!st.isFile()) throw new StartupError(`--from ${source} is not a file`);
  const dataDir = path.resolve(config.dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const live = path.join(dataDir, DB_FILE);
  if (source === live) throw new StartupError(`--from ${source} is the live database`);
  if (fs.existsSync(live)) requireUnused(live);

  const staged = path.join(dataDir, `${DB_FILE}.restoring`);
  fs.rmSync(staged, { force: true });
  let installed = false;
  try {
    fs.copyFileSync(source, staged);
    fs.chmodSync(staged, 0o600);
    for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(staged + suffix, { force: true });
    const checked = checkBackup(staged, source, config);
    fsyncFile(staged);
    let aside: string | null = null;
    if (fs.existsSync(live)) {
      requireUnused(live); // again: the checks took time
      aside = `${live}.before-restore-${stamp(new Date())}`;
      fs.renameSync(live, aside);
      for (const suffix of ['-wal', '-shm']) if (fs.existsSync(live + suffix)) fs.renameSync(live + suffix, aside + suffix);
    }
    fs.renameSync(staged, live);
    fsyncDir(dataDir);
    installed = true;
    process.stdout.write(
      `keyplane: restored ${source} into ${live} (schema ${checked.schema}${checked.masterKeyId ? `, sealed under master key ${checked.masterKeyId}` : ''})\n` +
        (aside ? `the previous database is kept as ${aside}\n` : '') +
        'start keyplane on this data dir to use it (pending migrations are applied at start)\n',
    );
  } finally {
    if (!installed) for (const suffix of ['', '-wal', '-shm', '-journal']) fs.rmSync(staged + suffix, { force: true });
  }
}

export function registerBackupCommands(program: Command): void {
  examples(
    withSettings(
      program
        .command('backup')
        .description('copy the SQLite database while the server runs (online backup API; consistent; mode 0600). PostgreSQL: use pg_dump')
        .requiredOption('--to <file>', 'where the copy goes (written to <file>.tmp, then renamed)'),
      STORE_SETTINGS,
    ),
    ['keyplane backup --to /backups/keyplane-$(date +%F).db', 'keyplane backup --data-dir /var/lib/keyplane --to /backups/keyplane.db'],
  ).action(async (opts: FlagValues & { to: string }) => {
    await backup(loadConfig(opts), opts.to);
  });

  examples(
    withSettings(
      program
        .command('restore')
        .description(
          'replace the SQLite database with a backup (stop every keyplane process on the data dir first); checks the backup and that the master key in use opens it, and keeps the current database as keyplane.db.before-restore-<time>',
        )
        .requiredOption('--from <file>', 'a file written by `keyplane backup`'),
      STORE_SETTINGS,
    ),
    ['keyplane restore --from /backups/keyplane-2026-11-30.db', 'KEYPLANE_MASTER_KEY=$(cat /secure/master-key) keyplane restore --data-dir /var/lib/keyplane --from /backups/keyplane.db'],
  ).action(async (opts: FlagValues & { from: string }) => {
    await restore(loadConfig(opts), opts.from);
  });
}
