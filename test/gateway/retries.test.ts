// Upstream retries (KEYPLANE_UPSTREAM_RETRIES): off by default, so an upstream failure reaches the
// client as it came; when the operator turns them on, a call that could not connect or was answered
// 503 is made again, streams included (nothing has reached the client before the upstream answered),
// and a client that leaves during the backoff ends it. Against the mock upstream on loopback, on
// SQLite and PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, streamEvents, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ 'mock-flaky': { ...limits }, 'mock-reset': { ...limits }, 'mock-fail-html': { ...limits } }));
  return file;
}

async function projectKey(s: TestServer, mock: MockUpstream): Promise<string> {
  const core = s.rt.core;
  const org = await core.orgs.getBySlug(SYSTEM, 'main');
  await core.credentials.create(SYSTEM, org.id, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
  const project = await core.projects.create(SYSTEM, org.id, { name: 'Retries' });
  const sa = await core.serviceAccounts.create(SYSTEM, org.id, project.id, { name: 'bot' });
  return sa.key!.secret;
}

for (const dialect of await testDialects()) {
  describe(`upstream retries (${dialect})`, () => {
    let mock: MockUpstream;
    let plain: TestServer;
    let retrying: TestServer;
    let plainKey: string;
    let retryKey: string;
    let n = 0;
    const user = () => `${dialect}-${++n}`;
    const calls = (model: string, u: string) => mock.received.filter((r) => r.body?.model === model && r.body?.user === u).length;

    before(async () => {
      mock = await startMockUpstream();
      plain = await startServer(dialect, { modelsFile: modelsFile() });
      retrying = await startServer(dialect, { modelsFile: modelsFile(), upstreamRetries: '2' });
      plainKey = await projectKey(plain, mock);
      retryKey = await projectKey(retrying, mock);
    });
    after(async () => {
      await plain?.close();
      await retrying?.close();
      await mock?.close();
    });

    const post = async (s: TestServer, key: string, body: unknown, signal?: AbortSignal) =>
      readResponse(await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) }));

    test('off by default: the upstream 503 reaches the client after one call', async () => {
      const u = user();
      const res = await post(plain, plainKey, { model: 'mock-flaky', user: u, messages: [] });
      assert.equal(res.status, 503);
      assert.equal(res.json.error.message, 'overloaded (call 1)');
      assert.equal(calls('mock-flaky', u), 1);
    });

    test('with retries: two 503s, then the answer; the SDK sees one success', async () => {
      const u = user();
      const client = new OpenAI({ apiKey: retryKey, baseURL: `${retrying.url}/v1`, maxRetries: 0 });
      const c = await client.chat.completions.create({ model: 'mock-flaky', user: u, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(c.choices[0]!.message.content, 'Hello from the mock.');
      assert.equal(calls('mock-flaky', u), 3);
    });

    test('with retries: connections dropped twice, then the answer', async () => {
      const u = user();
      const res = await post(retrying, retryKey, { model: 'mock-reset', user: u, messages: [] });
      assert.equal(res.status, 200, res.text);
      assert.equal(calls('mock-reset', u), 3);
    });

    test('with retries: a stream is retried before its first byte, then relayed whole', async () => {
      const u = user();
      const res = await post(retrying, retryKey, { model: 'mock-flaky', user: u, stream: true, stream_options: { include_usage: true }, messages: [] });
      assert.equal(res.status, 200);
      assert.equal(res.text, streamEvents('mock-flaky', true).join(''));
      assert.equal(calls('mock-flaky', u), 3);
    });

    test('retries run out: three calls, then the last answer relayed in OpenAI envelope (never the upstream page)', async () => {
      const u = user();
      const t0 = Date.now();
      const res = await post(retrying, retryKey, { model: 'mock-fail-html', user: u, messages: [] });
      assert.equal(res.status, 503);
      assert.equal(res.json.error.code, 'upstream_error');
      assert.doesNotMatch(res.text, /10\.0\.0\.7/);
      assert.equal(calls('mock-fail-html', u), 3);
      assert.ok(Date.now() - t0 >= 2 * 0.8 * 250 + 0.8 * 250 - 5, 'backed off 250 ms, then 500 ms (±20 %)');
    });

    test('a client that leaves during the backoff ends it: no further call', async () => {
      const u = user();
      const ctl = new AbortController();
      // the mock's 503s say retry-after: 0, so the first backoff is short; abort right after the first call
      const started = mock.received.length;
      const p = post(retrying, retryKey, { model: 'mock-reset', user: u, messages: [] }, ctl.signal).catch((e: Error) => e);
      for (let i = 0; i < 200 && mock.received.length === started; i++) await new Promise((r) => setTimeout(r, 2));
      ctl.abort();
      assert.ok((await p) instanceof Error);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(calls('mock-reset', u), 1, 'the backoff after a dropped connection (≥ 200 ms) was cut short');
    });
  });
}
