// Redis stopped mid-load and restarted, end to end: two keyplane servers in this process on one
// PostgreSQL database and a PRIVATE redis-server (its own port, never the shared one), a limit of L
// requests per minute. Redis up: exactly L admitted across both nodes. Redis stopped: no 5xx, every
// answer 200 or 429 within a bounded time, each node admitting its in-memory share floor(L / 2) (two
// live nodes counted by the heartbeat). Redis restarted: the nodes rejoin it and admit exactly L
// across both again. `/readyz` stays 200 throughout and says `degraded: true` only during the
// outage. Each phase uses a model of its own, hence a fresh bucket. Needs PostgreSQL and
// /usr/bin/redis-server (skipped without them unless KEYPLANE_TEST_POSTGRES=require).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startNodes, type Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { NODE_TTL_MS } from '../../src/gateway/redis-limiter.ts';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { http, openaiClient, readResponse } from '../helpers/http.ts';
import { startServer } from '../helpers/server.ts';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const REDIS_SERVER = '/usr/bin/redis-server';
// one request replenishes every 60 s / L (degraded: every 60 s / floor(L / 2)); each burst is far shorter
const L = 20;
const SHARE = Math.floor(L / 2);
/** Longest answer allowed while Redis is down: the limiter's command timeout is 1 s. */
const BOUND_MS = 1_500;

const pgSkipped = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';
const skip = pgSkipped || (fs.existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is not installed`);


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      if ((await c.ping()) === 'PONG') return child;
    } catch {
      // not listening yet
    } finally {
      c.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
    await sleep(50);
  }
}

async function stopRedis(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

describe('Redis stopped mid-load and restarted: no 5xx, limits degrade to the local share, then return to exact', { skip }, () => {
  let db: TestDb;
  let mock: MockUpstream;
  let port: number;
  let redis: ChildProcess | null = null;
  const nodes: ClusterNode[] = [];
  let cluster: Cluster | undefined;
  let key: string;

  /** Live nodes in the private Redis' heartbeat set. */
  async function heartbeatCount(): Promise<number> {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 });
    c.on('error', () => {});
    try {
      return await c.zcount('kp:v1:nodes', Date.now() - NODE_TTL_MS, '+inf');
    } finally {
      c.disconnect();
    }
  }

  async function waitForHeartbeats(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await heartbeatCount()) < n) {
      if (Date.now() > deadline) throw new Error(`fewer than ${n} nodes in the heartbeat set after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    mock = await startMockUpstream();
    db = await createTestDb('postgres');
    const modelsDir = tmpDir('kp-models');
    const modelsFile = path.join(modelsDir, 'models.json');
    const models: Record<string, unknown> = {};
    for (const phase of ['up', 'down', 'back']) models[`outage-${phase}`] = { max_requests_per_1_minute: L, max_tokens_per_1_minute: 10_000_000 };
    models.warm = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
    fs.writeFileSync(modelsFile, JSON.stringify(models));
    cluster = await startNodes(2, { databaseUrl: db.databaseUrl!, modelsFile, redisUrl: `redis://127.0.0.1:${port}` });
    nodes.push(...cluster.nodes);
    const core = nodes[0]!.rt.core;
    const orgId = (await core.orgs.getBySlug(SYSTEM, 'main')).id;
    await core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
    const admin = openaiClient({ url: nodes[0]!.url } as never, cluster.adminKey);
    const project = await admin.admin.organization.projects.create({ name: `Outage ${crypto.randomBytes(4).toString('hex')}` });
    const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
    key = sa.api_key!.value;
    for (let i = 0; i < 2; i++) assert.equal((await call(i, { model: 'warm', messages: [] })).status, 200);
  });

  after(async () => {
    await cluster?.close();
    await mock?.close?.();
    await db?.drop();
    await stopRedis(redis);
  });

  /** Each node's `/readyz`: 200 and ready in every phase; `degraded` tells whether its limiter is in memory. */
  async function assertReady(degraded: boolean): Promise<void> {
    for (const [n, node] of nodes.entries()) {
      const r = await fetch(`${node.url}/readyz`).then(readResponse);
      assert.equal(r.status, 200, `node ${n}: ${r.text}`);
      assert.equal(r.json.status, 'ready');
      assert.equal(r.json.degraded, degraded, `node ${n}: ${r.text}`);
    }
  }

  const call = (i: number, body: unknown) => {
    const t0 = Date.now();
    return fetch(`${nodes[i % 2]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
      .then(readResponse)
      .then((r) => ({ ...r, ms: Date.now() - t0 }));
  };

  test(`limit ${L}/min: exact on Redis, floor(L/2) = ${SHARE} per node with Redis stopped (no 5xx), exact again once restarted`, async () => {
    // both nodes counted by the heartbeat, and each has heartbeated since (every 3 s), so each divides by 2
    await waitForHeartbeats(2, 10_000);
    await sleep(3_500);
    assert.equal(await heartbeatCount(), 2);
    await assertReady(false);

    // Phase 1: Redis up — 2L requests over both nodes, exactly L admitted
    {
      const before = mock.received.length;
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 2 * L }, (_, i) => call(i, { model: 'outage-up', messages: [] })));
      assert.ok(Date.now() - t0 < 60_000 / L, 'the burst is shorter than one replenishment');
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, L, `up: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, L, `up: ${statuses.join(',')}`);
      assert.equal(mock.received.length - before, L);
    }

    // Redis stopped mid-load: requests keep flowing to both nodes (a model with a high limit) while
    // redis-server shuts down and for a moment after — every one a 200 within the bound
    {
      let stopping = true;
      const during: { status: number; ms: number; text: string }[] = [];
      const load = Promise.all(
        [0, 1].map(async (n) => {
          while (stopping) during.push(await call(n, { model: 'warm', messages: [] }));
        }),
      );
      await sleep(100);
      await stopRedis(redis);
      redis = null;
      await sleep(300);
      stopping = false;
      await load;
      assert.ok(during.length >= 4, `${during.length} requests during the stop`);
      for (const r of during) {
        assert.equal(r.status, 200, r.text);
        assert.ok(r.ms < BOUND_MS, `an answer took ${r.ms} ms while Redis stopped`);
      }
      console.log(`# during the stop: ${during.length} requests, all 200, slowest ${Math.max(...during.map((r) => r.ms))} ms`);
    }

    // Phase 2: Redis stopped — L requests to each node: no 5xx, bounded answers, each node its share
    {
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 2 * L }, (_, i) => call(i, { model: 'outage-down', messages: [] })));
      assert.ok(Date.now() - t0 < 60_000 / SHARE, 'the burst is shorter than one replenishment of the share');
      for (const r of results) {
        assert.ok(r.status === 200 || r.status === 429, `status ${r.status}: ${r.text}`);
        assert.ok(r.ms < BOUND_MS, `an answer took ${r.ms} ms with Redis down`);
      }
      for (let n = 0; n < 2; n++) {
        const mine = results.filter((_, i) => i % 2 === n).map((r) => r.status);
        assert.equal(mine.filter((s) => s === 200).length, SHARE, `node ${n} admits its share: ${mine.join(',')}`);
      }
      const refused = results.find((r) => r.status === 429)!;
      assert.equal(refused.json.error.code, 'rate_limit_exceeded');
      assert.match(refused.json.error.message, new RegExp(`Limit ${SHARE}, Used ${SHARE}, Requested 1\\.`));
      const slowest = Math.max(...results.map((r) => r.ms));
      await assertReady(true);
      console.log(`# degraded: ${results.filter((r) => r.status === 200).length} admitted of ${2 * L}, slowest answer ${slowest} ms, burst ${Date.now() - t0} ms`);
    }

    // Phase 3: Redis restarted on the same port — both nodes reconnect (each heartbeats on 'ready'), then exactly L again
    const restarted = Date.now();
    redis = await startRedis(port);
    await waitForHeartbeats(2, 15_000);
    console.log(`# both nodes back on Redis ${Date.now() - restarted} ms after the restart`);
    await assertReady(false);
    {
      const before = mock.received.length;
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 2 * L }, (_, i) => call(i, { model: 'outage-back', messages: [] })));
      assert.ok(Date.now() - t0 < 60_000 / L, 'the burst is shorter than one replenishment');
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, L, `back: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, L, `back: ${statuses.join(',')}`);
      assert.equal(mock.received.length - before, L);
    }
  });
});

test('/readyz without REDIS_URL carries no degraded flag (limits are in memory by design)', async () => {
  const s = await startServer('sqlite');
  try {
    const r = await http(s, 'GET', '/readyz', null);
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ready');
    assert.equal('degraded' in r.json, false, JSON.stringify(r.json));
  } finally {
    await s.close();
  }
});
