// OpenAI face, the Usage API (/v1/organization/usage/*) through the official `openai` SDK against a
// real server, on SQLite and PostgreSQL: real traffic goes through the gateway to the mock upstream
// (two projects, a user-owned key and a service-account key), and the buckets and groups add up to
// exactly the tokens the mock reported; usage recorded at chosen times (through the recorder and its
// flush) pages 1m buckets over three hours, each bucket once, empty ones included; both array
// encodings; validation errors in OpenAI's envelope; other organizations see nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects, tmpDir } from '../../helpers/db.ts';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { MOCK_USAGE, startMockUpstream, type MockUpstream } from '../../gateway/mock-upstream.ts';

const SPEC = 'openai-admin.subset.json';
const DAY = 86_400;

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const models = {
    'gpt-4o-mini': { ...limits, prices: { input: 0.15, cached_input: 0.075, output: 0.6 } },
    'tiered-chat': { ...limits },
    'text-embedding-3-small': { ...limits },
    'gpt-image-1': { ...limits, max_images_per_1_minute: 100 },
    'tts-1': { ...limits },
    'whisper-1': { ...limits },
  };
  const file = path.join(tmpDir('kp-usage-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify(models));
  return file;
}

type Result = Record<string, any>;
const resultsOf = (page: any): Result[] => page.data.flatMap((b: any) => b.results);
const sum = (rs: Result[], f: string) => rs.reduce((a, r) => a + r[f], 0);

for (const dialect of await testDialects()) {
  describe(`Usage API (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let orgId: string;
    let admin: OpenAI;
    let projA: string;
    let projB: string;
    let userId: string;
    let userKeyId: string;
    let saKeyId: string;
    let t0: number;

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile() });
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      admin = openaiClient(s, s.adminKey);
      projA = (await admin.admin.organization.projects.create({ name: 'Usage A' })).id;
      projB = (await admin.admin.organization.projects.create({ name: 'Usage B' })).id;
      const user = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'ada@usage.example', name: 'Ada', role: 'reader' });
      userId = user.id;
      await s.rt.core.projectUsers.add(SYSTEM, orgId, projA, { userId, role: 'member' });
      const userKey = await s.rt.core.projectKeys.createForUser(SYSTEM, orgId, projA, userId, { name: 'ada' });
      userKeyId = userKey.row.id;
      const sa = await admin.admin.organization.projects.serviceAccounts.create(projB, { name: 'bot' });
      saKeyId = sa.api_key!.id;
      const a = new OpenAI({ apiKey: userKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const b = new OpenAI({ apiKey: sa.api_key!.value, baseURL: `${s.url}/v1`, maxRetries: 0 });

      t0 = Math.floor(Date.now() / 1000);
      // project A (Ada's key): 3 chat completions, 1 streamed, 2 embeddings; the request's `user` is not the user
      // (the stream first: its usage is recorded just after its last byte, before the next request is read)
      const stream = await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
      for await (const _ of stream) void _;
      for (let i = 0; i < 3; i++) await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], user: 'end-user-1' });
      for (let i = 0; i < 2; i++) await a.embeddings.create({ model: 'text-embedding-3-small', input: 'abc' });
      // project B (a service account): 2 chat completions (one asks for a tier, one runs on the tier the upstream reports), a Responses call, images, speech, a transcription
      await b.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], service_tier: 'priority' });
      await b.chat.completions.create({ model: 'tiered-chat', messages: [{ role: 'user', content: 'hi' }], service_tier: 'auto' });
      await b.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      await b.images.generate({ model: 'gpt-image-1', prompt: 'a cat', n: 2, size: '1024x1024' });
      const speech = await b.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello world' });
      await speech.arrayBuffer();
      await b.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(Buffer.from('RIFFfake'), 'a.wav') });
      // a refused request (unknown model) is not usage
      await assert.rejects(b.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }));
      await s.rt.core.flush();
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    const today = () => t0 - (t0 % DAY);
    const range = () => ({ start_time: t0 - 60, end_time: t0 + 3600 });

    test('completions: one daily bucket, totals equal what the mock reported; ungrouped results carry every group field as null', async () => {
      const page = await admin.admin.organization.usage.completions(range());
      assertMatchesSpec(SPEC, 'get', '/organization/usage/completions', 200, page);
      assert.equal(page.object, 'page');
      assert.equal(page.has_more, false);
      assert.equal(page.next_page, null);
      assert.equal(page.data.length, 1);
      assert.equal(page.data[0]!.start_time, today());
      assert.equal(page.data[0]!.end_time, today() + DAY);
      const rs = resultsOf(page);
      assert.equal(rs.length, 1);
      // 6 chat completions of MOCK_USAGE, one Responses call of 13 in / 0 cached / 4 out
      const chats = 6;
      assert.deepEqual(rs[0], {
        object: 'organization.usage.completions.result',
        input_tokens: chats * MOCK_USAGE.prompt_tokens + 13,
        output_tokens: chats * MOCK_USAGE.completion_tokens + 4,
        input_cached_tokens: chats * MOCK_USAGE.prompt_tokens_details.cached_tokens,
        input_uncached_tokens: chats * (MOCK_USAGE.prompt_tokens - MOCK_USAGE.prompt_tokens_details.cached_tokens) + 13,
        num_model_requests: 7,
        project_id: null,
        user_id: null,
        api_key_id: null,
        model: null,
        batch: null,
        service_tier: null,
      });
    });

    test('completions grouped by project, user (the key owner, not the request `user`), key, model, batch and service tier', async () => {
      const page = await admin.admin.organization.usage.completions({ ...range(), group_by: ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'] });
      assertMatchesSpec(SPEC, 'get', '/organization/usage/completions', 200, page);
      const rs = resultsOf(page);
      const of = (p: string) => rs.filter((r) => r.project_id === p);
      const a = of(projA);
      assert.equal(a.length, 1);
      assert.deepEqual(
        { user: a[0]!.user_id, key: a[0]!.api_key_id, model: a[0]!.model, batch: a[0]!.batch, tier: a[0]!.service_tier, n: a[0]!.num_model_requests, in: a[0]!.input_tokens },
        { user: userId, key: userKeyId, model: 'gpt-4o-mini', batch: false, tier: null, n: 4, in: 4 * MOCK_USAGE.prompt_tokens },
      );
      const b = of(projB);
      assert.ok(b.every((r) => r.user_id === null && r.api_key_id === saKeyId && r.batch === false), JSON.stringify(b));
      const tiers = Object.fromEntries(b.map((r) => [`${r.model}|${r.service_tier}`, r.num_model_requests]));
      // the tier asked for, unless the upstream reported the one it ran on
      assert.deepEqual(tiers, { 'gpt-4o-mini|priority': 1, 'gpt-4o-mini|null': 1, 'tiered-chat|flex': 1 });
      assert.equal(sum(rs, 'num_model_requests'), 7);
    });

    test('filters: project_ids, user_ids, api_key_ids, models, batch, through the SDK and raw in both array encodings', async () => {
      const onlyA = await admin.admin.organization.usage.completions({ ...range(), project_ids: [projA] });
      assert.equal(resultsOf(onlyA)[0]!.num_model_requests, 4);
      const byUser = await admin.admin.organization.usage.completions({ ...range(), user_ids: [userId] });
      assert.equal(resultsOf(byUser)[0]!.num_model_requests, 4);
      const byKey = await admin.admin.organization.usage.completions({ ...range(), api_key_ids: [saKeyId], models: ['tiered-chat'] });
      assert.equal(resultsOf(byKey)[0]!.num_model_requests, 1);
      const batchOnly = await admin.admin.organization.usage.completions({ ...range(), batch: true });
      assert.deepEqual(resultsOf(batchOnly), []);
      assert.equal(resultsOf(await admin.admin.organization.usage.completions({ ...range(), batch: false }))[0]!.num_model_requests, 7);

      const base = `/v1/organization/usage/completions?start_time=${t0 - 60}&end_time=${t0 + 3600}`;
      for (const qs of [`&project_ids=${projA}&project_ids=${projB}&group_by=project_id&group_by=model`, `&project_ids[]=${projA}&project_ids[]=${projB}&group_by[]=project_id&group_by[]=model`, `&project_ids=${projA},${projB}&group_by=project_id,model`]) {
        const r = await http(s, 'GET', base + qs, s.adminKey);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assertMatchesSpec(SPEC, 'get', '/organization/usage/completions', 200, r.json);
        const rs = resultsOf(r.json);
        assert.deepEqual(
          rs.map((x) => `${x.project_id === projA ? 'A' : 'B'}|${x.model}|${x.num_model_requests}`).sort(),
          ['A|gpt-4o-mini|4', 'B|gpt-4o-mini|2', 'B|tiered-chat|1'],
          qs,
        );
        assert.ok(rs.every((x) => x.user_id === null && x.api_key_id === null && x.service_tier === null), qs);
      }
    });

    test('embeddings, images, audio speeches and transcriptions count what each request used', async () => {
      const emb = await admin.admin.organization.usage.embeddings({ ...range(), group_by: ['project_id'] });
      assertMatchesSpec(SPEC, 'get', '/organization/usage/embeddings', 200, emb);
      assert.deepEqual(resultsOf(emb), [{ object: 'organization.usage.embeddings.result', input_tokens: 10, num_model_requests: 2, project_id: projA, user_id: null, api_key_id: null, model: null }]);

      const img = await admin.admin.organization.usage.images({ ...range(), group_by: ['size', 'source', 'model'] });
      assertMatchesSpec(SPEC, 'get', '/organization/usage/images', 200, img);
      assert.deepEqual(resultsOf(img), [{ object: 'organization.usage.images.result', images: 2, num_model_requests: 1, project_id: null, user_id: null, api_key_id: null, model: 'gpt-image-1', size: '1024x1024', source: 'image.generation' }]);
      assert.deepEqual(resultsOf(await admin.admin.organization.usage.images({ ...range(), sizes: ['256x256'] })), []);
      assert.deepEqual(resultsOf(await admin.admin.organization.usage.images({ ...range(), sources: ['image.edit'] })), []);
      assert.equal(resultsOf(await admin.admin.organization.usage.images({ ...range(), sizes: ['1024x1024'], sources: ['image.generation'] }))[0]!.images, 2);

      const sp = await admin.admin.organization.usage.audioSpeeches(range());
      assertMatchesSpec(SPEC, 'get', '/organization/usage/audio_speeches', 200, sp);
      assert.deepEqual(resultsOf(sp), [{ object: 'organization.usage.audio_speeches.result', characters: 'hello world'.length, num_model_requests: 1, project_id: null, user_id: null, api_key_id: null, model: null }]);

      const tr = await admin.admin.organization.usage.audioTranscriptions({ ...range(), group_by: ['model'] });
      assertMatchesSpec(SPEC, 'get', '/organization/usage/audio_transcriptions', 200, tr);
      // the mock reports tokens, not a duration: 0 seconds
      assert.deepEqual(resultsOf(tr), [{ object: 'organization.usage.audio_transcriptions.result', seconds: 0, num_model_requests: 1, project_id: null, user_id: null, api_key_id: null, model: 'whisper-1' }]);

      const mod = await admin.admin.organization.usage.moderations(range());
      assertMatchesSpec(SPEC, 'get', '/organization/usage/moderations', 200, mod);
      assert.deepEqual(resultsOf(mod), []);
    });

    test('endpoints without a source in keyplane answer correct empty buckets', async () => {
      const q = { start_time: today() - 2 * DAY, end_time: today() + DAY };
      const u = admin.admin.organization.usage;
      const pages: Array<[string, unknown]> = [
        ['/organization/usage/vector_stores', await u.vectorStores({ ...q, group_by: ['project_id'] })],
        ['/organization/usage/code_interpreter_sessions', await u.codeInterpreterSessions(q)],
        ['/organization/usage/file_search_calls', await u.fileSearchCalls({ ...q, group_by: ['vector_store_id'] })],
        ['/organization/usage/web_search_calls', await u.webSearchCalls({ ...q, group_by: ['context_level'], context_levels: ['low'] })],
      ];
      for (const [p, page] of pages) {
        assertMatchesSpec(SPEC, 'get', p, 200, page);
        assert.deepEqual((page as any).data, [0, 1, 2].map((i) => ({ object: 'bucket', start_time: today() + (i - 2) * DAY, end_time: today() + (i - 1) * DAY, results: [] })), p);
      }
      const d = await u.decisions(q);
      assert.equal(d.data.length, 3);
      assert.ok(d.data.every((b) => b.results.length === 0));
    });

    test('1m buckets over three hours page 60 at a time: every bucket once, empty ones included, totals kept', async () => {
      const hour = Math.floor(Date.now() / 3_600_000) * 3600 - 6 * 3600;
      const rec = s.rt.core.usageRecorder;
      let expected = 0;
      const minutesWithUsage = new Map<number, number>();
      for (let m = 0; m < 180; m += 7) {
        const tokens = 100 + m;
        expected += tokens;
        minutesWithUsage.set(hour + m * 60, tokens);
        rec.add({
          orgId, projectId: projA, apiKeyId: userKeyId, keyOwnerType: 'user', keyOwnerId: userId, endUser: null, sessionId: null,
          model: 'paged-model', servedModel: 'paged-model', provider: 'openai', credentialSource: 'tenant', endpoint: 'chat.completions',
          inputTokens: tokens, cachedInputTokens: 0, outputTokens: 1, images: 0, audioSeconds: 0, audioBytes: 0, costNanoUsd: 0,
          status: 200, latencyMs: 5, stream: false, at: (hour + m * 60) * 1000 + 30_000,
        });
      }
      await rec.flush();
      const seen: number[] = [];
      let total = 0;
      let page: string | undefined;
      let pages = 0;
      do {
        const r = await admin.admin.organization.usage.completions({ start_time: hour, end_time: hour + 3 * 3600, bucket_width: '1m', models: ['paged-model'], ...(page ? { page } : {}) });
        assertMatchesSpec(SPEC, 'get', '/organization/usage/completions', 200, r);
        pages++;
        assert.equal(r.data.length, 60);
        for (const b of r.data) {
          seen.push(b.start_time);
          assert.equal(b.end_time, b.start_time + 60);
          const want = minutesWithUsage.get(b.start_time);
          if (want === undefined) assert.deepEqual(b.results, []);
          else assert.equal((b.results[0] as any).input_tokens, want);
          total += b.results.reduce((a, x: any) => a + x.input_tokens, 0);
        }
        assert.equal(r.has_more, pages < 3);
        page = r.next_page ?? undefined;
        if (!r.has_more) assert.equal(r.next_page, null);
      } while (page);
      assert.equal(pages, 3);
      assert.deepEqual(seen, Array.from({ length: 180 }, (_, i) => hour + i * 60));
      assert.equal(total, expected);
      // the same usage in 1h and 1d buckets
      const hours = await admin.admin.organization.usage.completions({ start_time: hour, end_time: hour + 3 * 3600, bucket_width: '1h', models: ['paged-model'] });
      assert.deepEqual(hours.data.map((b) => b.start_time), [hour, hour + 3600, hour + 7200]);
      assert.equal(sum(resultsOf(hours), 'input_tokens'), expected);
      // the three hours may cross midnight UTC (a run shortly after it): 30 or 31 day buckets
      const dayCount = Math.ceil((hour + 3 * 3600) / DAY) - Math.floor((hour - 29 * DAY) / DAY);
      const days = await admin.admin.organization.usage.completions({ start_time: hour - 29 * DAY, end_time: hour + 3 * 3600, bucket_width: '1d', limit: 31, models: ['paged-model'] });
      assert.equal(sum(resultsOf(days), 'input_tokens'), expected);
      assert.equal(days.data.length, dayCount);
      // default limits: 60 one-minute buckets, 24 hours, 7 days
      assert.equal((await admin.admin.organization.usage.completions({ start_time: hour, bucket_width: '1m' })).data.length, 60);
      assert.equal((await admin.admin.organization.usage.completions({ start_time: hour - 2 * DAY, bucket_width: '1h' })).data.length, 24);
      assert.equal((await admin.admin.organization.usage.completions({ start_time: hour - 20 * DAY })).data.length, 7);
    });

    test('bad input is a 400 in OpenAI\'s envelope naming the parameter', async () => {
      const st = `start_time=${t0}`;
      const cases: Array<[string, string]> = [
        ['', 'start_time'],
        ['start_time=abc', 'start_time'],
        ['start_time=-5', 'start_time'],
        [`start_time=${t0}&start_time=${t0}`, 'start_time'],
        [`${st}&end_time=${t0}`, 'end_time'],
        [`${st}&end_time=soon`, 'end_time'],
        [`${st}&bucket_width=2h`, 'bucket_width'],
        [`${st}&limit=0`, 'limit'],
        [`${st}&limit=32`, 'limit'],
        [`${st}&bucket_width=1h&limit=169`, 'limit'],
        [`${st}&bucket_width=1m&limit=1441`, 'limit'],
        [`${st}&limit=ten`, 'limit'],
        [`${st}&group_by=banana`, 'group_by'],
        [`${st}&group_by[]=project_id&group_by[]=size`, 'group_by'],
        [`${st}&page=not-a-cursor`, 'page'],
        [`${st}&page=${Buffer.from('keyplane-usage:61').toString('base64')}`, 'page'],
        [`${st}&batch=maybe`, 'batch'],
      ];
      for (const [qs, param] of cases) {
        const r = await http(s, 'GET', `/v1/organization/usage/completions?${qs}`, s.adminKey);
        assert.equal(r.status, 400, `${qs}: ${JSON.stringify(r.json)}`);
        assertOpenAIError(r.json);
        assert.equal(r.json.error.param, param, qs);
      }
      for (const [p, qs, param] of [
        ['images', `${st}&sizes=huge`, 'sizes'],
        ['images', `${st}&sources=image.paint`, 'sources'],
        ['web_search_calls', `${st}&context_levels=extreme`, 'context_levels'],
        ['vector_stores', `${st}&group_by=model`, 'group_by'],
        ['embeddings', `${st}&group_by=service_tier`, 'group_by'],
      ] as const) {
        const r = await http(s, 'GET', `/v1/organization/usage/${p}?${qs}`, s.adminKey);
        assert.equal(r.status, 400, `${p} ${qs}`);
        assertOpenAIError(r.json);
        assert.equal(r.json.error.param, param);
      }
    });

    test("another organization's admin key sees none of this usage; a project key is refused", async () => {
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-usage', ownerEmail: 'o@other.example', ownerName: 'O' });
      const page = await openaiClient(s, other.adminKey.secret).admin.organization.usage.completions({ ...range(), group_by: ['project_id'] });
      assert.equal(page.data.length, 1);
      assert.deepEqual(page.data[0]!.results, []);
      const r = await http(s, 'GET', `/v1/organization/usage/completions?start_time=${t0}`, null);
      assert.equal(r.status, 401);
    });
  });
}
