// Cluster mode: a node killed with SIGKILL under load. Three `keyplane serve` processes on one
// PostgreSQL database and one Redis take paced gateway traffic (each request names its own session,
// so the usage rows say which answers were recorded) while an admin client creates projects through
// the node that dies. At SIGKILL:
// - the other two nodes go on answering every request, 200 and nothing else;
// - every gateway answer of the survivors is recorded (they flush on SIGTERM at the end);
// - of the killed node's answers, only those of its last flush interval may be missing: the test
//   prints how many were lost and how old the oldest lost one was at the kill;
// - every project the admin client saw created exists afterwards, with its audit event.
// Needs PostgreSQL and Redis (skipped without them unless KEYPLANE_TEST_POSTGRES / KEYPLANE_TEST_REDIS=require).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { createTestDb, testDialects, tmpDir } from '../helpers/db.ts';
import { dropPrefix, REDIS_TEST_URL, redisSkip } from '../helpers/redis.ts';
import { startMockUpstream } from '../gateway/mock-upstream.ts';
import { http, killAll, startServer, type RunningServer } from './spawn.ts';

const FLUSH_MS = 500;
/** Time for a flush that started to commit: a flush tick writes what was buffered before it, then commits. */
const COMMIT_SLACK_MS = 400;

const redisSkipped = await redisSkip();
const pgSkipped = (await testDialects()).includes('postgres') ? false : 'PostgreSQL is unreachable (set KEYPLANE_TEST_POSTGRES=require to fail instead of skipping)';

interface Sent {
  node: number;
  session: string;
  status: number | 'error';
  /** When the answer was complete (ms since epoch). */
  at: number;
}

describe('a node killed with SIGKILL under load', { skip: redisSkipped || pgSkipped }, () => {
  after(killAll);

  test('the others keep serving; the killed node loses at most its last flush interval of usage; no acknowledged admin write is lost', async () => {
    const mock = await startMockUpstream();
    const db = await createTestDb('postgres');
    const dataDirs: string[] = [];
    let projectId: string | undefined;
    try {
      const masterKey = crypto.randomBytes(32).toString('hex');
      const adminKey = `sk-admin-${crypto.randomBytes(24).toString('hex')}`;
      const env = { KEYPLANE_MASTER_KEY: masterKey, KEYPLANE_BOOTSTRAP_ADMIN_KEY: adminKey, REDIS_URL: REDIS_TEST_URL, KEYPLANE_USAGE_FLUSH_MS: String(FLUSH_MS) };
      const node = async () => {
        const dataDir = tmpDir('kp-node');
        dataDirs.push(dataDir);
        return startServer({ dataDir, databaseUrl: db.databaseUrl }, { env });
      };
      // the first node bootstraps the database, the other two join it
      const nodes: RunningServer[] = [await node()];
      nodes.push(...(await Promise.all([node(), node()])));
      const [a, , c] = nodes as [RunningServer, RunningServer, RunningServer];

      // setup over the admin faces: the organization's OpenAI credential points at the mock
      const cred = await http(a.url, '/api/ai-account/orgs/main/credential/', {
        method: 'POST',
        headers: { authorization: `Api-Token ${adminKey}` },
        body: { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' },
      });
      assert.equal(cred.status, 200, cred.text);
      const project = await http(a.url, '/v1/organization/projects', { method: 'POST', key: adminKey, body: { name: 'Under load' } });
      assert.equal(project.status, 200, project.text);
      projectId = project.json.id as string;
      const sa = await http(a.url, `/v1/organization/projects/${projectId}/service_accounts`, { method: 'POST', key: adminKey, body: { name: 'bot' } });
      assert.equal(sa.status, 200, sa.text);
      const key = sa.json.api_key.value as string;

      const sent: Sent[] = [];
      const chat = async (i: number, session: string): Promise<void> => {
        const one: Sent = { node: i, session, status: 'error', at: 0 };
        try {
          const r = await fetch(`${nodes[i]!.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-keyplane-session': session },
            body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
            signal: AbortSignal.timeout(10_000),
          });
          await r.arrayBuffer();
          one.status = r.status;
        } catch {
          // the killed node's connections: refused or reset
        }
        one.at = Date.now();
        sent.push(one);
      };
      // warm every node (connections, key cache) before the measured load
      for (let i = 0; i < 3; i++) await chat(i, `warm-${i}`);
      assert.deepEqual(sent.map((s) => s.status), [200, 200, 200]);

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

      // paced load: one request every 10 ms, round robin over the three nodes, for 2 s; SIGKILL the
      // third node at 1.5 s; then 1 s more on the two survivors
      const inflight: Array<Promise<void>> = [];
      const t0 = Date.now();
      let killedAt = 0;
      for (let n = 0; Date.now() - t0 < 3_000; n++) {
        if (!killedAt && Date.now() - t0 >= 1_500) {
          c.proc.child.kill('SIGKILL');
          killedAt = Date.now();
        }
        inflight.push(chat(n % 3, `load-${n}`));
        await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(inflight);
      adminRunning = false;
      await admin;
      assert.equal((await c.proc.exited).signal, 'SIGKILL');

      const load = sent.filter((s) => s.session.startsWith('load-'));
      const survivors = load.filter((s) => s.node !== 2);
      assert.ok(survivors.length > 100, `${survivors.length} requests to the survivors`);
      const notOk = survivors.filter((s) => s.status !== 200);
      assert.deepEqual(notOk, [], 'the two other nodes answered every request with 200');
      const afterKill = survivors.filter((s) => s.at > killedAt + 100);
      assert.ok(afterKill.length > 40, `${afterKill.length} answers of the survivors after the kill`);
      const killedOk = load.filter((s) => s.node === 2 && s.status === 200);
      assert.ok(killedOk.length > 15, `${killedOk.length} answers of the killed node before it died`);
      assert.ok(acknowledged.length > 0, 'the admin client got answers from the node before it died');

      // the survivors flush what they buffered on SIGTERM
      for (const n of [nodes[0]!, nodes[1]!]) assert.deepEqual(await n.proc.stop('SIGTERM'), { code: 0, signal: null });

      const client = new pg.Client({ connectionString: db.databaseUrl });
      await client.connect();
      try {
        const rows = await client.query<{ session_id: string }>("SELECT session_id FROM usage_events WHERE session_id LIKE 'load-%'");
        const recorded = new Set(rows.rows.map((r) => r.session_id));
        const answered = new Set(load.filter((s) => s.status === 200).map((s) => s.session));
        for (const s of recorded) assert.ok(answered.has(s) || load.some((l) => l.session === s && l.node === 2), `usage of ${s}, which was never sent`);
        const survivorsLost = survivors.filter((s) => !recorded.has(s.session));
        assert.deepEqual(survivorsLost, [], 'every answer of the survivors is recorded');
        const lost = killedOk.filter((s) => !recorded.has(s.session));
        const oldestLostAge = lost.length ? killedAt - Math.min(...lost.map((s) => s.at)) : 0;
        console.log(
          `SIGKILL under load (flush every ${FLUSH_MS} ms): the killed node answered ${killedOk.length} requests, ` +
            `${lost.length} of them were not recorded, the oldest answered ${oldestLostAge} ms before the kill; ` +
            `the survivors answered ${survivors.length} (${afterKill.length} after the kill), all 200 and all recorded`,
        );
        assert.ok(oldestLostAge <= FLUSH_MS + COMMIT_SLACK_MS, `a usage event answered ${oldestLostAge} ms before the kill was lost (flush interval ${FLUSH_MS} ms)`);

        const projects = await client.query<{ id: string }>('SELECT id FROM projects WHERE id = ANY($1)', [acknowledged]);
        assert.equal(projects.rowCount, acknowledged.length, 'every project acknowledged to the admin client exists');
        const audits = await client.query<{ n: string }>("SELECT count(*) AS n FROM audit_logs WHERE type = 'project.created' AND target_id = ANY($1)", [acknowledged]);
        assert.equal(Number(audits.rows[0]!.n), acknowledged.length, 'and has its audit event');
      } finally {
        await client.end();
      }
    } finally {
      await killAll();
      await mock.close();
      await db.drop();
      for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
      if (projectId) await dropPrefix(`kp:v1:rl:{${projectId}}`);
    }
  });
});
