// Benchmark: what the OpenAI-compatible gateway (`POST /v1/chat/completions`) adds to an upstream's
// latency, its throughput ceiling, and its memory. keyplane runs as its own process
// (`bin/keyplane.mjs serve`) on a fresh database holding 1,000,000 project keys, 10,000 of them with
// known secrets used round-robin; the organization's `openai` credential points at a mock upstream
// (bench/lib/mock-upstream.ts, its own process). For each rate, the same open-loop paced load
// (bench/lib/paced-load.ts) runs directly against the mock (the baseline) and through keyplane,
// non-streaming (latency to the last byte) and streaming (time to first byte); the figure that
// matters is the difference. Then a closed loop measures requests per second, again both ways.
//
//   npm run bench:gateway [-- --rates 500,1000,2000 --seconds 10 --warmup 2 --dialect sqlite|postgres
//                            --keys 1000000 --distinct 10000 --concurrency 64 --pin --mock-only
//                            --redis [redis://127.0.0.1:6379]]
//
// --pin: keyplane on CPU 0, the load generator and the mock on CPU 1 (taskset), so "one core" is
// literal. --mock-only: skip keyplane (checks the generator). PostgreSQL: KEYPLANE_BENCH_PG_URL (an
// admin URL; a database is created and dropped), else the tests' KEYPLANE_TEST_PG_URL / local default.
// Until the gateway exists keyplane answers 404: the baseline still runs, then the bench says
// "gateway route missing" and exits 1.
//
// --redis [URL] (default redis://127.0.0.1:6379): after the cases above, the shared rate limiter on
// Redis (REDIS_URL) against the in-memory one, in the same run, on the same store. Two more keyplane
// processes start with REDIS_URL set (both on the store above: one PostgreSQL database, or one SQLite
// file, which two processes share); the bench checks Redis holds the project's bucket (the limiter did
// not fall back to memory). (a) For each rate, the same paced load (chat, non-streaming) back to back
// through the in-memory node and through one Redis node: p50/p99/p99.9 of both and the difference,
// "what the Redis limiter adds" (target ≤ 0.3 ms at p50, evaluated at every rate given). (b) Closed
// loop: one Redis node with --concurrency connections, then both Redis nodes at once with half the
// connections each (two loads in parallel, their req/s summed), against the in-memory node measured
// again just before. Limits are set far above the load, so every request goes through Redis and none is refused.
// Buckets use the limiter's default key prefix (`kp:v1:rl:{<project id>}:<model>`); the project is
// new in every run, so runs never share a bucket.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import os from 'node:os';
import { generateSecret, KEY_PREFIX } from '../src/crypto/keys.ts';
import { SYSTEM } from '../src/domain/actor.ts';
import { LIMIT_FIELDS, MAX_LIMIT } from '../src/domain/model-catalog.ts';
import { closedLoad, fmtMs, pacedLoad, requestOnce, type ClosedResult, type PacedResult, type Target } from './lib/paced-load.ts';
import { insertProjectKeys } from './lib/keys.ts';
import { hasTaskset, memoryOf, pinSelf, spawnKeyplane, spawnMock, type Child } from './lib/procs.ts';

// `--redis` with no URL after it: the default URL
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) if (argv[i] === '--redis' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('--'))) argv.splice(i + 1, 0, DEFAULT_REDIS);
const { values } = parseArgs({
  args: argv,
  options: {
    redis: { type: 'string' },
    rates: { type: 'string', default: '500,1000,2000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    dialect: { type: 'string', default: 'sqlite' },
    keys: { type: 'string', default: '1000000' },
    distinct: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '64' },
    model: { type: 'string', default: 'gpt-4o-mini' },
    pin: { type: 'boolean', default: false },
    'mock-only': { type: 'boolean', default: false },
  },
});
const RATES = values.rates.split(',').map(Number).filter((r) => r > 0);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const DIALECT = values.dialect === 'postgres' ? 'postgres' : 'sqlite';
const KEYS = Number(values.keys);
const DISTINCT = Math.min(Number(values.distinct), KEYS);
const CONCURRENCY = Number(values.concurrency);
const MODEL = values.model;
const MOCK_ONLY = values['mock-only'];
const PIN = values.pin;
const REDIS = values.redis;

/** Targets, at 1,000 req/s: added p50 and p99 (ms); throughput through keyplane (req/s). */
const TARGET = { rate: 1000, addedP50: 0.5, addedP99: 2, rps: 5000 };
/** --redis: what the Redis limiter may add to the in-memory one's p50 (ms), at every rate given. */
const REDIS_TARGET = { addedP50: 0.3 };

const PATH = '/v1/chat/completions';
const messages = [{ role: 'user', content: 'hi' }];
const BODY = { chat: JSON.stringify({ model: MODEL, messages }), stream: JSON.stringify({ model: MODEL, messages, stream: true }) };
const MB = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const log = (s = '') => console.log(s);

let mock: (Child & { url: string; baseUrl: string }) | undefined;
let keyplane: (Child & { url: string }) | undefined;
const redisNodes: Array<Child & { url: string }> = [];
let redisClient: Redis | undefined;
let dropDb: (() => Promise<void>) | undefined;
let exitCode = 0;

/** Prepares the store (in this process, then closed): org `main`, a project, its keys, the credential, high limits. */
async function prepareStore(mockBaseUrl: string): Promise<{ dataDir: string; databaseUrl: string | undefined; secrets: string[]; projectId: string }> {
  if (DIALECT === 'postgres' && process.env.KEYPLANE_BENCH_PG_URL) process.env.KEYPLANE_TEST_PG_URL = process.env.KEYPLANE_BENCH_PG_URL;
  const { createTestDb } = await import('../test/helpers/db.ts'); // reads KEYPLANE_TEST_PG_URL when loaded
  const { loadConfig } = await import('../src/config.ts');
  const { openRuntime, runBootstrap } = await import('../src/runtime.ts');
  const db = await createTestDb(DIALECT);
  dropDb = () => db.drop();
  const config = loadConfig({ port: '0', logLevel: 'silent', dataDir: db.dataDir, ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {});
  const rt = await openRuntime(config);
  try {
    await runBootstrap(rt);
    const core = rt.core;
    const org = await core.orgs.getBySlug(SYSTEM, 'main');
    const project = await core.projects.create(SYSTEM, org.id, { name: 'gateway-bench' });
    const sa = await core.serviceAccounts.create(SYSTEM, org.id, project.id, { name: 'bench', accountOnly: true });
    await core.credentials.create(SYSTEM, org.id, 'llm', { name: 'openai', value: { key: 'sk-mock', base_url: mockBaseUrl }, platform: org.slug });
    // limits far above anything the bench sends, on every limit the model has
    const limits = (await core.rateLimits.list(SYSTEM, org.id, project.id, { limit: 1000 })).items.find((l) => l.model === MODEL);
    if (!limits) throw new Error(`model ${MODEL} is not in the model catalog`);
    const high: Record<string, number> = {};
    for (const f of LIMIT_FIELDS) if (limits.limits[f] !== undefined) high[f] = f === 'max_requests_per_1_minute' ? 1e9 : MAX_LIMIT;
    await core.rateLimits.update(SYSTEM, org.id, project.id, `rl-${MODEL}`, high);
    const secrets = Array.from({ length: DISTINCT }, () => generateSecret(KEY_PREFIX.project));
    let shown = 0;
    const took = await insertProjectKeys(rt.store, {
      orgId: org.id,
      projectId: project.id,
      ownerId: sa.account.id,
      n: KEYS,
      secrets,
      onProgress: (done) => {
        if (done - shown >= 200_000 || done === KEYS) process.stderr.write(`  ${done.toLocaleString()} keys\r`), (shown = done);
      },
    });
    process.stderr.write('\n');
    log(`store: ${DIALECT}, ${KEYS.toLocaleString()} project keys loaded in ${took.toFixed(1)} s, ${DISTINCT.toLocaleString()} of them used round-robin; ${MODEL} limits set to ${JSON.stringify(high)}`);
    return { dataDir: db.dataDir, databaseUrl: db.databaseUrl, secrets, projectId: project.id };
  } finally {
    await rt.close();
  }
}

function row(label: string, r: PacedResult): string {
  const errs = Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(' ') || '0';
  return `  ${label.padEnd(9)} ${fmtMs(r.latency.p50).padStart(8)} ${fmtMs(r.latency.p99).padStart(8)} ${fmtMs(r.latency.p999).padStart(8)} ${fmtMs(r.latency.max).padStart(8)}   ${r.achievedRate.toFixed(0).padStart(5)}/s  lag p99 ${fmtMs(r.sendLag.p99).padStart(6)}  conns ${String(r.maxInFlight).padStart(4)}  errors ${errs}`;
}

const diff = (a: number, b: number) => (b - a >= 0 ? '+' : '') + fmtMs(b - a);

interface Case {
  rate: number;
  kind: 'chat' | 'stream';
  mock: PacedResult;
  kp?: PacedResult;
}

async function main(): Promise<void> {
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  if (PIN && !hasTaskset()) throw new Error('--pin needs taskset (util-linux)');
  if (PIN) pinSelf(1);
  log(`keyplane bench: gateway ${PATH}, ${SECONDS} s per run after ${WARMUP} s warm-up, rates ${RATES.join(', ')} req/s, open loop (latency from the intended send time)`);
  log('figures: ms from the intended send time; "lag p99" is the generator\'s own lateness (when it is high, the machine, not the server, set the tail); "conns" the most requests in flight');
  log(`machine: ${cpus} CPUs, ${os.cpus()[0]?.model ?? '?'}; load generator, mock upstream and keyplane share them${PIN ? ' (pinned: keyplane CPU 0, generator + mock CPU 1)' : ''}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  if (REDIS !== undefined) {
    if (MOCK_ONLY) throw new Error('--redis measures keyplane: it does not go with --mock-only');
    if (!/^rediss?:\/\/\S+$/i.test(REDIS)) throw new Error(`--redis ${REDIS}: not a redis:// or rediss:// URL`);
    // fail before loading a million keys if Redis does not answer
    redisClient = new Redis(REDIS, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null });
    redisClient.on('error', () => {}); // reported by connect() / ping() below
    try {
      await redisClient.connect();
      await redisClient.ping();
    } catch (err) {
      throw new Error(`--redis ${REDIS.replace(/\/\/[^@]*@/, '//')}: Redis does not answer (${(err as Error).message})`);
    }
  }

  mock = await spawnMock(PIN ? 1 : undefined);
  const keys: string[] = [];
  let store: Awaited<ReturnType<typeof prepareStore>> | undefined;
  let gatewayMissing: string | null = null;
  if (!MOCK_ONLY) {
    store = await prepareStore(mock.baseUrl);
    keys.push(...store.secrets);
    keyplane = await spawnKeyplane(store, PIN ? 0 : undefined);
    const probe = await requestOnce({ url: keyplane.url, path: PATH, body: BODY.chat, stream: false }, keys[0]);
    if (probe.status === 404) {
      gatewayMissing = `gateway route missing: POST ${PATH} through keyplane answered 404 (${probe.text.slice(0, 200)})`;
      log(`\n*** ${gatewayMissing}\n*** running the direct-to-mock baseline only\n`);
    } else if (probe.status !== 200) {
      throw new Error(`POST ${PATH} through keyplane answered ${probe.status}: ${probe.text.slice(0, 500)}`);
    } else {
      const s = await requestOnce({ url: keyplane.url, path: PATH, body: BODY.stream, stream: true }, keys[0]);
      if (s.status !== 200 || !/data: \[DONE\]\s*$/.test(s.text)) throw new Error(`streaming POST ${PATH} through keyplane answered ${s.status}: ${s.text.slice(0, 500)}`);
    }
  } else {
    for (let i = 0; i < DISTINCT; i++) keys.push(generateSecret(KEY_PREFIX.project)); // same headers, nobody checks them
    log('--mock-only: keyplane is not started');
  }
  const viaKeyplane = keyplane && !gatewayMissing ? keyplane : undefined;
  const memIdle = viaKeyplane ? memoryOf(viaKeyplane.pid) : null;

  // every distinct key once through keyplane: fills its key cache and checks every key authenticates
  if (viaKeyplane) {
    const warm = await pacedLoad({ url: viaKeyplane.url, path: PATH, body: BODY.chat, stream: false, keys }, { rate: 1000, seconds: DISTINCT / 1000, warmupSeconds: 0 });
    if (warm.ok !== warm.sent) throw new Error(`warming the key cache: ${warm.sent - warm.ok} of ${warm.sent} requests failed: ${JSON.stringify(warm.errors)} ${warm.firstError ?? ''}`);
    log(`key cache warmed: ${DISTINCT.toLocaleString()} keys, each once, all answered 200`);
  }

  // keyplane's memory, sampled while the load runs
  let peakDuringLoad = 0;
  const sampler = viaKeyplane
    ? setInterval(() => {
        const m = memoryOf(viaKeyplane.pid);
        if (m && m.rss > peakDuringLoad) peakDuringLoad = m.rss;
      }, 250)
    : undefined;

  const cases: Case[] = [];
  for (const rate of RATES) {
    for (const kind of ['chat', 'stream'] as const) {
      const target = (url: string): Target => ({ url, path: PATH, body: BODY[kind], stream: kind === 'stream', keys });
      const opts = { rate, seconds: SECONDS, warmupSeconds: WARMUP };
      const c: Case = { rate, kind, mock: await pacedLoad(target(mock.url), opts) };
      if (viaKeyplane) c.kp = await pacedLoad(target(viaKeyplane.url), opts);
      cases.push(c);
      log(`\n${rate} req/s, ${kind === 'chat' ? 'chat completion, latency to the last byte' : 'streamed chat completion, time to first byte'} (ms)`);
      log(`  ${'path'.padEnd(9)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'p99.9'.padStart(8)} ${'max'.padStart(8)}   achieved`);
      log(row('mock', c.mock));
      if (c.mock.firstError) log(`            first error: ${c.mock.firstError}`);
      if (c.kp) {
        log(row('keyplane', c.kp));
        if (c.kp.firstError) log(`            first error: ${c.kp.firstError}`);
        log(`  ${'added'.padEnd(9)} ${diff(c.mock.latency.p50, c.kp.latency.p50).padStart(8)} ${diff(c.mock.latency.p99, c.kp.latency.p99).padStart(8)} ${diff(c.mock.latency.p999, c.kp.latency.p999).padStart(8)}`);
      }
      for (const r of [c.mock, c.kp]) {
        if (r && Math.abs(r.achievedRate - rate) / rate > 0.02) log(`  warning: achieved ${r.achievedRate.toFixed(0)} req/s, more than 2% off ${rate}: the load generator could not keep pace`);
      }
      const lag = Math.max(c.mock.sendLag.p99, c.kp?.sendLag.p99 ?? 0);
      if (lag > 2) log(`  note: the generator itself sent 1% of requests ${fmtMs(lag)} ms or more late: the machine was busy, p99 and beyond say more about it than about the server`);
    }
  }

  // throughput ceiling: closed loop
  log(`\nthroughput, closed loop: ${CONCURRENCY} connections, ${SECONDS} s after ${WARMUP} s warm-up, chat completion`);
  const closed = (url: string) => closedLoad({ url, path: PATH, body: BODY.chat, stream: false, keys }, { concurrency: CONCURRENCY, seconds: SECONDS, warmupSeconds: WARMUP });
  const cRow = (label: string, r: ClosedResult) =>
    `  ${label.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} req/s   p50 ${fmtMs(r.latency.p50)} ms  p99 ${fmtMs(r.latency.p99)} ms   errors ${Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(' ') || '0'}`;
  const cm = await closed(mock.url);
  log(cRow('mock', cm));
  let ck: ClosedResult | undefined;
  if (viaKeyplane) {
    ck = await closed(viaKeyplane.url);
    log(cRow('keyplane', ck));
    if (ck.firstError) log(`            first error: ${ck.firstError}`);
  }
  if (sampler) clearInterval(sampler);

  if (viaKeyplane) {
    const end = memoryOf(viaKeyplane.pid);
    log(`\nkeyplane memory (RSS of its process): after start ${memIdle ? MB(memIdle.rss) : '?'}, peak under load ${MB(peakDuringLoad)}, at the end ${end ? MB(end.rss) : '?'} (peak since start ${end ? MB(end.peak) : '?'})`);
  }

  // --redis: the shared limiter against the in-memory one
  let redisAdded: Array<{ rate: number; p50: number; clean: boolean }> = [];
  if (REDIS !== undefined && viaKeyplane && store) redisAdded = await redisCases(store, keys, viaKeyplane);

  // targets
  log('\ntargets');
  const at = cases.filter((c) => c.rate === TARGET.rate && c.kp);
  if (!viaKeyplane) log('  — not evaluated: no gateway to measure');
  else if (!at.length) log(`  — latency targets are set at ${TARGET.rate} req/s: add it to --rates`);
  for (const c of at) {
    const p50 = c.kp!.latency.p50 - c.mock.latency.p50;
    const p99 = c.kp!.latency.p99 - c.mock.latency.p99;
    const clean = !Object.keys(c.kp!.errors).length;
    log(`  ${p50 <= TARGET.addedP50 && clean ? 'PASS' : 'FAIL'}  ${c.kind === 'chat' ? 'chat  ' : 'stream'} added p50 ${fmtMs(p50)} ms (target ≤ ${TARGET.addedP50} ms at ${TARGET.rate} req/s)${clean ? '' : ', with errors'}`);
    log(`  ${p99 <= TARGET.addedP99 && clean ? 'PASS' : 'FAIL'}  ${c.kind === 'chat' ? 'chat  ' : 'stream'} added p99 ${fmtMs(p99)} ms (target ≤ ${TARGET.addedP99} ms at ${TARGET.rate} req/s)${clean ? '' : ', with errors'}`);
  }
  if (ck) {
    log(`  ${ck.rps >= TARGET.rps ? 'PASS' : 'FAIL'}  throughput ${ck.rps.toFixed(0)} req/s through keyplane (target ≥ ${TARGET.rps} on one core; mock alone ${cm.rps.toFixed(0)} req/s)`);
    log(
      PIN
        ? '        keyplane had CPU 0 to itself; the generator and the mock shared CPU 1 and may be the limit (compare the mock-alone figure).'
        : `        caveat: this machine has ${cpus} CPUs shared by keyplane, the mock and the load generator, so keyplane had less than one core; --pin gives it one.`,
    );
  }

  for (const a of redisAdded) {
    log(`  ${a.p50 <= REDIS_TARGET.addedP50 && a.clean ? 'PASS' : 'FAIL'}  Redis limiter adds p50 ${fmtMs(a.p50)} ms (target ≤ ${REDIS_TARGET.addedP50} ms; chat at ${a.rate} req/s, one Redis node against the in-memory node)${a.clean ? '' : ', with errors'}`);
  }
  if (REDIS !== undefined && viaKeyplane && !redisAdded.length) log('  — Redis limiter: not measured');

  if (gatewayMissing) {
    log(`\n*** ${gatewayMissing}`);
    exitCode = 1;
  }
}

/** Warms a node's key cache: every distinct key once, all must answer 200. */
async function warmKeys(url: string, keys: string[], what: string): Promise<void> {
  const warm = await pacedLoad({ url, path: PATH, body: BODY.chat, stream: false, keys }, { rate: 1000, seconds: keys.length / 1000, warmupSeconds: 0 });
  if (warm.ok !== warm.sent) throw new Error(`warming ${what}'s key cache: ${warm.sent - warm.ok} of ${warm.sent} requests failed: ${JSON.stringify(warm.errors)} ${warm.firstError ?? ''}`);
}

/**
 * --redis: two keyplane nodes with REDIS_URL on the same store. (a) paced chat load, in-memory node
 * then Redis node, back to back at each rate; (b) closed loop, one Redis node then both at once.
 * Returns the added p50 at each rate for the targets.
 */
async function redisCases(
  store: { dataDir: string; databaseUrl: string | undefined; projectId: string },
  keys: string[],
  inMemory: Child & { url: string },
): Promise<Array<{ rate: number; p50: number; clean: boolean }>> {
  const shown = REDIS!.replace(/\/\/[^@]*@/, '//');
  log(`\nRedis limiter (REDIS_URL ${shown}): two more keyplane nodes on the same ${DIALECT} store${DIALECT === 'sqlite' ? ' (one SQLite file, three processes)' : ''}`);
  for (let i = 0; i < 2; i++) {
    const n = await spawnKeyplane(store, PIN ? 0 : undefined, { REDIS_URL: REDIS! });
    redisNodes.push(n);
    const probe = await requestOnce({ url: n.url, path: PATH, body: BODY.chat, stream: false }, keys[0]);
    if (probe.status !== 200) throw new Error(`POST ${PATH} through Redis node ${i + 1} answered ${probe.status}: ${probe.text.slice(0, 500)}`);
  }
  // one after the other: two cold nodes at once overload a small machine (connections reset)
  for (const [i, n] of redisNodes.entries()) await warmKeys(n.url, keys, `Redis node ${i + 1}`);
  // the limiter falls back to memory when Redis does not answer: make sure it did not
  const bucket = `kp:v1:rl:{${store.projectId}}:${MODEL}`;
  if (!(await redisClient!.exists(bucket))) throw new Error(`Redis holds no bucket ${bucket} after the warm-up: the Redis nodes limited in memory\n${redisNodes.map((n) => n.output()).join('\n')}`);
  const degraded = redisNodes.some((n) => /Redis unusable/.test(n.output()));
  log(`key caches of both Redis nodes warmed (${DISTINCT.toLocaleString()} keys each, all 200); Redis holds the bucket ${bucket}${degraded ? ' — but a node logged "Redis unusable": figures may mix in-memory limiting' : ''}`);

  // (a) what the Redis limiter adds
  const added: Array<{ rate: number; p50: number; clean: boolean }> = [];
  const [r1, r2] = redisNodes as [Child & { url: string }, Child & { url: string }];
  for (const rate of RATES) {
    const target = (url: string): Target => ({ url, path: PATH, body: BODY.chat, stream: false, keys });
    const opts = { rate, seconds: SECONDS, warmupSeconds: WARMUP };
    const mem = await pacedLoad(target(inMemory.url), opts);
    const red = await pacedLoad(target(r1.url), opts);
    log(`\n${rate} req/s, chat completion, latency to the last byte (ms): in-memory limiter, then the Redis limiter, back to back`);
    log(`  ${'limiter'.padEnd(9)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'p99.9'.padStart(8)} ${'max'.padStart(8)}   achieved`);
    log(row('memory', mem));
    if (mem.firstError) log(`            first error: ${mem.firstError}`);
    log(row('redis', red));
    if (red.firstError) log(`            first error: ${red.firstError}`);
    log(`  ${'added'.padEnd(9)} ${diff(mem.latency.p50, red.latency.p50).padStart(8)} ${diff(mem.latency.p99, red.latency.p99).padStart(8)} ${diff(mem.latency.p999, red.latency.p999).padStart(8)}   (what the Redis limiter adds)`);
    for (const r of [mem, red]) {
      if (Math.abs(r.achievedRate - rate) / rate > 0.02) log(`  warning: achieved ${r.achievedRate.toFixed(0)} req/s, more than 2% off ${rate}: the load generator could not keep pace`);
    }
    const lag = Math.max(mem.sendLag.p99, red.sendLag.p99);
    if (lag > 2) log(`  note: the generator itself sent 1% of requests ${fmtMs(lag)} ms or more late: the machine was busy, p99 and beyond say more about it than about the server`);
    added.push({ rate, p50: red.latency.p50 - mem.latency.p50, clean: !Object.keys(red.errors).length && !Object.keys(mem.errors).length });
  }

  // (b) closed-loop throughput: one Redis node, then the pair
  const half = Math.max(1, Math.ceil(CONCURRENCY / 2));
  log(`\nthroughput with the Redis limiter, closed loop, chat completion, ${SECONDS} s after ${WARMUP} s warm-up: one node with ${CONCURRENCY} connections, then both nodes at once with ${half} each (two loads in parallel, req/s summed); the in-memory node first, again, back to back`);
  const closed = (url: string, concurrency: number) => closedLoad({ url, path: PATH, body: BODY.chat, stream: false, keys }, { concurrency, seconds: SECONDS, warmupSeconds: WARMUP });
  const errs = (r: ClosedResult) => Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(' ') || '0';
  const inMemoryClosed = await closed(inMemory.url, CONCURRENCY);
  const one = await closed(r1.url, CONCURRENCY);
  const [p1, p2] = await Promise.all([closed(r1.url, half), closed(r2.url, half)]);
  const pair = p1.rps + p2.rps;
  log(`  ${'memory, 1 node'.padEnd(15)} ${inMemoryClosed.rps.toFixed(0).padStart(6)} req/s   p50 ${fmtMs(inMemoryClosed.latency.p50)} ms  p99 ${fmtMs(inMemoryClosed.latency.p99)} ms   errors ${errs(inMemoryClosed)}`);
  log(`  ${'redis, 1 node'.padEnd(15)} ${one.rps.toFixed(0).padStart(6)} req/s   p50 ${fmtMs(one.latency.p50)} ms  p99 ${fmtMs(one.latency.p99)} ms   errors ${errs(one)}`);
  if (one.firstError) log(`            first error: ${one.firstError}`);
  log(`  ${'redis, 2 nodes'.padEnd(15)} ${pair.toFixed(0).padStart(6)} req/s   node 1: ${p1.rps.toFixed(0)} req/s p50 ${fmtMs(p1.latency.p50)} ms p99 ${fmtMs(p1.latency.p99)} ms; node 2: ${p2.rps.toFixed(0)} req/s p50 ${fmtMs(p2.latency.p50)} ms p99 ${fmtMs(p2.latency.p99)} ms   errors ${errs(p1)} / ${errs(p2)}`);
  for (const r of [p1, p2]) if (r.firstError) log(`            first error: ${r.firstError}`);
  log(`  2 nodes / 1 node: ×${(pair / one.rps).toFixed(2)}; Redis 1 node / in-memory 1 node: ×${(one.rps / inMemoryClosed.rps).toFixed(2)}`);
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  if (PIN) log('  caveat: --pin put both Redis nodes on CPU 0, so the pair shares one core: it shows the limiter\'s cost, not scaling.');
  else if (cpus <= 4) log(`  caveat: ${cpus} CPUs shared by both nodes, Redis, the mock and the load generator: the pair cannot scale here; read it as "two nodes on one store and one Redis work", not as a scaling figure.`);
  return added;
}

try {
  await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  if (keyplane) console.error(`--- keyplane output (tail) ---\n${keyplane.output()}`);
  exitCode = 1;
} finally {
  await keyplane?.stop();
  for (const n of redisNodes) await n.stop();
  redisClient?.disconnect();
  await mock?.stop();
  await dropDb?.().catch(() => {});
}
process.exit(exitCode);
