// The operator's list of organizations (/platform/v1/organizations): without `limit` every
// organization (as clients written before paging expect), with `limit` one keyset page at a time
// (`after` = the previous page's `last_id`), oldest first; a cursor that is no organization, or a
// limit out of 1..100, is a 400 in OpenAI's envelope. Both dialects.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { assertOpenAIError, http } from '../../helpers/http.ts';
import { testDialects } from '../../helpers/db.ts';
import { SYSTEM } from '../../../src/domain/actor.ts';

for (const dialect of await testDialects()) {
  describe(`platform API: organizations list (${dialect})`, () => {
    const rootKey = randomBytes(32).toString('hex');
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect, { rootKey });
      for (let i = 0; i < 5; i++) await s.rt.core.orgs.create(SYSTEM, { name: `Paged ${i}`, slug: `paged-${i}-${randomBytes(2).toString('hex')}` });
    });
    after(async () => {
      await s?.close();
    });

    test('keyset pages walk every organization once, in the order of the full list', async () => {
      const all = await http(s, 'GET', '/platform/v1/organizations', rootKey);
      assert.equal(all.status, 200);
      assert.equal(all.json.has_more, false);
      const ids = (all.json.data as Array<{ id: string }>).map((o) => o.id);
      assert.equal(ids.length, 6); // main and five
      const walked: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 10; i++) {
        const page: any = await http(s, 'GET', `/platform/v1/organizations?limit=2${after ? `&after=${after}` : ''}`, rootKey);
        assert.equal(page.status, 200, JSON.stringify(page.json));
        assert.ok(page.json.data.length <= 2);
        walked.push(...page.json.data.map((o: { id: string }) => o.id));
        after = page.json.last_id;
        if (!page.json.has_more) break;
      }
      assert.deepEqual(walked, ids);
    });

    test('a bad limit or cursor is a 400', async () => {
      for (const q of ['limit=0', 'limit=101', 'limit=abc', `limit=2&after=org-${randomBytes(8).toString('hex')}`]) {
        const r = await http(s, 'GET', `/platform/v1/organizations?${q}`, rootKey);
        assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.json)}`);
        assertOpenAIError(r.json);
      }
    });
  });
}
