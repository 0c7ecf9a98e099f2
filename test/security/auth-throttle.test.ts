// Failed-authentication throttle (KEYPLANE_AUTH_FAILURE_BURST / KEYPLANE_AUTH_FAILURE_WINDOW_MS), on
// every face, over HTTP against a real server on SQLite and PostgreSQL: a burst of bad credentials
// from one client address is answered 401, then 429 in that face's own envelope with Retry-After; a
// valid key from the same address keeps working meanwhile; another address is not affected; after the
// window the address gets 401s again; with a burst of 0 nothing is ever throttled.
//
// Each face is driven from its own loopback address (127.0.0.x, bound with undici's localAddress), so
// the buckets of different faces do not mix — the throttle counts per address, across all faces.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const BURST = 3;
// Long enough that nothing refills while a test runs, however slow the machine: the burst tests do
// not depend on timing. Recovery is checked on a server of its own with a short window (below).
const WINDOW_MS = 600_000;
const SHORT_WINDOW_MS = 1500;
const ROOT_KEY = randomBytes(32).toString('hex');

interface Res {
  status: number;
  json: any;
  text: string;
  retryAfter: string | null;
}

const agents = new Map<string, Agent>();
/** A dispatcher whose connections leave from `address` (any 127.0.0.0/8 address reaches the server). */
function from(address: string): Agent {
  let a = agents.get(address);
  if (!a) agents.set(address, (a = new Agent({ localAddress: address })));
  return a;
}

async function send(s: TestServer, address: string, path: string, headers: Record<string, string>): Promise<Res> {
  const res = await undiciFetch(`${s.url}${path}`, { headers, dispatcher: from(address) });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, retryAfter: res.headers.get('retry-after') };
}

/** The official SDK, its requests sent from `address`, without retries (a 429 must reach the test). */
function sdk(s: TestServer, address: string, key: { adminAPIKey: string } | { apiKey: string }): OpenAI {
  return new OpenAI({ ...key, baseURL: `${s.url}/v1`, maxRetries: 0, fetch: undiciFetch as unknown as typeof fetch, fetchOptions: { dispatcher: from(address) } as never });
}

interface Keys {
  admin: string;
  orgId: string;
  project: string;
}

interface FaceCase {
  name: string;
  /** A request with a valid credential: resolves with its status. */
  valid(s: TestServer, k: Keys, address: string): Promise<number>;
  /** A request with `bad` as the credential (null: none at all): its status, body and Retry-After. */
  bad(s: TestServer, k: Keys, address: string, bad: string | null): Promise<Res>;
  /** Asserts the face's own 429 envelope. */
  envelope429(r: Res): void;
}

/** What the SDK's error carries, as a Res. */
async function viaSdk(call: () => Promise<unknown>): Promise<Res> {
  try {
    await call();
    return { status: 200, json: undefined, text: '', retryAfter: null };
  } catch (err) {
    if (!(err instanceof OpenAI.APIError)) throw err;
    const json = { error: err.error };
    return { status: err.status ?? 0, json, text: JSON.stringify(json), retryAfter: err.headers?.get('retry-after') ?? null };
  }
}

/** OpenAI's envelope; its 429 type is `rate_limit_error` on the admin API, `requests` on the data plane (as OpenAI's own). */
const openai429 = (type: string) => (r: Res): void => {
  assert.deepEqual(Object.keys(r.json), ['error'], r.text);
  assert.deepEqual(Object.keys(r.json.error).sort(), ['code', 'message', 'param', 'type'], r.text);
  assert.equal(r.json.error.type, type, r.text);
  assert.equal(r.json.error.code, 'rate_limit_exceeded', r.text);
  assert.match(r.json.error.message, /failed authentication/i, r.text);
};

const bearer = (k: string | null): Record<string, string> => (k === null ? {} : { authorization: `Bearer ${k}` });

const CASES: FaceCase[] = [
  {
    name: 'OpenAI admin (/v1/organization)',
    valid: async (s, k, a) => (await viaSdk(() => sdk(s, a, { adminAPIKey: k.admin }).admin.organization.projects.list())).status,
    bad: (s, _k, a, bad) => (bad === null ? send(s, a, '/v1/organization/projects', {}) : viaSdk(() => sdk(s, a, { adminAPIKey: bad }).admin.organization.projects.list())),
    envelope429: openai429('rate_limit_error'),
  },
  {
    name: 'gateway (/v1/models)',
    valid: async (s, k, a) => (await viaSdk(() => sdk(s, a, { apiKey: k.project }).models.list())).status,
    bad: (s, _k, a, bad) => (bad === null ? send(s, a, '/v1/models', {}) : viaSdk(() => sdk(s, a, { apiKey: bad }).models.list())),
    envelope429: openai429('requests'),
  },
  {
    name: 'h2oGPTe (/api/v1)',
    valid: async (s, k, a) => (await send(s, a, '/api/v1/admin/api-keys', bearer(k.admin))).status,
    bad: (s, _k, a, bad) => send(s, a, '/api/v1/admin/api-keys', bearer(bad)),
    envelope429(r) {
      assert.deepEqual(Object.keys(r.json).sort(), ['code', 'message'], r.text);
      assert.equal(r.json.code, 429, r.text);
      assert.match(r.json.message, /failed authentication/i, r.text);
    },
  },
  {
    name: 'WhyLabs (/v0)',
    valid: async (s, k, a) => (await send(s, a, `/v0/organizations/${k.orgId}/api-key`, { 'x-api-key': `${k.admin}:${k.orgId}` })).status,
    bad: (s, k, a, bad) => send(s, a, `/v0/organizations/${k.orgId}/api-key`, bad === null ? {} : { 'x-api-key': `${bad}:${k.orgId}` }),
    envelope429(r) {
      assert.deepEqual(Object.keys(r.json).sort(), ['message', 'requestId', 'type'], r.text);
      assert.equal(r.json.type, 'TooManyRequests', r.text);
      assert.match(r.json.message, /failed authentication/i, r.text);
    },
  },
  {
    name: 'ibl.ai (/api/ai-account)',
    valid: async (s, k, a) => (await send(s, a, '/api/ai-account/orgs/main/credential/', { authorization: `Api-Token ${k.admin}` })).status,
    bad: (s, _k, a, bad) => send(s, a, '/api/ai-account/orgs/main/credential/', bad === null ? {} : { authorization: `Api-Token ${bad}` }),
    envelope429(r) {
      assert.deepEqual(Object.keys(r.json), ['detail'], r.text);
      assert.match(r.json.detail, /failed authentication/i, r.text);
    },
  },
  {
    name: 'platform (/platform/v1)',
    valid: async (s, _k, a) => (await send(s, a, '/platform/v1/organizations', bearer(ROOT_KEY))).status,
    bad: (s, _k, a, bad) => send(s, a, '/platform/v1/organizations', bearer(bad)),
    envelope429: openai429('rate_limit_error'),
  },
];

/** A well-formed credential that was never issued. */
const unknownKey = () => `sk-admin-${randomBytes(36).toString('base64url')}`;

async function keysOf(s: TestServer): Promise<Keys> {
  const org = await s.rt.store.db.selectFrom('organizations').select('id').where('slug', '=', 'main').executeTakeFirstOrThrow();
  const project = await s.rt.core.projects.create(SYSTEM, org.id, { name: `throttle-${randomBytes(3).toString('hex')}` });
  const sa = await s.rt.core.serviceAccounts.create(SYSTEM, org.id, project.id, { name: 'throttle-sa' });
  return { admin: s.adminKey, orgId: org.id, project: sa.key!.secret };
}

after(async () => {
  for (const a of agents.values()) await a.close();
});

for (const dialect of await testDialects()) {
  describe(`failed-authentication throttle (${dialect})`, () => {
    let s: TestServer;
    let keys: Keys;
    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY, authFailureBurst: String(BURST), authFailureWindowMs: String(WINDOW_MS) });
      keys = await keysOf(s);
    });
    after(async () => s?.close());

    CASES.forEach((face, i) => {
      test(`${face.name}: ${BURST} failures are 401s, then 429 in the face's envelope with Retry-After; a valid key still works`, async () => {
        const address = `127.0.0.${10 + i}`;
        const neighbour = `127.0.0.${100 + i}`;
        assert.equal(await face.valid(s, keys, address), 200, 'a valid key before any failure');
        // the burst: a missing credential and unknown keys all count
        for (let n = 0; n < BURST; n++) {
          const r = await face.bad(s, keys, address, n === 0 ? null : unknownKey());
          assert.equal(r.status, 401, `failure ${n + 1} of the burst: ${r.text}`);
        }
        const refused = await face.bad(s, keys, address, unknownKey());
        assert.equal(refused.status, 429, refused.text);
        face.envelope429(refused);
        assert.ok(refused.retryAfter !== null && /^\d+$/.test(refused.retryAfter) && Number(refused.retryAfter) >= 1, `Retry-After: ${refused.retryAfter}`);
        assert.ok(!refused.text.includes(keys.admin) && !/\n\s+at /.test(refused.text), 'no secret or stack trace in the answer');
        // a missing credential is refused the same way while throttled
        assert.equal((await face.bad(s, keys, address, null)).status, 429);

        // a valid key from the throttled address is neither refused nor throttled
        for (let n = 0; n < 3; n++) assert.equal(await face.valid(s, keys, address), 200, 'a valid key while the address is throttled');
        assert.equal((await face.bad(s, keys, address, unknownKey())).status, 429, 'successes do not lift the throttle');
        // another address is not affected
        assert.equal((await face.bad(s, keys, neighbour, unknownKey())).status, 401, 'another address gets its own burst');
      });
    });

    test('the throttle counts per address across faces, and an unknown URL\'s authentication counts too', async () => {
      const address = '127.0.0.50';
      const h2o = CASES.find((c) => c.name.startsWith('h2oGPTe'))!;
      // failures on the WhyLabs face, then an unknown URL under the h2oGPTe face
      for (let n = 0; n < BURST - 1; n++) assert.equal((await send(s, address, `/v0/organizations/${keys.orgId}/api-key`, { 'x-api-key': `${unknownKey()}:${keys.orgId}` })).status, 401);
      const unknownUrl = await send(s, address, '/api/v1/admin/no-such-thing', bearer(unknownKey()));
      assert.equal(unknownUrl.status, 401, unknownUrl.text);
      const refused = await send(s, address, '/api/v1/admin/no-such-thing', bearer(unknownKey()));
      assert.equal(refused.status, 429, refused.text);
      h2o.envelope429(refused);
      assert.ok(refused.retryAfter !== null && Number(refused.retryAfter) >= 1, `Retry-After: ${refused.retryAfter}`);
      // the valid key on the unknown URL still gets the face's 404
      assert.equal((await send(s, address, '/api/v1/admin/no-such-thing', bearer(keys.admin))).status, 404);
    });

    test('failed requests that were authenticated (a valid key refused for its role) are not counted', async () => {
      const address = '127.0.0.60';
      // a project key on the admin face is a 403: authentication succeeded, authorization did not
      for (let n = 0; n < BURST * 3; n++) assert.equal((await send(s, address, '/api/v1/admin/api-keys', bearer(keys.project))).status, 403);
      assert.equal((await send(s, address, '/api/v1/admin/api-keys', bearer(unknownKey()))).status, 401, 'the burst is untouched');
    });
  });

  describe(`failed-authentication throttle: recovery (${dialect})`, () => {
    let s: TestServer;
    let keys: Keys;
    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY, authFailureBurst: String(BURST), authFailureWindowMs: String(SHORT_WINDOW_MS) });
      keys = await keysOf(s);
    });
    after(async () => s?.close());

    test('once the window has passed, the address gets 401s again instead of 429s', async () => {
      const address = '127.0.0.80';
      const face = CASES[0]!;
      // fail until refused (a slow machine may refill a token meanwhile: keep going, up to a bound)
      let refused = false;
      for (let n = 0; n < 40 && !refused; n++) refused = (await face.bad(s, keys, address, unknownKey())).status === 429;
      assert.ok(refused, 'the address was throttled');
      await sleep(SHORT_WINDOW_MS + 300); // a full window without failures: the bucket is full again
      for (let n = 0; n < BURST; n++) assert.equal((await face.bad(s, keys, address, unknownKey())).status, 401, `after the window, failure ${n + 1}`);
    });
  });

  describe(`failed-authentication throttle off (${dialect})`, () => {
    let s: TestServer;
    let keys: Keys;
    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY, authFailureBurst: '0', authFailureWindowMs: String(WINDOW_MS) });
      keys = await keysOf(s);
    });
    after(async () => s?.close());

    test('KEYPLANE_AUTH_FAILURE_BURST=0: many failures from one address on every face are all 401s, never 429', async () => {
      const address = '127.0.0.70';
      for (const face of CASES) {
        for (let n = 0; n < 30; n++) {
          const r = await face.bad(s, keys, address, n % 5 === 0 ? null : unknownKey());
          assert.equal(r.status, 401, `${face.name}, failure ${n + 1}: ${r.text}`);
        }
        assert.equal(await face.valid(s, keys, address), 200, face.name);
      }
    });
  });
}
