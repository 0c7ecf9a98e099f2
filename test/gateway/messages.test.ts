// POST /v1/messages for Claude models: the official @anthropic-ai/sdk against keyplane, keyplane
// against a fake Anthropic on loopback, on SQLite and PostgreSQL. The request reaches Anthropic as
// the client wrote it (only an alias's model id rewritten) with the tenant's key; answers and streams
// come back byte for byte; usage is read from Anthropic's counts; errors stay in Anthropic's envelope.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { ANTHROPIC_VERSION } from '../../src/gateway/anthropic-upstream.ts';
import { ANTHROPIC_CACHE_USAGE, ANTHROPIC_USAGE, anthropicMessageText, anthropicStreamPieces, startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const SERVED = 'claude-mock-20250101';

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const claude = (extra: Record<string, unknown> = {}) => ({ ...limits, provider: 'anthropic', ...extra });
  const models: Record<string, unknown> = {
    'claude-mock': claude({ aliases: ['sonnet'], upstream_model: SERVED, prices: { input: 3, cached_input: 0.3, output: 15 } }),
    'claude-mock-cache': claude(),
    'claude-fail-400': claude(),
    'claude-fail-429': claude(),
    'claude-fail-529': claude(),
    'claude-fail-html': claude(),
    'claude-slow': claude(),
    'claude-hang': claude(),
    'claude-tiny': claude({ max_requests_per_1_minute: 1 }),
  };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify(models));
  return file;
}

/** A raw POST /v1/messages with the key in x-api-key, as Anthropic's clients send it. */
async function post(s: TestServer, key: string, body: unknown, headers: Record<string, string> = {}) {
  return readResponse(
    await fetch(`${s.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
}

/** A project key of a new organization whose Anthropic credential is `value`. */
async function orgWithAnthropic(s: TestServer, slug: string, value: Record<string, unknown>): Promise<string> {
  const created = await s.rt.core.orgs.create(SYSTEM, { name: slug, slug });
  await s.rt.core.credentials.create(SYSTEM, created.org.id, 'llm', { name: 'anthropic', value, platform: slug });
  const admin = new OpenAI({ adminAPIKey: created.adminKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 });
  const project = await admin.admin.organization.projects.create({ name: 'Claude' });
  const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
  return sa.api_key!.value;
}

for (const dialect of await testDialects()) {
  describe(`/v1/messages passed through to Anthropic (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let projectId: string;
    let key: string;
    let anthropic: Anthropic;

    /** The usage rows of a session, once the recorder has them (streams record after the answer ends). */
    async function sessionRows(session: string, n: number) {
      let rows: any[] = [];
      for (let i = 0; i < 100 && rows.length < n; i++) {
        await s.rt.core.usageRecorder.flush();
        rows = await s.rt.store.db.selectFrom('usage_events').selectAll().where('session_id', '=', session).execute();
        if (rows.length < n) await new Promise((r) => setTimeout(r, 20));
      }
      return rows;
    }

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile(), upstreamTimeoutMs: '1000' });
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'anthropic', value: { api_key: UPSTREAM_KEY, base_url: mock.url }, platform: 'main' });
      const admin = new OpenAI({ adminAPIKey: s.adminKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const project = await admin.admin.organization.projects.create({ name: 'Messages' });
      projectId = project.id;
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      key = sa.api_key!.value;
      anthropic = new Anthropic({ apiKey: key, baseURL: s.url, maxRetries: 0 });
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    test('a plain message through the SDK: the tenant key upstream, the alias rewritten, the answer as Anthropic sent it', async () => {
      const sent: Headers[] = [];
      const watched = new Anthropic({ apiKey: key, baseURL: s.url, maxRetries: 0, fetch: (url, init) => (sent.push(new Headers(init?.headers)), fetch(url, init)) });
      const before = mock.received.length;
      const { data, response } = await watched.messages
        .create({ model: 'sonnet', max_tokens: 64, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'anthropic-beta': 'prompt-caching-2024-07-31,output-128k-2025-02-19' } })
        .withResponse();
      assert.deepEqual(data, JSON.parse(anthropicMessageText(SERVED)), 'the upstream answer, naming the model it served');
      assert.equal(mock.received.length - before, 1);
      const got = mock.received[before]!;
      assert.equal(got.path, '/v1/messages');
      assert.equal(got.headers['x-api-key'], UPSTREAM_KEY);
      assert.ok(sent[0]!.get('anthropic-version'));
      assert.equal(got.headers['anthropic-version'], sent[0]!.get('anthropic-version'), "the SDK's version");
      assert.ok([...sent[0]!.values()].some((v) => v.includes(key)), 'the SDK sent its keyplane key (this version as a bearer token)');
      assert.equal(got.headers['anthropic-beta'], 'prompt-caching-2024-07-31,output-128k-2025-02-19');
      assert.equal(got.headers.authorization, undefined);
      assert.ok(!JSON.stringify(got.headers).includes(key), 'the keyplane key never reaches Anthropic');
      assert.ok(!Object.keys(got.headers).some((h) => h.startsWith('x-stainless')), "none of the client's other headers");
      assert.deepEqual(got.body, { model: SERVED, max_tokens: 64, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] });
      // headers every gateway answer carries
      assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
      assert.match(response.headers.get('server-timing') ?? '', /^keyplane;dur=[\d.]+, upstream;dur=[\d.]+$/);
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '10000');
      assert.ok(Number(response.headers.get('x-ratelimit-remaining-requests')) < 10000);
      assert.equal(response.headers.get('anthropic-organization-id'), null, "the upstream's own headers stay upstream");
    });

    test('the body goes upstream byte for byte (unknown fields included) and comes back byte for byte; a bearer key is not forwarded either', async () => {
      const before = mock.received.length;
      const body = '{"model":"claude-mock-cache",  "max_tokens":32,"messages":[{"role":"user","content":"h\\u00e9"}],"x_future_field":{"keep":[1,2.50]},"thinking":{"type":"enabled","budget_tokens":16}}';
      const res = await readResponse(await fetch(`${s.url}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body }));
      assert.equal(res.status, 200);
      assert.equal(res.text, anthropicMessageText('claude-mock-cache'), 'exact bytes, the unknown answer field included');
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const got = mock.received[before]!;
      assert.equal(got.raw, body, 'same bytes upstream: the model is served under its own name');
      assert.equal(got.headers['anthropic-version'], ANTHROPIC_VERSION, "keyplane's version when the client names none");
      assert.equal(got.headers['anthropic-beta'], undefined);
      assert.equal(got.headers.authorization, undefined);
      assert.ok(!JSON.stringify(got.headers).includes(key));

      // an alias: only the model id changes, every other field as it was
      const aliased = await post(s, key, { model: 'sonnet', max_tokens: 8, messages: [{ role: 'user', content: 'x' }], x_future_field: [true, null], metadata: { user_id: 'u-1' } }, { 'anthropic-version': '2099-01-01' });
      assert.equal(aliased.status, 200);
      const up = mock.received.at(-1)!;
      assert.deepEqual(up.body, { model: SERVED, max_tokens: 8, messages: [{ role: 'user', content: 'x' }], x_future_field: [true, null], metadata: { user_id: 'u-1' } });
      assert.equal(up.headers['anthropic-version'], '2099-01-01', "the client's version");
    });

    test('streaming through the SDK: the events relayed byte for byte, the final message, usage recorded as Anthropic reported it', async () => {
      const session = `stream-${dialect}`;
      const raw = await post(s, key, { model: 'claude-mock-cache', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }, { 'x-keyplane-session': `${session}-raw` });
      assert.equal(raw.status, 200);
      assert.match(raw.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(raw.text, anthropicStreamPieces('claude-mock-cache').join(''), 'exact bytes (the ping keeps its spaces)');
      assert.match(raw.headers.get('x-request-id') ?? '', /^req_/);
      assert.match(raw.headers.get('server-timing') ?? '', /^keyplane;dur=[\d.]+, upstream;dur=[\d.]+$/);
      assert.equal(raw.headers.get('x-ratelimit-limit-requests'), '10000');

      // messages.stream(): the SDK assembles what was relayed
      const stream = anthropic.messages.stream({ model: 'claude-mock-cache', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-keyplane-session': session } });
      let text = '';
      stream.on('text', (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text, 'Bonjour');
      assert.equal(final.id, 'msg_mock2');
      assert.equal(final.model, 'claude-mock-cache');
      assert.equal(final.content.length, 1);
      assert.equal(final.content[0]!.type === 'text' ? final.content[0]!.text : null, 'Bonjour');
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, ANTHROPIC_CACHE_USAGE.output_tokens);
      assert.equal(final.usage.cache_read_input_tokens, ANTHROPIC_CACHE_USAGE.cache_read_input_tokens);

      // create({ stream: true }): the raw events in order
      const events = await anthropic.messages.create({ model: 'sonnet', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-keyplane-session': `${session}-alias` } });
      const types: string[] = [];
      for await (const e of events) types.push(e.type);
      assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);

      // usage: input = input + cache reads + cache writes, cached = cache reads (the message_delta's final counts)
      const c = ANTHROPIC_CACHE_USAGE;
      for (const sess of [`${session}-raw`, session]) {
        const [row] = await sessionRows(sess, 1);
        assert.ok(row, `usage of ${sess} recorded`);
        assert.equal(Number(row.prompt_tokens), c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens);
        assert.equal(Number(row.cached_input_tokens), c.cache_read_input_tokens);
        assert.equal(Number(row.completion_tokens), c.output_tokens);
        assert.equal(row.endpoint, 'messages');
        assert.equal(row.provider, 'anthropic');
        assert.equal(row.model, 'claude-mock-cache');
        assert.equal(Number(row.status), 200);
        assert.equal(Number(row.stream), 1);
        assert.equal(row.project_id, projectId);
      }
      // without the input counts in message_delta: message_start's input, message_delta's output
      const [aliasRow] = await sessionRows(`${session}-alias`, 1);
      assert.equal(aliasRow.model, 'claude-mock');
      assert.equal(aliasRow.served_model, SERVED);
      assert.equal(Number(aliasRow.prompt_tokens), ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens);
      assert.equal(Number(aliasRow.cached_input_tokens), ANTHROPIC_USAGE.cache_read_input_tokens);
      assert.equal(Number(aliasRow.completion_tokens), ANTHROPIC_USAGE.output_tokens);
      // prices 3 / 0.3 / 15 USD per million: 9 uncached, 2 cached, 6 output
      assert.equal(Number(aliasRow.cost_nano_usd), 9 * 3000 + 2 * 300 + 6 * 15000);

      // the ibl.ai token endpoint shows the same counts
      const tokens = await fetch(`${s.url}/api/ai-account/orgs/main/tokens/?session_id=${session}`, { headers: { authorization: `Api-Token ${s.adminKey}` } });
      assert.equal(tokens.status, 200);
      const days = (await tokens.json()) as Array<{ prompt_tokens: number; completion_tokens: number }>;
      assert.equal(days.reduce((a, d) => a + d.prompt_tokens, 0), c.input_tokens + c.cache_read_input_tokens + c.cache_creation_input_tokens);
      assert.equal(days.reduce((a, d) => a + d.completion_tokens, 0), c.output_tokens);
    });

    test('a plain answer records its usage from the JSON usage', async () => {
      const session = `plain-${dialect}`;
      await anthropic.messages.create({ model: 'claude-mock', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-keyplane-session': session } });
      const [row] = await sessionRows(session, 1);
      assert.equal(Number(row.prompt_tokens), ANTHROPIC_USAGE.input_tokens + ANTHROPIC_USAGE.cache_read_input_tokens + ANTHROPIC_USAGE.cache_creation_input_tokens);
      assert.equal(Number(row.cached_input_tokens), ANTHROPIC_USAGE.cache_read_input_tokens);
      assert.equal(Number(row.completion_tokens), ANTHROPIC_USAGE.output_tokens);
      assert.equal(Number(row.stream), 0);
      assert.equal(row.served_model, SERVED);
    });

    test("Anthropic's errors are relayed with their status and envelope; others get the envelope, never the upstream's page", async () => {
      const session = `errors-${dialect}`;
      const h = { 'x-keyplane-session': session };
      const bad = await post(s, key, { model: 'claude-fail-400', max_tokens: 8, messages: [] }, h);
      assert.equal(bad.status, 400);
      assert.equal(bad.text, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'messages: Upstream says no.' }, request_id: 'req_mock400' }));
      assert.equal(bad.headers.get('x-ratelimit-limit-requests'), '10000', 'rate-limit headers on errors too');
      assert.match(bad.headers.get('server-timing') ?? '', /^keyplane;dur=/);
      assert.match(bad.headers.get('x-request-id') ?? '', /^req_/);
      // Anthropic's own validation (no max_tokens) comes back as Anthropic wrote it
      const noMax = await post(s, key, { model: 'claude-mock', messages: [{ role: 'user', content: 'hi' }] }, h);
      assert.equal(noMax.status, 400);
      assert.deepEqual(noMax.json, { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });

      const limited = await post(s, key, { model: 'claude-fail-429', max_tokens: 8, messages: [] }, h);
      assert.equal(limited.status, 429);
      assert.equal(limited.json.error.type, 'rate_limit_error');
      assert.equal(limited.headers.get('retry-after'), '7', "Anthropic's retry-after passed on");
      assert.equal(limited.headers.get('anthropic-organization-id'), null);

      const overloaded = await post(s, key, { model: 'claude-fail-529', max_tokens: 8, messages: [] }, h);
      assert.equal(overloaded.status, 529);
      assert.deepEqual(overloaded.json, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

      const html = await post(s, key, { model: 'claude-fail-html', max_tokens: 8, messages: [] }, h);
      assert.equal(html.status, 502);
      assert.deepEqual(html.json, { type: 'error', error: { type: 'api_error', message: 'The upstream provider answered 502.' } });
      assert.ok(!html.text.includes('10.0.0.7'));

      // through the SDK: its typed errors
      await assert.rejects(anthropic.messages.create({ model: 'claude-fail-400', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }), (e: any) => {
        assert.ok(e instanceof Anthropic.BadRequestError);
        assert.equal((e.error as { error: { message: string } }).error.message, 'messages: Upstream says no.');
        return true;
      });
      await assert.rejects(anthropic.messages.create({ model: 'claude-fail-529', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }), (e: any) => e instanceof Anthropic.APIError && e.status === 529);

      for (const r of [bad, noMax, limited, overloaded, html]) assert.ok(!r.text.includes(UPSTREAM_KEY) && !r.text.includes(mock.url));
      const rows = await sessionRows(session, 5);
      assert.deepEqual(rows.map((r) => Number(r.status)).sort((x, y) => x - y), [400, 400, 429, 502, 529]);
      for (const r of rows) assert.equal(Number(r.prompt_tokens) + Number(r.completion_tokens), 0, 'no tokens for a refusal');
    });

    test('timeouts answer 504, an unreachable Anthropic 502, in Anthropic envelope', async () => {
      const slow = await post(s, key, { model: 'claude-slow', max_tokens: 8, messages: [] });
      assert.equal(slow.status, 504);
      assert.deepEqual(slow.json, { type: 'error', error: { type: 'api_error', message: 'The upstream provider did not answer in time.' } });
      assert.equal(slow.headers.get('x-ratelimit-limit-requests'), '10000');

      const closed = await orgWithAnthropic(s, `unreachable-${dialect}`, { api_key: UPSTREAM_KEY, base_url: 'http://127.0.0.1:1' });
      const down = await post(s, closed, { model: 'claude-mock', max_tokens: 8, messages: [] });
      assert.equal(down.status, 502);
      assert.deepEqual(down.json, { type: 'error', error: { type: 'api_error', message: 'The upstream provider could not be reached.' } });
      assert.ok(!down.text.includes('127.0.0.1:1'));
    });

    test("no Anthropic credential: 400 in Anthropic's envelope, with the rate-limit headers; a free trial on the platform's key stops at its allowance", async () => {
      const core = s.rt.core;
      const created = await core.orgs.create(SYSTEM, { name: 'No Claude', slug: `noclaude-${dialect}` });
      const admin = new OpenAI({ adminAPIKey: created.adminKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const project = await admin.admin.organization.projects.create({ name: 'P' });
      const orgKey = (await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' })).api_key!.value;
      const before = mock.received.length;
      const none = await post(s, orgKey, { model: 'claude-mock', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
      assert.equal(none.status, 400);
      assert.equal(none.json.type, 'error');
      assert.equal(none.json.error.type, 'invalid_request_error');
      assert.match(none.json.error.message, /No credential for provider 'anthropic'/);
      assert.equal(none.headers.get('x-ratelimit-limit-requests'), '10000');
      assert.match(none.headers.get('x-request-id') ?? '', /^req_/);
      assert.equal(mock.received.length, before);

      // the free trial: the platform's Anthropic key, 17 tokens an answer, 30 allowed
      await core.defaultCredentials.set(SYSTEM, 'anthropic', { api_key: UPSTREAM_KEY, base_url: mock.url });
      await core.platform.setFreeTrial(SYSTEM, created.org.id, { enabled: true, metadata: { tokens: 30 } });
      const msg = () => post(s, orgKey, { model: 'claude-mock', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
      assert.equal((await msg()).status, 200);
      assert.equal(mock.received.at(-1)!.headers['x-api-key'], UPSTREAM_KEY, "the platform's key upstream");
      assert.equal((await msg()).status, 200);
      const over = await msg();
      assert.equal(over.status, 429);
      assert.equal(over.json.type, 'error');
      assert.equal(over.json.error.type, 'rate_limit_error');
      assert.match(over.json.error.message, /free trial/);
      assert.equal(mock.received.length - before, 2, 'nothing reaches Anthropic once the trial is over');
    });

    test("keyplane's own rate limit: 429 in Anthropic's envelope with retry-after and the x-ratelimit headers, before the upstream", async () => {
      assert.equal((await post(s, key, { model: 'claude-tiny', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] })).status, 200);
      const before = mock.received.length;
      const refused = await post(s, key, { model: 'claude-tiny', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
      assert.equal(refused.status, 429);
      assert.equal(refused.json.type, 'error');
      assert.equal(refused.json.error.type, 'rate_limit_error');
      assert.match(refused.json.error.message, /^Rate limit reached for claude-tiny in project .* on requests per min \(RPM\): Limit 1, Used 1, Requested 1\./);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      assert.ok(Number(refused.headers.get('retry-after-ms')) > 0);
      assert.equal(refused.headers.get('x-ratelimit-limit-requests'), '1');
      assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
      assert.ok(refused.headers.get('x-ratelimit-reset-requests'));
      assert.equal(mock.received.length, before, 'refused before the upstream');
      // and the SDK sees its RateLimitError
      await assert.rejects(anthropic.messages.create({ model: 'claude-tiny', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }), (e: any) => {
        assert.ok(e instanceof Anthropic.RateLimitError);
        assert.ok(Number(e.headers.get('retry-after')) >= 1);
        return true;
      });
    });

    test('a client that leaves mid-stream aborts the upstream; the stream is recorded as closed by the client', async () => {
      const abortedBefore = mock.aborted;
      const ac = new AbortController();
      const res = await fetch(`${s.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': key, 'content-type': 'application/json', 'x-keyplane-session': `hang-${dialect}` },
        body: JSON.stringify({ model: 'claude-hang', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'x' }] }),
        signal: ac.signal,
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      const first = await reader.read();
      assert.ok(new TextDecoder().decode(first.value).startsWith('event: message_start'));
      ac.abort();
      for (let i = 0; i < 100 && mock.aborted === abortedBefore; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(mock.aborted, abortedBefore + 1, 'the upstream request was aborted');
      const [row] = await sessionRows(`hang-${dialect}`, 1);
      assert.equal(Number(row.status), 499);
    });
  });
}
