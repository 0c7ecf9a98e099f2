// KEYPLANE_ROLE: a gateway node serves the data plane and the health probes, an admin node the admin
// faces and the health probes, `all` everything; a URL of a face served by the other role is a 404
// in that face's own envelope, answered without looking at credentials.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createTestDb } from '../helpers/db.ts';
import { assertOpenAIError, http } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { adminKeysIn, http as request, killAll, startServer as spawnServer } from './spawn.ts';

const ROOT_KEY = 'rk_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

describe('KEYPLANE_ROLE=gateway', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('sqlite', { role: 'gateway', rootKey: ROOT_KEY });
  });
  after(() => s?.close());

  test('health probes answer and report the role', async () => {
    const h = await http(s, 'GET', '/healthz', null);
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { status: 'ok', role: 'gateway' });
    const r = await http(s, 'GET', '/readyz', null);
    assert.equal(r.status, 200);
    assert.equal(r.json.role, 'gateway');
  });

  test('the gateway is routed: chat completions without a key is its 401', async () => {
    const r = await http(s, 'POST', '/v1/chat/completions', null, chat);
    assert.equal(r.status, 401);
    assertOpenAIError(r.json);
  });

  test('the OpenAI admin API is a 404 in the OpenAI envelope, even with a valid admin key', async () => {
    for (const key of [null, s.adminKey]) {
      const r = await http(s, 'GET', '/v1/organization/projects', key);
      assert.equal(r.status, 404, JSON.stringify(r.json));
      assertOpenAIError(r.json);
      assert.equal(r.json.error.message, 'Invalid URL (GET /v1/organization/projects).');
    }
  });

  test('the other admin faces are 404s in their own envelopes', async () => {
    const ibl = await http(s, 'GET', '/api/ai-account/orgs/main/users/', null);
    assert.equal(ibl.status, 404);
    assert.deepEqual(ibl.json, { detail: 'Not found.' });
    for (const url of ['/api/v1/collections', '/v0/organizations/main/api-key', '/platform/v1/organizations']) {
      const r = await http(s, 'GET', url, null);
      assert.equal(r.status, 404, `${url}: ${JSON.stringify(r.json)}`);
    }
  });

  test('the route list holds the gateway and health only', () => {
    const faces = new Set(s.app.routeList.map((r) => r.face));
    assert.deepEqual([...faces].sort(), ['gateway', 'health']);
  });
});

describe('KEYPLANE_ROLE=admin', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('sqlite', { role: 'admin', rootKey: ROOT_KEY });
  });
  after(() => s?.close());

  test('health reports the role', async () => {
    assert.deepEqual((await http(s, 'GET', '/healthz', null)).json, { status: 'ok', role: 'admin' });
  });

  test('the admin faces work', async () => {
    const r = await http(s, 'GET', '/v1/organization/projects', s.adminKey);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.object, 'list');
    const p = await http(s, 'GET', '/platform/v1/organizations', ROOT_KEY);
    assert.equal(p.status, 200, JSON.stringify(p.json));
  });

  test('gateway URLs are 404s in the OpenAI envelope, with or without a key', async () => {
    for (const key of [null, 'sk-proj-nonsense']) {
      const r = await http(s, 'POST', '/v1/chat/completions', key, chat);
      assert.equal(r.status, 404, JSON.stringify(r.json));
      assertOpenAIError(r.json);
      assert.equal(r.json.error.message, 'Invalid URL (POST /v1/chat/completions).');
    }
    const m = await http(s, 'GET', '/v1/models', null);
    assert.equal(m.status, 404);
    assertOpenAIError(m.json);
  });

  test('the route list has no gateway route', () => {
    const faces = new Set(s.app.routeList.map((r) => r.face));
    assert.ok(!faces.has('gateway'));
    for (const f of ['health', 'openai-admin', 'h2ogpte', 'whylabs', 'iblai', 'platform']) assert.ok(faces.has(f), f);
  });
});

describe('KEYPLANE_ROLE=all (the default)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer('sqlite');
  });
  after(() => s?.close());

  test('serves both the gateway and the admin faces', async () => {
    assert.deepEqual((await http(s, 'GET', '/healthz', null)).json, { status: 'ok', role: 'all' });
    const g = await http(s, 'POST', '/v1/chat/completions', null, chat);
    assert.equal(g.status, 401);
    assertOpenAIError(g.json);
    const a = await http(s, 'GET', '/v1/organization/projects', s.adminKey);
    assert.equal(a.status, 200);
  });
});

describe('`keyplane serve --role gateway` as a process', () => {
  after(killAll);

  test('on a fresh database it creates no organization and prints no admin key; SIGTERM exits 0', async () => {
    const db = await createTestDb('sqlite');
    try {
      const s = await spawnServer(db, { args: ['--role', 'gateway'] });
      const ready = await s.proc.waitForLog('keyplane ready', (r) => r.msg === 'keyplane ready');
      assert.equal(ready.role, 'gateway');
      assert.deepEqual((await request(s.url, '/healthz')).json, { status: 'ok', role: 'gateway' });
      assert.equal((await request(s.url, '/v1/organization/admin_api_keys')).status, 404);
      assert.deepEqual(adminKeysIn(s.proc.stdout), []);
      assert.ok(!fs.existsSync(path.join(db.dataDir, 'admin-key')), 'no admin-key file');
      assert.deepEqual(await s.proc.stop('SIGTERM'), { code: 0, signal: null });
    } finally {
      await killAll();
      await db.drop();
    }
  });
});
