// Deeply nested JSON (issue [9], must-fix 4): a body nested 5,000 levels deep (under 1 MB) was a
// 500, "Maximum call stack size exceeded", on an ibl.ai credential value. Every face now refuses a
// body nested deeper than MAX_JSON_DEPTH with a 400 in its own envelope, changing nothing (no row, no
// audit event, nothing sent upstream), and a body nested exactly MAX_JSON_DEPTH deep still works,
// through the official SDK where there is one and real traffic through the gateway to the mock
// upstream. The recursive walks over client JSON (credential masking, the NUL check) are iterative.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { openaiClient } from '../helpers/http.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../src/faces/json-depth.ts';
import { maskSecrets } from '../../src/domain/credentials.ts';
import { hasNul } from '../../src/faces/kit.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';
import { assertNoStackTrace, FACES, makeTenant, send, snapshot, assertUnchanged, type KeyFaceName, type Tenant } from './matrix.ts';

const SPEC = 'openai-admin.subset.json';
const DEEP = 5000;

/** JSON text of a value nested `levels` objects deep around `leaf` (built as text: JSON.stringify itself overflows at this depth). */
const nested = (levels: number, leaf = '"leaf-secret-value-1234"'): string => '{"k":'.repeat(levels) + leaf + '}'.repeat(levels);

/** The JSON text of `fields` plus `field` holding a value such that the whole body is nested `total` levels deep. */
function bodyWith(fields: Record<string, unknown>, field: string, total: number): string {
  const head = JSON.stringify(fields).slice(0, -1);
  return `${head}${head.length > 1 ? ',' : ''}${JSON.stringify(field)}:${nested(total - 1)}}`;
}

/** A default credential's body (its value needs a key) nested `total` levels deep. */
const defaultCredentialBody = (total: number): string => `{"value":{"key":"sk-deep-default-credential","extra":${nested(total - 2)}}}`;

/** The same value as an object (nested `levels` deep), for the SDKs. */
function nestedObject(levels: number, leaf: unknown = 'leaf-secret-value-1234'): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = { k: v };
  return v;
}

/** The depth of a parsed value (iteratively). */
function depthOf(v: unknown): number {
  let max = 0;
  const todo: Array<[unknown, number]> = [[v, 0]];
  while (todo.length) {
    const [x, d] = todo.pop()!;
    if (x && typeof x === 'object') {
      max = Math.max(max, d + 1);
      for (const y of Object.values(x)) todo.push([y, d + 1]);
    }
  }
  return max;
}

describe('the nesting scan', () => {
  test('counts brackets outside strings only, escapes included', () => {
    assert.equal(jsonTooDeep(Buffer.from(nested(MAX_JSON_DEPTH))), false, 'exactly the limit');
    assert.equal(jsonTooDeep(Buffer.from(nested(MAX_JSON_DEPTH + 1))), true, 'one past the limit');
    assert.equal(jsonTooDeep(Buffer.from('['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1))), true, 'arrays count too');
    assert.equal(jsonTooDeep(Buffer.from(JSON.stringify({ a: '['.repeat(500), b: '{{{{' }))), false, 'brackets inside strings');
    assert.equal(jsonTooDeep(Buffer.from(JSON.stringify({ a: 'quote \\" [[[', b: '\\\\', c: '\\\\\\"{{{' }))), false, 'escaped quotes and backslashes');
    assert.equal(jsonTooDeep(Buffer.from(`{"a":"\\\\"${'['.repeat(MAX_JSON_DEPTH + 1)}`)), true, 'a string ending in an escaped backslash ends there');
    assert.equal(jsonTooDeep(Buffer.from(JSON.stringify({ 'é[': 'ü{ 漢字 [' }))), false, 'multi-byte UTF-8');
    assert.equal(jsonTooDeep(Buffer.from('"unterminated [[[[')), false, 'malformed text is left to JSON.parse');
    // strings of every length around the short/long switch, with escapes falling on every position
    for (let len = 0; len < 80; len++) {
      for (const pad of ['', '\\', '\\\\', '\\"', '"']) {
        const str = JSON.stringify(`${'x'.repeat(len)}${pad}[{`);
        const text = `${'['.repeat(MAX_JSON_DEPTH - 1)}${str},${str}${']'.repeat(MAX_JSON_DEPTH - 1)}`;
        assert.equal(jsonTooDeep(Buffer.from(text)), false, text.slice(MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH + 90));
        assert.equal(jsonTooDeep(Buffer.from(`[${text}]`)), false);
        assert.equal(jsonTooDeep(Buffer.from(`[[${text}]]`)), true);
      }
    }
    // sibling containers do not add up
    assert.equal(jsonTooDeep(Buffer.from(JSON.stringify(Array.from({ length: 1000 }, () => [[[1]]])))), false);
  });

  test('a 100 KB chat body is scanned in microseconds (figure reported, not asserted)', (t) => {
    const msg = { role: 'user', content: 'Lorem ipsum dolor sit amet, "quoted" [bracketed] {braced} \\ text. '.repeat(20) };
    const body = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: Array.from({ length: 72 }, () => msg), tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } } }] }));
    assert.ok(body.length > 100_000 && body.length < 120_000, `${body.length} bytes`);
    for (let i = 0; i < 200; i++) jsonTooDeep(body);
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) assert.equal(jsonTooDeep(body), false);
    const scan = ((performance.now() - t0) * 1000) / n;
    const t1 = performance.now();
    for (let i = 0; i < 200; i++) JSON.parse(body.toString('utf8'));
    const parse = ((performance.now() - t1) * 1000) / 200;
    t.diagnostic(`nesting scan of a ${body.length}-byte body: ${scan.toFixed(1)} µs (JSON.parse of it: ${parse.toFixed(1)} µs)`);
  });

  test('masking and the NUL check walk any depth without recursion', () => {
    const deep = JSON.parse(nested(20_000)) as unknown;
    const masked = maskSecrets(deep);
    let x: any = masked;
    for (let i = 0; i < 20_000; i++) x = x.k;
    assert.equal(x, '****1234');
    assert.equal(hasNul(deep), false);
    assert.equal(hasNul(JSON.parse(nested(20_000, '"a\\u0000b"'))), true, 'a NUL at any depth is found');
    assert.deepEqual(maskSecrets({ a: ['secret-value-9876', 1, null, true, { b: 'short' }], c: 'x' }), { a: ['****9876', 1, null, true, { b: '****' }], c: '****' });
  });
});

for (const dialect of await testDialects()) {
  describe(`deeply nested JSON on every face (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let T: Tenant;
    let rootKey: string;
    let projectKey: string;

    before(async () => {
      rootKey = randomBytes(32).toString('hex');
      mock = await startMockUpstream();
      s = await startServer(dialect, { rootKey });
      T = await makeTenant(s.rt.core, s.rt.store, 'nest');
      // the gateway: organization `main` with its `openai` credential pointed at the mock upstream
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      const admin = openaiClient(s, s.adminKey);
      const project = await admin.admin.organization.projects.create({ name: 'Nesting' });
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      projectKey = sa.api_key!.value;
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    /** A request per face, its body nested `depth` deep. */
    const cases = (depth: number): Array<{ face: KeyFaceName; label: string; method: string; path: () => string; headers: () => Record<string, string>; body: () => string; contentType?: string }> => [
      { face: 'openai', label: 'create a project', method: 'POST', path: () => '/v1/organization/projects', headers: () => FACES.openai.auth(T.keys.admin), body: () => bodyWith({ name: 'deep project' }, 'metadata', depth) },
      { face: 'platform', label: 'set a default credential', method: 'PUT', path: () => '/platform/v1/default_credentials/openai', headers: () => FACES.platform.auth(rootKey), body: () => defaultCredentialBody(depth) },
      { face: 'iblai', label: 'create a credential (JSON)', method: 'POST', path: () => `/api/ai-account/orgs/${T.slug}/credential/`, headers: () => FACES.iblai.auth(T.keys.admin), body: () => bodyWith({ name: 'deep-cred', platform: T.slug }, 'value', depth) },
      {
        face: 'iblai',
        label: 'create an integration credential (form)',
        method: 'POST',
        path: () => `/api/ai-account/orgs/${T.slug}/integration-credential/`,
        headers: () => FACES.iblai.auth(T.keys.admin),
        body: () => new URLSearchParams({ name: 'deep-form', platform: T.slug, value: nested(depth) }).toString(),
        contentType: 'application/x-www-form-urlencoded',
      },
      { face: 'h2ogpte', label: 'create an API key', method: 'POST', path: () => '/api/v1/admin/api-keys', headers: () => FACES.h2ogpte.auth(T.keys.admin), body: () => bodyWith({ user_id: T.ownerId, name: 'deep key' }, 'extra', depth) },
      { face: 'whylabs', label: 'create an API key (a body it ignores)', method: 'POST', path: () => `/v0/organizations/${T.orgId}/api-key?user_id=${T.ownerId}`, headers: () => FACES.whylabs.auth(T.keys.whylabsOwner), body: () => bodyWith({}, 'extra', depth) },
      { face: 'gateway', label: 'chat completion', method: 'POST', path: () => '/v1/chat/completions', headers: () => FACES.gateway.auth(projectKey), body: () => bodyWith({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, 'metadata', depth) },
      { face: 'gateway', label: 'Anthropic messages', method: 'POST', path: () => '/v1/messages', headers: () => ({ 'x-api-key': projectKey, 'anthropic-version': '2023-06-01' }), body: () => bodyWith({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }, 'metadata', depth) },
    ];

    for (const c of cases(DEEP)) {
      test(`${c.face}: ${c.label}, nested ${DEEP} deep → 400 in the face's envelope, nothing changed`, async () => {
        const body = c.body();
        assert.ok(body.length < 1024 * 1024);
        const upstreamBefore = mock.received.length;
        const before = await snapshot(s.rt.store);
        const res = await send(s, { method: c.method, path: c.path(), headers: c.headers(), body, ...(c.contentType ? { contentType: c.contentType } : {}) });
        const what = `${c.method} ${c.path()} → ${res.status} ${res.text.slice(0, 300)}`;
        assert.equal(res.status, 400, what);
        FACES[c.face].envelope(400, res.json, what);
        assert.match(res.text, /nested too deeply/, what);
        assert.match(res.text, new RegExp(`${MAX_JSON_DEPTH}`), what);
        assertNoStackTrace(res.text, what);
        if (c.face === 'gateway' && c.path() === '/v1/messages') assert.equal(res.json.error.type, 'invalid_request_error', what);
        if (c.contentType) assert.ok(Array.isArray(res.json.value), `a DRF field error on value: ${what}`);
        else if (c.face === 'iblai') assert.deepEqual(Object.keys(res.json), ['detail'], what);
        assertUnchanged(before, await snapshot(s.rt.store), what);
        assert.equal(mock.received.length, upstreamBefore, 'nothing sent upstream');
      });
    }

    test(`a body nested exactly ${MAX_JSON_DEPTH} deep still works on every face`, async () => {
      // OpenAI admin face, through the SDK: the unknown field is dropped, the project created
      const admin = openaiClient(s, T.keys.admin);
      const project = await admin.admin.organization.projects.create({ name: 'deep enough', metadata: nestedObject(MAX_JSON_DEPTH - 1) } as never);
      assertMatchesSpec(SPEC, 'post', '/organization/projects', 200, project);
      assert.equal(project.name, 'deep enough');

      // ibl.ai: the credential is stored and read back masked at every level
      const cred = await send(s, { method: 'POST', path: `/api/ai-account/orgs/${T.slug}/credential/`, headers: FACES.iblai.auth(T.keys.admin), body: bodyWith({ name: 'deep-enough', platform: T.slug }, 'value', MAX_JSON_DEPTH) });
      assert.ok(cred.status < 300, cred.text.slice(0, 300));
      const read = await send(s, { method: 'GET', path: `/api/ai-account/orgs/${T.slug}/credential/?name=deep-enough`, headers: FACES.iblai.auth(T.keys.admin) });
      assert.equal(read.status, 200, read.text.slice(0, 300));
      const one = Array.isArray(read.json) ? read.json.find((r: any) => r.name === 'deep-enough') : read.json;
      assert.equal(depthOf(one.value), MAX_JSON_DEPTH - 1);
      assert.ok(read.text.includes('****1234') && !read.text.includes('leaf-secret-value'), 'masked at the deepest level');
      const form = await send(s, {
        method: 'POST',
        path: `/api/ai-account/orgs/${T.slug}/integration-credential/`,
        headers: FACES.iblai.auth(T.keys.admin),
        body: new URLSearchParams({ name: 'deep-enough-form', platform: T.slug, value: nested(MAX_JSON_DEPTH) }).toString(),
        contentType: 'application/x-www-form-urlencoded',
      });
      assert.ok(form.status < 300, form.text.slice(0, 300));

      // the operator's platform API
      const def = await send(s, { method: 'PUT', path: '/platform/v1/default_credentials/openai', headers: FACES.platform.auth(rootKey), body: defaultCredentialBody(MAX_JSON_DEPTH) });
      assert.ok(def.status === 200 || def.status === 201, def.text.slice(0, 300));

      // h2oGPTe and WhyLabs
      const h2o = await send(s, { method: 'POST', path: '/api/v1/admin/api-keys', headers: FACES.h2ogpte.auth(T.keys.admin), body: bodyWith({ user_id: T.ownerId, name: 'deep enough' }, 'extra', MAX_JSON_DEPTH) });
      assert.ok(h2o.status < 300, h2o.text.slice(0, 300));
      const wl = await send(s, { method: 'POST', path: `/v0/organizations/${T.orgId}/api-key?user_id=${T.ownerId}`, headers: FACES.whylabs.auth(T.keys.whylabsOwner), body: bodyWith({}, 'extra', MAX_JSON_DEPTH) });
      assert.ok(wl.status < 300, wl.text.slice(0, 300));
    });

    test(`the gateway passes a tool schema nested ${MAX_JSON_DEPTH} deep upstream (official SDK, mock upstream)`, async () => {
      const client = new OpenAI({ apiKey: projectKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      // body → tools[] → {} → function → parameters: 5 levels, the schema's own nesting the rest
      const parameters = { type: 'object', properties: nestedObject(MAX_JSON_DEPTH - 6, { type: 'string' }) as Record<string, unknown> };
      const before = mock.received.length;
      const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function', function: { name: 'deep', parameters } }] });
      assert.equal(res.object, 'chat.completion');
      const got = mock.received[before]!;
      assert.equal(depthOf(got.body), MAX_JSON_DEPTH, 'the whole body, as deep as allowed, reached the upstream');
      assert.deepEqual(got.body.tools[0].function.parameters, parameters);
    });
  });
}
