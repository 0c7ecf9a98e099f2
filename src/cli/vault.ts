// `keyplane vault rotate-master-key`: rewrap every data key under a new master key and re-seal, in
// the same transaction, every credential value still in an older sealed format (src/crypto/README.md);
// values already in the current format are not touched. Where the current key lives in the data dir,
// the new one replaces it there; where it comes from KEYPLANE_MASTER_KEY, the operator must set the
// new value before the next start.
//
// Killed at any point (kill -9, power loss), the next start uses a key that opens the vault:
//   1. before the new key is staged: nothing changed;
//   2. `master-key.next` staged (atomically: whole or absent), database unchanged;
//   3. inside the database transaction: rolled back by the database, as in 2;
//   4. committed, `master-key` not yet replaced: the database's data keys record the new key's id;
//   5. `master-key` replaced (atomically), the staged file maybe still there.
// At start (src/runtime.ts, settleStagedMasterKey) a staged key is kept if the database uses it
// (4, 5: the rotation is finished) and dropped otherwise (2, 3: undone). With KEYPLANE_MASTER_KEY
// nothing is staged: the start refuses, naming the key id the vault needs, until the right key is set
// (a start never writes under a wrong key); a generated key is printed before the database changes,
// so a crash cannot lose it.
import type { Config } from '../config.ts';
import { generateKey, keyFingerprint, parseKey } from '../crypto/envelope.ts';
import { commitMasterKey, stageMasterKey } from '../crypto/master-key.ts';
import { openRuntime, StartupError } from '../runtime.ts';

/** The points at which test/process/vault-crash.test.ts kills the command. */
export type RotationStep = 'opened' | 'staged' | 'mid-transaction' | 'committed' | 'replaced';

/**
 * Test hook: with KEYPLANE_TEST_PAUSE_AT=<step>, the command prints "paused at <step>" and waits there
 * (for the test to kill it). Without it, nothing.
 */
async function step(name: RotationStep): Promise<void> {
  if (process.env.KEYPLANE_TEST_PAUSE_AT !== name) return;
  process.stdout.write(`paused at ${name}\n`);
  await new Promise<never>(() => {
    setInterval(() => {}, 3_600_000); // keeps the process alive until it is killed
  });
}

export async function rotateMasterKey(config: Config, newKeyText: string | undefined, generate: boolean): Promise<void> {
  if (!!newKeyText === generate) throw new StartupError('give either --new-master-key (or KEYPLANE_NEW_MASTER_KEY) or --generate');
  const next = newKeyText ? parseKey(newKeyText) : generateKey();
  if (!next) throw new StartupError('the new master key must be 32 random bytes as 64 hex characters or base64 (try: openssl rand -hex 32)');
  const rt = await openRuntime(config);
  try {
    if (keyFingerprint(next) === rt.masterKey.id) throw new StartupError('the new master key is the current one');
    const inDataDir = rt.masterKey.source !== 'config';
    await step('opened');
    // Stage the new key on disk before the database changes, so a crash between the two leaves it recoverable.
    if (inDataDir) stageMasterKey(config.dataDir, next);
    else if (generate) {
      // shown before the database changes: a crash after the commit must not lose the only copy
      process.stdout.write(`new master key (id ${keyFingerprint(next)}; shown once, keep it: the vault is being rewrapped under it):\n${next.toString('hex')}\n`);
    }
    await step('staged');
    const r = await rt.core.credentials.rotateMasterKeyAndReseal(next, () => step('mid-transaction'));
    await step('committed');
    if (inDataDir) commitMasterKey(config.dataDir, next);
    await step('replaced');
    process.stdout.write(`keyplane: rewrapped ${r.dataKeys} data key(s) under master key ${keyFingerprint(next)}; re-sealed ${r.valuesResealed} credential value(s) from an older format\n`);
    if (!inDataDir) process.stdout.write(`set KEYPLANE_MASTER_KEY to the new key${generate ? ' printed above' : ''} before the next start\n`);
  } finally {
    await rt.close();
  }
}
