// The console's Credentials page in headless Chromium against a real keyplane server, on SQLite and
// PostgreSQL. An owner adds an LLM credential and sees it masked — its plaintext is never in the
// page's HTML nor in any response the browser received — gets an API refusal placed at the field,
// rotates it, picks the active LLM provider, deletes it after confirming, and flips the default-key
// and free-trial switches; the server holds each change. A reader sees masked values and states but
// no control, and a write sent with the reader's own session (CSRF token included) is refused 403.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page, Response } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple 42';
const ready = chromiumPresent();

/**
 * Problems other than the HTTP answers expected here: 401 (the session probe before sign-in), 400 (a duplicate name), 403 (the
 * reader's direct writes) and 404 (no platform metadata yet: the face answers 404 until it exists).
 */
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (400|401|403|404)/.test(p));

async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}

/** Every response body the page receives, to check a secret never comes back. */
function recordBodies(page: Page): { bodies: () => Promise<Array<{ url: string; body: string }>> } {
  const pending: Array<Promise<{ url: string; body: string }>> = [];
  page.on('response', (r: Response) => {
    pending.push(r.text().then((body) => ({ url: r.url(), body }), () => ({ url: r.url(), body: '' })));
  });
  return { bodies: () => Promise.all(pending) };
}

for (const dialect of await testDialects()) {
  describe(`console credentials page (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, async () => {
    let s: TestServer;
    let b: TestBrowser;
    let orgId: string;
    const slug = `creds-${randomBytes(3).toString('hex')}`;
    const owner = { email: `owner-${randomBytes(3).toString('hex')}@example.com`, id: '' };
    const reader = { email: `reader-${randomBytes(3).toString('hex')}@example.com`, id: '' };

    before(async () => {
      if (!ready) return;
      s = await startServer(dialect);
      const created = await s.rt.core.orgs.create(SYSTEM, { name: 'Credential Co', slug, ownerEmail: owner.email, ownerName: 'Olive Owner' });
      orgId = created.org.id;
      owner.id = created.owner.id;
      reader.id = (await s.rt.core.users.addMember(SYSTEM, orgId, { email: reader.email, name: 'Rex Reader', role: 'reader' })).id;
      for (const u of [owner, reader]) await s.rt.core.consoleSessions.setPassword(u.id, PASSWORD);
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
    });

    async function signIn(email: string, width = 1280): Promise<{ page: Page; problems: string[]; bodies: () => Promise<Array<{ url: string; body: string }>> }> {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      const rec = recordBodies(page);
      await page.goto(`${s.url}/console/#/signin`);
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Organization (optional)').fill(slug);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();
      await page.goto(`${s.url}/console/#/credentials`);
      await page.getByRole('heading', { name: 'Credentials', exact: true }).waitFor();
      return { page, problems, bodies: rec.bodies };
    }

    test('an owner adds an LLM credential, sees it masked, rotates it, makes it active, deletes it; flips both switches', async () => {
      const secret = `sk-live-${randomBytes(18).toString('hex')}`;
      const secret2 = `sk-next-${randomBytes(18).toString('hex')}`;
      const { page, problems, bodies } = await signIn(owner.email);
      await page.locator('#credentials-llm-empty').waitFor();

      // a value that is neither a key nor JSON is pointed out before anything is sent
      await page.locator('#credentials-llm-name').fill('openai');
      await page.locator('#credentials-llm-value').fill('{"key": ');
      await page.locator('#credentials-llm-add').click();
      assert.match((await page.locator('#credentials-llm-value-error').textContent()) ?? '', /not valid JSON/);

      // add: a bare key is stored as {"key": …} and shown masked (the last four characters only)
      await page.locator('#credentials-llm-value').fill(secret);
      await page.locator('#credentials-llm-add').click();
      const cell = page.locator('#credentials-llm-value-openai');
      await cell.waitFor();
      assert.equal(await cell.textContent(), `key: ****${secret.slice(-4)}`);
      assert.match((await page.locator('#credentials-llm-notice').textContent()) ?? '', /openai credential was added/);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: secret });
      assert.equal(await page.locator('#credentials-llm-value').inputValue(), '', 'the form forgets the value once sent');
      assert.ok(!(await page.content()).includes(secret), 'the plaintext is not in the page');
      await screenshot(page, `credentials-1280-${dialect}`);

      // the API's refusal (a DRF field error) is shown under the field it is about
      await page.locator('#credentials-llm-name').fill('openai');
      await page.locator('#credentials-llm-value').fill(`{"key": "${secret}"}`);
      await page.locator('#credentials-llm-add').click();
      await page.locator('#credentials-llm-name-error').waitFor();
      assert.match((await page.locator('#credentials-llm-name-error').textContent()) ?? '', /already exists/);
      assert.equal(await page.locator('#credentials-llm-name').getAttribute('aria-invalid'), 'true');
      await page.locator('#credentials-llm-value').fill('');

      // rotate: JSON with several fields
      await page.locator('#credentials-llm-rotate-openai').click();
      await page.locator('#credentials-llm-rotate-value').fill(JSON.stringify({ key: secret2, base_url: 'https://llm.example.com/v1' }));
      await page.locator('#credentials-llm-rotate-save').click();
      await page.locator('#credentials-llm-rotate-form').waitFor({ state: 'detached' });
      await page.waitForFunction((tail) => document.querySelector('#credentials-llm-value-openai')?.textContent?.includes(tail), `****${secret2.slice(-4)}`);
      assert.equal(await cell.textContent(), `key: ****${secret2.slice(-4)}, base_url: ****m/v1`);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'openai'), { key: secret2, base_url: 'https://llm.example.com/v1' });

      // the active LLM provider: one with a credential
      await page.locator('#credentials-active-llm option', { hasText: 'openai' }).waitFor({ state: 'attached' });
      await page.locator('#credentials-active-llm').selectOption('openai');
      await page.locator('#credentials-active-saved').waitFor();
      assert.equal((await s.rt.core.platform.getMetadata(SYSTEM, orgId)).active_llm, 'openai');

      // the switches: off at first, on after a click, as the server says
      for (const [id, field] of [['credentials-default-key', 'useDefaultLlmKey'], ['credentials-free-trial', 'freeTrialEnabled']] as const) {
        assert.equal(await page.locator(`#${id}-state`).getAttribute('data-on'), 'false', id);
        await page.locator(`#${id}-toggle`).click();
        await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-on') === 'true', `#${id}-state`);
        assert.equal((await s.rt.core.platform.settings(SYSTEM, orgId))[field], true, field);
        assert.equal(await page.locator(`#${id}-toggle`).textContent(), 'Turn off');
      }
      await page.locator('#credentials-default-key-toggle').click();
      await page.waitForFunction(() => document.querySelector('#credentials-default-key-state')?.getAttribute('data-on') === 'false');
      assert.equal((await s.rt.core.platform.settings(SYSTEM, orgId)).useDefaultLlmKey, false);

      // delete: asks first; "Cancel" keeps it, "Yes" deletes it
      await page.locator('#credentials-llm-delete-openai').click();
      assert.match((await page.locator('#credentials-llm-delete-openai-q').textContent()) ?? '', /Delete the openai credential\?/);
      await page.locator('#credentials-llm-delete-openai-no').click();
      assert.equal(await page.locator('#credentials-llm-row-openai').count(), 1);
      await page.locator('#credentials-llm-delete-openai').click();
      await page.locator('#credentials-llm-delete-openai-yes').click();
      await page.locator('#credentials-llm-row-openai').waitFor({ state: 'detached' });
      await page.locator('#credentials-llm-empty').waitFor();
      assert.deepEqual(await s.rt.core.credentials.names(orgId, 'llm'), []);

      // an integration credential, the same way
      await page.locator('#credentials-integration-name').fill('github');
      await page.locator('#credentials-integration-value').fill(`{"token": "${secret}"}`);
      await page.locator('#credentials-integration-add').click();
      await page.locator('#credentials-integration-value-github').waitFor();
      assert.equal(await page.locator('#credentials-integration-value-github').textContent(), `token: ****${secret.slice(-4)}`);

      // neither plaintext ever came back from the server, nor sits in the page
      const html = await page.content();
      for (const x of [secret, secret2]) assert.ok(!html.includes(x), 'not in the HTML');
      const all = await bodies();
      assert.ok(all.some((r) => r.url.includes('/credential/')), 'the credential lists were read');
      for (const r of all) for (const x of [secret, secret2]) assert.ok(!r.body.includes(x), `a response (${r.url}) held a plaintext value`);
      assert.deepEqual(realProblems(problems), []);
    });

    test('a reader sees masked values and states, no controls; a write with the reader\'s session is refused 403', async () => {
      const secret = `sk-reader-test-${randomBytes(12).toString('hex')}`;
      if (!(await s.rt.core.credentials.names(orgId, 'llm')).includes('anthropic')) {
        await s.rt.core.credentials.create(SYSTEM, orgId, 'llm', { name: 'anthropic', value: { api_key: secret }, platform: slug });
      }
      await s.rt.core.platform.setFreeTrial(SYSTEM, orgId, { enabled: true });
      const { page, problems, bodies } = await signIn(reader.email, 375);
      await page.locator('#credentials-read-only').waitFor();
      await page.locator('#credentials-llm-value-anthropic').waitFor();
      assert.equal(await page.locator('#credentials-llm-value-anthropic').textContent(), `api_key: ****${secret.slice(-4)}`);
      await page.locator('#credentials-free-trial-state[data-on="true"]').waitFor();
      for (const sel of ['#credentials-llm-form', '#credentials-integration-form', '#credentials-llm-rotate-anthropic', '#credentials-llm-delete-anthropic', '#credentials-default-key-toggle', '#credentials-free-trial-toggle', 'select#credentials-active-llm', 'main button', 'main textarea', 'main select']) {
        assert.equal(await page.locator(sel).count(), 0, `a reader has no ${sel}`);
      }
      await assertFitsWidth(page, 375, 'credentials (reader)');
      await screenshot(page, `credentials-reader-375-${dialect}`);

      // the server refuses anyway: the reader's own session, with its CSRF token
      const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
      const session = (await (await fetch(`${s.url}/console/api/session`, { headers: { cookie } })).json()) as { csrf_token: string; org: { role: string } };
      assert.equal(session.org.role, 'reader');
      const headers = { cookie, 'content-type': 'application/json', 'x-csrf-token': session.csrf_token, origin: s.url };
      const send = async (method: string, path: string, body: unknown) => {
        const r = await fetch(`${s.url}/api/ai-account/orgs/${slug}/${path}`, { method, headers, body: JSON.stringify(body) });
        return { status: r.status, body: await r.text() };
      };
      const refused = [
        await send('POST', 'credential/', { name: 'mistral', value: { key: 'sk-reader-attempt-000000' }, platform: slug }),
        await send('PATCH', 'credential/', { name: 'anthropic', value: { key: 'sk-reader-attempt-000000' } }),
        await send('DELETE', 'credential/', { name: 'anthropic' }),
        await send('POST', 'use-default-llm-key/', { enable: true }),
        await send('POST', 'use-free-trial/', { disable: true }),
      ];
      for (const r of refused) {
        assert.equal(r.status, 403, r.body);
        assert.deepEqual(JSON.parse(r.body), { detail: 'You do not have permission to perform this action.' });
      }
      assert.deepEqual(await s.rt.core.credentials.names(orgId, 'llm'), ['anthropic']);
      assert.deepEqual(await s.rt.core.credentials.reveal(SYSTEM, orgId, 'llm', 'anthropic'), { api_key: secret });
      for (const r of await bodies()) assert.ok(!r.body.includes(secret), `a response (${r.url}) held the plaintext`);
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
