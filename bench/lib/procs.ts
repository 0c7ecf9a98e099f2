// Child processes of a benchmark: the mock upstream and keyplane itself (`bin/keyplane.mjs serve`, as
// an operator runs it), each in its own process so the load generator's CPU and memory stay out of
// their figures. Optionally pinned to a CPU with taskset. Memory is read from /proc (Linux).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../../test/process/spawn.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The last few KB of its stdout and stderr, for diagnostics. */
  output(): string;
  stop(): Promise<void>;
}

export function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (all its threads) to `cpu`. */
export function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-a', '-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

function start(args: string[], env: NodeJS.ProcessEnv, cpu: number | undefined): Child {
  const cmd = cpu === undefined ? process.execPath : 'taskset';
  const argv = cpu === undefined ? args : ['-c', String(cpu), process.execPath, ...args];
  const proc = spawn(cmd, argv, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  // KEYPLANE_BENCH_OUTPUT: a file that gets everything the spawned processes print (e.g. with --trace-gc)
  const tee = process.env.KEYPLANE_BENCH_OUTPUT;
  const keep = (d: Buffer) => {
    if (tee) fs.appendFileSync(tee, d);
    out += d.toString('utf8');
    if (out.length > 8192) out = out.slice(-8192);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.on('close', () => (live.delete(proc), resolve())));
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function until<T>(what: string, child: Child, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${what}: the process exited\n${child.output()}`);
    if (Date.now() > end) throw new Error(`${what}: timed out\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The mock upstream (bench/lib/mock-upstream.ts) in its own process. */
export async function spawnMock(cpu?: number): Promise<Child & { url: string; baseUrl: string }> {
  const c = start(['--import', 'tsx', path.join(REPO, 'bench/lib/mock-upstream.ts')], { ...process.env }, cpu);
  const port = await until('mock upstream', c, () => {
    const m = /\{"port":(\d+)\}/.exec(c.output());
    return m ? Number(m[1]) : undefined;
  });
  return { ...c, url: `http://127.0.0.1:${port}`, baseUrl: `http://127.0.0.1:${port}/v1` };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** `keyplane serve` on a prepared store, log level warn (no per-request logs); resolves once /readyz answers 200.
 *  `env`: settings added to its (otherwise clean) environment, e.g. `{ REDIS_URL }`. */
export async function spawnKeyplane(store: { dataDir: string; databaseUrl?: string | undefined }, cpu?: number, env: Record<string, string> = {}): Promise<Child & { url: string }> {
  const port = await freePort();
  // KEYPLANE_BENCH_NODE_ARGS: node flags for the keyplane process only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`)
  const nodeArgs = (process.env.KEYPLANE_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const args = [...nodeArgs, path.join(REPO, 'bin/keyplane.mjs'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', store.dataDir, '--log-level', 'warn'];
  if (store.databaseUrl) args.push('--database-url', store.databaseUrl);
  const c = start(args, cleanEnv(env), cpu);
  const url = `http://127.0.0.1:${port}`;
  await until('keyplane to be ready', c, async () => {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return { ...c, url };
}

/** Resident memory of a process in bytes: now (VmRSS, what process.memoryUsage().rss reports) and its peak (VmHWM). */
export function memoryOf(pid: number): { rss: number; peak: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return null;
  }
}
