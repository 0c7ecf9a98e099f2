// The gateway's provider credentials under change and attack, on SQLite and PostgreSQL, through a real
// keyplane server over HTTP against fake providers on loopback: a credential rotated or deleted while
// requests flow (the next request uses what is stored now, on this node at once and on another node
// once PostgreSQL's notice arrives), the master key rotated (in process, and by the CLI beside a
// running server), Google's OpenAI-compatible endpoint, secrets that must never leave (responses,
// logs, usage and audit rows, the upstream), tenants that must never see each other's key, and the
// token limit's bound on what concurrent requests can take.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import type { FastifyInstance } from 'fastify';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { readResponse } from '../helpers/http.ts';
import { killAll, runKeyplane, storeArgs } from '../process/spawn.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { generateKey, keyFingerprint } from '../../src/crypto/envelope.ts';
import { loadConfig } from '../../src/config.ts';
import { openRuntime, type Runtime } from '../../src/runtime.ts';
import { buildServer } from '../../src/server.ts';
import { buildModelRoutes } from '../../src/domain/model-routes.ts';
import { targetFor } from '../../src/gateway/upstream.ts';
import { startMockUpstream } from './mock-upstream.ts';

after(killAll);

/** The shared mock's key (test/gateway/mock-upstream.ts accepts only this one). */
const MOCK_KEY = 'sk-upstream-secret';
/** Tokens per minute of `tpm-model` / `tpm-over` / `tpm-stream`. */
const TPM = 1000;

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000 };
  const models: Record<string, unknown> = {
    'gpt-4o-mini': { ...limits },
    'gemini-flash': { ...limits, provider: 'google', upstream_model: 'gemini-2.0-flash', prices: { input: 0.1, cached_input: 0.025, output: 0.4 } },
    'mock-fail-400': { ...limits },
    'mock-fail-html': { ...limits },
    'mock-slow': { ...limits },
    'mock-drop': { ...limits },
    'tpm-model': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: TPM },
    'tpm-over': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: TPM },
    'tpm-stream-no-usage': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: TPM },
  };
  const file = path.join(tmpDir('kp-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify(models));
  return file;
}

// ---- a fake OpenAI-compatible provider that knows which keys are valid ----

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: string;
}

interface KeyedUpstream {
  url: string;
  received: Seen[];
  close(): Promise<void>;
}

/**
 * Answers Chat Completions under any path prefix (`…/chat/completions`) for the keys in `keys` (401
 * otherwise), recording every request. Its usage is what keyplane estimated the request at: prompt
 * tokens ⌈bytes received / 4⌉ (plus the body's `x_extra_usage`), completion tokens the body's
 * `max_tokens` (7 without). `x_delay_ms` delays the answer; a streamed answer to a model named
 * `…no-usage…` carries no usage chunk; `x_fail: 500` answers OpenAI's 500 error, `x_fail: 'drop'`
 * closes the connection without an answer.
 */
async function keyedUpstream(keys: string[]): Promise<KeyedUpstream> {
  const received: Seen[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      received.push({ path: req.url ?? '', headers: req.headers, body, raw });
      const send = (status: number, v: unknown) => {
        const text = JSON.stringify(v);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const answer = () => {
        const auth = req.headers.authorization ?? '';
        if (!keys.some((k) => auth === `Bearer ${k}`)) return send(401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
        if (!(req.url ?? '').split('?')[0]!.endsWith('/chat/completions')) return send(404, { error: { message: 'no such path', type: 'invalid_request_error', param: null, code: null } });
        if (body?.x_fail === 500) return send(500, { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } });
        if (body?.x_fail === 'drop') return void req.socket.destroy();
        const model: string = body?.model ?? '';
        const prompt = Math.ceil(Buffer.byteLength(raw) / 4) + (typeof body?.x_extra_usage === 'number' ? body.x_extra_usage : 0);
        const completionTokens = typeof body?.max_tokens === 'number' ? body.max_tokens : 7;
        const usage = { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens };
        if (body?.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const chunk = (delta: object, finish: string | null) => ({ id: 'chatcmpl-k', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] });
          res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'Hi' }, null))}\n\n`);
          res.write(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\n`);
          if (body.stream_options?.include_usage === true && !model.includes('no-usage')) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-k', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage })}\n\n`);
          return void res.end('data: [DONE]\n\n');
        }
        send(200, { id: 'chatcmpl-k', object: 'chat.completion', created: 1_700_000_000, model, choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop', logprobs: null }], usage });
      };
      const delay = typeof body?.x_delay_ms === 'number' ? body.x_delay_ms : 0;
      if (delay > 0) setTimeout(answer, delay).unref();
      else answer();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- helpers ----

interface Tenant {
  orgId: string;
  projectId: string;
  /** A service account's project key (sk-proj-…). */
  key: string;
}

/** A new organization with one project and a service-account key in it. */
async function tenant(s: TestServer, slug: string): Promise<Tenant> {
  const created = await s.rt.core.orgs.create(SYSTEM, { name: slug, slug });
  const admin = new OpenAI({ adminAPIKey: created.adminKey.secret, baseURL: `${s.url}/v1`, maxRetries: 0 });
  const project = await admin.admin.organization.projects.create({ name: 'Credentials' });
  const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
  return { orgId: created.org.id, projectId: project.id, key: sa.api_key!.value };
}

async function chat(url: string, key: string, body: Record<string, unknown>, extraHeaders: Record<string, string> = {}) {
  return readResponse(
    await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extraHeaders },
      body: JSON.stringify(body),
    }),
  );
}

/** Polls `check` until it holds (at most `ms`). */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Sent {
  id: number;
  /** Sent once the change under test had returned. */
  afterChange: boolean;
  /** How many changes had returned when it was sent. */
  generation: number;
  status: number;
  json: any;
  text: string;
}

/**
 * Requests flowing while something changes: `workers` loops of chat requests, each tagged with
 * `x_req` (passed through to the provider), until stopped. `change()` runs the change and marks
 * every request sent from then on.
 */
function traffic(url: string, key: string, body: Record<string, unknown>, workers = 6) {
  const sent: Sent[] = [];
  let seq = 0;
  let generation = 0;
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped) {
      const id = ++seq;
      const at = generation;
      const r = await chat(url, key, { ...body, x_req: id });
      sent.push({ id, afterChange: at > 0, generation: at, status: r.status, json: r.json, text: r.text });
    }
  });
  return {
    sent,
    async change(fn: () => Promise<unknown>) {
      await fn();
      generation++;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
    before: () => sent.filter((x) => !x.afterChange),
    after: () => sent.filter((x) => x.afterChange),
  };
}

/** The usage rows of an organization once `n` of them are written (flushing the buffer meanwhile). */
async function usageRows(s: TestServer, orgId: string, n: number) {
  let rows: Array<Record<string, any>> = [];
  await until(`${n} usage rows`, async () => {
    await s.rt.core.usageRecorder.flush();
    rows = await s.rt.store.db.selectFrom('usage_events').selectAll().where('org_id', '=', orgId).execute();
    return rows.length >= n;
  });
  return rows;
}

/** A second keyplane node on the same database (PostgreSQL) and data dir (so the same master key). */
async function secondNode(s: TestServer, models: string): Promise<{ url: string; rt: Runtime; app: FastifyInstance; close(): Promise<void> }> {
  const config = loadConfig({ port: '0', logLevel: 'silent', dataDir: s.db.dataDir, modelsFile: models, ...(s.db.databaseUrl ? { databaseUrl: s.db.databaseUrl } : {}) }, {});
  const rt = await openRuntime(config);
  const app = await buildServer(config, rt.core);
  await rt.core.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    rt,
    app,
    async close() {
      await app.close();
      await rt.close();
    },
  };
}

for (const dialect of await testDialects()) {
  describe(`gateway credentials (${dialect})`, () => {
    let s: TestServer;
    let models: string;
    /** Every line the server logged (level trace). */
    const logLines: string[] = [];

    before(async () => {
      models = modelsFile();
      s = await startServer(dialect, { modelsFile: models, upstreamTimeoutMs: '1000', logLevel: 'trace' }, { logStream: { write: (line: string) => void logLines.push(line) } });
    });
    after(async () => {
      await s?.close();
    });

    test('a credential rotated while requests flow: every request sent after the update uses the new key and base URL, none fails', async () => {
      const OLD = 'sk-rotate-old-5f2c9e1a7b3d';
      const NEW = 'sk-rotate-new-8a41d0c6e29f';
      const oldUp = await keyedUpstream([OLD]);
      const newUp = await keyedUpstream([NEW]);
      try {
        const t = await tenant(s, `rotate-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: OLD, base_url: `${oldUp.url}/v1` }, platform: 'p' });
        const flow = traffic(s.url, t.key, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], x_delay_ms: 3 });
        await until('requests before the change', () => flow.sent.length >= 20);
        await flow.change(() => s.rt.core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: NEW, base_url: `${newUp.url}/v1` } }));
        await until('requests after the change', () => flow.after().length >= 40);
        await flow.stop();

        const bad = flow.sent.filter((x) => x.status !== 200);
        assert.deepEqual(bad.map((x) => `${x.status} ${x.text}`), [], 'no request fails while the credential changes');
        const byId = (up: KeyedUpstream) => new Map(up.received.map((r) => [r.body?.x_req as number, r]));
        const atOld = byId(oldUp);
        const atNew = byId(newUp);
        for (const x of flow.after()) {
          assert.ok(!atOld.has(x.id), `request ${x.id}, sent after the update, reached the old base URL`);
          assert.equal(atNew.get(x.id)?.headers.authorization, `Bearer ${NEW}`, `request ${x.id}, sent after the update, used the new key`);
        }
        assert.ok(flow.before().every((x) => atOld.has(x.id) || atNew.has(x.id)));
        assert.ok(atOld.size > 0, 'the old value served the requests before the change');
      } finally {
        await oldUp.close();
        await newUp.close();
      }
    });

    test('a credential rotated again and again while requests flow (some changes back to back, while reads are in flight): a request never uses a value older than the last change made before it was sent', async () => {
      const keys = Array.from({ length: 8 }, (_, i) => `sk-chain-${i}-${'x'.repeat(12)}`);
      const up = await keyedUpstream(keys);
      try {
        const t = await tenant(s, `chain-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: keys[0], base_url: `${up.url}/v1` }, platform: 'p' });
        const flow = traffic(s.url, t.key, { model: 'gpt-4o-mini', messages: [] }, 10);
        await until('requests before the changes', () => flow.sent.length >= 20);
        for (let g = 1; g < keys.length; g++) {
          await flow.change(() => s.rt.core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: keys[g], base_url: `${up.url}/v1` } }));
          // every other change waits for traffic under it; the others follow at once (the cache is being refilled)
          if (g % 2 === 0) await until(`requests under change ${g}`, () => flow.sent.filter((x) => x.generation === g).length >= 5);
        }
        await until('requests after the last change', () => flow.sent.filter((x) => x.generation === keys.length - 1).length >= 20);
        await flow.stop();
        assert.deepEqual(flow.sent.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.text}`), [], 'every request served');
        const used = new Map(up.received.map((r) => [r.body?.x_req as number, keys.findIndex((k) => r.headers.authorization === `Bearer ${k}`)]));
        for (const x of flow.sent) {
          const g = used.get(x.id);
          assert.ok(g !== undefined && g >= x.generation, `request ${x.id}, sent after change ${x.generation}, used the value of change ${g}`);
        }
      } finally {
        await up.close();
      }
    });

    test('a read of the credential that straddles an update: the request after the update neither waits for it nor gets its old value, and the old value is not cached', async () => {
      const OLD = 'sk-straddle-old-1a2b3c4d';
      const NEW = 'sk-straddle-new-5e6f7a8b';
      const up = await keyedUpstream([OLD, NEW]);
      const credentials = s.rt.core.credentials;
      const openLlm = credentials.openLlm;
      try {
        const t = await tenant(s, `straddle-${dialect}`);
        await credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: OLD, base_url: `${up.url}/v1` }, platform: 'p' });
        // the first read of the database is held after it returned (a slow read), until released
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let reads = 0;
        let readDone!: () => void;
        const firstRead = new Promise<void>((r) => (readDone = r));
        credentials.openLlm = async function (this: typeof credentials, orgId: string, name: string) {
          const v = await openLlm.call(this, orgId, name);
          if (orgId === t.orgId && ++reads === 1) {
            readDone();
            await held;
          }
          return v;
        };
        const first = chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: 'first' });
        await firstRead; // it has read the old value
        await credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: NEW, base_url: `${up.url}/v1` } });
        const second = await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: 'second' });
        assert.equal(second.status, 200, 'served while the older read is still held');
        release();
        assert.equal((await first).status, 200);
        const third = await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: 'third' });
        assert.equal(third.status, 200);
        const auth = new Map(up.received.map((r) => [r.body?.x_req, r.headers.authorization]));
        assert.equal(auth.get('first'), `Bearer ${OLD}`, 'the request sent before the update used the value it read');
        assert.equal(auth.get('second'), `Bearer ${NEW}`, 'the request sent after the update did not share the older read');
        assert.equal(auth.get('third'), `Bearer ${NEW}`, 'the older read did not fill the cache');
      } finally {
        credentials.openLlm = openLlm;
        await up.close();
      }
    });

    test('a credential changed on one node: another node uses the new value once the notice arrives, well before the cache TTL', { skip: dialect !== 'postgres' && 'one SQLite file serves one process' }, async () => {
      const OLD = 'sk-node-old-0d9e8f7a6b5c';
      const NEW = 'sk-node-new-1c2b3a4d5e6f';
      const up = await keyedUpstream([OLD, NEW]);
      const node2 = await secondNode(s, models);
      try {
        const t = await tenant(s, `node-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: OLD, base_url: `${up.url}/v1` }, platform: 'p' });
        // node 2 caches the old value
        let r = await chat(node2.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: 'warm' });
        assert.equal(r.status, 200);
        assert.equal(up.received.at(-1)!.headers.authorization, `Bearer ${OLD}`);
        assert.equal(node2.rt.core.providerCredentials.size, 1, 'node 2 holds the resolution in its cache');
        // changed through node 1: node 2 hears of it over NOTIFY (the cache would keep the old value 30 s)
        const t0 = Date.now();
        await s.rt.core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: NEW, base_url: `${up.url}/v1` } });
        let n = 0;
        await until(
          'node 2 to use the new key',
          async () => {
            r = await chat(node2.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: `poll-${++n}` });
            assert.equal(r.status, 200);
            return up.received.at(-1)!.headers.authorization === `Bearer ${NEW}`;
          },
          5_000,
        );
        assert.ok(Date.now() - t0 < 5_000);
        for (let i = 0; i < 5; i++) {
          r = await chat(node2.url, t.key, { model: 'gpt-4o-mini', messages: [], x_req: `after-${i}` });
          assert.equal(r.status, 200);
          assert.equal(up.received.at(-1)!.headers.authorization, `Bearer ${NEW}`, 'never the old key again');
        }
      } finally {
        await node2.close();
        await up.close();
      }
    });

    test("a credential deleted while requests flow: every request sent after the deletion gets the 400 naming the provider, never the upstream, never a 5xx", async () => {
      const KEY = 'sk-delete-me-3e4f5a6b7c8d';
      const up = await keyedUpstream([KEY]);
      try {
        const t = await tenant(s, `delete-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: `${up.url}/v1` }, platform: 'p' });
        const flow = traffic(s.url, t.key, { model: 'gpt-4o-mini', messages: [], x_delay_ms: 3 });
        await until('requests before the deletion', () => flow.sent.length >= 20);
        await flow.change(() => s.rt.core.credentials.delete(SYSTEM, t.orgId, 'llm', 'openai'));
        await until('requests after the deletion', () => flow.after().length >= 30);
        await flow.stop();

        assert.deepEqual(flow.sent.filter((x) => x.status >= 500).map((x) => `${x.status} ${x.text}`), [], 'no 5xx while the credential goes away');
        assert.ok(flow.before().filter((x) => x.status === 200).length >= 1);
        const reached = new Set(up.received.map((r) => r.body?.x_req));
        for (const x of flow.after()) {
          assert.equal(x.status, 400, `request ${x.id} after the deletion: ${x.text}`);
          assert.equal(x.json.error.code, 'provider_credential_missing');
          assert.equal(x.json.error.type, 'invalid_request_error');
          assert.match(x.json.error.message, /^No credential for provider 'openai': add one through the ibl\.ai credential API \(name 'openai'\)/);
          assert.ok(!reached.has(x.id), `request ${x.id} reached the upstream without a credential`);
        }
      } finally {
        await up.close();
      }
    });

    test("a credential deleted while requests flow, default LLM key on: requests fall back to the platform's default, recorded as platform_default", async () => {
      const OWN = 'sk-own-9f8e7d6c5b4a';
      const PLATFORM = 'sk-platform-default-2b3c4d5e';
      const up = await keyedUpstream([OWN, PLATFORM]);
      const core = s.rt.core;
      try {
        const t = await tenant(s, `fallback-${dialect}`);
        await core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: OWN, base_url: `${up.url}/v1` }, platform: 'p' });
        await core.defaultCredentials.set(SYSTEM, 'openai', { key: PLATFORM, base_url: `${up.url}/v1` });
        await core.platform.setDefaultLlmKey(SYSTEM, t.orgId, true);
        const flow = traffic(s.url, t.key, { model: 'gpt-4o-mini', messages: [], x_delay_ms: 3 });
        await until('requests before the deletion', () => flow.sent.length >= 20);
        await flow.change(() => core.credentials.delete(SYSTEM, t.orgId, 'llm', 'openai'));
        await until('requests after the deletion', () => flow.after().length >= 30);
        await flow.stop();

        assert.deepEqual(flow.sent.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.text}`), [], 'every request served');
        const auth = new Map(up.received.map((r) => [r.body?.x_req as number, r.headers.authorization]));
        assert.ok(flow.before().some((x) => auth.get(x.id) === `Bearer ${OWN}`), "the tenant's own key first (it wins over the default)");
        for (const x of flow.after()) assert.equal(auth.get(x.id), `Bearer ${PLATFORM}`, `request ${x.id} after the deletion uses the platform's default`);
        const rows = await usageRows(s, t.orgId, flow.sent.length);
        const sources = new Map<string, number>();
        for (const r of rows) sources.set(r.credential_source, (sources.get(r.credential_source) ?? 0) + 1);
        assert.ok((sources.get('platform_default') ?? 0) >= flow.after().length, `platform_default rows: ${JSON.stringify([...sources])}`);
        assert.equal((sources.get('tenant') ?? 0) + (sources.get('platform_default') ?? 0), flow.sent.length);
        const own = [...up.received].filter((r) => r.headers.authorization === `Bearer ${OWN}`).length;
        assert.equal(sources.get('tenant'), own, "rows recorded as 'tenant' are exactly the requests sent with the tenant's key");
      } finally {
        await core.defaultCredentials.delete(SYSTEM, 'openai');
        await up.close();
      }
    });

    test('the master key rotated in process while requests flow: the credential decrypts under the new key, no request fails', async () => {
      const KEY = 'sk-master-rot-4d5e6f7a8b9c';
      const up = await keyedUpstream([KEY]);
      try {
        const t = await tenant(s, `master-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: `${up.url}/v1` }, platform: 'p' });
        const flow = traffic(s.url, t.key, { model: 'gpt-4o-mini', messages: [] });
        await until('requests before the rotation', () => flow.sent.length >= 20);
        const dataKey = () => s.rt.store.db.selectFrom('data_keys').select(['wrapped_key', 'master_key_id']).where('org_id', '=', t.orgId).executeTakeFirstOrThrow();
        const wrappedBefore = await dataKey();
        const next = generateKey();
        await flow.change(() => s.rt.core.credentials.rotateMasterKeyAndReseal(next));
        await until('requests after the rotation', () => flow.after().length >= 30);
        await flow.stop();
        assert.deepEqual(flow.sent.filter((x) => x.status !== 200).map((x) => `${x.status} ${x.text}`), [], 'no request fails across the rotation');
        const auth = new Map(up.received.map((r) => [r.body?.x_req as number, r.headers.authorization]));
        for (const x of flow.sent) assert.equal(auth.get(x.id), `Bearer ${KEY}`);
        const wrappedAfter = await dataKey();
        assert.notEqual(wrappedAfter.wrapped_key, wrappedBefore.wrapped_key);
        assert.equal(wrappedAfter.master_key_id, keyFingerprint(next), 'the data key is wrapped under the new master key');
        // a rotation drops every cached resolution at once; the next request decrypts under the new key
        assert.equal((await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [] })).status, 200);
        assert.ok(s.rt.core.providerCredentials.size >= 1);
        const last = generateKey();
        await s.rt.core.credentials.rotateMasterKeyAndReseal(last);
        assert.equal(s.rt.core.providerCredentials.size, 0, 'the cache is dropped by the rotation');
        const x = await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [] });
        assert.equal(x.status, 200, x.text);
        assert.equal(up.received.at(-1)!.headers.authorization, `Bearer ${KEY}`);
        assert.equal((await dataKey()).master_key_id, keyFingerprint(last));
      } finally {
        await up.close();
      }
    });

    test('Google: the OpenAI-compatible endpoint under its base path, the bearer tenant key, the served model id, usage recorded under google', async () => {
      const KEY = 'AIza-google-tenant-7e6d5c4b3a';
      const up = await keyedUpstream([KEY]);
      try {
        // without a base_url the route goes to Google's OpenAI-compatible endpoint
        const route = buildModelRoutes(['gemini-flash'], { 'gemini-flash': { provider: 'google' } }).resolve('gemini-flash')!;
        assert.deepEqual(targetFor(route, { apiKey: KEY }, '/chat/completions'), {
          origin: 'https://generativelanguage.googleapis.com',
          path: '/v1beta/openai/chat/completions',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        });
        const t = await tenant(s, `google-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'google', value: { api_key: KEY, base_url: `${up.url}/v1beta/openai` }, platform: 'p' });
        const client = new OpenAI({ apiKey: t.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
        const c = await client.chat.completions.create({ model: 'gemini-flash', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 });
        assert.equal(c.choices[0]!.message.content, 'Hi');
        assert.equal(up.received.length, 1);
        const got = up.received[0]!;
        assert.equal(got.path, '/v1beta/openai/chat/completions');
        assert.equal(got.headers.authorization, `Bearer ${KEY}`);
        assert.equal(got.body.model, 'gemini-2.0-flash', 'the served model id, not the catalog name');
        assert.ok(!got.raw.includes(t.key) && !JSON.stringify(got.headers).includes(t.key));
        const [row] = await usageRows(s, t.orgId, 1);
        assert.equal(row!.provider, 'google');
        assert.equal(row!.model, 'gemini-flash');
        assert.equal(row!.served_model, 'gemini-2.0-flash');
        assert.equal(row!.credential_source, 'tenant');
        assert.equal(Number(row!.completion_tokens), 20);
        assert.equal(Number(row!.status), 200);
        // an OpenAI credential does not serve a Google model
        const other = await tenant(s, `google-none-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, other.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: `${up.url}/v1` }, platform: 'p' });
        const refused = await chat(s.url, other.key, { model: 'gemini-flash', messages: [] });
        assert.equal(refused.status, 400);
        assert.equal(refused.json.error.code, 'provider_credential_missing');
        assert.match(refused.json.error.message, /provider 'google'/);
        assert.equal(up.received.length, 1);
      } finally {
        await up.close();
      }
    });

    test("secrets never leak: the tenant's provider key is in no answer, log line, usage or audit row; keyplane's key never reaches the upstream", async () => {
      const mock = await startMockUpstream();
      const keyed = await keyedUpstream([MOCK_KEY]);
      // an address nothing listens on: the upstream is unreachable
      const closed = await keyedUpstream([]);
      const closedUrl = closed.url;
      await closed.close();
      const core = s.rt.core;
      try {
        const t = await tenant(s, `leak-${dialect}`);
        const down = await tenant(s, `leak-down-${dialect}`);
        const other = await tenant(s, `leak-keyed-${dialect}`);
        await core.credentials.create(SYSTEM, other.orgId, 'llm', { name: 'openai', value: { key: MOCK_KEY, base_url: `${keyed.url}/v1` }, platform: 'p' });
        await core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: MOCK_KEY, base_url: `${mock.url}/v1` }, platform: 'p' });
        await core.credentials.create(SYSTEM, down.orgId, 'llm', { name: 'openai', value: { key: MOCK_KEY, base_url: `${closedUrl}/v1` }, platform: 'p' });
        const logStart = logLines.length;
        const answers: Array<{ what: string; status: number; text: string; headers: string }> = [];
        const send = async (what: string, key: string, body: Record<string, unknown>) => {
          const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
          let text = '';
          try {
            text = await res.text();
          } catch {
            // a stream cut short: what arrived is what the client saw
          }
          answers.push({ what, status: res.status, text, headers: JSON.stringify([...res.headers]) });
          return res.status;
        };
        const msgs = [{ role: 'user', content: 'hi' }];
        assert.equal(await send('ok', t.key, { model: 'gpt-4o-mini', messages: msgs }), 200);
        assert.equal(await send('stream', t.key, { model: 'gpt-4o-mini', stream: true, messages: msgs }), 200);
        assert.equal(await send('upstream 400', t.key, { model: 'mock-fail-400', messages: msgs }), 400);
        assert.equal(await send('upstream HTML 503', t.key, { model: 'mock-fail-html', messages: msgs }), 503);
        assert.equal(await send('timeout', t.key, { model: 'mock-slow', messages: msgs }), 504);
        assert.equal(await send('dropped stream', t.key, { model: 'mock-drop', stream: true, messages: msgs }), 200);
        assert.equal(await send('unreachable', down.key, { model: 'gpt-4o-mini', messages: msgs }), 502);
        assert.equal(await send('no such model', t.key, { model: 'nope', messages: msgs }), 404);
        assert.equal(await send('upstream 500', other.key, { model: 'gpt-4o-mini', messages: msgs, x_fail: 500 }), 500);
        assert.equal(await send('connection dropped before the answer', other.key, { model: 'gpt-4o-mini', messages: msgs, x_fail: 'drop' }), 502);
        // the upstream refuses the key (401 relayed)
        await core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: `${MOCK_KEY}-revoked`, base_url: `${mock.url}/v1` } });
        assert.equal(await send('upstream 401', t.key, { model: 'gpt-4o-mini', messages: msgs }), 401);
        await core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: MOCK_KEY, base_url: `${mock.url}/v1` } });
        // and the credential's masked read through the ibl.ai API
        await core.flush(true);
        await until('usage rows of the leak tenants', async () => {
          await core.usageRecorder.flush();
          const rows = await s.rt.store.db.selectFrom('usage_events').select('id').where('org_id', 'in', [t.orgId, down.orgId, other.orgId]).execute();
          return rows.length >= 10; // every request but the unknown model (refused before admission)
        });

        for (const a of answers) {
          assert.ok(!a.text.includes(MOCK_KEY), `${a.what}: the provider key in the answer body`);
          assert.ok(!a.headers.includes(MOCK_KEY), `${a.what}: the provider key in an answer header`);
          assert.ok(!a.text.includes('sk-upstream'), `${a.what}: part of the provider key in the answer body`);
        }
        const logged = logLines.slice(logStart);
        assert.ok(logged.length > answers.length, 'the server logged the requests (the capture works)');
        assert.ok(logged.some((l) => l.includes('"status":502') || l.includes('"status":504')), 'failures are in the (access) log');
        for (const l of logLines) {
          assert.ok(!l.includes(MOCK_KEY), `the provider key in a log line: ${l}`);
          assert.ok(!l.includes(t.key) && !l.includes(down.key) && !l.includes(other.key), `a project key in a log line: ${l}`);
        }
        const usage = JSON.stringify(await s.rt.store.db.selectFrom('usage_events').selectAll().execute());
        const audit = JSON.stringify(await s.rt.store.db.selectFrom('audit_logs').selectAll().execute());
        assert.ok(usage.includes(t.orgId) && audit.includes(t.orgId), 'the dumps hold the tenant rows');
        assert.ok(!usage.includes(MOCK_KEY), 'the provider key in usage_events');
        assert.ok(!audit.includes(MOCK_KEY), 'the provider key in audit_logs');
        assert.ok(!audit.includes('sk-upstream'), 'part of the provider key in audit_logs');
        assert.ok(mock.received.length >= 6 && keyed.received.length === 2);
        for (const r of [...mock.received, ...keyed.received]) {
          const seen = JSON.stringify(r.headers) + r.raw;
          for (const k of [t.key, down.key, other.key, s.adminKey]) assert.ok(!seen.includes(k), `a keyplane key reached the upstream at ${r.path}`);
          assert.ok(!/sk-proj-/.test(seen), 'no project key of any kind upstream');
        }
      } finally {
        await mock.close();
        await keyed.close();
      }
    });

    test('a credential whose base_url is not an http(s) URL: a 400 naming the field, not a 502 blaming the upstream', async () => {
      const KEY = 'sk-bad-url-9c8b7a6d5e4f';
      const t = await tenant(s, `bad-url-${dialect}`);
      await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: 'llm.internal.test/v1' }, platform: 'p' });
      const r = await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [] });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, 'provider_credential_invalid');
      assert.match(r.json.error.message, /^The credential for provider 'openai' is unusable: "base_url" must be an http:\/\/ or https:\/\/ URL/);
      assert.ok(!r.text.includes(KEY) && !r.text.includes('llm.internal.test'), 'neither the key nor the value is echoed');
      await s.rt.core.credentials.update(SYSTEM, t.orgId, 'llm', 'openai', { value: { key: KEY, base_url: 'file:///etc/passwd' } });
      const file = await chat(s.url, t.key, { model: 'gpt-4o-mini', messages: [] });
      assert.equal(file.status, 400, file.text);
      assert.equal(file.json.error.code, 'provider_credential_invalid');
    });

    test("tenants never share a key: without its own credential B gets the 400, never A's key; with one it gets its own", async () => {
      const KEY_A = 'sk-tenant-a-6a5b4c3d2e1f';
      const KEY_B = 'sk-tenant-b-1f2e3d4c5b6a';
      const up = await keyedUpstream([KEY_A, KEY_B]);
      const core = s.rt.core;
      try {
        const a = await tenant(s, `cross-a-${dialect}`);
        const b = await tenant(s, `cross-b-${dialect}`);
        await core.credentials.create(SYSTEM, a.orgId, 'llm', { name: 'openai', value: { key: KEY_A, base_url: `${up.url}/v1` }, platform: 'p' });
        // A's resolution is cached; B, on the same model at the same moment, must not get it
        const round = async (tag: string) =>
          Promise.all([
            ...Array.from({ length: 5 }, (_, i) => chat(s.url, a.key, { model: 'gpt-4o-mini', messages: [], x_req: `${tag}-a-${i}` })),
            ...Array.from({ length: 5 }, (_, i) => chat(s.url, b.key, { model: 'gpt-4o-mini', messages: [], x_req: `${tag}-b-${i}` })),
          ]);
        const first = await round('none');
        for (const r of first.slice(0, 5)) assert.equal(r.status, 200);
        for (const r of first.slice(5)) {
          assert.equal(r.status, 400, r.text);
          assert.equal(r.json.error.code, 'provider_credential_missing');
          assert.match(r.json.error.message, /'openai'/);
          assert.ok(!r.text.includes(KEY_A));
        }
        assert.ok(!up.received.some((r) => String(r.body?.x_req).startsWith('none-b')), "B's requests never reach the upstream");
        for (const r of up.received) assert.equal(r.headers.authorization, `Bearer ${KEY_A}`);

        await core.credentials.create(SYSTEM, b.orgId, 'llm', { name: 'openai', value: { key: KEY_B, base_url: `${up.url}/v1` }, platform: 'p' });
        const second = await round('own');
        for (const r of second) assert.equal(r.status, 200, r.text);
        for (const r of up.received.filter((x) => String(x.body?.x_req).startsWith('own-'))) {
          const expected = String(r.body.x_req).startsWith('own-a') ? KEY_A : KEY_B;
          assert.equal(r.headers.authorization, `Bearer ${expected}`, `${r.body.x_req}`);
        }
        assert.equal(up.received.filter((x) => String(x.body?.x_req).startsWith('own-')).length, 10);
      } finally {
        await up.close();
      }
    });

    test('token limit: concurrent requests take at most the limit, one request more at worst; refusals are 429 on tokens before the upstream; a stream without usage keeps its estimate', async () => {
      const KEY = 'sk-tokens-0a1b2c3d4e5f';
      const up = await keyedUpstream([KEY]);
      try {
        const t = await tenant(s, `tokens-${dialect}`);
        await s.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: `${up.url}/v1` }, platform: 'p' });
        const body = (model: string, extra: Record<string, unknown> = {}) => ({ model, max_tokens: 200, messages: [{ role: 'user', content: 'count me' }], ...extra });
        // what admit() reserves: ⌈JSON bytes / 4⌉ + max_tokens (the mock reports exactly that as usage)
        const estimateOf = (b: object) => Math.ceil(Buffer.byteLength(JSON.stringify(b)) / 4) + 200;
        const refill = (ms: number) => (TPM * ms) / 60_000;
        const fired = (model: string) => up.received.filter((r) => r.body?.model === model).length;

        // 1. usage equal to the estimate: what is admitted at once fits the limit
        const E = estimateOf(body('tpm-model'));
        assert.ok(E * 3 < TPM && E * 5 > TPM, `an estimate of ${E} lets a few requests in, not all`);
        const t0 = Date.now();
        const results = await Promise.all(Array.from({ length: 10 }, () => chat(s.url, t.key, body('tpm-model'))));
        const elapsed = Date.now() - t0;
        const ok = results.filter((r) => r.status === 200);
        const refused = results.filter((r) => r.status === 429);
        assert.equal(ok.length + refused.length, 10, results.map((r) => r.status).join(','));
        assert.ok(ok.length * E <= TPM + refill(elapsed), `${ok.length} × ${E} admitted against ${TPM}`);
        assert.ok(ok.length >= Math.floor(TPM / E), `${ok.length} admitted: as many as fit`);
        assert.equal(fired('tpm-model'), ok.length, 'refused requests never reach the upstream');
        const used = ok.reduce((n, r) => n + r.json.usage.total_tokens, 0);
        assert.ok(used <= TPM + E, `${used} tokens used against ${TPM}: at most one request over`);
        for (const r of refused) {
          assert.equal(r.json.error.code, 'rate_limit_exceeded');
          assert.equal(r.json.error.type, 'tokens');
          assert.match(r.json.error.message, new RegExp(`^Rate limit reached for tpm-model in project ${t.projectId} on tokens per min \\(TPM\\): Limit ${TPM}, Used \\d+, Requested ${E}\\.`));
        }

        // 2. usage above the estimate, one request at a time: the limit is overshot by one request at most, then refused
        const over = body('tpm-over', { x_extra_usage: 150 });
        const E2 = estimateOf(over);
        const actual = E2 + 150;
        let usedOver = 0;
        let admitted = 0;
        for (let i = 0; i < 10; i++) {
          const r = await chat(s.url, t.key, over);
          if (r.status === 429) {
            assert.equal(r.json.error.type, 'tokens');
            break;
          }
          assert.equal(r.status, 200, r.text);
          assert.equal(r.json.usage.total_tokens, actual);
          usedOver += r.json.usage.total_tokens;
          admitted++;
        }
        assert.ok(admitted >= 1 && admitted < 10, `${admitted} admitted`);
        assert.ok(usedOver <= TPM + actual, `${usedOver} tokens used against ${TPM}: at most one request (${actual}) over`);
        assert.ok(usedOver > TPM - E2, 'requests were admitted while the estimate fit');
        assert.equal(fired('tpm-over'), admitted);
        // the debt refuses concurrent requests too
        const burst = await Promise.all(Array.from({ length: 5 }, () => chat(s.url, t.key, over)));
        assert.deepEqual(burst.map((r) => r.status), [429, 429, 429, 429, 429]);
        assert.equal(fired('tpm-over'), admitted);

        // 3. a stream that ends without usage is charged its estimate: it leaves room for fewer requests
        const streamBody = body('tpm-stream-no-usage', { stream: true });
        const ES = estimateOf(streamBody);
        const plain = body('tpm-stream-no-usage');
        const EP = estimateOf(plain);
        const s0 = Date.now();
        const streamed = await chat(s.url, t.key, streamBody);
        assert.equal(streamed.status, 200);
        assert.ok(!streamed.text.includes('"usage"'), 'the upstream sent no usage');
        // settled asynchronously after the answer: wait until it shows in the limit headers
        const fits = (room: number) => Math.floor(room / EP);
        const afterStream = await Promise.all(Array.from({ length: 6 }, () => chat(s.url, t.key, plain)));
        const okAfter = afterStream.filter((r) => r.status === 200).length;
        const room = TPM - ES + refill(Date.now() - s0);
        assert.ok(okAfter <= fits(room), `${okAfter} admitted after a stream without usage; room for ${fits(room)} once its estimate ${ES} is kept`);
        assert.ok(okAfter < fits(TPM), 'the stream was charged (had its estimate been refunded, more would have passed)');
        assert.equal(fired('tpm-stream-no-usage'), 1 + okAfter);
      } finally {
        await up.close();
      }
    });

    test('the master key rotated by the CLI beside a running server: a clear 503 asking for a restart (never a 500 or an upstream error); after the restart the credential works', async () => {
      // its own server: the CLI replaces the data dir's master key
      const KEY = 'sk-cli-rot-5a6b7c8d9e0f';
      const up = await keyedUpstream([KEY]);
      const own = await startServer(dialect, { modelsFile: models, upstreamTimeoutMs: '1000' });
      let restarted: Awaited<ReturnType<typeof secondNode>> | null = null;
      try {
        const t = await tenant(own, `cli-${dialect}`);
        await own.rt.core.credentials.create(SYSTEM, t.orgId, 'llm', { name: 'openai', value: { key: KEY, base_url: `${up.url}/v1` }, platform: 'p' });
        assert.equal((await chat(own.url, t.key, { model: 'gpt-4o-mini', messages: [] })).status, 200);
        const r = await runKeyplane(['vault', 'rotate-master-key', '--generate', ...storeArgs(own.db)]);
        assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
        const reached = up.received.length;
        const check = (x: Awaited<ReturnType<typeof chat>>) => {
          if (x.status === 200) return false; // the resolution cached before the rotation (SQLite: until its TTL)
          assert.equal(x.status, 503, x.text);
          assert.equal(x.json.error.type, 'server_error');
          assert.equal(x.json.error.code, 'master_key_mismatch');
          assert.match(x.json.error.message, /master key was rotated while this server was running\. The operator must restart keyplane with the new master key/);
          return true;
        };
        // PostgreSQL: the CLI's notice drops the cached resolution on the server; SQLite: its TTL (dropped here by hand)
        if (dialect === 'postgres') await until('the rotation notice', async () => check(await chat(own.url, t.key, { model: 'gpt-4o-mini', messages: [] })));
        else own.rt.core.providerCredentials.invalidateLocal('all');
        for (let i = 0; i < 3; i++) assert.ok(check(await chat(own.url, t.key, { model: 'gpt-4o-mini', messages: [] })), 'refused once the cache is gone');
        const messages = await readResponse(
          await fetch(`${own.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': t.key, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) }),
        );
        assert.equal(messages.status, 503, messages.text);
        assert.equal(messages.json.type, 'error');
        assert.match(messages.json.error.message, /must restart keyplane with the new master key/);
        assert.equal(up.received.length, reached, 'nothing reaches the upstream without a credential');
        // the restart the message asks for: the same data dir (its master-key file now holds the new key)
        await own.app.close();
        await own.rt.close();
        restarted = await secondNode(own, models);
        const x = await chat(restarted.url, t.key, { model: 'gpt-4o-mini', messages: [] });
        assert.equal(x.status, 200, x.text);
        assert.equal(up.received.at(-1)!.headers.authorization, `Bearer ${KEY}`);
      } finally {
        if (restarted) {
          await restarted.close();
          await own.db.drop();
        } else await own.close();
        await up.close();
      }
    });
  });
}
