// The operator's default provider credentials over the platform API (/platform/v1/default_credentials):
// root key only (401 otherwise, OpenAI envelope), PUT creates (201) or replaces (200), listings and
// answers are masked, DELETE then 404, bad provider names and values refused, every change audited
// under the platform's audit organization, and a change seen at once by the resolver. Both dialects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { assertOpenAIError, http } from '../../helpers/http.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { PLATFORM_AUDIT_ORG } from '../../../src/domain/default-credentials.ts';

const SECRET = 'sk-proj-DEFAULT-SECRET-0123456789abcdefXYZW';
const URL = '/platform/v1/default_credentials';

for (const dialect of await testDialects()) {
  describe(`platform API: default credentials (${dialect})`, () => {
    const rootKey = randomBytes(32).toString('hex');
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect, { rootKey });
    });
    after(async () => {
      await s?.close();
    });
    const audit = () => s.rt.store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', PLATFORM_AUDIT_ORG).orderBy('created_at').orderBy('id').execute();

    test('the root key only: none, a garbage one or an organization admin key is a 401', async () => {
      for (const [method, path, body] of [['GET', URL, undefined], ['PUT', `${URL}/openai`, { value: { key: SECRET } }], ['DELETE', `${URL}/openai`, undefined]] as const) {
        for (const key of [null, 'garbage', randomBytes(32).toString('hex'), s.adminKey]) {
          const r = await http(s, method, path, key, body);
          assert.equal(r.status, 401, `${method} ${path} with ${key === s.adminKey ? 'an admin key' : key}`);
          assertOpenAIError(r.json);
        }
      }
      assert.deepEqual(await audit(), [], 'nothing written or audited');
      assert.equal((await s.rt.store.db.selectFrom('platform_credentials').selectAll().execute()).length, 0);
    });

    test('PUT creates then replaces; answers and listings are masked; every change and read is audited', async () => {
      const created = await http(s, 'PUT', `${URL}/openai`, rootKey, { value: { key: SECRET, base_url: 'https://llm.example/v1' } });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      assert.equal(created.json.object, 'platform.default_credential');
      assert.equal(created.json.provider, 'openai');
      assert.deepEqual(created.json.value, { key: '****XYZW', base_url: '****e/v1' });
      assert.equal(typeof created.json.created_at, 'number');
      const replaced = await http(s, 'PUT', `${URL}/openai`, rootKey, { value: { api_key: `${SECRET}-2`, endpoint: 'https://acme.openai.azure.com', deployment: 'gpt-4o', api_version: '2024-10-21' } });
      assert.equal(replaced.status, 200);
      assert.equal(replaced.json.created_at, created.json.created_at);
      await http(s, 'PUT', `${URL}/anthropic`, rootKey, { value: { key: `${SECRET}-anthropic` } });
      const list = await http(s, 'GET', URL, rootKey);
      assert.equal(list.status, 200);
      assert.equal(list.json.object, 'list');
      assert.deepEqual(list.json.data.map((c: any) => c.provider), ['anthropic', 'openai']);
      assert.deepEqual(list.json.data[1].value, { api_key: '****ZW-2', endpoint: '****.com', deployment: '****', api_version: '****0-21' });
      for (const r of [created, replaced, list]) assert.ok(!JSON.stringify(r.json).includes('SECRET'), 'no secret in an answer');
      const rows = await audit();
      assert.deepEqual(rows.map((r) => [r.type, JSON.parse(r.payload).provider, r.actor_type]), [
        ['default_credential.created', 'openai', 'root'],
        ['default_credential.updated', 'openai', 'root'],
        ['default_credential.created', 'anthropic', 'root'],
        ['default_credential.decrypted', 'anthropic', 'root'],
        ['default_credential.decrypted', 'openai', 'root'],
      ]);
      assert.ok(rows.every((r) => r.request_id), 'the request is recorded');
      // sealed at rest
      const stored = await s.rt.store.db.selectFrom('platform_credentials').selectAll().execute();
      assert.ok(!JSON.stringify(stored).includes('SECRET'));
      assert.ok(!JSON.stringify(rows).includes('SECRET'));
    });

    test('a change is seen by the very next resolve of a tenant using the default key', async () => {
      const org = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.platform.setDefaultLlmKey(SYSTEM, org, true);
      const before = await s.rt.core.providerCredentials.resolve(org, 'openai');
      assert.equal(before.source, 'platform_default');
      assert.deepEqual(before.secret, { apiKey: `${SECRET}-2`, endpoint: 'https://acme.openai.azure.com', deployment: 'gpt-4o', apiVersion: '2024-10-21' });
      await http(s, 'PUT', `${URL}/openai`, rootKey, { value: { key: `${SECRET}-3` } });
      assert.deepEqual((await s.rt.core.providerCredentials.resolve(org, 'openai')).secret, { apiKey: `${SECRET}-3` });
      assert.equal((await http(s, 'DELETE', `${URL}/openai`, rootKey)).status, 200);
      await assert.rejects(s.rt.core.providerCredentials.resolve(org, 'openai'), (e: any) => e.code === 'provider_credential_missing');
      await s.rt.core.platform.setDefaultLlmKey(SYSTEM, org, false);
    });

    test('DELETE answers once, then 404; bad names and values are 4xx answers that write nothing', async () => {
      const del = await http(s, 'DELETE', `${URL}/anthropic`, rootKey);
      assert.equal(del.status, 200);
      assert.deepEqual(del.json, { object: 'platform.default_credential.deleted', provider: 'anthropic', deleted: true });
      const again = await http(s, 'DELETE', `${URL}/anthropic`, rootKey);
      assert.equal(again.status, 404);
      assertOpenAIError(again.json);
      const n = (await audit()).length;
      const bad: Array<[string, unknown, string | null]> = [
        [`${URL}/openai`, { value: { secret: SECRET } }, 'provider_credential_invalid'],
        [`${URL}/openai`, { value: SECRET }, 'provider_credential_invalid'],
        [`${URL}/openai`, { value: { key: SECRET, endpoint: 3 } }, 'provider_credential_invalid'],
        [`${URL}/openai`, {}, null],
        [`${URL}/-bad`, { value: { key: SECRET } }, null],
        [`${URL}/${'x'.repeat(300)}`, { value: { key: SECRET } }, null],
        [`${URL}/a%00b`, { value: { key: SECRET } }, null],
        [`${URL}/..%2F..%2Fetc`, { value: { key: SECRET } }, null],
      ];
      for (const [path, body, code] of bad) {
        const r = await http(s, 'PUT', path, rootKey, body);
        assert.ok(r.status >= 400 && r.status < 500, `${path} ${JSON.stringify(body).slice(0, 60)} → ${r.status}`);
        assertOpenAIError(r.json);
        if (code) assert.equal(r.json.error.code, code);
        assert.ok(!JSON.stringify(r.json).includes('SECRET'), 'the value is never echoed');
      }
      assert.equal((await audit()).length, n);
      assert.deepEqual((await http(s, 'GET', URL, rootKey)).json.data, []);
    });
  });
}
