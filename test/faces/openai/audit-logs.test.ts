// OpenAI face, audit logs: mutations made through the official `openai` SDK show up as OpenAI
// AuditLog objects, newest first, and every filter of the API narrows them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { AuditLogListParams } from 'openai/resources/admin/organization/audit-logs';
import { openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { makeCertificate } from '../../fixtures/certs.ts';
import { auditDetails } from '../../../src/faces/openai/audit-logs.ts';

const SPEC = 'openai-admin.subset.json';
const PATH = '/organization/audit_logs';

const client = openaiClient;

async function raw(s: TestServer, query: string, key: string) {
  const res = await fetch(`${s.url}/v1${PATH}${query ? `?${query}` : ''}`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const dialect of await testDialects()) {
  describe(`OpenAI audit logs (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    let t0: number; // unix seconds: every SDK mutation below happened at or after it, bootstrap before it
    let owner: { id: string; email: string };
    let bootstrapKeyId: string;
    const made: Record<string, string> = {};

    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      const keys = await sdk.admin.organization.adminAPIKeys.list();
      bootstrapKeyId = keys.data[0]!.id;
      const members = await s.rt.core.users.membersByIds(SYSTEM, orgId, [keys.data[0]!.owner.id!]);
      const m = [...members.values()][0]!;
      owner = { id: m.id, email: m.email };
      t0 = Math.floor(Date.now() / 1000) + 1;
      await sleep(t0 * 1000 - Date.now() + 5);

      const project = await sdk.admin.organization.projects.create({ name: 'Audited' });
      made.project = project.id;
      const key = await sdk.admin.organization.adminAPIKeys.create({ name: 'temp' });
      made.key = key.id;
      await sdk.admin.organization.adminAPIKeys.delete(key.id);
      await sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: project.id, max_requests_per_1_minute: 77 });
      const cert = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('audit'), name: 'audited cert' });
      made.cert = cert.id;
      await sdk.admin.organization.projects.certificates.activate(project.id, { certificate_ids: [cert.id] });
    });
    after(async () => s?.close());

    test('SDK mutations appear newest first, in the spec shape', async () => {
      const res = await raw(s, '', s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', PATH, 200, res.json);
      const mine = res.json.data.filter((e: any) => e.effective_at >= t0);
      assert.deepEqual(mine.map((e: any) => e.type), [
        'certificates.activated',
        'certificate.created',
        'rate_limit.updated',
        'api_key.deleted',
        'api_key.created',
        'project.created',
      ]);
      for (let i = 1; i < res.json.data.length; i++) assert.ok(res.json.data[i - 1].effective_at >= res.json.data[i].effective_at, 'newest first');
      for (const e of mine) {
        assert.match(e.id, /^audit_log-/);
        assert.deepEqual(e.actor, { type: 'api_key', api_key: { id: bootstrapKeyId, type: 'user', user: owner } });
      }
      const byType = Object.fromEntries(mine.map((e: any) => [e.type, e]));
      assert.deepEqual(byType['project.created']['project.created'], { id: made.project, data: { name: 'Audited', title: 'Audited' } });
      assert.deepEqual(byType['project.created'].project, { id: made.project, name: 'Audited' });
      assert.equal(byType['api_key.created']['api_key.created'].id, made.key);
      assert.deepEqual(byType['api_key.deleted']['api_key.deleted'], { id: made.key });
      assert.deepEqual(byType['rate_limit.updated']['rate_limit.updated'], { id: 'rl-gpt-4o', changes_requested: { max_requests_per_1_minute: 77 } });
      assert.deepEqual(byType['rate_limit.updated'].project, { id: made.project, name: 'Audited' });
      assert.deepEqual(byType['certificate.created']['certificate.created'], { id: made.cert, name: 'audited cert' });
      assert.deepEqual(byType['certificates.activated']['certificates.activated'], { certificates: [{ id: made.cert, name: 'audited cert' }] });
      assert.equal(byType['certificate.created'].project, undefined, 'organization-level events have no project');
      // events keyplane made itself (bootstrap) have no OpenAI actor; keyplane-only types stay out
      const boot = res.json.data.filter((e: any) => e.effective_at < t0);
      assert.ok(boot.length >= 1);
      for (const e of boot) assert.equal(e.actor, null);
      assert.ok(!res.json.data.some((e: any) => e.type === 'organization.created'));
      // and the SDK parses the same page
      const page = await sdk.admin.organization.auditLogs.list();
      assert.deepEqual(page.data.map((e) => e.id), res.json.data.map((e: any) => e.id));
    });

    test('every filter narrows the list', async () => {
      const types = async (q: AuditLogListParams) => {
        const out: string[] = [];
        for await (const e of sdk.admin.organization.auditLogs.list(q)) out.push(e.type);
        return out;
      };
      assert.deepEqual(await types({ event_types: ['api_key.created', 'api_key.deleted'], effective_at: { gte: t0 } }), ['api_key.deleted', 'api_key.created']);
      assert.deepEqual(await types({ project_ids: [made.project!] }), ['certificates.activated', 'rate_limit.updated', 'project.created']);
      assert.deepEqual(await types({ resource_ids: [made.key!] }), ['api_key.deleted', 'api_key.created']);
      assert.deepEqual(await types({ resource_ids: [made.cert!] }), ['certificates.activated', 'certificate.created']);
      assert.equal((await types({ actor_ids: [bootstrapKeyId] })).length, 6);
      assert.equal((await types({ actor_ids: [owner.id] })).length, 6);
      assert.equal((await types({ actor_emails: [owner.email] })).length, 6);
      assert.deepEqual(await types({ actor_emails: ['nobody@example.com'] }), []);
      assert.deepEqual(await types({ actor_ids: ['key_nobody'] }), []);
      assert.deepEqual(await types({ event_types: ['group.created'] }), []);
      assert.deepEqual(await types({ tenant_only: true }), []);
      const all = await types({});
      const beforeT0 = await types({ effective_at: { lt: t0 } });
      const fromT0 = await types({ effective_at: { gte: t0 } });
      assert.equal(fromT0.length, 6);
      assert.equal(beforeT0.length + fromT0.length, all.length);
      assert.deepEqual(await types({ effective_at: { gt: t0 - 1 } }), fromT0);
      assert.deepEqual(await types({ effective_at: { lte: t0 - 1 } }), beforeT0);
      assert.deepEqual(await types({ effective_at: { gte: t0, lt: t0 } }), []);
      assert.deepEqual(await types({ effective_at: { gte: t0 }, event_types: ['project.created'], project_ids: [made.project!] }), ['project.created']);
      // plain repeated keys work too
      const plain = await raw(s, `event_types=rate_limit.updated&project_ids=${made.project}`, s.adminKey);
      assert.deepEqual(plain.json.data.map((e: any) => e.type), ['rate_limit.updated']);
      const rawFiltered = await raw(s, `event_types[]=certificate.created&effective_at[gte]=${t0}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', PATH, 200, rawFiltered.json);
      assert.equal(rawFiltered.json.data.length, 1);
    });

    test('paging walks every event once, both ways', async () => {
      const all = (await raw(s, 'limit=100', s.adminKey)).json.data.map((e: any) => e.id);
      assert.ok(all.length >= 7);
      const seen: string[] = [];
      for await (const e of sdk.admin.organization.auditLogs.list({ limit: 2 })) seen.push(e.id);
      assert.deepEqual(seen, all);
      const first = await raw(s, 'limit=3', s.adminKey);
      assertMatchesSpec(SPEC, 'get', PATH, 200, first.json);
      assert.equal(first.json.has_more, true);
      assert.deepEqual([first.json.first_id, first.json.last_id], [all[0], all[2]]);
      const second = await sdk.admin.organization.auditLogs.list({ limit: 3, after: first.json.last_id });
      assert.deepEqual(second.data.map((e) => e.id), all.slice(3, 6));
      const back = await sdk.admin.organization.auditLogs.list({ limit: 2, before: all[4] });
      assert.deepEqual(back.data.map((e) => e.id), all.slice(2, 4));
      assert.equal(back.has_more, true);
    });

    test('bad queries are 400s in the OpenAI envelope', async () => {
      for (const q of ['limit=0', 'limit=101', 'after=audit_log-nope', 'before=audit_log-nope', 'effective_at[gte]=soon', 'effective_at[lt]=-1', 'tenant_only=maybe', `after=${'x'.repeat(300)}`]) {
        const res = await raw(s, q, s.adminKey);
        assert.equal(res.status, 400, q);
        assert.equal(res.json.error.type, 'invalid_request_error');
        assert.ok('param' in res.json.error && 'code' in res.json.error);
      }
      const first = (await raw(s, 'limit=2', s.adminKey)).json;
      const both = await raw(s, `after=${first.data[0].id}&before=${first.data[1].id}`, s.adminKey);
      assert.equal(both.status, 400);
    });

    test('each organization sees only its own events', async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-audit' });
      const otherSdk = client(s, other.adminKey.secret);
      const p = await otherSdk.admin.organization.projects.create({ name: 'theirs' });
      const theirs: any[] = [];
      for await (const e of otherSdk.admin.organization.auditLogs.list()) theirs.push(e);
      assert.ok(theirs.some((e) => e.type === 'project.created' && e['project.created'].id === p.id));
      assert.ok(!theirs.some((e) => e['project.created']?.id === made.project || e.project?.id === made.project));
      const mine = (await raw(s, 'limit=100', s.adminKey)).json.data;
      assert.ok(!mine.some((e: any) => e.project?.id === p.id));
      // their filters cannot reach into this organization
      assert.deepEqual((await otherSdk.admin.organization.auditLogs.list({ project_ids: [made.project!] })).data, []);
      const cursor = await raw(s, `after=${mine[0].id}`, other.adminKey.secret);
      assert.equal(cursor.status, 400, 'a foreign cursor is refused');
    });
  });
}

for (const dialect of await testDialects()) {
  describe(`OpenAI audit logs: key expiry and request context (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
    });
    after(async () => s?.close());

    test('a project API key expiry change shows as expires_in_seconds from the event', async () => {
      const project = await sdk.admin.organization.projects.create({ name: 'Expiring' });
      const sa = await sdk.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      const keyId = sa.api_key!.id;
      const updated = await sdk.admin.organization.projects.apiKeys.update(keyId, { project_id: project.id, expires_in_seconds: 7200 });
      assert.equal(typeof updated.expires_at, 'number');
      const page = await sdk.admin.organization.auditLogs.list({ event_types: ['api_key.updated'], resource_ids: [keyId] });
      assert.equal(page.data.length, 1);
      const event = page.data[0]!;
      assert.equal(event.project?.id, project.id);
      const details = event['api_key.updated']!;
      assert.equal(details.id, keyId);
      const seconds = details.changes_requested?.expires_in_seconds;
      assert.equal(typeof seconds, 'number', 'the expiry change is in the audit log');
      assert.ok(Math.abs(seconds! - 7200) <= 1, `expires_in_seconds ${seconds}`);
      // seconds from the event to the new expiry (both rounded to whole seconds on the wire)
      assert.ok(Math.abs(seconds! - (updated.expires_at! - event.effective_at)) <= 1);
      // a scopes-only change records no expiry
      await sdk.admin.organization.projects.apiKeys.update(keyId, { project_id: project.id, scopes: ['api.model.read'] });
      const both = await sdk.admin.organization.auditLogs.list({ event_types: ['api_key.updated'], resource_ids: [keyId] });
      assert.deepEqual(both.data[0]!['api_key.updated']!.changes_requested, { scopes: ['api.model.read'] });
    });

    test('audit rows written through a face carry the request id, user agent and client address', async () => {
      const send = (name: string, userAgent: string) =>
        fetch(`${s.url}/v1/organization/projects`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'user-agent': userAgent },
          body: JSON.stringify({ name }),
        });
      const res = await send('Traced', 'audit-test/1.0');
      assert.equal(res.status, 200);
      const requestId = res.headers.get('x-request-id');
      assert.ok(requestId);
      const project = (await res.json()) as { id: string };
      const rowOf = (id: string) => s.rt.store.db.selectFrom('audit_logs').selectAll().where('type', '=', 'project.created').where('target_id', '=', id).executeTakeFirstOrThrow();
      const row = await rowOf(project.id);
      assert.equal(row.request_id, requestId);
      assert.equal(row.user_agent, 'audit-test/1.0');
      assert.equal(row.client_ip, '127.0.0.1');
      // an over-long user agent is cut to 512 characters
      const long = await send('Long agent', 'a'.repeat(2000));
      const longRow = await rowOf(((await long.json()) as { id: string }).id);
      assert.equal(longRow.user_agent, 'a'.repeat(512));
      assert.equal(longRow.request_id, long.headers.get('x-request-id'));
      // keyplane's own changes (bootstrap) came over no request
      const boot = await s.rt.store.db.selectFrom('audit_logs').selectAll().where('type', '=', 'organization.created').execute();
      assert.ok(boot.length >= 1);
      for (const r of boot) assert.deepEqual([r.request_id, r.client_ip, r.user_agent], [null, null, null]);
    });
  });
}

describe('OpenAI audit details of stored rows, in the catalog shape and in the shapes written before it', () => {
  const at = 1_700_000_000_000;
  const details = (type: string, payload: unknown, targetId: string | null = 'target') =>
    auditDetails({ type, target_id: targetId, payload: JSON.stringify(payload), created_at: at });

  test('api_key.updated: a new expiry is seconds from the event; a removed one shows none', () => {
    assert.deepEqual(details('api_key.updated', { changes: { expiresAt: at + 90_000 } }), { id: 'target', changes_requested: { expires_in_seconds: 90 } });
    assert.deepEqual(details('api_key.updated', { changes: { expiresAt: null } }), { id: 'target', changes_requested: {} });
    assert.deepEqual(details('api_key.updated', { changes: { scopes: ['a'], status: 'deactivated' } }), { id: 'target', changes_requested: { scopes: ['a'] } });
    // before the catalog: `changes_requested` with the stored columns (scopes as JSON text, expires_at in ms)
    assert.deepEqual(details('api_key.updated', { changes_requested: { expires_at: at + 3_600_000, scopes: '["api.model.read"]' } }), {
      id: 'target',
      changes_requested: { scopes: ['api.model.read'], expires_in_seconds: 3600 },
    });
  });

  test('each type reads the same from both shapes', () => {
    const pairs: Array<[string, unknown, unknown, unknown]> = [
      ['api_key.created', { kind: 'project', scopes: ['s'] }, { redacted_value: 'sk-…', scopes: ['s'] }, { id: 'target', data: { scopes: ['s'] } }],
      ['project.created', { name: 'P', externalKeyId: null }, { data: { name: 'P', external_key_id: null } }, { id: 'target', data: { name: 'P', title: 'P' } }],
      ['project.updated', { changes: { name: 'Q' } }, { changes_requested: { name: 'Q' } }, { id: 'target', changes_requested: { title: 'Q' } }],
      ['rate_limit.updated', { model: 'm', changes: { max_requests_per_1_minute: 5 } }, { model: 'm', changes_requested: { max_requests_per_1_minute: 5 } }, { id: 'target', changes_requested: { max_requests_per_1_minute: 5 } }],
      ['certificate.deleted', { id: 'c', name: 'n', content: 'PEM' }, { id: 'c', name: 'n', certificate: 'PEM' }, { id: 'c', name: 'n', certificate: 'PEM' }],
      ['user.added', { role: 'member', projectId: 'p' }, { data: { role: 'member' }, project_id: 'p' }, { id: 'target', data: { role: 'member' } }],
      ['user.updated', { role: 'owner' }, { changes_requested: { role: 'owner' } }, { id: 'target', changes_requested: { role: 'owner' } }],
      ['service_account.created', { name: 'b', role: 'member' }, { data: { name: 'b', role: 'member' } }, { id: 'target', data: { role: 'member' } }],
      ['service_account.updated', { changes: { role: 'owner' } }, { changes_requested: { role: 'owner' } }, { id: 'target', changes_requested: { role: 'owner' } }],
      ['invite.sent', { email: 'e@x', role: 'reader', projects: [] }, { data: { email: 'e@x', role: 'reader', projects: [] } }, { id: 'target', data: { email: 'e@x', role: 'reader' } }],
      ['group.created', { name: 'g' }, { data: { group_name: 'g' } }, { id: 'target', data: { group_name: 'g' } }],
      ['group.updated', { name: 'h' }, { changes_requested: { group_name: 'h' } }, { id: 'target', changes_requested: { group_name: 'h' } }],
      ['group.updated', { usersAdded: ['u'] }, { changes_requested: { users_added: ['u'] } }, { id: 'target', changes_requested: {} }],
      ['group.deleted', { name: 'g' }, { group_name: 'g' }, { id: 'target' }],
      [
        'role.created',
        { name: 'r', permissions: ['p'], resourceId: 'org', scope: 'organization' },
        { role_name: 'r', permissions: ['p'], resource_id: 'org', resource_type: 'api.organization' },
        { id: 'target', role_name: 'r', permissions: ['p'], resource_id: 'org', resource_type: 'api.organization' },
      ],
      [
        'role.updated',
        { changes: { name: 's', permissionsAdded: ['a'], permissionsRemoved: [] }, resourceId: 'proj', scope: 'project' },
        { changes_requested: { role_name: 's', permissions_added: ['a'], permissions_removed: [], resource_id: 'proj', resource_type: 'api.project' } },
        { id: 'target', changes_requested: { role_name: 's', permissions_added: ['a'], permissions_removed: [], resource_id: 'proj', resource_type: 'api.project' } },
      ],
      ['role.deleted', { name: 'r' }, { role_name: 'r' }, { id: 'target', role_name: 'r' }],
      [
        'role.assignment.created',
        { roleId: 'role', principalId: 'u', principalType: 'user', resourceId: 'org', scope: 'organization' },
        { role_id: 'role', principal_id: 'u', principal_type: 'user', resource_id: 'org', resource_type: 'api.organization' },
        { id: 'target', role_id: 'role', principal_id: 'u', principal_type: 'user', resource_id: 'org', resource_type: 'api.organization' },
      ],
      ['user.deleted', { email: 'e@x', revokedKeyIds: ['k'] }, { email: 'e@x', revoked_keys: ['k'] }, { id: 'target' }],
    ];
    for (const [type, current, legacy, expected] of pairs) {
      assert.deepEqual(details(type, current), expected, `${type} (catalog shape)`);
      assert.deepEqual(details(type, legacy), expected, `${type} (shape before the catalog)`);
    }
  });

  test('keyplane-only and unknown types show only the target id; a broken payload reads as empty', () => {
    assert.deepEqual(details('credential.decrypted', { name: 'n', kind: 'llm', purpose: 'provider' }), { id: 'target' });
    assert.deepEqual(details('no.such.type', { a: 1 }), { id: 'target' });
    assert.deepEqual(auditDetails({ type: 'group.created', target_id: 'g', payload: '{not json', created_at: at }), { id: 'g', data: {} });
  });
});
