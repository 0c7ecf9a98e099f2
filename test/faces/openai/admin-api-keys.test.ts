// OpenAI face, admin API keys: driven through the official `openai` SDK against a real server,
// every body checked against the OpenAI spec extract, on SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'openai-admin.subset.json';
const LIST = '/organization/admin_api_keys';
const ONE = '/organization/admin_api_keys/{key_id}';

const client = openaiClient;

const raw = http;


for (const dialect of await testDialects()) {
  describe(`OpenAI admin API keys (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
    });
    after(async () => s?.close());

    test('the bootstrap key lists itself, in the spec shape', async () => {
      const page = await sdk.admin.organization.adminAPIKeys.list();
      assert.equal(page.data.length, 1);
      const k = page.data[0]!;
      assert.equal(k.object, 'organization.admin_api_key');
      assert.match(k.redacted_value, /^sk-admin\.\.\.[A-Za-z0-9_-]{4}$/);
      assert.ok(s.adminKey.endsWith(k.redacted_value.slice(-4)));
      assert.equal(k.owner.type, 'user');
      assert.equal(k.owner.role, 'owner');
      const res = await raw(s, 'GET', `/v1${LIST}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', LIST, 200, res.json);
      assert.deepEqual(Object.keys(res.json).sort(), ['data', 'first_id', 'has_more', 'last_id', 'object']);
    });

    test('create returns the secret once; retrieve and list never do', async () => {
      const created = await sdk.admin.organization.adminAPIKeys.create({ name: 'ci', expires_in_seconds: 3600 });
      assert.match(created.value, /^sk-admin-[A-Za-z0-9_-]{48}$/);
      assert.equal(created.name, 'ci');
      assert.ok(created.expires_at! - created.created_at >= 3599 && created.expires_at! - created.created_at <= 3601);
      const got = await sdk.admin.organization.adminAPIKeys.retrieve(created.id);
      assert.equal(got.id, created.id);
      assert.equal((got as any).value, undefined);
      const res = await raw(s, 'GET', `/v1/organization/admin_api_keys/${created.id}`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', ONE, 200, res.json);
      assert.ok(!JSON.stringify(res.json).includes(created.value));
      const list = await raw(s, 'GET', `/v1${LIST}?limit=100`, s.adminKey);
      assert.ok(!JSON.stringify(list.json).includes(created.value));
      // the new key authenticates
      const other = await client(s, created.value).admin.organization.adminAPIKeys.retrieve(created.id);
      assert.equal(other.id, created.id);
      const createdRaw = await raw(s, 'POST', `/v1${LIST}`, s.adminKey, JSON.stringify({ name: 'raw' }));
      assertMatchesSpec(SPEC, 'post', LIST, 200, createdRaw.json);
      assert.equal(createdRaw.json.expires_at, null);
    });

    test('a deleted key is refused on the very next request', async () => {
      const k = await sdk.admin.organization.adminAPIKeys.create({ name: 'short-lived' });
      const victim = client(s, k.value);
      await victim.admin.organization.adminAPIKeys.list(); // cached now
      const del = await raw(s, 'DELETE', `/v1/organization/admin_api_keys/${k.id}`, s.adminKey);
      assert.equal(del.status, 200);
      assertMatchesSpec(SPEC, 'delete', ONE, 200, del.json);
      assert.deepEqual(del.json, { id: k.id, object: 'organization.admin_api_key.deleted', deleted: true });
      await assert.rejects(victim.admin.organization.adminAPIKeys.list(), (e: any) => e instanceof OpenAI.AuthenticationError && e.status === 401);
      await assert.rejects(sdk.admin.organization.adminAPIKeys.retrieve(k.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.adminAPIKeys.delete(k.id), (e: any) => e instanceof OpenAI.NotFoundError);
    });

    test('paging walks every key once, in both orders', async () => {
      const made: string[] = [];
      for (let i = 0; i < 7; i++) made.push((await sdk.admin.organization.adminAPIKeys.create({ name: `page-${i}` })).id);
      const seen: string[] = [];
      for await (const k of sdk.admin.organization.adminAPIKeys.list({ limit: 2 })) seen.push(k.id);
      assert.equal(new Set(seen).size, seen.length, 'no duplicates');
      for (const id of made) assert.ok(seen.includes(id));
      const first = await sdk.admin.organization.adminAPIKeys.list({ limit: 3 });
      assert.equal(first.data.length, 3);
      assert.equal(first.has_more, true);
      const desc: string[] = [];
      for await (const k of sdk.admin.organization.adminAPIKeys.list({ limit: 3, order: 'desc' })) desc.push(k.id);
      assert.deepEqual(desc, [...seen].reverse());
    });

    test('bad input gets a 400 in the OpenAI envelope and creates nothing', async () => {
      const before = (await raw(s, 'GET', `/v1${LIST}?limit=100`, s.adminKey)).json.data.length;
      const cases: Array<[string, string | undefined, string?]> = [
        ['{"name": 5}', 'name'],
        ['{}', 'name'],
        ['{"name": ""}', 'name'],
        ['{"name": "x", "expires_in_seconds": 0}', 'expires_in_seconds'],
        ['{"name": "x", "expires_in_seconds": 31536001}', 'expires_in_seconds'],
        ['{"name": "x", "expires_in_seconds": "10"}', 'expires_in_seconds'],
        ['{"name": ', undefined],
        ['[1,2]', undefined],
        ['{"__proto__": {"admin": true}, "name": "x"}', undefined],
      ];
      for (const [body, param] of cases) {
        const res = await raw(s, 'POST', `/v1${LIST}`, s.adminKey, body);
        assert.equal(res.status, 400, body);
        assertOpenAIError(res.json);
        assert.equal(res.json.error.type, 'invalid_request_error');
        if (param) assert.equal(res.json.error.param, param, body);
      }
      const text = await raw(s, 'POST', `/v1${LIST}`, s.adminKey, 'name=x', 'text/plain');
      assert.equal(text.status, 415);
      assertOpenAIError(text.json);
      for (const q of ['limit=0', 'limit=101', 'limit=abc', 'order=sideways', 'after=key_doesnotexist']) {
        const res = await raw(s, 'GET', `/v1${LIST}?${q}`, s.adminKey);
        assert.equal(res.status, 400, q);
        assertOpenAIError(res.json);
      }
      const after = (await raw(s, 'GET', `/v1${LIST}?limit=100`, s.adminKey)).json.data.length;
      assert.equal(after, before);
      await assert.rejects(sdk.admin.organization.adminAPIKeys.retrieve('key_nope'), (e: any) => e instanceof OpenAI.NotFoundError && (e.error as any)?.type === 'invalid_request_error');
    });

    test('missing, unknown and non-admin keys are refused', async () => {
      const none = await raw(s, 'GET', `/v1${LIST}`, null);
      assert.equal(none.status, 401);
      assertOpenAIError(none.json);
      assert.equal(none.json.error.code, 'invalid_api_key');
      const unknown = await raw(s, 'GET', `/v1${LIST}`, 'sk-admin-' + 'x'.repeat(48));
      assert.equal(unknown.status, 401);
      assert.ok(!JSON.stringify(unknown.json).includes('x'.repeat(48)), 'the presented key is not echoed');
      // a non-admin key of the same organization
      const main = await s.rt.core.orgs.getBySlug(SYSTEM, 'main');
      const userKey = await s.rt.store.db.transaction().execute((tx) => s.rt.core.keys.issue(tx, SYSTEM, { orgId: main.id, kind: 'user', name: 'not admin' }));
      const res = await raw(s, 'GET', `/v1${LIST}`, userKey.row && userKey.secret);
      assert.equal(res.status, 403);
      assertOpenAIError(res.json);
      await assert.rejects(client(s, userKey.secret).admin.organization.adminAPIKeys.list(), (e: any) => e instanceof OpenAI.PermissionDeniedError);
    });

    test("another organization's admin key never sees or changes this organization's keys", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' });
      const otherSdk = client(s, other.adminKey.secret);
      const mine = await sdk.admin.organization.adminAPIKeys.create({ name: 'mine' });
      const theirs = await otherSdk.admin.organization.adminAPIKeys.list({ limit: 100 });
      assert.deepEqual(theirs.data.map((k) => k.id), [other.adminKey.row.id]);
      await assert.rejects(otherSdk.admin.organization.adminAPIKeys.retrieve(mine.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.adminAPIKeys.delete(mine.id), (e: any) => e instanceof OpenAI.NotFoundError);
      assert.equal((await sdk.admin.organization.adminAPIKeys.retrieve(mine.id)).id, mine.id);
      // and paging with a foreign cursor is refused rather than leaking a position
      const res = await raw(s, 'GET', `/v1${LIST}?after=${mine.id}`, other.adminKey.secret);
      assert.equal(res.status, 400);
    });

    test('unknown routes answer 404 in the OpenAI envelope', async () => {
      const res = await raw(s, 'GET', '/v1/organization/nothing_here', s.adminKey);
      assert.equal(res.status, 404);
      assertOpenAIError(res.json);
      assert.ok(res.headers.get('x-request-id'));
    });
  });
}

for (const dialect of await testDialects()) {
  describe(`OpenAI Idempotency-Key (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect);
    });
    after(async () => s?.close());

    test('a retried create with the same key replays the first answer and creates once', async () => {
      const headers = { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' };
      const first = await fetch(`${s.url}/v1${LIST}`, { method: 'POST', headers, body: JSON.stringify({ name: 'once' }) });
      const second = await fetch(`${s.url}/v1${LIST}`, { method: 'POST', headers, body: JSON.stringify({ name: 'once' }) });
      const a = await first.json();
      const b = await second.json();
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('idempotent-replayed'), 'true');
      assert.deepEqual(b, a, 'same key id and the same secret');
      const names = (await raw(s, 'GET', `/v1${LIST}?limit=100`, s.adminKey)).json.data.map((k: any) => k.name);
      assert.equal(names.filter((n: string) => n === 'once').length, 1);
      // the stored answer holds the secret only sealed
      const rows = await s.rt.store.db.selectFrom('idempotency_records').selectAll().execute();
      assert.equal(rows.length, 1);
      assert.ok(!JSON.stringify(rows).includes(a.value));
      // the same key with another body is refused and creates nothing
      const other = await fetch(`${s.url}/v1${LIST}`, { method: 'POST', headers, body: JSON.stringify({ name: 'twice' }) });
      assert.equal(other.status, 400);
      assert.equal((await other.json()).error.code, 'idempotency_key_reused');
      const after = (await raw(s, 'GET', `/v1${LIST}?limit=100`, s.adminKey)).json.data.map((k: any) => k.name);
      assert.ok(!after.includes('twice'));
    });
  });
}
