// Prometheus metrics over HTTP, on SQLite and PostgreSQL: /metrics on the main port needs the metrics
// token (a 401 in the OpenAI envelope without it), the separate metrics port needs none; requests
// through the OpenAI admin face (the official SDK) and the gateway (a mock upstream) move the
// per-route-template counters by exactly what was sent; auth failures, key cache, usage flushes,
// the database pool, limiter decisions, upstream latency and tokens are reported; no label holds a
// secret, a key id, an object id or a query value.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { assertOpenAIError, openaiClient, readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';

const TOKEN = 'mt_4f9c2a7e1b3d5c8a9e0f1a2b3c4d5e6f7a8b9c0d';

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ 'gpt-4o-mini': limits, 'tiny-limit': { max_requests_per_1_minute: 2, max_tokens_per_1_minute: 10_000_000 } }));
  return file;
}

/** Every sample of the exposition text: name, labels, value. */
function samples(text: string): Array<{ name: string; labels: Record<string, string>; value: number }> {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of one series (0 when absent). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  const s = samples(text).filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.reduce((a, x) => a + x.value, 0);
}

for (const dialect of await testDialects()) {
  describe(`metrics (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let portUrl: string;
    let projectId: string;
    let projectKey: string;
    let projectKeyId: string;

    const scrape = async (): Promise<string> => {
      const res = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      return res.text();
    };
    /**
     * Scrapes until `done` holds (or 100 scrapes later): a request is counted when its answer has
     * been handed to the socket, which may come just after the client read a streamed answer's end.
     */
    const scrapeUntil = async (done: (text: string) => boolean): Promise<string> => {
      let text = await scrape();
      for (let i = 0; i < 100 && !done(text); i++) {
        await new Promise((r) => setTimeout(r, 20));
        text = await scrape();
      }
      return text;
    };

    before(async () => {
      mock = await startMockUpstream();
      // usage is written when the test flushes it, not by the timer
      s = await startServer(dialect, { modelsFile: modelsFile(), metricsToken: TOKEN, metricsPort: '0', usageFlushMs: '3600000' });
      const at = s.app.metrics!.address()!;
      portUrl = `http://127.0.0.1:${at.port}`;
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      const admin = openaiClient(s, s.adminKey);
      const project = await admin.admin.organization.projects.create({ name: 'Metrics' });
      projectId = project.id;
      const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
      projectKey = sa.api_key!.value;
      projectKeyId = sa.api_key!.id;
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    test('/metrics on the main port needs the metrics token: 401 in the OpenAI envelope without it or with another', async () => {
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token' }, { authorization: `Bearer ${s.adminKey}` }, { authorization: TOKEN }]) {
        const r = await readResponse(await fetch(`${s.url}/metrics`, { headers }));
        assert.equal(r.status, 401);
        assertOpenAIError(r.json, 'invalid_request_error');
        assert.equal(r.json.error.code, 'invalid_api_key');
        assert.ok(!r.text.includes('keyplane_http_requests_total'));
      }
      const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get('content-type') ?? '', /^text\/plain/);
      const text = await ok.text();
      assert.ok(text.includes('# TYPE keyplane_http_requests_total counter'));
      assert.ok(text.includes('process_cpu_user_seconds_total'), 'process metrics too');
    });

    test('the separate metrics port serves /metrics without a token, and nothing else', async () => {
      const r = await fetch(`${portUrl}/metrics`);
      assert.equal(r.status, 200);
      assert.ok((await r.text()).includes('# TYPE keyplane_http_requests_total counter'));
      assert.equal((await fetch(`${portUrl}/v1/organization/projects`)).status, 404);
      await (await fetch(`${portUrl}/v1/organization/projects`)).text();
    });

    test('admin requests are counted per route template and status class, by exactly what was sent', async () => {
      const admin = openaiClient(s, s.adminKey);
      const before = await scrape();
      for (let i = 0; i < 3; i++) assert.equal((await admin.admin.organization.projects.retrieve(projectId)).id, projectId);
      await assert.rejects(admin.admin.organization.projects.retrieve('proj_doesnotexist'), (e: unknown) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(openaiClient(s, 'sk-admin-not-a-real-key').admin.organization.projects.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
      // an unknown URL with an id and a query value
      const unknown = await fetch(`${s.url}/v1/organization/nothing/proj_secretish?api_key=sk-in-query`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.equal(unknown.status, 404);
      await unknown.text();
      const after = await scrape();
      const delta = (labels: Record<string, string>) => value(after, 'keyplane_http_requests_total', labels) - value(before, 'keyplane_http_requests_total', labels);
      const route = '/v1/organization/projects/:project_id';
      assert.equal(delta({ face: 'openai-admin', route, method: 'GET', status_class: '2xx' }), 3);
      assert.equal(delta({ face: 'openai-admin', route, method: 'GET', status_class: '4xx' }), 1);
      assert.equal(delta({ face: 'openai-admin', route: '/v1/organization/projects', method: 'GET', status_class: '4xx' }), 1);
      assert.equal(delta({ face: 'openai-admin', route: 'unmatched', method: 'GET', status_class: '4xx' }), 1);
      const count = (t: string) => value(t, 'keyplane_http_request_duration_seconds_count', { face: 'openai-admin', route, method: 'GET' });
      assert.equal(count(after) - count(before), 4);
      const auth = (t: string) => value(t, 'keyplane_auth_failures_total', { face: 'openai-admin' });
      assert.equal(auth(after) - auth(before), 1);
    });

    test('gateway: requests, limiter decisions, upstream latency and tokens per model', async () => {
      const client = new OpenAI({ apiKey: projectKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      const before = await scrape();
      const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(first.usage?.prompt_tokens, 11);
      let streamed = '';
      for await (const chunk of await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true })) streamed += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(streamed, 'Hello');
      // two pass, the third is refused by the requests-per-minute limit
      for (let i = 0; i < 2; i++) await client.chat.completions.create({ model: 'tiny-limit', messages: [] });
      await assert.rejects(client.chat.completions.create({ model: 'tiny-limit', messages: [] }), (e: unknown) => e instanceof OpenAI.RateLimitError);
      const chat2xx = { face: 'gateway', route: '/v1/chat/completions', method: 'POST', status_class: '2xx' };
      const after = await scrapeUntil((t) => value(t, 'keyplane_http_requests_total', chat2xx) - value(before, 'keyplane_http_requests_total', chat2xx) >= 4);
      const d = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
      assert.equal(d('keyplane_http_requests_total', { face: 'gateway', route: '/v1/chat/completions', method: 'POST', status_class: '2xx' }), 4);
      assert.equal(d('keyplane_http_requests_total', { face: 'gateway', route: '/v1/chat/completions', method: 'POST', status_class: '4xx' }), 1);
      assert.equal(d('keyplane_gateway_limiter_decisions_total', { decision: 'allowed' }), 4);
      assert.equal(d('keyplane_gateway_limiter_decisions_total', { decision: 'refused', kind: 'requests_per_minute' }), 1);
      assert.equal(d('keyplane_gateway_upstream_ttfb_seconds_count', { provider: 'openai' }), 4);
      assert.equal(d('keyplane_gateway_upstream_duration_seconds_count', { provider: 'openai' }), 4);
      assert.ok(d('keyplane_gateway_upstream_duration_seconds_sum', { provider: 'openai' }) >= d('keyplane_gateway_upstream_ttfb_seconds_sum', { provider: 'openai' }));
      // the mock reports 11 prompt and 7 completion tokens for every answer
      assert.equal(d('keyplane_gateway_tokens_total', { model: 'gpt-4o-mini', direction: 'input' }), 22);
      assert.equal(d('keyplane_gateway_tokens_total', { model: 'gpt-4o-mini', direction: 'output' }), 14);
      assert.equal(d('keyplane_gateway_tokens_total', { model: 'tiny-limit', direction: 'input' }), 22);
      // the project key was verified from the store once, then from the cache
      assert.ok(d('keyplane_key_cache_hits_total', {}) >= 4);
    });

    test('gateway /v1/messages (translated to chat completions): upstream latency and tokens', async () => {
      const before = await scrape();
      const r = await fetch(`${s.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': projectKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 200, await r.text());
      const messages2xx = { face: 'gateway', route: '/v1/messages', method: 'POST', status_class: '2xx' };
      const after = await scrapeUntil((t) => value(t, 'keyplane_http_requests_total', messages2xx) > value(before, 'keyplane_http_requests_total', messages2xx));
      const d = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
      assert.equal(d('keyplane_http_requests_total', messages2xx), 1);
      assert.equal(d('keyplane_gateway_upstream_ttfb_seconds_count', { provider: 'openai' }), 1);
      assert.equal(d('keyplane_gateway_tokens_total', { model: 'gpt-4o-mini', direction: 'input' }), 11);
    });

    test('usage buffer, flush latency, key cache and database pool', async () => {
      const client = new OpenAI({ apiKey: projectKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      await s.rt.core.usageRecorder.flush();
      const before = await scrape();
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      const buffered = await scrape();
      assert.equal(value(buffered, 'keyplane_usage_buffer_events'), s.rt.core.usageRecorder.buffered);
      assert.ok(value(buffered, 'keyplane_usage_buffer_events') >= 1);
      await s.rt.core.usageRecorder.flush();
      const after = await scrape();
      assert.equal(value(after, 'keyplane_usage_buffer_events'), 0);
      assert.ok(value(after, 'keyplane_usage_flush_duration_seconds_count', { outcome: 'ok' }) - value(before, 'keyplane_usage_flush_duration_seconds_count', { outcome: 'ok' }) >= 1);
      // a key never seen before is a miss, then hits
      const misses = value(after, 'keyplane_key_cache_misses_total');
      const fresh = openaiClient(s, s.adminKey);
      await fresh.admin.organization.projects.list();
      assert.ok(value(after, 'keyplane_key_cache_entries') >= 1);
      assert.ok(misses >= 1);
      if (dialect === 'sqlite') {
        assert.equal(value(after, 'keyplane_db_pool_connections', { dialect: 'sqlite', state: 'total' }), 1);
      } else {
        assert.ok(value(after, 'keyplane_db_pool_connections', { dialect: 'postgres', state: 'total' }) >= 1);
        assert.ok(samples(after).some((x) => x.name === 'keyplane_db_pool_connections' && x.labels.state === 'waiting'));
      }
      for (const source of ['key', 'credential', 'cache', 'resync', 'external']) {
        assert.ok(samples(after).some((x) => x.name === 'keyplane_cache_invalidations_received_total' && x.labels.source === source), source);
      }
    });

    if (dialect === 'postgres') {
      test('a key revoked on this database is an invalidation received (NOTIFY)', async () => {
        const admin = openaiClient(s, s.adminKey);
        const sa = await admin.admin.organization.projects.serviceAccounts.create(projectId, { name: 'short-lived' });
        const before = value(await scrape(), 'keyplane_cache_invalidations_received_total', { source: 'key' });
        await admin.admin.organization.projects.serviceAccounts.delete(sa.id, { project_id: projectId });
        const now = value(await scrapeUntil((t) => value(t, 'keyplane_cache_invalidations_received_total', { source: 'key' }) > before), 'keyplane_cache_invalidations_received_total', { source: 'key' });
        assert.ok(now > before, 'the notification reached the listener');
      });
    }

    test('no label holds a secret, a key id, an object id or a query value', async () => {
      const text = await scrape();
      for (const secret of [s.adminKey, projectKey, TOKEN, 'sk-upstream-secret', 'sk-in-query']) assert.ok(!text.includes(secret));
      for (const x of samples(text)) {
        for (const v of Object.values(x.labels)) {
          assert.ok(!v.includes(projectId) && !v.includes(projectKeyId) && !/proj_|key_|sk-|\?/.test(v), `${x.name} label ${v}`);
        }
      }
    });
  });
}

describe('metrics off by default', () => {
  test('without a metrics token or port there is no /metrics', async () => {
    const s = await startServer('sqlite');
    try {
      assert.equal(s.app.metrics, null);
      const r = await readResponse(await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }));
      assert.equal(r.status, 404);
      assertOpenAIError(r.json);
    } finally {
      await s.close();
    }
  });
});
