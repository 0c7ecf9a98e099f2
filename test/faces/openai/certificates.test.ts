// OpenAI face, certificates (organization and project): driven through the official `openai` SDK
// against a real server with real openssl-made certificates, bodies checked against the spec extract.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { makeCertificate, makePrivateKey } from '../../fixtures/certs.ts';

const SPEC = 'openai-admin.subset.json';
const LIST = '/organization/certificates';
const ONE = '/organization/certificates/{certificate_id}';
const PLIST = '/organization/projects/{project_id}/certificates';

const client = openaiClient;

const raw = (s: TestServer, method: string, path: string, key: string | null, body?: unknown, contentType?: string) => http(s, method, `/v1${path}`, key, body, contentType);


const isStatus = (status: number) => (e: any) => e instanceof OpenAI.APIError && e.status === status;

for (const dialect of await testDialects()) {
  describe(`OpenAI certificates (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    const countCerts = async () => (await raw(s, 'GET', `${LIST}?limit=100`, s.adminKey)).json.data.length as number;

    test('upload parses the certificate; retrieve shows content only when asked', async () => {
      const pem = makeCertificate('upload');
      const x = new X509Certificate(pem);
      const res = await raw(s, 'POST', LIST, s.adminKey, { certificate: pem, name: 'My cert' });
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'post', LIST, 200, res.json);
      const c = res.json;
      assert.equal(c.object, 'certificate');
      assert.match(c.id, /^cert_/);
      assert.equal(c.name, 'My cert');
      assert.equal(c.certificate_details.valid_at, Math.floor(Date.parse(x.validFrom) / 1000));
      assert.equal(c.certificate_details.expires_at, Math.floor(Date.parse(x.validTo) / 1000));
      assert.ok(c.certificate_details.expires_at - c.certificate_details.valid_at >= 29 * 86400);
      assert.equal(c.certificate_details.content, undefined);
      assert.equal('active' in c, false, 'not returned for a single certificate');

      const got = await sdk.admin.organization.certificates.retrieve(c.id);
      assert.equal(got.object, 'certificate');
      assert.equal(got.certificate_details.content, undefined);
      const withContent = await sdk.admin.organization.certificates.retrieve(c.id, { include: ['content'] });
      assert.equal(withContent.certificate_details.content!.trim(), pem.trim());
      const rawGet = await raw(s, 'GET', `${LIST}/${c.id}?include[]=content`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', ONE, 200, rawGet.json);
      assert.ok(new X509Certificate(rawGet.json.certificate_details.content).fingerprint256 === x.fingerprint256);

      const list = await sdk.admin.organization.certificates.list();
      const item = list.data.find((d) => d.id === c.id)!;
      assert.equal(item.object, 'organization.certificate');
      assert.equal(item.active, false, 'uploading does not activate');
      assertMatchesSpec(SPEC, 'get', LIST, 200, (await raw(s, 'GET', LIST, s.adminKey)).json);

      // the SDK without a name: name is null
      const unnamed = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('unnamed') });
      assert.equal(unnamed.name, null);
    });

    test('anything but exactly one PEM certificate is a 400 and stores nothing', async () => {
      const before = await countCerts();
      const a = makeCertificate('a');
      const b = makeCertificate('b');
      const key = makePrivateKey();
      const cases: Array<[string, unknown]> = [
        ['private key', { certificate: key }],
        ['certificate plus key', { certificate: a + key }],
        ['key plus certificate', { certificate: key + a }],
        ['two certificates', { certificate: a + b }],
        ['garbage', { certificate: 'hello world' }],
        ['broken base64', { certificate: '-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n' }],
        ['valid PEM framing, not a certificate', { certificate: '-----BEGIN CERTIFICATE-----\nSGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n' }],
        ['trailing junk', { certificate: a + 'junk' }],
        ['empty', { certificate: '' }],
        ['missing', { name: 'x' }],
        ['not a string', { certificate: 42 }],
        ['name not a string', { certificate: a, name: 7 }],
        ['name too long', { certificate: a, name: 'n'.repeat(257) }],
      ];
      for (const [label, body] of cases) {
        const res = await raw(s, 'POST', LIST, s.adminKey, body);
        assert.equal(res.status, 400, label);
        assertOpenAIError(res.json);
        assert.ok(!JSON.stringify(res.json).includes('PRIVATE KEY'), 'the key is not echoed');
      }
      await assert.rejects(sdk.admin.organization.certificates.create({ certificate: key }), (e: any) => e instanceof OpenAI.BadRequestError && e.param === 'certificate');
      assert.equal(await countCerts(), before);
      // the same certificate twice is a conflict
      await sdk.admin.organization.certificates.create({ certificate: a });
      await assert.rejects(sdk.admin.organization.certificates.create({ certificate: a }), (e: any) => e instanceof OpenAI.ConflictError);
      assert.equal(await countCerts(), before + 1);
    });

    test('update renames; unknown ids are 404s', async () => {
      const c = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('rename'), name: 'old' });
      const res = await raw(s, 'POST', `${LIST}/${c.id}`, s.adminKey, { name: 'new' });
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'post', ONE, 200, res.json);
      assert.equal(res.json.name, 'new');
      assert.equal((await sdk.admin.organization.certificates.retrieve(c.id)).name, 'new');
      const same = await sdk.admin.organization.certificates.update(c.id, {});
      assert.equal(same.name, 'new');
      const updates = await sdk.admin.organization.auditLogs.list({ resource_ids: [c.id], event_types: ['certificate.updated'] });
      assert.deepEqual(updates.data.map((e) => e['certificate.updated']), [{ id: c.id, name: 'new' }], 'one event: the no-op update is not audited');
      const bad = await raw(s, 'POST', `${LIST}/${c.id}`, s.adminKey, { name: 5 });
      assert.equal(bad.status, 400);
      assert.equal((await sdk.admin.organization.certificates.retrieve(c.id)).name, 'new');
      await assert.rejects(sdk.admin.organization.certificates.retrieve('cert_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.certificates.update('cert_nope', { name: 'x' }), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.certificates.delete('cert_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      const badInclude = await raw(s, 'GET', `${LIST}/${c.id}?include[]=secrets`, s.adminKey);
      assert.equal(badInclude.status, 400);
    });

    test('organization activate/deactivate: Page envelopes, idempotent, all or nothing', async () => {
      const c1 = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('act1'), name: 'one' });
      const c2 = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('act2'), name: 'two' });
      const res = await raw(s, 'POST', `${LIST}/activate`, s.adminKey, { certificate_ids: [c1.id, c2.id] });
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'post', `${LIST}/activate`, 200, res.json);
      assert.equal(res.json.object, 'organization.certificate.activation');
      assert.deepEqual(res.json.data.map((d: any) => [d.id, d.object, d.active]), [
        [c1.id, 'organization.certificate', true],
        [c2.id, 'organization.certificate', true],
      ]);
      // again, through the SDK: idempotent
      const again = await sdk.admin.organization.certificates.activate({ certificate_ids: [c1.id] });
      assert.equal(again.object, 'organization.certificate.activation');
      assert.deepEqual(again.data.map((d) => d.active), [true]);
      const list = await sdk.admin.organization.certificates.list({ limit: 100 });
      assert.equal(list.data.find((d) => d.id === c1.id)!.active, true);

      const off = await raw(s, 'POST', `${LIST}/deactivate`, s.adminKey, { certificate_ids: [c2.id] });
      assertMatchesSpec(SPEC, 'post', `${LIST}/deactivate`, 200, off.json);
      assert.equal(off.json.object, 'organization.certificate.deactivation');
      assert.equal(off.json.data[0].active, false);
      const sdkOff = await sdk.admin.organization.certificates.deactivate({ certificate_ids: [c2.id] });
      assert.equal(sdkOff.object, 'organization.certificate.deactivation');

      // one unknown id: 404, and the known one is left as it was
      await assert.rejects(sdk.admin.organization.certificates.activate({ certificate_ids: [c2.id, 'cert_nope'] }), (e: any) => e instanceof OpenAI.NotFoundError);
      assert.equal((await sdk.admin.organization.certificates.list({ limit: 100 })).data.find((d) => d.id === c2.id)!.active, false);
      for (const body of [{ certificate_ids: [] }, {}, { certificate_ids: Array.from({ length: 11 }, (_, i) => `cert_${i}`) }, { certificate_ids: 'cert_x' }]) {
        const r = await raw(s, 'POST', `${LIST}/activate`, s.adminKey, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assertOpenAIError(r.json);
      }
    });

    test('delete needs the certificate inactive everywhere', async () => {
      const project = await sdk.admin.organization.projects.create({ name: 'del-proj' });
      const c = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('del'), name: 'to delete' });
      await sdk.admin.organization.certificates.activate({ certificate_ids: [c.id] });
      await assert.rejects(sdk.admin.organization.certificates.delete(c.id), (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'certificate_active');
      await sdk.admin.organization.certificates.deactivate({ certificate_ids: [c.id] });
      await sdk.admin.organization.projects.certificates.activate(project.id, { certificate_ids: [c.id] });
      await assert.rejects(sdk.admin.organization.certificates.delete(c.id), isStatus(400));
      assert.equal((await sdk.admin.organization.certificates.retrieve(c.id)).id, c.id, 'still there');
      await sdk.admin.organization.projects.certificates.deactivate(project.id, { certificate_ids: [c.id] });
      const res = await raw(s, 'DELETE', `${LIST}/${c.id}`, s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'delete', ONE, 200, res.json);
      assert.deepEqual(res.json, { object: 'certificate.deleted', id: c.id });
      await assert.rejects(sdk.admin.organization.certificates.retrieve(c.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.certificates.delete(c.id), (e: any) => e instanceof OpenAI.NotFoundError);
      // every change was audited, failed deletes were not
      const events: any[] = [];
      for await (const e of sdk.admin.organization.auditLogs.list({ resource_ids: [c.id] })) events.push(e);
      assert.deepEqual(events.map((e) => [e.type, e.project?.id ?? null]), [
        ['certificate.deleted', null],
        ['certificates.deactivated', project.id],
        ['certificates.activated', project.id],
        ['certificates.deactivated', null],
        ['certificates.activated', null],
        ['certificate.created', null],
      ]);
      assert.equal(events[0]['certificate.deleted'].name, 'to delete');
      assert.match(events[0]['certificate.deleted'].certificate, /^-----BEGIN CERTIFICATE-----/);
      assert.deepEqual(events[1]['certificates.deactivated'], { certificates: [{ id: c.id, name: 'to delete' }] });
    });

    test('project certificates: active per project, archived projects are read-only', async () => {
      const p1 = await sdk.admin.organization.projects.create({ name: 'certs-1' });
      const p2 = await sdk.admin.organization.projects.create({ name: 'certs-2' });
      const c = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('proj'), name: 'proj cert' });
      const res = await raw(s, 'POST', `/organization/projects/${p1.id}/certificates/activate`, s.adminKey, { certificate_ids: [c.id, c.id] });
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'post', `${PLIST}/activate`, 200, res.json);
      assert.equal(res.json.object, 'organization.project.certificate.activation');
      assert.deepEqual(res.json.data.map((d: any) => [d.id, d.object, d.active]), [[c.id, 'organization.project.certificate', true]]);

      const l1 = await raw(s, 'GET', `/organization/projects/${p1.id}/certificates?limit=100`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', PLIST, 200, l1.json);
      assert.equal(l1.json.data.find((d: any) => d.id === c.id).active, true);
      const l2 = await sdk.admin.organization.projects.certificates.list(p2.id, { limit: 100 });
      assert.equal(l2.data.find((d) => d.id === c.id)!.active, false, 'other projects are unaffected');
      assert.equal(l2.data.find((d) => d.id === c.id)!.object, 'organization.project.certificate');
      const org = await sdk.admin.organization.certificates.list({ limit: 100 });
      assert.equal(org.data.find((d) => d.id === c.id)!.active, false, 'the organization level is unaffected');

      const again = await sdk.admin.organization.projects.certificates.activate(p1.id, { certificate_ids: [c.id] });
      assert.equal(again.object, 'organization.project.certificate.activation');
      const off = await raw(s, 'POST', `/organization/projects/${p1.id}/certificates/deactivate`, s.adminKey, { certificate_ids: [c.id] });
      assertMatchesSpec(SPEC, 'post', `${PLIST}/deactivate`, 200, off.json);
      assert.equal(off.json.object, 'organization.project.certificate.deactivation');
      assert.equal(off.json.data[0].active, false);
      const offAgain = await sdk.admin.organization.projects.certificates.deactivate(p1.id, { certificate_ids: [c.id] });
      assert.equal(offAgain.data[0]!.active, false);

      await sdk.admin.organization.projects.certificates.activate(p2.id, { certificate_ids: [c.id] });
      await sdk.admin.organization.projects.archive(p2.id);
      await assert.rejects(sdk.admin.organization.projects.certificates.deactivate(p2.id, { certificate_ids: [c.id] }), (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived');
      await assert.rejects(sdk.admin.organization.projects.certificates.activate(p2.id, { certificate_ids: [c.id] }), isStatus(400));
      const archivedList = await sdk.admin.organization.projects.certificates.list(p2.id, { limit: 100 });
      assert.equal(archivedList.data.find((d) => d.id === c.id)!.active, true, 'unchanged and still readable');

      await assert.rejects(sdk.admin.organization.projects.certificates.list('proj_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.projects.certificates.activate(p1.id, { certificate_ids: ['cert_nope'] }), (e: any) => e instanceof OpenAI.NotFoundError);
      const bad = await raw(s, 'POST', `/organization/projects/${p1.id}/certificates/activate`, s.adminKey, { certificate_ids: [] });
      assert.equal(bad.status, 400);
    });

    test('paging walks every certificate once, newest first by default', async () => {
      for (let i = 0; i < 5; i++) await sdk.admin.organization.certificates.create({ certificate: makeCertificate(`page${i}`), name: `page-${i}` });
      const all = (await raw(s, 'GET', `${LIST}?limit=100`, s.adminKey)).json.data.map((d: any) => d.id);
      const seen: string[] = [];
      for await (const c of sdk.admin.organization.certificates.list({ limit: 2 })) seen.push(c.id);
      assert.deepEqual(seen, all);
      const first = await sdk.admin.organization.certificates.list({ limit: 2 });
      assert.equal(first.has_more, true);
      assert.equal(first.data.length, 2);
      const asc: string[] = [];
      for await (const c of sdk.admin.organization.certificates.list({ limit: 3, order: 'asc' })) asc.push(c.id);
      assert.deepEqual(asc, [...all].reverse());
      const project = await sdk.admin.organization.projects.create({ name: 'paging' });
      const pseen: string[] = [];
      for await (const c of sdk.admin.organization.projects.certificates.list(project.id, { limit: 3 })) pseen.push(c.id);
      assert.deepEqual(pseen, all);
      for (const q of ['limit=0', 'limit=101', 'order=up', 'after=cert_nope']) {
        const r = await raw(s, 'GET', `${LIST}?${q}`, s.adminKey);
        assert.equal(r.status, 400, q);
        assertOpenAIError(r.json);
      }
    });

    test("another organization never sees or touches this organization's certificates", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-certs' });
      const otherSdk = client(s, other.adminKey.secret);
      const mine = await sdk.admin.organization.certificates.create({ certificate: makeCertificate('mine'), name: 'mine' });
      const myProject = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      const theirProject = await s.rt.core.projects.create(SYSTEM, other.org.id, { name: 'theirs' });
      assert.deepEqual((await otherSdk.admin.organization.certificates.list()).data, []);
      await assert.rejects(otherSdk.admin.organization.certificates.retrieve(mine.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.certificates.update(mine.id, { name: 'pwned' }), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.certificates.delete(mine.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.certificates.activate({ certificate_ids: [mine.id] }), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.projects.certificates.activate(theirProject.id, { certificate_ids: [mine.id] }), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(otherSdk.admin.organization.projects.certificates.list(myProject.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(sdk.admin.organization.projects.certificates.activate(theirProject.id, { certificate_ids: [mine.id] }), (e: any) => e instanceof OpenAI.NotFoundError);
      const r = await raw(s, 'GET', `${LIST}?after=${mine.id}`, other.adminKey.secret);
      assert.equal(r.status, 400, 'a foreign cursor is refused');
      const still = await sdk.admin.organization.certificates.retrieve(mine.id);
      assert.equal(still.name, 'mine');
      assert.equal((await sdk.admin.organization.certificates.list({ limit: 100 })).data.find((d) => d.id === mine.id)!.active, false);
      // the same PEM may be uploaded by another organization
      const pem = (await sdk.admin.organization.certificates.retrieve(mine.id, { include: ['content'] })).certificate_details.content!;
      const theirs = await otherSdk.admin.organization.certificates.create({ certificate: pem });
      assert.notEqual(theirs.id, mine.id);
    });
  });
}
