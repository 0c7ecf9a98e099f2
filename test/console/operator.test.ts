// The console's operator view (#/operator) in headless Chromium against a real keyplane server with a
// root key, on SQLite and PostgreSQL: the operator signs in with the root key, pages through the
// organizations, creates one (its first admin key shown once), creates another admin key (shown once),
// sets an organization's free-trial allowance, sets a default credential (shown masked) and deletes it
// after confirming, and sees the node's health. An organization's owner gets no Operator navigation,
// and the platform API refuses their session (403). Screenshots: operator-orgs, operator-defaults,
// operator-org (1280 px) and operator-orgs-375.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const OWNER_PASSWORD = 'correct horse battery staple 42';
const ready = chromiumPresent();

/** Problems the page reported other than expected HTTP refusals (the 401 before sign-in, a 403 we provoke). */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|403|404|409)/.test(p));

async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}

for (const dialect of await testDialects()) {
  describe(`console operator view in Chromium (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, () => {
    const rootKey = randomBytes(32).toString('hex');
    const tag = randomBytes(3).toString('hex');
    let s: TestServer;
    let b: TestBrowser;
    let owner: { email: string };

    before(async () => {
      s = await startServer(dialect, { rootKey });
      const email = `owner-${tag}@acme.example`;
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Acme Rockets', slug: `acme-${tag}`, ownerEmail: email, ownerName: 'Ada Owner' });
      await s.rt.core.consoleSessions.setPassword(created.owner.id, OWNER_PASSWORD);
      owner = { email };
      // enough organizations for a second page (20 a page)
      for (let i = 0; i < 21; i++) await s.rt.core.orgs.create(SYSTEM, { name: `Filler ${i}`, slug: `filler-${tag}-${i}` });
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
    });

    async function operatorPage(width: number): Promise<{ page: Page; problems: string[] }> {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      await page.goto(`${s.url}/console/#/signin`);
      await page.getByRole('tab', { name: 'Operator (root key)' }).click();
      await page.getByLabel('Root key').fill(rootKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('link', { name: 'Operator' }).click();
      await page.locator('#operator-orgs').waitFor();
      return { page, problems };
    }

    test('the operator pages through organizations, creates one, issues an admin key and sets its free trial', async () => {
      const { page, problems } = await operatorPage(1280);
      // first page: 20 rows, then the next page holds the rest (keyset: the cursor is the last id)
      assert.equal(await page.locator('#operator-orgs tbody tr').count(), 20);
      await page.locator('#operator-orgs-pager').getByRole('button', { name: 'Next' }).click();
      await page.locator('#operator-orgs-pager').getByText('Page 2').waitFor();
      // main + Acme + 21 fillers: 3 on the second page, the last filler's row among them
      await page.locator('#operator-orgs tr[data-slug="filler-' + tag + '-20"]').waitFor();
      assert.equal(await page.locator('#operator-orgs tbody tr').count(), 23 - 20);
      await page.locator('#operator-orgs-pager').getByRole('button', { name: 'Previous' }).click();
      await page.locator('#operator-orgs tr[data-slug="main"]').waitFor();
      assert.equal(await page.locator('#operator-orgs tbody tr').count(), 20);

      // mistakes are pointed out next to their fields, nothing is sent
      await page.locator('#operator-org-create-submit').click();
      assert.equal(await page.locator('#operator-org-create-name-error').textContent(), 'Enter the organization\'s name.');
      await page.locator('#operator-org-create-slug').fill('Not A Slug');
      await page.locator('#operator-org-create-submit').click();
      assert.match((await page.locator('#operator-org-create-slug-error').textContent()) ?? '', /lower-case letters/);

      const slug = `orbit-${tag}`;
      await page.locator('#operator-org-create-name').fill('Orbit Labs');
      await page.locator('#operator-org-create-slug').fill(slug);
      await page.locator('#operator-org-create-owner').fill(`boss-${tag}@orbit.example`);
      await page.locator('#operator-org-create-submit').click();
      const firstKey = await page.locator('#operator-org-created-key-value').inputValue();
      assert.match(firstKey, /^sk-admin-/);
      // the same slug again: the server's refusal is shown in plain words
      await page.locator('#operator-org-create-name').fill('Orbit Again');
      await page.locator('#operator-org-create-slug').fill(slug);
      await page.locator('#operator-org-create-submit').click();
      await page.locator('#operator-org-create-slug-error, #operator-org-create-error').first().waitFor();
      const dup = (await page.locator('#operator-org-create-slug-error, #operator-org-create-error').first().textContent()) ?? '';
      assert.match(dup, /slug|exists|taken|already/i);
      await screenshot(page, `operator-orgs-${dialect}`);
      if (dialect === 'sqlite') await screenshot(page, 'operator-orgs');
      // the secret is gone once acknowledged
      await page.locator('#operator-org-created-key-done').click();
      assert.equal(await page.locator('#operator-org-created-key').count(), 0);
      assert.ok(!(await page.content()).includes(firstKey), 'the first admin key is not on the page any more');

      // one organization: a new admin key, shown once
      await page.goto(`${s.url}/console/#/operator/orgs/${slug}`);
      await page.locator('#operator-org-name').getByText('Orbit Labs').waitFor();
      await page.locator('#operator-admin-key-name').fill('ci');
      await page.locator('#operator-admin-key-create').click();
      const key = await page.locator('#operator-admin-key-secret-value').inputValue();
      assert.match(key, /^sk-admin-/);
      const check = await fetch(`${s.url}/v1/organization/admin_api_keys`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(check.status, 200, 'the new admin key works');
      await check.arrayBuffer();
      await page.locator('#operator-admin-key-secret-done').click();
      assert.equal(await page.locator('#operator-admin-key-secret').count(), 0);

      // its free trial: on, with 5000 tokens and 7 days
      await page.locator('#operator-trial-enabled').check();
      await page.locator('#operator-trial-tokens').fill('lots');
      await page.locator('#operator-trial-save').click();
      assert.match((await page.locator('#operator-trial-tokens-error').textContent()) ?? '', /whole number/);
      await page.locator('#operator-trial-tokens').fill('5000');
      await page.locator('#operator-trial-days').fill('7');
      await page.locator('#operator-trial-save').click();
      await page.locator('#operator-trial-saved').waitFor();
      await page.locator('#operator-trial-state').getByText(/^On/).waitFor();
      const trial = await fetch(`${s.url}/platform/v1/organizations/${slug}/free_trial`, { headers: { authorization: `Bearer ${rootKey}` } }).then((r) => r.json());
      assert.equal(trial.enabled, true);
      assert.deepEqual(trial.metadata, { tokens: 5000, days: 7 });
      await screenshot(page, `operator-org-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });

    test('the operator sets a default credential (shown masked) and deletes it after confirming', async () => {
      const { page, problems } = await operatorPage(1280);
      await page.locator('#operator-tab-defaults').click();
      await page.locator('#operator-default-form').waitFor();
      const secret = `sk-test-${randomBytes(12).toString('hex')}`;
      await page.locator('#operator-default-provider').fill('openai');
      await page.locator('#operator-default-key').fill(secret);
      await page.locator('#operator-default-save').click();
      await page.locator('#operator-default-saved').waitFor();
      const row = page.locator('#operator-defaults tr[data-provider="openai"]');
      await row.waitFor();
      assert.ok(!(await page.content()).includes(secret), 'the key is never shown in full');
      assert.ok(!(await page.locator('#operator-default-key').inputValue()), 'the key field is emptied');
      await screenshot(page, `operator-defaults-${dialect}`);
      if (dialect === 'sqlite') await screenshot(page, 'operator-defaults');
      // delete asks first; Cancel keeps it
      await page.locator('#operator-default-delete-openai').click();
      await page.locator('#operator-default-delete-openai-no').click();
      assert.equal(await row.count(), 1);
      await page.locator('#operator-default-delete-openai').click();
      await page.locator('#operator-default-delete-openai-yes').click();
      await page.locator('#operator-defaults-empty').waitFor();
      const list = await fetch(`${s.url}/platform/v1/default_credentials`, { headers: { authorization: `Bearer ${rootKey}` } }).then((r) => r.json());
      assert.deepEqual(list.data, []);
      assert.deepEqual(realProblems(problems), []);
    });

    test('the operator sees the node\'s health', async () => {
      const { page, problems } = await operatorPage(1280);
      await page.locator('#operator-tab-health').click();
      await page.locator('#operator-health-ready-status').waitFor();
      assert.equal(await page.locator('#operator-health-ready-status').textContent(), 'ready');
      assert.equal(await page.locator('#operator-health-ready-database').textContent(), dialect);
      assert.equal(await page.locator('#operator-health-ready-role').textContent(), 'all');
      assert.equal(await page.locator('#operator-health-live-status').textContent(), 'ok');
      assert.equal(await page.locator('#operator-health-ready-badge').textContent(), 'OK');
      await screenshot(page, `operator-health-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });

    test('the operator view fits a 375 px screen', async () => {
      const { page, problems } = await operatorPage(375);
      await assertFitsWidth(page, 375, 'organizations');
      await screenshot(page, `operator-orgs-375-${dialect}`);
      if (dialect === 'sqlite') await screenshot(page, 'operator-orgs-375');
      await page.locator('#operator-tab-defaults').click();
      await page.locator('#operator-default-form').waitFor();
      await assertFitsWidth(page, 375, 'default credentials');
      await page.locator('#operator-tab-health').click();
      await page.locator('#operator-health-ready-status').waitFor();
      await assertFitsWidth(page, 375, 'health');
      assert.deepEqual(realProblems(problems), []);
    });

    test('an organization owner gets no Operator navigation, and the platform API refuses their session', async () => {
      const page = await b.newPage(1280, 800);
      const problems = collectProblems(page);
      await page.goto(`${s.url}/console/#/signin`);
      await page.getByLabel('Email', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill(OWNER_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#whoami').waitFor();
      assert.equal(await page.getByRole('link', { name: 'Operator' }).count(), 0);
      // the page itself is not shown at its URL either
      await page.goto(`${s.url}/console/#/operator`);
      await page.locator('#whoami').waitFor();
      assert.equal(await page.locator('#operator-orgs').count(), 0);
      // and the server refuses the session (the cookie goes with same-origin requests)
      const statuses = await page.evaluate(async () => {
        const a = await fetch('/platform/v1/organizations', { credentials: 'same-origin' });
        const b = await fetch('/v1/platform/organizations', { credentials: 'same-origin' });
        return { platform: a.status, platformBody: await a.text(), other: b.status };
      });
      assert.equal(statuses.platform, 403, statuses.platformBody);
      assert.match(statuses.platformBody, /reserved to the keyplane operator/);
      assert.ok(statuses.other >= 400 && statuses.other < 500, `/v1/platform/organizations: ${statuses.other}`);
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
