// The gateway enforces a project's model permissions, hosted tool permissions and service tier
// settings: real traffic through the official SDKs (and raw HTTP) to the mock upstream, on SQLite and
// PostgreSQL, the settings changed through the OpenAI Admin API. Refusals happen before anything
// reaches the upstream (the mock's record of what it received is checked). On PostgreSQL two nodes
// on one database show that a change made on one node is enforced by the other within a second.
// And what keyplane keeps of a request: no body, only usage metadata.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, type TestServer } from '../helpers/server.ts';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { assertOpenAIError, openaiClient, readResponse } from '../helpers/http.ts';
import { startNodes, type Cluster } from '../helpers/cluster.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000 };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      'gpt-4o-mini': { ...limits, aliases: ['mini'], upstream_model: 'gpt-4o-mini-2024-07-18' },
      'plain-chat': { ...limits },
      'text-embedding-3-small': { ...limits },
      'gpt-image-1': { ...limits, max_images_per_1_minute: 100 },
      'tts-1': { ...limits },
      'whisper-1': { ...limits },
      'omni-moderation-latest': { ...limits },
      'claude-test': { ...limits, provider: 'anthropic', upstream_model: 'claude-test-20250101' },
    }),
  );
  return file;
}

async function post(url: string, key: string, p: string, body: unknown, headers: Record<string, string> = {}) {
  return readResponse(await fetch(`${url}/v1${p}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) }));
}

for (const dialect of await testDialects()) {
  describe(`gateway: project settings enforced (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let admin: OpenAI;
    let orgId: string;

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile(), upstreamTimeoutMs: '2000' });
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'anthropic', value: { api_key: UPSTREAM_KEY, base_url: mock.url }, platform: 'main' });
      admin = openaiClient(s, s.adminKey);
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    /** A new project and a service account key in it. */
    const newProject = async (name: string) => {
      const project = await admin.admin.organization.projects.create({ name });
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      const key = sa.api_key!.value;
      return { id: project.id, key, client: new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 }) };
    };

    /** Asserts OpenAI's 403 for a model the project may not use. */
    const assertModelRefused = (res: { status: number; json: any }, projectId: string, model: string, what: string) => {
      assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.json)}`);
      assertOpenAIError(res.json);
      assert.equal(res.json.error.code, 'model_not_found', what);
      assert.equal(res.json.error.message, `Project \`${projectId}\` does not have access to model \`${model}\``, what);
    };

    test('a model the project may not use is refused 403 on every endpoint, before the upstream', async () => {
      const p = await newProject('denied');
      await admin.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: ['text-embedding-3-small'] });
      const before = mock.received.length;
      const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
      const cases: Array<[string, unknown, string]> = [
        ['/chat/completions', chat, 'gpt-4o-mini'],
        ['/chat/completions', { ...chat, stream: true }, 'gpt-4o-mini'],
        ['/chat/completions', { ...chat, model: 'mini' }, 'mini'],
        ['/chat/completions', { ...chat, model: 'claude-test' }, 'claude-test'],
        ['/completions', { model: 'plain-chat', prompt: 'hi' }, 'plain-chat'],
        ['/responses', { model: 'gpt-4o-mini', input: 'hi' }, 'gpt-4o-mini'],
        ['/moderations', { model: 'omni-moderation-latest', input: 'hi' }, 'omni-moderation-latest'],
        ['/images/generations', { model: 'gpt-image-1', prompt: 'a cat' }, 'gpt-image-1'],
        ['/audio/speech', { model: 'tts-1', input: 'hi', voice: 'alloy' }, 'tts-1'],
      ];
      for (const [route, body, model] of cases) assertModelRefused(await post(s.url, p.key, route, body), p.id, model, route);
      // through the SDKs: a PermissionDeniedError (no retry)
      await assert.rejects(p.client.chat.completions.create(chat as never), (e: any) => e instanceof OpenAI.PermissionDeniedError && e.code === 'model_not_found');
      await assert.rejects(
        p.client.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(Buffer.from('RIFF fake audio'), 'a.wav', { type: 'audio/wav' }) }),
        (e: any) => e instanceof OpenAI.PermissionDeniedError && e.code === 'model_not_found',
        'a multipart upload is refused too',
      );
      const anthropic = new Anthropic({ apiKey: p.key, baseURL: s.url, maxRetries: 0 });
      for (const model of ['claude-test', 'gpt-4o-mini']) {
        await assert.rejects(anthropic.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e instanceof Anthropic.PermissionDeniedError && /does not have access to model/.test(e.message), `/v1/messages ${model}`);
      }
      assert.equal(mock.received.length, before, 'nothing reached the upstream');
      // the allowed model is served
      const emb = await p.client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
      assert.equal(emb.data.length, 1);
      assert.equal(mock.received.length, before + 1);
      // another project of the organization is not affected
      const q = await newProject('free');
      assert.equal((await q.client.chat.completions.create(chat as never)).object, 'chat.completion');
    });

    test('a permission applies to the model a name resolves to: an alias and its model are one', async () => {
      const p = await newProject('aliases');
      const chat = (model: string) => post(s.url, p.key, '/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });
      const set = await admin.admin.organization.projects.modelPermissions.update(p.id, { mode: 'deny_list', model_ids: ['mini'] });
      assert.deepEqual(set.model_ids, ['mini'], 'an alias is kept as given');
      assert.deepEqual((await admin.admin.organization.projects.modelPermissions.retrieve(p.id)).model_ids, ['mini']);
      assertModelRefused(await chat('gpt-4o-mini'), p.id, 'gpt-4o-mini', 'denied by its alias');
      assertModelRefused(await chat('mini'), p.id, 'mini', 'the alias itself');
      assert.equal((await chat('plain-chat')).status, 200, 'others allowed by a deny list');
      await admin.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: ['gpt-4o-mini'] });
      assert.equal((await chat('mini')).status, 200, 'allowed by its model, used by its alias');
      assertModelRefused(await chat('plain-chat'), p.id, 'plain-chat', 'not on the allow list');
      await admin.admin.organization.projects.modelPermissions.delete(p.id);
      assert.equal((await chat('plain-chat')).status, 200, 'every model again after the delete');
    });

    test('GET /v1/models and /v1/models/{id} show only the models the project may use; a change applies to the next request', async () => {
      const p = await newProject('listing');
      const ids = async () => (await p.client.models.list()).data.map((m) => m.id).sort();
      const all = await ids();
      assert.ok(all.includes('plain-chat') && all.includes('gpt-4o-mini') && all.includes('claude-test'));
      await admin.admin.organization.projects.modelPermissions.update(p.id, { mode: 'allow_list', model_ids: ['mini', 'claude-test'] });
      assert.deepEqual(await ids(), ['claude-test', 'gpt-4o-mini'], 'at once: the change dropped the cached policy');
      assert.equal((await p.client.models.retrieve('gpt-4o-mini')).id, 'gpt-4o-mini');
      await assert.rejects(p.client.models.retrieve('plain-chat'), (e: any) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
      await admin.admin.organization.projects.modelPermissions.update(p.id, { mode: 'deny_list', model_ids: ['claude-test'] });
      assert.deepEqual(await ids(), all.filter((m) => m !== 'claude-test'));
      await admin.admin.organization.projects.modelPermissions.delete(p.id);
      assert.deepEqual(await ids(), all);
    });

    test('a disabled hosted tool is refused on /v1/responses (403 naming the tool), before the upstream', async () => {
      const p = await newProject('tools');
      const respond = (tools: unknown[]) => post(s.url, p.key, '/responses', { model: 'gpt-4o-mini', input: 'hi', tools });
      const fn = { type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } };
      assert.equal((await respond([{ type: 'web_search_preview' }, fn])).status, 200, 'every tool enabled by default');
      await admin.admin.organization.projects.hostedToolPermissions.update(p.id, { web_search: { enabled: false }, code_interpreter: { enabled: false } });
      const before = mock.received.length;
      const cases: Array<[unknown[], string, string]> = [
        [[{ type: 'web_search' }], 'web_search', 'tools[0]'],
        [[fn, { type: 'web_search_preview' }], 'web_search', 'tools[1]'],
        [[{ type: 'web_search_preview_2025_03_11' }], 'web_search', 'tools[0]'],
        [[{ type: 'code_interpreter', container: { type: 'auto' } }], 'code_interpreter', 'tools[0]'],
      ];
      for (const [tools, tool, param] of cases) {
        const res = await respond(tools);
        assert.equal(res.status, 403, JSON.stringify(tools));
        assertOpenAIError(res.json);
        assert.equal(res.json.error.code, 'hosted_tool_not_allowed');
        assert.equal(res.json.error.param, param);
        assert.equal(res.json.error.message, `The hosted tool \`${tool}\` is not enabled for project \`${p.id}\`.`);
      }
      await assert.rejects(
        p.client.responses.create({ model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'web_search' }] }),
        (e: any) => e instanceof OpenAI.PermissionDeniedError && e.code === 'hosted_tool_not_allowed',
      );
      // Chat Completions' web search (search models) is the same tool
      const chat = await post(s.url, p.key, '/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], web_search_options: {} });
      assert.equal(chat.status, 403);
      assert.equal(chat.json.error.param, 'web_search_options');
      // Anthropic's server tools on /v1/messages are the same tools (Anthropic's envelope)
      const anthropic = new Anthropic({ apiKey: p.key, baseURL: s.url, maxRetries: 0 });
      for (const [tool, name] of [[{ type: 'web_search_20250305', name: 'web_search' }, 'web_search'], [{ type: 'code_execution_20250522', name: 'code_execution' }, 'code_interpreter']] as const) {
        await assert.rejects(
          anthropic.messages.create({ model: 'claude-test', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }], tools: [tool as never] }),
          (e: any) => e instanceof Anthropic.PermissionDeniedError && e.message.includes(`The hosted tool \`${name}\``),
        );
      }
      assert.equal(mock.received.length, before, 'nothing reached the upstream');
      // tools still enabled, and function tools, pass
      assert.equal((await respond([{ type: 'file_search', vector_store_ids: ['vs_1'] }, { type: 'mcp', server_label: 'x', server_url: 'https://example.com' }, fn])).status, 200);
      assert.equal((await post(s.url, p.key, '/responses', { model: 'gpt-4o-mini', input: 'no tools' })).status, 200);
      await admin.admin.organization.projects.hostedToolPermissions.update(p.id, { web_search: { enabled: true } });
      assert.equal((await respond([{ type: 'web_search' }])).status, 200, 'enabled again: at once');
    });

    test('service tiers: the default fills requests that name none (or auto); a tier not enabled is refused 403', async () => {
      const p = await newProject('tiers');
      const chatBody = (extra: object = {}) => ({ model: 'plain-chat', messages: [{ role: 'user', content: 'hi' }], ...extra });
      const sent = async (route: string, body: Record<string, unknown>) => {
        const before = mock.received.length;
        const res = await post(s.url, p.key, route, body);
        assert.equal(res.status, 200, `${route} ${JSON.stringify(body)}: ${res.text}`);
        return mock.received[before]!;
      };
      // untouched by default: the client's bytes go on as they were
      const text = JSON.stringify(chatBody());
      const before = mock.received.length;
      assert.equal((await post(s.url, p.key, '/chat/completions', text)).status, 200);
      assert.equal(mock.received[before]!.raw, text, 'a standard default leaves the body as the client wrote it');

      await admin.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'fast', enabled_tiers: ['fast'] });
      assert.equal((await sent('/chat/completions', chatBody())).body.service_tier, 'priority', 'no tier: the default (fast, sent as priority)');
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'auto' }))).body.service_tier, 'priority', 'auto: the default');
      assert.equal((await sent('/responses', { model: 'gpt-4o-mini', input: 'hi' })).body.service_tier, 'priority', 'Responses too');
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'default' }))).body.service_tier, 'default', 'an explicit standard tier is kept');
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'fast' }))).body.service_tier, 'fast', 'an enabled tier goes on as asked');
      assert.equal((await sent('/embeddings', { model: 'text-embedding-3-small', input: 'x' })).body.service_tier, undefined, 'endpoints without service_tier are left alone');

      const beforeRefusals = mock.received.length;
      for (const tier of ['flex', 'ultrafast']) {
        const res = await post(s.url, p.key, '/chat/completions', chatBody({ service_tier: tier }));
        assert.equal(res.status, 403, tier);
        assertOpenAIError(res.json);
        assert.equal(res.json.error.code, 'service_tier_not_allowed');
        assert.equal(res.json.error.param, 'service_tier');
        assert.equal(res.json.error.message, `The service tier \`${tier}\` is not enabled for project \`${p.id}\`.`);
      }
      await admin.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'standard', enabled_tiers: [] });
      for (const tier of ['priority', 'fast', 'flex']) assert.equal((await post(s.url, p.key, '/responses', { model: 'gpt-4o-mini', input: 'hi', service_tier: tier })).status, 403, `standard only: ${tier}`);
      await assert.rejects(p.client.chat.completions.create(chatBody({ service_tier: 'flex' }) as never), (e: any) => e instanceof OpenAI.PermissionDeniedError && e.code === 'service_tier_not_allowed');
      assert.equal(mock.received.length, beforeRefusals, 'nothing reached the upstream');
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'scale' }))).body.service_tier, 'scale', 'scale is the provider’s to refuse');
      assert.equal((await sent('/chat/completions', chatBody())).body.service_tier, undefined);

      await admin.admin.organization.projects.serviceTierSettings.update(p.id, { default: 'scale', enabled_tiers: ['flex'] });
      assert.equal((await sent('/chat/completions', chatBody())).body.service_tier, 'scale');
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'flex' }))).body.service_tier, 'flex');
      assert.equal((await post(s.url, p.key, '/chat/completions', chatBody({ service_tier: 'priority' }))).status, 403);
      await admin.admin.organization.projects.serviceTierSettings.update(p.id, { enabled_tiers: 'all' });
      assert.equal((await sent('/chat/completions', chatBody({ service_tier: 'ultrafast' }))).body.service_tier, 'ultrafast', 'all: every tier');
    });

    test('keyplane keeps no request or response bodies: only usage metadata', async () => {
      const p = await newProject('retention');
      await admin.admin.organization.projects.dataRetention.update(p.id, { retention_type: 'none' });
      const marker = `secret-prompt-${Date.now()}`;
      const res = await p.client.chat.completions.create({ model: 'plain-chat', messages: [{ role: 'user', content: marker }] });
      assert.equal(res.choices[0]!.message.content, 'Hello from the mock.');
      await s.rt.core.flush(true);
      const rows = await s.rt.store.db.selectFrom('usage_events').selectAll().where('project_id', '=', p.id).execute();
      assert.equal(rows.length, 1, 'the request was recorded');
      // every table of the database, every row: neither the prompt nor the answer is anywhere
      const tables =
        s.rt.store.dialect === 'postgres'
          ? (await sql<{ name: string }>`select tablename as name from pg_tables where schemaname = current_schema()`.execute(s.rt.store.db)).rows
          : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(s.rt.store.db)).rows;
      for (const { name } of tables) {
        const all = JSON.stringify((await sql`select * from ${sql.table(name)}`.execute(s.rt.store.db)).rows, (_k, v) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString('latin1') : v));
        assert.ok(!all.includes(marker), `${name} holds the prompt`);
        assert.ok(!all.includes('Hello from the mock.'), `${name} holds the answer`);
      }
    });
  });
}

// ---- two nodes: a change made through node A is enforced by node B within a second ----
const pgSkip = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';

describe('two nodes on one PostgreSQL database: project settings changed on A apply on B within a second', { skip: pgSkip }, () => {
  const BOUND_MS = 1000;
  let db: TestDb;
  let mock: MockUpstream;
  let cluster: Cluster;
  let admin: OpenAI;
  let projectId: string;
  let key: string;

  before(async () => {
    mock = await startMockUpstream();
    db = await createTestDb('postgres');
    cluster = await startNodes(2, { databaseUrl: db.databaseUrl!, modelsFile: modelsFile() });
    const A = cluster.nodes[0]!;
    const orgId = (await A.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    await A.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
    admin = openaiClient({ url: A.url } as never, cluster.adminKey);
    projectId = (await admin.admin.organization.projects.create({ name: 'Sync' })).id;
    key = (await admin.admin.organization.projects.serviceAccounts.create(projectId, { name: 'bot' })).api_key!.value;
  });
  after(async () => {
    await cluster?.close();
    await mock?.close();
    await db?.drop();
  });

  const onB = async (body: object, route = '/chat/completions') => (await post(cluster.nodes[1]!.url, key, route, body)).status;

  /** Polls node B every 20 ms until `seen` holds; fails past a second; reports how long it took. */
  const within = async (t: TestContext, what: string, seen: () => Promise<boolean>) => {
    const t0 = performance.now();
    while (!(await seen())) {
      assert.ok(performance.now() - t0 < BOUND_MS, `${what}: not seen on node B within ${BOUND_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    t.diagnostic(`${what}: node B enforced it after ${Math.round(performance.now() - t0)} ms`);
  };

  test('model permissions, hosted tools and service tiers', async (t) => {
    const chat = { model: 'plain-chat', messages: [{ role: 'user', content: 'hi' }] };
    assert.equal(await onB(chat), 200, 'node B has the project policy cached');
    await admin.admin.organization.projects.modelPermissions.update(projectId, { mode: 'deny_list', model_ids: ['plain-chat'] });
    await within(t, 'model denied', async () => (await onB(chat)) === 403);
    await admin.admin.organization.projects.modelPermissions.delete(projectId);
    await within(t, 'model permissions deleted', async () => (await onB(chat)) === 200);

    const tools = { model: 'gpt-4o-mini', input: 'hi', tools: [{ type: 'web_search' }] };
    assert.equal(await onB(tools, '/responses'), 200);
    await admin.admin.organization.projects.hostedToolPermissions.update(projectId, { web_search: { enabled: false } });
    await within(t, 'web_search disabled', async () => (await onB(tools, '/responses')) === 403);

    const flex = { ...chat, service_tier: 'flex' };
    assert.equal(await onB(flex), 200);
    await admin.admin.organization.projects.serviceTierSettings.update(projectId, { enabled_tiers: [] });
    await within(t, 'flex no longer enabled', async () => (await onB(flex)) === 403);
  });
});
