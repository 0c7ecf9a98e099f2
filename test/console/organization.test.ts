// The Organization page in headless Chromium against a real keyplane server, on SQLite and
// PostgreSQL: an owner invites someone and makes a sign-up link; the invitee opens it in a fresh
// browser, sets a password and lands signed in; the owner puts them in a new group, creates a custom
// role (a duplicate name is refused next to the name field) and assigns it to the group and to the
// member, and deletes an invite after confirming; a reader sees the members but no create, change or
// delete control, and a write with the reader's own session is refused 403 by the server.
// Screenshots: organization-members, organization-invite-link, organization-group, organization-roles
// (1280 px), organization-members-375 (375 px).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.ts';
import { testDialects } from '../helpers/db.ts';
import { CHROMIUM, chromiumPresent, collectProblems, launchBrowser, screenshot, type TestBrowser } from '../helpers/browser.ts';
import { SYSTEM } from '../../src/domain/actor.ts';

const PASSWORD = 'correct horse battery staple 42';
const ready = chromiumPresent();

/** No horizontal scrolling: the page fits the viewport's width. */
async function assertFitsWidth(page: Page, width: number, what: string): Promise<void> {
  const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scrollWidth <= width, `${what}: the page is ${scrollWidth} px wide on a ${width} px screen`);
}

/**
 * Problems other than the HTTP refusals a test provokes on purpose (401 before sign-in, 404 for the
 * favicon, the reader's 403, the duplicate role's 400 — the tests check what the page shows for them).
 */
const realProblems = (problems: string[], expected = [401, 403, 404]) =>
  problems.filter((p) => !new RegExp(`Failed to load resource: the server responded with a status of (${expected.join('|')})`).test(p));

for (const dialect of await testDialects()) {
  describe(`console Organization page (${dialect})`, { skip: !ready && `no ${CHROMIUM}` }, () => {
    let s: TestServer;
    let b: TestBrowser;
    const org = { name: 'Orbit Works', slug: `orbit-${randomBytes(3).toString('hex')}` };
    const owner = { email: `owner-${randomBytes(3).toString('hex')}@orbit.example`, id: '' };
    const reader = { email: `reader-${randomBytes(3).toString('hex')}@orbit.example`, id: '' };
    const invitee = { email: `new-${randomBytes(3).toString('hex')}@orbit.example`, name: 'Nia Newcomer', id: '' };
    let orgId = '';
    let ownerPage: Page;
    let ownerProblems: string[];

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
    const goto = async (page: Page, hash: string) => {
      await page.evaluate((h) => (location.hash = h), hash);
    };

    before(async () => {
      if (!ready) return;
      s = await startServer(dialect);
      const created = await s.rt.core.orgs.create(SYSTEM, { name: org.name, slug: org.slug, ownerEmail: owner.email, ownerName: 'Olga Owner' });
      orgId = created.org.id;
      owner.id = created.owner.id;
      await s.rt.core.consoleSessions.setPassword(owner.id, PASSWORD);
      const r = await s.rt.core.users.addMember(SYSTEM, orgId, { email: reader.email, role: 'reader', name: 'Rui Reader' });
      reader.id = r.id;
      await s.rt.core.consoleSessions.setPassword(reader.id, PASSWORD);
      b = await launchBrowser();
      ({ page: ownerPage, problems: ownerProblems } = await signIn(1280, owner.email));
    });
    after(async () => {
      await b?.close();
      await s?.close();
    });

    test('the owner invites someone and makes a sign-up link; the invitee opens it in a fresh browser, sets a password and is signed in', async () => {
      const page = ownerPage;
      await goto(page, '/organization/invites');
      await page.locator('#org-invite-form').waitFor();
      // a mistake is pointed out next to the field, nothing is sent
      await page.locator('#org-invite-submit').click();
      assert.equal(await page.locator('#org-invite-email-error').textContent(), 'Enter the email address to invite.');
      await page.getByLabel('Email', { exact: true }).fill(invitee.email);
      await page.getByLabel('Role', { exact: true }).selectOption('reader');
      await page.locator('#org-invite-submit').click();
      await page.locator('#org-invite-created').waitFor();
      await page.locator(`#org-invites-table tr[data-email="${invitee.email}"]`).waitFor();
      await page.locator('#org-invite-link-create').click();
      const link = page.locator('#org-invite-link-value');
      await link.waitFor();
      const url = await link.inputValue();
      assert.match(url, new RegExp(`^${s.url.replace(/[.]/g, '\\.')}/console/#/accept\\?token=[A-Za-z0-9_-]{40,}$`));
      assert.ok(await page.locator('#org-invite-link-copy').isVisible());
      await screenshot(page, `organization-invite-link-1280-${dialect}`);
      await page.locator('#org-invite-link-done').click();
      assert.equal(await page.locator('#org-invite-link-value').count(), 0, 'the link is shown once');

      // the invitee, in a fresh context (no cookies)
      const fresh = await b.newPage(1280);
      const freshProblems = collectProblems(fresh);
      await fresh.goto(url);
      await fresh.getByRole('heading', { name: 'Accept your invitation' }).waitFor();
      await fresh.getByLabel('Your name').fill(invitee.name);
      await fresh.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await fresh.getByLabel('Password again').fill(PASSWORD);
      await fresh.getByRole('button', { name: 'Join' }).click();
      await fresh.locator('#org-name').waitFor();
      assert.equal(await fresh.locator('#org-name').textContent(), org.name);
      const facts = (await fresh.locator('#whoami').textContent()) ?? '';
      assert.ok(facts.includes(invitee.email) && facts.includes(invitee.name), facts);
      assert.deepEqual(realProblems(freshProblems), []);
      invitee.id = (await s.rt.store.db.selectFrom('users').select('id').where('email', '=', invitee.email).executeTakeFirstOrThrow()).id;

      // the owner's list shows them as a member, the invite as accepted
      await page.locator('#org-invites-table').waitFor();
      await goto(page, '/organization/members');
      await page.locator(`#org-members-table tr[data-email="${invitee.email}"]`).waitFor();
      assert.equal(await page.locator(`#org-member-role-${invitee.id}`).inputValue(), 'reader');
      await screenshot(page, `organization-members-1280-${dialect}`);
    });

    test('the owner changes a role, and deletes an invite only after confirming', async () => {
      const page = ownerPage;
      await goto(page, '/organization/members');
      await page.locator(`#org-member-role-${invitee.id}`).selectOption('owner');
      await page.waitForFunction((id) => !(document.getElementById(`org-member-role-${id}`) as HTMLSelectElement).disabled, invitee.id);
      assert.equal((await s.rt.core.users.getMember(SYSTEM, orgId, invitee.id)).role, 'owner');
      await page.locator(`#org-member-role-${invitee.id}`).selectOption('reader');
      await page.waitForFunction((id) => !(document.getElementById(`org-member-role-${id}`) as HTMLSelectElement).disabled, invitee.id);
      assert.equal((await s.rt.core.users.getMember(SYSTEM, orgId, invitee.id)).role, 'reader');

      const other = `later-${randomBytes(3).toString('hex')}@orbit.example`;
      await goto(page, '/organization/invites');
      await page.getByLabel('Email', { exact: true }).fill(other);
      await page.locator('#org-invite-submit').click();
      const row = page.locator(`#org-invites-table tr[data-email="${other}"]`);
      await row.waitFor();
      const inviteId = (await row.getAttribute('data-invite-id'))!;
      await page.locator(`#org-invite-delete-${inviteId}`).click();
      assert.match((await page.locator(`#org-invite-delete-${inviteId}-q`).textContent()) ?? '', /Delete the invitation of/);
      await page.locator(`#org-invite-delete-${inviteId}-no`).click();
      assert.equal(await row.count(), 1, 'cancel keeps it');
      await page.locator(`#org-invite-delete-${inviteId}`).click();
      await page.locator(`#org-invite-delete-${inviteId}-yes`).click();
      await row.waitFor({ state: 'detached' });
      assert.equal((await s.rt.store.db.selectFrom('invites').select('id').where('id', '=', inviteId).execute()).length, 0);
    });

    test('the owner creates a group, adds the new member, creates a custom role and assigns it to the group and the member', async () => {
      const page = ownerPage;
      await goto(page, '/organization/groups');
      await page.getByLabel('Name', { exact: true }).fill('Night shift');
      await page.locator('#org-group-create').click();
      await page.locator('#org-group-title').waitFor();
      assert.equal(await page.locator('#org-group-title').textContent(), 'Night shift');
      // an unknown email is pointed out next to the field
      await page.locator('#org-group-add-email').fill('nobody@orbit.example');
      await page.locator('#org-group-add').click();
      assert.match((await page.locator('#org-group-add-email-error').textContent()) ?? '', /No member of this organization/);
      await page.locator('#org-group-add-email').fill(invitee.email);
      await page.locator('#org-group-add').click();
      await page.locator(`#org-group-users-table tr[data-email="${invitee.email}"]`).waitFor();
      const groupId = decodeURIComponent((await page.evaluate(() => location.hash)).split('/').pop()!);

      await goto(page, '/organization/roles');
      await page.locator('#org-roles-table').waitFor();
      assert.ok(await page.locator('#org-roles-table tr[data-role-name="owner"] .badge').isVisible(), 'predefined roles are listed');
      await page.locator('#org-role-new').click();
      await page.locator('#org-role-form-name').fill('Auditor');
      await page.locator('#org-role-form-permissions').fill('api.organization.read\napi.audit_logs.read');
      await page.locator('#org-role-form-description').fill('Reads the audit log.');
      await page.locator('#org-role-form-submit').click();
      await page.locator('#org-roles-table tr[data-role-name="Auditor"]').waitFor();
      const roleId = (await page.locator('#org-roles-table tr[data-role-name="Auditor"]').getAttribute('data-role-id'))!;
      // the same name again: the API's error is shown under the name field
      await page.locator('#org-role-new').click();
      await page.locator('#org-role-form-name').fill('Auditor');
      await page.locator('#org-role-form-permissions').fill('api.organization.read');
      await page.locator('#org-role-form-submit').click();
      await page.locator('#org-role-form-name-error').waitFor();
      assert.match((await page.locator('#org-role-form-name-error').textContent()) ?? '', /already exists/);
      await page.locator('#org-role-form-cancel').click();
      // edit the description
      await page.locator(`#org-role-edit-${roleId}`).click();
      await page.locator('#org-role-edit-description').fill('Reads the audit log, nothing else.');
      await page.locator('#org-role-edit-submit').click();
      await page.getByText('Reads the audit log, nothing else.').waitFor();
      await screenshot(page, `organization-roles-1280-${dialect}`);

      // assign to the group
      await goto(page, `/organization/groups/${groupId}`);
      await page.locator('#org-group-assign-role').waitFor();
      await page.locator('#org-group-assign-role').selectOption(roleId);
      await page.locator('#org-group-assign').click();
      await page.locator(`#org-group-roles-table tr[data-role-id="${roleId}"]`).waitFor();
      await screenshot(page, `organization-group-1280-${dialect}`);
      // and to the member
      await goto(page, `/organization/members/${invitee.id}`);
      await page.locator('#org-member-assign-role').waitFor();
      await page.locator('#org-member-assign').click();
      assert.equal(await page.locator('#org-member-assign-role-error').textContent(), 'Choose a role to assign.');
      await page.locator('#org-member-assign-role').selectOption(roleId);
      await page.locator('#org-member-assign').click();
      await page.locator(`#org-member-roles-table tr[data-role-id="${roleId}"]`).waitFor();
      const assigned = await s.rt.store.db.selectFrom('role_assignments').select(['principal_type', 'principal_id']).where('role_id', '=', roleId).execute();
      assert.deepEqual(new Set(assigned.map((a) => `${a.principal_type}:${a.principal_id}`)), new Set([`group:${groupId}`, `user:${invitee.id}`]));
      // unassigning asks first
      await page.locator(`#org-member-unassign-${roleId}`).click();
      await page.locator(`#org-member-unassign-${roleId}-no`).click();
      assert.equal(await page.locator(`#org-member-roles-table tr[data-role-id="${roleId}"]`).count(), 1);
      assert.deepEqual(realProblems(ownerProblems, [400, 401, 403, 404]), []);
    });

    for (const width of [1280, 375]) {
      test(`a reader at ${width} px sees the members but no create, change or delete control; the server refuses their writes`, async () => {
        const { page, problems } = await signIn(width, reader.email);
        await goto(page, '/organization/members');
        await page.locator(`#org-members-table tr[data-email="${owner.email}"]`).waitFor();
        await page.locator(`#org-members-table tr[data-email="${invitee.email}"]`).waitFor();
        assert.ok(await page.locator('#org-read-only').isVisible());
        assert.equal(await page.locator('#org-members-table select, #org-members-table button').count(), 0);
        if (width === 375) {
          await assertFitsWidth(page, width, 'members');
          await screenshot(page, `organization-members-375-${dialect}`);
        }
        await goto(page, '/organization/invites');
        await page.locator('#org-invites-table').waitFor();
        assert.equal(await page.locator('#org-invite-form').count(), 0);
        assert.equal(await page.locator('#org-invites-table button').count(), 0);
        await goto(page, '/organization/groups');
        await page.locator('#org-groups-table').waitFor();
        assert.equal(await page.locator('#org-group-form, #org-groups-table button').count(), 0);
        await page.locator('#org-groups-table a').first().click();
        await page.locator('#org-group-users-table').waitFor();
        assert.equal(await page.locator('#org-group-add-form, #org-group-assign-form, #org-group-rename-form, #org-group button').count(), 0);
        await goto(page, '/organization/roles');
        await page.locator('#org-roles-table tr[data-role-name="Auditor"]').waitFor();
        assert.equal(await page.locator('#org-role-new, #org-roles-table button').count(), 0);
        if (width === 375) await assertFitsWidth(page, width, 'roles');

        // the server refuses a write made with the reader's own session and CSRF token
        const writes: Array<[string, string, unknown]> = [
          ['POST', '/v1/organization/groups', { name: 'sneaky' }],
          ['POST', '/v1/organization/invites', { email: 'sneaky@orbit.example', role: 'owner' }],
          ['POST', `/v1/organization/users/${invitee.id}`, { role: 'owner' }],
          ['POST', '/v1/organization/roles', { role_name: 'sneaky', permissions: ['*'] }],
          ['DELETE', `/v1/organization/users/${invitee.id}`, undefined],
        ];
        // (no named functions inside: the page runs this code as it is)
        const statuses = await page.evaluate(async (list) => {
          const session = (await (await fetch('/console/api/session')).json()) as { csrf_token: string };
          return Promise.all(
            list.map(([method, url, body]) =>
              fetch(url, { method, headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.status),
            ),
          );
        }, writes);
        assert.deepEqual(statuses, [403, 403, 403, 403, 403]);
        assert.equal((await s.rt.core.users.getMember(SYSTEM, orgId, invitee.id)).role, 'reader');
        assert.deepEqual(realProblems(problems), []);
      });
    }
  });
}
