// The security matrix for the console's session credential (issue [10]): the console calls the
// OpenAI admin, ibl.ai and platform faces with its session cookie (src/faces/session.ts), so every
// state-changing route of those faces (every POST, PUT, PATCH and DELETE of app.routeList), on SQLite
// and PostgreSQL, with the matrix's own valid inputs (test/security/matrix.ts), is tried:
//
//   - by a reader's session with the right CSRF token: 403 in the face's envelope — the domain
//     refuses, whatever the page shows (the platform face: 403, the reader is not the operator);
//   - by an owner's session without the CSRF token, with a wrong one, and with the right one from a
//     foreign Origin: 403 `csrf_failed`;
//   - by the other tenant's owner session: refused (4xx), none of this tenant's data in the answer;
//
// each answer in the face's own envelope, without a stack trace, and no row of the database changes.
// A request with an Authorization header is authenticated by it alone: a session cookie beside an
// unknown key is still a 401.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { assertNoStackTrace, assertUnchanged, CONSOLE_PUBLIC_WRITES, FACES, faceOf, fillPath, leakedMarkers, makeTenant, paramNames, paramValue, pool, ROUTE_INPUTS, routeName, send, snapshot, type Route, type Tenant } from './matrix.ts';

const PASSWORD = 'console matrix password 1';
const SESSION_FACES = new Set(['openai', 'iblai', 'platform'] as const);
type SessionFace = 'openai' | 'iblai' | 'platform';
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(s: TestServer, userId: string, email: string, org: string): Promise<Session> {
  await s.rt.core.consoleSessions.setPassword(userId, PASSWORD);
  const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: PASSWORD, org }) });
  const body = (await res.json()) as { csrf_token: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: body.csrf_token };
}

for (const dialect of await testDialects()) {
  describe(`console sessions on the faces (${dialect})`, async () => {
    const rootKey = randomBytes(32).toString('hex');
    const s = await startServer(dialect, { rootKey });
    after(() => s.close());
    const store = s.rt.store;
    const A = await makeTenant(s.rt.core, store, 'initech');
    const B = await makeTenant(s.rt.core, store, 'umbrella');
    const reader = await signIn(s, A.readerId, A.readerEmail, A.slug);
    const owner = await signIn(s, A.ownerId, A.ownerEmail, A.slug);
    const otherOwner = await signIn(s, B.ownerId, B.ownerEmail, B.slug);
    const routes = (s.app.routeList as Route[]).filter((r) => SESSION_FACES.has(faceOf(r) as SessionFace) && WRITES.has(r.method));

    test('the session faces have write routes to try', () => {
      const per = (f: string) => routes.filter((r) => faceOf(r) === f).length;
      assert.ok(per('openai') > 50 && per('iblai') > 5 && per('platform') > 3, `openai ${per('openai')}, iblai ${per('iblai')}, platform ${per('platform')}`);
    });

    // the console's own writes (but sign-in and invite acceptance, which start a session): an owner's
    // session without the token, with a wrong one, or from a foreign origin is 403 csrf_failed
    test("the console API's own writes need the CSRF token and the server's origin", async () => {
      const own = (s.app.routeList as Route[]).filter((r) => faceOf(r) === 'console' && WRITES.has(r.method) && !CONSOLE_PUBLIC_WRITES.has(routeName(r)));
      assert.ok(own.length >= 3, own.map(routeName).join(', '));
      const before = await snapshot(store);
      for (const r of own) {
        const path = r.url.replace(':invite_id', A.inviteId).replace(':project_id', A.projectId);
        const body = r.method === 'DELETE' ? undefined : { user_id: A.ownerId, current_password: PASSWORD, new_password: 'another long password' };
        for (const [label, headers] of [
          ['no token', { cookie: owner.cookie }],
          ['wrong token', { cookie: owner.cookie, 'x-csrf-token': reader.csrf }],
          ['foreign origin', { cookie: owner.cookie, 'x-csrf-token': owner.csrf, origin: 'https://evil.example' }],
        ] as const) {
          const res = await send(s, { method: r.method, path, headers: { ...headers }, ...(body ? { body } : {}) });
          assert.equal(res.status, 403, `${routeName(r)} [${label}] → ${res.status} ${res.text}`);
          assert.equal(res.json.error.code, 'csrf_failed', res.text);
        }
      }
      assertUnchanged(before, await snapshot(store), 'console writes refused by CSRF', ['console_sessions']);
    });

    function request(route: Route, t: Tenant, headers: Record<string, string>) {
      const face = faceOf(route) as SessionFace;
      const input = ROUTE_INPUTS[routeName(route)];
      const path = fillPath(route, (p) => paramValue(route, face, p, t)) + (input?.query ? `?${input.query(t)}` : '');
      return { method: route.method, path, headers, ...(input?.body ? { body: input.body(t) } : {}) };
    }

    for (const route of routes) {
      const name = routeName(route);
      const face = faceOf(route) as SessionFace;
      test(name, async () => {
        const withSession = (x: Session, extra: Record<string, string> = {}) => ({ cookie: x.cookie, ...extra });
        const cases: Array<{ label: string; req: ReturnType<typeof request>; status: number | 'refused'; code?: string; noDataOf?: Tenant }> = [
          { label: 'reader session with its CSRF token', req: request(route, A, withSession(reader, { 'x-csrf-token': reader.csrf })), status: 403 },
          { label: 'owner session without a CSRF token', req: request(route, A, withSession(owner)), status: 403, code: 'csrf_failed' },
          { label: 'owner session with a wrong CSRF token', req: request(route, A, withSession(owner, { 'x-csrf-token': reader.csrf })), status: 403, code: 'csrf_failed' },
          { label: 'owner session from a foreign origin', req: request(route, A, withSession(owner, { 'x-csrf-token': owner.csrf, origin: 'https://evil.example' })), status: 403, code: 'csrf_failed' },
          // (a route naming no object of A acts in the session's own organization: nothing of A to refuse)
          ...(paramNames(route.url).length ? [{ label: "the other tenant's owner session", req: request(route, A, withSession(otherOwner, { 'x-csrf-token': otherOwner.csrf })), status: 'refused' as const, noDataOf: A }] : []),
          { label: 'an unknown key beside an owner session', req: request(route, A, withSession(owner, { 'x-csrf-token': owner.csrf, ...FACES[face].auth(FACES[face].unknownKey(A)) })), status: 401 },
        ];
        const before = await snapshot(store);
        const answers = await pool(3, cases.map((c) => () => send(s, c.req)));
        const afterAll = await snapshot(store);
        const failures: string[] = [];
        cases.forEach((c, i) => {
          const res = answers[i]!;
          const what = `${name} [${c.label}] ${c.req.method} ${c.req.path} → ${res.status} ${res.text.slice(0, 300)}`;
          try {
            if (c.status === 'refused') assert.ok(res.status >= 400 && res.status < 500, `a refusal: ${what}`);
            else assert.equal(res.status, c.status, `expected ${c.status}: ${what}`);
            FACES[face].envelope(res.status, res.json, res.text);
            assertNoStackTrace(res.text, what);
            // (the ibl.ai face answers in DRF's words: "CSRF Failed: …")
            if (c.code) assert.ok(res.text.includes(c.code) || (face === 'iblai' && res.text.includes('CSRF Failed')), `code ${c.code}: ${what}`);
            if (c.noDataOf) assert.deepEqual(leakedMarkers(c.noDataOf, res.text, JSON.stringify(c.req)), [], what);
          } catch (err) {
            failures.push((err as Error).message);
          }
        });
        assert.deepEqual(failures, []);
        // the failed authentications of the unknown-key case are counted, not stored
        assertUnchanged(before, afterAll, name, ['console_sessions']);
      });
    }
  });
}
