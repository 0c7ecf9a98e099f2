// Everything keyplane opens at start, in order: master key, store, migrations, vault check, core.
// Used by `keyplane serve`, by the other CLI commands and by the tests.
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from './config.ts';
import { loadMasterKey, settleStagedMasterKey, STAGED_MASTER_KEY_FILE, type MasterKey, type StagedKeyOutcome } from './crypto/master-key.ts';
import { openStore, type Store } from './store/db.ts';
import { Core } from './domain/core.ts';
import { bootstrap } from './domain/bootstrap.ts';

export const ADMIN_KEY_FILE = 'admin-key';

/** A start-up failure whose message is meant for the operator as it is. */
export class StartupError extends Error {
  override name = 'StartupError';
}

export interface Runtime {
  config: Config;
  store: Store;
  core: Core;
  masterKey: MasterKey;
  /**
   * A master-key rotation found interrupted at start (the data dir's `master-key.next`), settled from
   * what the database uses: 'finished' (the new key replaced `master-key`) or 'undone' (it was dropped).
   */
  rotationSettled?: 'finished' | 'undone';
  close(): Promise<void>;
}

export async function openRuntime(config: Config, hooks: { onBackgroundError?: (err: Error, what: string) => void } = {}): Promise<Runtime> {
  // The database first: a start that cannot reach it leaves nothing behind (not even a new master key).
  const store = openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw new StartupError(`cannot open the ${store.dialect === 'postgres' ? 'PostgreSQL database' : `SQLite database ${store.file}`}: ${describe(err)}`);
  }
  let masterKey: MasterKey;
  let settled: StagedKeyOutcome = 'none';
  try {
    // a rotation killed between staging the new key and replacing master-key: finish or undo it,
    // whichever the database says (its data keys record the master key that wraps them)
    if (!config.masterKey) settled = settleStagedMasterKey(config.dataDir, await vaultKeyIds(store));
    masterKey = loadMasterKey(config.masterKey, config.dataDir);
    await checkVault(store, masterKey, config.dataDir);
  } catch (err) {
    await store.close().catch(() => {});
    if (err instanceof StartupError) throw err;
    throw new StartupError(`cannot load the master key: ${describe(err)}`);
  }
  const core = new Core(store, {
    keyCacheMax: config.keyCacheMax,
    keyCacheTtlMs: config.keyCacheTtlMs,
    usageFlushMs: config.usageFlushMs,
    usageMinuteRetentionDays: config.usageMinuteRetentionDays,
    freeTrial: { tokens: config.freeTrialTokens || null, requests: config.freeTrialRequests || null, days: config.freeTrialDays || null },
    databaseUrl: config.databaseUrl,
    modelCatalog: config.modelsFile?.catalog,
    modelRoutes: config.modelsFile?.entries,
    onBackgroundError: hooks.onBackgroundError,
    masterKey: masterKey.key,
    spendAlertWebhook: config.spendAlertWebhookUrl ? { url: config.spendAlertWebhookUrl, retryMs: config.spendAlertWebhookRetryMs } : undefined,
  });
  return {
    config,
    store,
    core,
    masterKey,
    ...(settled === 'finished' || settled === 'undone' ? { rotationSettled: settled } : {}),
    async close() {
      await core.stop();
      await store.close();
    },
  };
}

/** The master key ids the vault's data keys (organizations' and the platform's) are wrapped under. */
async function vaultKeyIds(store: Store): Promise<string[]> {
  const orgs = await store.db.selectFrom('data_keys').select('master_key_id').distinct().execute();
  const platform = await store.db.selectFrom('platform_data_key').select('master_key_id').execute();
  return [...new Set([...orgs, ...platform].map((r) => r.master_key_id))];
}

/** Refuses to start with a master key other than the one that wrapped the existing data keys. */
async function checkVault(store: Store, masterKey: MasterKey, dataDir: string): Promise<void> {
  const stagedFile = path.join(dataDir, STAGED_MASTER_KEY_FILE);
  const staged = masterKey.source !== 'config' && fs.existsSync(stagedFile) ? stagedFile : null;
  const other =
    (await store.db.selectFrom('data_keys').select('master_key_id').where('master_key_id', '!=', masterKey.id).executeTakeFirst()) ??
    // the platform data key (the operator's default credentials) is wrapped by the same master key
    (await store.db.selectFrom('platform_data_key').select('master_key_id').where('master_key_id', '!=', masterKey.id).executeTakeFirst());
  if (other) {
    if (staged) {
      throw new StartupError(
        `the master key (id ${masterKey.id}) is not the one that encrypted this vault (id ${other.master_key_id}), and neither is ${staged}; start with the master key that encrypted it (KEYPLANE_MASTER_KEY or the data dir master-key file)`,
      );
    }
    throw new StartupError(
      `the master key (${masterKey.source === 'config' ? 'KEYPLANE_MASTER_KEY' : 'data dir master-key file'}, id ${masterKey.id}) is not the one that encrypted this vault (id ${other.master_key_id}); start with the master key that encrypted it (KEYPLANE_MASTER_KEY or the data dir master-key file)`,
    );
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return (e?.message || e?.code || String(err)).split('\n')[0]!;
}

export interface BootstrapOutcome {
  created: boolean;
  orgSlug?: string;
  /** The generated secret, to print once; undefined when the operator supplied it. */
  printableSecret?: string;
  keyFile?: string;
  /** The owner's console sign-in, to print once: their email and a generated password (stored only as its argon2id hash). */
  ownerSignIn?: { email: string; password: string };
}

/** First start: creates organization `main` and writes its admin key to `<data dir>/admin-key` (0600). */
export async function runBootstrap(rt: Runtime): Promise<BootstrapOutcome> {
  const created = await bootstrap(rt.core.orgs, rt.config.bootstrapAdminKey);
  if (!created) return { created: false };
  const keyFile = path.join(rt.config.dataDir, ADMIN_KEY_FILE);
  fs.mkdirSync(rt.config.dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(keyFile, created.adminKey.secret + '\n', { mode: 0o600 });
  fs.chmodSync(keyFile, 0o600); // mode only applies when the file is new
  // the owner signs in to the console with this password (printed once by `keyplane serve`)
  const password = randomBytes(18).toString('base64url');
  await rt.core.consoleSessions.setPassword(created.owner.id, password);
  return {
    created: true,
    orgSlug: created.org.slug,
    keyFile,
    ...(rt.config.bootstrapAdminKey ? {} : { printableSecret: created.adminKey.secret }),
    ownerSignIn: { email: created.owner.email, password },
  };
}
