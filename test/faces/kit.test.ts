// The face kit: a second face under `/v1` (shaped like the coming gateway) registers beside the
// OpenAI admin face, with its own auth and body options, under the one not-found handler; the admin
// face keeps its 1 MiB limit, unknown-field removal and NUL check while the other face gets bodies
// of many MB untouched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startServer, type TestServer } from '../helpers/server.ts';
import { assertOpenAIError, http, openaiClient } from '../helpers/http.ts';
import { FACES } from '../../src/server.ts';
import { defineFace, type Face } from '../../src/faces/kit.ts';
import { forbidden, rateLimited } from '../../src/domain/errors.ts';
import { authToken } from '../../src/faces/common.ts';
import { sendOpenAIError } from '../../src/faces/shared/openai-wire.ts';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A data-plane face under `/v1`: any key of an organization, 32 MB bodies passed through as bytes. */
const dataPlane: Face = defineFace({
  name: 'test-data-plane',
  prefix: '/v1',
  paths: ['/v1/chat', '/v1/models'],
  auth: { token: (req) => authToken(req), missing: 'data plane: no key', invalid: 'data plane: bad key' },
  org: (_req, actor) => (actor.type === 'key' ? { id: actor.key.orgId, slug: null } : null),
  admit(actor) {
    if (actor.type !== 'key') throw forbidden();
  },
  render: (reply, err) => sendOpenAIError(reply, err),
  notFoundMessage: (req) => `data plane has no ${req.url}`,
  body: {
    limit: 32 * 1024 * 1024,
    accept: 'none',
    removeUnknown: false,
    refuseNul: false,
    parsers: (app) => app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body)),
  },
  routes: async (app) => {
    app.post('/chat/completions', async (req) => {
      const raw = req.body as Buffer;
      return { bytes: raw.length, sha256: sha(raw), org: req.org.id, actor: req.actor.type };
    });
    app.get('/models', async () => ({ object: 'list', data: [] }));
    app.get('/models/limited', async () => {
      throw rateLimited({ limitName: 'requests_per_minute', limit: 3, remaining: 0, resetAt: Date.now() + 20_500, retryAfterSeconds: 20.5 });
    });
  },
});

describe('face kit: two faces under /v1', () => {
  let s: TestServer;
  before(async () => {
    // the real gateway owns these paths: this test puts its own data plane in its place
    s = await startServer('sqlite', {}, { faces: [...FACES.filter((f) => f.name !== 'gateway'), dataPlane] });
  });
  after(async () => s?.close());

  test('both faces start and serve their own routes, listed under their own names', async () => {
    const projects = await openaiClient(s, s.adminKey).admin.organization.projects.list();
    assert.ok(Array.isArray(projects.data));
    const models = await http(s, 'GET', '/v1/models', s.adminKey);
    assert.equal(models.status, 200);
    assert.deepEqual(models.json, { object: 'list', data: [] });
    const faceOf = (method: string, url: string) => s.app.routeList.find((r) => r.method === method && r.url === url)?.face;
    assert.equal(faceOf('GET', '/v1/organization/projects'), 'openai-admin');
    assert.equal(faceOf('POST', '/v1/chat/completions'), 'test-data-plane');
    assert.equal(faceOf('GET', '/healthz'), 'health');
  });

  test('each face authenticates with its own rules and messages', async () => {
    const noKey = await http(s, 'POST', '/v1/chat/completions', null, { model: 'm' });
    assert.equal(noKey.status, 401);
    assert.equal(noKey.json.error.message, 'data plane: no key');
    const adminNoKey = await http(s, 'GET', '/v1/organization/projects', null);
    assert.equal(adminNoKey.status, 401);
    assert.match(adminNoKey.json.error.message, /admin API key/);
  });

  test('a 20 MB body with unknown fields and NUL reaches the data plane byte for byte', async () => {
    const body = JSON.stringify({ model: 'm', unknown_field: { kept: true }, nul: '\u0000', image: 'A'.repeat(20 * 1024 * 1024) });
    const res = await http(s, 'POST', '/v1/chat/completions', s.adminKey, body);
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.equal(res.json.bytes, Buffer.byteLength(body));
    assert.equal(res.json.sha256, sha(body));
    assert.equal(res.json.actor, 'key');
  });

  test('the admin face keeps its 1 MiB limit and NUL check, in its own envelope', async () => {
    const big = await http(s, 'POST', '/v1/organization/projects', s.adminKey, { name: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(big.status, 413);
    assertOpenAIError(big.json);
    const nul = await http(s, 'POST', '/v1/organization/projects', s.adminKey, { name: 'a\u0000b' });
    assert.equal(nul.status, 400);
    assertOpenAIError(nul.json);
    // unknown fields are dropped by the admin face's validator, not refused
    const ok = await http(s, 'POST', '/v1/organization/projects', s.adminKey, { name: 'kit-project', not_a_field: 1 });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.not_a_field, undefined);
  });

  test("a domain rate_limited error is a 429 in the face's envelope with Retry-After", async () => {
    const res = await http(s, 'GET', '/v1/models/limited', s.adminKey);
    assert.equal(res.status, 429);
    assertOpenAIError(res.json, 'rate_limit_error');
    assert.equal(res.json.error.code, 'rate_limit_exceeded');
    assert.match(res.json.error.message, /requests_per_minute/);
    assert.equal(res.headers.get('retry-after'), '21');
  });

  test('unknown URLs: each face answers under its own paths, the rest of /v1 in the OpenAI envelope', async () => {
    const plane = await http(s, 'GET', '/v1/chat/nothing', s.adminKey);
    assert.equal(plane.status, 404);
    assert.equal(plane.json.error.message, 'data plane has no /v1/chat/nothing');
    const planeNoKey = await http(s, 'GET', '/v1/models/x/y', null);
    assert.equal(planeNoKey.status, 401, 'an unknown URL under a face is authenticated first');
    const admin = await http(s, 'GET', '/v1/organization/nothing', s.adminKey);
    assert.equal(admin.status, 404);
    assert.match(admin.json.error.message, /Invalid URL \(GET \/v1\/organization\/nothing\)/);
    const rest = await http(s, 'GET', '/v1/neither-face', null);
    assert.equal(rest.status, 404);
    assertOpenAIError(rest.json);
    const badUrl = await fetch(`${s.url}/v1/chat/%E0%A4%A`, { method: 'POST' });
    assert.equal(badUrl.status, 400);
    assertOpenAIError(await badUrl.json());
  });
});
