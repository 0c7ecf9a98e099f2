// The `keyplane` command: serve (default), migrate, orgs create|list|show|disable|enable, keys
// create-admin|list|revoke|deactivate, invites accept|link, defaults set-credential|list|delete, vault
// rotate-master-key, backup, restore. The commands' code is in this directory; this file wires them.
// Every command takes the same settings as flags or environment variables (see config.ts / README).
import fs from 'node:fs';
import { Command } from 'commander';
import { ConfigError, loadConfig, type FlagValues } from '../config.ts';
import { DomainError } from '../domain/errors.ts';
import { OPERATOR_CLI, SYSTEM } from '../domain/actor.ts';
import { notFound } from '../domain/errors.ts';
import { inviteLinkUrl } from '../faces/console/face.ts';
import { StartupError } from '../runtime.ts';
import { examples, STORE_SETTINGS, withRuntime, withSettings } from './common.ts';
import { registerBackupCommands } from './backup.ts';
import { registerKeyCommands } from './keys.ts';
import { registerOrgCommands } from './orgs.ts';
import { serve } from './serve.ts';
import { rotateMasterKey } from './vault.ts';

const program = new Command('keyplane')
  .description('Self-hosted control plane for AI platforms')
  .showHelpAfterError()
  .exitOverride();

examples(
  withSettings(program.command('serve', { isDefault: true }).description('start the server (default)')),
  ['keyplane serve', 'keyplane serve --port 8080 --data-dir /var/lib/keyplane', 'DATABASE_URL=postgres://keyplane@db/keyplane KEYPLANE_ROLE=gateway keyplane serve'],
).action(async (flags: FlagValues) => {
  await serve(loadConfig(flags));
});

examples(
  withSettings(program.command('migrate').description('apply pending database migrations and exit'), STORE_SETTINGS),
  ['keyplane migrate --database-url postgres://keyplane@db/keyplane'],
).action(async (flags: FlagValues) => {
  await withRuntime(flags, async (rt) => {
    process.stdout.write(`keyplane: ${rt.store.dialect} database is up to date\n`);
  });
});

const orgs = program.command('orgs').description('manage organizations (tenants)');
examples(
  withSettings(
    orgs
      .command('create')
      .description("create an organization with an owner and a first admin key (printed once)")
      .requiredOption('--name <name>', 'display name')
      .requiredOption('--slug <slug>', 'unique slug (lower-case letters, digits, - and _)')
      .option('--owner-email <email>', 'email of the owner user (default owner@<slug>.invalid)')
      .option('--owner-name <name>', 'name of the owner user'),
    STORE_SETTINGS,
  ),
  ['keyplane orgs create --name Acme --slug acme', 'keyplane orgs create --name Acme --slug acme --owner-email ada@acme.example --owner-name Ada'],
).action(async (opts: FlagValues & { name: string; slug: string; ownerEmail?: string; ownerName?: string }) => {
  await withRuntime(opts, async (rt) => {
    const c = await rt.core.orgs.create(SYSTEM, { name: opts.name, slug: opts.slug, ownerEmail: opts.ownerEmail, ownerName: opts.ownerName });
    process.stdout.write(
      `organization ${c.org.slug} (${c.org.id}) created; owner ${c.owner.email}\n` +
        `admin key ${c.adminKey.row.id} (shown once, store it now):\n${c.adminKey.secret}\n`,
    );
  });
});

examples(
  withSettings(orgs.command('list').description('list organizations').option('--json', 'print JSON'), STORE_SETTINGS),
  ['keyplane orgs list', 'keyplane orgs list --json'],
).action(
  async (opts: FlagValues & { json?: boolean }) => {
    await withRuntime(opts, async (rt) => {
      const list = await rt.core.orgs.list(SYSTEM);
      if (opts.json) {
        process.stdout.write(JSON.stringify(list.map((o) => ({ id: o.id, slug: o.slug, name: o.name, created_at: new Date(o.created_at).toISOString() })), null, 2) + '\n');
        return;
      }
      for (const o of list) process.stdout.write(`${o.slug}\t${o.id}\t${o.name}\t${new Date(o.created_at).toISOString()}\n`);
    });
  },
);

registerOrgCommands(orgs);

const keys = program.command('keys').description('manage API keys');
registerKeyCommands(keys);
examples(
  withSettings(
    keys
      .command('create-admin')
      .description("issue an admin key for an organization (printed once)")
      .requiredOption('--org <slug>', 'organization slug')
      .option('--name <name>', 'key name', 'operator')
      .option('--expires-in-days <days>', 'expire after this many days (1-365)'),
    STORE_SETTINGS,
  ),
  ['keyplane keys create-admin --org acme --name ci', 'keyplane keys create-admin --org acme --name temp --expires-in-days 7'],
).action(async (opts: FlagValues & { org: string; name: string; expiresInDays?: string }) => {
  let expiresInSeconds: number | null = null;
  if (opts.expiresInDays !== undefined) {
    const d = Number(opts.expiresInDays);
    if (!Number.isInteger(d) || d < 1 || d > 365) throw new DomainError('invalid', '--expires-in-days must be an integer from 1 to 365', 'expires-in-days');
    expiresInSeconds = d * 86_400;
  }
  await withRuntime(opts, async (rt) => {
    const org = await rt.core.orgs.getBySlug(SYSTEM, opts.org);
    const k = await rt.core.keys.createAdminKey(SYSTEM, org.id, { name: opts.name, expiresInSeconds });
    process.stdout.write(`admin key ${k.row.id} for ${org.slug} (shown once, store it now):\n${k.secret}\n`);
  });
});

const invites = program.command('invites').description('accept invitations (keyplane sends no mail)');
examples(
  withSettings(
    invites
      .command('accept')
      .description('accept a pending invite: the user joins the organization and its projects')
      .requiredOption('--org <slug>', 'organization slug')
      .requiredOption('--invite <id>', 'invite id (invite-…)')
      .option('--name <name>', 'display name of the new user'),
    STORE_SETTINGS,
  ),
  ['keyplane invites accept --org acme --invite invite-01m8n5yyp9x05xg92zy9h1a6a3 --name Ada'],
).action(async (opts: FlagValues & { org: string; invite: string; name?: string }) => {
  await withRuntime(opts, async (rt) => {
    const org = await rt.core.orgs.getBySlug(SYSTEM, opts.org);
    const { member } = await rt.core.invites.accept(SYSTEM, org.id, opts.invite, { name: opts.name ?? null });
    process.stdout.write(`invite ${opts.invite} accepted: ${member.email} is user ${member.id} (${member.role}) of ${org.slug}\n`);
  });
});

examples(
  withSettings(
    invites
      .command('link')
      .description("print a single-use console sign-up link for a pending invite (voids the invite's previous link); the invitee sets their password with it")
      .argument('<invite>', 'invite id (invite-…)'),
    STORE_SETTINGS,
  ),
  ['keyplane invites link invite-01m8n5yyp9x05xg92zy9h1a6a3'],
).action(async (invite: string, opts: FlagValues) => {
  await withRuntime(opts, async (rt) => {
    const row = await rt.store.db.selectFrom('invites').select('org_id').where('id', '=', invite).executeTakeFirst();
    if (!row) throw notFound(`No such invite: '${invite}'.`, 'invite_id');
    const token = await rt.core.invites.createLink(OPERATOR_CLI, row.org_id, invite);
    process.stdout.write(`${inviteLinkUrl(token)}\n`);
  });
});

const defaults = program.command('defaults').description("the platform's default provider credentials (used by tenants with the default LLM key or a free trial)");

/** The JSON value given by exactly one of --value-file and --value-json (never echoed: it is a secret). */
function credentialValue(opts: { valueFile?: string; valueJson?: string }): unknown {
  if ((opts.valueFile === undefined) === (opts.valueJson === undefined)) throw new DomainError('invalid', 'give exactly one of --value-file and --value-json', 'value');
  let text: string;
  if (opts.valueFile !== undefined) {
    try {
      text = fs.readFileSync(opts.valueFile, 'utf8');
    } catch (err) {
      throw new DomainError('invalid', `cannot read --value-file ${opts.valueFile}: ${(err as { code?: string }).code ?? 'unreadable'}`, 'value-file');
    }
  } else text = opts.valueJson!;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DomainError('invalid', `the ${opts.valueFile !== undefined ? '--value-file content' : '--value-json value'} is not valid JSON`, 'value');
  }
}

examples(
  withSettings(
    defaults
      .command('set-credential')
      .description("create or replace the default credential of a provider (a JSON object with \"key\" or \"api_key\", optionally base_url, endpoint, deployment, api_version)")
      .argument('<provider>', 'provider name, as tenants name their LLM credentials (e.g. openai)')
      .option('--value-file <file>', 'read the JSON value from this file')
      .option('--value-json <json>', 'the JSON value itself (prefer --value-file: command lines are visible to other users)'),
    STORE_SETTINGS,
  ),
  ['keyplane defaults set-credential openai --value-file /secure/openai.json', 'keyplane defaults set-credential azure --value-file azure.json  # {"api_key": "…", "endpoint": "https://….openai.azure.com"}'],
).action(async (provider: string, opts: FlagValues & { valueFile?: string; valueJson?: string }) => {
  const value = credentialValue(opts);
  await withRuntime(opts, async (rt) => {
    const c = await rt.core.defaultCredentials.set(SYSTEM, provider, value);
    process.stdout.write(`default credential for ${c.provider} ${c.created ? 'created' : 'replaced'}: ${JSON.stringify(c.value)}\n`);
  });
});

examples(
  withSettings(defaults.command('list').description('list the default credentials (values masked)').option('--json', 'print JSON'), STORE_SETTINGS),
  ['keyplane defaults list', 'keyplane defaults list --json'],
).action(
  async (opts: FlagValues & { json?: boolean }) => {
    await withRuntime(opts, async (rt) => {
      const list = await rt.core.defaultCredentials.list(SYSTEM);
      if (opts.json) {
        process.stdout.write(JSON.stringify(list.map((c) => ({ provider: c.provider, value: c.value, created_at: new Date(c.created_at).toISOString(), updated_at: new Date(c.updated_at).toISOString() })), null, 2) + '\n');
        return;
      }
      for (const c of list) process.stdout.write(`${c.provider}\t${JSON.stringify(c.value)}\t${new Date(c.updated_at).toISOString()}\n`);
    });
  },
);

examples(
  withSettings(defaults.command('delete').description('delete the default credential of a provider').argument('<provider>', 'provider name'), STORE_SETTINGS),
  ['keyplane defaults delete openai'],
).action(
  async (provider: string, opts: FlagValues) => {
    await withRuntime(opts, async (rt) => {
      await rt.core.defaultCredentials.delete(SYSTEM, provider);
      process.stdout.write(`default credential for ${provider} deleted\n`);
    });
  },
);

const vault = program.command('vault').description('the credential vault');
examples(
  withSettings(
    vault
      .command('rotate-master-key')
      .description('rewrap every organization data key under a new master key and re-seal values of an older sealed format (stop every keyplane server first)')
      .option('--new-master-key <key>', 'the new 256-bit key, 64 hex characters or base64 [env KEYPLANE_NEW_MASTER_KEY]')
      .option('--generate', 'generate the new key (printed once when the current key comes from KEYPLANE_MASTER_KEY)'),
    STORE_SETTINGS,
  ),
  ['keyplane vault rotate-master-key --generate', 'KEYPLANE_NEW_MASTER_KEY=$(openssl rand -hex 32) keyplane vault rotate-master-key'],
).action(async (opts: FlagValues & { newMasterKey?: string; generate?: boolean }) => {
  await rotateMasterKey(loadConfig(opts), opts.newMasterKey ?? process.env.KEYPLANE_NEW_MASTER_KEY, !!opts.generate);
});

registerBackupCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    // commander already printed help or the usage error
    process.exit(e.exitCode ?? 2);
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`keyplane: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof StartupError || err instanceof DomainError) {
    process.stderr.write(`keyplane: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`keyplane: ${e.message?.split('\n')[0] ?? String(err)}\n`);
  process.exit(1);
}
