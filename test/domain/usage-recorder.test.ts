// Buffered gateway usage (src/domain/usage-recorder.ts) on every dialect: what add() buffers is what
// a flush writes, events and summed day rollups in one transaction; a failed flush writes nothing and
// its events are written by the next; flushes never interleave; stop() flushes; add() never throws
// on bad input; the buffer is bounded; and the ibl.ai tokens endpoint shows recorder-written usage
// per end user and session over HTTP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { KyselyPlugin } from 'kysely';
import { SYSTEM } from '../../src/domain/actor.ts';
import { MAX_COUNT, UsageRecorder, type GatewayUsage } from '../../src/domain/usage-recorder.ts';
import type { Db } from '../../src/store/db.ts';
import { testDialects } from '../helpers/db.ts';
import { openTestCore, type TestCore } from '../helpers/core.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { assertDetail, ibl } from '../faces/iblai/helpers.ts';

const DAY = 86_400_000;
const D1 = Date.UTC(2024, 2, 10, 8); // 2024-03-10
const D2 = D1 + DAY; // 2024-03-11

function usage(orgId: string, over: Partial<GatewayUsage> = {}): GatewayUsage {
  return {
    orgId,
    projectId: 'proj_1',
    apiKeyId: 'key_1',
    keyOwnerType: 'service_account',
    keyOwnerId: 'svc_acct_1',
    endUser: 'alice@example.com',
    sessionId: 'sess-1',
    model: 'gpt-4o',
    servedModel: 'gpt-4o-2024-08-06',
    provider: 'openai',
    credentialSource: 'tenant',
    endpoint: 'chat.completions',
    inputTokens: 100,
    cachedInputTokens: 40,
    outputTokens: 20,
    images: 0,
    audioSeconds: 0,
    audioBytes: 0,
    costNanoUsd: 1_234_567,
    status: 200,
    latencyMs: 350,
    stream: false,
    at: D1,
    ...over,
  };
}

interface Daily {
  key: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_input_tokens: number;
  cost_nano_usd: number;
  errors: number;
}

/** The rollups as the test expects them, computed from the events independently of the recorder. */
function expectedDaily(evs: GatewayUsage[]): Daily[] {
  const m = new Map<string, Daily>();
  for (const e of evs) {
    const key = [e.orgId, new Date(e.at).toISOString().slice(0, 10), e.projectId ?? '', e.endUser ?? '', e.sessionId ?? '', e.model].join('|');
    const d = m.get(key) ?? { key, requests: 0, prompt_tokens: 0, completion_tokens: 0, cached_input_tokens: 0, cost_nano_usd: 0, errors: 0 };
    d.requests++;
    d.prompt_tokens += e.inputTokens;
    d.completion_tokens += e.outputTokens;
    d.cached_input_tokens += e.cachedInputTokens;
    d.cost_nano_usd += e.costNanoUsd;
    d.errors += e.status >= 200 && e.status < 300 ? 0 : 1;
    m.set(key, d);
  }
  return [...m.values()].sort((a, b) => a.key.localeCompare(b.key));
}

async function actualDaily(db: Db, orgId: string): Promise<Daily[]> {
  const rows = await db.selectFrom('usage_daily').selectAll().where('org_id', '=', orgId).execute();
  return rows
    .map((r) => ({
      key: [r.org_id, r.day, r.project_id, r.user_id, r.session_id, r.model].join('|'),
      requests: Number(r.requests),
      prompt_tokens: Number(r.prompt_tokens),
      completion_tokens: Number(r.completion_tokens),
      cached_input_tokens: Number(r.cached_input_tokens),
      cost_nano_usd: Number(r.cost_nano_usd),
      errors: Number(r.errors),
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

async function eventCount(db: Db, orgId: string): Promise<number> {
  const r = await db.selectFrom('usage_events').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/** A view of `db` that counts transactions and statements, and how many transactions overlap. */
function spy(db: Db) {
  const stats = { transactions: 0, active: 0, maxActive: 0, inserts: new Map<string, number>(), selects: 0 };
  const plugin: KyselyPlugin = {
    transformQuery(args) {
      const node = args.node as any;
      if (node.kind === 'InsertQueryNode') {
        const table = node.into.table.identifier.name as string;
        stats.inserts.set(table, (stats.inserts.get(table) ?? 0) + 1);
      } else if (node.kind === 'SelectQueryNode') stats.selects++;
      return args.node;
    },
    async transformResult(args) {
      return args.result;
    },
  };
  const withPlugin = db.withPlugin(plugin);
  const wrapped = new Proxy(withPlugin, {
    get(target, prop) {
      if (prop === 'transaction') {
        return () => {
          const builder = target.transaction();
          return {
            execute: async <T>(fn: (tx: any) => Promise<T>): Promise<T> => {
              stats.transactions++;
              stats.active++;
              stats.maxActive = Math.max(stats.maxActive, stats.active);
              try {
                // a pause inside the transaction gives a second flush every chance to overlap
                return await builder.execute(async (tx) => {
                  await new Promise((r) => setTimeout(r, 5));
                  return fn(tx);
                });
              } finally {
                stats.active--;
              }
            },
          };
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Db;
  return { db: wrapped, stats };
}

for (const dialect of await testDialects()) {
  describe(`usage recorder (${dialect})`, () => {
    let t: TestCore;
    let orgCount = 0;
    const newOrg = async () => {
      orgCount++;
      return (await t.core.orgs.create(SYSTEM, { name: `Usage ${orgCount}`, slug: `usage-${orgCount}` })).org.id;
    };
    before(async () => {
      t = await openTestCore(dialect);
    });
    after(async () => t?.close());

    test('many adds, one flush: every event row as added, rollups summed per key, in one transaction', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const { db, stats } = spy(t.store.db);
      const r = new UsageRecorder({ db }, { onError: (e) => errors.push(e) });
      const evs: GatewayUsage[] = [];
      for (let i = 0; i < 1201; i++) {
        const ev = usage(orgId, {
          endUser: i % 3 === 0 ? 'ext-user-42' : i % 3 === 1 ? 'alice@example.com' : null,
          sessionId: i % 2 ? 'sess-a' : null,
          model: i % 5 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
          projectId: i % 7 === 0 ? null : 'proj_1',
          inputTokens: 10 + i,
          cachedInputTokens: i % 4,
          outputTokens: i % 13,
          costNanoUsd: 1_000_003 * (i % 11),
          status: i % 17 === 0 ? 500 : i % 19 === 0 ? 429 : 200,
          stream: i % 2 === 0,
          at: (i % 2 ? D1 : D2) + i,
        });
        evs.push(ev);
        r.add(ev);
      }
      assert.equal(r.buffered, 1201);
      assert.equal(await eventCount(t.store.db, orgId), 0, 'nothing written before the flush');
      await r.flush();
      assert.equal(errors.length, 0, errors.map((e) => e.message).join('\n'));
      assert.equal(r.buffered, 0);
      assert.equal(stats.transactions, 1);
      // the events, the day rollups and the usage rollups go through the bulk writers (test/store/usage-writes.test.ts,
      // test/store/usage-rollups.test.ts): raw statements, no query-builder inserts
      assert.equal(stats.inserts.get('usage_daily') ?? 0, 0);
      assert.equal(await eventCount(t.store.db, orgId), 1201);
      assert.deepEqual(await actualDaily(t.store.db, orgId), expectedDaily(evs));

      // every column of an event, as added
      const rows = await t.store.db.selectFrom('usage_events').selectAll().where('org_id', '=', orgId).orderBy('id').execute();
      const first = rows.find((x) => Number(x.created_at) === D2)!;
      assert.deepEqual(
        { ...first, id: undefined },
        {
          id: undefined,
          org_id: orgId,
          project_id: null,
          api_key_id: 'key_1',
          user_id: 'ext-user-42',
          session_id: null,
          model: 'gpt-4o-mini',
          prompt_tokens: 10,
          completion_tokens: 0,
          created_at: D2,
          key_owner_type: 'service_account',
          key_owner_id: 'svc_acct_1',
          served_model: 'gpt-4o-2024-08-06',
          provider: 'openai',
          credential_source: 'tenant',
          endpoint: 'chat.completions',
          cached_input_tokens: 0,
          images: 0,
          audio_ms: 0,
          audio_bytes: 0,
          cost_nano_usd: 0,
          status: 500,
          latency_ms: 350,
          stream: 1,
          service_tier: null,
          batch: 0,
          characters: 0,
        },
      );
      assert.match(first.id, /^use_/);
      assert.equal(new Set(rows.map((x) => x.id)).size, 1201);
      // a flush with nothing buffered does nothing
      await r.flush();
      assert.equal(stats.transactions, 1);
    });

    test('flushes add to the rollups already stored, including those written by UsageService.record', async () => {
      const orgId = await newOrg();
      await t.core.usage.record({ orgId, projectId: 'proj_1', userId: 'alice@example.com', sessionId: 'sess-1', model: 'gpt-4o', promptTokens: 5, completionTokens: 6, at: D1 });
      const r = new UsageRecorder(t.store);
      const evs = [usage(orgId), usage(orgId, { inputTokens: 1, status: 404 })];
      for (const e of evs) r.add(e);
      await r.flush();
      r.add(usage(orgId, { costNanoUsd: 7 }));
      await r.flush();
      const [d] = await actualDaily(t.store.db, orgId);
      assert.deepEqual({ ...d, key: undefined }, { key: undefined, requests: 4, prompt_tokens: 206, completion_tokens: 66, cached_input_tokens: 120, cost_nano_usd: 2 * 1_234_567 + 7, errors: 1 });
    });

    test('a flush that fails writes nothing; its events are written, once, by the next flush', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const r = new UsageRecorder(t.store, { onError: (e) => errors.push(e) });
      const evs = Array.from({ length: 620 }, (_, i) => usage(orgId, { inputTokens: i, sessionId: `s-${i % 3}` }));
      for (const e of evs.slice(0, 600)) r.add(e);
      // the events insert succeeds, the rollup upsert fails: the transaction must leave nothing
      await t.store.db.schema.alterTable('usage_daily').renameTo('usage_daily_off').execute();
      try {
        await assert.rejects(r.flush());
        assert.equal(await eventCount(t.store.db, orgId), 0, 'no event of the failed flush remains');
        assert.equal(r.buffered, 600, 'the events are kept');
        for (const e of evs.slice(600)) r.add(e); // adds go on meanwhile
        await assert.rejects(r.flush());
        assert.equal(r.buffered, 620);
      } finally {
        await t.store.db.schema.alterTable('usage_daily_off').renameTo('usage_daily').execute();
      }
      await r.flush();
      assert.equal(r.buffered, 0);
      assert.equal(await eventCount(t.store.db, orgId), 620);
      assert.deepEqual(await actualDaily(t.store.db, orgId), expectedDaily(evs));
      // the order of the buffer survives the retry: ids increase with the order of add()
      const rows = await t.store.db.selectFrom('usage_events').select(['id', 'prompt_tokens']).where('org_id', '=', orgId).orderBy('id').execute();
      assert.deepEqual(rows.map((x) => Number(x.prompt_tokens)), evs.map((e) => e.inputTokens));
      assert.deepEqual(errors, [], 'flush failures go to the caller of flush(), not to onError');
    });

    test('a flush whose commit succeeded but was reported failed is not counted twice when retried', async () => {
      const orgId = await newOrg();
      let lose = true;
      const real = t.store.db;
      const lossy = new Proxy(real, {
        get(target, prop) {
          if (prop === 'transaction' && lose) {
            return () => ({
              execute: async (fn: (tx: any) => Promise<unknown>) => {
                lose = false;
                await target.transaction().execute(fn as any);
                throw new Error('connection lost at COMMIT');
              },
            });
          }
          const v = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }) as Db;
      const r = new UsageRecorder({ db: lossy });
      const evs = [usage(orgId), usage(orgId, { inputTokens: 3 }), usage(orgId, { at: D2 })];
      for (const e of evs) r.add(e);
      await assert.rejects(r.flush(), /connection lost/);
      assert.equal(r.buffered, 3);
      r.add(usage(orgId, { inputTokens: 1000 }));
      evs.push(usage(orgId, { inputTokens: 1000 }));
      await r.flush();
      assert.equal(await eventCount(real, orgId), 4);
      assert.deepEqual(await actualDaily(real, orgId), expectedDaily(evs));
    });

    test('concurrent flushes do not interleave, and every event is written once', async () => {
      const orgId = await newOrg();
      const { db, stats } = spy(t.store.db);
      const r = new UsageRecorder({ db });
      const evs: GatewayUsage[] = [];
      const flushes: Array<Promise<void>> = [];
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 50; i++) {
          const e = usage(orgId, { inputTokens: round * 100 + i, endUser: `u-${i % 4}` });
          evs.push(e);
          r.add(e);
        }
        flushes.push(r.flush(), r.flush());
      }
      await Promise.all(flushes);
      assert.equal(stats.maxActive, 1, 'one transaction at a time');
      assert.ok(stats.transactions >= 1 && stats.transactions <= 5, `${stats.transactions} transactions`);
      assert.equal(await eventCount(t.store.db, orgId), 250);
      assert.deepEqual(await actualDaily(t.store.db, orgId), expectedDaily(evs));
    });

    test('the timer flushes every flushMs; stop() flushes what is left; adds after stop are dropped with an error', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const r = new UsageRecorder(t.store, { flushMs: 20, onError: (e) => errors.push(e) });
      r.start();
      r.add(usage(orgId));
      for (let i = 0; i < 200 && (await eventCount(t.store.db, orgId)) < 1; i++) await new Promise((res) => setTimeout(res, 10));
      assert.equal(await eventCount(t.store.db, orgId), 1, 'written by the timer');
      await r.stop();

      const slow = new UsageRecorder(t.store, { flushMs: 3_600_000, onError: (e) => errors.push(e) });
      slow.start();
      for (let i = 0; i < 3; i++) slow.add(usage(orgId, { sessionId: 'at-stop' }));
      await slow.stop();
      assert.equal(slow.buffered, 0);
      assert.equal(await eventCount(t.store.db, orgId), 4);
      assert.equal(errors.length, 0, errors.map((e) => e.message).join('\n'));
      slow.add(usage(orgId));
      assert.equal(slow.buffered, 0);
      assert.equal(slow.dropped, 1);
      assert.match(errors[0]!.message, /stopped/);
    });

    test('add never throws: bad numbers are clamped, bad text corrected, unusable events dropped, each with one error', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const r = new UsageRecorder(t.store, { onError: (e) => errors.push(e), now: () => D2 + 5 });
      const bad = usage(orgId, {
        inputTokens: Number.NaN,
        cachedInputTokens: -5,
        outputTokens: Number.POSITIVE_INFINITY,
        images: '3' as any,
        audioSeconds: 1.2345,
        audioBytes: 2 ** 60,
        costNanoUsd: 10.6,
        status: 'ok' as any,
        latencyMs: -1,
        at: Number.NaN,
        endUser: 'x'.repeat(300),
        sessionId: 'sess\u0000-nul',
        keyOwnerType: 'robot' as any,
        credentialSource: 'stolen' as any,
        provider: 42 as any,
        projectId: '',
      });
      assert.doesNotThrow(() => r.add(bad));
      assert.equal(errors.length, 1, 'one error for one corrected event');
      for (const field of ['inputTokens', 'cachedInputTokens', 'outputTokens', 'images', 'audioBytes', 'status', 'latencyMs', 'at', 'endUser', 'keyOwnerType', 'credentialSource', 'provider']) {
        assert.ok(errors[0]!.message.includes(field), `${field} in ${errors[0]!.message}`);
      }
      // dropped: no organization or model, not an object; the request path never sees a throw
      for (const ev of [usage('', {}), usage(orgId, { model: '' }), usage(orgId, { model: 7 as any }), null, undefined, 'x', { orgId }] as any[]) {
        assert.doesNotThrow(() => r.add(ev));
      }
      assert.equal(errors.length, 8);
      assert.equal(r.dropped, 7);
      assert.equal(r.buffered, 1);
      // a throwing logger does not reach the caller either
      const r2 = new UsageRecorder(t.store, {
        onError: () => {
          throw new Error('logger down');
        },
      });
      assert.doesNotThrow(() => r2.add(null as any));

      await r.flush();
      const row = await t.store.db.selectFrom('usage_events').selectAll().where('org_id', '=', orgId).executeTakeFirstOrThrow();
      assert.equal(row.prompt_tokens, 0);
      assert.equal(row.cached_input_tokens, 0);
      assert.equal(row.completion_tokens, MAX_COUNT);
      assert.equal(row.images, 0);
      assert.equal(row.audio_ms, 1235);
      assert.equal(row.audio_bytes, MAX_COUNT);
      assert.equal(row.cost_nano_usd, 11);
      assert.equal(row.status, 0);
      assert.equal(row.latency_ms, 0);
      assert.equal(row.created_at, D2 + 5);
      assert.equal(row.user_id, 'x'.repeat(255));
      assert.equal(row.session_id, 'sess-nul');
      assert.equal(row.key_owner_type, null);
      assert.equal(row.credential_source, null);
      assert.equal(row.provider, null);
      assert.equal(row.project_id, null);
      const [d] = await actualDaily(t.store.db, orgId);
      assert.equal(d!.errors, 1, 'status 0 is not a success');
      assert.equal(d!.key, [orgId, '2024-03-11', '', 'x'.repeat(255), 'sess-nul', 'gpt-4o'].join('|'));
    });

    test('events of an organization that does not exist are dropped at flush; the others are written', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const r = new UsageRecorder(t.store, { onError: (e) => errors.push(e) });
      r.add(usage(orgId));
      r.add(usage('org-does-not-exist'));
      r.add(usage('org-does-not-exist'));
      r.add(usage(orgId));
      await r.flush();
      assert.equal(await eventCount(t.store.db, orgId), 2);
      assert.equal(r.buffered, 0);
      assert.equal(r.dropped, 2);
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /org-does-not-exist/);
    });

    test('the buffer holds at most maxBuffered events: beyond it the oldest are dropped, with one error', async () => {
      const orgId = await newOrg();
      const errors: Error[] = [];
      const r = new UsageRecorder(t.store, { maxBuffered: 5, onError: (e) => errors.push(e) });
      await t.store.db.schema.alterTable('usage_daily').renameTo('usage_daily_off').execute();
      try {
        for (let i = 0; i < 4; i++) r.add(usage(orgId, { inputTokens: i }));
        await assert.rejects(r.flush());
        for (let i = 4; i < 9; i++) r.add(usage(orgId, { inputTokens: i }));
        await assert.rejects(r.flush());
        assert.equal(r.buffered, 5);
      } finally {
        await t.store.db.schema.alterTable('usage_daily_off').renameTo('usage_daily').execute();
      }
      assert.equal(errors.length, 1, errors.map((e) => e.message).join('\n'));
      assert.match(errors[0]!.message, /buffer full/);
      assert.equal(r.dropped, 4);
      await r.flush();
      const rows = await t.store.db.selectFrom('usage_events').select('prompt_tokens').where('org_id', '=', orgId).orderBy('id').execute();
      assert.deepEqual(rows.map((x) => Number(x.prompt_tokens)), [4, 5, 6, 7, 8], 'the newest five');
      // after a successful flush a new overflow is reported again
      for (let i = 0; i < 6; i++) r.add(usage(orgId));
      assert.equal(errors.length, 2);
    });

    test('core.usageRecorder: written by core.flush() and by core.stop()', async () => {
      const tc = await openTestCore(dialect, { usageFlushMs: 3_600_000 });
      try {
        const orgId = (await tc.core.orgs.create(SYSTEM, { name: 'Core usage', slug: 'core-usage' })).org.id;
        tc.core.usageRecorder.add(usage(orgId));
        await tc.core.flush();
        assert.equal(await eventCount(tc.store.db, orgId), 1);
        tc.core.usageRecorder.add(usage(orgId));
        await tc.core.stop();
        assert.equal(await eventCount(tc.store.db, orgId), 2);
      } finally {
        await tc.close();
      }
    });
  });

  describe(`ibl.ai tokens from recorded gateway usage (${dialect})`, () => {
    let s: TestServer;
    let orgId: string;
    let otherId: string;
    let otherKey: string;
    let alice: { id: string; email: string };
    const base = '/api/ai-account/orgs/main';
    before(async () => {
      s = await startServer(dialect);
      orgId = (await s.rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
      alice = await s.rt.core.users.addMember(SYSTEM, orgId, { email: 'alice@example.com', role: 'reader' });
      const other = await s.rt.core.orgs.create(SYSTEM, { name: 'Other', slug: 'other' });
      otherId = other.org.id;
      otherKey = other.adminKey.secret;
    });
    after(async () => s?.close());

    test('per end user (any string the client sent) and per session', async () => {
      const rec = s.rt.core.usageRecorder;
      const add = (endUser: string | null, sessionId: string | null, at: number, input: number, output: number, over: Partial<GatewayUsage> = {}) =>
        rec.add(usage(orgId, { endUser, sessionId, at, inputTokens: input, outputTokens: output, ...over }));
      add('carol@example.com', 'gw-s1', D1, 100, 10);
      add('carol@example.com', 'gw-s1', D1 + 1, 50, 5, { status: 500 });
      add('carol@example.com', 'gw-s2', D2, 7, 3, { model: 'gpt-4o-mini' });
      add('ext|42 ünïcode', 'gw-s3', D1, 1000, 100);
      add(alice.email, null, D2, 2, 1); // an end user that is also a keyplane user, by email
      add(null, null, D2, 30, 40);
      rec.add(usage(otherId, { endUser: 'dave', sessionId: 'gw-other', at: D1, inputTokens: 9, outputTokens: 9 }));
      await s.rt.core.usage.record({ orgId, userId: alice.id, sessionId: 'gw-s1', model: 'gpt-4o', promptTokens: 1, completionTokens: 1, at: D1 });
      await rec.flush();

      const get = async (q: string) => {
        const res = await ibl(s, 'GET', `${base}/tokens/${q}`, s.adminKey);
        assert.equal(res.status, 200, res.text);
        return res.json;
      };
      assert.deepEqual(await get(''), [
        { date: '2024-03-10', prompt_tokens: 1151, completion_tokens: 116 },
        { date: '2024-03-11', prompt_tokens: 39, completion_tokens: 44 },
      ]);
      assert.deepEqual(await get('?username=carol%40example.com'), [
        { date: '2024-03-10', prompt_tokens: 150, completion_tokens: 15 },
        { date: '2024-03-11', prompt_tokens: 7, completion_tokens: 3 },
      ]);
      assert.deepEqual(await get(`?username=${encodeURIComponent('ext|42 ünïcode')}`), [{ date: '2024-03-10', prompt_tokens: 1000, completion_tokens: 100 }]);
      // alice by email: her keyplane id's usage and the gateway's end user 'alice@example.com' both count
      assert.deepEqual(await get('?username=alice%40example.com'), [
        { date: '2024-03-10', prompt_tokens: 1, completion_tokens: 1 },
        { date: '2024-03-11', prompt_tokens: 2, completion_tokens: 1 },
      ]);
      assert.deepEqual(await get(`?username=${alice.id}`), [
        { date: '2024-03-10', prompt_tokens: 1, completion_tokens: 1 },
        { date: '2024-03-11', prompt_tokens: 2, completion_tokens: 1 },
      ]);
      assert.deepEqual(await get('?session_id=gw-s1'), [{ date: '2024-03-10', prompt_tokens: 151, completion_tokens: 16 }]);
      assert.deepEqual(await get('?session_id=gw-s1&username=carol%40example.com'), [{ date: '2024-03-10', prompt_tokens: 150, completion_tokens: 15 }]);
      assert.deepEqual(await get('?session_id=gw-s3&username=carol%40example.com'), []);

      // the rollup carries the new sums too
      const day = await s.rt.store.db.selectFrom('usage_daily').selectAll().where('org_id', '=', orgId).where('session_id', '=', 'gw-s1').where('user_id', '=', 'carol@example.com').executeTakeFirstOrThrow();
      assert.deepEqual([day.requests, day.cached_input_tokens, day.cost_nano_usd, day.errors].map(Number), [2, 80, 2 * 1_234_567, 1]);

      // unknown names and other tenants' end users and sessions are not found
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?username=CAROL%40example.com`, s.adminKey), 404);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?username=dave`, s.adminKey), 404);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?username=nobody`, s.adminKey), 404);
      assertDetail(await ibl(s, 'GET', `${base}/tokens/?session_id=gw-other`, s.adminKey), 404);
      // …and found in their own organization
      const theirs = await ibl(s, 'GET', '/api/ai-account/orgs/other/tokens/?username=dave', otherKey);
      assert.deepEqual(theirs.json, [{ date: '2024-03-10', prompt_tokens: 9, completion_tokens: 9 }]);
    });
  });
}
