// Benchmark: an authenticated admin read on the embedded default (SQLite) against a bare node:http
// server, in the same run. The store holds `--keys` project API keys (default 1,000,000); keyplane
// runs as its own process (`bin/keyplane.mjs serve`, the compiled build), the baseline is a bare
// `node:http` server in its own process answering the same JSON body keyplane answered. Both get the
// same closed-loop load (`--concurrency` connections, keep-alive) on
// `GET /v1/organization/projects/{id}` with the admin key: req/s of each and the ratio, two rounds
// interleaved (the best of each); then the same paced (open-loop) rate to each: p50/p99 latency.
//
//   npm run bench:admin [-- --keys 1000000 --duration 10 --concurrency 32 --rate 500 --target 0.5]
//
// KEYPLANE_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the keyplane process.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openRuntime, runBootstrap } from '../src/runtime.ts';
import { SYSTEM } from '../src/domain/actor.ts';
import { insertProjectKeys } from './lib/keys.ts';
import { REPO, spawnKeyplane } from './lib/procs.ts';
import { closedLoad, fmtMs, pacedLoad, type Target } from './lib/paced-load.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    rate: { type: 'string', default: '500' },
    target: { type: 'string', default: '0.5' },
  },
});
const KEYS = Number(values.keys);
const SECONDS = Number(values.duration);
const CONCURRENCY = Number(values.concurrency);
const RATE = Number(values.rate);
const TARGET = Number(values.target);

/** A bare node:http server answering every request with `body`; resolves with its URL. */
async function spawnBare(body: string): Promise<{ url: string; stop(): Promise<void> }> {
  const code = `const b=Buffer.from(process.env.BENCH_BODY);require('http').createServer((q,s)=>{q.resume();s.writeHead(200,{'content-type':'application/json; charset=utf-8','content-length':b.length});s.end(b)}).listen(0,'127.0.0.1',function(){console.log(JSON.stringify({port:this.address().port}))})`;
  const child = spawn(process.execPath, ['-e', code], { env: { ...process.env, BENCH_BODY: body }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('close', () => reject(new Error('the bare server exited')));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

console.log(`keyplane bench: admin GET of one project on SQLite with ${KEYS.toLocaleString()} keys, against a bare node:http server`);
execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs')], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyplane-bench-admin-'));
let stops: Array<() => Promise<void>> = [];
try {
  const rt = await openRuntime(loadConfig({ dataDir, logLevel: 'warn' }));
  let adminKey: string;
  let projectId: string;
  try {
    const boot = await runBootstrap(rt);
    adminKey = boot.printableSecret!;
    const orgId = (await rt.core.orgs.getBySlug(SYSTEM, 'main')).id;
    const project = await rt.core.projects.create(SYSTEM, orgId, { name: 'bench' });
    projectId = project.id;
    const sa = await rt.core.serviceAccounts.create(SYSTEM, orgId, project.id, { name: 'bench', accountOnly: true });
    const secs = await insertProjectKeys(rt.store, { orgId, projectId: project.id, ownerId: sa.account.id, n: KEYS });
    console.log(`loaded ${KEYS.toLocaleString()} keys in ${secs.toFixed(1)} s`);
  } finally {
    await rt.close();
  }

  const kp = await spawnKeyplane({ dataDir });
  stops.push(() => kp.stop());
  const urlPath = `/v1/organization/projects/${projectId}`;
  const res = await fetch(kp.url + urlPath, { headers: { authorization: `Bearer ${adminKey}` } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${urlPath}: ${res.status} ${body}`);
  const bare = await spawnBare(body);
  stops.push(() => bare.stop());

  const targets: Record<'bare' | 'keyplane', Target> = {
    bare: { url: bare.url, path: urlPath, body: '', stream: false, method: 'GET' },
    keyplane: { url: kp.url, path: urlPath, body: '', stream: false, method: 'GET', keys: [adminKey] },
  };
  const rps = { bare: [] as number[], keyplane: [] as number[] };
  for (let round = 0; round < 2; round++) {
    for (const name of ['bare', 'keyplane'] as const) {
      const r = await closedLoad(targets[name], { concurrency: CONCURRENCY, seconds: SECONDS, warmupSeconds: 2 });
      if (Object.keys(r.errors).length) throw new Error(`${name}: ${JSON.stringify(r.errors)} ${r.firstError ?? ''}`);
      rps[name].push(r.rps);
    }
  }
  const best = { bare: Math.max(...rps.bare), keyplane: Math.max(...rps.keyplane) };
  const ratio = best.keyplane / best.bare;
  console.log(`closed loop, ${CONCURRENCY} connections, ${SECONDS} s, best of 2 rounds:`);
  console.log(`  bare node:http      ${best.bare.toFixed(0).padStart(7)} req/s (baseline)`);
  console.log(`  keyplane            ${best.keyplane.toFixed(0).padStart(7)} req/s   ratio ${ratio.toFixed(2)}`);
  console.log(`paced, ${RATE} req/s, ${SECONDS} s (latency from the intended send time):`);
  for (const name of ['bare', 'keyplane'] as const) {
    const r = await pacedLoad(targets[name], { rate: RATE, seconds: SECONDS, warmupSeconds: 2 });
    const errs = Object.keys(r.errors).length ? `   errors ${JSON.stringify(r.errors)}` : '';
    console.log(`  ${name.padEnd(18)} p50 ${fmtMs(r.latency.p50).padStart(6)} ms   p99 ${fmtMs(r.latency.p99).padStart(6)} ms${errs}`);
  }
  const pass = ratio >= TARGET;
  console.log(`${pass ? 'PASS' : 'FAIL'}: keyplane serves ${ratio.toFixed(2)}× the bare server's req/s (target ≥ ${TARGET})`);
  process.exitCode = pass ? 0 : 1;
} finally {
  for (const s of stops.reverse()) await s();
  stops = [];
  fs.rmSync(dataDir, { recursive: true, force: true });
}
