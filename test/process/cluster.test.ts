// Cluster mode with real processes: three `keyplane serve` processes on one PostgreSQL database and
// one Redis, started the way an operator would (shared master key and bootstrap admin key, REDIS_URL),
// set up over the admin faces, then:
// - a project limit of L requests per minute hammered through the three in parallel: exactly L
//   admitted and the rest OpenAI's 429, on every run;
// - a key revoked through node A and used on node B in a tight loop: refused within one second (the
//   measured figure is printed);
// - a node killed with SIGKILL under paced load (each request names its own session, so the usage
//   rows say which answers were recorded) while an admin client creates projects through it: the
//   other two go on answering every request with 200; every answer of the survivors is recorded;
//   of the killed node's answers only those of its last flush interval may be missing (printed); every
//   project the admin client saw created exists afterwards, with its audit event.
// Needs PostgreSQL and Redis (skipped without them unless KEYPLANE_TEST_POSTGRES / KEYPLANE_TEST_REDIS=require).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../helpers/db.ts';
import { dropPrefix, REDIS_TEST_URL, redisSkip } from '../helpers/redis.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';
import { http, killAll, startServer, type RunningServer } from './spawn.ts';

const FLUSH_MS = 500;
/** Time for a flush that started to commit: a flush tick writes what was buffered before it, then commits. */
const COMMIT_SLACK_MS = 400;
/** The shared project limit: one request replenishes every 60 s / L, so a shorter burst admits exactly L. */
const L = 12;

const redisSkipped = await redisSkip();
const pgSkipped = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';

interface Sent {
  node: number;
  session: string;
  status: number | 'error';
  /** When the answer was complete (ms since epoch). */
  at: number;
}

describe('three keyplane processes on one PostgreSQL and one Redis', { skip: redisSkipped || pgSkipped }, () => {
  let mock: MockUpstream;
  let db: TestDb;
  const dataDirs: string[] = [];
  const nodes: RunningServer[] = [];
  const adminKey = `sk-admin-${crypto.randomBytes(24).toString('hex')}`;
  let projectId: string | undefined;
  let key: string;

  before(async () => {
    mock = await startMockUpstream();
    db = await createTestDb('postgres');
    const modelsDir = tmpDir('kp-models');
    dataDirs.push(modelsDir);
    const modelsFile = path.join(modelsDir, 'models.json');
    const models: Record<string, unknown> = { 'gpt-4o-mini': { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000 } };
    for (let run = 0; run < 3; run++) models[`shared-rpm-${run}`] = { max_requests_per_1_minute: L, max_tokens_per_1_minute: 10_000_000 };
    fs.writeFileSync(modelsFile, JSON.stringify(models));
    const env = {
      KEYPLANE_MASTER_KEY: crypto.randomBytes(32).toString('hex'),
      KEYPLANE_BOOTSTRAP_ADMIN_KEY: adminKey,
      REDIS_URL: REDIS_TEST_URL,
      KEYPLANE_USAGE_FLUSH_MS: String(FLUSH_MS),
      KEYPLANE_MODELS_FILE: modelsFile,
    };
    const node = async () => {
      const dataDir = tmpDir('kp-node');
      dataDirs.push(dataDir);
      return startServer({ dataDir, databaseUrl: db.databaseUrl }, { env });
    };
    // the first node bootstraps the database, the other two join it
    nodes.push(await node());
    nodes.push(...(await Promise.all([node(), node()])));

    // setup over the admin faces: the organization's OpenAI credential points at the mock
    const a = nodes[0]!.url;
    const cred = await http(a, '/api/ai-account/orgs/main/credential/', {
      method: 'POST',
      headers: { authorization: `Api-Token ${adminKey}` },
      body: { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' },
    });
    assert.equal(cred.status, 200, cred.text);
    const project = await http(a, '/v1/organization/projects', { method: 'POST', key: adminKey, body: { name: 'Cluster' } });
    assert.equal(project.status, 200, project.text);
    projectId = project.json.id as string;
    key = await serviceAccountKey('bot');
    // warm every node (connections, key cache) so that bursts take milliseconds
    for (let i = 0; i < 3; i++) assert.equal(await chat(i, 'gpt-4o-mini'), 200);
  });

  after(async () => {
    await killAll();
    await mock?.close();
    await db?.drop();
    for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
    if (projectId) await dropPrefix(`kp:v1:rl:{${projectId}}`);
  });

  async function serviceAccountKey(name: string): Promise<string> {
    const sa = await http(nodes[0]!.url, `/v1/organization/projects/${projectId}/service_accounts`, { method: 'POST', key: adminKey, body: { name } });
    assert.equal(sa.status, 200, sa.text);
    return sa.json.api_key.value as string;
  }

  async function chat(i: number, model: string, opts: { key?: string; session?: string } = {}): Promise<number | 'error'> {
    try {
      const r = await fetch(`${nodes[i]!.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${opts.key ?? key}`,
          'content-type': 'application/json',
          ...(opts.session ? { 'x-keyplane-session': opts.session } : {}),
        },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
        signal: AbortSignal.timeout(10_000),
      });
      await r.arrayBuffer();
      return r.status;
    } catch {
      return 'error'; // a killed node's connections: refused or reset
    }
  }

  test(`a project limit of ${L} requests per minute hammered through the three processes in parallel: exactly ${L} admitted, the rest 429, on every run`, async () => {
    for (let run = 0; run < 3; run++) {
      const before = mock.received.length;
      const t0 = Date.now();
      const statuses = await Promise.all(Array.from({ length: 3 * L }, (_, i) => chat(i % 3, `shared-rpm-${run}`)));
      assert.ok(Date.now() - t0 < 60_000 / L, 'the burst is shorter than one replenishment');
      assert.equal(statuses.filter((s) => s === 200).length, L, `run ${run}: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, 2 * L, `run ${run}: ${statuses.join(',')}`);
      assert.equal(mock.received.length - before, L, 'refused requests never reach the upstream');
    }
  });

  test('a key revoked through node A is refused by node B within one second', async () => {
    const revoked = await serviceAccountKey('to revoke');
    assert.equal(await chat(1, 'gpt-4o-mini', { key: revoked }), 200, 'node B knows (and caches) the key');
    const keys = await http(nodes[0]!.url, `/v1/organization/projects/${projectId}/api_keys?limit=100`, { key: adminKey });
    const entry = (keys.json.data as Array<{ id: string; name: string; owner: { service_account?: { name: string } } }>).find((k) => k.owner.service_account?.name === 'to revoke');
    assert.ok(entry, keys.text);
    const del = await http(nodes[0]!.url, `/v1/organization/projects/${projectId}/api_keys/${entry.id}`, { method: 'DELETE', key: adminKey });
    assert.equal(del.status, 200, del.text);
    const t0 = Date.now();
    let status: number | 'error' = 200;
    while (Date.now() - t0 < 5_000 && (status = await chat(1, 'gpt-4o-mini', { key: revoked })) === 200);
    const ms = Date.now() - t0;
    console.log(`key revoked through node A: node B refused it after ${ms} ms`);
    assert.equal(status, 401);
    assert.ok(ms <= 1_000, `node B still accepted the revoked key ${ms} ms after its revocation`);
  });

  // last: it kills node C
  test('node C killed with SIGKILL under load: A and B keep serving; C loses at most its last flush interval of usage; no acknowledged admin write is lost', async () => {
    const c = nodes[2]!;
    const sent: Sent[] = [];
    const send = async (i: number, session: string) => {
      const status = await chat(i, 'gpt-4o-mini', { session });
      sent.push({ node: i, session, status, at: Date.now() });
    };

    // admin writes through the node that will die, one after another until it is gone
    const acknowledged: string[] = [];
    let adminRunning = true;
    const admin = (async () => {
      for (let n = 0; adminRunning; n++) {
        try {
          const r = await fetch(`${c.url}/v1/organization/projects`, {
            method: 'POST',
            headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: `Admin write ${n}` }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await r.json()) as { id?: string };
          if (r.status === 200 && body.id) acknowledged.push(body.id);
        } catch {
          return; // the node is gone
        }
      }
    })();

    // paced load: one request every 10 ms, round robin over the three nodes, for 3 s; SIGKILL node C
    // at 1.5 s
    const inflight: Array<Promise<void>> = [];
    const t0 = Date.now();
    let killedAt = 0;
    for (let n = 0; Date.now() - t0 < 3_000; n++) {
      if (!killedAt && Date.now() - t0 >= 1_500) {
        c.proc.child.kill('SIGKILL');
        killedAt = Date.now();
      }
      inflight.push(send(n % 3, `load-${n}`));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inflight);
    adminRunning = false;
    await admin;
    assert.equal((await c.proc.exited).signal, 'SIGKILL');

    const survivors = sent.filter((s) => s.node !== 2);
    assert.ok(survivors.length > 100, `${survivors.length} requests to the survivors`);
    assert.deepEqual(survivors.filter((s) => s.status !== 200), [], 'the two other nodes answered every request with 200');
    const afterKill = survivors.filter((s) => s.at > killedAt + 100);
    assert.ok(afterKill.length > 40, `${afterKill.length} answers of the survivors after the kill`);
    const killedOk = sent.filter((s) => s.node === 2 && s.status === 200);
    assert.ok(killedOk.length > 15, `${killedOk.length} answers of the killed node before it died`);
    assert.ok(acknowledged.length > 0, 'the admin client got answers from the node before it died');

    // the survivors flush what they buffered on SIGTERM
    for (const n of [nodes[0]!, nodes[1]!]) assert.deepEqual(await n.proc.stop('SIGTERM'), { code: 0, signal: null });

    const client = new pg.Client({ connectionString: db.databaseUrl });
    await client.connect();
    try {
      const rows = await client.query<{ session_id: string }>("SELECT session_id FROM usage_events WHERE session_id LIKE 'load-%'");
      const recorded = new Set(rows.rows.map((r) => r.session_id));
      const sessions = new Set(sent.map((s) => s.session));
      for (const s of recorded) assert.ok(sessions.has(s), `usage of ${s}, which was never sent`);
      assert.deepEqual(survivors.filter((s) => !recorded.has(s.session)), [], 'every answer of the survivors is recorded');
      const lost = killedOk.filter((s) => !recorded.has(s.session));
      const oldestLostAge = lost.length ? killedAt - Math.min(...lost.map((s) => s.at)) : 0;
      console.log(
        `SIGKILL under load (flush every ${FLUSH_MS} ms): the killed node answered ${killedOk.length} requests, ` +
          `${lost.length} of them were not recorded, the oldest answered ${oldestLostAge} ms before the kill; ` +
          `the survivors answered ${survivors.length} (${afterKill.length} after the kill), all 200 and all recorded; ` +
          `${acknowledged.length} projects acknowledged by the killed node`,
      );
      assert.ok(oldestLostAge <= FLUSH_MS + COMMIT_SLACK_MS, `a usage event answered ${oldestLostAge} ms before the kill was lost (flush interval ${FLUSH_MS} ms)`);

      const projects = await client.query<{ id: string }>('SELECT id FROM projects WHERE id = ANY($1)', [acknowledged]);
      assert.equal(projects.rowCount, acknowledged.length, 'every project acknowledged to the admin client exists');
      const audits = await client.query<{ n: string }>("SELECT count(*) AS n FROM audit_logs WHERE type = 'project.created' AND target_id = ANY($1)", [acknowledged]);
      assert.equal(Number(audits.rows[0]!.n), acknowledged.length, 'and has its audit event');
    } finally {
      await client.end();
    }
  });
});
