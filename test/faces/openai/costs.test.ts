// OpenAI face, the Costs API (/v1/organization/costs) through the official `openai` SDK, on SQLite
// and PostgreSQL: real traffic through the gateway to the mock upstream, priced by a models file;
// then a second server on the same database with other prices serves more traffic. The costs of
// the first requests keep their old prices (history is never repriced), line items are
// "<model>, input" / "<model>, cached input" / "<model>, output" with their token quantities, and
// grouping, filters, paging and validation behave as the reference says.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import type { FastifyInstance } from 'fastify';
import { createTestDb, testDialects, tmpDir, type TestDb } from '../../helpers/db.ts';
import { assertOpenAIError, http, openaiClient } from '../../helpers/http.ts';
import { assertMatchesSpec } from '../../helpers/spec.ts';
import { loadConfig } from '../../../src/config.ts';
import { ADMIN_KEY_FILE, openRuntime, runBootstrap, type Runtime } from '../../../src/runtime.ts';
import { buildServer } from '../../../src/server.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';
import { MOCK_USAGE, startMockUpstream, type MockUpstream } from '../../gateway/mock-upstream.ts';

const SPEC = 'openai-admin.subset.json';
const PATH = '/organization/costs';
const DAY = 86_400;

interface Node {
  url: string;
  rt: Runtime;
  app: FastifyInstance;
  stop(): Promise<void>;
}

/** A server on `db` (kept when it stops) whose catalog prices gpt-4o-mini and the embedding model as given (USD per 1M tokens). */
async function serve(db: TestDb, prices: { input: number; cached_input: number; output: number }): Promise<Node> {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const file = path.join(tmpDir('kp-costs-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ 'gpt-4o-mini': { ...limits, prices }, 'text-embedding-3-small': { ...limits, prices: { input: 0.02, output: 0 } } }));
  const config = loadConfig({ port: '0', logLevel: 'silent', dataDir: db.dataDir, modelsFile: file, ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
  const rt = await openRuntime(config);
  await runBootstrap(rt);
  const app = await buildServer(config, rt.core);
  await rt.core.start();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    rt,
    app,
    async stop() {
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await rt.close();
    },
  };
}

const P1 = { input: 0.15, cached_input: 0.075, output: 0.6 };
const P2 = { input: 1, cached_input: 0.5, output: 2 };
/** nano-USD of one chat completion of MOCK_USAGE at `p`: (uncached, cached, output). */
const chatNano = (p: typeof P1) => {
  const cached = MOCK_USAGE.prompt_tokens_details.cached_tokens;
  return [(MOCK_USAGE.prompt_tokens - cached) * p.input * 1000, cached * p.cached_input * 1000, MOCK_USAGE.completion_tokens * p.output * 1000].map(Math.round) as [number, number, number];
};
const close = (a: number, b: number) => Math.abs(a - b) < 1e-12;
type Result = Record<string, any>;
const resultsOf = (page: any): Result[] => page.data.flatMap((b: any) => b.results);

for (const dialect of await testDialects()) {
  describe(`Costs API (${dialect})`, () => {
    let db: TestDb;
    let node: Node;
    let mock: MockUpstream;
    let adminKey: string;
    let admin: OpenAI;
    let projA: string;
    let projB: string;
    let keyA: string;
    let t0: number;
    const srv = () => ({ url: node.url }) as any;

    before(async () => {
      mock = await startMockUpstream();
      db = await createTestDb(dialect);
      // first server: the old prices
      node = await serve(db, P1);
      adminKey = fs.readFileSync(path.join(db.dataDir, ADMIN_KEY_FILE), 'utf8').trim();
      const orgId = (await node.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await node.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      admin = openaiClient(srv(), adminKey);
      projA = (await admin.admin.organization.projects.create({ name: 'Costs A' })).id;
      projB = (await admin.admin.organization.projects.create({ name: 'Costs B' })).id;
      const saA = await admin.admin.organization.projects.serviceAccounts.create(projA, { name: 'a' });
      const saB = await admin.admin.organization.projects.serviceAccounts.create(projB, { name: 'b' });
      keyA = saA.api_key!.id;
      const gw = (k: string) => new OpenAI({ apiKey: k, baseURL: `${node.url}/v1`, maxRetries: 0 });
      t0 = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 2; i++) await gw(saA.api_key!.value).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      await gw(saB.api_key!.value).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      await gw(saB.api_key!.value).embeddings.create({ model: 'text-embedding-3-small', input: 'abc' });
      await node.stop(); // flushes the usage

      // second server on the same database: new prices, one more request of project A
      node = await serve(db, P2);
      admin = openaiClient(srv(), adminKey);
      await gw(saA.api_key!.value).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
      await node.rt.core.flush();
    });
    after(async () => {
      await node?.stop();
      await db?.drop();
      await mock?.close();
    });

    const range = () => ({ start_time: t0 - 60, end_time: t0 + 3600 });
    const [i1, c1, o1] = chatNano(P1);
    const [i2, c2, o2] = chatNano(P2);
    const embNano = 5 * 0.02 * 1000;

    test('line items keep the price of their time: the old requests are not repriced', async () => {
      const page = await admin.admin.organization.usage.costs({ ...range(), group_by: ['line_item'] });
      assertMatchesSpec(SPEC, 'get', PATH, 200, page);
      assert.equal(page.data.length, 1);
      assert.equal(page.data[0]!.start_time, t0 - 60 - ((t0 - 60) % DAY));
      const rs = resultsOf(page);
      const cached = MOCK_USAGE.prompt_tokens_details.cached_tokens;
      const want: Record<string, [number, number]> = {
        'gpt-4o-mini, input': [4 * (MOCK_USAGE.prompt_tokens - cached), 3 * i1 + i2],
        'gpt-4o-mini, cached input': [4 * cached, 3 * c1 + c2],
        'gpt-4o-mini, output': [4 * MOCK_USAGE.completion_tokens, 3 * o1 + o2],
        'text-embedding-3-small, input': [5, embNano],
      };
      assert.deepEqual(rs.map((r) => r.line_item).sort(), Object.keys(want).sort());
      for (const r of rs) {
        const [q, nano] = want[r.line_item]!;
        assert.equal(r.object, 'organization.costs.result');
        assert.equal(r.quantity, q, r.line_item);
        assert.equal(r.quantity_unit, 'tokens');
        assert.equal(r.amount.currency, 'usd');
        assert.ok(close(r.amount.value, nano / 1e9), `${r.line_item}: ${r.amount.value} != ${nano / 1e9}`);
        assert.equal(r.project_id, null);
        assert.equal(r.api_key_id, null);
      }
      // at today's prices the first three requests would cost more: the stored money is what counts
      assert.ok(3 * i1 + i2 < 4 * i2);
    });

    test('ungrouped: one result per day with the total; grouped by project and key', async () => {
      const total = 3 * (i1 + c1 + o1) + (i2 + c2 + o2) + embNano;
      const page = await admin.admin.organization.usage.costs(range());
      assertMatchesSpec(SPEC, 'get', PATH, 200, page);
      const rs = resultsOf(page);
      assert.equal(rs.length, 1);
      assert.ok(close(rs[0]!.amount.value, total / 1e9));
      assert.deepEqual({ ...rs[0], amount: undefined }, { object: 'organization.costs.result', amount: undefined, line_item: null, project_id: null, api_key_id: null, user_id: null, quantity: null, quantity_unit: null });

      const byProject = resultsOf(await admin.admin.organization.usage.costs({ ...range(), group_by: ['project_id'] }));
      const of = (p: string) => byProject.find((r) => r.project_id === p)!.amount.value;
      assert.equal(byProject.length, 2);
      assert.ok(close(of(projA), (2 * (i1 + c1 + o1) + (i2 + c2 + o2)) / 1e9));
      assert.ok(close(of(projB), (i1 + c1 + o1 + embNano) / 1e9));

      const byKey = await admin.admin.organization.usage.costs({ ...range(), group_by: ['api_key_id', 'line_item'], api_key_ids: [keyA] });
      assertMatchesSpec(SPEC, 'get', PATH, 200, byKey);
      assert.deepEqual(resultsOf(byKey).map((r) => `${r.api_key_id}|${r.line_item}|${r.quantity}`).sort(), [`${keyA}|gpt-4o-mini, cached input|9`, `${keyA}|gpt-4o-mini, input|24`, `${keyA}|gpt-4o-mini, output|21`]);
    });

    test('filters: project_ids and line_items, in both array encodings', async () => {
      const onlyB = resultsOf(await admin.admin.organization.usage.costs({ ...range(), project_ids: [projB], group_by: ['line_item'] }));
      assert.deepEqual(onlyB.map((r) => r.line_item).sort(), ['gpt-4o-mini, cached input', 'gpt-4o-mini, input', 'gpt-4o-mini, output', 'text-embedding-3-small, input']);
      // line item names contain a comma: give them one per parameter
      for (const qs of ['line_items=gpt-4o-mini%2C%20output', 'line_items[]=gpt-4o-mini%2C%20output']) {
        const r = await http(srv(), 'GET', `/v1/organization/costs?start_time=${t0 - 60}&end_time=${t0 + 3600}&${qs}&group_by=project_id&group_by=line_item`, adminKey);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assertMatchesSpec(SPEC, 'get', PATH, 200, r.json);
        const rs = resultsOf(r.json);
        assert.deepEqual(rs.map((x) => `${x.project_id === projA ? 'A' : 'B'}|${x.line_item}|${x.quantity}`).sort(), ['A|gpt-4o-mini, output|21', 'B|gpt-4o-mini, output|7'], qs);
      }
    });

    test('1d buckets, default limit 7, paged with next_page to today', async () => {
      const start = t0 - 20 * DAY;
      const seen: number[] = [];
      let total = 0;
      let page: string | undefined;
      do {
        const r = await admin.admin.organization.usage.costs({ start_time: start, end_time: t0 + 60, ...(page ? { page } : {}) });
        assertMatchesSpec(SPEC, 'get', PATH, 200, r);
        assert.ok(r.data.length <= 7);
        for (const b of r.data) seen.push(b.start_time);
        total += resultsOf(r).reduce((a, x) => a + x.amount.value, 0);
        page = r.next_page ?? undefined;
        assert.equal(r.has_more, page !== undefined);
      } while (page);
      const first = start - (start % DAY);
      assert.deepEqual(seen, Array.from({ length: 21 }, (_, i) => first + i * DAY));
      assert.ok(close(total, (3 * (i1 + c1 + o1) + (i2 + c2 + o2) + embNano) / 1e9));
      assert.equal((await admin.admin.organization.usage.costs({ start_time: t0 - 200 * DAY, limit: 180 })).data.length, 180);
    });

    test("bad input is a 400 naming the parameter; other organizations see nothing", async () => {
      for (const [qs, param] of [
        ['', 'start_time'],
        [`start_time=${t0}&bucket_width=1h`, 'bucket_width'],
        [`start_time=${t0}&limit=181`, 'limit'],
        [`start_time=${t0}&limit=0`, 'limit'],
        [`start_time=${t0}&group_by=model`, 'group_by'],
        [`start_time=${t0}&end_time=${t0 - 10}`, 'end_time'],
        [`start_time=${t0}&page=%%%`, 'page'],
      ] as const) {
        const r = await http(srv(), 'GET', `/v1/organization/costs?${qs}`, adminKey);
        assert.equal(r.status, 400, qs);
        assertOpenAIError(r.json);
        assert.equal(r.json.error.param, param, qs);
      }
      const other = await node.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other-costs', ownerEmail: 'o@other.example', ownerName: 'O' });
      const page = await openaiClient(srv(), other.adminKey.secret).admin.organization.usage.costs({ ...range(), group_by: ['project_id'] });
      assert.deepEqual(resultsOf(page), []);
    });
  });
}
