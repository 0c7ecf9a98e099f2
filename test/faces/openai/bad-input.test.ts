// Every OpenAI admin endpoint of the spec, hit with malformed ids, bodies and queries: each answer is
// a 4xx in the OpenAI envelope (never a 5xx, never a stack trace), and nothing changes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { testDialects } from '../../helpers/db.ts';
import { assertOpenAIError, http } from '../../helpers/http.ts';
import { SPECS_DIR } from '../../helpers/spec.ts';

const spec = JSON.parse(fs.readFileSync(path.join(SPECS_DIR, 'openai-admin.subset.json'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };

const BAD_IDS = ['%00', "x'%20OR%201=1--", 'a'.repeat(300), '%F0%9F%92%A5', '..%2F..%2Fetc', '%E2%80%AE', 'null'];
const BAD_BODIES: unknown[] = ['{', '[]', '"text"', '42', 'null', { name: { $gt: '' } }, { name: 'x'.repeat(5000) }, { role: 7, email: [], name: null, user_id: {} }, '{"__proto__":{"x":1}}'];
const BAD_QUERIES = ['limit=-1', 'limit=1e9', 'limit=abc', 'after=%00', 'order=up', 'include_archived=maybe', 'effective_at[gt]=yesterday', 'event_types[]=nope'];

async function auditCount(s: TestServer): Promise<number> {
  const r = await s.rt.store.db.selectFrom('audit_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

for (const dialect of await testDialects()) {
  describe(`OpenAI face bad input (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer(dialect);
    });
    after(async () => s?.close());

    test('no malformed request yields a 5xx or changes anything', async () => {
      const before = await auditCount(s);
      let requests = 0;
      for (const [template, ops] of Object.entries(spec.paths)) {
        for (const method of Object.keys(ops).filter((m) => ['get', 'post', 'delete'].includes(m))) {
          // a malformed id in the path (with an empty body for POSTs), or a malformed body on a collection
          const cases: Array<[string, unknown]> = template.includes('{')
            ? BAD_IDS.map((id) => [template.replace(/\{[^}]+\}/g, id), method === 'post' ? {} : undefined])
            : method === 'post'
              ? BAD_BODIES.map((b) => [template, b])
              : [];
          for (const [p, body] of cases) {
            const res = await http(s, method.toUpperCase(), `/v1${p}`, s.adminKey, body);
            requests++;
            const what = `${method} ${p} ${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.json)}`;
            assert.ok(res.status >= 400 && res.status < 500, what);
            assert.doesNotThrow(() => assertOpenAIError(res.json), what);
          }
          if (method === 'get' && !template.includes('{')) {
            for (const q of BAD_QUERIES) {
              const res = await http(s, 'GET', `/v1${template}?${q}`, s.adminKey);
              requests++;
              assert.ok(res.status < 500, `GET ${template}?${q} → ${res.status} ${JSON.stringify(res.json)}`);
              if (res.status >= 400) assert.doesNotThrow(() => assertOpenAIError(res.json), `GET ${template}?${q} → ${JSON.stringify(res.json)}`);
            }
          }
        }
      }
      assert.ok(requests > 400, `swept ${requests} requests`);
      assert.equal(await auditCount(s), before, 'no audit event: nothing changed');
    });
  });
}
