// The console's Usage page (and the home page's usage chart) in headless Chromium against a real
// keyplane server, on SQLite and PostgreSQL. Usage is made the way it is in production: a project's
// service-account key calls /v1/chat/completions through keyplane's gateway against a fake provider
// on loopback. The figures the page shows are checked against the sums of the OpenAI face's own
// Usage and Costs API answers (read with the admin key); grouping by model shows the models; more
// calls and a reload make the numbers grow; the CSV download holds exactly the table's rows; an
// organization without usage gets a plain "no usage" message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { openaiClient } from '../helpers/http.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';

const PASSWORD = 'correct horse battery staple 42';
const DAY = 86_400;
const ready = chromiumPresent();
/** Problems but the expected: the 401 of the session probe before sign-in, and 404s (Chromium's /favicon.ico; any other 404 is listed by URL below). */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|404)/.test(p));

function modelsFile(): string {
  const limits = { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000 };
  const file = path.join(tmpDir('kp-usage-models'), 'models.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      'gpt-4o-mini': { ...limits, prices: { input: 0.15, cached_input: 0.075, output: 0.6 } },
      'plain-chat': { ...limits, prices: { input: 2.5, cached_input: 1.25, output: 10 } },
    }),
  );
  return file;
}

async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}

/** "$0.000011250" → 11250 (nano-USD), digit by digit: no float rounding in the check. */
function nanoOfText(text: string): number {
  const m = /^\$(\d+)\.(\d{2,9})$/.exec(text.trim());
  assert.ok(m, `a dollar amount: ${text}`);
  return Number(m[1]) * 1e9 + Number(m[2]!.padEnd(9, '0'));
}

interface Sums { requests: number; input: number; output: number; costNano: number }

for (const dialect of await testDialects()) {
  describe(`console usage page (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, async () => {
    let s: TestServer;
    let b: TestBrowser;
    let mock: MockUpstream;
    let key: string;
    let projectId: string;
    const owner = { email: `usage-owner-${randomBytes(3).toString('hex')}@example.com`, id: '' };
    const quiet = { email: `quiet-owner-${randomBytes(3).toString('hex')}@example.com`, id: '', slug: `quiet-${randomBytes(3).toString('hex')}` };

    before(async () => {
      if (!ready) return;
      mock = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile() });
      const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: 'sk-upstream-secret', base_url: `${mock.url}/v1` }, platform: 'main' });
      owner.id = (await s.rt.core.users.addMember(SYSTEM, orgId, { email: owner.email, name: 'Uma Usage', role: 'owner' })).id;
      const q = await s.rt.core.orgs.create(SYSTEM, { name: 'Quiet Org', slug: quiet.slug, ownerEmail: quiet.email, ownerName: 'Quinn Quiet' });
      quiet.id = q.owner.id;
      for (const u of [owner, quiet]) await s.rt.core.consoleSessions.setPassword(u.id, PASSWORD);
      const admin = openaiClient(s, s.adminKey);
      const project = await admin.admin.organization.projects.create({ name: 'Usage project' });
      projectId = project.id;
      key = (await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'usage-bot' })).api_key!.value;
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
      await mock?.close();
    });

    /** Chat completions through the gateway with the project's key; the usage is written before it returns. */
    async function calls(models: string[]): Promise<void> {
      for (const model of models) {
        const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
        assert.equal(res.status, 200, await res.text());
      }
      await s.rt.core.usageRecorder.flush();
    }

    /** Every bucket of a Usage/Costs API list (admin key), following next_page. */
    async function buckets(url: string): Promise<Array<{ start_time: number; results: any[] }>> {
      const out: Array<{ start_time: number; results: any[] }> = [];
      let page: string | null = null;
      do {
        const res: Response = await fetch(`${s.url}${url}${page ? `&page=${encodeURIComponent(page)}` : ''}`, { headers: { authorization: `Bearer ${s.adminKey}` } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { data: Array<{ start_time: number; results: any[] }>; next_page: string | null };
        out.push(...body.data);
        page = body.next_page;
      } while (page);
      return out;
    }

    /** The API's sums over `days` days ending today: in all, and per group value (model, …). */
    async function apiSums(days: number, groupBy?: 'model' | 'project_id'): Promise<{ total: Sums; groups: Map<string, Sums> }> {
      const start = Math.floor(Date.now() / 1000 / DAY) * DAY - (days - 1) * DAY;
      const base = `start_time=${start}&bucket_width=1d&limit=${Math.min(days, 7)}`; // small pages: next_page is followed
      const total: Sums = { requests: 0, input: 0, output: 0, costNano: 0 };
      const groups = new Map<string, Sums>();
      const group = (g: string) => groups.get(g) ?? (groups.set(g, { requests: 0, input: 0, output: 0, costNano: 0 }), groups.get(g)!);
      for (const bucket of await buckets(`/v1/organization/usage/completions?${base}${groupBy ? `&group_by=${groupBy}` : ''}`)) {
        for (const r of bucket.results) {
          total.requests += r.num_model_requests;
          total.input += r.input_tokens;
          total.output += r.output_tokens;
          if (groupBy) {
            const g = group(r[groupBy]);
            g.requests += r.num_model_requests;
            g.input += r.input_tokens;
            g.output += r.output_tokens;
          }
        }
      }
      const costGroup = groupBy === 'model' ? 'line_item' : groupBy;
      for (const bucket of await buckets(`/v1/organization/costs?${base}${costGroup ? `&group_by=${costGroup}` : ''}`)) {
        for (const c of bucket.results) {
          const nano = Math.round(c.amount.value * 1e9);
          total.costNano += nano;
          if (groupBy === 'model') group(String(c.line_item).replace(/, (input|cached input|output)$/, '')).costNano += nano;
          else if (groupBy) group(c[groupBy]).costNano += nano;
        }
      }
      return { total, groups };
    }

    async function signIn(email: string, org: string, width = 1280): Promise<{ page: Page; problems: string[] }> {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      page.on('response', (r) => void (r.status() >= 400 && r.status() !== 401 && !r.url().endsWith('/favicon.ico') && problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`)));
      await page.goto(`${s.url}/console/#/signin`);
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Organization (optional)').fill(org);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();
      return { page, problems };
    }

    /** The totals the page shows, once loaded. */
    async function shown(page: Page): Promise<Sums> {
      await page.locator('#usage-totals').waitFor();
      await page.waitForFunction(() => !document.querySelector('.usage-body.is-loading'));
      const v = async (id: string) => Number(await page.locator(id).getAttribute('data-value'));
      return { requests: await v('#usage-total-requests'), input: await v('#usage-total-input'), output: await v('#usage-total-output'), costNano: nanoOfText((await page.locator('#usage-total-cost').textContent()) ?? '') };
    }

    /** The table as text: header and rows, cell by cell (inline callbacks: tsx names assigned functions with a helper the page lacks). */
    const tableText = async (page: Page) => ({
      header: await page.locator('#usage-table thead th').allTextContents(),
      rows: await page.$$eval('#usage-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('th, td')).map((c) => c.textContent ?? ''))),
    });

    test('the totals, charts and table show the API\'s sums; by model; more calls show after a reload; the CSV is the table', async () => {
      await calls(['gpt-4o-mini', 'gpt-4o-mini', 'plain-chat']);
      const { page, problems } = await signIn(owner.email, 'main');

      // the home page's chart: tokens of the last 14 days, as the API sums them
      const home = await apiSums(14);
      await page.locator('#home-usage-total').waitFor();
      assert.equal(await page.locator('#home-usage-total').textContent(), (home.total.input + home.total.output).toLocaleString('en-US'));
      assert.equal(await page.locator('#home-usage-chart canvas').count(), 1);

      await page.getByRole('link', { name: 'Usage', exact: true }).click();
      await page.getByRole('heading', { name: 'Usage', exact: true }).waitFor();
      const first = await apiSums(7);
      assert.deepEqual(first.total.requests, 3);
      assert.ok(first.total.costNano > 0, 'the models have prices');
      assert.deepEqual(await shown(page), first.total);
      for (const id of ['#usage-chart-tokens', '#usage-chart-cost']) assert.equal(await page.locator(`${id} canvas`).count(), 1, id);
      // per day: seven rows, today's holding everything
      const byDay = await tableText(page);
      assert.deepEqual(byDay.header, ['Day', 'Requests', 'Input tokens', 'Output tokens', 'Cost (USD)']);
      assert.equal(byDay.rows.length, 7);
      const today = new Date().toISOString().slice(0, 10);
      const todayRow = byDay.rows.find((r) => r[0] === today)!;
      assert.deepEqual(todayRow.slice(1, 4), [String(first.total.requests), String(first.total.input), String(first.total.output)]);
      assert.equal(nanoOfText(todayRow[4]!), first.total.costNano);

      // rows per model: each model with its own sums
      await page.locator('#usage-group').selectOption('model');
      await page.waitForFunction(() => document.querySelector('#usage-table thead th')?.textContent === 'Model');
      const byModel = await apiSums(7, 'model');
      const t = await tableText(page);
      assert.equal(t.rows.length, byModel.groups.size);
      for (const [model, sums] of byModel.groups) {
        const row = t.rows.find((r) => r[0] === model);
        assert.ok(row, `a row for ${model}: ${JSON.stringify(t.rows)}`);
        assert.deepEqual(row.slice(1, 4).map(Number), [sums.requests, sums.input, sums.output], model);
        assert.equal(nanoOfText(row[4]!), sums.costNano, model);
      }
      assert.ok(t.rows.some((r) => r[0]!.startsWith('gpt-4o-mini')) && t.rows.some((r) => r[0]!.startsWith('plain-chat')), JSON.stringify(t.rows));
      assert.match(page.url(), /#\/usage\?days=7&group=model$/);
      await screenshot(page, `usage-1280-${dialect}`);

      // the CSV holds exactly the table's rows
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#usage-csv').click()]);
      assert.equal(download.suggestedFilename(), 'usage-7d-by-model.csv');
      const csv = fs.readFileSync((await download.path())!, 'utf8');
      const lines = csv.trimEnd().split('\r\n').map((l) => l.split(','));
      assert.deepEqual(lines, [t.header, ...t.rows]);

      // more calls; a reload (the choices are in the address) shows the new sums
      await calls(['plain-chat', 'gpt-4o-mini', 'plain-chat']);
      await page.reload();
      await page.waitForFunction(() => document.querySelector('#usage-table thead th')?.textContent === 'Model');
      const second = await apiSums(7);
      assert.equal(second.total.requests, first.total.requests + 3);
      assert.ok(second.total.input > first.total.input && second.total.costNano > first.total.costNano);
      assert.deepEqual(await shown(page), second.total);
      const grown = await apiSums(7, 'model');
      const t2 = await tableText(page);
      for (const [model, sums] of grown.groups) assert.deepEqual(t2.rows.find((r) => r[0] === model)!.slice(1, 4).map(Number), [sums.requests, sums.input, sums.output], model);

      // 30 days: the same usage (all of it is from today)
      await page.locator('#usage-range').selectOption('30');
      await page.waitForFunction(() => location.hash.includes('days=30'));
      assert.deepEqual(await shown(page), (await apiSums(30)).total);

      // rows per project: the project's name beside its id
      await page.locator('#usage-group').selectOption('project_id');
      await page.waitForFunction(() => document.querySelector('#usage-table thead th')?.textContent === 'Project');
      const byProject = await apiSums(30, 'project_id');
      const tp = await tableText(page);
      assert.deepEqual(tp.header, ['Project', 'Project ID', 'Requests', 'Input tokens', 'Output tokens', 'Cost (USD)']);
      const p = byProject.groups.get(projectId)!;
      assert.deepEqual(tp.rows, [['Usage project', projectId, String(p.requests), String(p.input), String(p.output), tp.rows[0]![5]!]]);
      assert.equal(nanoOfText(tp.rows[0]![5]!), p.costNano);
      assert.deepEqual(realProblems(problems), []);
    });

    test('at 375 px the page fits the screen', async () => {
      const { page, problems } = await signIn(owner.email, 'main', 375);
      await page.goto(`${s.url}/console/#/usage?days=7`);
      assert.deepEqual(await shown(page), (await apiSums(7)).total);
      await page.locator('#usage-chart-cost canvas').waitFor();
      await assertFitsWidth(page, 375, 'usage');
      await screenshot(page, `usage-375-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });

    test('an organization without usage: zeros, a plain message, no chart, no CSV', async () => {
      const { page, problems } = await signIn(quiet.email, quiet.slug);
      assert.equal(await page.locator('#home-usage-total').textContent(), '0');
      await page.goto(`${s.url}/console/#/usage`);
      await page.locator('#usage-empty').waitFor();
      assert.deepEqual(await shown(page), { requests: 0, input: 0, output: 0, costNano: 0 });
      assert.equal(await page.locator('#usage-table').count(), 0);
      assert.equal(await page.locator('#usage-chart-tokens').count(), 0);
      assert.ok(await page.locator('#usage-csv').isDisabled());
      await screenshot(page, `usage-empty-1280-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
