// Benchmark: the usage rollups and the Usage API at scale. N gateway usage events (default
// 10,000,000) spread over 31 days, many projects, keys, users and models, go through the gateway's
// own write path (UsageRecorder.add + flush: events, usage_daily and the minute/hour/day rollups in
// one transaction per flush) on SQLite and on PostgreSQL (when reachable). Printed per dialect:
// - events per second ingested (target ≥ 50,000/s);
// - the latency (p50 and max over --runs runs) through HTTP of two queries, each beside the same query
//   at 10,000 events in the same run (the baseline), as a ratio: a 31-day `1d` completions query
//   grouped by project and model, and a 24-hour `1m` completions query for one project (1,440
//   buckets); target ≤ 50 ms each.
//
//   npm run bench:usage [-- --events 10000000 --baseline 10000 --batch 20000 --runs 15
//                          --dialect sqlite|postgres|both --projects 50 --models 8 --live 1000000]
//
// Then --live events more as a busy gateway writes them: each flush holds the --batch events of one
// second (the 31 days above give nearly every event a minute row of its own; live traffic of the
// same keys and models shares its minute, hour and day rows), printed as a second ingest rate.
//
// A flush of --batch events stands for one flush interval of a busy gateway (the events of a flush
// are close in time, as they are in production). PostgreSQL: KEYPLANE_BENCH_PG_URL (an admin URL; a
// database is created and dropped), else the tests' KEYPLANE_TEST_PG_URL / local default.
// Events are generated in time order; the baseline's 10,000 are written first, over the same 31 days.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config.ts';
import { ADMIN_KEY_FILE, openRuntime, runBootstrap, type Runtime } from '../src/runtime.ts';
import { buildServer } from '../src/server.ts';
import { SYSTEM } from '../src/domain/actor.ts';
import type { GatewayUsage } from '../src/domain/usage-recorder.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '10000000' },
    baseline: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '15' },
    dialect: { type: 'string', default: 'both' },
    projects: { type: 'string', default: '50' },
    models: { type: 'string', default: '8' },
    live: { type: 'string', default: '1000000' },
  },
});
const N = Number(values.events);
const BASE = Number(values.baseline);
const BATCH = Number(values.batch);
const RUNS = Number(values.runs);
const PROJECTS = Number(values.projects);
const MODELS = Number(values.models);
const LIVE = Number(values.live);
if (!(N > BASE && BASE > 0 && BATCH > 0 && RUNS > 0)) throw new Error('need --events > --baseline > 0, --batch > 0, --runs > 0');

const DAY_MS = 86_400_000;
const END = Math.floor(Date.now() / 60_000) * 60_000; // the data ends at this minute
const START = END - 31 * DAY_MS;
const MODEL_NAMES = Array.from({ length: MODELS }, (_, i) => `bench-model-${i}`);
const KEYS_PER_PROJECT = 4;

/** A deterministic pseudo-random stream (xorshift32). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** `n` events in time order: over [START, END), or with `at(i)` as their times. */
function* events(orgId: string, projects: string[], n: number, seed: number, at?: (i: number) => number): Generator<GatewayUsage> {
  const r = rng(seed);
  const span = END - START;
  for (let i = 0; i < n; i++) {
    const p = Math.floor(r() * projects.length);
    const k = Math.floor(r() * KEYS_PER_PROJECT);
    const user = k % 2 === 0; // half the keys are users', half service accounts'
    const input = 50 + Math.floor(r() * 2000);
    const cached = Math.floor(input * r() * 0.5);
    const output = 10 + Math.floor(r() * 500);
    const model = MODEL_NAMES[Math.floor(r() * r() * MODEL_NAMES.length)]!;
    yield {
      orgId, projectId: projects[p]!, apiKeyId: `key_bench_${p}_${k}`, keyOwnerType: user ? 'user' : 'service_account', keyOwnerId: user ? `user_bench_${p}_${k}` : `svc_bench_${p}_${k}`,
      endUser: null, sessionId: null, model, servedModel: model, provider: 'openai', credentialSource: 'tenant',
      endpoint: r() < 0.9 ? 'chat.completions' : 'embeddings',
      inputTokens: input, cachedInputTokens: cached, outputTokens: output, images: 0, audioSeconds: 0, audioBytes: 0,
      costNanoUsd: input * 150 + output * 600, costParts: { input: (input - cached) * 150, cachedInput: cached * 75, output: output * 600 },
      serviceTier: r() < 0.8 ? 'default' : 'flex', status: 200, latencyMs: 300, stream: false,
      at: at ? at(i) : START + Math.floor((i + r()) * (span / n)),
    };
  }
}

/** Writes `n` events through the recorder, --batch per flush; returns events per second. */
async function ingest(rt: Runtime, orgId: string, projects: string[], n: number, seed: number, label: string, at?: (i: number) => number): Promise<number> {
  const rec = rt.core.usageRecorder;
  let done = 0;
  let lastPrint = performance.now();
  const t0 = performance.now();
  let batch = 0;
  for (const ev of events(orgId, projects, n, seed, at)) {
    rec.add(ev);
    if (++batch === BATCH) {
      await rec.flush();
      done += batch;
      batch = 0;
      if (performance.now() - lastPrint > 10_000) {
        lastPrint = performance.now();
        console.log(`  ${label}: ${done.toLocaleString('en-US')} / ${n.toLocaleString('en-US')} events, ${Math.round(done / ((lastPrint - t0) / 1000)).toLocaleString('en-US')}/s`);
      }
    }
  }
  await rec.flush();
  if (rec.dropped) throw new Error(`${rec.dropped} events dropped`);
  return n / ((performance.now() - t0) / 1000);
}

interface Stat {
  p50: number;
  max: number;
}
async function measure(url: string, key: string, pathAndQuery: string): Promise<Stat> {
  const times: number[] = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const t = performance.now();
    const res = await fetch(`${url}${pathAndQuery}`, { headers: { authorization: `Bearer ${key}` } });
    const body = await res.text();
    const ms = performance.now() - t;
    if (res.status !== 200) throw new Error(`${pathAndQuery}: ${res.status} ${body.slice(0, 200)}`);
    if (i >= 2) times.push(ms); // two warm-up runs
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length / 2)]!, max: times[times.length - 1]! };
}

async function runDialect(dialect: 'sqlite' | 'postgres'): Promise<void> {
  if (dialect === 'postgres' && process.env.KEYPLANE_BENCH_PG_URL) process.env.KEYPLANE_TEST_PG_URL = process.env.KEYPLANE_BENCH_PG_URL;
  const { createTestDb } = await import('../test/helpers/db.ts');
  const db = await createTestDb(dialect);
  // the minute rows of the whole 31 days stay (the bench's data is older than the default 7 days)
  const config = loadConfig({ port: '0', logLevel: 'silent', dataDir: db.dataDir, usageMinuteRetentionDays: '0', ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
  const rt = await openRuntime(config);
  await runBootstrap(rt);
  const key = fs.readFileSync(path.join(db.dataDir, ADMIN_KEY_FILE), 'utf8').trim();
  const app = await buildServer(config, rt.core);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  try {
    const orgId = (await rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    const projects = Array.from({ length: PROJECTS }, (_, i) => `proj_bench_${String(i).padStart(3, '0')}`);
    const q31 = `/v1/organization/usage/completions?start_time=${Math.floor(START / 1000)}&end_time=${Math.floor(END / 1000)}&bucket_width=1d&limit=31&group_by=project_id&group_by=model`;
    const q24 = `/v1/organization/usage/completions?start_time=${Math.floor((END - DAY_MS) / 1000)}&end_time=${Math.floor(END / 1000)}&bucket_width=1m&limit=1440&project_ids=${projects[0]}`;

    console.log(`\n${dialect}: ${PROJECTS} projects × ${KEYS_PER_PROJECT} keys (half users', half service accounts'), ${MODELS} models, 2 tiers, 31 days; ${BATCH.toLocaleString('en-US')} events per flush`);
    await ingest(rt, orgId, projects, BASE, 1, 'baseline');
    const base31 = await measure(url, key, q31);
    const base24 = await measure(url, key, q24);
    const rate = await ingest(rt, orgId, projects, N - BASE, 2, 'ingest');
    const big31 = await measure(url, key, q31);
    const big24 = await measure(url, key, q24);
    // live traffic: a flush holds the events of one second (--batch events a second), as at a busy
    // gateway; the 31 days above squeeze a minute's worth of rows into each event instead
    const liveN = Math.min(LIVE, N);
    const liveStart = END + 60_000;
    const live = await ingest(rt, orgId, projects, liveN, 3, 'live', (i) => liveStart + Math.floor(i / BATCH) * 1000 + Math.floor(((i % BATCH) / BATCH) * 1000));
    const rollups = await rt.store.db.selectFrom('usage_rollups').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();

    const f = (x: number) => x.toFixed(1).padStart(7);
    console.log(`${dialect}: ingested ${(N - BASE).toLocaleString('en-US')} events over 31 days at ${Math.round(rate).toLocaleString('en-US')} events/s (target ≥ 50,000/s); ${Number(rollups.n).toLocaleString('en-US')} rollup rows`);
    console.log(`${dialect}: live ingest, ${BATCH.toLocaleString('en-US')} events a second in one flush each: ${liveN.toLocaleString('en-US')} events at ${Math.round(live).toLocaleString('en-US')} events/s (target ≥ 50,000/s)`);
    console.log(`  query (ms, ${RUNS} runs)                      at ${BASE.toLocaleString('en-US')}: p50    max   at ${N.toLocaleString('en-US')}: p50    max   ratio p50  ratio max  target`);
    for (const [name, b, g] of [
      ['31 d, 1d, by project and model', base31, big31],
      ['24 h, 1m, one project (1,440 buckets)', base24, big24],
    ] as const) {
      console.log(`  ${name.padEnd(40)} ${f(b.p50)} ${f(b.max)}       ${f(g.p50)} ${f(g.max)}   ${(g.p50 / b.p50).toFixed(2).padStart(7)}x ${(g.max / b.max).toFixed(2).padStart(8)}x   p50 ≤ 50 ms: ${g.p50 <= 50 ? 'met' : 'MISSED'}`);
    }
  } finally {
    await app.close();
    await rt.close();
    await db.drop();
  }
}

const { postgresReachable } = await import('../test/helpers/db.ts');
const dialects: Array<'sqlite' | 'postgres'> = values.dialect === 'both' ? ['sqlite', ...((await postgresReachable()) ? (['postgres'] as const) : [])] : [values.dialect as 'sqlite' | 'postgres'];
for (const d of dialects) await runDialect(d);
