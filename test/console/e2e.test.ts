// The console in headless Chromium (Debian's chromium via playwright-core, test/helpers/browser.ts)
// against a real keyplane server started with a root key, on SQLite and PostgreSQL. Screenshots of the
// pages go to test-artifacts/screenshots/. The sign-in page renders and fits a 375 px screen; mistakes
// are shown in plain words next to the field that caused them; the invite-accept page checks its form.
// The tests that need the console's API (/console/api/*: sign-in, sessions) run when the server has it
// (probed: GET /console/api/session answers something other than 404) and are skipped otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const OWNER_PASSWORD = 'correct horse battery staple 42';

/** Whether the server has the console's API (404: it does not). */
async function hasConsoleApi(s: TestServer): Promise<boolean> {
  const res = await fetch(`${s.url}/console/api/session`);
  await res.arrayBuffer();
  return res.status !== 404;
}

/** Gives a user a console password through the console's own service (present with the console API). */
async function setPassword(s: TestServer, userId: string, password: string): Promise<void> {
  const sessions = (s.rt.core as unknown as { consoleSessions?: { setPassword(userId: string, pw: string): Promise<void> } }).consoleSessions;
  assert.ok(sessions, 'core.consoleSessions (the console API) is present');
  await sessions.setPassword(userId, password);
}

/** No horizontal scrolling: the page fits the viewport's width. */
async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}

/** Problems the page reported other than the expected HTTP refusals (a 401 before sign-in, a wrong password). */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|404|429)/.test(p));

const ready = chromiumPresent();

for (const dialect of await testDialects()) {
  describe(`console in Chromium (${dialect})`, { skip: !ready && `no ${CHROMIUM} (.ci/run installs Debian's chromium)` }, async () => {
    const rootKey = randomBytes(32).toString('hex');
    let s: TestServer;
    let b: TestBrowser;
    let owner: { email: string; name: string; id: string };
    const org = { name: 'Acme Rockets', slug: `acme-${randomBytes(3).toString('hex')}` };
    if (!ready) return; // skipped: start no server
    // probed before the tests are declared, so the ones needing the API are skipped, not failed
    s = await startServer(dialect, { rootKey });
    const consoleApi = await hasConsoleApi(s);
    const needsApi = { skip: !consoleApi && 'this server has no console API (/console/api) yet' };

    before(async () => {
      const email = `owner-${randomBytes(3).toString('hex')}@acme.example`;
      const created = await s.rt.core.orgs.create(SYSTEM, { name: org.name, slug: org.slug, ownerEmail: email, ownerName: 'Ada Owner' });
      owner = { email, name: 'Ada Owner', id: created.owner.id };
      if (consoleApi) await setPassword(s, owner.id, OWNER_PASSWORD);
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s.close();
    });

    const open = async (width: number, hash = '#/signin') => {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      await page.goto(`${s.url}/console${hash}`);
      return { page, problems };
    };

    for (const width of [1280, 375]) {
      test(`the sign-in page renders at ${width} px, both tabs, and fits the screen`, async () => {
        const { page, problems } = await open(width);
        await page.getByRole('heading', { name: 'Sign in to keyplane' }).waitFor();
        for (const label of ['Email', 'Password', 'Organization (optional)']) assert.ok(await page.getByLabel(label, { exact: true }).isVisible(), label);
        await assertFitsWidth(page, width, 'sign-in');
        await screenshot(page, `signin-${width}-${dialect}`);
        await page.getByRole('tab', { name: 'Operator (root key)' }).click();
        assert.ok(await page.getByLabel('Root key').isVisible());
        assert.equal(await page.getByLabel('Email', { exact: true }).count(), 0);
        await assertFitsWidth(page, width, 'operator sign-in');
        await screenshot(page, `signin-operator-${width}-${dialect}`);
        assert.deepEqual(realProblems(problems), []);
      });
    }

    test('missing email and password are pointed out next to their fields, nothing is sent', async () => {
      const { page, problems } = await open(375);
      let posted = 0;
      page.on('request', (r) => void (r.method() === 'POST' && posted++));
      await page.getByRole('button', { name: 'Sign in' }).click();
      assert.equal(await page.locator('#email-error').textContent(), 'Enter your email address.');
      assert.equal(await page.locator('#password-error').textContent(), 'Enter your password.');
      assert.equal(await page.getByLabel('Email', { exact: true }).getAttribute('aria-invalid'), 'true');
      await page.getByLabel('Email', { exact: true }).fill('not-an-address');
      await page.getByRole('button', { name: 'Sign in' }).click();
      assert.equal(await page.locator('#email-error').textContent(), 'This is not an email address.');
      assert.equal(posted, 0);
      await screenshot(page, `signin-field-errors-375-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });

    test('the invite-accept page asks for a name and the password twice, and says what is wrong', async () => {
      const { page, problems } = await open(375, '#/accept?token=some-token');
      await page.getByRole('heading', { name: 'Accept your invitation' }).waitFor();
      await page.getByLabel('Your name').fill('Bea Newcomer');
      await page.getByLabel('Password', { exact: true }).fill('a long enough password');
      await page.getByLabel('Password again').fill('a different password!');
      await page.getByRole('button', { name: 'Join' }).click();
      assert.equal(await page.locator('#new-password2-error').textContent(), 'The two passwords are not the same.');
      await assertFitsWidth(page, 375, 'accept');
      await screenshot(page, `accept-375-${dialect}`);
      const noToken = await open(1280, '#/accept');
      await noToken.page.getByRole('heading', { name: 'Accept your invitation' }).waitFor();
      assert.match((await noToken.page.locator('#accept-error').textContent()) ?? '', /has no token/);
      assert.deepEqual(realProblems(problems), []);
    });

    test('an invalid invite token gets the API\'s answer next to the form', needsApi, async () => {
      const { page } = await open(1280, '#/accept?token=not-a-real-token');
      await page.getByLabel('Your name').fill('Bea Newcomer');
      await page.getByLabel('Password', { exact: true }).fill('a long enough password');
      await page.getByLabel('Password again').fill('a long enough password');
      await page.getByRole('button', { name: 'Join' }).click();
      await page.locator('#accept-error').waitFor();
      assert.ok(((await page.locator('#accept-error').textContent()) ?? '').length > 10);
    });

    test('a wrong password shows the API\'s error next to the form; nothing signs in', needsApi, async () => {
      const direct = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: owner.email, password: 'not the password at all' }) });
      const expected = ((await direct.json()) as { error: { message: string } }).error.message;
      assert.equal(direct.status, 401);
      const { page, problems } = await open(1280);
      await page.getByLabel('Email', { exact: true }).fill(owner.email);
      await page.getByLabel('Password', { exact: true }).fill('also not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#signin-error').waitFor();
      assert.equal(await page.locator('#signin-error').textContent(), expected);
      // the error sits in the form, right before its button
      assert.equal(await page.locator('#signin-form #signin-error + button[type=submit]').count(), 1);
      assert.equal(await page.locator('#sign-out').count(), 0);
      await screenshot(page, `signin-wrong-password-1280-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });

    for (const width of [1280, 375]) {
      test(`the owner signs in at ${width} px: the shell shows the org, the nav's pages, and signing out returns to sign-in`, needsApi, async () => {
        const { page, problems } = await open(width);
        await page.getByLabel('Email', { exact: true }).fill(owner.email);
        await page.getByLabel('Password', { exact: true }).fill(OWNER_PASSWORD);
        await page.getByLabel('Organization (optional)').fill(org.slug);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.locator('#org-name').waitFor();
        assert.equal(await page.locator('#org-name').textContent(), org.name);
        const facts = (await page.locator('#whoami').textContent()) ?? '';
        assert.ok(facts.includes(owner.email) && facts.includes(owner.name) && facts.includes('owner'), facts);
        await page.locator('#home-usage').waitFor(); // the home page's usage chart (real usage: none yet)
        await assertFitsWidth(page, width, 'home');
        await screenshot(page, `home-${width}-${dialect}`);
        // a reload keeps the session (the HttpOnly cookie), which the page itself cannot read
        await page.reload();
        await page.locator('#org-name').waitFor();
        assert.equal(await page.evaluate(() => document.cookie), '');
        for (const name of ['Organization', 'Projects', 'Credentials', 'Usage', 'Audit log']) {
          await page.getByRole('link', { name, exact: true }).click();
          await page.getByRole('heading', { name, exact: true }).waitFor();
          assert.equal(await page.getByText('Coming soon.').count(), 0, `${name} is a real page`);
          await assertFitsWidth(page, width, name);
        }
        await page.getByRole('button', { name: 'Sign out' }).click();
        await page.getByRole('heading', { name: 'Sign in to keyplane' }).waitFor();
        await page.reload();
        await page.getByRole('heading', { name: 'Sign in to keyplane' }).waitFor();
        assert.equal(await page.locator('#org-name').count(), 0);
        assert.deepEqual(realProblems(problems), []);
      });
    }

    test('the operator signs in with the root key and sees the operator view', needsApi, async () => {
      const { page, problems } = await open(1280);
      await page.getByRole('tab', { name: 'Operator (root key)' }).click();
      await page.getByLabel('Root key').fill(rootKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();
      assert.equal(await page.locator('#org-name').textContent(), 'Operator');
      await screenshot(page, `operator-home-1280-${dialect}`);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to keyplane' }).waitFor();
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
