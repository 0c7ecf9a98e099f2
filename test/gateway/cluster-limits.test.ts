// Cluster mode's shared token limits, end to end: three keyplane servers in this process on one
// PostgreSQL database and one Redis (REDIS_URL), a token limit hammered with streamed answers that each
// use a little more than their reservation, overshooting by at most one request's estimate. (The
// exact request limit through three real processes is in test/process/cluster.test.ts.) Needs PostgreSQL and Redis
// (skipped without them unless KEYPLANE_TEST_POSTGRES / KEYPLANE_TEST_REDIS=require).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startNodes, type Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { openaiClient, readResponse } from '../helpers/http.ts';
import { dropPrefix, REDIS_TEST_URL, redisSkip } from '../helpers/redis.ts';
import { fullUsage, startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';

const redisSkipped = await redisSkip();
const pgSkipped = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';
const skip = redisSkipped || pgSkipped;


describe('three nodes on one Redis: a shared token limit', { skip }, () => {
  let db: TestDb;
  let mock: MockUpstream;
  const nodes: ClusterNode[] = [];
  let cluster: Cluster | undefined;
  let key: string;
  let projectId: string;

  before(async () => {
    mock = await startMockUpstream();
    db = await createTestDb('postgres');
    const modelsDir = tmpDir('kp-models');
    const modelsFile = path.join(modelsDir, 'models.json');
    const models: Record<string, unknown> = {};
    models.warm = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
    models['shared-tpm-full-usage-long-stream'] = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 3000 };
    fs.writeFileSync(modelsFile, JSON.stringify(models));
    cluster = await startNodes(3, { databaseUrl: db.databaseUrl!, modelsFile, redisUrl: REDIS_TEST_URL });
    nodes.push(...cluster.nodes);
    const core = nodes[0]!.rt.core;
    const orgId = (await core.orgs.getBySlug(SYSTEM, 'main')).id;
    await core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: 'main' });
    const admin = openaiClient({ url: nodes[0]!.url } as never, cluster.adminKey);
    // a project of its own per test run: the shared Redis keeps no state of an earlier one
    const project = await admin.admin.organization.projects.create({ name: `Cluster ${crypto.randomBytes(4).toString('hex')}` });
    projectId = project.id;
    const sa = await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' });
    key = sa.api_key!.value;
    // warm every node up (connections, caches) so the bursts below take milliseconds, not seconds
    for (let i = 0; i < 3; i++) assert.equal((await call(i, { model: 'warm', messages: [] })).status, 200);
  });

  after(async () => {
    await cluster?.close();
    await mock?.close?.();
    await db?.drop();
    // the project's buckets (the default prefix `kp`, keyed by this run's project id)
    if (projectId) await dropPrefix(`kp:v1:rl:{${projectId}}`);
  });

  const call = (i: number, body: unknown) =>
    fetch(`${nodes[i % 3]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(readResponse);

  test('a token limit with streaming answers hammered through three nodes: overshoot at most one request\'s estimate, each stream settled to its usage in the shared bucket', async () => {
    // 3000 tokens per minute (50 a second). Each request reserves its prompt estimate (a quarter of
    // its bytes) plus max_tokens 400; the `full-usage` mock streams for about half a second and then
    // reports the whole max_tokens and a quarter of the bytes it received, which the gateway grew
    // by stream_options: every answer uses a little more than its reservation. Three waves of ten,
    // 150 ms apart, so later requests arrive while earlier streams are running and after some settled.
    const model = 'shared-tpm-full-usage-long-stream';
    const body = { model, max_tokens: 400, stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const estimate = Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4) + 400;
    const before = mock.received.length;
    const t0 = Date.now();
    const waves: Array<Promise<Awaited<ReturnType<typeof call>>>> = [];
    for (let w = 0; w < 3; w++) {
      for (let i = 0; i < 10; i++) waves.push(call(w * 10 + i, body));
      await new Promise((r) => setTimeout(r, 150));
    }
    const results = await Promise.all(waves);
    const elapsedS = (Date.now() - t0) / 1000;
    const admitted = results.filter((r) => r.status === 200).length;
    for (const r of results) if (r.status !== 200) assert.equal(r.json.error.type, 'tokens', `${r.status} ${r.text}`);
    const upstream = mock.received.slice(before).filter((r) => r.body?.model === model);
    assert.equal(upstream.length, admitted, 'refused requests never reach the upstream');
    const used = upstream.reduce((sum, r) => sum + fullUsage(r.raw, r.body).total_tokens, 0);
    const perRequest = fullUsage(upstream[0]!.raw, upstream[0]!.body).total_tokens;
    assert.ok(perRequest > estimate, `each answer (${perRequest} tokens) uses more than its reservation (${estimate})`);
    console.log(`token limit 3000/min through three nodes, streamed: ${admitted} of 30 admitted, ${used} tokens used (estimate ${estimate}, overshoot ${Math.max(0, used - 3000)})`);
    // the capacity was used, and never by more than one request's estimate (plus what replenished meanwhile)
    assert.ok(admitted >= Math.floor(3000 / perRequest), `${admitted} admitted of ${perRequest} tokens each`);
    assert.ok(used <= 3000 + estimate + 50 * elapsedS, `${used} tokens used by ${admitted} admitted requests in ${elapsedS} s`);
    // every node settled its streams in Redis: the bucket holds the usage, not the estimates
    await new Promise((r) => setTimeout(r, 200));
    const { Redis } = await import('ioredis');
    const c = new Redis(REDIS_TEST_URL);
    try {
      const level = Number(await c.hget(`kp:v1:rl:{${projectId}}:${model}`, 'u1'));
      assert.ok(level <= used + 1e-6, `${level} used in Redis for ${used} tokens of usage`);
      assert.ok(level >= used - 50 * (elapsedS + 0.5) - 1, `${level} used in Redis for ${used} tokens of usage: every stream was charged its usage`);
    } finally {
      c.disconnect();
    }
  });
});
