// ibl.ai face, LLM and integration credentials over HTTP on a real server, both dialects: exact
// statuses, answers checked against the 4.90.4 spec extract, masking, the plaintext absent from the
// database files, master-key rotation, auth, cross-tenant refusal and DRF-style bad input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { generateKey } from '../../../src/crypto/envelope.ts';
import { P, SPEC, assertDetail, assertFieldErrors, auditCount, ibl } from './helpers.ts';

const OPENAI_KEY = 'sk-PLAINTEXT-openai-0123456789abcdefghijklmnop';
const GOOGLE_SA = {
  type: 'service_account',
  project_id: 'proj-PLAINTEXT-42',
  private_key: '-----BEGIN PRIVATE KEY-----\nPLAINTEXTPRIVATEKEYMATERIAL\n-----END PRIVATE KEY-----\n',
  client_email: 'sa-PLAINTEXT@proj.iam.gserviceaccount.com',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const ROTATED_KEY = 'sk-PLAINTEXT-rotated-zyxwvutsrqponmlkjihgfedcba';

for (const dialect of await testDialects()) {
  describe(`ibl.ai credentials (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let ownerKey: string;
    let readerKey: string;
    let otherKey: string;
    const cred = '/api/ai-account/orgs/main/credential/';
    const integ = '/api/ai-account/orgs/main/integration-credential/';

    /** Every SQLite file (database, WAL) must be free of every plaintext secret. */
    function scanFiles(secrets: string[]): void {
      if (dialect !== 'sqlite') return;
      const files = fs.readdirSync(s.db.dataDir).filter((f) => f.startsWith('keyplane.db'));
      assert.ok(files.length >= 1);
      for (const f of files) {
        const bytes = fs.readFileSync(path.join(s.db.dataDir, f));
        for (const secret of secrets) assert.equal(bytes.indexOf(secret), -1, `${f} holds ${secret}`);
      }
    }

    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      const owner = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'owner2@example.com', role: 'owner' });
      const reader = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'reader@example.com', role: 'reader' });
      ownerKey = (await s.rt.core.userKeys.create(SYSTEM, orgId, { userId: owner.id, format: 'sk' })).secret;
      readerKey = (await s.rt.core.userKeys.create(SYSTEM, orgId, { userId: reader.id, format: 'sk' })).secret;
      otherKey = (await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' })).adminKey.secret;
    });
    after(async () => s?.close());

    test('create answers 200 with the value masked; list is an array, ?name= one object', async () => {
      const audits = await auditCount(s);
      const created = await ibl(s, 'POST', cred, s.adminKey, { name: 'openai', value: { key: OPENAI_KEY }, platform: 'main' });
      assert.equal(created.status, 200, created.text);
      assertMatchesSpec(SPEC, 'POST', P.credential, 200, created.json);
      assert.deepEqual(created.json, {
        name: 'openai',
        value: { key: `****${OPENAI_KEY.slice(-4)}` },
        platform: 'main',
        service_info: { id: 1, name: 'openai', display_name: 'OpenAI', logo: null },
      });
      assert.equal(await auditCount(s), audits + 1);

      const google = await ibl(s, 'POST', cred, ownerKey, { name: 'google', value: GOOGLE_SA, platform: 'main' }, { scheme: 'Api-Key' });
      assert.equal(google.status, 200, google.text);
      assert.equal(google.json.value.type, '****ount'); // every string is masked, keeping a short tail
      assert.ok(!google.text.includes('PLAINTEXT'));

      const all = await ibl(s, 'GET', cred, s.adminKey);
      assert.equal(all.status, 200);
      assert.ok(Array.isArray(all.json));
      assert.deepEqual(all.json.map((c: any) => c.name), ['openai', 'google']);
      for (const c of all.json) assertMatchesSpec(SPEC, 'GET', P.credential, 200, c);
      assert.ok(!all.text.includes('PLAINTEXT'));

      const one = await ibl(s, 'GET', `${cred}?name=google`, s.adminKey);
      assert.equal(one.status, 200);
      assertMatchesSpec(SPEC, 'GET', P.credential, 200, one.json);
      assert.equal(one.json.name, 'google');
      assert.equal(one.json.value.private_key, '****---\n');

      assertDetail(await ibl(s, 'GET', `${cred}?name=anthropic`, s.adminKey), 404);
      // the kinds are separate: no integration credentials yet
      const none = await ibl(s, 'GET', integ, s.adminKey);
      assert.equal(none.status, 200);
      assert.deepEqual(none.json, []);
      // every read decrypts, and every decrypt is audited
      const decrypts = await s.rt.store.db.selectFrom('audit_logs').select('id').where('org_id', '=', orgId).where('type', '=', 'credential.decrypted').execute();
      assert.ok(decrypts.length >= 3);
      scanFiles([OPENAI_KEY, GOOGLE_SA.private_key.split('\n')[1]!, 'proj-PLAINTEXT-42']);
    });

    test('integration credentials: create, patch, get, delete; form and multipart bodies', async () => {
      const created = await ibl(s, 'POST', integ, s.adminKey, { name: 'google-drive', value: GOOGLE_SA, platform: 'main' }, { as: 'form' });
      assert.equal(created.status, 200, created.text);
      assertMatchesSpec(SPEC, 'POST', P.integration, 200, created.json);
      assert.equal(created.json.service_info.display_name, 'Google Drive');
      assert.equal(created.json.value.client_email, '****.com');

      const patched = await ibl(s, 'PATCH', integ, s.adminKey, { name: 'google-drive', value: { token: ROTATED_KEY } }, { as: 'multipart' });
      assert.equal(patched.status, 200, patched.text);
      assertMatchesSpec(SPEC, 'PATCH', P.integration, 200, patched.json);
      assert.deepEqual(patched.json.value, { token: `****${ROTATED_KEY.slice(-4)}` });
      assert.equal(
        JSON.stringify(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'integration', 'google-drive')),
        JSON.stringify({ token: ROTATED_KEY }),
      );
      scanFiles([ROTATED_KEY, 'PLAINTEXTPRIVATEKEYMATERIAL']);

      // a file part, a body cut short and a missing boundary are refused, and change nothing
      const before = await auditCount(s);
      const withFile = new FormData();
      withFile.append('name', 'uploaded');
      withFile.append('platform', 'main');
      withFile.append('value', new Blob(['{"k":"v"}'], { type: 'application/json' }), 'value.json');
      const fileRes = await fetch(`${s.url}${integ}`, { method: 'POST', headers: { authorization: `Api-Token ${s.adminKey}` }, body: withFile });
      assert.equal(fileRes.status, 400);
      assert.match((await fileRes.json()).detail, /File uploads are not accepted/);
      for (const [ct, body] of [
        ['multipart/form-data; boundary=XyZ', '--XyZ\r\nContent-Disposition: form-data; name="name"\r\n\r\nhalf'],
        ['multipart/form-data', 'name=x'],
      ] as const) {
        const r = await fetch(`${s.url}${integ}`, { method: 'POST', headers: { authorization: `Api-Token ${s.adminKey}`, 'content-type': ct }, body });
        assert.equal(r.status, 400, `${ct}: ${r.status}`);
        assert.equal(typeof (await r.json()).detail, 'string');
      }
      assert.equal(await auditCount(s), before);
      assert.equal((await ibl(s, 'GET', `${integ}?name=uploaded`, s.adminKey)).status, 404);

      const one = await ibl(s, 'GET', `${integ}?name=google-drive`, s.adminKey);
      assert.equal(one.status, 200);
      assertMatchesSpec(SPEC, 'GET', P.integration, 200, one.json);

      // DELETE with the name in a JSON body, then in the query
      await ibl(s, 'POST', integ, s.adminKey, { name: 'slack', value: { token: 'xoxb-PLAINTEXT-1' }, platform: 'main' });
      const del = await ibl(s, 'DELETE', integ, s.adminKey, { name: 'google-drive', platform: 'main' });
      assert.equal(del.status, 204);
      assert.equal(del.text, '');
      assert.equal((await ibl(s, 'DELETE', `${integ}?name=slack`, s.adminKey)).status, 204);
      assertDetail(await ibl(s, 'DELETE', `${integ}?name=slack`, s.adminKey), 404);
      assert.deepEqual((await ibl(s, 'GET', integ, s.adminKey)).json, []);
    });

    test('patch an LLM credential: new value, unknown name 404, missing name 400', async () => {
      const p = await ibl(s, 'PATCH', cred, s.adminKey, { name: 'openai', value: { key: ROTATED_KEY }, platform: 'main' });
      assert.equal(p.status, 200, p.text);
      assertMatchesSpec(SPEC, 'PATCH', P.credential, 200, p.json);
      assert.deepEqual(p.json.value, { key: `****${ROTATED_KEY.slice(-4)}` });
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: ROTATED_KEY });
      const audits = await auditCount(s);
      assertDetail(await ibl(s, 'PATCH', cred, s.adminKey, { name: 'nope', value: { key: 'x' } }), 404);
      assertFieldErrors(await ibl(s, 'PATCH', cred, s.adminKey, { value: { key: 'x' } }), ['name'], { name: /required/ });
      assert.equal(await auditCount(s), audits);
      // put it back for the next tests
      await ibl(s, 'PATCH', cred, s.adminKey, { name: 'openai', value: { key: OPENAI_KEY } });
    });

    test('bad input is a DRF 400 and changes nothing', async () => {
      const audits = await auditCount(s);
      const dup = await ibl(s, 'POST', cred, s.adminKey, { name: 'openai', value: { key: 'sk-other' }, platform: 'main' });
      assertFieldErrors(dup, ['name'], { name: /already exists/ });
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, {}), ['name', 'value', 'platform']);
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: 42, value: { k: 1 }, platform: true }), ['name', 'platform'], { name: /Not a valid string/ });
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: 'x', value: null, platform: 'main' }), ['value'], { value: /null/ });
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: 'x', value: { k: 1 }, platform: 'other' }), ['platform']);
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: '   ', value: 1, platform: 'main' }), ['name'], { name: /blank/ });
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: '../etc', value: 1, platform: 'main' }), ['name']);
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, { name: 'x', value: 'not json{', platform: 'main' }, { as: 'form' }), ['value'], { value: /valid JSON/ });
      assertFieldErrors(await ibl(s, 'POST', cred, s.adminKey, [1, 2]), ['non_field_errors'], { non_field_errors: /Expected a dictionary, but got list/ });
      assertDetail(await ibl(s, 'POST', cred, s.adminKey, '{"name": "x",', { contentType: 'application/json' }), 400, /JSON parse error/);
      assertDetail(await ibl(s, 'POST', cred, s.adminKey, 'name=x', { contentType: 'text/plain' }), 415, /Unsupported media type "text\/plain"/);
      assertFieldErrors(await ibl(s, 'GET', `${cred}?name=`, s.adminKey), ['name'], { name: /blank/ });
      assertFieldErrors(await ibl(s, 'DELETE', cred, s.adminKey), ['name'], { name: /required/ });
      assert.equal(await auditCount(s), audits);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: OPENAI_KEY });
    });

    test('auth: Api-Token and Api-Key; 401 without or with a bad key; 403 for non-admins', async () => {
      assert.equal((await ibl(s, 'GET', cred, s.adminKey, undefined, { scheme: 'Api-Key' })).status, 200);
      assert.equal((await ibl(s, 'GET', cred, ownerKey)).status, 200);
      const none = await ibl(s, 'GET', cred, null);
      assertDetail(none, 401, 'Authentication credentials were not provided.');
      assert.equal(none.headers.get('www-authenticate'), 'Api-Token');
      assertDetail(await ibl(s, 'GET', cred, s.adminKey, undefined, { scheme: 'Bearer' }), 401, 'Authentication credentials were not provided.');
      assertDetail(await ibl(s, 'GET', cred, 'sk-admin-not-a-real-key'), 401, 'Invalid token.');
      assertDetail(await ibl(s, 'GET', cred, readerKey), 403, 'You do not have permission to perform this action.');
      assertDetail(await ibl(s, 'POST', cred, readerKey, { name: 'x', value: 1, platform: 'main' }), 403);
    });

    test('another tenant: its slug and ours are both refused, nothing leaks', async () => {
      const before = await auditCount(s);
      const startedAt = Date.now();
      // the other tenant's admin key cannot reach main (404, same as an unknown slug)
      assertDetail(await ibl(s, 'GET', cred, otherKey), 404, 'Not found.');
      assertDetail(await ibl(s, 'GET', '/api/ai-account/orgs/no-such-org/credential/', otherKey), 404, 'Not found.');
      assertDetail(await ibl(s, 'PATCH', cred, otherKey, { name: 'openai', value: { key: 'stolen' } }), 404);
      assertDetail(await ibl(s, 'DELETE', `${cred}?name=openai`, otherKey), 404);
      // main's admin cannot reach other's either
      assertDetail(await ibl(s, 'GET', '/api/ai-account/orgs/other/credential/', s.adminKey), 404);
      // in its own org, the other tenant sees only its own (empty) vault, and may use the same names
      const own = await ibl(s, 'GET', '/api/ai-account/orgs/other/credential/', otherKey);
      assert.deepEqual(own.json, []);
      const mine = await ibl(s, 'POST', '/api/ai-account/orgs/other/credential/', otherKey, { name: 'openai', value: { key: 'sk-other-PLAINTEXT-9' }, platform: 'other' });
      assert.equal(mine.status, 200);
      // nothing was recorded in main; only the other tenant's own create
      const mainAudits = await s.rt.store.db.selectFrom('audit_logs').select('type').where('org_id', '=', orgId).where('created_at', '>=', startedAt).execute();
      assert.deepEqual(mainAudits, []);
      assert.equal(await auditCount(s), before + 1);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: OPENAI_KEY });
    });

    test('routes: trailing slashes exactly as listed; unknown paths are a DRF 404', async () => {
      assertDetail(await ibl(s, 'GET', '/api/ai-account/orgs/main/credential', s.adminKey), 404, 'Not found.');
      assertDetail(await ibl(s, 'GET', '/api/ai-account/orgs/main/nothing-here/', s.adminKey), 404, 'Not found.');
      assertDetail(await ibl(s, 'GET', '/api/ai-account/orgs/main/users/x/free-trial/', s.adminKey), 404);
      // a malformed URL is answered by the framework, still in DRF style
      const bad = await ibl(s, 'GET', '/api/ai-account/orgs/%E0%A4%A/credential/', s.adminKey);
      assert.equal(bad.status, 400);
      assert.deepEqual(Object.keys(bad.json), ['detail']);
    });

    test('master-key rotation: every read still works over HTTP, the old key no longer opens the vault', async () => {
      const wrappedBefore = await s.rt.store.db.selectFrom('data_keys').select(['org_id', 'wrapped_key']).orderBy('org_id').execute();
      const n = await s.rt.core.credentials.rotateMasterKey(generateKey());
      assert.equal(n, wrappedBefore.length);
      const wrappedAfter = await s.rt.store.db.selectFrom('data_keys').select(['org_id', 'wrapped_key']).orderBy('org_id').execute();
      for (let i = 0; i < n; i++) assert.notEqual(wrappedAfter[i]!.wrapped_key, wrappedBefore[i]!.wrapped_key);
      const all = await ibl(s, 'GET', cred, s.adminKey);
      assert.equal(all.status, 200);
      assert.deepEqual(all.json.map((c: any) => c.value.key ?? c.value.type), [`****${OPENAI_KEY.slice(-4)}`, '****ount']);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: OPENAI_KEY });
      // writes after the rotation, then reads
      const created = await ibl(s, 'POST', cred, s.adminKey, { name: 'anthropic', value: { key: 'sk-ant-PLAINTEXT-77' }, platform: 'main' });
      assert.equal(created.status, 200);
      assert.equal((await ibl(s, 'GET', `${cred}?name=anthropic`, s.adminKey)).json.value.key, '****T-77');
      scanFiles([OPENAI_KEY, 'sk-ant-PLAINTEXT-77', 'sk-other-PLAINTEXT-9']);
    });
  });
}
