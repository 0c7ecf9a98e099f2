// Malformed input on every registered route of every face (app.routeList), on SQLite and
// PostgreSQL, with a key the face accepts: bad percent-encoding, NUL and absurd values in path
// parameters, malformed JSON, wrong types, prototype poisoning, NUL bytes, an oversized body and
// unknown content types, and bad query strings. Each answer is a 4xx (never a 5xx) in the face's own
// envelope without a stack trace, and no row changes. Extends test/faces/openai/bad-input.test.ts to
// every face; the inputs and fixtures are the security matrix's (test/security/matrix.ts).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { ADMIN_BODY_LIMIT as BODY_LIMIT } from '../../src/faces/kit.ts';
import { GATEWAY_BODY_LIMIT } from '../../src/gateway/face.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import {
  assertNoStackTrace,
  assertUnchanged,
  checkCovered,
  FACES,
  faceOf,
  fillPath,
  makeTenant,
  paramNames,
  paramValue,
  pool,
  ROUTE_INPUTS,
  routeName,
  send,
  snapshot,
  type Req,
  type Route,
  type Tenant,
} from './matrix.ts';

/** Path parameter values that are malformed (undecodable, NUL) or absurd (overlong, traversal, injection). */
const BAD_PATH = ['%E0%A4%A', '%zz', '%00', 'x'.repeat(300), '..%2F..%2Fetc%2Fpasswd', "x'%20OR%201=1--", '%C0%AE%C0%AE'];

/** Query strings that must never be a 5xx (most are 400s; an unknown parameter may be ignored). */
const BAD_QUERY = ['limit=abc', 'limit=-1', 'limit=1e99', 'after=', 'offset=-5', 'x=%E0%A4%A', 'name=%zz', 'a[b][c][d]=1', `filter=${'x'.repeat(5000)}`];
/** Query strings that must be refused (4xx) on every route. */
const NUL_QUERY = ['after=%00', 'name=a%00b', 'x%00=1'];

/** Every top-level field of a valid body with a value of the wrong type. */
function wrongTypes(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return 12345;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    out[k] = typeof v === 'string' ? 12345 : typeof v === 'number' ? 'not-a-number' : typeof v === 'boolean' ? 'maybe' : Array.isArray(v) ? { not: 'a list' } : v === null ? [1] : 'not-an-object';
  }
  return out;
}

/** A valid body with a NUL character in its first string (or in an added field's name). */
function withNul(body: unknown): unknown {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const entries = Object.entries(body);
    const i = entries.findIndex(([, v]) => typeof v === 'string');
    if (i >= 0) return Object.fromEntries(entries.map(([k, v], j) => [k, j === i ? `${v as string}\u0000tail` : v]));
    return { ...body, 'n\u0000ame': 'x' };
  }
  return { 'n\u0000ame': 'x' };
}

interface Case {
  label: string;
  req: Req;
  /** 'refused': a 4xx; 'safe': anything but a 5xx (an unknown query parameter may be ignored). */
  expect: 'refused' | 'safe';
  /** An exact status, where the kind of malformation fixes it. */
  status?: number;
}

for (const dialect of await testDialects()) {
  describe(`malformed input on every route (${dialect})`, async () => {
    const rootKey = randomBytes(32).toString('hex');
    const s = await startServer(dialect, { rootKey });
    after(() => s.close());
    const store = s.rt.store;
    const A = await makeTenant(s.rt.core, store, 'acme');
    // a route missing from the matrix fails its own test below (checkCovered), not the collection
    // the console's routes (cookie sessions) have their bad-input cases in test/faces/console/
    const routes: Route[] = s.app.routeList.filter((r) => faceOf(r) !== 'health' && faceOf(r) !== 'console');
    const t0 = Date.now();
    let requests = 0;

    for (const route of routes) {
      const name = routeName(route);
      test(name, async () => {
        const face = checkCovered(route);
        if (face === 'health' || face === 'console') return;
        const spec = FACES[face];
        const headers = spec.auth(face === 'platform' ? rootKey : face === 'gateway' ? A.keys.serviceAccount : A.keys.admin);
        const cases = casesFor(route, face, A).map((c) => ({ ...c, req: { ...c.req, headers } }));
        const before = await snapshot(store);
        const answers = await pool(6, cases.map((c) => () => send(s, c.req)));
        requests += cases.length;
        const after = await snapshot(store);
        const failures: string[] = [];
        cases.forEach((c, i) => {
          const res = answers[i]!;
          const body = typeof c.req.body === 'string' ? c.req.body.slice(0, 80) : c.req.body instanceof Uint8Array ? '<bytes>' : JSON.stringify(c.req.body)?.slice(0, 80);
          const what = `${name} [${c.label}] ${c.req.method} ${c.req.path.slice(0, 120)} ${body ?? ''} → ${res.status} ${res.text.slice(0, 300)}`;
          try {
            assert.ok(res.status < 500, `a 5xx: ${what}`);
            if (c.expect === 'refused') assert.ok(res.status >= 400, `not refused: ${what}`);
            if (c.status !== undefined) assert.equal(res.status, c.status, what);
            if (res.status >= 400) spec.envelope(res.status, res.json, what);
            assertNoStackTrace(res.text, what);
          } catch (err) {
            failures.push((err as Error).message);
          }
        });
        // a bad but ignorable query can still be a rightful read, which may be audited (credential reads are)
        const reads = route.method === 'GET' && answers.some((a) => a.status < 300);
        assertUnchanged(before, after, name, reads ? ['audit_logs'] : []);
        assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
      });
    }

    // JSON is UTF-8 (RFC 8259 §8.1): bytes that are not are malformed input, like broken JSON, and
    // must not be stored as U+FFFD. Each probe aims at throwaway objects, not the fixtures.
    test('a JSON body that is not UTF-8 is refused', async () => {
      const bad = (json: string) => new Uint8Array(Buffer.from(json, 'latin1'));
      const group = await s.rt.core.groups.create(SYSTEM, A.orgId, { name: `utf8-probe-${randomBytes(3).toString('hex')}` });
      const probes: Array<[face: 'openai' | 'h2ogpte' | 'iblai' | 'platform', Req]> = [
        ['openai', { method: 'POST', path: `/v1/organization/groups/${group.id}`, headers: FACES.openai.auth(A.keys.admin), body: bad('{"name":"g\xff\xfe"}') }],
        ['h2ogpte', { method: 'POST', path: '/api/v1/admin/api_keys', headers: FACES.h2ogpte.auth(A.keys.admin), body: bad(`{"user_id":"${A.readerId}","name":"k\xff"}`) }],
        ['iblai', { method: 'POST', path: `/api/ai-account/orgs/${A.slug}/credential/`, headers: FACES.iblai.auth(A.keys.admin), body: bad(`{"name":"utf8-probe","value":"v\xff","platform":"${A.slug}"}`) }],
        ['platform', { method: 'POST', path: '/platform/v1/organizations', headers: FACES.platform.auth(rootKey), body: bad(`{"name":"o\xff","slug":"utf8-probe-${randomBytes(3).toString('hex')}"}`) }],
      ];
      const failures: string[] = [];
      for (const [face, req] of probes) {
        const before = await snapshot(store);
        const res = await send(s, req);
        const after = await snapshot(store);
        const what = `${face} ${req.method} ${req.path} → ${res.status} ${res.text.slice(0, 200)}`;
        try {
          assert.equal(res.status, 400, what);
          FACES[face].envelope(res.status, res.json, what);
          assertUnchanged(before, after, what);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      assert.deepEqual(failures, []);
    });

    test('runtime', () => {
      const seconds = (Date.now() - t0) / 1000;
      console.log(`malformed input (${dialect}): ${routes.length} routes, ${requests} requests in ${seconds.toFixed(1)} s`);
      assert.ok(requests > routes.length * 5, `${requests} requests`);
    });
  });
}

function casesFor(route: Route, face: ReturnType<typeof checkCovered>, A: Tenant): Case[] {
  const name = routeName(route);
  const input = ROUTE_INPUTS[name] ?? {};
  const params = paramNames(route.url);
  const valid = (p: string) => paramValue(route, face, p, A);
  const path = fillPath(route, valid);
  const query = input.query?.(A);
  const withQuery = (p: string, q: string | undefined) => (q ? `${p}?${q}` : p);
  const body = input.body?.(A);
  const base: Req = { method: route.method, path: withQuery(path, query), ...(body !== undefined ? { body } : {}) };
  const cases: Case[] = [];

  // path parameters: every one malformed at once, then the last one alone (the others valid, so the
  // handler's own lookups are reached); the rest of the request is valid
  if (params.length) {
    for (const bad of BAD_PATH) {
      const raw = (p: string) => route.url.replace(/:([A-Za-z0-9_]+)/g, (_m, n: string) => (p === '*' || n === p ? bad : encodeURIComponent(valid(n))));
      cases.push({ label: `every path parameter ${bad.slice(0, 20)}`, req: { ...base, path: withQuery(raw('*'), query) }, expect: 'refused' });
      if (params.length > 1) cases.push({ label: `:${params.at(-1)} ${bad.slice(0, 20)}`, req: { ...base, path: withQuery(raw(params.at(-1)!), query) }, expect: 'refused' });
    }
  }

  // NUL in the query is refused everywhere, bodies or not
  for (const q of NUL_QUERY) cases.push({ label: `query ${q}`, req: { ...base, path: withQuery(path, query ? `${query}&${q}` : q) }, expect: 'refused', status: 400 });
  if (route.method === 'GET') for (const q of BAD_QUERY) cases.push({ label: `query ${q.slice(0, 30)}`, req: { ...base, path: withQuery(path, query ? `${query}&${q}` : q) }, expect: 'safe' });

  if (route.method !== 'GET') {
    // the gateway takes bodies of tens of MB (base64 images, audio); the admin faces 1 MiB
    const limit = face === 'gateway' ? GATEWAY_BODY_LIMIT : BODY_LIMIT;
    const big = JSON.stringify({ name: 'x'.repeat(limit + 16) });
    cases.push({ label: `oversized body (> ${limit} bytes)`, req: { ...base, body: big }, expect: 'refused', status: 413 });
    // WhyLabs operations take no body: whatever is sent is ignored, so only the size limit applies
    if (face !== 'whylabs') {
      cases.push({ label: 'malformed JSON', req: { ...base, body: '{"name": ' }, expect: 'refused', status: 400 });
      cases.push({ label: 'truncated JSON string', req: { ...base, body: '{"name": "abc' }, expect: 'refused', status: 400 });
      cases.push({ label: 'prototype poisoning', req: { ...base, body: '{"name":"x","__proto__":{"admin":true}}' }, expect: 'refused', status: 400 });
      cases.push({ label: 'constructor poisoning', req: { ...base, body: '{"name":"x","constructor":{"prototype":{"admin":true}}}' }, expect: 'refused', status: 400 });
      // the gateway passes text through (a model name with NUL is just no model: 404)
      cases.push({ label: 'NUL in a JSON string', req: { ...base, body: withNul(body ?? {}) }, expect: 'refused', ...(face === 'gateway' ? {} : { status: 400 }) });
      cases.push({ label: 'raw NUL byte in the body', req: { ...base, body: '{"name":"a\u0000b"}' }, expect: 'refused', status: 400 });
      cases.push({ label: 'unknown content type', req: { ...base, body: '<name>x</name>', contentType: 'application/xml' }, expect: 'refused', status: 415 });
      cases.push({ label: 'text/plain body', req: { ...base, body: 'name=x', contentType: 'text/plain' }, expect: 'refused', status: 415 });
    }
    // ibl.ai also reads form and multipart bodies, as DRF does
    if (face === 'iblai') {
      cases.push({ label: 'multipart without a boundary', req: { ...base, body: 'name=x', contentType: 'multipart/form-data' }, expect: 'refused', status: 400 });
      cases.push({ label: 'broken multipart', req: { ...base, body: '--XX\r\nContent-Disposition: form-data; name="name"\r\n\r\nx', contentType: 'multipart/form-data; boundary=XX' }, expect: 'refused', status: 400 });
      cases.push({ label: 'multipart file part', req: { ...base, body: '--XX\r\nContent-Disposition: form-data; name="name"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--\r\n', contentType: 'multipart/form-data; boundary=XX' }, expect: 'refused', status: 400 });
      cases.push({ label: 'form with NUL', req: { ...base, body: 'name=a%00b&value=%7B%7D', contentType: 'application/x-www-form-urlencoded' }, expect: 'refused', status: 400 });
      // the route's own fields, each badly percent-encoded (the decoder keeps what it cannot decode)
      const fields = Object.keys(body && typeof body === 'object' ? body : { name: '' });
      const form = fields.map((f) => `${f}=%E0%A4%A%zz`).join('&');
      cases.push({ label: 'form with bad percent-encoding', req: { ...base, body: form, contentType: 'application/x-www-form-urlencoded' }, expect: 'refused' });
    }
    if (body !== undefined) {
      assert.ok(body && typeof body === 'object' && Object.keys(body).length > 0, `${name}: its ROUTE_INPUTS body needs a field to give the wrong type`);
      cases.push({ label: 'wrong types', req: { ...base, body: wrongTypes(body) }, expect: 'refused', status: 400 });
      for (const whole of ['[]', '"text"', '42', '[{"name":"x"}]']) cases.push({ label: `body ${whole}`, req: { ...base, body: whole }, expect: 'refused', status: 400 });
    }
  }
  return cases;
}
