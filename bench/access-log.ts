// Benchmark: what the access log costs. Two `keyplane serve` processes on one prepared store, the
// same build and settings but KEYPLANE_ACCESS_LOG off in one and on in the other (LOG_LEVEL info,
// every request logged: sample 1), each process's stdout going to a file through the server's
// asynchronous log destination. Two requests: an admin GET of one project (OpenAI admin face) and a
// gateway chat completion to a mock upstream (its own process). For each: both processes warmed up,
// then a closed loop (the throughput ceiling) in rounds off/on, on/off, … (alternating, so drift and
// order hit both alike; the ratio is of the means), and an open-loop paced
// run at a fixed rate (latency percentiles from the intended send time). Prints req/s of each and the
// ratio on/off; the target is on ≥ 0.9× off ("access logs that do not halve throughput").
//
//   npm run bench:access-log [-- --seconds 5 --warmup 1 --concurrency 32 --rate 200 --rounds 4 --dialect sqlite|postgres]
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SYSTEM } from '../src/domain/actor.ts';
import { LIMIT_FIELDS, MAX_LIMIT } from '../src/domain/model-catalog.ts';
import { cleanEnv } from '../test/process/spawn.ts';
import { closedLoad, fmtMs, pacedLoad, requestOnce, type ClosedResult, type PacedResult, type Target } from './lib/paced-load.ts';
import { freePort, REPO, spawnMock } from './lib/procs.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    rate: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '4' },
    dialect: { type: 'string', default: 'sqlite' },
    target: { type: 'string', default: '0.9' },
  },
});
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const CONCURRENCY = Number(values.concurrency);
const RATE = Number(values.rate);
const ROUNDS = Number(values.rounds);
const DIALECT = values.dialect === 'postgres' ? 'postgres' : 'sqlite';
const TARGET = Number(values.target);
const MODEL = 'gpt-4o-mini';
const log = (s = '') => console.log(s);

interface Server {
  url: string;
  logFile: string;
  stop(): Promise<void>;
}

/** `keyplane serve` on the store, LOG_LEVEL info, its stdout (the log) appended to `logFile`. */
async function startKeyplane(store: { dataDir: string; databaseUrl: string | undefined }, accessLog: 'on' | 'off', logFile: string): Promise<Server> {
  const port = await freePort();
  const out = fs.openSync(logFile, 'a');
  const env = cleanEnv({ PORT: String(port), HOST: '127.0.0.1', KEYPLANE_DATA_DIR: store.dataDir, LOG_LEVEL: 'info', KEYPLANE_ACCESS_LOG: accessLog, ...(store.databaseUrl ? { DATABASE_URL: store.databaseUrl } : {}) });
  const proc = spawn(process.execPath, [path.join(REPO, 'bin/keyplane.mjs'), 'serve'], { cwd: REPO, env, stdio: ['ignore', out, 'pipe'] });
  fs.closeSync(out);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => void (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => proc.on('close', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`keyplane (access log ${accessLog}) exited: ${err}`);
    try {
      const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (i > 1200) throw new Error(`keyplane (access log ${accessLog}) not ready: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    logFile,
    async stop() {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The store: organization `main` (its admin key), a project, a service account key, the `openai` credential, high limits. */
async function prepareStore(mockBaseUrl: string) {
  const { createTestDb } = await import('../test/helpers/db.ts');
  const { loadConfig } = await import('../src/config.ts');
  const { openRuntime, runBootstrap } = await import('../src/runtime.ts');
  const db = await createTestDb(DIALECT);
  const rt = await openRuntime(loadConfig({ port: '0', logLevel: 'silent', dataDir: db.dataDir, ...(db.databaseUrl ? { databaseUrl: db.databaseUrl } : {}) }, {}));
  try {
    const boot = await runBootstrap(rt);
    const adminKey = fs.readFileSync(boot.keyFile!, 'utf8').trim();
    const core = rt.core;
    const org = await core.orgs.getBySlug(SYSTEM, 'main');
    const project = await core.projects.create(SYSTEM, org.id, { name: 'access-log-bench' });
    const sa = await core.serviceAccounts.create(SYSTEM, org.id, project.id, { name: 'bench' });
    await core.credentials.create(SYSTEM, org.id, 'llm', { name: 'openai', value: { key: 'sk-mock', base_url: mockBaseUrl }, platform: org.slug });
    const limits = (await core.rateLimits.list(SYSTEM, org.id, project.id, { limit: 1000 })).items.find((l) => l.model === MODEL);
    if (!limits) throw new Error(`model ${MODEL} is not in the model catalog`);
    const high: Record<string, number> = {};
    for (const f of LIMIT_FIELDS) if (limits.limits[f] !== undefined) high[f] = f === 'max_requests_per_1_minute' ? 1e9 : MAX_LIMIT;
    await core.rateLimits.update(SYSTEM, org.id, project.id, `rl-${MODEL}`, high);
    return { db, adminKey, projectId: project.id, projectKey: sa.key!.secret };
  } finally {
    await rt.close();
  }
}

const lines = (file: string): number => {
  const text = fs.readFileSync(file, 'utf8');
  let n = 0;
  for (const l of text.split('\n')) if (l.includes('"msg":"request"')) n++;
  return n;
};

const errs = (r: { errors: Record<string, number> }) => Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(' ') || '0';

async function main(): Promise<void> {
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  log(`keyplane bench: access log off vs on, ${DIALECT}; closed loop ${CONCURRENCY} connections ${SECONDS} s (after ${WARMUP} s warm-up) × ${ROUNDS} rounds each, alternating; paced ${RATE} req/s ${SECONDS} s`);
  log(`machine: ${cpus} CPUs, ${os.cpus()[0]?.model ?? '?'}; generator, mock upstream and keyplane share them; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const mock = await spawnMock();
  const prepared = await prepareStore(mock.baseUrl);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kp-accesslog-'));
  const servers: Server[] = [];
  let ok = true;
  try {
    const off = await startKeyplane({ dataDir: prepared.db.dataDir, databaseUrl: prepared.db.databaseUrl }, 'off', path.join(dir, 'off.log'));
    servers.push(off);
    const on = await startKeyplane({ dataDir: prepared.db.dataDir, databaseUrl: prepared.db.databaseUrl }, 'on', path.join(dir, 'on.log'));
    servers.push(on);
    const cases: Array<{ name: string; target: (url: string) => Target }> = [
      { name: `admin GET /v1/organization/projects/:id`, target: (url) => ({ url, path: `/v1/organization/projects/${prepared.projectId}`, method: 'GET', body: '', stream: false, keys: [prepared.adminKey] }) },
      { name: `gateway POST /v1/chat/completions`, target: (url) => ({ url, path: '/v1/chat/completions', body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }), stream: false, keys: [prepared.projectKey] }) },
    ];
    // each server answers once (and the gateway is reachable) before measuring
    for (const c of cases) {
      for (const s of [off, on]) {
        const t = c.target(s.url);
        const r = t.method === 'GET' ? await fetch(`${s.url}${t.path}`, { headers: { authorization: `Bearer ${t.keys![0]}` } }).then(async (x) => ({ status: x.status, text: await x.text() })) : await requestOnce(t);
        if (r.status !== 200) throw new Error(`${c.name} answered ${r.status}: ${r.text.slice(0, 300)}`);
      }
    }
    const linesBefore = lines(on.logFile);
    log('');
    log('closed loop: req/s (p50 / p99 ms)');
    const summary: string[] = [];
    for (const c of cases) {
      const runs: Record<'off' | 'on', ClosedResult[]> = { off: [], on: [] };
      // both processes warmed (JIT, caches) before anything counts
      for (const s of [off, on]) await closedLoad(c.target(s.url), { concurrency: CONCURRENCY, seconds: 2, warmupSeconds: 0 });
      for (let round = 0; round < ROUNDS; round++) {
        // the order alternates too: off first in odd rounds, on first in even ones
        const order = round % 2 === 0 ? ([['off', off], ['on', on]] as const) : ([['on', on], ['off', off]] as const);
        for (const [label, s] of order) {
          const r = await closedLoad(c.target(s.url), { concurrency: CONCURRENCY, seconds: SECONDS, warmupSeconds: WARMUP });
          runs[label].push(r);
          log(`  ${c.name.padEnd(42)} log ${label.padEnd(3)} round ${round + 1}: ${r.rps.toFixed(0).padStart(6)} req/s  (${fmtMs(r.latency.p50)} / ${fmtMs(r.latency.p99)})  errors ${errs(r)}`);
        }
      }
      const rps = (xs: ClosedResult[]) => xs.reduce((a, r) => a + r.rps, 0) / xs.length;
      const ratio = rps(runs.on) / rps(runs.off);
      const met = ratio >= TARGET;
      ok &&= met;
      summary.push(`  ${c.name.padEnd(42)} off ${rps(runs.off).toFixed(0).padStart(6)} req/s   on ${rps(runs.on).toFixed(0).padStart(6)} req/s   on/off ${ratio.toFixed(3)}×   target ≥ ${TARGET}×: ${met ? 'met' : 'NOT met'}`);
    }
    log('');
    log(`paced ${RATE} req/s: latency from the intended send time, ms (p50 / p99 / p99.9)`);
    for (const c of cases) {
      const res: Partial<Record<'off' | 'on', PacedResult>> = {};
      for (const [label, s] of [['off', off], ['on', on]] as const) {
        const r = await pacedLoad(c.target(s.url), { rate: RATE, seconds: SECONDS, warmupSeconds: WARMUP });
        res[label] = r;
        log(`  ${c.name.padEnd(42)} log ${label.padEnd(3)}: ${fmtMs(r.latency.p50)} / ${fmtMs(r.latency.p99)} / ${fmtMs(r.latency.p999)}   achieved ${r.achievedRate.toFixed(0)}/s  errors ${errs(r)}`);
      }
      log(`  ${''.padEnd(42)} on − off p50 ${fmtMs(res.on!.latency.p50 - res.off!.latency.p50)} ms, p99 ${fmtMs(res.on!.latency.p99 - res.off!.latency.p99)} ms`);
    }
    // the logs were really written (after the processes flushed them on SIGTERM)
    await on.stop();
    await off.stop();
    servers.length = 0;
    const written = lines(on.logFile) - linesBefore;
    log('');
    log(`access log lines written by the "on" server: ${written.toLocaleString()} (${(fs.statSync(on.logFile).size / 1048576).toFixed(1)} MB); by the "off" server: ${lines(off.logFile)}`);
    log('');
    log('summary (closed loop, mean of the rounds):');
    for (const s of summary) log(s);
  } finally {
    for (const s of servers) await s.stop().catch(() => {});
    await mock.stop();
    await prepared.db.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = ok ? 0 : 1;
}

await main();
