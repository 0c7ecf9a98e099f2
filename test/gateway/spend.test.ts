// Hard spend limits and spend alerts enforced by the gateway, with real traffic through the gateway
// to the mock upstream, on SQLite and PostgreSQL. Prices are made so that each request costs a known
// amount: model `spend-chat` costs nothing for input and USD 1000 per million output tokens (0.1 cent
// a token); the mock answers 7 output tokens (0.7 cent) and every request asks max_tokens 10, so the
// gateway reserves 1 cent for it. The bound under test: on one node, the open reservations plus the
// recorded and unflushed spend never pass the limit, so with actual ≤ reserved costs spend stays
// within the limit however many requests arrive at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { assertOpenAIError, openaiClient, readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from './mock-upstream.ts';

const UPSTREAM_KEY = 'sk-upstream-secret';
const CENT = 10_000_000; // nano-USD
const ROOT_KEY = crypto.randomBytes(32).toString('hex');

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 100_000, max_tokens_per_1_minute: 100_000_000 };
  const file = path.join(tmpDir('kp-spend-models'), 'models.json');
  const prices = { input: 0, cached_input: 0, output: 1000 };
  // `spend-fail-400`: the mock answers 400 (nothing used, nothing charged)
  fs.writeFileSync(file, JSON.stringify({ 'spend-chat': { ...limits, prices }, 'spend-fail-400': { ...limits, prices }, 'spend-free': { ...limits } }));
  return file;
}

/** A webhook receiver: records every POST (raw body and headers); answers 500 while `failing` > 0. */
async function startReceiver() {
  const got: Array<{ body: string; headers: http.IncomingHttpHeaders; status: number }> = [];
  const state = { failing: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const status = state.failing > 0 ? 500 : 204;
      if (state.failing > 0) state.failing--;
      got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers, status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/spend`, got, state, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Verifies `keyplane-signature: t=…,v1=…` as a receiver would: HMAC-SHA256(secret, "<t>.<raw body>"). */
function verify(secret: string, header: string | undefined, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  const want = crypto.createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return crypto.timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const dialect of await testDialects()) {
  describe(`gateway spend limits and alerts (${dialect})`, () => {
    let s: TestServer;
    let mock: MockUpstream;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    before(async () => {
      mock = await startMockUpstream();
      receiver = await startReceiver();
      s = await startServer(dialect, { modelsFile: modelsFile(), spendAlertWebhookUrl: receiver.url, spendAlertWebhookRetryMs: '20', usageFlushMs: '60000', rootKey: ROOT_KEY });
    });
    after(async () => {
      await s?.close();
      await mock?.close();
      await receiver?.close();
    });

    /** A new organization with the mock as its OpenAI credential, and `n` projects each with a key. */
    async function tenant(slug: string, n = 1) {
      const org = await s.rt.core.orgs.create(SYSTEM, { name: slug, slug: `${slug}-${dialect}` });
      await s.rt.core.credentials.create(SYSTEM, org.org.id, 'llm', { name: 'openai', value: { key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }, platform: slug });
      const admin = openaiClient(s, org.adminKey.secret);
      const projects: Array<{ id: string; key: string }> = [];
      for (let i = 0; i < n; i++) {
        const p = await admin.admin.organization.projects.create({ name: `${slug} ${i}` });
        const sa = await admin.admin.organization.projects.serviceAccounts.create(p.id, { name: 'bot' });
        projects.push({ id: p.id, key: sa.api_key!.value });
      }
      return { orgId: org.org.id, slug: `${slug}-${dialect}`, admin, adminKey: org.adminKey.secret, projects };
    }

    const chat = async (key: string, model = 'spend-chat') =>
      readResponse(
        await fetch(`${s.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
        }),
      );
    const recorded = async (orgId: string, projectId?: string) => {
      let q = s.rt.store.db.selectFrom('usage_events').select(['cost_nano_usd']).where('org_id', '=', orgId);
      if (projectId) q = q.where('project_id', '=', projectId);
      return (await q.execute()).reduce((a, r) => a + Number(r.cost_nano_usd), 0);
    };
    const sentFor = (projectKeyUsed: number) => mock.received.length - projectKeyUsed;

    test('a project limit stops traffic with 429 insufficient_quota before the upstream; concurrent requests cannot pass it', async () => {
      const t = await tenant('spend-project');
      const p = t.projects[0]!;
      await t.admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 3, currency: 'USD', interval: 'month' });
      const start = mock.received.length;
      // 20 at once: each reserves 1 cent, so exactly 3 fit in 3 cents
      const answers = await Promise.all(Array.from({ length: 20 }, () => chat(p.key)));
      const ok = answers.filter((r) => r.status === 200).length;
      assert.equal(ok, 3, 'exactly the requests whose reservations fit');
      assert.equal(sentFor(start), 3, 'refused requests never reach the upstream');
      const refused = answers.find((r) => r.status === 429)!;
      assertOpenAIError(refused.json, 'insufficient_quota');
      assert.equal(refused.json.error.code, 'insufficient_quota');
      assert.match(refused.json.error.message, new RegExp(`Project ${p.id} has a hard spend limit of \\$0\\.03 per month`));
      assert.equal(answers.filter((r) => r.status === 429).length, 17);
      // after the answers: 2.1 cents spent; one more would reserve 1 cent and pass 3 cents
      const after = await chat(p.key);
      assert.equal(after.status, 429);
      assert.match(after.json.error.message, /\$0\.02 spent|spend in \d{4}-\d{2} is \$0\.02/);
      await s.rt.core.flush();
      assert.equal(await recorded(t.orgId, p.id), 21 * CENT / 10, '3 × 0.7 cent recorded, within the limit');
      // read from the database after the flush: still refused, still nothing upstream
      assert.equal((await chat(p.key)).status, 429);
      assert.equal(sentFor(start), 3);
      // the SDK sees OpenAI's error
      const client = new OpenAI({ apiKey: p.key, baseURL: `${s.url}/v1`, maxRetries: 0 });
      await assert.rejects(client.chat.completions.create({ model: 'spend-chat', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }), (e: any) => e instanceof OpenAI.RateLimitError && e.code === 'insufficient_quota');
      assert.equal((await t.admin.admin.organization.projects.spendLimit.retrieve(p.id)).enforcement.status, 'inactive', '2.1 of 3 cents: not reached');
    });

    test('a raised limit lets traffic through at once, a deleted one lifts it; other projects are not limited', async () => {
      const t = await tenant('spend-raise', 2);
      const [p, q] = t.projects as [{ id: string; key: string }, { id: string; key: string }];
      await t.admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
      assert.equal((await chat(p.key)).status, 200); // 0.7 spent
      assert.equal((await chat(p.key)).status, 429);
      assert.equal((await chat(q.key)).status, 200, 'the other project has no limit');
      assert.equal((await chat(p.key, 'spend-free')).status, 200, 'not reached (0.7 of 1 cent): a request that costs nothing fits');
      await t.admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 2, currency: 'USD', interval: 'month' });
      assert.equal((await chat(p.key)).status, 200, 'raised: the next request passes'); // 1.4 spent
      assert.equal((await chat(p.key)).status, 429, '1.4 + 1 > 2');
      await t.admin.admin.organization.projects.spendLimit.delete(p.id);
      assert.equal((await chat(p.key)).status, 200, 'deleted: no limit');
      // a lowered limit below the spend refuses at once
      await t.admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
      assert.equal((await chat(p.key)).status, 429);
      assert.equal((await chat(p.key, 'spend-free')).status, 429, 'a reached limit refuses even a model priced at nothing');
      await s.rt.core.flush();
      assert.equal((await t.admin.admin.organization.projects.spendLimit.retrieve(p.id)).enforcement.status, 'enforcing', '2.1 cents ≥ 1 cent');
      const audits = await s.rt.store.db.selectFrom('audit_logs').select(['type']).where('org_id', '=', t.orgId).where('type', 'like', 'spend_limit.%').execute();
      assert.deepEqual(audits.map((a) => a.type).sort(), ['spend_limit.deleted', 'spend_limit.updated', 'spend_limit.updated', 'spend_limit.updated']);
    });

    test('a failed request gives its reservation back', async () => {
      const t = await tenant('spend-refund');
      const p = t.projects[0]!;
      await t.admin.admin.organization.projects.spendLimit.update(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month' });
      // one reservation fits in 1 cent: were failures kept, the second would be refused
      for (let i = 0; i < 5; i++) assert.equal((await chat(p.key, 'spend-fail-400')).status, 400, 'the upstream refused: nothing charged');
      assert.equal((await chat(p.key)).status, 200);
      assert.equal((await chat(p.key)).status, 429, '0.7 spent + 1 reserved > 1');
    });

    test("an organization limit counts every project's spend", async () => {
      const t = await tenant('spend-org', 2);
      const [p, q] = t.projects as [{ id: string; key: string }, { id: string; key: string }];
      await t.admin.admin.organization.spendLimit.update({ threshold_amount: 2, currency: 'USD', interval: 'month' });
      const start = mock.received.length;
      assert.equal((await chat(p.key)).status, 200); // 0.7
      assert.equal((await chat(q.key)).status, 200); // 1.4
      const r = await chat(p.key);
      assert.equal(r.status, 429);
      assert.match(r.json.error.message, /Your organization has a hard spend limit of \$0\.02 per month/);
      assert.equal((await chat(q.key)).status, 429);
      assert.equal(sentFor(start), 2);
      await t.admin.admin.organization.spendLimit.delete();
      assert.equal((await chat(q.key)).status, 200);
    });

    test('an alert fires once per period: one audit event, one signed webhook; a failing receiver is retried with backoff', async () => {
      const t = await tenant('spend-alert');
      const p = t.projects[0]!;
      const projectAlert = await t.admin.admin.organization.projects.spendAlerts.create(p.id, { threshold_amount: 1, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: ['ops@example.com'] } });
      const orgAlert = await t.admin.admin.organization.spendAlerts.create({ threshold_amount: 100, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: ['ceo@example.com'] } });
      const before = receiver.got.length;
      receiver.state.failing = 2; // the first two tries fail: delivered on the third
      assert.equal((await chat(p.key)).status, 200); // 0.7 cent: below 1 cent
      await s.rt.core.flush();
      await s.rt.core.spendAlerts.settledChecks();
      assert.equal(receiver.got.length, before, 'nothing below the threshold');
      assert.equal((await chat(p.key)).status, 200); // 1.4 cents
      await s.rt.core.flush();
      await s.rt.core.spendAlerts.settledChecks();
      await until('the webhook delivered', () => receiver.got.some((g, i) => i >= before && g.status === 204));
      const tries = receiver.got.slice(before);
      assert.deepEqual(tries.map((g) => g.status), [500, 500, 204], 'retried after failures, then delivered once');
      const secret = (await (await fetch(`${s.url}/platform/v1/organizations/${t.slug}/webhook_secret`, { headers: { authorization: `Bearer ${ROOT_KEY}` } })).json()) as any;
      for (const g of tries) {
        assert.ok(verify(secret.secret, g.headers['keyplane-signature'] as string, g.body), 'valid signature');
        assert.ok(!verify(`${secret.secret}x`, g.headers['keyplane-signature'] as string, g.body));
        assert.equal(g.headers['keyplane-delivery'], `${projectAlert.id}:${new Date().toISOString().slice(0, 7)}`, 'the same delivery id on every retry');
      }
      const payload = JSON.parse(tries[2]!.body);
      assert.equal(payload.object, 'spend_alert.triggered');
      assert.equal(payload.project_id, p.id);
      assert.equal(payload.threshold_amount, 1);
      assert.equal(payload.spend_nano_usd, 14 * CENT / 10);
      assert.equal(payload.alert.id, projectAlert.id);
      // more traffic in the same period fires nothing more
      assert.equal((await chat(p.key)).status, 200);
      await s.rt.core.flush();
      await s.rt.core.spendAlerts.settledChecks();
      const events = await s.rt.store.db.selectFrom('audit_logs').selectAll().where('org_id', '=', t.orgId).where('type', '=', 'spend_alert.triggered').execute();
      assert.equal(events.length, 1, 'one audit event for the period');
      assert.equal(events[0]!.target_id, projectAlert.id);
      assert.equal(events[0]!.actor_type, 'system');
      assert.equal(receiver.got.length - before, 3, 'no second notification');
      // even a node that forgot what it fired cannot fire twice: the period's row is in the database
      const fired = await s.rt.store.db.selectFrom('spend_alert_firings').selectAll().where('alert_id', '=', projectAlert.id).execute();
      assert.equal(fired.length, 1);
      assert.ok(!(await s.rt.store.db.selectFrom('spend_alert_firings').selectAll().where('alert_id', '=', orgAlert.id).executeTakeFirst()), 'the 1-dollar organization alert has not fired');
    });

    test('the webhook secret is per organization and needs the root key', async () => {
      const a = await tenant('hook-a');
      const b = await tenant('hook-b');
      const get = (slug: string, key: string | undefined) => fetch(`${s.url}/platform/v1/organizations/${slug}/webhook_secret`, { headers: key ? { authorization: `Bearer ${key}` } : {} }).then(readResponse);
      const sa = await get(a.slug, ROOT_KEY);
      const sb = await get(b.slug, ROOT_KEY);
      assert.equal(sa.status, 200);
      assert.match(sa.json.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.notEqual(sa.json.secret, sb.json.secret);
      assert.equal(sa.json.organization_id, a.orgId);
      assert.equal((await get(a.slug, a.adminKey)).status, 401);
      assert.equal((await get('no-such-org', ROOT_KEY)).status, 404);
    });
  });
}
