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
//                            --keys 1000000 --distinct 10000 --concurrency 64 --pin --mock-only]
//
// --pin: keyplane on CPU 0, the load generator and the mock on CPU 1 (taskset), so "one core" is
// literal. --mock-only: skip keyplane (checks the generator). PostgreSQL: KEYPLANE_BENCH_PG_URL (an
// admin URL; a database is created and dropped), else the tests' KEYPLANE_TEST_PG_URL / local default.
// Until the gateway exists keyplane answers 404: the baseline still runs, then the bench says
// "gateway route missing" and exits 1.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { generateSecret, KEY_PREFIX } from '../src/crypto/keys.ts';
import { SYSTEM } from '../src/domain/actor.ts';
import { LIMIT_FIELDS, MAX_LIMIT } from '../src/domain/model-catalog.ts';
import { closedLoad, fmtMs, pacedLoad, requestOnce, type ClosedResult, type PacedResult, type Target } from './lib/paced-load.ts';
import { insertProjectKeys } from './lib/keys.ts';
import { hasTaskset, memoryOf, pinSelf, spawnKeyplane, spawnMock, type Child } from './lib/procs.ts';

const { values } = parseArgs({
  options: {
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

/** Targets, at 1,000 req/s: added p50 and p99 (ms); throughput through keyplane (req/s). */
const TARGET = { rate: 1000, addedP50: 0.5, addedP99: 2, rps: 5000 };

const PATH = '/v1/chat/completions';
const messages = [{ role: 'user', content: 'hi' }];
const BODY = { chat: JSON.stringify({ model: MODEL, messages }), stream: JSON.stringify({ model: MODEL, messages, stream: true }) };
const MB = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const log = (s = '') => console.log(s);

let mock: (Child & { url: string; baseUrl: string }) | undefined;
let keyplane: (Child & { url: string }) | undefined;
let dropDb: (() => Promise<void>) | undefined;
let exitCode = 0;

/** Prepares the store (in this process, then closed): org `main`, a project, its keys, the credential, high limits. */
async function prepareStore(mockBaseUrl: string): Promise<{ dataDir: string; databaseUrl: string | undefined; secrets: string[] }> {
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
    return { dataDir: db.dataDir, databaseUrl: db.databaseUrl, secrets };
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

  mock = await spawnMock(PIN ? 1 : undefined);
  const keys: string[] = [];
  let gatewayMissing: string | null = null;
  if (!MOCK_ONLY) {
    const store = await prepareStore(mock.baseUrl);
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

  if (gatewayMissing) {
    log(`\n*** ${gatewayMissing}`);
    exitCode = 1;
  }
}

try {
  await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  if (keyplane) console.error(`--- keyplane output (tail) ---\n${keyplane.output()}`);
  exitCode = 1;
} finally {
  await keyplane?.stop();
  await mock?.stop();
  await dropDb?.().catch(() => {});
}
process.exit(exitCode);
