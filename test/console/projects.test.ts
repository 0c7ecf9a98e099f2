// The console's Projects pages in headless Chromium against a real keyplane server, on SQLite and
// PostgreSQL: an owner creates, renames and staffs a project, issues a key whose secret is shown once
// (never again after a reload), sets its expiry, revokes it after a confirmation, sets a rate limit and
// model permissions; a project `member` (org role reader) sees only their project, without its owner
// controls, and the server refuses their writes to another project; the keys list pages by keyset.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { http } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple 42';
const ready = chromiumPresent();

/** Problems the page reported other than HTTP refusals the pages expect (no spend limit is a 404; the refused writes). */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404)/.test(p));

async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  const widest = scrollWidth <= width ? '' : await page.evaluate((w) => Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > w).slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}`).join(' '), width);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen (${widest})`);
}

/** Every place the page holds `text`: element text (leaves) and input/textarea values. */
async function occurrences(page: Page, text: string): Promise<number> {
  return page.evaluate((t) => {
    let n = 0;
    for (const el of Array.from(document.querySelectorAll('input, textarea'))) if ((el as HTMLInputElement).value.includes(t)) n++;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) if ((node.textContent ?? '').includes(t)) n++;
    if (document.documentElement.outerHTML.includes(t) && n === 0) n++;
    return n;
  }, text);
}

for (const dialect of await testDialects()) {
  describe(`console Projects pages (${dialect})`, { skip: !ready && `no ${CHROMIUM} (.ci/run installs Debian's chromium)` }, async () => {
    let s: TestServer;
    let b: TestBrowser;
    let orgId: string;
    let adminKey: string;
    const slug = `rockets-${randomBytes(3).toString('hex')}`;
    const owner = { email: `owner-${randomBytes(3).toString('hex')}@acme.example`, id: '' };
    const reader = { email: `reader-${randomBytes(3).toString('hex')}@acme.example`, id: '' };
    let projA: string;
    let projB: string;
    if (!ready) return;

    const api = async (method: string, path: string, body?: unknown) => {
      const r = await http(s, method, path, adminKey, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
      return r.json;
    };

    before(async () => {
      s = await startServer(dialect, { rootKey: randomBytes(32).toString('hex') });
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Acme Rockets', slug, ownerEmail: owner.email, ownerName: 'Ada Owner' });
      orgId = created.org.id;
      owner.id = created.owner.id;
      adminKey = created.adminKey.secret;
      const r = await s.rt.core.users.addMember(SYSTEM, orgId, { email: reader.email, name: 'Rita Reader', role: 'reader' });
      reader.id = r.id;
      await s.rt.core.consoleSessions.setPassword(owner.id, PASSWORD);
      await s.rt.core.consoleSessions.setPassword(reader.id, PASSWORD);
      projA = (await api('POST', '/v1/organization/projects', { name: 'Project Alpha' })).id;
      projB = (await api('POST', '/v1/organization/projects', { name: 'Project Beta' })).id;
      // the reader is a `member` of project A only, added through the API
      await api('POST', `/v1/organization/projects/${projA}/users`, { user_id: reader.id, role: 'member' });
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
    });

    const signIn = async (email: string, width = 1280, hash = '#/projects') => {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      await page.goto(`${s.url}/console#/signin`);
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Organization (optional)').fill(slug);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();
      await page.goto(`${s.url}/console${hash}`);
      return { page, problems };
    };
    const title = (page: Page) => page.locator('#page-title').textContent();

    test('an owner creates, renames and staffs a project, issues a key seen once, sets its expiry and revokes it after confirming', async () => {
      const { page, problems } = await signIn(owner.email);
      await page.locator('#projects-table').waitFor();
      await screenshot(page, `projects-list-1280-${dialect}`);
      assert.ok(await page.locator(`[data-project-id="${projA}"]`).isVisible());
      assert.ok(await page.locator(`[data-project-id="${projB}"]`).isVisible());
      // an empty name is pointed out next to the field, nothing is sent
      await page.locator('#project-create-submit').click();
      assert.equal(await page.locator('#project-create-name-error').textContent(), 'Give the project a name.');
      await page.locator('#project-create-name').fill('Launch Pad');
      assert.equal(await page.locator('#project-create-name-error').count(), 0, 'typing clears the error');
      await page.locator('#project-create-submit').click();
      await page.locator('#project-id').waitFor();
      assert.equal(await title(page), 'Launch Pad');
      const id = (await page.locator('#project-id').textContent())!;
      assert.equal((await api('GET', `/v1/organization/projects/${id}`)).name, 'Launch Pad');

      await page.locator('#project-rename').click();
      await page.locator('#project-rename-name').fill('Launch Pad II');
      await page.locator('#project-rename-submit').click();
      await page.getByRole('heading', { name: 'Launch Pad II' }).waitFor();
      assert.equal((await api('GET', `/v1/organization/projects/${id}`)).name, 'Launch Pad II');

      // members: the creator is the project's owner already; an unknown email gets the server's words
      // next to the field; then the owner adds the reader
      await page.locator('#project-tab-members').click();
      await page.locator('#project-member-add-user').fill('nobody@acme.example');
      await page.locator('#project-member-add').click();
      await page.locator('#project-member-add-user-error').waitFor();
      assert.match((await page.locator('#project-member-add-user-error').textContent())!, /No organization member with email/);
      await page.locator(`[data-user-id="${owner.id}"]`).waitFor();
      assert.match((await page.locator(`[data-user-id="${owner.id}"]`).textContent())!, /owner/i);
      await page.locator('#project-member-add-user').fill(reader.id);
      await page.locator('#project-member-add-role').selectOption('member');
      await page.locator('#project-member-add').click();
      await page.locator(`[data-user-id="${reader.id}"]`).waitFor();
      await screenshot(page, `project-members-1280-${dialect}`);
      await page.locator(`#project-member-role-${reader.id}`).selectOption('owner');
      await page.waitForFunction(async ([u]) => (await fetch(u!, { credentials: 'same-origin' }).then((r) => r.json())).role === 'owner', [`/v1/organization/projects/${id}/users/${reader.id}`]);
      assert.equal((await api('GET', `/v1/organization/projects/${id}/users/${reader.id}`)).role, 'owner');
      // removing asks first
      await page.locator(`#project-member-remove-${reader.id}`).click();
      await page.locator(`#project-member-remove-${reader.id}-yes`).waitFor();
      assert.equal((await http(s, 'GET', `/v1/organization/projects/${id}/users/${reader.id}`, adminKey)).status, 200, 'nothing removed before the confirmation');
      await page.locator(`#project-member-remove-${reader.id}-yes`).click();
      await page.locator(`[data-user-id="${reader.id}"]`).waitFor({ state: 'detached' });
      assert.equal((await http(s, 'GET', `/v1/organization/projects/${id}/users/${reader.id}`, adminKey)).status, 404);

      // a key for the owner: the secret is shown once, with a copy button
      await page.locator('#project-tab-keys').click();
      await page.locator('#project-key-create').waitFor();
      await page.locator('#project-key-name').fill('ci-deploy');
      await page.locator('#project-key-create').click();
      await page.locator('#project-key-secret-value').waitFor();
      const secret = await page.locator('#project-key-secret-value').inputValue();
      assert.ok(secret.length > 20, secret);
      assert.ok(await page.locator('#project-key-secret-copy').isVisible());
      await page.locator('#project-keys-table tbody tr').first().waitFor();
      assert.equal(await occurrences(page, secret), 1, 'the secret is on the page exactly once (the secret-once box)');
      const keys = (await api('GET', `/v1/organization/projects/${id}/api_keys`)).data as Array<{ id: string; name: string; redacted_value: string; expires_at: number | null }>;
      assert.equal(keys.length, 1);
      const key = keys[0]!;
      assert.equal(key.name, 'ci-deploy');
      assert.notEqual(key.redacted_value, secret);
      assert.ok(((await page.locator(`[data-key-id="${key.id}"]`).textContent()) ?? '').includes(key.redacted_value));
      await screenshot(page, `project-keys-1280-${dialect}`);

      // after a reload only the redacted value is left: the secret is nowhere in the page
      await page.reload();
      await page.locator(`[data-key-id="${key.id}"]`).waitFor();
      assert.equal(await page.locator('#project-key-secret').count(), 0);
      assert.equal(await occurrences(page, secret), 0, 'the secret is gone after a reload');
      assert.ok(!(await page.content()).includes(secret));
      assert.ok(((await page.locator(`[data-key-id="${key.id}"] .redacted`).textContent()) ?? '') === key.redacted_value);

      // expiry: 10 days from now
      await page.locator(`#project-key-expiry-open-${key.id}`).click();
      await page.locator(`#project-key-expiry-${key.id}`).fill('0');
      await page.locator(`#project-key-expiry-save-${key.id}`).click();
      assert.match((await page.locator(`#project-key-expiry-${key.id}-error`).textContent())!, /whole number of days/);
      await page.locator(`#project-key-expiry-${key.id}`).fill('10');
      const before = Math.floor(Date.now() / 1000);
      await page.locator(`#project-key-expiry-save-${key.id}`).click();
      await page.locator(`#project-key-expiry-open-${key.id}`).waitFor();
      const expires = (await api('GET', `/v1/organization/projects/${id}/api_keys/${key.id}`)).expires_at as number;
      assert.ok(Math.abs(expires - (before + 10 * 86_400)) < 120, `expires_at ${expires}`);
      assert.ok(!((await page.locator(`[data-key-id="${key.id}"]`).textContent()) ?? '').includes('Never used') );

      // revoke: the first click asks, Cancel keeps the key, "Yes" revokes it
      await page.locator(`#project-key-revoke-${key.id}`).click();
      await page.locator(`#project-key-revoke-${key.id}-no`).click();
      assert.equal((await http(s, 'GET', `/v1/organization/projects/${id}/api_keys/${key.id}`, adminKey)).status, 200);
      await page.locator(`#project-key-revoke-${key.id}`).click();
      assert.match((await page.locator(`#project-key-revoke-${key.id}-q`).textContent())!, /Revoke ci-deploy/);
      await page.locator(`#project-key-revoke-${key.id}-yes`).click();
      await page.locator(`[data-key-id="${key.id}"]`).waitFor({ state: 'detached' });
      assert.equal((await api('GET', `/v1/organization/projects/${id}/api_keys`)).data.length, 0);

      // archive, after confirming: the project turns read-only and leaves the default list
      await page.locator('#project-archive').click();
      assert.equal((await api('GET', `/v1/organization/projects/${id}`)).status, 'active', 'nothing archived before the confirmation');
      await page.locator('#project-archive-yes').click();
      await page.locator('#project-archived').waitFor();
      assert.equal(await page.locator('#project-rename').count(), 0);
      assert.equal(await page.locator('#project-key-create').count(), 0);
      assert.equal((await api('GET', `/v1/organization/projects/${id}`)).status, 'archived');
      await page.locator('a', { hasText: 'All projects' }).click();
      await page.locator(`[data-project-id="${projA}"]`).waitFor();
      assert.equal(await page.locator(`[data-project-id="${id}"]`).count(), 0);
      await page.locator('#projects-include-archived').check();
      await page.locator(`[data-project-id="${id}"]`).waitFor();
      assert.match((await page.locator(`[data-project-id="${id}"]`).textContent())!, /Archived/);
      assert.deepEqual(realProblems(problems), []);
    });

    test('an owner sets a rate limit and model permissions', async () => {
      const { page, problems } = await signIn(owner.email, 1280, `#/projects/${projA}/limits`);
      const limits = (await api('GET', `/v1/organization/projects/${projA}/rate_limits?limit=100`)).data as Array<{ id: string; model: string; max_requests_per_1_minute: number }>;
      const first = limits[0]!;
      const slug = first.model.replace(/[^A-Za-z0-9_-]/g, '_');
      await page.locator(`#project-limit-edit-${slug}`).waitFor();
      await screenshot(page, `project-limits-1280-${dialect}`);
      await page.locator(`#project-limit-edit-${slug}`).click();
      const field = page.locator(`#project-limit-${slug}-max_requests_per_1_minute`);
      await field.fill('0');
      await page.locator(`#project-limit-save-${slug}`).click();
      assert.equal(await page.locator(`#project-limit-${slug}-max_requests_per_1_minute-error`).textContent(), 'Enter a whole number, 1 or more.');
      await field.fill('123');
      await page.locator(`#project-limit-save-${slug}`).click();
      await page.locator(`tr[data-model="${first.model}"] td[data-field="max_requests_per_1_minute"]`).waitFor();
      assert.equal(await page.locator(`tr[data-model="${first.model}"] td[data-field="max_requests_per_1_minute"]`).textContent(), '123');
      const after = (await api('GET', `/v1/organization/projects/${projA}/rate_limits?limit=100`)).data.find((r: { id: string }) => r.id === first.id);
      assert.equal(after.max_requests_per_1_minute, 123);

      await page.locator('#project-tab-models').click();
      await page.locator('#project-models-form').waitFor();
      assert.equal(await page.locator('#project-models-summary').textContent(), 'Every model may be used.');
      await page.locator('#project-models-mode-allow').check();
      await page.locator('#project-models-save').click();
      assert.match((await page.locator('#project-models-ids-error').textContent())!, /name at least one model/);
      await page.locator('#project-models-ids').fill('gpt-4o-mini\ngpt-4.1');
      await page.locator('#project-models-save').click();
      await page.locator('#project-models-saved').waitFor();
      await page.waitForFunction(() => document.querySelector('#project-models-summary')?.textContent?.startsWith('Only these'));
      assert.deepEqual(await api('GET', `/v1/organization/projects/${projA}/model_permissions`), { object: 'project.model_permissions', mode: 'allow_list', model_ids: ['gpt-4o-mini', 'gpt-4.1'] });
      await page.locator('#project-models-delete').click();
      await page.locator('#project-models-delete-yes').click();
      await page.waitForFunction(() => document.querySelector('#project-models-summary')?.textContent === 'Every model may be used.');
      assert.deepEqual((await api('GET', `/v1/organization/projects/${projA}/model_permissions`)).model_ids, []);
      assert.deepEqual(realProblems(problems), []);
    });

    test('an owner manages service accounts (the key shown once) and the spend limit and alerts', async () => {
      const { page, problems } = await signIn(owner.email, 1280, `#/projects/${projA}/service-accounts`);
      await page.locator('#project-sa-name').fill('nightly-batch');
      await page.locator('#project-sa-create').click();
      await page.locator('#project-sa-secret-value').waitFor();
      const secret = await page.locator('#project-sa-secret-value').inputValue();
      const sa = ((await api('GET', `/v1/organization/projects/${projA}/service_accounts`)).data as Array<{ id: string; name: string }>).find((a) => a.name === 'nightly-batch')!;
      await page.locator(`[data-sa-id="${sa.id}"]`).waitFor();
      assert.equal(await occurrences(page, secret), 1);
      await page.locator('#project-sa-secret-done').click();
      assert.equal(await occurrences(page, secret), 0, 'gone once the user says it is copied');
      await page.locator(`#project-sa-delete-${sa.id}`).click();
      await page.locator(`#project-sa-delete-${sa.id}-yes`).click();
      await page.locator(`[data-sa-id="${sa.id}"]`).waitFor({ state: 'detached' });
      assert.equal((await http(s, 'GET', `/v1/organization/projects/${projA}/service_accounts/${sa.id}`, adminKey)).status, 404);

      await page.locator('#project-tab-spend').click();
      await page.locator('#project-spend-limit-current').waitFor();
      assert.match((await page.locator('#project-spend-limit-current').textContent())!, /No limit/);
      await page.locator('#project-spend-limit-amount').fill('twelve');
      await page.locator('#project-spend-limit-save').click();
      assert.match((await page.locator('#project-spend-limit-amount-error').textContent())!, /amount in dollars/);
      await page.locator('#project-spend-limit-amount').fill('250.50');
      await page.locator('#project-spend-limit-save').click();
      await page.waitForFunction(() => document.querySelector('#project-spend-limit-current')?.textContent?.startsWith('$250.50 per month'));
      assert.equal((await api('GET', `/v1/organization/projects/${projA}/spend_limit`)).threshold_amount, 25_050);
      await page.locator('#project-spend-alert-amount').fill('100');
      await page.locator('#project-spend-alert-recipients').fill('finance@acme.example, ops@acme.example');
      await page.locator('#project-spend-alert-create').click();
      await page.locator('#project-spend-alerts-table tbody tr').waitFor();
      const alerts = (await api('GET', `/v1/organization/projects/${projA}/spend_alerts`)).data as Array<{ id: string; threshold_amount: number; notification_channel: { recipients: string[] } }>;
      assert.equal(alerts.length, 1);
      assert.equal(alerts[0]!.threshold_amount, 10_000);
      assert.deepEqual(alerts[0]!.notification_channel.recipients, ['finance@acme.example', 'ops@acme.example']);
      await screenshot(page, `project-spend-1280-${dialect}`);
      await page.locator(`#project-spend-alert-delete-${alerts[0]!.id}`).click();
      await page.locator(`#project-spend-alert-delete-${alerts[0]!.id}-yes`).click();
      await page.locator('#project-spend-alerts-empty').waitFor();
      await page.locator('#project-spend-limit-delete').click();
      await page.locator('#project-spend-limit-delete-yes').click();
      await page.waitForFunction(() => document.querySelector('#project-spend-limit-current')?.textContent?.startsWith('No limit'));
      assert.equal((await http(s, 'GET', `/v1/organization/projects/${projA}/spend_limit`, adminKey)).status, 404);
      assert.deepEqual(realProblems(problems), []);
    });

    test('a project member sees only their project, without owner controls; the server refuses their writes elsewhere', async () => {
      const { page, problems } = await signIn(reader.email);
      await page.locator('#projects-table').waitFor();
      assert.equal(await page.locator(`[data-project-id="${projA}"]`).count(), 1);
      assert.equal(await page.locator(`[data-project-id="${projB}"]`).count(), 0);
      assert.equal(await page.locator('#project-create-form').count(), 0);
      await page.locator(`[data-project-id="${projA}"] a`).click();
      await page.getByRole('heading', { name: 'Project Alpha' }).waitFor();
      await page.locator('#project-key-create').waitFor(); // a member creates their own keys
      assert.equal(await page.locator('#project-key-create').textContent(), 'Create a key for me');
      assert.equal(await page.locator('#project-key-owner').count(), 0, 'a member picks no owner: the key is theirs');
      await page.locator('#project-key-name').fill('rita-laptop');
      await page.locator('#project-key-create').click();
      await page.locator('#project-key-secret-value').waitFor();
      const mine = ((await api('GET', `/v1/organization/projects/${projA}/api_keys`)).data as Array<{ id: string; name: string; owner: { user?: { id: string } } }>).find((k) => k.name === 'rita-laptop')!;
      assert.equal(mine.owner.user?.id, reader.id);
      await page.locator(`#project-key-revoke-${mine.id}`).waitFor(); // their own key: they may revoke it
      // someone else's key in the same project: no controls
      const other = await s.rt.core.projectKeys.createForUser(SYSTEM, orgId, projA, owner.id, { name: 'owners-key' }).catch(async () => {
        await api('POST', `/v1/organization/projects/${projA}/users`, { user_id: owner.id, role: 'owner' });
        return s.rt.core.projectKeys.createForUser(SYSTEM, orgId, projA, owner.id, { name: 'owners-key' });
      });
      await page.reload();
      await page.locator(`[data-key-id="${other.row.id}"]`).waitFor();
      assert.equal(await page.locator(`#project-key-revoke-${other.row.id}`).count(), 0);
      assert.equal(await page.locator(`#project-key-revoke-${mine.id}`).count(), 1);
      assert.equal(await page.locator('#project-rename').count(), 0);
      assert.equal(await page.locator('#project-archive').count(), 0);
      await page.locator('#project-tab-members').click();
      await page.locator('#project-members-table').waitFor();
      assert.equal(await page.locator('#project-member-add-form').count(), 0);
      assert.equal(await page.locator(`#project-member-remove-${reader.id}`).count(), 0);
      // the session's own direct writes: refused by the server
      // (no named functions inside evaluate: tsx would wrap them in a helper the page does not have)
      const statuses = await page.evaluate(async ([a, bId]) => {
        const { csrf_token } = await fetch('/console/api/session', { credentials: 'same-origin' }).then((r) => r.json());
        const init = { method: 'POST', credentials: 'same-origin' as const, headers: { 'content-type': 'application/json', 'x-csrf-token': csrf_token }, body: JSON.stringify({ name: 'taken over' }) };
        return {
          renameB: (await fetch(`/v1/organization/projects/${bId}`, init)).status,
          renameA: (await fetch(`/v1/organization/projects/${a}`, init)).status,
          readB: (await fetch(`/v1/organization/projects/${bId}`, { credentials: 'same-origin' })).status,
        };
      }, [projA, projB]);
      assert.equal(statuses.renameB, 403);
      assert.equal(statuses.renameA, 403);
      assert.equal(statuses.readB, 403);
      assert.equal((await api('GET', `/v1/organization/projects/${projB}`)).name, 'Project Beta');
      // opening project B's page says so in plain words
      await page.goto(`${s.url}/console#/projects/${projB}`);
      await page.locator('#project-error').waitFor();
      assert.match((await page.locator('#project-error').textContent())!, /not a member/);
      assert.deepEqual(realProblems(problems), []);
    });

    test('the keys list pages by keyset cursors: Next and Previous walk distinct pages of 20', async () => {
      const proj = (await api('POST', '/v1/organization/projects', { name: 'Busy project' })).id as string;
      await api('POST', `/v1/organization/projects/${proj}/users`, { user_id: owner.id, role: 'owner' });
      for (let i = 0; i < 120; i++) await s.rt.core.projectKeys.createForUser(SYSTEM, orgId, proj, owner.id, { name: `seed-${String(i).padStart(3, '0')}` });
      const { page, problems } = await signIn(owner.email, 1280, `#/projects/${proj}/keys`);
      const urls: string[] = [];
      page.on('request', (r) => void (r.url().includes(`/projects/${proj}/api_keys`) && urls.push(r.url())));
      const names = async () => {
        await page.locator('#project-keys-table tbody tr').first().waitFor();
        return page.locator('#project-keys-table tbody tr td:first-child').allTextContents();
      };
      const next = page.locator('#project-keys-pager button', { hasText: 'Next' });
      const prev = page.locator('#project-keys-pager button', { hasText: 'Previous' });
      const pageText = page.locator('#project-keys-pager span');
      await page.locator('#project-keys-pager').waitFor();
      const p1 = await names();
      assert.equal(p1.length, 20);
      assert.ok(await prev.isDisabled());
      await next.click();
      await page.waitForFunction(() => document.querySelector('#project-keys-pager span')?.textContent === 'Page 2');
      await page.waitForFunction((first) => document.querySelector('#project-keys-table tbody tr td')?.textContent !== first, p1[0]);
      const p2 = await names();
      await next.click();
      await page.waitForFunction(() => document.querySelector('#project-keys-pager span')?.textContent === 'Page 3');
      await page.waitForFunction((first) => document.querySelector('#project-keys-table tbody tr td')?.textContent !== first, p2[0]);
      const p3 = await names();
      assert.equal(new Set([...p1, ...p2, ...p3]).size, 60, 'three pages of 20 distinct keys');
      await prev.click();
      await page.waitForFunction(() => document.querySelector('#project-keys-pager span')?.textContent === 'Page 2');
      await page.waitForFunction((first) => document.querySelector('#project-keys-table tbody tr td')?.textContent === first, p2[0]);
      assert.deepEqual(await names(), p2);
      assert.equal(await pageText.textContent(), 'Page 2');
      // every request asked for one page of 20, by cursor
      assert.ok(urls.length >= 3 && urls.every((u) => u.includes('limit=20')), urls.join('\n'));
      assert.ok(urls.some((u) => u.includes('after=')));
      assert.deepEqual(realProblems(problems), []);
    });

    test('the projects pages fit a 375 px screen', async () => {
      const { page, problems } = await signIn(owner.email, 375);
      await page.locator('#projects-table').waitFor();
      await assertFitsWidth(page, 375, 'projects list');
      await screenshot(page, `projects-375-${dialect}`);
      const shown = { keys: '#project-keys-table, #project-keys-empty', members: '#project-members-table', 'service-accounts': '#project-sa-table, #project-sa-empty', limits: '#project-limits-table', models: '#project-models-form', spend: '#project-spend-limit-current' };
      for (const [view, selector] of Object.entries(shown)) {
        await page.goto(`${s.url}/console#/projects/${projA}/${view}`);
        await page.locator(selector).first().waitFor();
        await assertFitsWidth(page, 375, `project ${view}`);
      }
      await screenshot(page, `project-spend-375-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
