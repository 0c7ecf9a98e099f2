// `keyplane vault rotate-master-key`: rewrap every data key under a new master key and re-seal, in
// the same transaction, every credential value still in an older sealed format (src/crypto/README.md);
// values already in the current format are not touched. Where the current key lives in the data dir,
// the new one replaces it there; where it comes from KEYPLANE_MASTER_KEY, the operator must set the
// new value before the next start.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.ts';
import { generateKey, keyFingerprint, parseKey } from '../crypto/envelope.ts';
import { MASTER_KEY_FILE } from '../crypto/master-key.ts';
import { openRuntime, StartupError } from '../runtime.ts';

export async function rotateMasterKey(config: Config, newKeyText: string | undefined, generate: boolean): Promise<void> {
  if (!!newKeyText === generate) throw new StartupError('give either --new-master-key (or KEYPLANE_NEW_MASTER_KEY) or --generate');
  const next = newKeyText ? parseKey(newKeyText) : generateKey();
  if (!next) throw new StartupError('the new master key must be 32 random bytes as 64 hex characters or base64 (try: openssl rand -hex 32)');
  const rt = await openRuntime(config);
  try {
    if (keyFingerprint(next) === rt.masterKey.id) throw new StartupError('the new master key is the current one');
    const inDataDir = rt.masterKey.source !== 'config';
    const file = path.join(config.dataDir, MASTER_KEY_FILE);
    const staged = `${file}.next`;
    // Stage the new key on disk before the database changes, so a crash between the two leaves it recoverable.
    if (inDataDir) fs.writeFileSync(staged, next.toString('hex') + '\n', { mode: 0o600 });
    const r = await rt.core.credentials.rotateMasterKeyAndReseal(next);
    if (inDataDir) fs.renameSync(staged, file);
    process.stdout.write(`keyplane: rewrapped ${r.dataKeys} data key(s) under master key ${keyFingerprint(next)}; re-sealed ${r.valuesResealed} credential value(s) from an older format\n`);
    if (!inDataDir) {
      process.stdout.write(
        generate
          ? `set KEYPLANE_MASTER_KEY to this new key before the next start (shown once):\n${next.toString('hex')}\n`
          : 'set KEYPLANE_MASTER_KEY to the new key before the next start\n',
      );
    }
  } finally {
    await rt.close();
  }
}
