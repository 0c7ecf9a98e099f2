// OpenAPI documents (/openapi/<face>.json) and the /docs page, over HTTP against a real server, on
// SQLite and PostgreSQL: each served face has a document that a real OpenAPI validator accepts as
// 3.1, listing every registered route of the face with its method; no secret appears in them; the
// platform face's document exists only with a root key; /docs and its assets load from this server
// alone (no external URL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { readResponse, assertOpenAIError } from '../helpers/http.ts';

const FACES = ['openai-admin', 'gateway', 'h2ogpte', 'whylabs', 'iblai', 'platform'];

/** The security schemes each face's document must declare: how its credential is presented. */
const SCHEMES: Record<string, Record<string, Record<string, string>>> = {
  'openai-admin': { bearer: { type: 'http', scheme: 'bearer' } },
  gateway: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
  h2ogpte: { bearer: { type: 'http', scheme: 'bearer' } },
  whylabs: { apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' }, apiKeyCookie: { type: 'apiKey', in: 'cookie', name: 'X-API-Key' } },
  iblai: { apiToken: { type: 'apiKey', in: 'header', name: 'Authorization' } },
  platform: { bearer: { type: 'http', scheme: 'bearer' } },
};

const get = async (s: TestServer, path: string, headers: Record<string, string> = {}) => readResponse(await fetch(`${s.url}${path}`, { headers }));

/** A Fastify URL template as an OpenAPI path (`/a/:id` → `/a/{id}`). */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every `example` / `examples` value anywhere in a document. */
function examplesIn(v: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) examplesIn(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'example' || k === 'examples') out.push(x);
      examplesIn(x, out);
    }
  }
  return out;
}

for (const dialect of await testDialects()) {
  describe(`OpenAPI documents and /docs (${dialect})`, () => {
    let s: TestServer;
    const rootKey = randomBytes(24).toString('hex');
    before(async () => {
      s = await startServer(dialect, { rootKey });
    });
    after(async () => s?.close());

    test('every face has a valid OpenAPI 3.1 document at /openapi/<face>.json, without credentials', async () => {
      for (const face of FACES) {
        const r = await get(s, `/openapi/${face}.json`);
        assert.equal(r.status, 200, `${face}: ${r.text.slice(0, 200)}`);
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal(r.json.openapi, '3.1.0', face);
        const result = await new Validator().validate(r.json);
        assert.deepEqual(result.errors, undefined, `${face}: ${JSON.stringify(result.errors)?.slice(0, 1000)}`);
        assert.equal(result.valid, true, face);
        assert.ok(r.json.info.title && r.json.info.version, face);
        assert.deepEqual(r.json.servers, [{ url: '/' }]);
        // a document is the same with any credential, or a garbage one: it is public
        const withGarbage = await get(s, `/openapi/${face}.json`, { authorization: 'Bearer !!garbage!!', 'x-api-key': 'nonsense' });
        assert.equal(withGarbage.status, 200);
        assert.deepEqual(withGarbage.json, r.json);
      }
    });

    test("every registered route of a face appears in its document with its method, and nothing else does", async () => {
      for (const face of FACES) {
        const doc = (await get(s, `/openapi/${face}.json`)).json;
        const routes = s.app.routeList.filter((r) => r.face === face);
        assert.ok(routes.length > 0, face);
        const expected = routes.map((r) => `${r.method.toLowerCase()} ${openapiPath(r.url)}`).sort();
        const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
          .flatMap(([path, ops]) => Object.keys(ops).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).map((m) => `${m} ${path}`))
          .sort();
        assert.deepEqual(documented, expected, face);
        // every operation is tagged, and every tag is declared
        const declared = new Set((doc.tags as Array<{ name: string }>).map((t) => t.name));
        for (const ops of Object.values(doc.paths as Record<string, Record<string, { tags?: string[] }>>)) {
          for (const op of Object.values(ops)) {
            assert.ok(op.tags?.length, face);
            for (const t of op.tags!) assert.ok(declared.has(t), `${face}: tag ${t}`);
          }
        }
      }
    });

    test('each document declares how its face takes a credential', async () => {
      for (const face of FACES) {
        const doc = (await get(s, `/openapi/${face}.json`)).json;
        const schemes = doc.components.securitySchemes as Record<string, Record<string, string>>;
        assert.deepEqual(Object.keys(schemes).sort(), Object.keys(SCHEMES[face]!).sort(), face);
        for (const [name, want] of Object.entries(SCHEMES[face]!)) {
          for (const [k, v] of Object.entries(want)) assert.equal(schemes[name]![k], v, `${face} ${name}.${k}`);
        }
        assert.deepEqual(doc.security, Object.keys(SCHEMES[face]!).map((n) => ({ [n]: [] })), face);
      }
    });

    test('the OpenAI admin routes declare their 2xx response schemas', async () => {
      const doc = (await get(s, '/openapi/openai-admin.json')).json;
      const missing: string[] = [];
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { content?: unknown }> }>>)) {
        for (const [method, op] of Object.entries(ops)) {
          const ok = Object.entries(op.responses).some(([code, r]) => /^2/.test(code) && r.content !== undefined);
          if (!ok) missing.push(`${method} ${path}`);
        }
      }
      assert.deepEqual(missing, []);
    });

    test("the admin faces' answers match the response schemas of their documents", async () => {
      const orgId = (await get(s, '/platform/v1/organizations', { authorization: `Bearer ${rootKey}` })).json.data.find((o: { slug: string }) => o.slug === 'main').id;
      const created = await fetch(`${s.url}/v1/organization/projects`, { method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Documented' }) });
      assert.equal(created.status, 200);
      const bearer = { authorization: `Bearer ${s.adminKey}` };
      const now = Math.floor(Date.now() / 1000);
      // [face, documented path, method, URL, headers]
      const cases: Array<[string, string, string, string, Record<string, string>]> = [
        ['openai-admin', '/v1/organization/projects', 'get', '/v1/organization/projects', bearer],
        ['openai-admin', '/v1/organization/admin_api_keys', 'get', '/v1/organization/admin_api_keys', bearer],
        ['openai-admin', '/v1/organization/users', 'get', '/v1/organization/users', bearer],
        ['openai-admin', '/v1/organization/roles', 'get', '/v1/organization/roles', bearer],
        ['openai-admin', '/v1/organization/audit_logs', 'get', '/v1/organization/audit_logs', bearer],
        ['openai-admin', '/v1/organization/costs', 'get', `/v1/organization/costs?start_time=${now - 86_400}`, bearer],
        ['openai-admin', '/v1/organization/usage/completions', 'get', `/v1/organization/usage/completions?start_time=${now - 86_400}`, bearer],
        ['h2ogpte', '/api/v1/admin/api-keys', 'get', '/api/v1/admin/api-keys', bearer],
        ['whylabs', '/v0/organizations/{org_id}/api-key', 'get', `/v0/organizations/${orgId}/api-key`, { 'x-api-key': s.adminKey }],
        ['iblai', '/api/ai-account/orgs/{org}/credential/', 'get', '/api/ai-account/orgs/main/credential/', { authorization: `Api-Token ${s.adminKey}` }],
        ['platform', '/platform/v1/organizations', 'get', '/platform/v1/organizations', { authorization: `Bearer ${rootKey}` }],
        ['platform', '/platform/v1/organizations/{slug}', 'get', '/platform/v1/organizations/main', { authorization: `Bearer ${rootKey}` }],
      ];
      const ajv = new Ajv2020({ strict: false });
      for (const [face, path, method, url, headers] of cases) {
        const doc = (await get(s, `/openapi/${face}.json`)).json;
        const schema = doc.paths[path]?.[method]?.responses?.['200']?.content?.['application/json']?.schema;
        assert.ok(schema, `${face} ${method} ${path} documents its answer`);
        const r = await get(s, url, headers);
        assert.equal(r.status, 200, `${url}: ${r.text.slice(0, 300)}`);
        const validate = ajv.compile({ ...schema, components: doc.components });
        assert.ok(validate(r.json), `${url}: ${JSON.stringify(validate.errors)}`);
      }
    });

    test('no document holds a secret or an example value', async () => {
      for (const face of FACES) {
        const r = await get(s, `/openapi/${face}.json`);
        assert.ok(!r.text.includes(rootKey), face);
        assert.ok(!r.text.includes(s.adminKey), face);
        assert.doesNotMatch(r.text, /sk-(admin-|proj-|svcacct-)?[A-Za-z0-9_-]{16,}/, face);
        assert.deepEqual(examplesIn(r.json), [], face);
      }
    });

    test('/docs and its assets load from this server only', async () => {
      const page = await get(s, '/docs');
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/);
      assert.doesNotMatch(page.text, /https?:\/\//i, 'no absolute URL in the page');
      assert.doesNotMatch(page.text, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script');
      const refs = [...page.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      assert.ok(refs.length >= 6, refs.join(' '));
      const types: Record<string, RegExp> = { js: /^text\/javascript/, css: /^text\/css/, png: /^image\/png/, json: /^application\/json/ };
      for (const ref of refs) {
        assert.ok(ref.startsWith('/') && !ref.startsWith('//'), `local URL: ${ref}`);
        const r = await get(s, ref);
        assert.equal(r.status, 200, ref);
        assert.match(r.headers.get('content-type') ?? '', types[ref.split('.').at(-1)!]!, ref);
        assert.ok(r.text.length > 0, ref);
      }
      // the set-up script points Swagger UI at every document, and at no online validator
      const init = await get(s, '/docs/docs.js');
      for (const face of FACES) assert.ok(init.text.includes(`/openapi/${face}.json`), face);
      assert.match(init.text, /validatorUrl: null/);
      assert.doesNotMatch(init.text, /https?:\/\//i);
      // only the listed files of the UI package are served
      for (const path of ['/docs/package.json', '/docs/index.html', '/docs/../package.json', '/docs/swagger-initializer.js']) {
        const r = await get(s, path);
        assert.equal(r.status, 404, path);
        assertOpenAIError(r.json);
      }
    });
  });

  describe(`OpenAPI documents of a node without the platform face or the gateway (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect, { role: 'admin' });
    });
    after(async () => s?.close());

    test('only the faces this node serves have a document, and /docs lists only those', async () => {
      for (const face of ['platform', 'gateway']) {
        const r = await get(s, `/openapi/${face}.json`);
        assert.equal(r.status, 404, face);
        assertOpenAIError(r.json);
      }
      const init = (await get(s, '/docs/docs.js')).text;
      for (const face of ['openai-admin', 'h2ogpte', 'whylabs', 'iblai']) {
        assert.equal((await get(s, `/openapi/${face}.json`)).status, 200, face);
        assert.ok(init.includes(`/openapi/${face}.json`), face);
      }
      assert.ok(!init.includes('/openapi/platform.json'));
      assert.ok(!init.includes('/openapi/gateway.json'));
    });
  });
}
