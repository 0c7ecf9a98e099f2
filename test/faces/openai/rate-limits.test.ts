// OpenAI face, project rate limits: the model catalog (built-in or KEYPLANE_MODELS_FILE) merged with
// each project's overrides, driven through the official `openai` SDK against a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects, tmpDir } from '../../helpers/db.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import { DEFAULT_MODEL_CATALOG } from '../../../src/domain/model-catalog.ts';

const SPEC = 'openai-admin.subset.json';
const LIST = '/organization/projects/{project_id}/rate_limits';
const ONE = '/organization/projects/{project_id}/rate_limits/{rate_limit_id}';

const client = openaiClient;

const raw = (s: TestServer, method: string, path: string, key: string | null, body?: unknown, contentType?: string) => http(s, method, `/v1${path}`, key, body, contentType);


describe('KEYPLANE_MODELS_FILE', () => {
  const dir = tmpDir('kp-models');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };

  test('a valid file becomes the catalog, in file order', () => {
    const f = write('ok.json', JSON.stringify({ 'm-b': { max_requests_per_1_minute: 1, max_tokens_per_1_minute: 2 }, 'm-a': { max_requests_per_1_minute: 3, max_tokens_per_1_minute: 4, max_images_per_1_minute: 5 } }));
    const c = loadConfig({}, { KEYPLANE_MODELS_FILE: f });
    assert.deepEqual([...c.modelsFile!.catalog.keys()], ['m-b', 'm-a']);
    assert.equal(c.modelsFile!.catalog.get('m-a')!.max_images_per_1_minute, 5);
    assert.equal(loadConfig({}, {}).modelsFile, undefined);
  });

  test('bad files are config errors naming the setting', () => {
    const cases: Array<[string, RegExp]> = [
      [path.join(dir, 'missing.json'), /cannot read/],
      [write('notjson.json', '{nope'), /not valid JSON/],
      [write('array.json', '[]'), /JSON object/],
      [write('empty.json', '{}'), /at least one model/],
      [write('noreq.json', JSON.stringify({ m: { max_tokens_per_1_minute: 1 } })), /needs max_requests_per_1_minute/],
      [write('zero.json', JSON.stringify({ m: { max_requests_per_1_minute: 0, max_tokens_per_1_minute: 1 } })), /positive integer/],
      [write('frac.json', JSON.stringify({ m: { max_requests_per_1_minute: 1.5, max_tokens_per_1_minute: 1 } })), /positive integer/],
      [write('unknown.json', JSON.stringify({ m: { max_requests_per_1_minute: 1, max_tokens_per_1_minute: 1, max_bananas: 1 } })), /unknown limit "max_bananas"/],
      [write('badname.json', JSON.stringify({ 'a/b': { max_requests_per_1_minute: 1, max_tokens_per_1_minute: 1 } })), /model name/],
    ];
    for (const [file, why] of cases) {
      assert.throws(
        () => loadConfig({ modelsFile: file }, {}),
        (e: any) => e instanceof ConfigError && /^invalid setting KEYPLANE_MODELS_FILE \(--models-file\): /.test(e.message) && why.test(e.message),
        file,
      );
    }
  });
});

for (const dialect of await testDialects()) {
  describe(`OpenAI project rate limits (${dialect})`, () => {
    let s: TestServer;
    let sdk: OpenAI;
    let orgId: string;
    before(async () => {
      s = await startServer(dialect);
      sdk = client(s, s.adminKey);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    });
    after(async () => s?.close());

    test('a new project has one rate limit per catalog model, with the defaults', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'limits' });
      const res = await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits`, s.adminKey);
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'get', LIST, 200, res.json);
      assert.equal(res.json.data.length, DEFAULT_MODEL_CATALOG.size, 'default limit is 100: one page');
      assert.equal(res.json.has_more, false);
      for (const rl of res.json.data) {
        assert.equal(rl.object, 'project.rate_limit');
        assert.equal(rl.id, `rl-${rl.model}`);
        const defaults = DEFAULT_MODEL_CATALOG.get(rl.model)!;
        assert.deepEqual(Object.fromEntries(Object.entries(rl).filter(([k]) => k.startsWith('max_') || k.startsWith('batch_'))), { ...defaults });
      }
      const dalle = res.json.data.find((r: any) => r.model === 'dall-e-3');
      assert.equal(typeof dalle.max_images_per_1_minute, 'number');
      const gpt = res.json.data.find((r: any) => r.model === 'gpt-4o');
      assert.equal('max_images_per_1_minute' in gpt, false, 'irrelevant limits are absent, not null');
      const page = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id);
      assert.equal(page.data.length, DEFAULT_MODEL_CATALOG.size);
    });

    test('update sets the given fields only, and sticks', async () => {
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'update' });
      const res = await raw(s, 'POST', `/organization/projects/${p.id}/rate_limits/rl-gpt-4o`, s.adminKey, { max_requests_per_1_minute: 42 });
      assert.equal(res.status, 200);
      assertMatchesSpec(SPEC, 'post', ONE, 200, res.json);
      const defaults = DEFAULT_MODEL_CATALOG.get('gpt-4o')!;
      assert.deepEqual(res.json, { object: 'project.rate_limit', id: 'rl-gpt-4o', model: 'gpt-4o', ...defaults, max_requests_per_1_minute: 42 });
      const upd = await sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: p.id, max_tokens_per_1_minute: 1234, max_requests_per_1_day: 99 });
      assert.equal(upd.max_requests_per_1_minute, 42, 'earlier change kept');
      assert.equal(upd.max_tokens_per_1_minute, 1234);
      assert.equal(upd.max_requests_per_1_day, 99);
      const dalle = await sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-dall-e-3', { project_id: p.id, max_images_per_1_minute: 7 });
      assert.equal(dalle.max_images_per_1_minute, 7);
      const listed = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id);
      assert.equal(listed.data.find((r) => r.id === 'rl-gpt-4o')!.max_tokens_per_1_minute, 1234);
      assert.equal(listed.data.find((r) => r.id === 'rl-dall-e-3')!.max_images_per_1_minute, 7);
      // another project keeps the defaults
      const q = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'untouched' });
      const other = await sdk.admin.organization.projects.rateLimits.listRateLimits(q.id);
      assert.equal(other.data.find((r) => r.id === 'rl-gpt-4o')!.max_requests_per_1_minute, defaults.max_requests_per_1_minute);
      // an empty update changes nothing
      const same = await sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: p.id });
      assert.equal(same.max_tokens_per_1_minute, 1234);
    });

    test('bad values, unknown ids and archived projects change nothing', async () => {
      const p = await sdk.admin.organization.projects.create({ name: 'bad input' });
      const before = (await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits`, s.adminKey)).json;
      const url = `/organization/projects/${p.id}/rate_limits/rl-gpt-4o`;
      const cases: Array<[unknown, string | null]> = [
        [{ max_requests_per_1_minute: 0 }, 'max_requests_per_1_minute'],
        [{ max_requests_per_1_minute: -5 }, 'max_requests_per_1_minute'],
        [{ max_requests_per_1_minute: 1.5 }, 'max_requests_per_1_minute'],
        [{ max_requests_per_1_minute: '10' }, 'max_requests_per_1_minute'],
        [{ max_requests_per_1_minute: null }, 'max_requests_per_1_minute'],
        [{ max_tokens_per_1_minute: 1e16 }, 'max_tokens_per_1_minute'],
        [{ max_requests_per_1_minute: 10, max_images_per_1_minute: 3 }, 'max_images_per_1_minute'], // gpt-4o has no image limit
        ['{"max_requests_per_1_minute": ', null],
      ];
      for (const [body, param] of cases) {
        const res = await raw(s, 'POST', url, s.adminKey, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assertMatchesSpec(SPEC, 'post', ONE, 400, res.json);
        assertOpenAIError(res.json);
        if (param) assert.equal(res.json.error.param, param, JSON.stringify(body));
      }
      await assert.rejects(
        sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-no-such-model', { project_id: p.id, max_requests_per_1_minute: 5 }),
        (e: any) => e instanceof OpenAI.NotFoundError,
      );
      await assert.rejects(
        sdk.admin.organization.projects.rateLimits.updateRateLimit('gpt-4o', { project_id: p.id, max_requests_per_1_minute: 5 }),
        (e: any) => e instanceof OpenAI.NotFoundError,
        'the id is rl-<model>',
      );
      await assert.rejects(sdk.admin.organization.projects.rateLimits.listRateLimits('proj_nope'), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(
        sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: 'proj_nope', max_requests_per_1_minute: 5 }),
        (e: any) => e instanceof OpenAI.NotFoundError,
      );
      for (const q of ['limit=0', 'limit=101', 'after=rl-nope', 'before=rl-nope']) {
        const res = await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits?${q}`, s.adminKey);
        assert.equal(res.status, 400, q);
      }
      assert.deepEqual((await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits`, s.adminKey)).json, before);

      await sdk.admin.organization.projects.archive(p.id);
      await assert.rejects(
        sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: p.id, max_requests_per_1_minute: 5 }),
        (e: any) => e instanceof OpenAI.BadRequestError && e.code === 'project_archived',
      );
      const archived = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id);
      assert.deepEqual(archived.data, before.data, 'an archived project can be read, unchanged');
    });

    test('paging walks every model once, forwards and backwards', async () => {
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'paging' });
      const all = [...DEFAULT_MODEL_CATALOG.keys()].map((m) => `rl-${m}`);
      const seen: string[] = [];
      for await (const rl of sdk.admin.organization.projects.rateLimits.listRateLimits(p.id, { limit: 4 })) seen.push(rl.id);
      assert.deepEqual(seen, all);
      const first = await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits?limit=4`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', LIST, 200, first.json);
      assert.equal(first.json.has_more, true);
      assert.equal(first.json.first_id, all[0]);
      assert.equal(first.json.last_id, all[3]);
      const back = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id, { limit: 3, before: all[5] });
      assert.deepEqual(back.data.map((r) => r.id), all.slice(2, 5));
      const last = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id, { limit: 100, after: all[all.length - 2] });
      assert.deepEqual(last.data.map((r) => r.id), [all[all.length - 1]]);
      assert.equal(last.has_more, false);
    });

    test("another organization's key never reads or changes this organization's limits", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-limits' });
      const otherSdk = client(s, other.adminKey.secret);
      const p = await s.rt.core.projects.create(SYSTEM, orgId, { name: 'mine' });
      await assert.rejects(otherSdk.admin.organization.projects.rateLimits.listRateLimits(p.id), (e: any) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(
        otherSdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: p.id, max_requests_per_1_minute: 1 }),
        (e: any) => e instanceof OpenAI.NotFoundError,
      );
      const mine = await sdk.admin.organization.projects.rateLimits.listRateLimits(p.id);
      assert.equal(mine.data.find((r) => r.id === 'rl-gpt-4o')!.max_requests_per_1_minute, DEFAULT_MODEL_CATALOG.get('gpt-4o')!.max_requests_per_1_minute);
    });
  });

  describe(`OpenAI project rate limits with KEYPLANE_MODELS_FILE (${dialect})`, () => {
    let s: TestServer;
    const dir = tmpDir('kp-models');
    before(async () => {
      const file = path.join(dir, 'models.json');
      fs.writeFileSync(file, JSON.stringify({
        'local-chat': { max_requests_per_1_minute: 60, max_tokens_per_1_minute: 6000 },
        'local-audio': { max_requests_per_1_minute: 10, max_tokens_per_1_minute: 100, max_audio_megabytes_per_1_minute: 3 },
      }));
      s = await startServer(dialect, { modelsFile: file });
    });
    after(async () => {
      await s?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('the catalog comes from the file', async () => {
      const sdk = client(s, s.adminKey);
      const p = await sdk.admin.organization.projects.create({ name: 'custom catalog' });
      const res = await raw(s, 'GET', `/organization/projects/${p.id}/rate_limits`, s.adminKey);
      assertMatchesSpec(SPEC, 'get', LIST, 200, res.json);
      assert.deepEqual(res.json.data, [
        { object: 'project.rate_limit', id: 'rl-local-chat', model: 'local-chat', max_requests_per_1_minute: 60, max_tokens_per_1_minute: 6000 },
        { object: 'project.rate_limit', id: 'rl-local-audio', model: 'local-audio', max_requests_per_1_minute: 10, max_tokens_per_1_minute: 100, max_audio_megabytes_per_1_minute: 3 },
      ]);
      const upd = await sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-local-audio', { project_id: p.id, max_audio_megabytes_per_1_minute: 1 });
      assert.equal(upd.max_audio_megabytes_per_1_minute, 1);
      await assert.rejects(
        sdk.admin.organization.projects.rateLimits.updateRateLimit('rl-gpt-4o', { project_id: p.id, max_requests_per_1_minute: 1 }),
        (e: any) => e instanceof OpenAI.NotFoundError,
        'built-in models are not in a custom catalog',
      );
      assert.deepEqual(await s.rt.core.rateLimits.effective(p.id, 'local-audio'), { max_requests_per_1_minute: 10, max_tokens_per_1_minute: 100, max_audio_megabytes_per_1_minute: 1 });
      assert.equal(await s.rt.core.rateLimits.effective(p.id, 'gpt-4o'), null);
    });
  });
}
