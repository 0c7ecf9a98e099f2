// Races: eight identical requests sent at once through a real server over HTTP (issue [9] Must fix 1
// and 3). Each race ends as the non-concurrent duplicate would: one success and, for the others, the
// face's own 4xx in its own envelope (OpenAI 409/400, DRF 400) — never a 5xx — with exactly the rows
// and audit events one success leaves. And 40 concurrent credential creates on a fresh organization
// all succeed under one data key. On SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { assertMatchesSpec } from '../helpers/spec.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { makeCertificate } from '../fixtures/certs.ts';
import { isUniqueViolation } from '../../src/store/db.ts';
import { classifyError } from '../../src/faces/common.ts';
import { assertDetail, assertFieldErrors, ibl } from '../faces/iblai/helpers.ts';

const SPEC = 'openai-admin.subset.json';
const ROOT_KEY = 'c0ffee'.repeat(10) + 'abcd';
const N = 8;

/** Runs `n` copies of `fn` at once; what each settled to. */
const race = <T>(fn: () => Promise<T>, n = N) => Promise.allSettled(Array.from({ length: n }, () => fn()));

/** One success; every other an SDK error of `status` in OpenAI's envelope. The success's value. */
function oneWinner<T>(results: PromiseSettledResult<T>[], status: number): T {
  const ok = results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  const statuses = failed.map((e) => (e instanceof OpenAI.APIError ? e.status : String(e)));
  assert.equal(ok.length, 1, `exactly one success; the others: ${JSON.stringify(statuses)}`);
  assert.deepEqual(statuses, Array(results.length - 1).fill(status), 'every loser gets the non-concurrent answer, no 5xx');
  for (const e of failed) assertOpenAIError({ error: (e as InstanceType<typeof OpenAI.APIError>).error });
  return ok[0]!.value;
}

for (const dialect of await testDialects()) {
  describe(`concurrent identical requests (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI['admin']['organization'];
    let orgId: string;
    let seq = 0;
    const uniq = (p: string) => `${p}-${++seq}`;

    before(async () => {
      s = await startServer(dialect, { rootKey: ROOT_KEY });
      sdk = openaiClient(s, s.adminKey).admin.organization;
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      // warm up: the server's connections (its PostgreSQL pool opens them on first use), so that
      // the first race below is as tight as the others
      await race(() => sdk.certificates.list());
    });
    after(async () => s?.close());

    const db = () => s.rt.store.db;
    const audits = async (type: string, targetId?: string) => {
      let q = db().selectFrom('audit_logs').select('id').where('org_id', '=', orgId).where('type', '=', type);
      if (targetId) q = q.where('target_id', '=', targetId);
      return (await q.execute()).length;
    };
    const member = (role: 'owner' | 'reader' = 'reader') => s.rt.core.users.addMember(SYSTEM, orgId, { email: `${uniq('m')}@example.com`, role });

    test('one certificate uploaded eight times at once: one 200, seven 409s, one row, one audit event', async () => {
      const pem = makeCertificate(uniq('race'));
      const cert = oneWinner(await race(() => sdk.certificates.create({ certificate: pem, name: 'raced' })), 409);
      assert.equal(cert.object, 'certificate');
      const rows = await db().selectFrom('certificates').select('id').where('org_id', '=', orgId).where('name', '=', 'raced').execute();
      assert.deepEqual(rows.map((r) => r.id), [cert.id]);
      assert.equal(await audits('certificate.created', cert.id), 1);
      assert.equal(await audits('certificate.created'), 1, 'no audit event of a rolled-back upload');
      // the non-concurrent duplicate answers the same
      const again = await http(s, 'POST', '/v1/organization/certificates', s.adminKey, { certificate: pem });
      assert.equal(again.status, 409);
      assertOpenAIError(again.json);
    });

    test('one user added to one group eight times at once: one 200, seven 409s', async () => {
      const g = await sdk.groups.create({ name: uniq('group') });
      const u = await member();
      const before = await audits('group.updated', g.id);
      const added = oneWinner(await race(() => sdk.groups.users.create(g.id, { user_id: u.id })), 409);
      assert.equal(added.user_id, u.id);
      const rows = await db().selectFrom('group_members').select('user_id').where('group_id', '=', g.id).execute();
      assert.deepEqual(rows.map((r) => r.user_id), [u.id]);
      assert.equal((await audits('group.updated', g.id)) - before, 1);
      assertMatchesSpec(SPEC, 'get', '/organization/groups/{group_id}/users', 200, (await http(s, 'GET', `/v1/organization/groups/${g.id}/users`, s.adminKey)).json);
    });

    test('one role assigned to one group eight times at once: one 200, seven 409s', async () => {
      const g = await sdk.groups.create({ name: uniq('group') });
      const r = await sdk.roles.create({ role_name: uniq('role'), permissions: ['api.groups.read'] });
      const assigned = oneWinner(await race(() => sdk.groups.roles.create(g.id, { role_id: r.id })), 409);
      assert.equal(assigned.role.id, r.id);
      const rows = await db().selectFrom('role_assignments').select('id').where('principal_id', '=', g.id).where('role_id', '=', r.id).execute();
      assert.equal(rows.length, 1);
      assert.equal(await audits('role.assignment.created', rows[0]!.id), 1);
      const n = (await db().selectFrom('audit_logs').select('payload').where('org_id', '=', orgId).where('type', '=', 'role.assignment.created').execute()).filter((a) => a.payload.includes(g.id)).length;
      assert.equal(n, 1);
    });

    test('one user added to one project eight times at once: one 200, seven 409s', async () => {
      const p = await sdk.projects.create({ name: uniq('project') });
      const u = await member();
      const added = oneWinner(await race(() => sdk.projects.users.create(p.id, { user_id: u.id, role: 'member' })), 409);
      assert.equal(added.id, u.id);
      const rows = await db().selectFrom('project_members').select('user_id').where('project_id', '=', p.id).execute();
      assert.deepEqual(rows.map((r) => r.user_id), [u.id]);
      const n = await db().selectFrom('audit_logs').select('id').where('type', '=', 'user.added').where('target_id', '=', u.id).where('project_id', '=', p.id).execute();
      assert.equal(n.length, 1);
    });

    test('one invite accepted eight times at once (platform API): one 200, seven 400s, one member', async () => {
      const p = await sdk.projects.create({ name: uniq('project') });
      const email = `${uniq('invitee')}@example.com`;
      const inv = await sdk.invites.create({ email, role: 'reader', projects: [{ id: p.id, role: 'member' }] });
      const url = `/platform/v1/organizations/main/invites/${inv.id}/accept`;
      const results = await Promise.all(Array.from({ length: N }, () => http(s, 'POST', url, ROOT_KEY, {})));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, ...Array(N - 1).fill(400)], JSON.stringify(results.map((r) => r.json)));
      for (const r of results.filter((x) => x.status === 400)) {
        assertOpenAIError(r.json);
        assert.equal(r.json.error.code, 'invite_accepted');
      }
      const winner = results.find((r) => r.status === 200)!;
      const userId = winner.json.user.id as string;
      assert.equal((await sdk.invites.retrieve(inv.id)).status, 'accepted');
      assert.equal((await db().selectFrom('users').select('id').where('email', '=', email).execute()).length, 1);
      assert.equal((await db().selectFrom('org_memberships').select('user_id').where('org_id', '=', orgId).where('user_id', '=', userId).execute()).length, 1);
      assert.equal((await db().selectFrom('project_members').select('user_id').where('project_id', '=', p.id).execute()).length, 1);
      assert.equal(await audits('invite.accepted', inv.id), 1);
      assert.equal((await db().selectFrom('audit_logs').select('id').where('type', '=', 'user.added').where('target_id', '=', userId).execute()).length, 2, 'to the organization and to the project, once each');
    });

    test('ibl.ai: one integration credential created eight times at once: one 200, seven DRF 400s', async () => {
      const integ = '/api/ai-account/orgs/main/integration-credential/';
      const results = await Promise.all(Array.from({ length: N }, () => ibl(s, 'POST', integ, s.adminKey, { name: 'raced-drive', value: { token: 'x' }, platform: 'main' })));
      assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(N - 1).fill(400)], results.map((r) => r.text).join('\n'));
      for (const r of results.filter((x) => x.status === 400)) assertFieldErrors(r, ['name'], { name: /already exists/ });
      const rows = await db().selectFrom('credentials').select('id').where('org_id', '=', orgId).where('kind', '=', 'integration').where('name', '=', 'raced-drive').execute();
      assert.equal(rows.length, 1);
      assert.equal(await audits('credential.created', rows[0]!.id), 1);
    });

    test('ibl.ai: platform metadata posted eight times at once: each answers as it would alone (it adds or updates), one row, one credential', async () => {
      const meta = '/api/ai-account/orgs/main/platform-metadata/';
      await ibl(s, 'POST', '/api/ai-account/orgs/main/credential/', s.adminKey, { name: 'openai', value: { key: 'sk-race' }, platform: 'main' });
      assertDetail(await ibl(s, 'GET', meta, s.adminKey), 404);
      const body = { data: { llms: { google: { credential: { type: 'service_account', private_key: 'pk' }, llm_options: { temperature: 0.5 } }, openai: {} }, active_llm: 'google' } };
      const results = await Promise.all(Array.from({ length: N }, () => ibl(s, 'POST', meta, s.adminKey, body)));
      assert.deepEqual(results.map((r) => r.status), Array(N).fill(201), results.map((r) => r.text).join('\n'));
      for (const r of results) assert.equal(r.json.metadata.active_llm, 'google');
      assert.equal((await db().selectFrom('platform_settings').select('org_id').where('org_id', '=', orgId).execute()).length, 1);
      const google = await db().selectFrom('credentials').select('id').where('org_id', '=', orgId).where('kind', '=', 'llm').where('name', '=', 'google').execute();
      assert.equal(google.length, 1);
      assert.equal(await audits('platform_settings.created'), 1);
      assert.equal(await audits('platform_settings.updated'), N - 1);
      assert.equal(await audits('credential.created', google[0]!.id), 1);
      assert.deepEqual((await s.rt.core.credentials.openLlm(orgId, 'google'))?.value, { type: 'service_account', private_key: 'pk' });
    });

    test('a store transaction that meets a unique violation runs once more in a new transaction; a second violation is a conflict to every face', async () => {
      const org = await db().selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirstOrThrow();
      let runs = 0;
      // the first run inserts a duplicate (PostgreSQL aborts that transaction), the second does not
      const out = await db().transaction().execute(async (tx) => {
        runs++;
        if (runs === 1) await tx.insertInto('organizations').values({ ...org, id: 'org_dup_race' }).execute();
        return (await tx.selectFrom('organizations').select('id').where('slug', '=', org.slug).execute()).length;
      });
      assert.deepEqual([runs, out], [2, 1]);
      runs = 0;
      const err = await db()
        .transaction()
        .execute(async (tx) => {
          runs++;
          await tx.insertInto('organizations').values({ ...org, id: `org_dup_${runs}` }).execute();
        })
        .then(() => null, (e: unknown) => e);
      assert.equal(runs, 2, 'one retry, no more');
      assert.ok(isUniqueViolation(err));
      assert.deepEqual(
        { status: classifyError(err).status, kind: classifyError(err).kind },
        { status: 409, kind: 'conflict' },
      );
      assert.equal((await db().selectFrom('organizations').select('id').where('slug', '=', org.slug).execute()).length, 1, 'nothing of either run stayed');
    });

    test("a new organization's 40 concurrent vault writes all succeed under one data key", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Fresh', slug: 'fresh' });
      const url = '/api/ai-account/orgs/fresh/credential/';
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => ibl(s, 'POST', url, other.adminKey.secret, { name: `p${i}`, value: { key: `sk-fresh-${i}` }, platform: 'fresh' })),
      );
      assert.deepEqual(results.map((r) => r.status), Array(40).fill(200), results.filter((r) => r.status !== 200).map((r) => r.text).join('\n'));
      assert.equal((await db().selectFrom('data_keys').select('org_id').where('org_id', '=', other.org.id).execute()).length, 1);
      for (let i = 0; i < 40; i++) assert.deepEqual((await s.rt.core.credentials.openLlm(other.org.id, `p${i}`))?.value, { key: `sk-fresh-${i}` });
      const created = await db().selectFrom('audit_logs').select('id').where('org_id', '=', other.org.id).where('type', '=', 'credential.created').execute();
      assert.equal(created.length, 40);
    });
  });
}
