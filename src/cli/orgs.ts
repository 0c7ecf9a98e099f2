// `keyplane orgs show|disable|enable`: one organization as the operator sees it, and switching it off
// and on (a disabled organization's keys authenticate on no face and not at the gateway; the change
// reaches running servers at once). Audited as the operator CLI.
import type { Command } from 'commander';
import type { FlagValues } from '../config.ts';
import { OPERATOR_CLI } from '../domain/actor.ts';
import { examples, iso, printJson, STORE_SETTINGS, withRuntime, withSettings } from './common.ts';

export function registerOrgCommands(orgs: Command): void {
  examples(
    withSettings(
      orgs
        .command('show')
        .description('show an organization: name, slug, id, created, disabled state, counts of projects, users and keys')
        .argument('<slug-or-id>', 'organization slug or id (org-…)')
        .option('--json', 'print JSON'),
      STORE_SETTINGS,
    ),
    ['keyplane orgs show acme', 'keyplane orgs show org-01m8n5yyp9x05xg92zy9h1a69z --json'],
  ).action(async (ref: string, opts: FlagValues & { json?: boolean }) => {
    await withRuntime(opts, async (rt) => {
      const s = await rt.core.orgs.summary(OPERATOR_CLI, ref);
      const view = {
        id: s.org.id,
        slug: s.org.slug,
        name: s.org.name,
        created_at: iso(s.org.created_at),
        disabled: s.org.disabled_at !== null,
        disabled_at: iso(s.org.disabled_at),
        projects: s.projects,
        users: s.users,
        keys: s.keys,
      };
      if (opts.json) return printJson(view);
      process.stdout.write(
        `${view.slug} (${view.id}): ${view.name}\n` +
          `created   ${view.created_at}\n` +
          `state     ${view.disabled ? `disabled since ${view.disabled_at}` : 'enabled'}\n` +
          `projects  ${s.projects.active} active, ${s.projects.archived} archived\n` +
          `users     ${s.users}\n` +
          `keys      ${s.keys.active} active, ${s.keys.deactivated} deactivated, ${s.keys.revoked} revoked\n`,
      );
    });
  });

  const toggle = (name: 'disable' | 'enable', description: string) =>
    examples(withSettings(orgs.command(name).description(description).argument('<slug-or-id>', 'organization slug or id (org-…)'), STORE_SETTINGS), [
      `keyplane orgs ${name} acme`,
      `keyplane orgs ${name} acme --database-url postgres://keyplane@db/keyplane`,
    ]).action(async (ref: string, opts: FlagValues) => {
      await withRuntime(opts, async (rt) => {
        const r = await rt.core.orgs.setDisabled(OPERATOR_CLI, ref, name === 'disable');
        const state = name === 'disable' ? 'disabled' : 'enabled';
        process.stdout.write(`organization ${r.org.slug} (${r.org.id}) ${r.changed ? state : `was already ${state}`}\n`);
      });
    });
  toggle('disable', "disable an organization: its keys stop authenticating on every face and the gateway, on every running server (undo: orgs enable)");
  toggle('enable', 'enable a disabled organization again: its active keys authenticate again');
}
