// WhyLabs face, API keys (/v0/organizations/{org_id}/api-key): driven over HTTP with fetch against a
// real server (the WhyLabs client is Python), every JSON answer checked against the spec extract, on
// SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { WHYLABS_KEY } from '../../../src/domain/user-keys.ts';
import { whylabsTime } from '../../../src/faces/whylabs/time.ts';

const SPEC = 'whylabs-api-key.subset.json';
const LIST = '/v0/organizations/{org_id}/api-key';
const ONE = '/v0/organizations/{org_id}/api-key/{key_id}';
// every response in the spec is `default`; the server answers 200
const STATUS = 'default';

interface Res {
  status: number;
  json: any;
  headers: Headers;
}

/** A WhyLabs request: no body and no Content-Type (as the Python client sends), key in X-API-Key. */
async function wl(s: TestServer, method: string, path: string, key: string | null, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(`${s.url}${path}`, { method, headers: { ...(key ? { 'x-api-key': key } : {}), ...headers } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const qs = (params: Record<string, string | number | string[] | undefined>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) u.append(k, String(x));
  }
  const t = u.toString();
  return t ? `?${t}` : '';
};

/** The WhyLabs error body: exactly message, requestId and type; no stack trace. */
function assertWhyLabsError(res: Res, status: number, type: string, message?: string | RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.deepEqual(Object.keys(res.json ?? {}).sort(), ['message', 'requestId', 'type']);
  assert.equal(res.json.type, type);
  assert.equal(typeof res.json.message, 'string');
  assert.equal(typeof res.json.requestId, 'string');
  assert.ok(!JSON.stringify(res.json).includes('    at '), 'no stack trace');
  if (typeof message === 'string') assert.equal(res.json.message, message);
  else if (message) assert.match(res.json.message, message);
}

const ISO_LOCAL = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,2}[1-9])?$/;

for (const dialect of await testDialects()) {
  describe(`WhyLabs API keys (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let reader: { id: string };
    let boss: { id: string };
    const base = () => `/v0/organizations/${orgId}/api-key`;
    const create = (key: string, params: Record<string, string | number | string[] | undefined>, path = base()) => wl(s, 'POST', `${path}${qs(params)}`, key);
    const auditCount = async () =>
      Number((await s.rt.store.db.selectFrom('audit_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const keyCount = async () => Number((await s.rt.store.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const rowOf = (keyId: string) => s.rt.store.db.selectFrom('api_keys').selectAll().where('public_id', '=', keyId).executeTakeFirstOrThrow();

    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      reader = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'reader@example.com', name: 'Reader', role: 'reader' });
      boss = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'boss@example.com', name: 'Boss', role: 'owner' });
    });
    after(async () => s?.close());

    test('create returns the key once in <keyId>.<suffix>:<orgId> form; get and list show metadata only', async () => {
      const audits = await auditCount();
      const expiration = Date.now() + 3_600_000 + 120;
      const created = await create(s.adminKey, { user_id: reader.id, expiration_time: expiration, scopes: [':user', ':write_data', ':user'], alias: 'MLApplicationName' });
      assert.equal(created.status, 200, JSON.stringify(created.json));
      assertMatchesSpec(SPEC, 'post', LIST, STATUS, created.json);
      const k = created.json;
      const [secret, suffixOrg, ...rest] = k.key.split(':');
      assert.equal(rest.length, 0);
      assert.match(secret, WHYLABS_KEY);
      assert.equal(secret.length, 64);
      assert.equal(suffixOrg, orgId);
      assert.equal(k.keyId, secret.slice(0, 10));
      assert.match(k.keyId, /^[A-Za-z0-9]{10}$/);
      assert.equal(k.orgId, orgId);
      assert.equal(k.userId, reader.id);
      assert.match(k.creationTime, ISO_LOCAL);
      assert.equal(k.expirationTime, whylabsTime(expiration));
      assert.deepEqual(k.scopes, [':user', ':write_data'], 'a set: repeated scopes count once');
      assert.equal(k.alias, 'MLApplicationName');
      assert.equal(k.revoked, false);
      assert.equal(k.lastUsedTime, undefined);
      assert.match(created.headers.get('content-type') ?? '', /^application\/json/);

      // get: {key: UserApiKey} without the secret
      const got = await wl(s, 'GET', `${base()}/${k.keyId}`, s.adminKey);
      assert.equal(got.status, 200);
      assertMatchesSpec(SPEC, 'get', ONE, STATUS, got.json);
      const { key: _secret, ...meta } = k;
      assert.deepEqual(got.json, { key: meta });
      // list, with and without user_id: metadata, never the secret
      for (const path of [base(), `${base()}${qs({ user_id: reader.id })}`]) {
        const list = await wl(s, 'GET', path, s.adminKey);
        assert.equal(list.status, 200);
        assertMatchesSpec(SPEC, 'get', LIST, STATUS, list.json);
        assert.deepEqual(Object.keys(list.json), ['items']);
        assert.deepEqual(list.json.items.find((i: any) => i.keyId === k.keyId), meta);
        assert.ok(!JSON.stringify(list.json).includes(secret));
        assert.ok(list.json.items.every((i: any) => i.key === undefined));
      }
      // one audit row, api_key.created, for the stored key
      const row = await rowOf(k.keyId);
      assert.equal(row.kind, 'user');
      assert.equal(row.owner_id, reader.id);
      assert.equal(await auditCount(), audits + 1);
      const audit = await s.rt.store.db.selectFrom('audit_logs').selectAll().where('target_id', '=', row.id).execute();
      assert.deepEqual(audit.map((a) => a.type), ['api_key.created']);
      assert.ok(!JSON.stringify(audit).includes(secret), 'the secret is not in the audit log');
    });

    test('null fields are left out: no scopes, expiration or alias unless given; one scope is an array', async () => {
      const bare = await create(s.adminKey, { user_id: reader.id });
      assert.equal(bare.status, 200);
      assertMatchesSpec(SPEC, 'post', LIST, STATUS, bare.json);
      assert.deepEqual(Object.keys(bare.json).sort(), ['creationTime', 'key', 'keyId', 'orgId', 'revoked', 'userId']);
      assert.ok(!JSON.stringify(bare.json).includes('null'));
      const one = await create(s.adminKey, { user_id: reader.id, scopes: ':administrator' });
      assert.equal(one.status, 200);
      assert.deepEqual(one.json.scopes, [':administrator']);
      // a body and a Content-Type, should a client send them, are ignored rather than refused
      const withBody = await fetch(`${s.url}${base()}${qs({ user_id: reader.id })}`, { method: 'POST', headers: { 'x-api-key': s.adminKey, 'content-type': 'text/plain' }, body: 'ignored' });
      assert.equal(withBody.status, 200);
      // the organization's slug names it as well as its id; the answer carries the id
      const bySlug = await create(s.adminKey, { user_id: reader.id }, '/v0/organizations/main/api-key');
      assert.equal(bySlug.status, 200);
      assert.equal(bySlug.json.orgId, orgId);
      assert.ok(bySlug.json.key.endsWith(`:${orgId}`));
    });

    test('the key authenticates with and without its :orgId suffix, in the header or a cookie', async () => {
      const { json: k } = await create(s.adminKey, { user_id: reader.id, alias: 'auth' });
      const secret = k.key.split(':')[0];
      const own = `${base()}${qs({ user_id: reader.id })}`;
      for (const presented of [k.key, secret]) {
        const res = await wl(s, 'GET', own, presented);
        assert.equal(res.status, 200, presented === secret ? 'bare key' : 'suffixed key');
        assertMatchesSpec(SPEC, 'get', LIST, STATUS, res.json);
        assert.ok(res.json.items.some((i: any) => i.keyId === k.keyId));
      }
      const cookie = await wl(s, 'GET', own, null, { cookie: `other=1; X-API-Key=${encodeURIComponent(k.key)}` });
      assert.equal(cookie.status, 200);
      // the admin key of the organization works too, with or without a suffix
      assert.equal((await wl(s, 'GET', base(), `${s.adminKey}:${orgId}`)).status, 200);
      // last use is recorded (buffered, then flushed) and shown
      await s.rt.core.flush();
      const listed = await wl(s, 'GET', own, s.adminKey);
      const item = listed.json.items.find((i: any) => i.keyId === k.keyId);
      assert.match(item.lastUsedTime, ISO_LOCAL);
      assertMatchesSpec(SPEC, 'get', LIST, STATUS, listed.json);
    });

    test('revoke: refused on the very next request, idempotent, hidden from get and the org list, shown to user_id', async () => {
      const { json: k } = await create(s.adminKey, { user_id: reader.id, alias: 'victim' });
      const own = `${base()}${qs({ user_id: reader.id })}`;
      assert.equal((await wl(s, 'GET', own, k.key)).status, 200); // cached now
      await s.rt.core.flush(); // its last use is written now, not between the two revokes below
      const audits = await auditCount();
      const revokePath = `${base()}${qs({ user_id: reader.id, key_id: k.keyId })}`;
      const first = await wl(s, 'DELETE', revokePath, s.adminKey);
      assert.equal(first.status, 200);
      assertMatchesSpec(SPEC, 'delete', LIST, STATUS, first.json);
      assert.equal(first.json.revoked, true);
      assert.equal(first.json.keyId, k.keyId);
      assert.equal(first.json.key, undefined);
      assertWhyLabsError(await wl(s, 'GET', own, k.key), 401, 'Unauthorized');
      assertWhyLabsError(await wl(s, 'GET', own, k.key.split(':')[0]), 401, 'Unauthorized');
      // revoking twice is fine, and changes (and audits) nothing more
      const second = await wl(s, 'DELETE', revokePath, s.adminKey);
      assert.equal(second.status, 200);
      assertMatchesSpec(SPEC, 'delete', LIST, STATUS, second.json);
      assert.deepEqual(second.json, first.json);
      assert.equal(await auditCount(), audits + 1);
      const row = await rowOf(k.keyId);
      assert.equal(row.status, 'revoked');
      const audit = await s.rt.store.db.selectFrom('audit_logs').selectAll().where('target_id', '=', row.id).orderBy('id').execute();
      assert.deepEqual(audit.map((a) => a.type), ['api_key.created', 'api_key.updated']);
      // get of a revoked key: 200 {}
      const got = await wl(s, 'GET', `${base()}/${k.keyId}`, s.adminKey);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json, {});
      assertMatchesSpec(SPEC, 'get', ONE, STATUS, got.json);
      // the organization's list leaves it out; the user's list has it, revoked
      const org = await wl(s, 'GET', base(), s.adminKey);
      assert.ok(!org.json.items.some((i: any) => i.keyId === k.keyId));
      assert.ok(org.json.items.every((i: any) => i.revoked === false));
      const mine = await wl(s, 'GET', own, s.adminKey);
      assertMatchesSpec(SPEC, 'get', LIST, STATUS, mine.json);
      assert.equal(mine.json.items.find((i: any) => i.keyId === k.keyId)?.revoked, true);
    });

    test('expiry is enforced on every authentication, not only when listing', async () => {
      const { json: k } = await create(s.adminKey, { user_id: reader.id, expiration_time: Date.now() + 3_600_000 });
      const own = `${base()}${qs({ user_id: reader.id })}`;
      assert.equal((await wl(s, 'GET', own, k.key)).status, 200); // cached now
      const row = await rowOf(k.keyId);
      const soon = Date.now() + 500;
      await s.rt.core.keys.setExpiry(SYSTEM, orgId, row.id, soon);
      await new Promise((r) => setTimeout(r, Math.max(0, soon - Date.now() + 50)));
      assertWhyLabsError(await wl(s, 'GET', own, k.key), 401, 'Unauthorized');
      // an expired key is not revoked: still listed, with its (past) expiration time
      const org = await wl(s, 'GET', base(), s.adminKey);
      const item = org.json.items.find((i: any) => i.keyId === k.keyId);
      assert.equal(item.expirationTime, whylabsTime(soon));
      assert.equal(item.revoked, false);
    });

    test('bad input answers the WhyLabs error body and changes nothing', async () => {
      const { json: k } = await create(s.adminKey, { user_id: boss.id });
      const audits = await auditCount();
      const keys = await keyCount();
      const now = Date.now();
      const cases: Array<[string, string, number, string, string | RegExp]> = [
        ['POST', `${base()}${qs({ user_id: reader.id, expiration_time: now - 1000 })}`, 400, 'IllegalArgument', 'Invalid expiration time'],
        ['POST', `${base()}${qs({ user_id: reader.id, expiration_time: now + 30_000 })}`, 400, 'IllegalArgument', 'Invalid expiration time'],
        ['POST', `${base()}${qs({ user_id: reader.id, expiration_time: 0 })}`, 400, 'IllegalArgument', 'Invalid expiration time'],
        ['POST', `${base()}${qs({ user_id: reader.id, expiration_time: '1e30' })}`, 400, 'IllegalArgument', /expiration/],
        ['POST', `${base()}${qs({ user_id: reader.id, expiration_time: 'tomorrow' })}`, 400, 'IllegalArgument', /expiration_time/],
        ['POST', `${base()}${qs({ user_id: reader.id, scopes: [':user', ':root'] })}`, 400, 'IllegalArgument', 'Invalid scope provided: :root'],
        ['POST', `${base()}${qs({ user_id: reader.id, scopes: 'user' })}`, 400, 'IllegalArgument', 'Invalid scope provided: user'],
        ['POST', `${base()}${qs({ alias: 'x' })}`, 400, 'IllegalArgument', /user_id/],
        ['POST', `${base()}${qs({ user_id: 'user-nobody' })}`, 404, 'ResourceNotFound', /user-nobody/],
        ['POST', `${base()}${qs({ user_id: reader.id, alias: 'x'.repeat(300) })}`, 400, 'IllegalArgument', /256/],
        ['GET', `${base()}/short`, 400, 'IllegalArgument', /key_id/],
        ['GET', `${base()}/${'a'.repeat(11)}`, 400, 'IllegalArgument', /key_id/],
        ['DELETE', `${base()}${qs({ user_id: boss.id, key_id: 'bad.id!' })}`, 400, 'IllegalArgument', /key_id/],
        ['DELETE', `${base()}${qs({ key_id: k.keyId })}`, 400, 'IllegalArgument', /user_id/],
        ['DELETE', `${base()}${qs({ user_id: boss.id })}`, 400, 'IllegalArgument', /key_id/],
        ['DELETE', `${base()}${qs({ user_id: boss.id, key_id: 'AAAAAAAAAA' })}`, 404, 'ResourceNotFound', 'Resource ApiKey with ID AAAAAAAAAA not found.'],
        // the key exists but is not user_id's
        ['DELETE', `${base()}${qs({ user_id: reader.id, key_id: k.keyId })}`, 404, 'ResourceNotFound', `Resource ApiKey with ID ${k.keyId} not found.`],
        // another organization's id (or an unknown slug) in the path
        ['POST', `/v0/organizations/org-00000000000000000000000000/api-key${qs({ user_id: reader.id })}`, 403, 'Forbidden', /organization/],
        ['GET', `/v0/organizations/nosuchorg/api-key`, 403, 'Forbidden', /organization/],
        ['GET', `/v0/organizations/org-x/api-key/${k.keyId}`, 403, 'Forbidden', /organization/],
        ['DELETE', `/v0/organizations/org-x/api-key${qs({ user_id: boss.id, key_id: k.keyId })}`, 403, 'Forbidden', /organization/],
        // malformed URLs and unknown routes under /v0
        ['GET', `/v0/organizations/%E0%A4%A/api-key`, 400, 'IllegalArgument', /url/],
        ['GET', `/v0/organizations/${orgId}/nothing-here`, 404, 'ResourceNotFound', /nothing-here/],
        ['PUT', base(), 404, 'ResourceNotFound', /PUT/],
      ];
      for (const [method, path, status, type, message] of cases) {
        const res = await wl(s, method, path, s.adminKey);
        assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.json)}`);
        assertWhyLabsError(res, status, type, message);
      }
      assert.equal(await auditCount(), audits);
      assert.equal(await keyCount(), keys);
      assert.equal((await rowOf(k.keyId)).status, 'active');
      // requestId is the caller's X-Request-Id, else WhyLabs' placeholder
      const traced = await wl(s, 'POST', `${base()}${qs({ user_id: reader.id, scopes: ':nope' })}`, s.adminKey, { 'x-request-id': 'trace-123' });
      assertWhyLabsError(traced, 400, 'IllegalArgument');
      assert.equal(traced.json.requestId, 'trace-123');
      const untraced = await wl(s, 'POST', `${base()}${qs({ user_id: reader.id, scopes: ':nope' })}`, s.adminKey);
      assert.equal(untraced.json.requestId, 'unknown-request-id');
    });

    test('missing and unknown keys get 401 in the WhyLabs body, without echoing the key', async () => {
      assertWhyLabsError(await wl(s, 'GET', base(), null), 401, 'Unauthorized');
      const fake = `ABCDEFGHIJ.${'x'.repeat(53)}`;
      const res = await wl(s, 'GET', base(), `${fake}:${orgId}`);
      assertWhyLabsError(res, 401, 'Unauthorized');
      assert.ok(!JSON.stringify(res.json).includes('x'.repeat(20)));
      assertWhyLabsError(await wl(s, 'GET', base(), 'a:b:c'), 401, 'Unauthorized');
      // the auth failure comes before the route is even looked at
      assertWhyLabsError(await wl(s, 'GET', '/v0/nothing', null), 401, 'Unauthorized');
      assertWhyLabsError(await wl(s, 'GET', '/v0/nothing', s.adminKey), 404, 'ResourceNotFound');
    });

    test("a reader's key manages its own keys only; an owner's key administers the organization", async () => {
      const { json: readerKey } = await create(s.adminKey, { user_id: reader.id, alias: 'reader' });
      const { json: bossKey } = await create(s.adminKey, { user_id: boss.id, alias: 'boss' });
      const rk = readerKey.key;
      // own keys: create, list (with user_id), get, revoke
      const made = await create(rk, { user_id: reader.id, alias: 'self-made', scopes: ':user' });
      assert.equal(made.status, 200);
      assertMatchesSpec(SPEC, 'post', LIST, STATUS, made.json);
      const own = await wl(s, 'GET', `${base()}${qs({ user_id: reader.id })}`, rk);
      assert.equal(own.status, 200);
      assert.ok(own.json.items.every((i: any) => i.userId === reader.id));
      assert.ok(own.json.items.some((i: any) => i.keyId === made.json.keyId));
      assert.deepEqual((await wl(s, 'GET', `${base()}/${made.json.keyId}`, rk)).json.key.alias, 'self-made');
      const revoked = await wl(s, 'DELETE', `${base()}${qs({ user_id: reader.id, key_id: made.json.keyId })}`, rk);
      assert.equal(revoked.status, 200);
      assert.equal(revoked.json.revoked, true);
      // everyone else's: refused, and nothing changes
      const audits = await auditCount();
      assertWhyLabsError(await wl(s, 'GET', base(), rk), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', `${base()}${qs({ user_id: boss.id })}`, rk), 403, 'Forbidden');
      assertWhyLabsError(await create(rk, { user_id: boss.id }), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', `${base()}/${bossKey.keyId}`, rk), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'DELETE', `${base()}${qs({ user_id: boss.id, key_id: bossKey.keyId })}`, rk), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'DELETE', `${base()}${qs({ user_id: reader.id, key_id: bossKey.keyId })}`, rk), 404, 'ResourceNotFound');
      assert.equal(await auditCount(), audits);
      assert.equal((await wl(s, 'GET', `${base()}${qs({ user_id: boss.id })}`, bossKey.key)).status, 200);
      // the owner's key is an administrator: the whole organization, and other users' keys
      const all = await wl(s, 'GET', base(), bossKey.key);
      assert.equal(all.status, 200);
      assert.ok(all.json.items.some((i: any) => i.keyId === readerKey.keyId));
      const forReader = await create(bossKey.key, { user_id: reader.id });
      assert.equal(forReader.status, 200);
      assert.equal(forReader.json.userId, reader.id);
      const gone = await wl(s, 'DELETE', `${base()}${qs({ user_id: reader.id, key_id: forReader.json.keyId })}`, bossKey.key);
      assert.equal(gone.status, 200);
    });

    test('only WhyLabs-format user keys appear here', async () => {
      const sk = await s.rt.core.userKeys.create(SYSTEM, orgId, { userId: reader.id, format: 'sk', name: 'h2o-style' });
      const all = await wl(s, 'GET', base(), s.adminKey);
      const mine = await wl(s, 'GET', `${base()}${qs({ user_id: reader.id })}`, s.adminKey);
      for (const list of [all, mine]) {
        assertMatchesSpec(SPEC, 'get', LIST, STATUS, list.json);
        assert.ok(!list.json.items.some((i: any) => i.alias === 'h2o-style'));
        assert.ok(list.json.items.every((i: any) => /^[A-Za-z0-9]{10}$/.test(i.keyId)));
      }
      // the sk- key is still a keyplane key of this organization and authenticates here, as itself
      const res = await wl(s, 'GET', `${base()}${qs({ user_id: reader.id })}`, sk.secret);
      assert.equal(res.status, 200);
    });

    test("another organization's keys neither reach this organization nor see its keys", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' });
      const otherOrg = other.org.id;
      const otherAdmin = other.adminKey.secret;
      const { json: mine } = await create(s.adminKey, { user_id: reader.id, alias: 'mine' });
      const audits = await auditCount();
      // B's admin key on A's path: 403 for every operation
      assertWhyLabsError(await wl(s, 'GET', base(), otherAdmin), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', `${base()}${qs({ user_id: reader.id })}`, otherAdmin), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', `${base()}/${mine.keyId}`, otherAdmin), 403, 'Forbidden');
      assertWhyLabsError(await create(otherAdmin, { user_id: reader.id }), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'DELETE', `${base()}${qs({ user_id: reader.id, key_id: mine.keyId })}`, otherAdmin), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', '/v0/organizations/main/api-key', otherAdmin), 403, 'Forbidden');
      // on its own path, A's keys do not exist
      const otherBase = `/v0/organizations/${otherOrg}/api-key`;
      const got = await wl(s, 'GET', `${otherBase}/${mine.keyId}`, otherAdmin);
      assert.equal(got.status, 200);
      assert.deepEqual(got.json, {});
      const listed = await wl(s, 'GET', otherBase, otherAdmin);
      assertMatchesSpec(SPEC, 'get', LIST, STATUS, listed.json);
      assert.deepEqual(listed.json.items, []);
      assert.deepEqual((await wl(s, 'GET', `${otherBase}${qs({ user_id: reader.id })}`, otherAdmin)).json.items, []);
      assertWhyLabsError(await wl(s, 'DELETE', `${otherBase}${qs({ user_id: reader.id, key_id: mine.keyId })}`, otherAdmin), 404, 'ResourceNotFound');
      assertWhyLabsError(await wl(s, 'POST', `${otherBase}${qs({ user_id: reader.id })}`, otherAdmin), 404, 'ResourceNotFound');
      // and A's keys do not reach B
      assertWhyLabsError(await wl(s, 'GET', otherBase, mine.key), 403, 'Forbidden');
      assertWhyLabsError(await wl(s, 'GET', otherBase, s.adminKey), 403, 'Forbidden');
      assert.equal(await auditCount(), audits);
      assert.equal((await rowOf(mine.keyId)).status, 'active');
      assert.equal((await wl(s, 'GET', `${base()}${qs({ user_id: reader.id })}`, mine.key)).status, 200);
    });
  });
}
