// Runs keyplane as a real process (`node bin/keyplane.mjs …`), the way an operator does: collects
// stdout/stderr, finds the port in the "Server listening at …" log line, stops it with a signal and
// reports the exit. Every child is tracked; killAll() (call it from an `after` hook) and a last-resort
// exit handler make sure no test leaves a process behind.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/config.ts';
import { readResponse } from '../helpers/http.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(REPO, 'bin', 'keyplane.mjs');

/** How long a server may take from spawn to its "Server listening" line. */
export const LISTEN_TIMEOUT_MS = 20_000;
/** How long a CLI command or a stopping server may take to exit. */
export const EXIT_TIMEOUT_MS = 30_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<KeyplaneProcess>();

process.on('exit', () => {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** The test process's environment without any keyplane setting, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const s of Object.values(SETTINGS)) delete env[s.env];
  delete env.NODE_TEST_CONTEXT; // set by `node --test` for its own children
  return { ...env, ...extra };
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
}

export class KeyplaneProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  private readonly wakers = new Set<() => void>();

  constructor(readonly args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? REPO,
      env: cleanEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
    this.exited = new Promise<Exit>((resolve) => {
      // 'close' comes after both pipes are drained, so stdout/stderr are complete by then
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        this.wake();
        resolve(this.exit);
      });
      this.child.on('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** stdout lines that are JSON log records. */
  logRecords(): Array<Record<string, any>> {
    const out: Array<Record<string, any>> = [];
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // a line still being written
      }
    }
    return out;
  }

  /** Resolves with check()'s first non-undefined value; rejects when the process exits first or on timeout. */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs = LISTEN_TIMEOUT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.wakers.delete(poll);
        fn();
      };
      const poll = () => {
        let v: T | undefined;
        try {
          v = check();
        } catch (err) {
          return done(() => reject(err));
        }
        if (v !== undefined) return done(() => resolve(v as T));
        if (this.exit) return done(() => reject(new Error(`keyplane exited (${JSON.stringify(this.exit)}) before ${what}\n${this.describe()}`)));
      };
      timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`))), timeoutMs);
      this.wakers.add(poll);
      poll();
    });
  }

  /** Waits for a JSON log record matching `pred`. */
  waitForLog(what: string, pred: (rec: Record<string, any>) => boolean, timeoutMs = LISTEN_TIMEOUT_MS): Promise<Record<string, any>> {
    return this.waitFor(what, () => this.logRecords().find(pred), timeoutMs);
  }

  /** Waits for the exit; SIGKILLs the process and rejects if it takes longer than `timeoutMs`. */
  async waitForExit(timeoutMs = EXIT_TIMEOUT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`keyplane ${this.args.join(' ')} did not exit within ${timeoutMs} ms\n${this.describe()}`);
    }
    return r;
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = EXIT_TIMEOUT_MS): Promise<Exit> {
    if (!this.exit) this.child.kill(signal);
    return this.waitForExit(timeoutMs);
  }

  describe(): string {
    const tail = (s: string) => (s.length > 4000 ? '…' + s.slice(-4000) : s);
    return `args: ${this.args.join(' ')}\n--- stdout ---\n${tail(this.stdout)}\n--- stderr ---\n${tail(this.stderr)}`;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

/** SIGKILLs every child still running and waits for them; for `after` hooks. */
export async function killAll(): Promise<void> {
  const procs = [...live];
  for (const p of procs) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

export interface StoreArgs {
  dataDir: string;
  databaseUrl?: string | undefined;
}

export function storeArgs(s: StoreArgs): string[] {
  return ['--data-dir', s.dataDir, ...(s.databaseUrl ? ['--database-url', s.databaseUrl] : [])];
}

export interface RunningServer {
  proc: KeyplaneProcess;
  /** `http://127.0.0.1:PORT` */
  url: string;
}

const LISTENING = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/;

/** `keyplane serve --port 0 --log-level info` on `store`; resolves once it listens. */
export async function startServer(store: StoreArgs, opts: SpawnOptions & { args?: string[] } = {}): Promise<RunningServer> {
  const proc = new KeyplaneProcess(['serve', '--port', '0', ...storeArgs(store), '--log-level', 'info', ...(opts.args ?? [])], opts);
  try {
    const url = await proc.waitFor('the "Server listening" line', () => {
      for (const rec of proc.logRecords()) {
        const m = typeof rec.msg === 'string' ? LISTENING.exec(rec.msg) : null;
        if (m) return m[1]!;
      }
      return undefined;
    });
    return { proc, url };
  } catch (err) {
    if (!proc.exit) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    throw err;
  }
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs one command to completion (`keyplane …args`). */
export async function runKeyplane(args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const proc = new KeyplaneProcess(args, opts);
  const exit = await proc.waitForExit(opts.timeoutMs);
  return { ...exit, stdout: proc.stdout, stderr: proc.stderr };
}

export interface HttpResult {
  status: number;
  json: any;
  text: string;
}

/** One HTTP request; `key` goes in `Authorization: Bearer`, `body` is sent as JSON. */
export async function http(
  base: string,
  urlPath: string,
  opts: { method?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const { status, json, text } = await readResponse(await fetch(base + urlPath, { method: opts.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(15_000) }));
  return { status, json, text };
}

/** Lines of a CLI's stderr: exactly one non-empty line is what every failing command should print. */
export function stderrLines(stderr: string): string[] {
  return stderr.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
}

/** Every `sk-admin-…` key in `text`. */
export function adminKeysIn(text: string): string[] {
  return [...text.matchAll(/sk-admin-[A-Za-z0-9_-]+/g)].map((m) => m[0]);
}
