// WhyLabs face, cross-site request forgery guard: a write (POST, PUT, PATCH, DELETE) authenticated by
// the X-API-Key cookie is accepted only from the server's own origin or one in
// KEYPLANE_ALLOWED_ORIGINS (Origin header, else Referer's origin); a foreign or missing origin gets a
// 403 in WhyLabs' envelope and changes nothing. Header-authenticated requests and reads pass. Driven
// over HTTP against a real server on SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'whylabs-api-key.subset.json';
const LIST = '/v0/organizations/{org_id}/api-key';
const ALLOWED = 'https://console.example.com';

interface Res {
  status: number;
  json: any;
}

/** A raw HTTP request (node:http: Origin, Referer and Cookie are sent exactly as given). */
function send(s: TestServer, method: string, path: string, headers: Record<string, string>): Promise<Res> {
  const u = new URL(path, s.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function assertRefused(res: Res): void {
  assert.equal(res.status, 403, JSON.stringify(res.json));
  assert.deepEqual(Object.keys(res.json ?? {}).sort(), ['message', 'requestId', 'type']);
  assert.equal(res.json.type, 'Forbidden');
  assert.match(res.json.message, /origin/i);
  assert.ok(!JSON.stringify(res.json).includes('    at '), 'no stack trace');
}

for (const dialect of await testDialects()) {
  describe(`WhyLabs cookie writes and origins (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let userId: string;
    const cookie = () => ({ cookie: `session=abc; X-API-Key=${encodeURIComponent(`${s.adminKey}:${orgId}`)}` });
    const createPath = (alias: string) => `/v0/organizations/${orgId}/api-key?user_id=${userId}&alias=${alias}`;
    const count = async (table: 'api_keys' | 'audit_logs') =>
      Number((await s.rt.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

    /** A cookie-authenticated create that must be refused and leave keys and audit log unchanged. */
    async function refusedCreate(headers: Record<string, string>, alias: string): Promise<void> {
      const keys = await count('api_keys');
      const audits = await count('audit_logs');
      assertRefused(await send(s, 'POST', createPath(alias), { ...cookie(), ...headers }));
      assert.equal(await count('api_keys'), keys, 'no key was made');
      assert.equal(await count('audit_logs'), audits, 'nothing was audited');
    }

    async function acceptedCreate(headers: Record<string, string>, alias: string): Promise<any> {
      const keys = await count('api_keys');
      const res = await send(s, 'POST', createPath(alias), headers);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assertMatchesSpec(SPEC, 'post', LIST, 'default', res.json);
      assert.equal(res.json.alias, alias);
      assert.equal(await count('api_keys'), keys + 1);
      return res.json;
    }

    before(async () => {
      s = await startServer(dialect, { allowedOrigins: `${ALLOWED}, http://localhost:3000` });
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      userId = (await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'owner@example.com', name: 'Owner', role: 'owner' })).id;
    });
    after(async () => s?.close());

    test('a cookie write from a foreign Origin is a 403 in the WhyLabs envelope and changes nothing', async () => {
      await refusedCreate({ origin: 'https://evil.example' }, 'evil');
      // the Origin wins over a Referer of an allowed origin; "null" (sandboxed frames) is foreign
      await refusedCreate({ origin: 'https://evil.example', referer: `${ALLOWED}/page` }, 'evil2');
      await refusedCreate({ origin: 'null' }, 'evil3');
      // same host, other scheme or port: another origin
      await refusedCreate({ origin: s.url.replace('http://', 'https://') }, 'evil4');
      await refusedCreate({ origin: 'http://127.0.0.1:1' }, 'evil5');
      // a revoke (DELETE) from a foreign origin leaves the key working
      const victim = await acceptedCreate({ 'x-api-key': s.adminKey }, 'victim');
      assertRefused(await send(s, 'DELETE', `/v0/organizations/${orgId}/api-key?user_id=${userId}&key_id=${victim.keyId}`, { ...cookie(), origin: 'https://evil.example' }));
      const still = await send(s, 'GET', `/v0/organizations/${orgId}/api-key/${victim.keyId}`, { 'x-api-key': s.adminKey });
      assert.equal(still.status, 200, JSON.stringify(still.json));
      assert.equal(still.json.key.keyId, victim.keyId, 'a revoked key would be hidden (404)');
      assert.equal(still.json.key.revoked, false);
      // the same revoke from an allowed origin goes through
      const revoked = await send(s, 'DELETE', `/v0/organizations/${orgId}/api-key?user_id=${userId}&key_id=${victim.keyId}`, { ...cookie(), origin: ALLOWED });
      assert.equal(revoked.status, 200, JSON.stringify(revoked.json));
      assert.equal(revoked.json.revoked, true);
    });

    test('a cookie write without Origin and Referer is refused', async () => {
      await refusedCreate({}, 'bare');
    });

    test('a cookie write from the server\'s own origin works', async () => {
      await acceptedCreate({ ...cookie(), origin: s.url }, 'same-origin');
    });

    test('a cookie write from an origin in KEYPLANE_ALLOWED_ORIGINS works', async () => {
      await acceptedCreate({ ...cookie(), origin: ALLOWED }, 'allowed-origin');
      await acceptedCreate({ ...cookie(), origin: 'http://localhost:3000' }, 'allowed-origin2');
    });

    test('without Origin, the Referer\'s origin decides', async () => {
      await acceptedCreate({ ...cookie(), referer: `${ALLOWED}/dashboard?tab=keys` }, 'allowed-referer');
      await acceptedCreate({ ...cookie(), referer: `${s.url}/ui/keys` }, 'same-referer');
      await refusedCreate({ referer: 'https://evil.example/page' }, 'evil-referer');
    });

    test('a header-authenticated write from any Origin works', async () => {
      await acceptedCreate({ 'x-api-key': s.adminKey, origin: 'https://evil.example' }, 'header-foreign');
      // the header authenticates even when a cookie is sent too
      await acceptedCreate({ 'x-api-key': s.adminKey, ...cookie(), origin: 'https://evil.example' }, 'header-and-cookie');
    });

    test('a cookie GET from a foreign origin works', async () => {
      const res = await send(s, 'GET', `/v0/organizations/${orgId}/api-key`, { ...cookie(), origin: 'https://evil.example' });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assertMatchesSpec(SPEC, 'get', LIST, 'default', res.json);
      assert.ok(Array.isArray(res.json.items) && res.json.items.length > 0);
    });
  });
}
