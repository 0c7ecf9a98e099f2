// The operator's CLI as real processes beside a spawned server on the same database: keys
// list|revoke|deactivate and orgs show|disable|enable. Listings in text and --json (never a secret),
// --help with examples, bad input refused with one line and no change, every change audited as the
// operator CLI, and every change reaching the running server at once (its key cache would otherwise
// trust a key for 10 minutes here): PostgreSQL by NOTIFY, SQLite by the server's data_version watch.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';
import { openStore, type Store } from '../../src/store/db.ts';
import { adminKeysIn, http, killAll, runKeyplane, startServer, stderrLines, storeArgs, type CliResult, type RunningServer } from './spawn.ts';

after(killAll);

const PROJECTS = '/v1/organization/projects';

/** Polls `check` every 20 ms until it is true; returns how long that took (fails after 10 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    assert.ok(performance.now() - t0 < 10_000, `${what}: not seen within 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Math.round(performance.now() - t0);
}

function ok(r: CliResult): string {
  assert.equal(r.code, 0, `exit 0\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A refused command: non-zero exit, exactly one stderr line, nothing on stdout. */
function refused(r: CliResult): string {
  assert.notEqual(r.code, 0, `exits non-zero\n${r.stdout}`);
  assert.equal(r.stdout, '');
  const lines = stderrLines(r.stderr);
  assert.equal(lines.length, 1, `one stderr line: ${JSON.stringify(r.stderr)}`);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  return lines[0]!;
}

describe('--help', () => {
  test('every command prints its usage and ends with examples', async () => {
    const commands = [
      ['serve'], ['migrate'], ['orgs', 'create'], ['orgs', 'list'], ['orgs', 'show'], ['orgs', 'disable'], ['orgs', 'enable'],
      ['keys', 'create-admin'], ['keys', 'list'], ['keys', 'revoke'], ['keys', 'deactivate'], ['invites', 'accept'], ['invites', 'link'],
      ['defaults', 'set-credential'], ['defaults', 'list'], ['defaults', 'delete'], ['vault', 'rotate-master-key'], ['backup'], ['restore'],
    ];
    for (const cmd of commands) {
      const out = ok(await runKeyplane([...cmd, '--help']));
      assert.match(out, new RegExp(`Usage: keyplane ${cmd.join(' ')}`));
      assert.match(out, new RegExp(`Examples:\\n  \\$ keyplane ${cmd.join(' ')}[ \\n]`), `${cmd.join(' ')} --help shows examples`);
    }
  });
});

for (const dialect of await testDialects()) {
  describe(`operator CLI beside a running server (${dialect})`, () => {
    let db: TestDb;
    let store: Store;
    let s: RunningServer;
    let mainKey: string;
    const acme: Array<{ id: string; key: string }> = [];
    let projectKey: string;
    const cli = (...args: string[]) => runKeyplane([...args, ...storeArgs(db)]);
    const status = async (key: string) => (await http(s.url, PROJECTS, { key })).status;
    const auditRows = () => store.db.selectFrom('audit_logs').selectAll().orderBy('created_at').orderBy('id').execute();

    before(async () => {
      db = await createTestDb(dialect);
      s = await startServer(db, { args: ['--key-cache-ttl-ms', '600000'] });
      mainKey = fs.readFileSync(path.join(db.dataDir, 'admin-key'), 'utf8').trim();
      const created = ok(await cli('orgs', 'create', '--name', 'Acme', '--slug', 'acme'));
      acme.push({ id: /admin key (key_\S+)/.exec(created)![1]!, key: adminKeysIn(created)[0]! });
      for (const name of ['ci', 'spare']) {
        const out = ok(await cli('keys', 'create-admin', '--org', 'acme', '--name', name));
        acme.push({ id: /admin key (key_\S+)/.exec(out)![1]!, key: adminKeysIn(out)[0]! });
      }
      const api = new OpenAI({ adminAPIKey: acme[0]!.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const project = await api.admin.organization.projects.create({ name: 'Gateway' });
      projectKey = (await api.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' })).api_key!.value;
      store = openStore({ dataDir: db.dataDir, databaseUrl: db.databaseUrl });
    });
    after(async () => {
      await store?.close();
      if (s && !s.proc.exit) await s.proc.stop('SIGTERM');
      await killAll();
      await db?.drop();
    });

    test('keys list: --json shape, text, filters and paging; never a secret', async () => {
      const all = JSON.parse(ok(await cli('keys', 'list', '--org', 'acme', '--json')));
      assert.equal(all.has_more, false);
      assert.equal(all.data.length, 4, 'three admin keys and the service account key');
      const admin = all.data.filter((k: any) => k.kind === 'admin');
      assert.deepEqual(admin.map((k: any) => k.id), acme.map((k) => k.id), 'oldest first');
      const k0 = admin[0];
      assert.deepEqual(Object.keys(k0).sort(), ['created_at', 'expires_at', 'id', 'kind', 'last_used_at', 'name', 'org', 'owner', 'project_id', 'redacted_value', 'status', 'usage_count']);
      assert.equal(k0.org, 'acme');
      assert.equal(k0.status, 'active');
      assert.equal(k0.name, 'bootstrap');
      assert.equal(k0.owner.type, 'user');
      assert.match(k0.created_at, /^\d{4}-\d\d-\d\dT/);
      assert.match(k0.redacted_value, /^sk-admin.*\.\.\./);
      const text = ok(await cli('keys', 'list', '--org', 'acme'));
      for (const k of [...acme.map((a) => a.key), projectKey]) {
        assert.ok(!JSON.stringify(all).includes(k) && !text.includes(k), 'no secret in any listing');
      }
      assert.match(text.split('\n')[0]!, /^ID\tKIND\tSTATUS\tNAME\tREDACTED\tOWNER\tPROJECT\tCREATED\tLAST USED$/);
      assert.equal(text.trim().split('\n').length, 5);

      const proj = JSON.parse(ok(await cli('keys', 'list', '--org', 'acme', '--kind', 'project', '--json')));
      assert.equal(proj.data.length, 1);
      assert.equal(proj.data[0].owner.type, 'service_account');
      const byProject = JSON.parse(ok(await cli('keys', 'list', '--org', await orgId('acme'), '--project', proj.data[0].project_id, '--json')));
      assert.deepEqual(byProject.data.map((k: any) => k.id), [proj.data[0].id], '--org takes an id too; --project filters');

      const p1 = JSON.parse(ok(await cli('keys', 'list', '--org', 'acme', '--kind', 'admin', '--limit', '2', '--json')));
      assert.deepEqual(p1.data.map((k: any) => k.id), [acme[0]!.id, acme[1]!.id]);
      assert.equal(p1.has_more, true);
      assert.equal(p1.last_id, acme[1]!.id);
      const p2 = JSON.parse(ok(await cli('keys', 'list', '--org', 'acme', '--kind', 'admin', '--limit', '2', '--after', p1.last_id, '--json')));
      assert.deepEqual(p2.data.map((k: any) => k.id), [acme[2]!.id]);
      assert.equal(p2.has_more, false);
    });

    async function orgId(slug: string): Promise<string> {
      return (await store.db.selectFrom('organizations').select('id').where('slug', '=', slug).executeTakeFirstOrThrow()).id;
    }

    test('keys revoke: the running server refuses the key at once; audited as the operator CLI', async (t) => {
      const k = acme[1]!;
      assert.equal(await status(k.key), 200, 'the key works (and is now cached)');
      assert.equal(await status(k.key), 200);
      const out = ok(await cli('keys', 'revoke', k.id));
      assert.match(out, new RegExp(`admin key ${k.id} \\(sk-admin[^)]*\\) of acme revoked`));
      assert.ok(!out.includes(k.key));
      const ms = await until('the revoked key refused', async () => (await status(k.key)) === 401);
      t.diagnostic(`refused ${ms} ms after the CLI exited (key cache TTL: 10 min)`);
      assert.equal(await status(acme[0]!.key), 200, 'the other keys still work');

      const ev = (await auditRows()).filter((r) => r.type === 'api_key.updated' && r.target_id === k.id);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.actor_type, 'operator_cli');
      assert.equal(JSON.parse(ev[0]!.payload).changes.status, 'revoked');

      const again = ok(await cli('keys', 'revoke', k.id));
      assert.match(again, /was already revoked/);
      assert.equal((await auditRows()).filter((r) => r.target_id === k.id && r.type === 'api_key.updated').length, 1, 'nothing to change, nothing audited');
      const listed = JSON.parse(ok(await cli('keys', 'list', '--org', 'acme', '--status', 'revoked', '--json')));
      assert.deepEqual(listed.data.map((x: any) => x.id), [k.id]);
    });

    test('keys deactivate: refused at once; a revoked key cannot be deactivated', async () => {
      const k = acme[2]!;
      assert.equal(await status(k.key), 200);
      assert.match(ok(await cli('keys', 'deactivate', k.id)), / deactivated$/m);
      await until('the deactivated key refused', async () => (await status(k.key)) === 401);
      const ev = (await auditRows()).filter((r) => r.type === 'api_key.updated' && r.target_id === k.id);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.actor_type, 'operator_cli');

      const before = (await auditRows()).length;
      const line = refused(await cli('keys', 'deactivate', acme[1]!.id));
      assert.match(line, /revoked \(final\); nothing changed/);
      assert.equal((await auditRows()).length, before);
      const row = await store.db.selectFrom('api_keys').select('status').where('id', '=', acme[1]!.id).executeTakeFirstOrThrow();
      assert.equal(row.status, 'revoked');
    });

    test('bad input: unknown key, unknown org, bad options exit non-zero with one line and change nothing', async () => {
      const auditsBefore = (await auditRows()).length;
      const keysBefore = await store.db.selectFrom('api_keys').select(['id', 'status']).orderBy('id').execute();
      assert.match(refused(await cli('keys', 'revoke', 'key_doesnotexist')), /No such API key: 'key_doesnotexist'/);
      assert.match(refused(await cli('keys', 'deactivate', 'key_doesnotexist')), /No such API key/);
      assert.match(refused(await cli('keys', 'list', '--org', 'nope')), /No such organization: 'nope'/);
      assert.match(refused(await cli('orgs', 'show', 'nope')), /No such organization: 'nope'/);
      assert.match(refused(await cli('orgs', 'disable', 'nope')), /No such organization: 'nope'/);
      assert.match(refused(await cli('orgs', 'enable', 'org-nope')), /No such organization: 'org-nope'/);
      assert.match(refused(await cli('keys', 'list', '--org', 'acme', '--limit', '0')), /--limit must be an integer from 1 to 1000/);
      assert.match(refused(await cli('keys', 'list', '--org', 'acme', '--after', 'key_nope')), /after/i);
      // commander's own usage errors (it may add a help hint line)
      for (const args of [['keys', 'list', '--org', 'acme', '--kind', 'bogus'], ['keys', 'list'], ['keys', 'revoke']]) {
        const r = await cli(...args);
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.stderr, /error:/);
        assert.equal(r.stdout, '');
      }
      assert.equal((await auditRows()).length, auditsBefore, 'nothing audited');
      assert.deepEqual(await store.db.selectFrom('api_keys').select(['id', 'status']).orderBy('id').execute(), keysBefore, 'no key changed');
    });

    test('orgs show; orgs disable stops the organization on the admin face and the gateway at once; orgs enable undoes it', async (t) => {
      const shown = JSON.parse(ok(await cli('orgs', 'show', 'acme', '--json')));
      assert.deepEqual(
        { ...shown, created_at: typeof shown.created_at },
        {
          id: await orgId('acme'),
          slug: 'acme',
          name: 'Acme',
          created_at: 'string',
          disabled: false,
          disabled_at: null,
          projects: { active: 1, archived: 0 },
          users: 1,
          keys: { active: 2, deactivated: 1, revoked: 1 },
        },
      );
      assert.deepEqual(JSON.parse(ok(await cli('orgs', 'show', shown.id, '--json'))).slug, 'acme', 'by id too');
      const text = ok(await cli('orgs', 'show', 'acme'));
      assert.match(text, /^acme \(org-\S+\): Acme$/m);
      assert.match(text, /^state +enabled$/m);

      const chat = async (key: string) => {
        const r = await http(s.url, '/v1/chat/completions', { method: 'POST', key, body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] } });
        return r.status;
      };
      const gatewayBefore = await chat(projectKey);
      assert.notEqual(gatewayBefore, 401, 'the project key authenticates at the gateway');
      assert.equal(await status(acme[0]!.key), 200);

      assert.match(ok(await cli('orgs', 'disable', 'acme')), /^organization acme \(org-\S+\) disabled$/m);
      const ms = await until('the disabled organization refused', async () => (await status(acme[0]!.key)) === 401);
      t.diagnostic(`acme's admin key refused ${ms} ms after the CLI exited`);
      assert.equal(await chat(projectKey), 401, 'the gateway refuses its project key');
      assert.equal(await status(mainKey), 200, 'other organizations are untouched');
      const disabled = JSON.parse(ok(await cli('orgs', 'show', 'acme', '--json')));
      assert.equal(disabled.disabled, true);
      assert.match(disabled.disabled_at, /^\d{4}-/);
      assert.match(ok(await cli('orgs', 'disable', 'acme')), /was already disabled/);

      assert.match(ok(await cli('orgs', 'enable', 'acme')), /^organization acme \(org-\S+\) enabled$/m);
      await until('the enabled organization accepted', async () => (await status(acme[0]!.key)) === 200);
      assert.equal(await chat(projectKey), gatewayBefore, 'the gateway takes its key again');
      assert.equal(await status(acme[1]!.key), 401, 'enabling does not bring back a revoked key');

      const evs = (await auditRows()).filter((r) => r.type === 'organization.disabled' || r.type === 'organization.enabled');
      assert.deepEqual(evs.map((e) => [e.type, e.actor_type, e.target_id]), [
        ['organization.disabled', 'operator_cli', shown.id],
        ['organization.enabled', 'operator_cli', shown.id],
      ]);
    });
  });
}
