// Idempotency-Key under concurrency (issue [9] Must fix 6): identical requests with one key that
// arrive together run once — the others wait for that run's answer and replay it — on one node and
// across nodes (the claim is a row in the database); a run that fails with a 5xx releases the key, a
// claim left by a dead node is taken over, and a run that outlasts the bounded wait answers a 409
// the SDK retries. Through a real server over HTTP (the OpenAI SDK for the admin face), on SQLite and
// PostgreSQL. Besides the OpenAI admin face, a small face of this test wears the same hooks over
// routes that count their runs, wait for the test, or fail once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { assertOpenAIError, openaiClient, readResponse } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { FACES } from '../../src/server.ts';
import { defineFace, JSON_ADMIN_BODY, type Face } from '../../src/faces/kit.ts';
import { authToken } from '../../src/faces/common.ts';
import { sendOpenAIError } from '../../src/faces/shared/openai-wire.ts';
import { idempotencyHooks } from '../../src/faces/openai/idempotency.ts';
import { IDEMPOTENCY_STALE_MS, IdempotencyService } from '../../src/domain/idempotency.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const N = 8;

/** What the test face's routes did: requests received, handler runs, and the gate `/t/gated` waits at. */
const seen = { received: 0, runs: 0, failures: 0 };
let openGate: () => void = () => {};
let gate: Promise<void> = Promise.resolve();
const closeGate = () => {
  gate = new Promise<void>((r) => (openGate = r));
};

const testFace: Face = defineFace({
  name: 'test-idempotency',
  prefix: '/t',
  auth: { token: (req) => authToken(req), missing: 'no key', invalid: 'bad key' },
  org: (_req, actor) => (actor.type === 'key' ? { id: actor.key.orgId, slug: null } : null),
  admit() {},
  render: (reply, err) => sendOpenAIError(reply, err),
  notFoundMessage: (req) => `no ${req.url}`,
  body: JSON_ADMIN_BODY,
  routes: async (app, { core }) => {
    app.addHook('onRequest', async () => {
      seen.received++;
    });
    idempotencyHooks(app, core);
    app.post('/gated', async (req) => {
      seen.runs++;
      await gate;
      return { run: seen.runs, id: randomBytes(8).toString('hex'), body: req.body };
    });
    app.post('/flaky', async () => {
      seen.runs++;
      if (seen.failures++ === 0) throw new Error('the first run fails');
      return { run: seen.runs, id: randomBytes(8).toString('hex') };
    });
  },
});

for (const dialect of await testDialects()) {
  describe(`Idempotency-Key under concurrency (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI['admin']['organization'];
    let orgId: string;
    let keyId: string;
    const newKey = () => `race-${randomBytes(6).toString('hex')}`;

    before(async () => {
      s = await startServer(dialect, {}, { faces: [...FACES, testFace] });
      sdk = openaiClient(s, s.adminKey).admin.organization;
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      keyId = (await s.rt.store.db.selectFrom('api_keys').select('id').where('org_id', '=', orgId).where('kind', '=', 'admin').executeTakeFirstOrThrow()).id;
      await Promise.all(Array.from({ length: N }, () => sdk.projects.list())); // warm up the server's connections
    });
    after(async () => s?.close());

    const db = () => s.rt.store.db;
    const post = (path: string, key: string, body: unknown) =>
      fetch(`${s.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) }).then(readResponse);
    const record = (key: string) => db().selectFrom('idempotency_records').select(['status_code', 'created_at']).where('idempotency_key', '=', key).execute();
    const reset = () => {
      seen.received = 0;
      seen.runs = 0;
      seen.failures = 0;
    };
    const until = async (cond: () => boolean) => {
      while (!cond()) await sleep(5);
    };

    test('one admin API key created eight times at once with one Idempotency-Key (SDK): one key, one audit event, eight identical answers, seven replayed', async () => {
      const key = newKey();
      const name = `idem-${key}`;
      const results = await Promise.all(Array.from({ length: N }, () => sdk.adminAPIKeys.create({ name }, { headers: { 'Idempotency-Key': key } }).withResponse()));
      const ids = new Set(results.map((r) => r.data.id));
      assert.equal(ids.size, 1, 'every answer names the one key created');
      assert.equal(new Set(results.map((r) => r.data.value)).size, 1, 'and shows its secret, the same');
      assert.equal(results.filter((r) => r.response.headers.get('idempotent-replayed') === 'true').length, N - 1);
      const rows = await db().selectFrom('api_keys').select('id').where('org_id', '=', orgId).where('name', '=', name).execute();
      assert.deepEqual(rows.map((r) => r.id), [...ids]);
      const audits = await db().selectFrom('audit_logs').select('id').where('org_id', '=', orgId).where('type', '=', 'api_key.created').where('target_id', '=', rows[0]!.id).execute();
      assert.equal(audits.length, 1);
      assert.deepEqual((await record(key)).map((r) => r.status_code), [200]);
    });

    test('eight requests at once whose one run answers a 400: eight identical 400s in the OpenAI envelope, seven replayed', async () => {
      const key = newKey();
      const taken = `taken-${key}`;
      await sdk.roles.create({ role_name: taken, permissions: [] });
      const results = await Promise.all(Array.from({ length: N }, () => post('/v1/organization/roles', key, { role_name: taken, permissions: [] })));
      assert.deepEqual(results.map((r) => r.status), Array(N).fill(400));
      for (const r of results) {
        assertOpenAIError(r.json);
        assert.equal(r.json.error.code, 'role_name_taken');
        assert.equal(r.text, results[0]!.text);
      }
      assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, N - 1);
      assert.equal((await db().selectFrom('roles').select('id').where('name', '=', taken).execute()).length, 1);
    });

    test('eight requests at once while the one run is still working: the handler runs once, the others wait and replay its answer', async () => {
      reset();
      closeGate();
      const key = newKey();
      const pending = Promise.all(Array.from({ length: N }, () => post('/t/gated', key, { n: 1 })));
      await until(() => seen.received === N && seen.runs >= 1);
      assert.deepEqual((await record(key)).map((r) => r.status_code), [0], 'the key is claimed, no answer stored yet');
      openGate();
      const results = await pending;
      assert.equal(seen.runs, 1);
      assert.deepEqual(results.map((r) => r.status), Array(N).fill(200));
      for (const r of results) assert.deepEqual(r.json, results[0]!.json);
      assert.equal(results.filter((r) => r.headers.get('idempotent-replayed') === 'true').length, N - 1);
      assert.deepEqual((await record(key)).map((r) => r.status_code), [200]);
    });

    test('a run that fails with a 5xx releases the key: the retry runs and its answer is the one replayed', async () => {
      reset();
      const key = newKey();
      const first = await post('/t/flaky', key, {});
      assert.equal(first.status, 500);
      assertOpenAIError(first.json, 'server_error');
      assert.deepEqual(await record(key), [], 'nothing stored, the claim is gone');
      const second = await post('/t/flaky', key, {});
      assert.equal(second.status, 200);
      assert.equal(second.headers.get('idempotent-replayed'), null);
      const third = await post('/t/flaky', key, {});
      assert.deepEqual([third.status, third.json, third.headers.get('idempotent-replayed')], [200, second.json, 'true']);
      assert.equal(seen.runs, 2);
    });

    test('a key claimed on another node: the request waits for that node to store its answer and replays it', async () => {
      reset();
      const key = newKey();
      const body = { n: 2 };
      // "another node": the same database through a service of its own
      const other = new IdempotencyService(s.rt.store, s.rt.masterKey.key);
      const claim = await other.claim(orgId, keyId, key, IdempotencyService.requestHash('POST', '/t/gated', body));
      assert.equal(claim.kind, 'claimed');
      let done = false;
      const waiting = post('/t/gated', key, body).then((r) => ((done = true), r));
      await until(() => seen.received === 1);
      // a different request under the claimed key is refused at once, while the claim is pending
      const reused = await post('/t/gated', key, { n: 3 });
      assert.equal(reused.status, 400);
      assert.equal(reused.json.error.code, 'idempotency_key_reused');
      assert.equal(done, false, 'still waiting');
      const answer = JSON.stringify({ from: 'the other node' });
      await other.save(orgId, keyId, key, '', { status: 201, body: answer }, claim.kind === 'claimed' ? claim.claimedAt : -1);
      const r = await waiting;
      assert.deepEqual([r.status, r.text, r.headers.get('idempotent-replayed')], [201, answer, 'true']);
      assert.equal(seen.runs, 0);
    });

    test('a claim left by a node that died is taken over once stale: the request runs', async () => {
      reset();
      const key = newKey();
      const body = { n: 4 };
      const old = Date.now() - IDEMPOTENCY_STALE_MS - 1000;
      await db().insertInto('idempotency_records').values({ org_id: orgId, key_id: keyId, idempotency_key: key, request_hash: IdempotencyService.requestHash('POST', '/t/gated', body), status_code: 0, response_body: '', created_at: old }).execute();
      const r = await post('/t/gated', key, body);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('idempotent-replayed'), null);
      assert.equal(seen.runs, 1);
      const rows = await record(key);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.status_code, 200);
      assert.ok(rows[0]!.created_at > old);
    });

    test('a run that outlasts the bounded wait: the others get a 409 (which the SDK retries), then the replay', async () => {
      reset();
      closeGate();
      const key = newKey();
      const running = post('/t/gated', key, { n: 5 });
      await until(() => seen.runs === 1);
      const busy = await post('/t/gated', key, { n: 5 });
      assert.equal(busy.status, 409);
      assertOpenAIError(busy.json);
      assert.equal(busy.json.error.param, 'Idempotency-Key');
      openGate();
      const first = await running;
      assert.equal(first.status, 200);
      const retried = await post('/t/gated', key, { n: 5 });
      assert.deepEqual([retried.status, retried.text, retried.headers.get('idempotent-replayed')], [200, first.text, 'true']);
      assert.equal(seen.runs, 1);
    });
  });
}
