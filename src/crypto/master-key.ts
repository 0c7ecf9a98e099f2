// The master key that wraps every organization's data key: from config, else from `<data dir>/master-key`
// (generated there once, mode 0600, for the embedded default).
import fs from 'node:fs';
import path from 'node:path';
import { generateKey, keyFingerprint, parseKey } from './envelope.ts';

export const MASTER_KEY_FILE = 'master-key';

export interface MasterKey {
  key: Buffer;
  id: string;
  source: 'config' | 'file' | 'generated';
}

export function loadMasterKey(configured: Buffer | undefined, dataDir: string): MasterKey {
  if (configured) return { key: configured, id: keyFingerprint(configured), source: 'config' };
  const file = path.join(dataDir, MASTER_KEY_FILE);
  if (fs.existsSync(file)) {
    const key = parseKey(fs.readFileSync(file, 'utf8'));
    if (!key) throw new Error(`${file} does not hold a 256-bit key (64 hex characters); restore it from your backup`);
    return { key, id: keyFingerprint(key), source: 'file' };
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = generateKey();
  fs.writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, id: keyFingerprint(key), source: 'generated' };
}

/** The new master key of a rotation, staged beside `master-key` until the database uses it. */
export const STAGED_MASTER_KEY_FILE = `${MASTER_KEY_FILE}.next`;

/** Flushes a directory's entries (a created or renamed file) to disk; a no-op where directories cannot be opened. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // (Windows cannot fsync a directory)
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `key` to `file` (mode 0600) atomically: a temporary file, flushed, then renamed over it. */
function writeKeyFile(file: string, key: Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, key.toString('hex') + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/**
 * Stages the new key of a rotation as `<data dir>/master-key.next`, atomically: a crash leaves either
 * no staged key or the whole of it, never a partial one.
 */
export function stageMasterKey(dataDir: string, key: Buffer): void {
  writeKeyFile(path.join(dataDir, STAGED_MASTER_KEY_FILE), key);
}

/**
 * Makes `key` the data dir's master key once the database uses it: `master-key` is replaced atomically
 * (written in full, not moved from the staged file, so it holds even if the staged file is gone), then
 * the staged key is removed.
 */
export function commitMasterKey(dataDir: string, key: Buffer): void {
  writeKeyFile(path.join(dataDir, MASTER_KEY_FILE), key);
  fs.rmSync(path.join(dataDir, STAGED_MASTER_KEY_FILE), { force: true });
  syncDir(dataDir);
}

/** Replaces `master-key` with the staged key (one atomic rename), flushed to disk. */
function promoteStagedMasterKey(dataDir: string): void {
  fs.renameSync(path.join(dataDir, STAGED_MASTER_KEY_FILE), path.join(dataDir, MASTER_KEY_FILE));
  syncDir(dataDir);
}

/** What `settleStagedMasterKey` did. */
export type StagedKeyOutcome = 'none' | 'finished' | 'undone' | 'unresolved';

/**
 * Settles a rotation that was interrupted (killed) between staging `master-key.next` and replacing
 * `master-key` with it: `vaultKeyIds` are the master key ids the database's data keys are wrapped
 * under. All under the staged key (the rotation committed): the staged key replaces `master-key`
 * ('finished'). All under the current key, or no data key at all (the rotation never committed): the
 * staged key is removed ('undone'). Anything else is left for the vault check to refuse ('unresolved').
 * Only for a master key kept in the data dir (KEYPLANE_MASTER_KEY unset).
 */
export function settleStagedMasterKey(dataDir: string, vaultKeyIds: readonly string[]): StagedKeyOutcome {
  const file = path.join(dataDir, MASTER_KEY_FILE);
  const stagedFile = path.join(dataDir, STAGED_MASTER_KEY_FILE);
  // temporary files of a write that never completed (the file it was to replace is intact)
  fs.rmSync(`${stagedFile}.tmp`, { force: true });
  fs.rmSync(`${file}.tmp`, { force: true });
  if (!fs.existsSync(stagedFile)) return 'none';
  const idOf = (f: string) => {
    if (!fs.existsSync(f)) return null;
    const key = parseKey(fs.readFileSync(f, 'utf8'));
    return key ? keyFingerprint(key) : null;
  };
  const stagedId = idOf(stagedFile);
  const currentId = idOf(file);
  const all = (id: string | null) => id !== null && vaultKeyIds.every((v) => v === id);
  if (stagedId !== null && vaultKeyIds.length > 0 && all(stagedId)) {
    promoteStagedMasterKey(dataDir);
    return 'finished';
  }
  if (currentId !== null && all(currentId)) {
    fs.rmSync(stagedFile);
    syncDir(dataDir);
    return 'undone';
  }
  if (currentId === null && stagedId !== null && vaultKeyIds.length === 0 && !fs.existsSync(file)) {
    promoteStagedMasterKey(dataDir); // better the staged key than a new one
    return 'finished';
  }
  return 'unresolved';
}
