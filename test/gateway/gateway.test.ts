// The gateway through the official `openai` SDK and raw HTTP, against a fake OpenAI-compatible
// provider on loopback, on SQLite and PostgreSQL: project keys call it, the provider gets the
// tenant's credential (never keyplane's key), answers are relayed as they came, limits refuse before
// the upstream, and every request's tokens reach the usage tables and the ibl.ai token endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { assertOpenAIError, openaiClient, readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { ANTHROPIC_USAGE, completion, MOCK_USAGE, startMockUpstream, streamEvents, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';

/** Models of the test catalog: the mock's behaviours, an alias, and a tight limit. */
function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const models: Record<string, unknown> = {
    'gpt-4o-mini': { ...limits, aliases: ['mini'], upstream_model: 'gpt-4o-mini-2024-07-18', prices: { input: 0.15, cached_input: 0.075, output: 0.6 } },
    'text-embedding-3-small': { ...limits },
    'plain-chat': { ...limits },
    'mock-fail-400': { ...limits },
    'mock-fail-html': { ...limits },
    'mock-slow': { ...limits },
    'mock-drop': { ...limits },
    'mock-hang': { ...limits },
    'mock-no-usage': { ...limits },
    'tiny-limit': { max_requests_per_1_minute: 3, max_tokens_per_1_minute: 10_000_000 },
    'tiny-tokens': { max_requests_per_1_minute: 1000, max_tokens_per_1_minute: 300 },
    'elsewhere': { ...limits, provider: 'acme' },
    'gpt-image-1': { ...limits, max_images_per_1_minute: 3 },
    'tts-1': { ...limits },
    'whisper-1': { ...limits, aliases: ['stt'], upstream_model: 'whisper-large' },
    'azure-4o': { ...limits, provider: 'azure_openai' },
    'claude-test': { ...limits, provider: 'anthropic', upstream_model: 'claude-test-20250101', prices: { input: 3, cached_input: 0.3, output: 15 } },
  };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify(models));
  return file;
}

async function raw(s: TestServer, key: string | null, p: string, body?: unknown, headers: Record<string, string> = {}) {
  return readResponse(
    await fetch(`${s.url}/v1${p}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    }),
  );
}

for (const dialect of await testDialects()) {
  describe(`gateway (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let orgId: string;
    let projectId: string;
    let key: string;
    let client: OpenAI;

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile(), upstreamTimeoutMs: '1000' });
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'azure_openai', value: { api_key: UPSTREAM_KEY, endpoint: mock.url, deployment: 'dep-one', api_version: '2024-10-21' }, platform: 'main' });
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'anthropic', value: { api_key: UPSTREAM_KEY, base_url: mock.url }, platform: 'main' });
      const admin = openaiClient(s, s.adminKey);
      const project = await admin.admin.organization.projects.create({ name: 'Gateway' });
      projectId = project.id;
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      key = sa.api_key!.value;
      client = new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    test('chat completion through the SDK: the provider gets the tenant credential and the served model id', async () => {
      const before = mock.received.length;
      const { data, response } = await client.chat.completions.create({ model: 'mini', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      // the provider's answer as it came: it names the model it served, as OpenAI names a dated model for an alias
      assert.deepEqual(data, completion('gpt-4o-mini-2024-07-18'));
      const got = mock.received[before]!;
      assert.equal(got.path, '/v1/chat/completions');
      assert.equal(got.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.equal(got.body.model, 'gpt-4o-mini-2024-07-18', 'aliases resolve before the request leaves');
      assert.ok(!JSON.stringify(got.headers).includes(key), 'keyplane keys never reach an upstream');
      assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
      assert.match(response.headers.get('server-timing') ?? '', /^keyplane;dur=[\d.]+, upstream;dur=[\d.]+$/);
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '10000');
      assert.ok(Number(response.headers.get('x-ratelimit-remaining-requests')) < 10000);
      assert.ok(response.headers.get('x-ratelimit-reset-requests'));
    });

    test('unknown request fields pass through untouched; the body is sent as the client wrote it', async () => {
      const before = mock.received.length;
      const body = '{"model":"plain-chat",  "messages":[{"role":"user","content":"hi"}],"x_vendor_field":{"keep":[1,2]}}';
      const res = await raw(s, key, '/chat/completions', body);
      assert.equal(res.status, 200);
      assert.equal(mock.received[before]!.raw, body, 'same bytes upstream');
    });

    test('streaming: events relayed as they came, usage chunk kept out unless asked for', async () => {
      const before = mock.received.length;
      const res = await raw(s, key, '/chat/completions', { model: 'plain-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(mock.received[before]!.body.stream_options.include_usage, true, 'keyplane asks for usage');
      assert.equal(res.text, streamEvents('plain-chat', false).join(''), 'exact bytes, without the usage chunk');
      const asked = await raw(s, key, '/chat/completions', { model: 'plain-chat', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(asked.text, streamEvents('plain-chat', true).join(''), 'the usage chunk the client asked for');
      // and the SDK reads it
      const stream = await client.chat.completions.create({ model: 'plain-chat', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'Hello');
    });

    test('embeddings, completions and responses (plain and streamed) through the SDK', async () => {
      const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
      assert.deepEqual(emb.data[0]!.embedding, [0.1, 0.2, 0.3]);
      const cmpl = await client.completions.create({ model: 'gpt-4o-mini', prompt: 'hi' });
      assert.equal(cmpl.choices[0]!.text, 'ok');
      const resp = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
      assert.equal(resp.output_text, 'Hi!');
      const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true });
      const types: string[] = [];
      for await (const ev of stream) types.push(ev.type);
      assert.deepEqual(types, ['response.created', 'response.output_text.delta', 'response.completed']);
      assert.equal(mock.received.at(-1)!.body.stream_options, undefined, 'never stream_options on /v1/responses');
    });

    test('Anthropic clients: /v1/messages with the official SDK, plain and streamed, through an OpenAI-compatible provider', async () => {
      const anthropic = new Anthropic({ apiKey: key, baseURL: s.url, maxRetries: 0 });
      const before = mock.received.length;
      const msg = await anthropic.messages.create({ model: 'plain-chat', max_tokens: 64, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.deepEqual(msg.content, [{ type: 'text', text: 'Hello from the mock.' }]);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.output_tokens, MOCK_USAGE.completion_tokens);
      const got = mock.received[before]!;
      assert.equal(got.path, '/v1/chat/completions');
      assert.deepEqual(got.body.messages[0], { role: 'system', content: 'be brief' });
      assert.equal(got.headers.authorization, `Bearer ${UPSTREAM_KEY}`);

      const stream = anthropic.messages.stream({ model: 'plain-chat', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
      const final = await stream.finalMessage();
      assert.deepEqual(final.content, [{ type: 'text', text: 'Hello' }]);
      assert.equal(final.usage.output_tokens, MOCK_USAGE.completion_tokens);

      // errors in Anthropic's envelope; its key header works, an admin key does not
      const bad = await fetch(`${s.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': s.adminKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'plain-chat', max_tokens: 8, messages: [] }) });
      assert.equal(bad.status, 403);
      const body = (await bad.json()) as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'permission_error');
      const missing = await fetch(`${s.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', max_tokens: 8, messages: [] }) });
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { type: string } }).error.type, 'not_found_error');
    });

    test('Chat Completions served by Anthropic: translated both ways, plain and streamed, usage from Anthropic', async () => {
      const before = mock.received.length;
      const c = await client.chat.completions.create({ model: 'claude-test', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] });
      assert.equal(c.object, 'chat.completion');
      assert.equal(c.model, 'claude-test');
      assert.equal(c.choices[0]!.message.content, 'Bonjour.');
      assert.equal(c.choices[0]!.finish_reason, 'stop');
      assert.equal(c.usage!.completion_tokens, ANTHROPIC_USAGE.output_tokens);
      assert.equal(c.usage!.prompt_tokens, ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens);
      const got = mock.received[before]!;
      assert.equal(got.path, '/v1/messages');
      assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
      assert.equal(got.body.model, 'claude-test-20250101');
      assert.equal(got.body.system, 'be brief');
      assert.equal(typeof got.body.max_tokens, 'number');

      const stream = await client.chat.completions.create({ model: 'claude-test', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      assert.equal(text, 'Bonjour');
      assert.equal(usage?.completion_tokens, ANTHROPIC_USAGE.output_tokens);
      const emb = await raw(s, key, '/embeddings', { model: 'claude-test', input: 'x' });
      assert.equal(emb.status, 400);
    });

    test('images, speech and transcriptions (a multipart upload passed through) through the SDK, images per minute enforced', async () => {
      const img = await client.images.generate({ model: 'gpt-image-1', prompt: 'a cat', n: 2 });
      assert.equal(img.data!.length, 2);
      const tooMany = await raw(s, key, '/images/generations', { model: 'gpt-image-1', prompt: 'more cats', n: 2 });
      assert.equal(tooMany.status, 429, 'two images of three per minute were used');
      assert.match(tooMany.json.error.message, /images per min/);
      const speech = await client.audio.speech.create({ model: 'tts-1', input: 'hello', voice: 'alloy' });
      assert.deepEqual([...new Uint8Array(await speech.arrayBuffer())], [0xff, 0xfb, 0x90, 0x64, 1, 2, 3, 4]);
      const before = mock.received.length;
      const audio = await toFile(Buffer.from('RIFF....WAVEfmt fake audio bytes'), 'clip.wav', { type: 'audio/wav' });
      const tr = await client.audio.transcriptions.create({ model: 'stt', file: audio });
      assert.equal(tr.text, 'heard a form');
      const got = mock.received[before]!;
      assert.equal(got.path, '/v1/audio/transcriptions');
      assert.equal(got.body.model, 'whisper-large', 'the alias rewritten inside the form');
      assert.ok(got.raw.includes('RIFF....WAVEfmt fake audio bytes'), 'the file reached the upstream as it was');
      await s.rt.core.usageRecorder.flush();
      const rows = await s.rt.store.db.selectFrom('usage_events').select(['endpoint', 'images', 'audio_bytes', 'prompt_tokens']).where('endpoint', 'in', ['images.generations', 'audio.transcriptions']).where('status', '=', 200).execute();
      assert.ok(rows.some((r) => r.endpoint === 'images.generations' && Number(r.images) === 2));
      assert.ok(rows.some((r) => r.endpoint === 'audio.transcriptions' && Number(r.audio_bytes) > 0 && Number(r.prompt_tokens) === 14));
    });

    test("free trial: the platform's default key until the allowance is used, then OpenAI's 429 insufficient_quota before the upstream", async () => {
      const core = s.rt.core;
      const created = await core.orgs.create(SYSTEM, { name: 'Trial Co', slug: `trial-${dialect}` });
      await core.defaultCredentials.set(SYSTEM, 'openai', { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` });
      await core.platform.setFreeTrial(SYSTEM, created.org.id, { enabled: true, metadata: { tokens: 30 } });
      const admin = new OpenAI({ adminAPIKey: created.adminKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const project = await admin.admin.organization.projects.create({ name: 'Trying' });
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      const trialKey = sa.api_key!.value;
      const before = mock.received.length;
      // 18 tokens per answer: the first two fit in 30, the third finds the trial over
      assert.equal((await raw(s, trialKey, '/chat/completions', { model: 'plain-chat', messages: [] })).status, 200);
      assert.equal((await raw(s, trialKey, '/chat/completions', { model: 'plain-chat', messages: [] })).status, 200);
      const over = await raw(s, trialKey, '/chat/completions', { model: 'plain-chat', messages: [] });
      assert.equal(over.status, 429);
      assert.equal(over.json.error.code, 'insufficient_quota');
      assert.equal(over.json.error.type, 'insufficient_quota');
      assert.match(over.json.error.message, /free trial/);
      assert.equal(mock.received.length - before, 2, 'nothing reaches the upstream once the trial is over');
      for (let i = 0; i < 50; i++) {
        await core.usageRecorder.flush();
        const n = await s.rt.store.db.selectFrom('usage_events').select('id').where('org_id', '=', created.org.id).where('credential_source', '=', 'free_trial').where('status', '=', 200).execute();
        if (n.length === 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const rows = await s.rt.store.db.selectFrom('usage_events').select(['credential_source', 'status']).where('org_id', '=', created.org.id).execute();
      assert.deepEqual(rows.map((r) => `${r.credential_source}:${r.status}`).sort(), ['free_trial:200', 'free_trial:200', 'free_trial:429']);
      // the tenant's own key takes over: no trial cap on it
      await core.credentials.create(SYSTEM, created.org.id, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: created.org.slug });
      assert.equal((await raw(s, trialKey, '/chat/completions', { model: 'plain-chat', messages: [] })).status, 200);
    });

    test('Azure OpenAI: the deployment URL, api-key header and api-version from the tenant credential', async () => {
      const before = mock.received.length;
      const c = await client.chat.completions.create({ model: 'azure-4o', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(c.choices[0]!.message.content, 'Hello from the mock.');
      const got = mock.received[before]!;
      assert.equal(got.path, '/openai/deployments/dep-one/chat/completions?api-version=2024-10-21');
      assert.equal(got.headers['api-key'], UPSTREAM_KEY);
      assert.equal(got.headers.authorization, undefined, 'no bearer token to Azure');
    });

    test('models: the catalog models the organization has a provider credential for', async () => {
      const decrypted = async () => {
        await s.rt.core.providerCredentials.flushUses(true);
        return (await s.rt.store.db.selectFrom('audit_logs').select('id').where('type', '=', 'credential.decrypted').execute()).length;
      };
      const audited = await decrypted();
      const ids = [];
      for await (const m of client.models.list()) ids.push(m.id);
      assert.equal(await decrypted(), audited, 'listing models uses no credential');
      assert.ok(ids.includes('gpt-4o-mini'));
      assert.ok(!ids.includes('elsewhere'), 'no credential for provider acme');
      const one = await client.models.retrieve('gpt-4o-mini');
      assert.deepEqual(one, { id: 'gpt-4o-mini', object: 'model', created: 0, owned_by: 'openai' });
      const missing = await raw(s, key, '/models/elsewhere');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, 'model_not_found');
    });

    test('who may call: project keys only; bad keys 401; restricted scopes; archived projects', async () => {
      const adminTry = await raw(s, s.adminKey, '/chat/completions', { model: 'gpt-4o-mini', messages: [] });
      assert.equal(adminTry.status, 403);
      assertOpenAIError(adminTry.json);
      assert.match(adminTry.json.error.message, /project API key/);
      const unknown = await raw(s, 'sk-proj-unknown-0000000000000000000000', '/chat/completions', { model: 'gpt-4o-mini' });
      assert.equal(unknown.status, 401);
      assert.equal((await raw(s, null, '/chat/completions', { model: 'gpt-4o-mini' })).status, 401);
      // refusals carry the request id and Server-Timing too (no upstream time: none was called)
      for (const r of [adminTry, unknown, await raw(s, key, '/models')]) {
        assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
        assert.match(r.headers.get('server-timing') ?? '', /^keyplane;dur=\d+\.\d{2}, upstream;dur=0\.00$/);
      }

      const admin = openaiClient(s, s.adminKey);
      const sa = await admin.admin.organization.projects.serviceAccounts.create(projectId, { name: 'reader-bot' });
      await admin.admin.organization.projects.apiKeys.update(sa.api_key!.id, { project_id: projectId, scopes: ['api.model.read'] });
      const restricted = sa.api_key!.value;
      const denied = await raw(s, restricted, '/chat/completions', { model: 'gpt-4o-mini', messages: [] });
      assert.equal(denied.status, 401);
      assert.equal(denied.json.error.code, 'missing_scope');
      assert.match(denied.json.error.message, /Missing scopes: api\.model\.request/);
      assert.equal((await raw(s, restricted, '/models')).status, 200, 'api.model.read lists models');

      const p2 = await admin.admin.organization.projects.create({ name: 'Soon archived' });
      const sa2 = await admin.admin.organization.projects.serviceAccounts.create(p2.id, { name: 'bot' });
      assert.equal((await raw(s, sa2.api_key!.value, '/chat/completions', { model: 'gpt-4o-mini', messages: [] })).status, 200);
      await admin.admin.organization.projects.archive(p2.id);
      await new Promise((r) => setTimeout(r, 1100)); // applies within a second
      const archived = await raw(s, sa2.api_key!.value, '/chat/completions', { model: 'gpt-4o-mini', messages: [] });
      assert.equal(archived.status, 403);
      assert.match(archived.json.error.message, /archived/);
    });

    test('bad requests and upstream failures answer in OpenAI envelope, never leaking the upstream', async () => {
      const noModel = await raw(s, key, '/chat/completions', { messages: [] });
      assert.equal(noModel.status, 400);
      assertOpenAIError(noModel.json);
      const notJson = await raw(s, key, '/chat/completions', '{"model":');
      assert.equal(notJson.status, 400);
      const unknown = await raw(s, key, '/chat/completions', { model: 'no-such-model' });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, 'model_not_found');
      const relayed = await raw(s, key, '/chat/completions', { model: 'mock-fail-400', messages: [] });
      assert.equal(relayed.status, 400);
      assert.deepEqual(relayed.json, { error: { message: 'Upstream says no.', type: 'invalid_request_error', param: 'messages', code: 'bad_messages' } });
      const html = await raw(s, key, '/chat/completions', { model: 'mock-fail-html', messages: [] });
      assert.equal(html.status, 503);
      assertOpenAIError(html.json, 'server_error');
      assert.ok(!html.text.includes('10.0.0.7'));
      const slow = await raw(s, key, '/chat/completions', { model: 'mock-slow', messages: [] });
      assert.equal(slow.status, 504);
      assertOpenAIError(slow.json, 'server_error');
      const noCred = await raw(s, key, '/chat/completions', { model: 'elsewhere', messages: [] });
      assert.equal(noCred.status, 400);
      assert.match(noCred.json.error.message, /acme/);
      for (const r of [relayed, html, slow, noCred]) assert.ok(!r.text.includes(UPSTREAM_KEY));
    });

    test('a stream the upstream drops ends early; a client that leaves aborts the upstream', async () => {
      const dropped = await raw(s, key, '/chat/completions', { model: 'mock-drop', stream: true, messages: [] });
      assert.equal(dropped.status, 200);
      assert.ok(dropped.text.startsWith(streamEvents('mock-drop', false).slice(0, 2).join('')));
      assert.ok(!dropped.text.includes('[DONE]'));

      const abortedBefore = mock.aborted;
      const ac = new AbortController();
      const res = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-hang', stream: true, messages: [] }),
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      await reader.read(); // the first event arrived before the upstream finished
      ac.abort();
      for (let i = 0; i < 50 && mock.aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(mock.aborted, abortedBefore + 1, 'the upstream request was aborted');
    });

    test('limits: of 6 concurrent requests against 3 per minute exactly 3 pass; the rest are 429 before the upstream', async () => {
      const before = mock.received.length;
      const results = await Promise.all(Array.from({ length: 6 }, () => raw(s, key, '/chat/completions', { model: 'tiny-limit', messages: [] })));
      const ok = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status === 429);
      assert.equal(ok.length, 3);
      assert.equal(refused.length, 3);
      assert.equal(mock.received.length - before, 3, 'refused requests never reach the upstream');
      const r = refused[0]!;
      assert.equal(r.json.error.type, 'requests');
      assert.equal(r.json.error.code, 'rate_limit_exceeded');
      assert.match(r.json.error.message, new RegExp(`^Rate limit reached for tiny-limit in project ${projectId} on requests per min \\(RPM\\): Limit 3, Used 3, Requested 1\\. Please try again in \\d+s\\.`));
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.ok(Number(r.headers.get('retry-after-ms')) > 0);
      assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
    });

    test('token limits reserve an estimate: concurrent requests cannot run past the limit', async () => {
      // 300 tokens per minute; each request reserves its prompt estimate plus max_tokens 100
      const results = await Promise.all(Array.from({ length: 6 }, () => raw(s, key, '/chat/completions', { model: 'tiny-tokens', max_tokens: 100, messages: [] })));
      const ok = results.filter((r) => r.status === 200).length;
      assert.ok(ok >= 1 && ok <= 3, `${ok} admitted`);
      const refused = results.find((r) => r.status === 429)!;
      assert.equal(refused.json.error.type, 'tokens');
      assert.match(refused.json.error.message, /tokens per min \(TPM\)/);
    });

    test('usage: every request recorded with the provider-reported tokens; the ibl.ai endpoint shows them per user and session', async () => {
      await s.rt.core.usageRecorder.flush();
      const start = Number((await s.rt.store.db.selectFrom('usage_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      await client.chat.completions.create({ model: 'gpt-4o-mini', user: 'end-user-42', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-keyplane-session': 'sess-7' } });
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [] }, { headers: { 'x-keyplane-user': 'end-user-42', 'x-keyplane-session': 'sess-7' } });
      for await (const _ of stream) void _;
      // the stream's usage is recorded once keyplane has finished answering: wait for it
      let rows: Awaited<ReturnType<typeof sessionRows>> = [];
      const sessionRows = () => s.rt.store.db.selectFrom('usage_events').selectAll().where('session_id', '=', 'sess-7').orderBy('created_at').execute();
      for (let i = 0; i < 50 && rows.length < 2; i++) {
        await s.rt.core.usageRecorder.flush();
        rows = await sessionRows();
        if (rows.length < 2) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(rows.length, 2);
      for (const r of rows) {
        assert.equal(Number(r.prompt_tokens), MOCK_USAGE.prompt_tokens);
        assert.equal(Number(r.completion_tokens), MOCK_USAGE.completion_tokens);
        assert.equal(r.user_id, 'end-user-42');
        assert.equal(r.project_id, projectId);
        assert.ok(!JSON.stringify(r).includes(UPSTREAM_KEY));
      }
      const total = Number((await s.rt.store.db.selectFrom('usage_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      assert.equal(total - start, 2);
      const tokens = await fetch(`${s.url}/api/ai-account/orgs/main/tokens/?username=end-user-42&session_id=sess-7`, { headers: { authorization: `Api-Token ${s.adminKey}` } });
      assert.equal(tokens.status, 200);
      const days = (await tokens.json()) as Array<{ prompt_tokens: number; completion_tokens: number }>;
      assert.equal(days.reduce((a, d) => a + d.prompt_tokens, 0), 2 * MOCK_USAGE.prompt_tokens);
      assert.equal(days.reduce((a, d) => a + d.completion_tokens, 0), 2 * MOCK_USAGE.completion_tokens);
    });
  });
}
