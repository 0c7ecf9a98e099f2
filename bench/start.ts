// Benchmark: how long a start takes, from spawning `node bin/keyplane.mjs serve` to the first
// `GET /readyz` 200, on an existing SQLite database (created first, with an organization, projects
// and keys), beside a bare `node -e` HTTP server (the baseline: what starting Node itself costs on this
// machine now) and the same start from the TypeScript sources through tsx (KEYPLANE_FROM_SOURCE=1),
// all in the same run, interleaved so machine noise spreads over every case. /readyz is polled every
// 5 ms. The build is refreshed first (scripts/build.mjs) so the compiled start runs the current sources.
//
//   npm run bench:start [-- --runs 10 --keys 10000 --target-ms 1000]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.ts';
import { openRuntime, runBootstrap } from '../src/runtime.ts';
import { SYSTEM } from '../src/domain/actor.ts';
import { cleanEnv } from '../test/process/spawn.ts';
import { REPO, freePort } from './lib/procs.ts';
import { insertProjectKeys } from './lib/keys.ts';
import { fmtMs } from './lib/paced-load.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    keys: { type: 'string', default: '10000' },
    'target-ms': { type: 'string', default: '1000' },
  },
});
const RUNS = Number(values.runs);
const KEYS = Number(values.keys);
const TARGET_MS = Number(values['target-ms']);

const BIN = path.join(REPO, 'bin', 'keyplane.mjs');

function status(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

/** Milliseconds from spawn to the first 200 of `urlPath`. */
async function timeStart(args: string[], env: NodeJS.ProcessEnv, port: number, urlPath: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    for (;;) {
      if (gone) throw new Error(`${args.join(' ')} exited before answering\n${err}`);
      if ((await status(port, urlPath)) === 200) return performance.now() - t0;
      if (performance.now() - t0 > 60_000) throw new Error(`${args.join(' ')}: no 200 on ${urlPath} within 60 s\n${err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

console.log('keyplane bench: start to /readyz 200 on an existing SQLite database');
execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-start-'));
try {
  // the existing database: bootstrapped, a few projects, KEYS project keys
  const rt = await openRuntime(loadConfig({ dataDir, logLevel: 'warn' }));
  try {
    await runBootstrap(rt);
    const orgId = (await rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    for (let i = 0; i < 10; i++) await rt.core.projects.create(SYSTEM, orgId, { name: `p${i}` });
    const project = await rt.core.projects.create(SYSTEM, orgId, { name: 'keys' });
    const sa = await rt.core.serviceAccounts.create(SYSTEM, orgId, project.id, { name: 'bench', accountOnly: true });
    await insertProjectKeys(rt.store, { orgId, projectId: project.id, ownerId: sa.account.id, n: KEYS });
  } finally {
    await rt.close();
  }
  console.log(`database: ${dataDir} (an organization, 11 projects, ${KEYS.toLocaleString()} keys); ${RUNS} starts of each, interleaved`);

  const cases = {
    bare: { label: 'bare node -e http server (baseline)', run: (port: number) => timeStart(['-e', `require('http').createServer((q,s)=>s.end('ok')).listen(${port},'127.0.0.1')`], cleanEnv(), port, '/') },
    built: { label: 'keyplane serve, compiled (dist/)', run: (port: number) => timeStart([BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], cleanEnv(), port, '/readyz') },
    tsx: { label: 'keyplane serve, sources through tsx', run: (port: number) => timeStart([BIN, 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn'], cleanEnv({ KEYPLANE_FROM_SOURCE: '1' }), port, '/readyz') },
  };
  const times: Record<keyof typeof cases, number[]> = { bare: [], built: [], tsx: [] };
  // one unmeasured start of each (file system cache)
  for (const c of Object.values(cases)) await c.run(await freePort());
  for (let i = 0; i < RUNS; i++) {
    for (const [name, c] of Object.entries(cases) as [keyof typeof cases, (typeof cases)['bare']][]) times[name].push(await c.run(await freePort()));
  }
  const q = (xs: number[], p: number) => {
    const a = [...xs].sort((x, y) => x - y);
    return a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]!;
  };
  const summary = (xs: number[]) => ({ p50: q(xs, 0.5), p95: q(xs, 0.95), max: Math.max(...xs) });
  const s = { bare: summary(times.bare), built: summary(times.built), tsx: summary(times.tsx) };
  for (const [name, c] of Object.entries(cases) as [keyof typeof cases, (typeof cases)['bare']][]) {
    const x = s[name];
    const ratio = name === 'bare' ? '' : `   p50 ${(x.p50 / s.bare.p50).toFixed(1)}× the baseline`;
    console.log(`${c.label.padEnd(40)} p50 ${fmtMs(x.p50).padStart(7)} ms  p95 ${fmtMs(x.p95).padStart(7)} ms  max ${fmtMs(x.max).padStart(7)} ms${ratio}`);
  }
  console.log(`compiled start: ${(s.tsx.p50 / s.built.p50).toFixed(1)}× faster than through tsx (p50)`);
  const pass = s.built.p50 <= TARGET_MS;
  console.log(`${pass ? 'PASS' : 'FAIL'}: compiled start p50 ${fmtMs(s.built.p50)} ms (target ≤ ${TARGET_MS} ms; the baseline took ${fmtMs(s.bare.p50)} ms on this machine now)`);
  process.exitCode = pass ? 0 : 1;
} finally {
  fs.rmSync(dataDir, { recursive: true, force: true });
}
