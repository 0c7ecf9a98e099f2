// The access log over HTTP, on SQLite and PostgreSQL: one structured line per request (method, route
// template, status, duration, request id, organization, key id), never a secret nor a URL's query
// values; sampling 0 keeps only 4xx/5xx; KEYPLANE_ACCESS_LOG=off writes none; a well-formed incoming
// x-request-id is kept (echoed and logged), a malformed one replaced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { openaiClient } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';

interface Logged {
  lines: string[];
  /** The access log lines (msg "request"), parsed. */
  requests(): any[];
}

function logCapture(): Logged & { write(line: string): void } {
  const lines: string[] = [];
  return {
    lines,
    write: (line: string) => void lines.push(line),
    requests: () => lines.map((l) => JSON.parse(l)).filter((j) => j.msg === 'request'),
  };
}

/** Waits until `n` access log lines were written after `from` (a line is written once the response closed, just after the client read it). */
async function linesAfter(log: Logged, from: number, n: number): Promise<any[]> {
  for (let i = 0; i < 200 && log.requests().length < from + n; i++) await new Promise((r) => setTimeout(r, 10));
  return log.requests().slice(from);
}

function modelsFile(): string {
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ 'gpt-4o-mini': { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 } }));
  return file;
}

for (const dialect of await testDialects()) {
  describe(`access log (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    const log = logCapture();
    let orgId: string;
    let projectId: string;
    let projectKey: string;
    let projectKeyId: string;
    let adminKeyId: string;

    before(async () => {
      mock = await startMockUpstream();
      s = await startServer(dialect, { logLevel: 'info', modelsFile: modelsFile() }, { logStream: log });
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      const admin = openaiClient(s, s.adminKey);
      projectId = (await admin.admin.organization.projects.create({ name: 'Logged' })).id;
      const sa = await admin.admin.organization.projects.serviceAccounts.create(projectId, { name: 'bot' });
      projectKey = sa.api_key!.value;
      projectKeyId = sa.api_key!.id;
      const keys = await fetch(`${s.url}/v1/organization/admin_api_keys`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      adminKeyId = ((await keys.json()) as { data: Array<{ id: string }> }).data[0]!.id;
    });
    after(async () => {
      await s?.close();
      await mock?.close();
    });

    test('one line per request: method, route template, status, duration, request id, organization, key id', async () => {
      const from = log.requests().length;
      const res = await fetch(`${s.url}/v1/organization/projects/${projectId}`, { headers: { authorization: `Bearer ${s.adminKey}` } });
      assert.equal(res.status, 200);
      await res.text();
      const client = new OpenAI({ apiKey: projectKey, baseURL: `${s.url}/v1`, maxRetries: 0 });
      await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      const [admin, gateway, ...rest] = await linesAfter(log, from, 2);
      assert.equal(rest.length, 0, 'exactly one line per request');
      assert.deepEqual(
        { method: admin.method, route: admin.route, status: admin.status, reqId: admin.reqId, org: admin.org, key: admin.key, level: admin.level },
        { method: 'GET', route: '/v1/organization/projects/:project_id', status: 200, reqId: res.headers.get('x-request-id'), org: orgId, key: adminKeyId, level: 30 },
      );
      assert.equal(typeof admin.ms, 'number');
      assert.ok(admin.ms >= 0);
      assert.deepEqual({ method: gateway.method, route: gateway.route, status: gateway.status, org: gateway.org, key: gateway.key }, { method: 'POST', route: '/v1/chat/completions', status: 200, org: orgId, key: projectKeyId });
      // Fastify's own request lines (with the full URL) are off
      assert.ok(!log.lines.some((l) => l.includes('"incoming request"') || l.includes('"request completed"')));
    });

    test('a secret in a query string, a path or a header never appears in the log', async () => {
      const from = log.requests().length;
      const urls = [
        `/v1/organization/projects?limit=2&after=sk-secret-in-query`,
        `/v1/organization/nothing/sk-secret-in-path?token=sk-secret-in-query2`,
        `/v1/organization/projects/${projectId}?api_key=${encodeURIComponent(projectKey)}`,
      ];
      for (const u of urls) await (await fetch(`${s.url}${u}`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      // a wrong key: refused, logged without it
      await (await fetch(`${s.url}/v1/organization/projects`, { headers: { authorization: 'Bearer sk-admin-wrong-secret-key-value' } })).text();
      const lines = await linesAfter(log, from, 4);
      assert.deepEqual(
        lines.map((l) => [l.route, l.status]),
        [
          ['/v1/organization/projects', 400], // not a project id: refused
          ['unmatched', 404],
          ['/v1/organization/projects/:project_id', 200],
          ['/v1/organization/projects', 401],
        ],
      );
      assert.equal(lines[3].key, undefined, 'no key id for a refused key');
      const text = log.lines.join('\n');
      for (const secret of ['sk-secret-in-query', 'sk-secret-in-path', 'sk-secret-in-query2', projectKey, s.adminKey, 'sk-admin-wrong-secret-key-value', 'sk-upstream-secret']) {
        assert.ok(!text.includes(secret), `${secret.slice(0, 12)}… is not logged`);
      }
      assert.ok(!text.includes('?'), 'no URL with a query string');
    });

    test('a well-formed x-request-id is kept, echoed and logged; a malformed one is replaced', async () => {
      const from = log.requests().length;
      const kept = await fetch(`${s.url}/v1/organization/projects`, { headers: { authorization: `Bearer ${s.adminKey}`, 'x-request-id': 'trace-01.AB:cd_9' } });
      await kept.text();
      assert.equal(kept.headers.get('x-request-id'), 'trace-01.AB:cd_9');
      for (const bad of ['has space', 'x'.repeat(129), 'a/b', '<script>', 'sk-"quoted"']) {
        const r = await fetch(`${s.url}/v1/organization/projects`, { headers: { authorization: `Bearer ${s.adminKey}`, 'x-request-id': bad } });
        await r.text();
        const id = r.headers.get('x-request-id')!;
        assert.notEqual(id, bad);
        assert.match(id, /^req_[0-9a-f]+$/);
      }
      const lines = await linesAfter(log, from, 6);
      assert.equal(lines[0].reqId, 'trace-01.AB:cd_9');
      for (const l of lines.slice(1)) assert.match(l.reqId, /^req_[0-9a-f]+$/);
    });
  });
}

describe('access log settings', () => {
  test('sampling 0 writes only 4xx and 5xx answers', async () => {
    const log = logCapture();
    const s = await startServer('sqlite', { logLevel: 'info', accessLogSample: '0' }, { logStream: log });
    try {
      for (let i = 0; i < 5; i++) await (await fetch(`${s.url}/v1/organization/projects`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      await (await fetch(`${s.url}/v1/organization/projects`)).text();
      await (await fetch(`${s.url}/v1/organization/nothing`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      // the five successes came first, each closed before the next request: none was written
      const lines = await linesAfter(log, 0, 2);
      assert.deepEqual(
        lines.map((l) => [l.route, l.status]),
        [
          ['/v1/organization/projects', 401],
          ['unmatched', 404],
        ],
      );
    } finally {
      await s.close();
    }
  });

  test('at debug level the arrival of each request is logged too, with its route template, never its URL', async () => {
    const log = logCapture();
    const s = await startServer('sqlite', { logLevel: 'debug' }, { logStream: log });
    try {
      await (await fetch(`${s.url}/v1/organization/projects?after=sk-secret-in-query`, { headers: { authorization: `Bearer ${s.adminKey}`, 'x-request-id': 'debug-1' } })).text();
      await linesAfter(log, 0, 1);
      const incoming = log.lines.map((l) => JSON.parse(l)).filter((j) => j.msg === 'incoming request');
      assert.deepEqual(
        incoming.map((j) => [j.reqId, j.method, j.route]),
        [['debug-1', 'GET', '/v1/organization/projects']],
      );
      assert.ok(!log.lines.join('\n').includes('sk-secret-in-query'));
    } finally {
      await s.close();
    }
  });

  test('KEYPLANE_ACCESS_LOG=off writes no access log line', async () => {
    const log = logCapture();
    const s = await startServer('sqlite', { logLevel: 'info', accessLog: 'off' }, { logStream: log });
    try {
      await (await fetch(`${s.url}/v1/organization/projects`, { headers: { authorization: `Bearer ${s.adminKey}` } })).text();
      await (await fetch(`${s.url}/v1/organization/projects`)).text();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(log.requests().length, 0);
      assert.ok(log.lines.length > 0, 'the server logs otherwise');
    } finally {
      await s.close();
    }
  });
});
