// The security matrix: every registered route of every face (app.routeList), on SQLite and
// PostgreSQL, is tried with no credentials, malformed credentials, an unknown key, revoked,
// deactivated and expired keys, every kind of key the face must refuse, and the other tenant's keys
// aimed at this tenant's objects (path ids, slugs, cursors, filters, body references). Each answer
// has its exact status, the face's own error envelope, no stack trace and none of the other
// tenant's data; and no row of the database changes. See test/security/matrix.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import {
  AFTER_CURSOR,
  assertNoStackTrace,
  assertUnchanged,
  checkCovered,
  CONSOLE_PUBLIC_READS,
  CONSOLE_PUBLIC_WRITES,
  consoleEnvelope,
  FACES,
  FOREIGN_FILTERS,
  fillPath,
  leakedMarkers,
  makeTenant,
  paramNames,
  paramValue,
  pool,
  ROUTE_INPUTS,
  routeName,
  send,
  snapshot,
  type FaceName,
  type KeyKind,
  type Req,
  type Route,
  type Tenant,
} from './matrix.ts';

/** Status of a request by the other tenant's key at this tenant's path, per face (overridable per route below). */
const CROSS_STATUS: Record<'openai' | 'gateway' | 'h2ogpte' | 'whylabs' | 'iblai', number> = {
  gateway: 404, // unused: the gateway's paths name no tenant's object
  openai: 404, // the admin key's organization has no such object
  h2ogpte: 404, // the same: the caller's organization has no such key
  whylabs: 403, // the path's organization is not the key's (WhyLabs answers 403)
  iblai: 404, // another tenant's slug reads as unknown, so tenants cannot be discovered
};
/** Routes whose answer to the other tenant's path differs from the face's default, and why. */
const CROSS_OVERRIDES: Record<string, number> = {};
/** Own organization in the path, the other tenant's object ids in the other parameters. */
const MIXED_STATUS: Record<string, number> = {
  // WhyLabs answers an unknown key id with 200 `{}` (as the real server does): nothing of the key shows
  'GET /v0/organizations/:org_id/api-key/:key_id': 200,
};
/** Status of `after=<the other tenant's id>` on an OpenAI list (the cursor must be a row of this very listing). */
const AFTER_STATUS = 400;

/** Routes with a known, not yet fixed security bug: the test asserts the right behaviour, marked todo. */
const KNOWN_BUGS: Record<string, string> = {};

interface Case {
  label: string;
  req: Req;
  status: number;
  /** The tenants none of whose data may appear in the answer (beyond what the request itself said). */
  noDataOf: Tenant[];
  face: FaceName;
  /** A rightful read (the controls): may be audited, so it runs after the no-change check. */
  control?: boolean;
}

const REPORT = process.env.MATRIX_REPORT === '1';
/** The other tenant's keys that reach the OpenAI face (its admin keys). */
const B_ADMIN_KINDS = (Object.entries(FACES.openai.kinds) as Array<[KeyKind, 'ok' | number]>).filter(([, r]) => r === 'ok');

for (const dialect of await testDialects()) {
  describe(`security matrix (${dialect})`, async () => {
    const rootKey = randomBytes(32).toString('hex');
    const s = await startServer(dialect, { rootKey });
    after(() => s.close());
    const store = s.rt.store;
    const A = await makeTenant(s.rt.core, store, 'acme');
    const B = await makeTenant(s.rt.core, store, 'globex');
    const routes: Route[] = s.app.routeList;
    // tenant A renames its group with an Idempotency-Key: the other tenant repeating that very
    // request with the same key must not be answered from A's stored reply
    const idempotencyKey = `matrix-${randomBytes(6).toString('hex')}`;
    const renamed = await send(s, { method: 'POST', path: `/v1/organization/groups/${A.groupId}`, headers: { ...FACES.openai.auth(A.keys.admin), 'idempotency-key': idempotencyKey }, body: { name: A.groupName } });
    assert.equal(renamed.status, 200, renamed.text);
    const t0 = Date.now();
    let requests = 0;
    /** Markers of A seen in A's own controls: proves the leak search looks for what answers really hold. */
    const seenOwn = new Set<string>();

    test('every registered route is in the security matrix', () => {
      assert.ok(routes.length > 100, `${routes.length} routes registered`);
      const problems: string[] = [];
      for (const r of routes) {
        try {
          checkCovered(r);
          const face = checkCovered(r);
          for (const p of paramNames(r.url)) paramValue(r, face, p, A);
        } catch (err) {
          problems.push((err as Error).message);
        }
      }
      assert.deepEqual(problems, []);
    });

    for (const route of routes) {
      const name = routeName(route);
      test(name, KNOWN_BUGS[name] ? { todo: KNOWN_BUGS[name] } : {}, async () => {
        const face = checkCovered(route);
        const all = casesFor(route, face, A, B, rootKey, idempotencyKey);
        // refusals first, with a snapshot around them; then the controls (rightful reads, which may be audited)
        const cases = [...all.filter((c) => !c.control), ...all.filter((c) => c.control)];
        const refusals = cases.filter((c) => !c.control);
        const before = await snapshot(store);
        const answers = await pool(6, refusals.map((c) => () => send(s, c.req)));
        const after = await snapshot(store);
        answers.push(...(await pool(6, cases.filter((c) => c.control).map((c) => () => send(s, c.req)))));
        const afterControls = await snapshot(store);
        requests += cases.length;
        const failures: string[] = [];
        cases.forEach((c, i) => {
          const res = answers[i]!;
          const what = `${name} [${c.label}] ${c.req.method} ${c.req.path} → ${res.status} ${res.text.slice(0, 300)}`;
          if (REPORT) console.log(`MATRIX ${dialect} ${name} | ${c.label} | expected ${c.status} | got ${res.status}`);
          try {
            assert.equal(res.status, c.status, `expected ${c.status}: ${what}`);
            const f = c.face;
            if (res.status >= 400 && f === 'console') consoleEnvelope(res.status, res.json, what);
            else if (res.status >= 400 && f !== 'health' && f !== 'console') FACES[f].envelope(res.status, res.json, what);
            assertNoStackTrace(res.text, what);
            const request = `${c.req.path} ${typeof c.req.body === 'string' ? c.req.body : JSON.stringify(c.req.body ?? '')}`;
            if (c.control && c.noDataOf[0] === B) for (const m of A.markers) if (res.text.includes(m)) seenOwn.add(m);
            for (const t of c.noDataOf) {
              const leaked = leakedMarkers(t, res.text, request);
              assert.deepEqual(leaked, [], `data of tenant ${t.slug} in ${what}`);
            }
          } catch (err) {
            failures.push((err as Error).message);
          }
        });
        if (name === 'POST /v1/organization/groups/:group_id') {
          // the other tenant's refused retry is remembered for that tenant's own key alone (a retry
          // gets the same 404); tenant A's stored reply is untouched
          assertUnchanged(before, after, name, ['idempotency_records']);
          const rows = await store.db.selectFrom('idempotency_records').select(['org_id', 'status_code']).where('idempotency_key', '=', idempotencyKey).orderBy('created_at').execute();
          assert.deepEqual(rows.map((r) => [r.org_id, Number(r.status_code)]), [[A.orgId, 200], ...B_ADMIN_KINDS.map(() => [B.orgId, 404])]);
        } else assertUnchanged(before, after, name);
        // a rightful read changes nothing either, but for the audit trail of what it decrypted
        assertUnchanged(after, afterControls, `${name} (controls)`, ['audit_logs']);
        assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases failed`);
      });
    }

    test('the leak search and the snapshot are not vacuous', async () => {
      // tenant A's own reads show many of the ids and names searched for in answers to tenant B
      assert.ok(seenOwn.size >= 20, `only ${seenOwn.size} markers of tenant A seen in its own answers: ${[...seenOwn].join(', ')}`);
      // and a change anywhere shows in the snapshot
      const before = await snapshot(store);
      await s.rt.core.groups.rename(SYSTEM, A.orgId, A.groupId, { name: `${A.groupName}-x` });
      const changed = await snapshot(store);
      await s.rt.core.groups.rename(SYSTEM, A.orgId, A.groupId, { name: A.groupName });
      assert.notEqual(changed.hash, before.hash);
      assert.throws(() => assertUnchanged(before, changed, 'a rename'), /groups/);
    });

    test('runtime', () => {
      const seconds = (Date.now() - t0) / 1000;
      console.log(`security matrix (${dialect}): ${routes.length} routes, ${requests} requests in ${seconds.toFixed(1)} s`);
      assert.ok(requests > routes.length * 10, `${requests} requests`);
    });
  });
}


/** Every case of the matrix for one route: A is this tenant, B the other one. */
function casesFor(route: Route, face: FaceName, A: Tenant, B: Tenant, rootKey: string, idempotencyKey: string): Case[] {
  const name = routeName(route);
  const input = ROUTE_INPUTS[name] ?? {};
  const pathOf = (own: Tenant, other: Tenant = own) => {
    const spec = face !== 'health' && face !== 'console' ? FACES[face] : undefined;
    return fillPath(route, (p) => paramValue(route, face, p, p === spec?.orgParam ? own : other));
  };
  const withQuery = (path: string, q: string | undefined) => (q ? `${path}?${q}` : path);
  const base = (t: Tenant): Req => ({
    method: route.method,
    path: withQuery(pathOf(t), input.query?.(t)),
    ...(input.body ? { body: input.body(t) } : {}),
  });

  if (face === 'health') {
    // public probes: the same answer with or without credentials, and nothing of any tenant
    return [
      { label: 'no credentials', req: base(A), status: 200, noDataOf: [A, B], face },
      { label: 'garbage credentials', req: { ...base(A), headers: { authorization: 'Bearer !!garbage!!' } }, status: 200, noDataOf: [A, B], face },
    ];
  }

  if (face === 'console') {
    // cookie sessions, not keys: without a session every route is a 401 (or, for the writes that
    // start a session, a 400 for the empty input), whatever key or made-up cookie comes with it —
    // sign-in, CSRF, throttles and fixation are tested in test/faces/console/
    const public_ = CONSOLE_PUBLIC_WRITES.has(name);
    const req = (headers: Record<string, string>): Req => ({ method: route.method, path: route.url.replace(/:[a-z_]+/g, 'x'), ...(route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH' ? { body: {} } : {}), headers });
    const status = CONSOLE_PUBLIC_READS[name] ?? (public_ ? 400 : 401);
    return [
      { label: 'no credentials', req: req({}), status, noDataOf: [A, B], face },
      { label: 'admin key as bearer', req: req({ authorization: `Bearer ${A.keys.admin}` }), status, noDataOf: [A, B], face },
      { label: 'admin key as session cookie', req: req({ cookie: `kp_session=${A.keys.admin}` }), status, noDataOf: [A, B], face },
      { label: 'root key as session cookie', req: req({ cookie: `kp_session=${rootKey}` }), status, noDataOf: [A, B], face },
      { label: 'made-up session cookie', req: req({ cookie: `kp_session=${randomBytes(32).toString('base64url')}`, 'x-csrf-token': 'x' }), status, noDataOf: [A, B], face },
    ];
  }

  const spec = FACES[face];
  const accepted = face === 'platform' ? rootKey : A.keys.admin;
  const cases: Case[] = [];
  const add = (label: string, req: Req, status: number, noDataOf: Tenant[], control = false) => cases.push({ label, req, status, noDataOf, face, control });
  const refused = [A, B];

  add('no credentials', base(A), 401, refused);
  for (const [label, headers] of spec.malformed(accepted)) add(`malformed: ${label}`, { ...base(A), headers }, 401, refused);
  add('unknown key', { ...base(A), headers: spec.auth(spec.unknownKey(A)) }, 401, refused);
  const lifecycle =
    spec.lifecycleKind === 'admin'
      ? (['revokedAdmin', 'deactivatedAdmin', 'expiredAdmin'] as const)
      : spec.lifecycleKind === 'project'
        ? (['revokedProject', 'deactivatedProject', 'expiredProject'] as const)
        : (['revokedUser', 'deactivatedUser', 'expiredUser'] as const);
  for (const k of lifecycle) add(`${k.replace(/(Admin|User|Project)$/, '')} ${spec.lifecycleKind} key`, { ...base(A), headers: spec.auth(A.keys[k]) }, 401, refused);
  for (const [kind, rule] of Object.entries(spec.kinds) as Array<[KeyKind, 'ok' | number]>) {
    if (rule !== 'ok') add(`${kind} key`, { ...base(A), headers: spec.auth(A.keys[kind]) }, rule, refused);
  }
  // the operator's own key is no key of any organization: root is refused by every tenant face
  if (face !== 'platform') add('platform root key', { ...base(A), headers: spec.auth(rootKey) }, 401, refused);

  if (face === 'platform') {
    // the operator acts in any organization, but one at a time: an organization's slug with
    // another organization's objects (in the path or the body) is a 404
    const headers = spec.auth(rootKey);
    if (paramNames(route.url).some((p) => p !== spec.orgParam)) {
      add("root key → an organization's slug, the other's ids", { method: route.method, path: pathOf(B, A), ...(input.body ? { body: input.body(A) } : {}), headers }, 404, [A]);
    }
    for (const f of input.foreign ?? []) add(`root key → ${f.label}`, { method: route.method, path: pathOf(B), body: f.body!(B, A), headers }, f.status, [A]);
    if (route.method === 'GET') add('root key (control)', { ...base(A), headers }, 200, [], true);
    return cases;
  }

  // The other tenant's keys of every kind the face accepts
  const otherKeys = (Object.entries(spec.kinds) as Array<[KeyKind, 'ok' | number]>).filter(([, r]) => r === 'ok').map(([k]) => k);
  const params = paramNames(route.url);
  for (const kind of otherKeys) {
    const headers = spec.auth(B.keys[kind]);
    const who = `other tenant's ${kind} key`;
    // this tenant's path (its ids, slug or organization id) with a valid body naming its objects
    // (the gateway's paths name no tenant's object: a model id is the same for everyone)
    if (params.length && face !== 'gateway') add(`${who} → this tenant's path`, { ...base(A), headers }, CROSS_OVERRIDES[name] ?? CROSS_STATUS[face], [A]);
    if (name === 'POST /v1/organization/groups/:group_id') {
      const req = { method: 'POST', path: pathOf(A), body: { name: A.groupName }, headers: { ...headers, 'idempotency-key': idempotencyKey } };
      add(`${who} → this tenant's request again, with its Idempotency-Key`, req, 404, [A]);
    }
    // WhyLabs also takes the organization's slug for its id in the path
    if (spec.orgParam === 'org_id') {
      const path = fillPath(route, (p) => (p === 'org_id' ? A.slug : paramValue(route, face, p, A)));
      add(`${who} → this tenant's slug as org_id`, { ...base(A), path: withQuery(path, input.query?.(A)), headers }, CROSS_STATUS[face], [A]);
    }
    // own organization in the path, this tenant's ids in the other parameters
    if (spec.orgParam && params.some((p) => p !== spec.orgParam)) {
      add(`${who} → own org, this tenant's ids`, { method: route.method, path: withQuery(pathOf(B, A), input.query?.(A)), ...(input.body ? { body: input.body(A) } : {}), headers }, MIXED_STATUS[name] ?? 404, [A]);
    }
    // own path, this tenant's objects named in the query or body
    for (const f of input.foreign ?? []) {
      // only what the probe names: a query probe sends no body (which could name an object of its own)
      const q = f.query ? f.query(B, A) : input.query?.(B);
      const body = f.body ? f.body(B, A) : f.query ? undefined : input.body?.(B);
      add(`${who} → ${f.label}`, { method: route.method, path: withQuery(pathOf(B), q), ...(body !== undefined ? { body } : {}), headers }, f.status, [A]);
    }
    if (face === 'openai' && route.method === 'GET') {
      const cursor = AFTER_CURSOR[name];
      if (cursor) add(`${who} → after=<this tenant's id>`, { method: 'GET', path: withQuery(pathOf(B), `after=${A[cursor] as string}`), headers }, AFTER_STATUS, [A]);
      for (const f of FOREIGN_FILTERS[name] ?? []) add(`${who} → ${f.label} of this tenant`, { method: 'GET', path: withQuery(pathOf(B), f.query(A)), headers }, 200, [A]);
    }
    // controls: each tenant reads its own objects (so the ids above are real), without the other's data
    if (route.method === 'GET') {
      add(`${who} → own path (control)`, { method: 'GET', path: withQuery(pathOf(B), input.query?.(B)), headers }, 200, [A], true);
      add(`this tenant's ${kind} key → own path (control)`, { ...base(A), headers: spec.auth(A.keys[kind]) }, 200, [B], true);
    }
  }
  return cases;
}
