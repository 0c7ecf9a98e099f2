// `keyplane keys list|revoke|deactivate`: the operator's view of any organization's API keys, through
// the domain (audited as the operator CLI); a revocation reaches running servers at once (PostgreSQL
// NOTIFY from KeyService.invalidate; SQLite: the servers' data_version watch drops their caches).
import { Command, Option } from 'commander';
import type { FlagValues } from '../config.ts';
import { OPERATOR_CLI } from '../domain/actor.ts';
import { DomainError } from '../domain/errors.ts';
import type { ApiKeyRow, ApiKeyStatus } from '../store/schema.ts';
import { examples, iso, printJson, STORE_SETTINGS, withRuntime, withSettings } from './common.ts';

const KINDS = ['admin', 'project', 'user'] as const;
const STATUSES = ['active', 'deactivated', 'revoked'] as const;

/** A key as the CLI shows it: never the secret, only its redacted form. */
function keyView(k: ApiKeyRow, orgSlug: string) {
  return {
    id: k.id,
    org: orgSlug,
    kind: k.kind,
    status: k.status,
    name: k.name,
    redacted_value: k.redacted_value,
    project_id: k.project_id,
    owner: k.owner_type && k.owner_id ? { type: k.owner_type, id: k.owner_id } : null,
    created_at: iso(k.created_at),
    last_used_at: iso(k.last_used_at),
    expires_at: iso(k.expires_at),
    usage_count: k.usage_count,
  };
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 100;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new DomainError('invalid', '--limit must be an integer from 1 to 1000', 'limit');
  return n;
}

export function registerKeyCommands(keys: Command): void {
  examples(
    withSettings(
      keys
        .command('list')
        .description("list an organization's API keys (redacted; never the secret), oldest first, one page at a time")
        .requiredOption('--org <slug|id>', 'organization slug or id')
        .option('--project <id>', "only this project's keys")
        .addOption(new Option('--kind <kind>', 'only keys of this kind').choices(KINDS))
        .addOption(new Option('--status <status>', 'only keys in this state').choices(STATUSES))
        .option('--limit <n>', 'keys per page, 1-1000 (default 100)')
        .option('--after <key id>', 'the page after this key (the last id of the previous page)')
        .option('--json', 'print JSON: {"data": [...], "has_more": bool, "last_id": id|null}'),
      STORE_SETTINGS,
    ),
    [
      'keyplane keys list --org acme',
      'keyplane keys list --org acme --kind project --status active --json',
      'keyplane keys list --org acme --limit 50 --after key_01m8n5yypm40p745kaztgp8xf7',
    ],
  ).action(async (opts: FlagValues & { org: string; project?: string; kind?: (typeof KINDS)[number]; status?: ApiKeyStatus; limit?: string; after?: string; json?: boolean }) => {
    const limit = parseLimit(opts.limit);
    await withRuntime(opts, async (rt) => {
      const org = await rt.core.orgs.find(OPERATOR_CLI, opts.org);
      const page = await rt.core.keys.list(
        OPERATOR_CLI,
        org.id,
        { ...(opts.kind ? { kind: opts.kind } : {}), ...(opts.project ? { projectId: opts.project } : {}), ...(opts.status ? { statuses: [opts.status] } : {}) },
        { limit, after: opts.after },
      );
      const data = page.items.map((k) => keyView(k, org.slug));
      if (opts.json) {
        printJson({ data, has_more: page.hasMore, last_id: data.at(-1)?.id ?? null });
        return;
      }
      process.stdout.write('ID\tKIND\tSTATUS\tNAME\tREDACTED\tOWNER\tPROJECT\tCREATED\tLAST USED\n');
      for (const k of data) {
        process.stdout.write(
          [k.id, k.kind, k.status, k.name ?? '-', k.redacted_value, k.owner ? `${k.owner.type}:${k.owner.id}` : '-', k.project_id ?? '-', k.created_at, k.last_used_at ?? 'never'].join('\t') + '\n',
        );
      }
      if (page.hasMore) process.stdout.write(`(more: --after ${data.at(-1)!.id})\n`);
    });
  });

  const setStatus = (name: 'revoke' | 'deactivate', status: 'revoked' | 'deactivated', description: string) =>
    examples(withSettings(keys.command(name).description(description).argument('<key-id>', 'the key id (key_…), as `keys list` shows it'), STORE_SETTINGS), [
      `keyplane keys ${name} key_01m8n5yypm40p745kaztgp8xf7`,
      `keyplane keys ${name} key_01m8n5yypm40p745kaztgp8xf7 --database-url postgres://keyplane@db/keyplane`,
    ]).action(async (keyId: string, opts: FlagValues) => {
      await withRuntime(opts, async (rt) => {
        const before = await rt.core.keys.findAny(OPERATOR_CLI, keyId);
        const org = await rt.core.orgs.find(OPERATOR_CLI, before.org_id);
        if (before.status === 'revoked' && status === 'deactivated') {
          throw new DomainError('conflict', `key ${keyId} is revoked (final); nothing changed`, 'key_id');
        }
        const after = await rt.core.keys.setStatus(OPERATOR_CLI, org.id, keyId, status);
        const what = `${after.kind} key ${after.id} (${after.redacted_value}) of ${org.slug}`;
        process.stdout.write(before.status === after.status ? `${what} was already ${after.status}\n` : `${what} ${after.status}\n`);
      });
    });

  setStatus('revoke', 'revoked', 'revoke a key of any organization (final): it is refused on the next request, on every running server');
  setStatus('deactivate', 'deactivated', 'deactivate a key of any organization: it is refused on the next request, on every running server');
}
