// HTTP load generators for benchmarks, on node:http with a keep-alive Agent.
//
// pacedLoad: open loop. Request i of a run is due at t0 + i/R whatever happened to the requests
// before it (the generator never waits for an answer to send the next), and its latency is taken
// from that intended time, not from when it actually left: a stalled server or a late generator
// shows up in the figures instead of silently lowering the offered load (no coordinated omission).
// Latency ends at the last body byte (`stream: false`) or the first body byte (`stream: true`:
// time to first byte of the SSE stream, the stream is still read to its end and checked for
// `data: [DONE]`). A warm-up phase at the same rate runs first, in the same schedule, and is excluded.
//
// closedLoad: closed loop, N connections each sending its next request when the previous one ended:
// the throughput ceiling.
//
// Percentiles are exact (sorted arrays). Bearer keys are used round-robin.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Target {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** e.g. `/v1/chat/completions` */
  path: string;
  body: Buffer | string;
  /** Measure to the first body byte and check the SSE stream ends with `data: [DONE]`. */
  stream: boolean;
  /** Bearer keys, used round-robin; none: no Authorization header. */
  keys?: readonly string[];
  /** `POST` (default) sends `body`; `GET` sends none. */
  method?: 'GET' | 'POST';
}

export interface LatencyStats {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface PacedResult {
  targetRate: number;
  seconds: number;
  /** Requests scheduled in the measured phase. */
  sent: number;
  ok: number;
  /** Failures by cause: `http_<status>`, a socket error code, `timeout`, `stream_incomplete`. */
  errors: Record<string, number>;
  /** The first failing answer's status and body head, to tell what went wrong. */
  firstError?: string;
  /** Requests that actually left during the measured phase's time window, per second of it. */
  achievedRate: number;
  /** Latency (ms) from intended send time to the end (or first byte) of successful answers. */
  latency: LatencyStats;
  /** How late the generator itself sent requests (ms, actual − intended): its own share of `latency`. */
  sendLag: LatencyStats;
  /** Most requests in flight at once (≈ connections needed). */
  maxInFlight: number;
}

export interface ClosedResult {
  concurrency: number;
  seconds: number;
  ok: number;
  errors: Record<string, number>;
  firstError?: string;
  /** Successful answers per second over the measured phase. */
  rps: number;
  latency: LatencyStats;
}

const EMPTY: LatencyStats = { n: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN };

export function stats(values: Float64Array | number[]): LatencyStats {
  const a = Float64Array.from(values).sort();
  const n = a.length;
  if (!n) return EMPTY;
  const q = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i]!;
  return { n, mean: sum / n, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: a[n - 1]! };
}

interface Sender {
  /** Sends one request; `done(errorCause | null, latencyEndTime)` once it has finished. */
  send(onDone: (cause: string | null, at: number, status: number, head: string) => void): void;
  close(): void;
}

function makeSender(target: Target, maxSockets: number, timeoutMs: number): Sender {
  const u = new URL(target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, keepAliveMsecs: 1000 });
  const method = target.method ?? 'POST';
  const body = method === 'GET' ? undefined : Buffer.isBuffer(target.body) ? target.body : Buffer.from(target.body);
  const keys = target.keys?.length ? target.keys : [null];
  // one header object per key, built once
  const headers = keys.map((k) => ({
    ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
    ...(k ? { authorization: `Bearer ${k}` } : {}),
  }));
  const base = { agent, host: u.hostname, port: Number(u.port || 80), method, path: target.path };
  let next = 0;
  const stream = target.stream;
  return {
    send(onDone) {
      const h = headers[next]!;
      next = next + 1 === headers.length ? 0 : next + 1;
      let finished = false;
      const finish = (cause: string | null, at: number, status: number, head: string) => {
        if (finished) return;
        finished = true;
        onDone(cause, at, status, head);
      };
      const req = http.request({ ...base, headers: h }, (res) => {
        const status = res.statusCode ?? 0;
        let first = 0;
        let last: Buffer | null = null;
        let head = '';
        res.on('data', (b: Buffer) => {
          if (!first) first = performance.now();
          if (status !== 200 && head.length < 300) head += b.toString('utf8', 0, Math.min(b.length, 300));
          last = b;
        });
        res.on('end', () => {
          const at = performance.now();
          if (status !== 200) return finish(`http_${status}`, at, status, head);
          if (stream) {
            const tail = last ? last.toString('utf8', Math.max(0, last.length - 32)) : '';
            if (!first || !/data: \[DONE\]\s*$/.test(tail)) return finish('stream_incomplete', at, status, tail);
            return finish(null, first, status, '');
          }
          finish(null, at, status, '');
        });
        res.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message, performance.now(), status, ''));
      });
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
      req.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message, performance.now(), 0, err.message));
      req.end(body);
    },
    close() {
      agent.destroy();
    },
  };
}

export interface PacedOptions {
  /** Requests per second. */
  rate: number;
  /** Measured phase, seconds. */
  seconds: number;
  /** Warm-up phase before it, same rate, excluded from the figures. */
  warmupSeconds?: number;
  /** Per-request socket inactivity timeout. */
  timeoutMs?: number;
  maxSockets?: number;
}

/** Open-loop load at a fixed rate; see the file comment. */
export async function pacedLoad(target: Target, opts: PacedOptions): Promise<PacedResult> {
  const rate = opts.rate;
  const warmN = Math.round(rate * (opts.warmupSeconds ?? 2));
  const measN = Math.round(rate * opts.seconds);
  const total = warmN + measN;
  const interval = 1000 / rate;
  const sender = makeSender(target, opts.maxSockets ?? 4096, opts.timeoutMs ?? 15_000);
  const lat = new Float64Array(measN);
  const lag = new Float64Array(measN);
  const okMask = new Uint8Array(measN);
  const errors: Record<string, number> = {};
  let firstError: string | undefined;
  let inFlight = 0;
  let maxInFlight = 0;
  let pending = total;
  let sentInWindow = 0;

  return new Promise<PacedResult>((resolve) => {
    const t0 = performance.now() + 20;
    const windowFrom = t0 + warmN * interval;
    const windowTo = t0 + total * interval;
    let i = 0;
    const complete = () => {
      sender.close();
      const good: number[] = [];
      for (let k = 0; k < measN; k++) if (okMask[k]) good.push(lat[k]!);
      const ok = good.length;
      resolve({
        targetRate: rate,
        seconds: opts.seconds,
        sent: measN,
        ok,
        errors,
        ...(firstError !== undefined ? { firstError } : {}),
        achievedRate: sentInWindow / opts.seconds,
        latency: stats(good),
        sendLag: stats(lag),
        maxInFlight,
      });
    };
    const fire = (idx: number, intended: number) => {
      const now = performance.now();
      const m = idx - warmN; // < 0: warm-up
      if (m >= 0) lag[m] = now - intended;
      if (now >= windowFrom && now < windowTo) sentInWindow++;
      if (++inFlight > maxInFlight) maxInFlight = inFlight;
      sender.send((cause, at, status, head) => {
        inFlight--;
        if (m >= 0) {
          if (cause === null) {
            lat[m] = at - intended;
            okMask[m] = 1;
          } else {
            errors[cause] = (errors[cause] ?? 0) + 1;
            firstError ??= `${cause}${status ? ` (status ${status})` : ''}: ${head.slice(0, 300)}`;
          }
        }
        if (--pending === 0) complete();
      });
    };
    const tick = () => {
      const now = performance.now();
      // everything due by now goes out, each stamped with its own intended time
      const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
      while (i < due) {
        fire(i, t0 + i * interval);
        i++;
      }
      if (i < total) setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
}

export interface ClosedOptions {
  concurrency: number;
  seconds: number;
  warmupSeconds?: number;
  timeoutMs?: number;
}

/** Closed-loop load: `concurrency` requests always in flight; the throughput ceiling. */
export async function closedLoad(target: Target, opts: ClosedOptions): Promise<ClosedResult> {
  const sender = makeSender(target, opts.concurrency, opts.timeoutMs ?? 15_000);
  const warmMs = (opts.warmupSeconds ?? 2) * 1000;
  const start = performance.now();
  const measFrom = start + warmMs;
  const end = measFrom + opts.seconds * 1000;
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  let firstError: string | undefined;
  let ok = 0;
  await Promise.all(
    Array.from(
      { length: opts.concurrency },
      () =>
        new Promise<void>((resolve) => {
          const loop = () => {
            const sentAt = performance.now();
            if (sentAt >= end) return resolve();
            sender.send((cause, at, status, head) => {
              const doneAt = performance.now();
              if (sentAt >= measFrom && doneAt <= end) {
                if (cause === null) {
                  ok++;
                  lat.push(at - sentAt);
                } else {
                  errors[cause] = (errors[cause] ?? 0) + 1;
                  firstError ??= `${cause}${status ? ` (status ${status})` : ''}: ${head.slice(0, 300)}`;
                }
              }
              loop();
            });
          };
          loop();
        }),
    ),
  );
  sender.close();
  return { concurrency: opts.concurrency, seconds: opts.seconds, ok, errors, ...(firstError !== undefined ? { firstError } : {}), rps: ok / opts.seconds, latency: stats(lat) };
}

/** One request, for probes: status and body text. */
export async function requestOnce(target: Target, key?: string): Promise<{ status: number; text: string }> {
  const u = new URL(target.url);
  const body = Buffer.isBuffer(target.body) ? target.body : Buffer.from(target.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: Number(u.port || 80),
        method: 'POST',
        path: target.path,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...((key ?? target.keys?.[0]) ? { authorization: `Bearer ${key ?? target.keys![0]}` } : {}) },
      },
      (res) => {
        const bufs: Buffer[] = [];
        res.on('data', (b: Buffer) => bufs.push(b));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(bufs).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export const fmtMs = (x: number): string => (Number.isFinite(x) ? (x < 10 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(1)) : '—');
