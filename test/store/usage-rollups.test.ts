// The usage rollups the gateway's flush writes (src/domain/usage-rollups.ts, src/store/usage-writes.ts)
// on SQLite (prepared statements, and Kysely's executor when no connection is given) and PostgreSQL:
// per-minute, per-hour and per-day rows keyed as the Usage API needs them ('' for absent
// dimensions, the key owner as user), counters upsert-added across flushes, the cost split kept,
// the day rows equal to `usage_daily` for the same events, failed requests without usage left out,
// and compaction deleting old minute rows only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/db.ts';
import { UsageRecorder, type GatewayUsage } from '../../src/domain/usage-recorder.ts';
import { rollupRows, usageKindOf } from '../../src/domain/usage-rollups.ts';
import { createTestDb, testDialects, type TestDb } from '../helpers/db.ts';

const H = Date.UTC(2026, 0, 15, 10); // 2026-01-15T10:00Z
const sec = (ms: number) => Math.floor(ms / 1000);

function ev(orgId: string, over: Partial<GatewayUsage> = {}): GatewayUsage {
  return {
    orgId, projectId: 'proj_a', apiKeyId: 'key_a', keyOwnerType: 'user', keyOwnerId: 'user_ada', endUser: 'end-user-x', sessionId: null,
    model: 'gpt-4o', servedModel: 'gpt-4o', provider: 'openai', credentialSource: 'tenant', endpoint: 'chat.completions',
    inputTokens: 100, cachedInputTokens: 40, outputTokens: 20, images: 0, audioSeconds: 0, audioBytes: 0,
    costNanoUsd: 600, costParts: { input: 300, cachedInput: 100, output: 200 }, serviceTier: 'default',
    status: 200, latencyMs: 5, stream: false, at: H, ...over,
  };
}

test('gateway endpoints map to usage kinds', () => {
  const kinds = ['chat.completions', 'completions', 'responses', 'messages', 'embeddings', 'moderations', 'images.generations', 'images.edits', 'audio.speech', 'audio.transcriptions', 'audio.translations'].map(usageKindOf);
  assert.deepEqual(kinds, ['completions', 'completions', 'completions', 'completions', 'embeddings', 'moderations', 'images', 'images', 'audio_speeches', 'audio_transcriptions', 'audio_transcriptions']);
});

test('rollupRows: one row per key and width, in key order (width, bucket, dimensions), sums exact', () => {
  const base = { org_id: 'o', project_id: null, api_key_id: 'k', key_owner_type: 'service_account', key_owner_id: 'sa', model: 'm', endpoint: 'embeddings', batch: 0, service_tier: null, prompt_tokens: 3, cached_input_tokens: 0, completion_tokens: 0, images: 0, characters: 0, audio_ms: 0, cost_input: 1, cost_cached_input: 0, cost_output: 0 };
  const rows = rollupRows([{ ...base, created_at: H }, { ...base, created_at: H + 59_999 }, { ...base, created_at: H + 60_000 }]);
  assert.deepEqual(rows.map((r) => [r.width, r.bucket, r.requests, r.input_tokens, r.project_id, r.user_id, r.service_tier, r.kind]), [
    [3600, sec(H), 3, 9, '', '', '', 'embeddings'],
    [60, sec(H), 2, 6, '', '', '', 'embeddings'],
    [60, sec(H) + 60, 1, 3, '', '', '', 'embeddings'],
    [86400, sec(H) - (sec(H) % 86400), 3, 9, '', '', '', 'embeddings'],
  ].sort((a, b) => (a[0] as number) - (b[0] as number)));
});

for (const dialect of await testDialects()) {
  describe(`usage rollups (${dialect})`, () => {
    let tdb: TestDb;
    let store: Store;
    before(async () => {
      tdb = await createTestDb(dialect);
      store = openStore({ dataDir: tdb.dataDir, databaseUrl: tdb.databaseUrl });
      await store.migrate();
      const now = Date.now();
      for (const id of ['org-r', 'org-k', 'org-c']) {
        await store.db.insertInto('organizations').values({ id, slug: id, name: id, use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
      }
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    const rowsOf = (orgId: string) => store.db.selectFrom('usage_rollups').selectAll().where('org_id', '=', orgId).orderBy(['width', 'bucket', 'project_id', 'user_id', 'model']).execute();

    const vias = dialect === 'sqlite' ? (['prepared', 'kysely'] as const) : (['jsonb_to_recordset'] as const);
    for (const via of vias) {
      test(`minute, hour and day rows; upsert-add across flushes; the day rows equal usage_daily (${via})`, async () => {
        const orgId = via === 'kysely' ? 'org-k' : 'org-r';
        const rec = new UsageRecorder(via === 'kysely' ? { db: store.db } : store, { onError: () => {} });
        rec.add(ev(orgId));
        rec.add(ev(orgId, { at: H + 30_000 })); // same minute
        rec.add(ev(orgId, { at: H + 90_000, projectId: null, apiKeyId: 'key_sa', keyOwnerType: 'service_account', keyOwnerId: 'sa_1', serviceTier: null })); // next minute, no project, a service account
        rec.add(ev(orgId, { at: H + 2 * 3_600_000, model: 'tts-1', endpoint: 'audio.speech', inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, characters: 11, costNanoUsd: 0, costParts: { input: 0, cachedInput: 0, output: 0 } }));
        rec.add(ev(orgId, { status: 502, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, costNanoUsd: 0, costParts: { input: 0, cachedInput: 0, output: 0 } })); // failed, used nothing
        await rec.flush();
        rec.add(ev(orgId, { at: H + 45_000 })); // a later flush adds to the same rows
        await rec.flush();

        const rows = await rowsOf(orgId);
        const minute = rows.filter((r) => r.width === 60);
        assert.deepEqual(
          minute.map((r) => ({ b: r.bucket - sec(H), kind: r.kind, p: r.project_id, u: r.user_id, k: r.api_key_id, m: r.model, t: r.service_tier, n: r.requests, i: r.input_tokens, c: r.cached_input_tokens, o: r.output_tokens, ch: r.characters, ci: r.cost_input_nano_usd, cc: r.cost_cached_input_nano_usd, co: r.cost_output_nano_usd, batch: r.batch })),
          [
            { b: 0, kind: 'completions', p: 'proj_a', u: 'user_ada', k: 'key_a', m: 'gpt-4o', t: 'default', n: 3, i: 300, c: 120, o: 60, ch: 0, ci: 900, cc: 300, co: 600, batch: 0 },
            { b: 60, kind: 'completions', p: '', u: '', k: 'key_sa', m: 'gpt-4o', t: '', n: 1, i: 100, c: 40, o: 20, ch: 0, ci: 300, cc: 100, co: 200, batch: 0 },
            { b: 7200, kind: 'audio_speeches', p: 'proj_a', u: 'user_ada', k: 'key_a', m: 'tts-1', t: 'default', n: 1, i: 0, c: 0, o: 0, ch: 11, ci: 0, cc: 0, co: 0, batch: 0 },
          ],
        );
        const hour = rows.filter((r) => r.width === 3600);
        assert.deepEqual(hour.map((r) => [r.bucket - sec(H), r.kind, r.project_id, r.requests, r.input_tokens]), [[0, 'completions', '', 1, 100], [0, 'completions', 'proj_a', 3, 300], [7200, 'audio_speeches', 'proj_a', 1, 0]]);
        const day = rows.filter((r) => r.width === 86400);
        assert.equal(new Set(day.map((r) => r.bucket)).size, 1);
        // the day rows hold what usage_daily holds for the same day (usage_daily also counts the failed request)
        const daily = await store.db.selectFrom('usage_daily').selectAll().where('org_id', '=', orgId).execute();
        const total = (xs: Array<Record<string, any>>, f: string) => xs.reduce((a, x) => a + Number(x[f]), 0);
        assert.equal(total(day, 'input_tokens'), total(daily, 'prompt_tokens'));
        assert.equal(total(day, 'output_tokens'), total(daily, 'completion_tokens'));
        assert.equal(total(day, 'cached_input_tokens'), total(daily, 'cached_input_tokens'));
        assert.equal(total(day, 'cost_input_nano_usd') + total(day, 'cost_cached_input_nano_usd') + total(day, 'cost_output_nano_usd'), total(daily, 'cost_nano_usd'));
        assert.equal(total(day, 'requests') + total(daily, 'errors'), total(daily, 'requests'));
        // the events keep the tier, batch and characters
        const events = await store.db.selectFrom('usage_events').select(['service_tier', 'batch', 'characters', 'model']).where('org_id', '=', orgId).execute();
        assert.equal(events.length, 6);
        assert.deepEqual(events.find((e) => e.model === 'tts-1'), { service_tier: 'default', batch: 0, characters: 11, model: 'tts-1' });
      });
    }

    test('many keys in one flush, then more: every row as summed in memory', async () => {
      const orgId = 'org-m';
      const now = Date.now();
      await store.db.insertInto('organizations').values({ id: orgId, slug: orgId, name: orgId, use_default_llm_key: 0, free_trial_enabled: 0, free_trial_metadata: null, created_at: now, updated_at: now }).execute();
      const rec = new UsageRecorder(store, { onError: () => {} });
      const evs: GatewayUsage[] = [];
      for (let i = 0; i < 1037; i++) evs.push(ev(orgId, { projectId: `proj_${i % 13}`, model: `m${i % 5}`, at: H + (i % 97) * 60_000 + i, inputTokens: i, cachedInputTokens: 0 }));
      for (const e of evs) rec.add(e);
      await rec.flush();
      for (const e of evs.slice(0, 100)) rec.add(e); // a second flush adds to existing rows
      await rec.flush();
      const stored = await rowsOf(orgId);
      const byWidth = (w: number) => stored.filter((r) => r.width === w);
      for (const w of [60, 3600, 86400]) {
        assert.equal(byWidth(w).reduce((a, r) => a + r.requests, 0), 1137, `width ${w}`);
        assert.equal(byWidth(w).reduce((a, r) => a + r.input_tokens, 0), evs.reduce((a, e) => a + e.inputTokens, 0) + evs.slice(0, 100).reduce((a, e) => a + e.inputTokens, 0), `width ${w}`);
      }
      // as many minute rows as distinct (minute, project, model)
      assert.equal(byWidth(60).length, new Set(evs.map((e) => `${Math.floor(e.at / 60_000)}|${e.projectId}|${e.model}`)).size);
    });

    test('compaction deletes minute rows older than the retention; hour and day rows stay', async () => {
      const orgId = 'org-c';
      const now = H + 30 * 86_400_000;
      const rec = new UsageRecorder(store, { minuteRetentionDays: 7, now: () => now, onError: () => {} });
      rec.add(ev(orgId, { at: now - 8 * 86_400_000 })); // older than 7 days
      rec.add(ev(orgId, { at: now - 6 * 86_400_000 }));
      await rec.flush();
      const before = await rowsOf(orgId);
      assert.deepEqual(before.map((r) => r.width).sort(), [3600, 3600, 60, 60, 86400, 86400].sort());
      // every organization's old minute rows go (the other tests' rows are older too)
      const cutoff = sec(now - 7 * 86_400_000);
      const old = await store.db.selectFrom('usage_rollups').select('bucket').where('width', '=', 60).where('bucket', '<', cutoff).execute();
      assert.ok(old.length >= 1);
      assert.equal(await rec.compact(), old.length);
      assert.deepEqual(await store.db.selectFrom('usage_rollups').select('bucket').where('width', '=', 60).where('bucket', '<', cutoff).execute(), []);
      const afterRows = await rowsOf(orgId);
      assert.deepEqual(afterRows.filter((r) => r.width === 60).map((r) => r.bucket), [sec(now - 6 * 86_400_000) - (sec(now - 6 * 86_400_000) % 60)]);
      assert.equal(afterRows.filter((r) => r.width !== 60).length, 4);
      // 0 days: kept forever
      assert.equal(await new UsageRecorder(store, { minuteRetentionDays: 0 }).compact(now + 100 * 86_400_000), 0);
    });
  });
}
