// `keyplane vault rotate-master-key` killed with SIGKILL at each of its steps (the test-only hook
// KEYPLANE_TEST_PAUSE_AT makes the real CLI print "paused at <step>" and wait there), on SQLite and
// PostgreSQL: the next `keyplane serve` starts, and the vault opens with the old key (killed before the
// commit) or the new one (after it), never neither — an organization's credential and the platform's
// default credential still decrypt, the data dir holds exactly the key the database uses, and no
// staged key is left behind. With KEYPLANE_MASTER_KEY (nothing staged on disk), a start with the
// wrong key is refused, naming the key the vault needs, and changes nothing.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, SYSTEM } from '../../src/domain/actor.ts';
import { keyFingerprint } from '../../src/crypto/envelope.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime } from '../../src/runtime.ts';
import type { RotationStep } from '../../src/cli/vault.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { KeyplaneProcess, killAll, runKeyplane, startServer, stderrLines, storeArgs } from './spawn.ts';

after(killAll);

/** Each step, and whether the rotation had committed when the command was killed there. */
const STEPS: Array<[RotationStep, boolean]> = [
  ['opened', false],
  ['staged', false],
  ['mid-transaction', false],
  ['committed', true],
  ['replaced', true],
];

const SECRET = 'sk-crash-PLAINTEXT-org';
const PLATFORM_SECRET = 'sk-crash-PLAINTEXT-platform';

const config = (db: TestDb, masterKey?: string) =>
  loadConfig({ logLevel: 'silent', dataDir: db.dataDir, ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}), ...(masterKey ? { masterKey } : {}) }, {});

/** An organization with a credential and a platform default credential, sealed under the current master key. */
async function seed(db: TestDb, masterKey?: string): Promise<string> {
  const rt = await openRuntime(config(db, masterKey));
  try {
    const org = (await rt.core.orgs.create(SYSTEM, { name: 'Crash', slug: `crash-${randomBytes(3).toString('hex')}` })).org.id;
    await rt.core.credentials.create(ROOT, org, 'llm', { name: 'openai', value: { key: SECRET }, platform: 'p' });
    await rt.core.defaultCredentials.set(ROOT, 'openai', { key: PLATFORM_SECRET });
    return org;
  } finally {
    await rt.close();
  }
}

/** The master key ids the database's data keys record. */
async function vaultIds(db: TestDb, masterKey?: string): Promise<string[]> {
  // read through the store only: opening a runtime would settle the data dir
  const { openStore } = await import('../../src/store/db.ts');
  const store = openStore({ databaseUrl: config(db, masterKey).databaseUrl, dataDir: db.dataDir });
  try {
    const a = await store.db.selectFrom('data_keys').select('master_key_id').execute();
    const b = await store.db.selectFrom('platform_data_key').select('master_key_id').execute();
    return [...new Set([...a, ...b].map((r) => r.master_key_id))];
  } finally {
    await store.close();
  }
}

/** Both credentials decrypt with the key the runtime loads. */
async function assertDecrypts(db: TestDb, org: string, masterKey?: string): Promise<string> {
  const rt = await openRuntime(config(db, masterKey));
  try {
    assert.deepEqual(await rt.core.credentials.reveal(ROOT, org, 'llm', 'openai'), { key: SECRET });
    assert.deepEqual((await rt.core.defaultCredentials.open('openai'))?.value, { key: PLATFORM_SECRET });
    return rt.masterKey.id;
  } finally {
    await rt.close();
  }
}

/** Runs the rotation until it pauses at `step`, then SIGKILLs it. */
async function killAt(db: TestDb, step: RotationStep, args: string[], env: Record<string, string> = {}): Promise<KeyplaneProcess> {
  const proc = new KeyplaneProcess(['vault', 'rotate-master-key', ...args, ...storeArgs(db)], { env: { ...env, KEYPLANE_TEST_PAUSE_AT: step } });
  await proc.waitFor(`"paused at ${step}"`, () => (proc.stdout.includes(`paused at ${step}\n`) ? true : undefined));
  proc.child.kill('SIGKILL');
  const exit = await proc.exited;
  assert.equal(exit.signal, 'SIGKILL', proc.describe());
  return proc;
}

const hexKey = () => randomBytes(32).toString('hex');
const idOfHex = (hex: string) => keyFingerprint(Buffer.from(hex, 'hex'));

for (const dialect of await testDialects()) {
  describe(`vault rotate-master-key killed at each step (${dialect})`, () => {
    for (const [step, committed] of STEPS) {
      test(`data-dir master key, killed at "${step}": the next serve opens the vault with the ${committed ? 'new' : 'old'} key`, async () => {
        const db = await createTestDb(dialect);
        try {
          const org = await seed(db);
          const keyFile = path.join(db.dataDir, 'master-key');
          const oldId = idOfHex(fs.readFileSync(keyFile, 'utf8').trim());
          const next = hexKey();
          await killAt(db, step, ['--new-master-key', next]);
          assert.deepEqual(await vaultIds(db), [committed ? idOfHex(next) : oldId], 'the database is wholly under one key');

          const server = await startServer(db);
          const settled = server.proc.logRecords().find((r) => /interrupted master-key rotation/.test(String(r.msg)));
          await server.proc.stop();
          if (step === 'staged' || step === 'mid-transaction') assert.match(String(settled?.msg), /was undone/);
          if (step === 'committed') assert.match(String(settled?.msg), /was finished/);
          if (step === 'opened' || step === 'replaced') assert.equal(settled, undefined);

          assert.equal(idOfHex(fs.readFileSync(keyFile, 'utf8').trim()), committed ? idOfHex(next) : oldId, 'master-key holds the key the database uses');
          assert.deepEqual(fs.readdirSync(db.dataDir).filter((f) => f.startsWith('master-key')), ['master-key'], 'no staged or temporary key left');
          assert.equal(await assertDecrypts(db, org), committed ? idOfHex(next) : oldId);

          // and the vault can be rotated again from there
          const again = await runKeyplane(['vault', 'rotate-master-key', '--generate', ...storeArgs(db)]);
          assert.equal(again.code, 0, `${again.stdout}\n${again.stderr}`);
          await assertDecrypts(db, org);
        } finally {
          await db.drop();
        }
      });
    }

    for (const [step, committed] of [['mid-transaction', false], ['committed', true]] as const) {
      test(`KEYPLANE_MASTER_KEY, killed at "${step}": a start with the wrong key is refused naming the right one and changes nothing; the ${committed ? 'new' : 'old'} key opens the vault`, async () => {
        const db = await createTestDb(dialect);
        try {
          const oldKey = hexKey();
          const newKey = hexKey();
          const org = await seed(db, oldKey);
          await killAt(db, step, ['--new-master-key', newKey], { KEYPLANE_MASTER_KEY: oldKey });
          const [right, wrong] = committed ? [newKey, oldKey] : [oldKey, newKey];
          assert.deepEqual(await vaultIds(db, right), [idOfHex(right)]);

          const refused = await runKeyplane(['serve', '--port', '0', ...storeArgs(db)], { env: { KEYPLANE_MASTER_KEY: wrong } });
          assert.notEqual(refused.code, 0, refused.stdout);
          const lines = stderrLines(refused.stderr);
          assert.equal(lines.length, 1, refused.stderr);
          assert.match(lines[0]!, new RegExp(`KEYPLANE_MASTER_KEY, id ${idOfHex(wrong)}\\) is not the one that encrypted this vault \\(id ${idOfHex(right)}\\)`));
          assert.ok(!refused.stderr.includes(wrong) && !refused.stdout.includes(wrong) && !refused.stderr.includes(right), 'no key in the output');
          assert.deepEqual(await vaultIds(db, right), [idOfHex(right)], 'the refused start changed nothing');
          assert.ok(!fs.existsSync(path.join(db.dataDir, 'master-key')), 'nothing written to the data dir');

          const server = await startServer(db, { env: { KEYPLANE_MASTER_KEY: right } });
          await server.proc.stop();
          assert.equal(await assertDecrypts(db, org, right), idOfHex(right));
        } finally {
          await db.drop();
        }
      });
    }

    test('KEYPLANE_MASTER_KEY with --generate: the new key is printed before the database changes, so a kill after the commit loses nothing', async () => {
      const db = await createTestDb(dialect);
      try {
        const oldKey = hexKey();
        const org = await seed(db, oldKey);
        const proc = await killAt(db, 'committed', ['--generate'], { KEYPLANE_MASTER_KEY: oldKey });
        const printed = /\n([0-9a-f]{64})\n/.exec(proc.stdout)?.[1];
        assert.ok(printed, proc.stdout);
        assert.deepEqual(await vaultIds(db, printed), [idOfHex(printed)]);
        assert.equal(await assertDecrypts(db, org, printed), idOfHex(printed));
      } finally {
        await db.drop();
      }
    });
  });
}
