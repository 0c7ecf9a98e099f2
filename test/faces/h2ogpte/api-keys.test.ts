// h2oGPTe face, API keys (/api/v1/admin/api-keys… and /api/v1/admin/api_keys…): driven over HTTP
// against a real server (there is no npm client), every JSON body checked against the spec extract,
// on SQLite and PostgreSQL. Keys made here are user keys of the shared store.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { http, assertOpenAIError, type RawResponse } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec, SPECS_DIR } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

const SPEC = 'h2ogpte-api-keys.subset.json';
/** The spec has only the underscore paths; the hyphen spelling answers the same shapes. */
const T = {
  list: '/admin/api_keys',
  deactivate: '/admin/api_keys/deactivate/{key_id}',
  expire: '/admin/api_keys/expire/{key_id}',
  one: '/admin/api_keys/{key_id}',
};
const SPELLINGS = ['/admin/api-keys', '/admin/api_keys'] as const;
const DAY = 86_400_000;

// EndpointError lives behind `$ref`ed responses, which a JSON pointer cannot walk: validate it directly.
const spec = JSON.parse(fs.readFileSync(path.join(SPECS_DIR, SPEC), 'utf8'));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
ajv.addSchema(spec, SPEC);
const endpointError = ajv.compile<any>({ $ref: `${SPEC}#/components/schemas/EndpointError` });

const h2o = (s: TestServer, method: string, p: string, key: string | null, body?: unknown, contentType?: string): Promise<RawResponse> =>
  http(s, method, `/api/v1${p}`, key, body, contentType);

/** The face's error body: exactly {code, message}, code = status, no stack trace. */
function assertH2oError(res: RawResponse, status: number, what = ''): void {
  assert.equal(res.status, status, `${what} → ${res.status} ${JSON.stringify(res.json)}`);
  assert.ok(endpointError(res.json), `${what}: ${ajv.errorsText(endpointError.errors)}`);
  assert.deepEqual(Object.keys(res.json).sort(), ['code', 'message'], what);
  assert.equal(res.json.code, status, what);
  assert.equal(typeof res.json.message, 'string');
  assert.ok(!JSON.stringify(res.json).includes('    at '), 'no stack trace');
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
}

/** A 204 with nothing in it. */
function assertNoContent(res: RawResponse, what = ''): void {
  assert.equal(res.status, 204, `${what} → ${res.status} ${JSON.stringify(res.json)}`);
  assert.equal(res.json, undefined, what);
}

async function auditRows(s: TestServer, targetId?: string) {
  let q = s.rt.store.db.selectFrom('audit_logs').selectAll();
  if (targetId) q = q.where('target_id', '=', targetId);
  return q.orderBy('created_at').orderBy('id').execute();
}
const auditCount = async (s: TestServer) => (await auditRows(s)).length;

for (const dialect of await testDialects()) {
  describe(`h2oGPTe API keys (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let reader: { id: string; email: string };
    let boss: { id: string; email: string };

    /** Creates a key through the face and checks the 201 against the spec. */
    async function create(body: Record<string, unknown>, base: string = SPELLINGS[1], key = s.adminKey) {
      const res = await h2o(s, 'POST', base, key, body);
      assert.equal(res.status, 201, JSON.stringify(res.json));
      assertMatchesSpec(SPEC, 'post', T.list, 201, res.json);
      return res.json as { secret_key: string; api_key: any };
    }
    async function list(query = '', key = s.adminKey, base: string = SPELLINGS[1]) {
      const res = await h2o(s, 'GET', `${base}${query}`, key);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assertMatchesSpec(SPEC, 'get', T.list, 200, res.json);
      assert.ok(Array.isArray(res.json));
      return res.json as any[];
    }
    const findKey = async (id: string) => (await list('?limit=1000')).find((k) => k.id === id);

    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      reader = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'reader@example.com', name: 'Rita Reader', role: 'reader' });
      boss = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'boss@example.com', name: 'Bo Boss', role: 'owner' });
    });
    after(async () => s?.close());

    test('create answers 201 with the secret once, at both spellings', async () => {
      for (const base of SPELLINGS) {
        const before = await auditCount(s);
        const t0 = Date.now();
        const r = await create({ user_id: reader.id, name: `ci ${base}` }, base);
        assert.match(r.secret_key, /^sk-[A-Za-z0-9_-]{48}$/);
        const k = r.api_key;
        assert.match(k.id, /^key_/);
        assert.equal(k.username, reader.email);
        assert.equal(k.name, `ci ${base}`);
        assert.equal(k.is_active, true);
        assert.equal(k.is_global_key, true);
        assert.equal(k.total_calls, 0);
        assert.ok(!('expires_at' in k) && !('last_used_at' in k) && !('collection_id' in k), 'unset optional fields are omitted');
        assert.match(k.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.ok(Math.abs(Date.parse(k.created_at) - t0) < 60_000);
        assert.ok(r.secret_key.endsWith(k.hint.slice(-4)), 'the hint ends like the secret');
        assert.ok(!k.hint.includes(r.secret_key.slice(3, 40)), 'the hint does not reveal the secret');
        // never shown again
        assert.ok(!JSON.stringify(await list('?limit=1000')).includes(r.secret_key));
        // an ordinary key of the store, with its audit event
        const p = await s.rt.core.keys.verify(r.secret_key);
        assert.equal(p?.kind, 'user');
        assert.equal(p?.ownerId, reader.id);
        const audit = await auditRows(s, k.id);
        assert.deepEqual(audit.map((a) => a.type), ['api_key.created']);
        assert.equal(await auditCount(s), before + 1);
        assert.ok(!JSON.stringify(audit).includes(r.secret_key));
      }
    });

    test('create with an expiry interval, a collection, and without a name', async () => {
      const t0 = Date.now();
      const r = await create({ user_id: reader.id, expires_in: '30 days', collection_id: 'col-123' });
      assert.equal(r.api_key.name, '');
      const exp = Date.parse(r.api_key.expires_at);
      assert.ok(exp >= t0 + 30 * DAY - 1000 && exp <= Date.now() + 30 * DAY + 1000, r.api_key.expires_at);
      assert.equal(r.api_key.collection_id, 'col-123');
      assert.equal(r.api_key.is_global_key, false);
      for (const [text, ms] of [['12 hours', DAY / 2], ['1 year 2 months', 365.25 * DAY + 60 * DAY], ['01:30:00', 5_400_000]] as const) {
        const before = Date.now();
        const k = (await create({ user_id: boss.id, name: text, expires_in: text }, SPELLINGS[0])).api_key;
        const d = Date.parse(k.expires_at) - before;
        assert.ok(d >= ms - 1000 && d <= ms + 5000, `${text}: ${d}`);
      }
      // null means no expiry, as absent does
      const none = await create({ user_id: reader.id, expires_in: null, name: null });
      assert.ok(!('expires_at' in none.api_key));
    });

    test('list: a JSON array with usernames, filter, offset and limit, usage counts', async () => {
      const mine = await create({ user_id: boss.id, name: 'counted' });
      // use it: it authenticates (the owner's key is an administrator's), and the calls are counted
      await list('', mine.secret_key);
      await list('', mine.secret_key, SPELLINGS[0]);
      await s.rt.core.flush();
      const k = await findKey(mine.api_key.id);
      assert.ok(k.total_calls >= 2, JSON.stringify(k));
      assert.match(k.last_used_at, /Z$/);
      assert.equal(k.username, boss.email);

      const all = await list('?limit=1000');
      assert.ok(all.length >= 8);
      assert.deepEqual(await list('?limit=1000', s.adminKey, SPELLINGS[0]), all, 'both spellings list the same');
      assert.equal(new Set(all.map((x) => x.id)).size, all.length);
      // default limit 100, then offset/limit walk the same order
      assert.deepEqual(await list(), all.slice(0, 100));
      assert.deepEqual(await list('?limit=3'), all.slice(0, 3));
      assert.deepEqual(await list('?offset=2&limit=3'), all.slice(2, 5));
      assert.deepEqual(await list(`?offset=${all.length}`), []);
      // filter on usernames (part of the email, case-insensitive)
      const bosses = await list('?filter=BOSS@');
      assert.ok(bosses.length >= 1);
      assert.ok(bosses.every((x) => x.username === boss.email));
      assert.deepEqual(bosses, all.filter((x) => x.username === boss.email));
      assert.deepEqual(await list('?filter=nobody-at-all'), []);
      assert.deepEqual(await list('?filter=%25'), [], '% in the filter is literal');
      assert.deepEqual(await list('?filter='), all.slice(0, 100), 'an empty filter filters nothing');
    });

    test('deactivate answers 204 and the key is refused on the very next request', async () => {
      for (const base of SPELLINGS) {
        const k = await create({ user_id: boss.id, name: 'to deactivate' });
        await list('', k.secret_key); // authenticates, and is cached now
        const res = await h2o(s, 'POST', `${base}/deactivate/${k.api_key.id}`, s.adminKey);
        assertNoContent(res, `deactivate at ${base}`);
        assertH2oError(await h2o(s, 'GET', base, k.secret_key), 401, 'the deactivated key');
        assert.equal(await s.rt.core.keys.verify(k.secret_key), null);
        const row = await findKey(k.api_key.id);
        assert.equal(row.is_active, false);
        assert.deepEqual((await auditRows(s, k.api_key.id)).map((a) => a.type), ['api_key.created', 'api_key.updated']);
        // again: still 204, nothing more to audit
        assertNoContent(await h2o(s, 'POST', `${base}/deactivate/${k.api_key.id}`, s.adminKey));
        assert.equal((await auditRows(s, k.api_key.id)).length, 2);
      }
    });

    test('deactivate sent with a JSON content type and an empty body also works', async () => {
      const k = await create({ user_id: reader.id });
      assertNoContent(await h2o(s, 'POST', `/admin/api_keys/deactivate/${k.api_key.id}`, s.adminKey, ''));
      assert.equal((await findKey(k.api_key.id)).is_active, false);
    });

    test('delete answers 204; the key is gone and refused at once', async () => {
      for (const base of SPELLINGS) {
        const k = await create({ user_id: boss.id, name: 'to delete' });
        await list('', k.secret_key);
        assertNoContent(await h2o(s, 'DELETE', `${base}/${k.api_key.id}`, s.adminKey), `delete at ${base}`);
        assertH2oError(await h2o(s, 'GET', base, k.secret_key), 401, 'the deleted key');
        assert.equal(await findKey(k.api_key.id), undefined);
        assert.deepEqual((await auditRows(s, k.api_key.id)).map((a) => a.type), ['api_key.created', 'api_key.deleted']);
        assertH2oError(await h2o(s, 'DELETE', `${base}/${k.api_key.id}`, s.adminKey), 404, 'delete twice');
      }
    });

    test('expiry: set with an interval, then removed by an empty or missing body', async () => {
      for (const base of SPELLINGS) {
        const k = await create({ user_id: reader.id, name: 'expiring' });
        const t0 = Date.now();
        assertNoContent(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, { expires_in: '12 hours' }), `expire at ${base}`);
        const set = await findKey(k.api_key.id);
        const d = Date.parse(set.expires_at) - t0;
        assert.ok(d >= 12 * 3_600_000 - 1000 && d <= 12 * 3_600_000 + 5000, set.expires_at);
        assert.equal(set.is_active, true);
        // no body at all (the generated client sends none when the request is None)
        assertNoContent(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey));
        assert.ok(!('expires_at' in (await findKey(k.api_key.id))));
        // {} does the same
        assertNoContent(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, { expires_in: '2 weeks' }));
        assert.ok('expires_at' in (await findKey(k.api_key.id)));
        assertNoContent(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, {}));
        assert.ok(!('expires_at' in (await findKey(k.api_key.id))));
        const types = (await auditRows(s, k.api_key.id)).map((a) => a.type);
        assert.deepEqual(types, ['api_key.created', 'api_key.updated', 'api_key.updated', 'api_key.updated', 'api_key.updated']);
        assert.ok(await s.rt.core.keys.verify(k.secret_key));
      }
    });

    test('an expiry is enforced on every authentication, not only when listing', async () => {
      const k = await create({ user_id: boss.id, name: 'short', expires_in: '1 second' });
      await list('', k.secret_key); // accepted, and cached
      await new Promise((r) => setTimeout(r, 1100));
      assertH2oError(await h2o(s, 'GET', '/admin/api_keys', k.secret_key), 401, 'the expired key');
      assert.equal((await findKey(k.api_key.id)).is_active, false);
      // a new expiry brings it back; removing it keeps it
      assertNoContent(await h2o(s, 'PATCH', `/admin/api-keys/expire/${k.api_key.id}`, s.adminKey, {}));
      assert.equal((await findKey(k.api_key.id)).is_active, true);
      await list('', k.secret_key);
    });

    test('missing or invalid keys are 401, non-administrators 403', async () => {
      for (const base of SPELLINGS) {
        assertH2oError(await h2o(s, 'GET', base, null), 401, 'no key');
        assertH2oError(await h2o(s, 'GET', base, 'sk-' + 'x'.repeat(48)), 401, 'unknown key');
        assertH2oError(await h2o(s, 'POST', base, null, { user_id: reader.id }), 401, 'create without a key');
        assertH2oError(await h2o(s, 'DELETE', `${base}/key_x`, null), 401, 'delete without a key');
      }
      const basic = await fetch(`${s.url}/api/v1/admin/api_keys`, { headers: { authorization: `Basic ${s.adminKey}` } });
      assert.equal(basic.status, 401);
      const unknown = await h2o(s, 'GET', '/admin/api_keys', 'sk-' + 'y'.repeat(48));
      assert.ok(!JSON.stringify(unknown.json).includes('y'.repeat(48)), 'the presented key is not echoed');
      // a reader's own key is valid but not an administrator's
      const before = await auditCount(s);
      const readers = await create({ user_id: reader.id, name: 'reader key' });
      const victim = await create({ user_id: boss.id, name: 'victim' });
      const after0 = await auditCount(s);
      assert.equal(after0, before + 2);
      for (const base of SPELLINGS) {
        assertH2oError(await h2o(s, 'GET', base, readers.secret_key), 403, 'reader lists');
        assertH2oError(await h2o(s, 'POST', base, readers.secret_key, { user_id: reader.id }), 403, 'reader creates');
        assertH2oError(await h2o(s, 'POST', `${base}/deactivate/${victim.api_key.id}`, readers.secret_key), 403, 'reader deactivates');
        assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${victim.api_key.id}`, readers.secret_key, { expires_in: '1 day' }), 403, 'reader expires');
        assertH2oError(await h2o(s, 'DELETE', `${base}/${victim.api_key.id}`, readers.secret_key), 403, 'reader deletes');
        assertH2oError(await h2o(s, 'GET', `${base}/nothing/here`, readers.secret_key), 403, 'reader on an unknown path');
      }
      assert.equal(await auditCount(s), after0, 'nothing changed');
      assert.equal((await findKey(victim.api_key.id)).is_active, true);
      // promoting the reader to owner makes the same key an administrator's on its very next request
      await s.rt.core.users.updateRole(SYSTEM, orgId, reader.id, 'owner');
      await list('', readers.secret_key);
      await s.rt.core.users.updateRole(SYSTEM, orgId, reader.id, 'reader');
      assertH2oError(await h2o(s, 'GET', '/admin/api_keys', readers.secret_key), 403, 'demoted again');
    });

    test('a key made here is not an admin key on the OpenAI face', async () => {
      // even an owner's user key: the OpenAI admin API takes admin keys only
      const k = await create({ user_id: boss.id, name: 'cross-face' });
      await list('', k.secret_key); // an administrator here
      const res = await http(s, 'GET', '/v1/organization/admin_api_keys', k.secret_key);
      assert.equal(res.status, 403);
      assertOpenAIError(res.json);
    });

    test("another organization's admin key neither sees nor changes this organization's keys", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-h2o' });
      const theirKey = other.adminKey.secret;
      const mine = await create({ user_id: reader.id, name: 'mine' });
      const before = await auditCount(s);
      for (const base of SPELLINGS) {
        const theirs = await list('?limit=1000', theirKey, base);
        assert.ok(!theirs.some((k) => k.id === mine.api_key.id));
        assert.deepEqual(await list(`?filter=${encodeURIComponent(reader.email)}`, theirKey, base), []);
        assertH2oError(await h2o(s, 'POST', `${base}/deactivate/${mine.api_key.id}`, theirKey), 404, 'foreign deactivate');
        assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${mine.api_key.id}`, theirKey, { expires_in: '1 hour' }), 404, 'foreign expire');
        assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${mine.api_key.id}`, theirKey), 404, 'foreign expiry removal');
        assertH2oError(await h2o(s, 'DELETE', `${base}/${mine.api_key.id}`, theirKey), 404, 'foreign delete');
        // nor create keys for this organization's users
        assertH2oError(await h2o(s, 'POST', base, theirKey, { user_id: reader.id }), 404, 'foreign user');
      }
      assert.equal(await auditCount(s), before, 'nothing changed');
      const k = await findKey(mine.api_key.id);
      assert.equal(k.is_active, true);
      assert.ok(await s.rt.core.keys.verify(mine.secret_key));
      // and this organization cannot touch theirs (an admin key of theirs is no key of this face either)
      assertH2oError(await h2o(s, 'DELETE', `/admin/api_keys/${other.adminKey.row.id}`, s.adminKey), 404, 'their admin key');
    });

    test('admin and project keys are not keys of this face', async () => {
      const before = await auditCount(s);
      const adminRow = (await s.rt.store.db.selectFrom('api_keys').select('id').where('org_id', '=', orgId).where('kind', '=', 'admin').executeTakeFirstOrThrow()).id;
      assertH2oError(await h2o(s, 'POST', `/admin/api_keys/deactivate/${adminRow}`, s.adminKey), 404, 'deactivate an admin key');
      assertH2oError(await h2o(s, 'PATCH', `/admin/api_keys/expire/${adminRow}`, s.adminKey, { expires_in: '1 hour' }), 404, 'expire an admin key');
      assertH2oError(await h2o(s, 'DELETE', `/admin/api_keys/${adminRow}`, s.adminKey), 404, 'delete an admin key');
      assert.equal(await auditCount(s), before);
      assert.ok(await s.rt.core.keys.verify(s.adminKey));
    });

    test('bad input is answered {code, message} and changes nothing', async () => {
      const k = await create({ user_id: reader.id, name: 'target' });
      const before = await auditCount(s);
      const keysBefore = await list('?limit=1000');
      const BAD_INTERVALS: unknown[] = ['3 fortnights', '-1 days', '', '   ', 123, 30.5, true, [], {}, '0 days', '1.5 days', '1 day ago', 'P30D', '11 years', '30', 'days'];
      for (const base of SPELLINGS) {
        for (const expires_in of BAD_INTERVALS) {
          const what = `expires_in ${JSON.stringify(expires_in)}`;
          assertH2oError(await h2o(s, 'POST', base, s.adminKey, { user_id: reader.id, expires_in }), 400, `create ${what}`);
          assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, { expires_in }), 400, `expire ${what}`);
        }
        const BAD_BODIES: unknown[] = [
          {},
          { user_id: 5 },
          { user_id: '' },
          { user_id: null },
          { user_id: reader.id, name: 7 },
          { user_id: reader.id, name: 'x'.repeat(257) },
          { user_id: reader.id, collection_id: 9 },
          { user_id: reader.id, collection_id: '' },
          { user_id: { $gt: '' } },
          { user_id: 'x'.repeat(5000) },
          '{',
          '[1,2]',
          '"text"',
          '42',
          '{"__proto__": {"admin": true}, "user_id": "x"}',
        ];
        for (const body of BAD_BODIES) assertH2oError(await h2o(s, 'POST', base, s.adminKey, body), 400, `create ${JSON.stringify(body)}`);
        assertH2oError(await h2o(s, 'POST', base, s.adminKey, { user_id: `user-${'0'.repeat(26)}` }), 404, 'unknown user');
        assertH2oError(await h2o(s, 'POST', base, s.adminKey, { user_id: 'nobody' }), 404, 'malformed user id');
        assertH2oError(await h2o(s, 'POST', base, s.adminKey, `user_id=${reader.id}`, 'text/plain'), 415, 'text body');
        assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, '[]'), 400, 'expire with an array');
        assertH2oError(await h2o(s, 'PATCH', `${base}/expire/${k.api_key.id}`, s.adminKey, '{"expires_in": '), 400, 'expire with bad JSON');
        for (const q of ['limit=0', 'limit=1001', 'limit=-1', 'limit=abc', 'limit=1e9', 'offset=-1', 'offset=abc', `filter=${'x'.repeat(300)}`, 'filter=%00']) {
          assertH2oError(await h2o(s, 'GET', `${base}?${q}`, s.adminKey), 400, `list ?${q}`);
        }
        // malformed and unknown ids, on every route that takes one
        const BAD_IDS = ['%ZZ', '%00', "x'%20OR%201=1--", 'a'.repeat(300), '%F0%9F%92%A5', '..%2F..%2Fetc', '%E2%80%AE', 'key%20x'];
        const UNKNOWN = ['key_00000000000000000000000000', 'null'];
        for (const id of [...BAD_IDS, ...UNKNOWN]) {
          const routes: Array<[string, string, unknown]> = [
            ['POST', `${base}/deactivate/${id}`, undefined],
            ['DELETE', `${base}/${id}`, undefined],
            ['PATCH', `${base}/expire/${id}`, { expires_in: '1 day' }],
            ['PATCH', `${base}/expire/${id}`, undefined],
          ];
          for (const [method, p, body] of routes) {
            const res = await h2o(s, method, p, s.adminKey, body);
            assertH2oError(res, UNKNOWN.includes(id) ? 404 : res.status, `${method} ${p}`);
            // malformed: 400, or 414 for an id over the router's parameter length
            assert.ok(UNKNOWN.includes(id) || [400, 414].includes(res.status), `${method} ${p} → ${res.status} ${JSON.stringify(res.json)}`);
          }
        }
      }
      // unknown routes and methods of the face answer in its own body too
      assertH2oError(await h2o(s, 'GET', '/admin/nothing', s.adminKey), 404, 'unknown route');
      assertH2oError(await h2o(s, 'PUT', '/admin/api_keys', s.adminKey, {}), 404, 'unknown method');
      assertH2oError(await h2o(s, 'GET', '/admin/%ZZ', s.adminKey), 400, 'bad URL encoding');
      assert.equal(await auditCount(s), before, 'no audit event: nothing changed');
      await s.rt.core.flush();
      // the keys as they stand, without the use counters every request (these included) moves
      const stable = (keys: Array<Record<string, unknown>>) =>
        keys.map(({ last_used_at: _l, total_calls: _t, ...rest }) => rest).sort((x, y) => String(x.id).localeCompare(String(y.id)));
      assert.deepEqual(stable(await list('?limit=1000')), stable(keysBefore));
    });

    test('URL errors outside /api/v1 keep the OpenAI envelope', async () => {
      const res = await http(s, 'GET', '/v1/organization/admin_api_keys/%ZZ', s.adminKey);
      assert.equal(res.status, 400);
      assertOpenAIError(res.json);
    });
  });
}
