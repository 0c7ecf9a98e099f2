// ibl.ai face driven by the real npm client `@iblai/iblai-api@4.90.4-ai` (openapi-typescript-codegen,
// fetch-based, global `OpenAPI` config). Every request it sends is captured and compared with the
// reference (method, exact path with its trailing slash, auth header, JSON body); answers are checked
// against the spec extract. Both dialects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AiAccountService, ApiError, OpenAPI } from '@iblai/iblai-api';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { P, SPEC } from './helpers.ts';

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | null;
}

for (const dialect of await testDialects()) {
  describe(`ibl.ai face through @iblai/iblai-api (${dialect})`, () => {
    let s: TestServer;
    let userId: string;
    const sent: Sent[] = [];
    const realFetch = globalThis.fetch;

    /**
     * The one request the client sent during `fn`. The package's .d.ts files import each other
     * without extensions, which NodeNext resolution cannot follow, so its return types are `any`-ish
     * here: results are typed `any`.
     */
    async function capture(fn: () => Promise<unknown>): Promise<{ result: any; req: Sent }> {
      sent.length = 0;
      const result = await fn();
      assert.equal(sent.length, 1);
      return { result, req: sent[0]! };
    }

    async function rejects(fn: () => Promise<unknown>, status: number): Promise<{ status: number; body: any }> {
      try {
        await fn();
      } catch (err) {
        assert.ok(err instanceof ApiError, String(err));
        const e = err as { status: number; body: any };
        assert.equal(e.status, status, JSON.stringify(e.body));
        return e;
      }
      throw new Error(`expected a ${status}`);
    }

    before(async () => {
      s = await startServer(dialect);
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      userId = (await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'u@example.com', role: 'reader' })).id;
      // the client sends `Authorization: Bearer <TOKEN>` when TOKEN is set; ibl.ai's scheme goes in HEADERS
      OpenAPI.BASE = s.url;
      OpenAPI.TOKEN = undefined;
      OpenAPI.HEADERS = { Authorization: `Api-Token ${s.adminKey}` };
      globalThis.fetch = async (input: any, init?: any) => {
        const url = new URL(typeof input === 'string' ? input : input.url);
        const headers: Record<string, string> = {};
        new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
        sent.push({ method: init?.method ?? 'GET', path: url.pathname + url.search, headers, body: typeof init?.body === 'string' ? init.body : null });
        return realFetch(input, init);
      };
    });
    after(async () => {
      globalThis.fetch = realFetch;
      await s?.close();
    });

    test('credential create / partial update / retrieve, as the reference lists them', async () => {
      const { result: created, req } = await capture(() =>
        AiAccountService.aiAccountOrgsCredentialCreate({ org: 'main', requestBody: { name: 'openai', value: { key: 'sk-PLAINTEXT-sdk-000111222' }, platform: 'main' } }),
      );
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/api/ai-account/orgs/main/credential/');
      assert.equal(req.headers.authorization, `Api-Token ${s.adminKey}`);
      assert.equal(req.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(req.body!), { name: 'openai', value: { key: 'sk-PLAINTEXT-sdk-000111222' }, platform: 'main' });
      assertMatchesSpec(SPEC, 'POST', P.credential, 200, created);
      assert.deepEqual(created.value, { key: '****1222' });

      const { result: patched, req: preq } = await capture(() =>
        AiAccountService.aiAccountOrgsCredentialPartialUpdate({ org: 'main', requestBody: { name: 'openai', value: { key: 'sk-PLAINTEXT-sdk-333444555' } } }),
      );
      assert.equal(preq.method, 'PATCH');
      assert.equal(preq.path, '/api/ai-account/orgs/main/credential/');
      assertMatchesSpec(SPEC, 'PATCH', P.credential, 200, patched);
      assert.deepEqual(patched.value, { key: '****4555' });

      const { result: one, req: greq } = await capture(() => AiAccountService.aiAccountOrgsCredentialRetrieve({ org: 'main', name: 'openai' }));
      assert.equal(greq.method, 'GET');
      assert.equal(greq.path, '/api/ai-account/orgs/main/credential/?name=openai');
      assert.equal(greq.body, null);
      assertMatchesSpec(SPEC, 'GET', P.credential, 200, one);
      // without a name: every credential, as an array (the typed return says one object; the docs show a list)
      const all = (await AiAccountService.aiAccountOrgsCredentialRetrieve({ org: 'main' })) as unknown;
      assert.ok(Array.isArray(all));
      assert.equal(all.length, 1);

      const dup = await rejects(() => AiAccountService.aiAccountOrgsCredentialCreate({ org: 'main', requestBody: { name: 'openai', value: {}, platform: 'main' } }), 400);
      assert.match(JSON.stringify(dup.body), /"name":\["A credential named 'openai' already exists\."\]/);
      await rejects(() => AiAccountService.aiAccountOrgsCredentialRetrieve({ org: 'main', name: 'nope' }), 404);
      // this client's DELETE carries no body and no query, so it cannot name the credential: a DRF 400
      const { req: dreq } = await capture(() => rejects(() => AiAccountService.aiAccountOrgsCredentialDestroy({ org: 'main' }), 400));
      assert.equal(dreq.method, 'DELETE');
      assert.equal(dreq.body, null);
    });

    test('integration credentials through the client', async () => {
      const { result: created, req } = await capture(() =>
        AiAccountService.aiAccountOrgsIntegrationCredentialCreate({ org: 'main', requestBody: { name: 'google-drive', value: { type: 'service_account', private_key: 'PLAINTEXT-PK-abcdef' }, platform: 'main' } }),
      );
      assert.equal(req.path, '/api/ai-account/orgs/main/integration-credential/');
      assertMatchesSpec(SPEC, 'POST', P.integration, 200, created);
      const patched = await AiAccountService.aiAccountOrgsIntegrationCredentialPartialUpdate({ org: 'main', requestBody: { name: 'google-drive', value: { token: 'tok-PLAINTEXT-999888' } } });
      assertMatchesSpec(SPEC, 'PATCH', P.integration, 200, patched);
      const one: any = await AiAccountService.aiAccountOrgsIntegrationCredentialRetrieve({ org: 'main', name: 'google-drive' });
      assertMatchesSpec(SPEC, 'GET', P.integration, 200, one);
      assert.deepEqual(one.value, { token: '****9888' });
      await rejects(() => AiAccountService.aiAccountOrgsIntegrationCredentialDestroy({ org: 'main' }), 400);
    });

    test('default LLM key and free trial through the client', async () => {
      const { result: on, req } = await capture(() =>
        AiAccountService.aiAccountOrgsUseDefaultLlmKeyCreate({ org: 'main', requestBody: { enable: true, disable: false } as never }),
      );
      assert.equal(req.path, '/api/ai-account/orgs/main/use-default-llm-key/');
      assert.deepEqual(JSON.parse(req.body!), { enable: true, disable: false });
      assertMatchesSpec(SPEC, 'POST', P.defaultKey, 200, on);
      assert.deepEqual(on, { message: 'Tenant is now using the main credentials' });
      // the typed body is UseMainCreds {message}: a message alone says neither enable nor disable
      await rejects(() => AiAccountService.aiAccountOrgsUseDefaultLlmKeyCreate({ org: 'main', requestBody: { message: 'enable' } }), 400);

      const { result: usage, req: ureq } = await capture(() => AiAccountService.aiAccountOrgsUsersDefaultLlmKeyUsageRetrieve({ org: 'main', userId }));
      assert.equal(ureq.path, `/api/ai-account/orgs/main/users/${userId}/default-llm-key-usage`);
      assert.deepEqual(usage, { use_main_credentials: true });

      // the 4.90.4 client's use-free-trial sends no body: nothing to do, a DRF 400
      const { req: freq } = await capture(() => rejects(() => AiAccountService.aiAccountOrgsUseFreeTrialCreate({ org: 'main' }), 400));
      assert.equal(freq.path, '/api/ai-account/orgs/main/use-free-trial/');
      assert.equal(freq.body, null);
      await s.rt.core.platform.setFreeTrial(SYSTEM, (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id, { enabled: true });
      const { result: trial, req: treq } = await capture(() => AiAccountService.aiAccountOrgsUsersFreeTrialRetrieve({ org: 'main', userId: 'u@example.com' }));
      assert.equal(treq.path, '/api/ai-account/orgs/main/users/u@example.com/free-trial');
      assertMatchesSpec(SPEC, 'GET', P.userFreeTrial, 200, trial);
      assert.deepEqual(trial, { is_in_free_trial: true });
    });

    test('the client with a bad key or another scheme', async () => {
      OpenAPI.HEADERS = { Authorization: 'Api-Key not-a-key' };
      try {
        const e = await rejects(() => AiAccountService.aiAccountOrgsCredentialRetrieve({ org: 'main' }), 401);
        assert.deepEqual(e.body, { detail: 'Invalid token.' });
        OpenAPI.HEADERS = undefined;
        OpenAPI.TOKEN = s.adminKey; // the client's own Bearer scheme is not ibl.ai's
        const b = await rejects(() => AiAccountService.aiAccountOrgsCredentialRetrieve({ org: 'main' }), 401);
        assert.deepEqual(b.body, { detail: 'Authentication credentials were not provided.' });
      } finally {
        OpenAPI.TOKEN = undefined;
        OpenAPI.HEADERS = { Authorization: `Api-Token ${s.adminKey}` };
      }
    });
  });
}
