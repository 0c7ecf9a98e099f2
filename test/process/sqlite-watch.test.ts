// The embedded SQLite default: a `keyplane` CLI command run against the data directory of a running
// server (another process writing the same file) reaches that server's gateway within a second — the
// server's PRAGMA data_version watcher (src/store/watch.ts) drops its caches — instead of after the
// credential cache's 30 s TTL. Measured from the CLI's exit, polled every 20 ms.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.ts';
import { openaiClient } from '../helpers/http.ts';
import { killAll, runKeyplane, storeArgs, type CliResult } from './spawn.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import { generateKey } from '../../src/crypto/envelope.ts';
import { startMockUpstream, type MockUpstream } from '../gateway/mock-upstream.ts';

after(killAll);

describe('SQLite: a CLI change reaches the running server within a second', () => {
  const masterKey = generateKey().toString('hex');
  let s: TestServer;
  let mock: MockUpstream;
  let key: string;
  const cli = (...args: string[]): Promise<CliResult> => runKeyplane([...args, ...storeArgs(s.db), '--master-key', masterKey]);
  const setDefault = async (apiKey: string) => {
    const r = await cli('defaults', 'set-credential', 'openai', '--value-json', JSON.stringify({ key: apiKey, base_url: `${mock.url}/v1` }));
    assert.equal(r.code, 0, r.stderr);
  };
  const chat = async (): Promise<number> => {
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.arrayBuffer();
    return res.status;
  };

  before(async () => {
    mock = await startMockUpstream();
    s = await startServer('sqlite', { masterKey });
    const orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    await s.rt.core.platform.setDefaultLlmKey(SYSTEM, orgId, true);
    const admin = openaiClient(s, s.adminKey);
    const project = await admin.admin.organization.projects.create({ name: 'Watched' });
    key = (await admin.admin.organization.projects.serviceAccounts.create(project.id, { name: 'bot' })).api_key!.value;
  });

  after(async () => {
    await s?.close();
    await mock?.close();
  });

  test('the default credential replaced by `keyplane defaults set-credential`', async (t) => {
    await setDefault('sk-wrong-default');
    const t0 = Date.now();
    while ((await chat()) === 200) {
      assert.ok(Date.now() - t0 < 1000, 'the first credential not seen within 1 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.notEqual(await chat(), 200, 'the refused credential is what the server holds (cached)');
    await setDefault('sk-upstream-secret');
    const t1 = performance.now();
    while ((await chat()) !== 200) {
      assert.ok(performance.now() - t1 < 1000, 'the CLI change not seen within 1 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = Math.round(performance.now() - t1);
    t.diagnostic(`the server answered with the new credential ${ms} ms after the CLI exited`);
    await setDefault('sk-wrong-again');
    const t2 = performance.now();
    while ((await chat()) === 200) {
      assert.ok(performance.now() - t2 < 1000, 'the second CLI change not seen within 1 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    t.diagnostic(`and the next change ${Math.round(performance.now() - t2)} ms after the CLI exited`);
  });
});
