// Cluster mode's shared limits, end to end: three keyplane servers in this process on one PostgreSQL
// database and one Redis (REDIS_URL), a project limit of L requests per minute hammered through all
// three in parallel — exactly L admitted, the rest OpenAI's 429, on every run; and a token limit with
// streamed answers overshooting by at most one request's estimate. Needs PostgreSQL and Redis
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
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
// one request replenishes every 60 s / L: a burst shorter than that admits exactly L
const L = 12;

const redisSkipped = await redisSkip();
const pgSkipped = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';
const skip = redisSkipped || pgSkipped;


describe('three nodes on one Redis: shared limits', { skip }, () => {
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
    for (let run = 0; run < 3; run++) models[`shared-rpm-${run}`] = { max_requests_per_1_minute: L, max_tokens_per_1_minute: 10_000_000 };
    models.warm = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
    models['shared-tpm'] = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 3000 };
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

  test(`a project limit of ${L} requests per minute hammered through three nodes in parallel: exactly ${L} admitted, the rest 429, on every run`, async () => {
    for (let run = 0; run < 3; run++) {
      const model = `shared-rpm-${run}`;
      const before = mock.received.length;
      const t0 = Date.now();
      const results = await Promise.all(Array.from({ length: 3 * L }, (_, i) => call(i, { model, messages: [] })));
      assert.ok(Date.now() - t0 < 60_000 / L, 'the burst is shorter than one replenishment');
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, L, `run ${run}: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, 2 * L, `run ${run}`);
      assert.equal(mock.received.length - before, L, 'refused requests never reach the upstream');
      const refused = results.find((r) => r.status === 429)!;
      assert.equal(refused.json.error.code, 'rate_limit_exceeded');
      assert.match(refused.json.error.message, new RegExp(`on requests per min \\(RPM\\): Limit ${L}, Used ${L}, Requested 1\\.`));
    }
  });

  test('a token limit with streaming answers: reservations never overshoot, each stream is settled to its usage in the shared bucket', async () => {
    // 3000 tokens per minute; each request reserves its prompt estimate plus max_tokens 400, and the
    // mock reports 18 tokens once its stream ends
    const body = { model: 'shared-tpm', max_tokens: 400, stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const estimate = Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4) + 400;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i, body)));
    const admitted = results.filter((r) => r.status === 200).length;
    for (const r of results) if (r.status !== 200) assert.equal(r.json.error.type, 'tokens', String(r.status));
    // the capacity was used: at least as many as fit at once; streams that ended early gave back
    // their unused estimate, which later requests may use — never more than the limit at any instant
    assert.ok(admitted >= Math.floor(3000 / estimate), `${admitted} admitted of estimate ${estimate}`);
    assert.ok(admitted * 18 <= 3000 + estimate, `${admitted} × 18 tokens used`);
    // every node settled its streams in Redis: the bucket holds the usage, not the estimates
    await new Promise((r) => setTimeout(r, 200));
    const { Redis } = await import('ioredis');
    const c = new Redis(REDIS_TEST_URL);
    try {
      const used = Number(await c.hget(`kp:v1:rl:{${projectId}}:shared-tpm`, 'u1'));
      assert.ok(used <= admitted * 18 + 1e-6, `${used} used in Redis for ${admitted} streams of 18 tokens`);
    } finally {
      c.disconnect();
    }
  });
});
