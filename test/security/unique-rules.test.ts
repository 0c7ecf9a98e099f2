// "Unique" rules enforced by the database (issue [9] Must fix 2): eight identical requests sent at
// once through a real server over HTTP end as the non-concurrent duplicate would — one success, the
// face's own 400 for the others (the answer a sequential duplicate gets), never a 5xx — with one row
// and one audit event: role names per organization and per project (create and rename), one pending
// invite per email, and the caps a count decides (50 certificates per organization, 100 spend alerts
// per scope). And migration 0009 applies to a database that already holds such duplicates.
// On SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../helpers/http.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { createTestDb, testDialects } from '../helpers/db.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { MAX_CERTIFICATES_PER_ORG } from '../../src/domain/certificates.ts';
import { MAX_ALERTS_PER_SCOPE } from '../../src/domain/spend-alerts.ts';
import { isUniqueViolation, openStore } from '../../src/store/db.ts';
import { migrateUpTo } from '../../src/store/migrate.ts';
import { makeCertificate } from '../fixtures/certs.ts';

const N = 8;

/** Runs `n` copies of `fn` at once (`fn` gets its index); what each settled to. */
const race = <T>(fn: (i: number) => Promise<T>, n = N) => Promise.allSettled(Array.from({ length: n }, (_, i) => fn(i)));

/** One success; every other an SDK error of `status` and `code` in OpenAI's envelope. The success's value. */
function oneWinner<T>(results: PromiseSettledResult<T>[], status: number, code: string): T {
  const ok = results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  const answers = failed.map((e) => (e instanceof OpenAI.APIError ? `${e.status} ${e.code}` : String(e)));
  assert.equal(ok.length, 1, `exactly one success; the others: ${JSON.stringify(answers)}`);
  assert.deepEqual(answers, Array(results.length - 1).fill(`${status} ${code}`), 'every loser gets the non-concurrent answer, no 5xx');
  for (const e of failed) assertOpenAIError({ error: (e as InstanceType<typeof OpenAI.APIError>).error });
  return ok[0]!.value;
}

for (const dialect of await testDialects()) {
  describe(`database-enforced unique rules under eight concurrent requests (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI['admin']['organization'];
    let orgId: string;
    let seq = 0;
    const uniq = (p: string) => `${p}-${++seq}`;

    before(async () => {
      s = await startServer(dialect);
      sdk = openaiClient(s, s.adminKey).admin.organization;
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await race(() => sdk.roles.list()); // warm up the server's connections
    });
    after(async () => s?.close());

    const db = () => s.rt.store.db;
    const audits = async (type: string, targetId?: string) => {
      let q = db().selectFrom('audit_logs').select('id').where('org_id', '=', orgId).where('type', '=', type);
      if (targetId) q = q.where('target_id', '=', targetId);
      return (await q.execute()).length;
    };

    test('one organization role created eight times at once: one 200, seven 400 role_name_taken, one row, one audit event', async () => {
      const name = uniq('auditor');
      const before = await audits('role.created');
      const role = oneWinner(await race(() => sdk.roles.create({ role_name: name, permissions: ['api.organization.read'] })), 400, 'role_name_taken');
      const rows = await db().selectFrom('roles').select('id').where('org_id', '=', orgId).where('name', '=', name).execute();
      assert.deepEqual(rows.map((r) => r.id), [role.id]);
      assert.equal((await audits('role.created')) - before, 1);
      assert.equal(await audits('role.created', role.id), 1);
      // the sequential duplicate answers the same
      const again = await http(s, 'POST', '/v1/organization/roles', s.adminKey, { role_name: name, permissions: [] });
      assert.equal(again.status, 400);
      assertOpenAIError(again.json);
      assert.equal(again.json.error.code, 'role_name_taken');
    });

    test('one project role created eight times at once: one 200, seven 400s; the same name stays free in another project and at organization level', async () => {
      const [p, q] = [await sdk.projects.create({ name: uniq('project') }), await sdk.projects.create({ name: uniq('project') })];
      const name = uniq('deployer');
      const before = await audits('role.created');
      const role = oneWinner(await race(() => sdk.projects.roles.create(p.id, { role_name: name, permissions: ['api.project.read'] })), 400, 'role_name_taken');
      assert.equal((await db().selectFrom('roles').select('id').where('project_id', '=', p.id).where('name', '=', name).execute()).length, 1);
      assert.equal((await audits('role.created')) - before, 1);
      assert.equal(await audits('role.created', role.id), 1);
      // other scopes are other namespaces
      await sdk.projects.roles.create(q.id, { role_name: name, permissions: [] });
      await sdk.roles.create({ role_name: name, permissions: [] });
      assert.equal((await db().selectFrom('roles').select('id').where('org_id', '=', orgId).where('name', '=', name).execute()).length, 3);
    });

    test('eight roles renamed to one name at once: one 200, seven 400s, the name once', async () => {
      const roles = await Promise.all(Array.from({ length: N }, () => sdk.roles.create({ role_name: uniq('draft'), permissions: [] })));
      const name = uniq('final');
      const before = await audits('role.updated');
      const renamed = oneWinner(await race((i) => sdk.roles.update(roles[i]!.id, { role_name: name })), 400, 'role_name_taken');
      const rows = await db().selectFrom('roles').select('id').where('org_id', '=', orgId).where('name', '=', name).execute();
      assert.deepEqual(rows.map((r) => r.id), [renamed.id]);
      assert.equal((await audits('role.updated')) - before, 1);
    });

    test('one email invited eight times at once: one 200, seven 400 invite_exists, one pending invite, one audit event', async () => {
      const email = `${uniq('invitee')}@example.com`;
      const before = await audits('invite.sent');
      const inv = oneWinner(await race(() => sdk.invites.create({ email, role: 'reader' })), 400, 'invite_exists');
      const rows = await db().selectFrom('invites').select(['id', 'status']).where('org_id', '=', orgId).where('email', '=', email).execute();
      assert.deepEqual(rows, [{ id: inv.id, status: 'pending' }]);
      assert.equal((await audits('invite.sent')) - before, 1);
      assert.equal(await audits('invite.sent', inv.id), 1);
    });

    test('an invite past its expiry no longer holds the email: a new one is sent and the old one is stored as expired', async () => {
      const email = `${uniq('late')}@example.com`;
      const old = await sdk.invites.create({ email, role: 'reader' });
      await db().updateTable('invites').set({ expires_at: Date.now() - 1000 }).where('id', '=', old.id).execute();
      const fresh = await http(s, 'POST', '/v1/organization/invites', s.adminKey, { email, role: 'reader' });
      assert.equal(fresh.status, 200, JSON.stringify(fresh.json));
      const rows = await db().selectFrom('invites').select(['id', 'status']).where('email', '=', email).orderBy('created_at').orderBy('id').execute();
      assert.deepEqual(rows, [{ id: old.id, status: 'expired' }, { id: fresh.json.id, status: 'pending' }]);
      assert.equal((await sdk.invites.retrieve(old.id)).status, 'expired');
    });

    test(`the ${MAX_CERTIFICATES_PER_ORG}-certificate cap under eight concurrent uploads: one more fits, seven 400 certificate_limit_reached`, async () => {
      const org = await s.rt.core.orgs.create(SYSTEM, { name: 'Certs', slug: uniq('certs') });
      const admin = openaiClient(s, org.adminKey.secret).admin.organization;
      for (let i = 0; i < MAX_CERTIFICATES_PER_ORG - 1; i++) await s.rt.core.certificates.upload(SYSTEM, org.org.id, { certificate: makeCertificate(uniq('filler')) });
      const pems = Array.from({ length: N }, () => makeCertificate(uniq('cap')));
      const cert = oneWinner(await race((i) => admin.certificates.create({ certificate: pems[i]! })), 400, 'certificate_limit_reached');
      const n = await db().selectFrom('certificates').select('id').where('org_id', '=', org.org.id).execute();
      assert.equal(n.length, MAX_CERTIFICATES_PER_ORG);
      const created = await db().selectFrom('audit_logs').select('target_id').where('org_id', '=', org.org.id).where('type', '=', 'certificate.created').execute();
      assert.equal(created.length, MAX_CERTIFICATES_PER_ORG);
      assert.equal(created.filter((a) => a.target_id === cert.id).length, 1);
    });

    test(`the ${MAX_ALERTS_PER_SCOPE}-spend-alert cap of a project under eight concurrent creates: one more fits, seven 400s`, async () => {
      const p = await sdk.projects.create({ name: uniq('alerts') });
      const input = { thresholdCents: 1000, currency: 'USD', interval: 'month', channel: { type: 'email', recipients: ['ops@example.com'], subjectPrefix: null } };
      for (let i = 0; i < MAX_ALERTS_PER_SCOPE - 1; i++) await s.rt.core.spendAlerts.create(SYSTEM, orgId, p.id, input);
      const before = await audits('spend_alert.created');
      const body = { threshold_amount: 5000, currency: 'USD' as const, interval: 'month' as const, notification_channel: { type: 'email' as const, recipients: ['cfo@example.com'] } };
      oneWinner(await race(() => sdk.projects.spendAlerts.create(p.id, body)), 400, 'too_many_spend_alerts');
      assert.equal((await db().selectFrom('spend_alerts').select('id').where('project_id', '=', p.id).execute()).length, MAX_ALERTS_PER_SCOPE);
      assert.equal((await audits('spend_alert.created')) - before, 1);
    });
  });

  describe(`migration 0009 over a database holding duplicates (${dialect})`, () => {
    test('later duplicate roles are renamed, later duplicate pending invites expire, and the new indexes hold', async () => {
      const tdb = await createTestDb(dialect);
      const store = openStore({ dataDir: tdb.dataDir, databaseUrl: tdb.databaseUrl });
      try {
        await migrateUpTo(store.db, '0008_project_settings');
        const db = store.db;
        const t = 1_700_000_000_000;
        const future = Date.now() + 86_400_000;
        await db.insertInto('organizations').values({ id: 'org_m', slug: 'm', name: 'M', use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: t, updated_at: t }).execute();
        await db.insertInto('projects').values([
          { id: 'proj_a', org_id: 'org_m', name: 'A', status: 'active', external_key_id: null, residency: null, created_at: t, archived_at: null },
          { id: 'proj_b', org_id: 'org_m', name: 'B', status: 'active', external_key_id: null, residency: null, created_at: t, archived_at: null },
        ]).execute();
        const role = (id: string, project_id: string | null, name: string, created_at: number, predefined = 0) => ({ id, org_id: 'org_m', project_id, name, description: null, permissions: '[]', predefined, created_at, updated_at: created_at });
        await db.insertInto('roles').values([
          role('role_1', null, 'ops', t + 1), // kept: the oldest
          role('role_3', null, 'ops', t + 2),
          role('role_2', null, 'ops', t + 2), // same time as role_3: the id decides, role_2 comes first
          role('role_4', 'proj_a', 'ops', t + 5), // another scope: untouched
          role('role_5', 'proj_a', 'dev', t + 1), // kept
          role('role_6', 'proj_a', 'dev', t + 3),
          role('role_7', 'proj_b', 'dev', t + 9), // another project: untouched
          role('role_9', null, 'owner', t + 0), // a custom role racing the predefined one: renamed
          role('role_8', null, 'owner', t + 4, 1), // predefined: kept, though younger
        ]).execute();
        const invite = (id: string, email: string, status: 'pending' | 'accepted' | 'expired', created_at: number, expires_at = future) => ({ id, org_id: 'org_m', email, role: 'reader' as const, status, projects: '[]', created_at, expires_at, accepted_at: null });
        await db.insertInto('invites').values([
          invite('inv_1', 'a@example.com', 'pending', t + 1), // kept
          invite('inv_2', 'a@example.com', 'pending', t + 2),
          invite('inv_3', 'a@example.com', 'pending', t + 3),
          invite('inv_4', 'a@example.com', 'accepted', t), // not pending: untouched
          invite('inv_5', 'b@example.com', 'pending', t, t + 10), // past its expiry: expired
          invite('inv_6', 'b@example.com', 'pending', t + 5), // then the only pending one: kept
        ]).execute();

        assert.equal((await store.migrate())[0], '0009_unique_rules'); // and any later migration

        const roles = Object.fromEntries((await db.selectFrom('roles').select(['id', 'name']).execute()).map((r) => [r.id, r.name]));
        assert.deepEqual(roles, {
          role_1: 'ops',
          role_2: 'ops (role_2)',
          role_3: 'ops (role_3)',
          role_4: 'ops',
          role_5: 'dev',
          role_6: 'dev (role_6)',
          role_7: 'dev',
          role_8: 'owner',
          role_9: 'owner (role_9)',
        });
        const invites = Object.fromEntries((await db.selectFrom('invites').select(['id', 'status']).execute()).map((r) => [r.id, r.status]));
        assert.deepEqual(invites, { inv_1: 'pending', inv_2: 'expired', inv_3: 'expired', inv_4: 'accepted', inv_5: 'expired', inv_6: 'pending' });

        // from now on the database refuses the duplicates itself (NULL project ids included)
        await assert.rejects(db.insertInto('roles').values(role('role_x', null, 'ops', t + 20)).execute(), isUniqueViolation);
        await assert.rejects(db.insertInto('roles').values(role('role_y', 'proj_a', 'dev', t + 20)).execute(), isUniqueViolation);
        await db.insertInto('roles').values(role('role_z', 'proj_b', 'ops', t + 20)).execute();
        await assert.rejects(db.insertInto('invites').values(invite('inv_x', 'a@example.com', 'pending', t + 20)).execute(), isUniqueViolation);
        await db.insertInto('invites').values(invite('inv_y', 'a@example.com', 'expired', t + 20)).execute();
      } finally {
        await store.close();
        await tdb.drop();
      }
    });
  });
}
