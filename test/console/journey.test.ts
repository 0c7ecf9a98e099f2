// The console end to end, as a tenant admin runs a tenant (issue [10]'s journey), in headless
// Chromium against a real keyplane server and a mock LLM upstream (a real HTTP server), on SQLite
// and PostgreSQL. Everything the admin does goes through the pages:
//
//   sign in → invite a colleague and make a sign-up link → the colleague accepts in a fresh browser →
//   add the provider credential (pointing at the mock) → create a project and a key, the secret
//   shown once → call the gateway with that key → the usage page's numbers move → rotate the
//   credential (the gateway still answers) → set a rate limit of 1 request a minute → the gateway
//   answers 429 → the audit log shows each step.
//
// Then the colleague (an organization reader) tries every one of those actions with their own
// session and CSRF token, straight at the server: each is refused 403 and nothing changes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects, tmpDir } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';

const PASSWORD = 'a tenant admin password';
const UPSTREAM_KEY = 'sk-upstream-secret'; // the only key the mock upstream accepts
const MODEL = 'gpt-4o-mini';
const ready = chromiumPresent();
/** Problems but the expected: the session probe's 401 before sign-in, Chromium's favicon 404, and the 403s the reader provokes on purpose. */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404)/.test(p));

function modelsFile(): string {
  const file = path.join(tmpDir('kp-journey-models'), 'models.json');
  fs.writeFileSync(file, JSON.stringify({ [MODEL]: { max_requests_per_1_minute: 10_000, max_tokens_per_1_minute: 10_000_000, prices: { input: 0.15, cached_input: 0.075, output: 0.6 } } }));
  return file;
}

for (const dialect of await testDialects()) {
  describe(`console journey (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, async () => {
    let s: TestServer;
    let b: TestBrowser;
    let mock: MockUpstream;
    /** A second provider endpoint: the credential is rotated to point there. */
    let mock2: MockUpstream;
    const slug = `journey-${randomBytes(3).toString('hex')}`;
    const owner = { email: `ada-${slug}@example.com`, id: '' };
    const colleague = { email: `bo-${slug}@example.com`, name: 'Bo Reader' };
    let orgId = '';
    let projectId = '';
    let keyId = '';
    let secret = '';

    before(async () => {
      if (!ready) return;
      mock = await startMockUpstream();
      mock2 = await startMockUpstream();
      s = await startServer(dialect, { modelsFile: modelsFile() });
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Journey Ltd', slug, ownerEmail: owner.email, ownerName: 'Ada Admin' });
      orgId = created.org.id;
      owner.id = created.owner.id;
      await s.rt.core.consoleSessions.setPassword(owner.id, PASSWORD);
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
      await mock?.close();
      await mock2?.close();
    });

    const go = (page: Page, hash: string) => page.goto(`${s.url}/console/#${hash}`);
    async function chat(key: string): Promise<{ status: number; body: any; headers: Headers }> {
      const res = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hello' }] }) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
    }
    async function usageRequests(page: Page): Promise<number> {
      await page.goto(`${s.url}/console/#/usage?days=7&group=day`);
      await page.reload(); // the numbers as the server has them now
      await page.locator('#usage-total-requests').waitFor();
      return Number(((await page.locator('#usage-total-requests').textContent()) ?? '').replace(/[^0-9]/g, ''));
    }

    test('a tenant admin runs the tenant in the browser, and the colleague who is a reader is refused by the server', async () => {
      const page = await b.newPage(1280);
      const problems = collectProblems(page);

      // sign in
      await go(page, '/signin');
      await page.getByLabel('Email', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();

      // invite a colleague as a reader, make a sign-up link; they accept it in a fresh browser
      await go(page, '/organization/invites');
      await page.getByLabel('Email', { exact: true }).fill(colleague.email);
      await page.getByLabel('Role', { exact: true }).selectOption('reader');
      await page.locator('#org-invite-submit').click();
      await page.locator('#org-invite-link-create').click();
      const link = await page.locator('#org-invite-link-value').inputValue();
      await screenshot(page, `journey-invite-link-${dialect}`);
      await page.locator('#org-invite-link-done').click();
      const other = await b.newPage(1280);
      const otherProblems = collectProblems(other);
      await other.goto(link);
      await other.getByLabel('Your name').fill(colleague.name);
      await other.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await other.getByLabel('Password again').fill(PASSWORD);
      await other.getByRole('button', { name: 'Join' }).click();
      await other.locator('#org-name').waitFor();

      // the provider credential, pointing at the mock upstream
      await go(page, '/credentials');
      await page.locator('#credentials-llm-name').fill('openai');
      await page.locator('#credentials-llm-value').fill(JSON.stringify({ key: UPSTREAM_KEY, base_url: `${mock.url}/v1` }));
      await page.locator('#credentials-llm-add').click();
      await page.locator('#credentials-llm-value-openai').waitFor();
      assert.ok(!(await page.content()).includes(UPSTREAM_KEY), 'the credential is shown masked');

      // a project and a key: the secret is shown once
      await go(page, '/projects');
      await page.locator('#project-create-name').fill('Journey app');
      await page.locator('#project-create-submit').click();
      await page.locator('#project-id').waitFor();
      projectId = (await page.locator('#project-id').textContent())!.trim();
      await page.locator('#project-tab-keys').click();
      await page.locator('#project-key-name').fill('backend');
      await page.locator('#project-key-create').click();
      secret = await page.locator('#project-key-secret-value').inputValue();
      assert.match(secret, /^sk-proj-/);
      await screenshot(page, `journey-key-once-${dialect}`);
      await page.reload();
      await page.locator('#project-keys-table tbody tr').first().waitFor();
      assert.ok(!(await page.content()).includes(secret), 'after a reload the secret is gone from the page');
      keyId = (await page.locator('#project-keys-table tbody tr[data-key-id]').first().getAttribute('data-key-id'))!;

      // the key works on the gateway, against the mock, with the tenant's credential
      const before = await usageRequests(page);
      const first = await chat(secret);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(mock.received.at(-1)!.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.equal((await chat(secret)).status, 200);
      await s.rt.core.usageRecorder.flush();
      const afterCalls = await usageRequests(page);
      assert.equal(afterCalls, before + 2, 'the usage page counts the two calls');
      await page.locator('#usage-chart-tokens canvas').waitFor();
      await screenshot(page, `journey-usage-${dialect}`);

      // rotate the credential (to another endpoint of the provider): the gateway uses the new value at once
      await go(page, '/credentials');
      await page.locator('#credentials-llm-rotate-openai').click();
      await page.locator('#credentials-llm-rotate-value').fill(JSON.stringify({ key: UPSTREAM_KEY, base_url: `${mock2.url}/v1` }));
      await page.locator('#credentials-llm-rotate-save').click();
      await page.locator('#credentials-llm-rotate-form').waitFor({ state: 'detached' });
      const rotated = await chat(secret);
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      assert.equal(mock2.received.length, 1, 'the rotated value sent the call to the new endpoint');
      assert.equal(mock2.received[0]!.headers.authorization, `Bearer ${UPSTREAM_KEY}`);

      // a rate limit of one request a minute: the next call is a 429
      await go(page, `/projects/${projectId}/limits`);
      const row = MODEL.replace(/[^A-Za-z0-9_-]/g, '_');
      await page.locator(`#project-limit-edit-${row}`).click();
      await page.locator(`#project-limit-${row}-max_requests_per_1_minute`).fill('1');
      await page.locator(`#project-limit-save-${row}`).click();
      await page.waitForFunction((m) => document.querySelector(`tr[data-model="${m}"] td[data-field="max_requests_per_1_minute"]`)?.textContent === '1', MODEL);
      let limited = await chat(secret);
      for (let i = 0; i < 3 && limited.status === 200; i++) limited = await chat(secret); // the minute's one request may still be free
      assert.equal(limited.status, 429, JSON.stringify(limited.body));
      assert.equal(limited.body.error.type, 'requests');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);

      // the audit log shows each step
      for (const type of ['invite.sent', 'invite.link_created', 'invite.accepted', 'credential.created', 'project.created', 'api_key.created', 'credential.updated', 'rate_limit.updated']) {
        await go(page, `/audit?type=${type}`);
        await page.locator(`#audit-table tr.audit-row[data-type="${type}"]`).first().waitFor();
      }
      await go(page, '/audit');
      await page.locator('#audit-table').waitFor();
      await screenshot(page, `journey-audit-${dialect}`);
      assert.deepEqual(realProblems(problems), []);

      // the colleague is a reader: no buttons, and the server refuses every one of those actions
      await other.goto(`${s.url}/console/#/projects`);
      await other.locator('#projects-empty').waitFor();
      assert.equal(await other.locator('#project-create-submit').count(), 0, 'no create button for a reader');
      await screenshot(other, `journey-reader-projects-${dialect}`);
      const snapshotBefore = await counts();
      const attempts: Array<[string, string, unknown?]> = [
        ['POST', '/v1/organization/invites', { email: 'someone@example.com', role: 'owner' }],
        ['POST', '/v1/organization/projects', { name: 'Not mine' }],
        ['POST', `/v1/organization/projects/${projectId}`, { name: 'Renamed' }],
        ['POST', `/v1/organization/projects/${projectId}/api_keys`, { user_id: owner.id, name: 'mine?' }],
        ['DELETE', `/v1/organization/projects/${projectId}/api_keys/${keyId}`],
        ['POST', `/v1/organization/projects/${projectId}/rate_limits/rl-${MODEL}`, { max_requests_per_1_minute: 1000 }],
        ['POST', `/v1/organization/projects/${projectId}/archive`],
        ['POST', `/api/ai-account/orgs/${slug}/credential/`, { name: 'anthropic', value: { key: 'sk-x' }, platform: slug }],
        ['PATCH', `/api/ai-account/orgs/${slug}/credential/`, { name: 'openai', value: { key: 'sk-stolen' }, platform: slug }],
        ['DELETE', `/api/ai-account/orgs/${slug}/credential/?name=openai`],
        ['POST', `/api/ai-account/orgs/${slug}/use-free-trial/`, { enable: true }],
      ];
      // from the reader's own page, with their session and CSRF token (no named inner functions: the page runs this source)
      const answers = await other.evaluate(async (list) => {
        const session = await (await fetch('/console/api/session')).json();
        const out: string[] = [];
        for (const [method, url, body] of list) {
          const res = await fetch(url, { method, headers: { 'x-csrf-token': session.csrf_token, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
          out.push(`${method} ${url} → ${res.status}`);
        }
        return out;
      }, attempts);
      for (const a of answers) assert.match(a, /→ 403$/, a);
      assert.deepEqual(await counts(), snapshotBefore, 'the refused actions changed nothing');
      assert.deepEqual(realProblems(otherProblems), []);
    });

    /** What the reader's attempts could have changed. */
    async function counts() {
      const db = s.rt.store.db;
      const n = async (q: Promise<Array<unknown>>) => (await q).length;
      return {
        invites: await n(db.selectFrom('invites').select('id').where('org_id', '=', orgId).execute()),
        projects: await n(db.selectFrom('projects').select(['id', 'status', 'name']).where('org_id', '=', orgId).execute()),
        keys: JSON.stringify(await db.selectFrom('api_keys').select(['id', 'status']).where('org_id', '=', orgId).orderBy('id').execute()),
        limits: JSON.stringify(await db.selectFrom('rate_limits').selectAll().where('project_id', '=', projectId).orderBy('model').execute()),
        credentials: JSON.stringify(await db.selectFrom('credentials').select(['name', 'updated_at']).where('org_id', '=', orgId).orderBy('name').execute()),
      };
    }
  });
}
