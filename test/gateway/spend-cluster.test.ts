// Spend limits and alerts across two keyplane nodes in this process on one PostgreSQL database (no
// Redis). Prices as in spend.test.ts: each request reserves 1 cent and costs 0.7 cent. A limit set,
// raised or deleted through node A applies on node B within a second (polled every 20 ms, measured and
// reported); concurrent traffic on both nodes passes the limit by at most what the other node admitted
// before it saw the spend (the documented bound: each node's own reservations fit in the limit); and an
// alert crossed on both nodes fires once: one audit event, one webhook delivery. Needs PostgreSQL.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startNodes, type Cluster } from '../helpers/cluster.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { openaiClient } from '../helpers/http.ts';
import { REDIS_TEST_URL, redisSkip } from '../helpers/redis.ts';
import { Redis } from 'ioredis';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const BOUND_MS = 1000;
const skip = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';

describe('spend limits and alerts on two nodes of one PostgreSQL database', { skip }, () => {
  let db: TestDb;
  let mock: MockUpstream;
  let cluster: Cluster;
  let receiver: http.Server;
  const hooks: string[] = [];
  let orgId: string;
  let admin: ReturnType<typeof openaiClient>;

  const chat = async (node: number, key: string): Promise<number> => {
    const res = await fetch(`${cluster.nodes[node]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'spend-chat', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const project = async (name: string) => {
    const p = await admin.admin.organization.projects.create({ name });
    const sa = await admin.admin.organization.projects.serviceAccounts.create(p.id, { name: 'bot' });
    return { id: p.id, key: sa.api_key!.value };
  };
  const within = async (t: TestContext, what: string, seen: () => Promise<boolean>): Promise<void> => {
    const t0 = performance.now();
    while (!(await seen())) {
      assert.ok(performance.now() - t0 < BOUND_MS, `${what}: not seen on node B within ${BOUND_MS} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = Math.round(performance.now() - t0);
    assert.ok(ms < BOUND_MS, `${what}: ${ms} ms`);
    t.diagnostic(`${what}: node B after ${ms} ms`);
  };

  before(async () => {
    mock = await startMockUpstream();
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hooks.push(body);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    db = await createTestDb('postgres');
    const modelsFile = path.join(tmpDir('kp-models'), 'models.json');
    fs.writeFileSync(modelsFile, JSON.stringify({ 'spend-chat': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000, prices: { input: 0, cached_input: 0, output: 1000 } } }));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    cluster = await startNodes(2, { databaseUrl: db.databaseUrl!, modelsFile, spendAlertWebhookUrl: url, usageFlushMs: '200' });
    const core = cluster.nodes[0]!.rt.core;
    orgId = (await core.orgs.getBySlug(SYSTEM, 'main')).id;
    await core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
    admin = openaiClient({ url: cluster.nodes[0]!.url } as never, cluster.adminKey);
  });

  after(async () => {
    await cluster?.close();
    await mock?.close();
    await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
    await db?.drop();
  });

  test('a limit set, raised and deleted on node A applies on node B within a second', async (t) => {
    const p = await project('across nodes');
    assert.equal(await chat(1, p.key), 200, 'node B caches "no limit"'); // 0.7 cent
    await admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
    await within(t, 'limit of 1 cent set (0.7 spent + 1 reserved > 1)', async () => (await chat(1, p.key)) === 429);
    await admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 100, currency: 'USD', interval: 'month' });
    await within(t, 'limit raised to 100 cents', async () => (await chat(1, p.key)) === 200);
    await admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
    await within(t, 'limit lowered again', async () => (await chat(1, p.key)) === 429);
    await admin.admin.organization.projects.spendLimit.delete(p.id);
    await within(t, 'limit deleted', async () => (await chat(1, p.key)) === 200);
  });

  test('concurrent traffic on both nodes: each node admits only what fits its own view; once flushed, both refuse', async (t) => {
    const p = await project('both nodes');
    await admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 3, currency: 'USD', interval: 'month' });
    const start = mock.received.length;
    const answers = await Promise.all([...Array.from({ length: 10 }, () => chat(0, p.key)), ...Array.from({ length: 10 }, () => chat(1, p.key))]);
    const ok = answers.filter((s) => s === 200).length;
    // bound: 3 per node when neither has seen the other's spend yet (limit × nodes), at least the 3 one node allows
    assert.ok(ok >= 3 && ok <= 6, `${ok} admitted`);
    assert.equal(mock.received.length - start, ok, 'the refused ones never reached the upstream');
    t.diagnostic(`20 concurrent requests on 2 nodes under a 3-reservation limit: ${ok} admitted`);
    // once both flushed and re-read, both nodes refuse (2.1 cents or more spent, 1 more does not fit)
    await cluster.nodes[0]!.rt.core.flush();
    await cluster.nodes[1]!.rt.core.flush();
    const t0 = performance.now();
    for (;;) {
      const [a, b] = [await chat(0, p.key), await chat(1, p.key)];
      if (a === 429 && b === 429) break;
      assert.ok(performance.now() - t0 < 3000, 'both nodes refuse once the spend is flushed and read');
      await new Promise((r) => setTimeout(r, 20));
    }
    const spent = (await cluster.nodes[0]!.rt.store.db.selectFrom('usage_events').select('cost_nano_usd').where('project_id', '=', p.id).execute()).reduce((x, r) => x + Number(r.cost_nano_usd), 0);
    t.diagnostic(`recorded spend ${spent / 1e7} cents against a 3-cent limit`);
    assert.ok(spent <= 6 * 7_000_000, 'at most limit-worth of reservations per node');
  });

  test('an alert crossed on both nodes fires once: one audit event, one webhook', async () => {
    const p = await project('alert twice');
    const alert = await admin.admin.organization.projects.spendAlerts.create(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: ['ops@example.com'] } });
    const before = hooks.length;
    for (let i = 0; i < 3; i++) {
      assert.equal(await chat(0, p.key), 200);
      assert.equal(await chat(1, p.key), 200);
    }
    await Promise.all(cluster.nodes.map((n) => n.rt.core.flush()));
    await Promise.all(cluster.nodes.map((n) => n.rt.core.spendAlerts.settledChecks()));
    // both nodes' next flushes check again: still once
    for (let i = 0; i < 2; i++) {
      await chat(0, p.key);
      await chat(1, p.key);
      await Promise.all(cluster.nodes.map((n) => n.rt.core.flush()));
      await Promise.all(cluster.nodes.map((n) => n.rt.core.spendAlerts.settledChecks()));
    }
    const t0 = Date.now();
    while (hooks.length === before && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200)); // a second delivery, were there one, would be under way
    const events = await cluster.nodes[0]!.rt.store.db.selectFrom('audit_logs').select('id').where('type', '=', 'spend_alert.triggered').where('target_id', '=', alert.id).execute();
    assert.equal(events.length, 1);
    const mine = hooks.slice(before).filter((h) => JSON.parse(h).alert.id === alert.id);
    assert.equal(mine.length, 1);
  });
});

describe('spend reservations shared through Redis: requests in flight on two nodes count together', { skip: skip || (await redisSkip()) }, () => {
  let db: TestDb;
  let mock: MockUpstream;
  let cluster: Cluster;
  let orgId: string;
  let admin: ReturnType<typeof openaiClient>;

  before(async () => {
    mock = await startMockUpstream();
    db = await createTestDb('postgres');
    const modelsFile = path.join(tmpDir('kp-models'), 'models.json');
    // `slow`: the mock answers after 2 s, so every request of a burst is in flight at once
    fs.writeFileSync(modelsFile, JSON.stringify({ 'spend-slow': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000, prices: { input: 0, cached_input: 0, output: 1000 } } }));
    cluster = await startNodes(2, { databaseUrl: db.databaseUrl!, modelsFile, redisUrl: REDIS_TEST_URL, upstreamTimeoutMs: '10000' });
    const core = cluster.nodes[0]!.rt.core;
    orgId = (await core.orgs.getBySlug(SYSTEM, 'main')).id;
    await core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
    admin = openaiClient({ url: cluster.nodes[0]!.url } as never, cluster.adminKey);
  });

  after(async () => {
    await cluster?.close();
    await mock?.close();
    await db?.drop();
    const c = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
    const keys = await c.keys(`kp:v1:spend:{${orgId}}:*`);
    if (keys.length) await c.del(...keys);
    c.disconnect();
  });

  test('20 concurrent requests on two nodes under a 3-reservation limit: exactly 3 admitted', async (t) => {
    const p = await admin.admin.organization.projects.create({ name: 'shared' });
    const key = (await admin.admin.organization.projects.serviceAccounts.create(p.id, { name: 'bot' })).api_key!.value;
    await admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 3, currency: 'USD', interval: 'month' });
    const chat = async (node: number) => {
      const res = await fetch(`${cluster.nodes[node]!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'spend-slow', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const start = mock.received.length;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(i % 2)));
    const ok = answers.filter((x) => x === 200).length;
    t.diagnostic(`with Redis: ${ok} of 20 admitted across 2 nodes (3 fit)`);
    assert.equal(ok, 3);
    assert.equal(mock.received.length - start, 3);
    assert.equal(answers.filter((x) => x === 429).length, 17);
    // every reservation was released: nothing of this node's is left in Redis
    const c = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
    const left = await c.hgetall(`kp:v1:spend:{${orgId}}:${new Date().toISOString().slice(0, 7)}`);
    c.disconnect();
    assert.deepEqual(Object.keys(left).filter((f) => !f.endsWith('|t')), [], 'released on every node');
  });
});
