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
