// The Audit log page in headless Chromium against a real keyplane server, on SQLite and PostgreSQL:
// the events an owner just made through their console session — keyplane's own types too
// (`invite.link_created`, which the OpenAI face hides) — newest first; filtering by event type (one
// type, or an area like `invite.*`), actor, target and time (a reversed range is pointed out at the
// field); an event expands to its payload, actor, request id, IP and user agent; Next/Previous page
// through keyset cursors; a reader reads it too, and it fits a 375 px screen.
// Screenshots: audit-log (1280 px), audit-log-expanded (1280 px), audit-log-375 (375 px).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple 42';
const UA = 'keyplane-console-audit-test';
const ready = chromiumPresent();

async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}
const realProblems = (problems: string[]) => problems.filter((p) => !/Failed to load resource: the server responded with a status of (401|404)/.test(p));

for (const dialect of await testDialects()) {
  describe(`console Audit log page (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, () => {
    let s: TestServer;
    let b: TestBrowser;
    const org = { name: 'Ledger Labs', slug: `ledger-${randomBytes(3).toString('hex')}` };
    const owner = { email: `owner-${randomBytes(3).toString('hex')}@ledger.example`, id: '' };
    const reader = { email: `reader-${randomBytes(3).toString('hex')}@ledger.example`, id: '' };
    const invitee = `new-${randomBytes(3).toString('hex')}@ledger.example`;
    let orgId = '';
    let inviteId = '';
    let groupId = '';

    async function api(method: string, path: string, session: { cookie: string; csrf: string }, body?: unknown) {
      const res = await fetch(`${s.url}${path}`, {
        method,
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'user-agent': UA, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await res.json()) as any;
      assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(json)}`);
      return json;
    }

    async function signIn(width: number, email: string) {
      const page = await b.newPage(width, width < 600 ? 740 : 800);
      const problems = collectProblems(page);
      await page.goto(`${s.url}/console/#/signin`);
      await page.getByLabel('Email', { exact: true }).fill(email);
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#org-name').waitFor();
      return { page, problems };
    }
    const goto = (page: Page, hash: string) => page.evaluate((h) => (location.hash = h), hash);
    const rowTypes = (page: Page) => page.locator('#audit-table tr.audit-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-type')));
    /** The types but the sign-ins (every console sign-in is audited, `console.signed_in`: each test's own adds one). */
    const changeTypes = async (page: Page) => (await rowTypes(page)).filter((t) => t !== 'console.signed_in');

    before(async () => {
      if (!ready) return;
      s = await startServer(dialect);
      const created = await s.rt.core.orgs.create(SYSTEM, { name: org.name, slug: org.slug, ownerEmail: owner.email, ownerName: 'Odile Owner' });
      orgId = created.org.id;
      owner.id = created.owner.id;
      await s.rt.core.consoleSessions.setPassword(owner.id, PASSWORD);
      reader.id = (await s.rt.core.users.addMember(SYSTEM, orgId, { email: reader.email, role: 'reader' })).id;
      await s.rt.core.consoleSessions.setPassword(reader.id, PASSWORD);
      // 26 older groups made by keyplane itself, so the log has more than one page
      for (let i = 0; i < 26; i++) await s.rt.core.groups.create(SYSTEM, orgId, { name: `Batch ${i}` });
      // the owner's changes, through their console session
      const res = await fetch(`${s.url}/console/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: owner.email, password: PASSWORD }) });
      const session = { cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: ((await res.json()) as { csrf_token: string }).csrf_token };
      inviteId = (await api('POST', '/v1/organization/invites', session, { email: invitee, role: 'reader' })).id;
      await api('POST', `/console/api/invites/${inviteId}/link`, session);
      groupId = (await api('POST', '/v1/organization/groups', session, { name: 'Reviewers' })).id;
      const role = await api('POST', '/v1/organization/roles', session, { role_name: 'Reviewer', permissions: ['api.organization.read'] });
      await api('POST', `/v1/organization/groups/${groupId}/roles`, session, { role_id: role.id });
      b = await launchBrowser();
    });
    after(async () => {
      await b?.close();
      await s?.close();
    });

    test('the owner sees the events just made, newest first, keyplane\'s own types included; filters by type and expands one', async () => {
      const { page, problems } = await signIn(1280, owner.email);
      await page.getByRole('link', { name: 'Audit log', exact: true }).click();
      await page.locator('#audit-table').waitFor();
      const types = await rowTypes(page);
      assert.equal(types[0], 'console.signed_in', 'their own sign-in, just now');
      assert.deepEqual((await changeTypes(page)).slice(0, 5), ['role.assignment.created', 'role.created', 'group.created', 'invite.link_created', 'invite.sent']);
      assert.equal(types.length, 25, 'one page of 25');
      await screenshot(page, `audit-log-1280-${dialect}`);

      await page.getByLabel('Event type').selectOption('invite.link_created');
      await page.locator('#audit-filter-apply').click();
      await page.waitForFunction(() => location.hash.includes('type=invite.link_created'));
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 1);
      assert.deepEqual(await rowTypes(page), ['invite.link_created']);
      const id = (await page.locator('#audit-table tr.audit-row').getAttribute('data-event-id'))!;
      await page.locator(`#audit-toggle-${id}`).click();
      assert.equal(await page.locator(`#audit-toggle-${id}`).getAttribute('aria-expanded'), 'true');
      const details = (await page.locator(`#audit-details-${id}`).textContent()) ?? '';
      assert.ok(details.includes(owner.email), 'the actor');
      assert.ok(details.includes('127.0.0.1'), 'the IP address');
      assert.ok(details.includes(UA), 'the user agent');
      assert.match(details, /Request id\s*\S+/);
      assert.deepEqual(JSON.parse((await page.locator(`#audit-payload-${id}`).textContent())!), { email: invitee });
      await screenshot(page, `audit-log-expanded-1280-${dialect}`);
      await page.locator(`#audit-toggle-${id}`).click();
      assert.equal(await page.locator(`#audit-details-${id}`).count(), 0);

      // an area: every invite event
      await page.getByLabel('Event type').selectOption('invite.*');
      await page.locator('#audit-filter-apply').click();
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 2);
      assert.deepEqual(await rowTypes(page), ['invite.link_created', 'invite.sent']);
      // a link to a filtered view opens filtered (target), and Clear shows everything again
      await goto(page, `/audit?target=${groupId}`);
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 1);
      assert.deepEqual(await rowTypes(page), ['group.created']);
      assert.equal(await page.locator('#audit-filter-target').inputValue(), groupId);
      await page.locator('#audit-filter-clear').click();
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 25);
      assert.deepEqual(realProblems(problems), []);
    });

    test('actor and time filters; a reversed time range is pointed out at the field; Next and Previous page through', async () => {
      const { page, problems } = await signIn(1280, owner.email);
      await goto(page, '/audit');
      await page.locator('#audit-table').waitFor();
      await page.locator('#audit-filter-actor').fill(owner.email);
      await page.locator('#audit-filter-apply').click();
      // their five changes and their sign-ins (one through the API, one per browser test so far)
      await page.waitForFunction(() => [...document.querySelectorAll('#audit-table tr.audit-row')].every((r) => r.getAttribute('data-type') !== 'group.created' || !r.textContent?.includes('Batch')) && document.querySelectorAll('#audit-table tr.audit-row').length < 25);
      assert.deepEqual(await changeTypes(page), ['role.assignment.created', 'role.created', 'group.created', 'invite.link_created', 'invite.sent']);
      await page.locator('#audit-filter-actor').fill('');
      await page.locator('#audit-filter-from').fill('2030-01-02T10:00');
      await page.locator('#audit-filter-to').fill('2030-01-01T10:00');
      let requests = 0;
      page.on('request', (r) => void (r.url().includes('/console/api/audit_logs?') && requests++));
      await page.locator('#audit-filter-apply').click();
      assert.equal(await page.locator('#audit-filter-to-error').textContent(), 'The end must be after the start.');
      assert.equal(requests, 0);
      // a range in the future: nothing
      await page.locator('#audit-filter-to').fill('2031-01-01T10:00');
      await page.locator('#audit-filter-apply').click();
      await page.locator('#audit-empty').waitFor();
      assert.equal(await page.locator('#audit-empty').textContent(), 'No event matches these filters.');

      await page.locator('#audit-filter-clear').click();
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 25);
      const first = await page.locator('#audit-table tr.audit-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
      await page.locator('#audit-pager button', { hasText: 'Next' }).click();
      await page.waitForFunction((firstId) => document.querySelector('#audit-table tr.audit-row')?.getAttribute('data-event-id') !== firstId, first[0]);
      const second = await page.locator('#audit-table tr.audit-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')));
      assert.ok(second.length > 0);
      assert.equal(second.filter((id) => first.includes(id)).length, 0, 'no event on both pages');
      const total = await s.rt.store.db.selectFrom('audit_logs').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', orgId).executeTakeFirstOrThrow();
      assert.equal(first.length + second.length, Number(total.n));
      assert.ok(await page.locator('#audit-pager button', { hasText: 'Next' }).isDisabled());
      await page.locator('#audit-pager button', { hasText: 'Previous' }).click();
      await page.waitForFunction((firstId) => document.querySelector('#audit-table tr.audit-row')?.getAttribute('data-event-id') === firstId, first[0]);
      assert.deepEqual(realProblems(problems), []);
    });

    test('a reader reads the audit log at 375 px: it fits, and an event expands', async () => {
      const { page, problems } = await signIn(375, reader.email);
      await goto(page, '/audit?type=invite.link_created');
      await page.waitForFunction(() => document.querySelectorAll('#audit-table tr.audit-row').length === 1);
      const id = (await page.locator('#audit-table tr.audit-row').getAttribute('data-event-id'))!;
      await page.locator(`#audit-toggle-${id}`).click();
      await page.locator(`#audit-payload-${id}`).waitFor();
      await assertFitsWidth(page, 375, 'audit log');
      await screenshot(page, `audit-log-375-${dialect}`);
      assert.deepEqual(realProblems(problems), []);
    });
  });
}
