// Calls to upstream providers: one keep-alive undici Pool per origin, the provider's URL and auth
// header from the credential, and the failures the client should see (504 timeout, 502 unreachable).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher, Pool } from 'undici';
import { loadLazily } from '../lazy.ts';
import { DomainError } from '../domain/errors.ts';
import { MasterKeyMismatchError } from '../domain/credentials.ts';
import { PROVIDER_BASE_URL, type ModelRoute } from '../domain/model-routes.ts';
import type { ProviderSecret } from './credentials.ts';

const pools = new Map<string, Pool>();

/** undici, loaded by the first upstream call (a start does not need it). */
const undici = (): typeof import('undici') => loadLazily<typeof import('undici')>('undici');

function poolFor(origin: string): Pool {
  let p = pools.get(origin);
  if (!p) {
    p = new (undici().Pool)(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
    pools.set(origin, p);
  }
  return p;
}

/** Closes every upstream connection (at shutdown). */
export async function closeUpstreams(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close().catch(() => {})));
}

/** A 4xx/5xx of the gateway itself about the upstream, in OpenAI's envelope. */
export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamTarget {
  origin: string;
  path: string;
  /** Every header of the call (auth, content-type, accept); read-only, shared between calls. */
  headers: Readonly<Record<string, string>>;
}

const CALL_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } as const;

// Targets computed once per resolved secret (which the credential cache keeps while it is current) and endpoint.
const targets = new WeakMap<ProviderSecret, Map<string, UpstreamTarget>>();

/** Where and how to call `route`'s provider for `endpoint` (e.g. `/chat/completions`). */
export function targetFor(route: ModelRoute, secret: ProviderSecret, endpoint: string): UpstreamTarget {
  let bySecret = targets.get(secret);
  const key = `${route.api}\u0000${route.provider}\u0000${endpoint}`;
  let t = bySecret?.get(key);
  if (t) return t;
  t = computeTarget(route, secret, endpoint);
  if (!bySecret) targets.set(secret, (bySecret = new Map()));
  if (bySecret.size < 64) bySecret.set(key, t);
  return t;
}

function computeTarget(route: ModelRoute, secret: ProviderSecret, endpoint: string): UpstreamTarget {
  if (route.api === 'azure') {
    if (!secret.endpoint || !secret.deployment) {
      throw new DomainError('invalid', `The credential for provider '${route.provider}' needs endpoint and deployment (Azure OpenAI).`, null, 'provider_credential_invalid');
    }
    const u = new URL(secret.endpoint);
    const version = encodeURIComponent(secret.apiVersion ?? '2024-10-21');
    return {
      origin: u.origin,
      path: `${u.pathname.replace(/\/$/, '')}/openai/deployments/${encodeURIComponent(secret.deployment)}${endpoint}?api-version=${version}`,
      headers: { 'api-key': secret.apiKey, ...CALL_HEADERS },
    };
  }
  const base = secret.baseUrl ?? PROVIDER_BASE_URL[route.provider];
  if (!base) {
    throw new DomainError('invalid', `The credential for provider '${route.provider}' needs a base_url (the OpenAI-compatible server to call).`, null, 'provider_credential_invalid');
  }
  const u = new URL(base);
  return { origin: u.origin, path: `${u.pathname.replace(/\/$/, '')}${endpoint}`, headers: { authorization: `Bearer ${secret.apiKey}`, ...CALL_HEADERS } };
}

export interface UpstreamCall {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** Upstream answers worth another try: rate limited, or a server error that may be passing. */
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);
/** A `retry-after` longer than this is the upstream saying "not soon": its answer goes to the client. */
const MAX_RETRY_AFTER_MS = 10_000;

/** How long to wait before try `attempt + 2`: the upstream's retry-after, else 250 ms doubling, ±20 %. */
function backoffMs(attempt: number, retryAfter: string | string[] | undefined): number {
  const ra = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (ra !== undefined) {
    const s = Number(ra);
    if (Number.isFinite(s) && s >= 0) return s * 1000;
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - Date.now());
  }
  return 250 * 2 ** attempt * (0.8 + Math.random() * 0.4);
}

/**
 * POSTs `body` to the target; maps connection failures to 502 and timeouts to 504. With `retries`,
 * a call that could not connect or was answered 429/500/502/503/504 is made again after a backoff
 * (the upstream's retry-after when it gives one of at most 10 s); nothing has reached the client
 * then, since callers relay only what this returns. Timeouts are not retried: their time is spent.
 */
export async function callUpstream(
  target: UpstreamTarget,
  body: Buffer | string,
  opts: { signal: AbortSignal; timeoutMs: number; contentType?: string; retries?: number },
): Promise<UpstreamCall> {
  const retries = opts.retries ?? 0;
  for (let attempt = 0; ; attempt++) {
    let call: UpstreamCall;
    try {
      call = await requestOnce(target, body, opts);
    } catch (err) {
      const failure = upstreamFailure(err);
      if (attempt < retries && failure instanceof UpstreamError && failure.status === 502) {
        await pause(backoffMs(attempt, undefined), opts.signal);
        continue;
      }
      throw failure;
    }
    if (attempt < retries && RETRY_STATUS.has(call.statusCode)) {
      const wait = backoffMs(attempt, call.headers['retry-after']);
      if (wait <= MAX_RETRY_AFTER_MS) {
        await call.body.dump().catch(() => {});
        await pause(wait, opts.signal);
        continue;
      }
    }
    return call;
  }
}

/** Waits `ms`, or rejects (as a client that left) when `signal` aborts. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    throw upstreamFailure(err);
  }
}

async function requestOnce(target: UpstreamTarget, body: Buffer | string, opts: { signal: AbortSignal; timeoutMs: number; contentType?: string }): Promise<UpstreamCall> {
  try {
    const res = await poolFor(target.origin).request({
      method: 'POST',
      path: target.path,
      // targets of targetFor carry every header already; others get content-type and accept here
      headers: !opts.contentType && target.headers['content-type'] ? target.headers : { ...CALL_HEADERS, ...target.headers, ...(opts.contentType ? { 'content-type': opts.contentType } : {}) },
      body,
      signal: opts.signal,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    return { statusCode: res.statusCode, headers: res.headers, body: res.body };
  } catch (err) {
    throw upstreamFailure(err);
  }
}

/**
 * The client's view of a failed upstream call (never the provider's address or key); errors that did
 * not come from the upstream or the network are returned as they are.
 */
export function upstreamFailure(err: unknown): Error {
  if (err instanceof UpstreamError || err instanceof DomainError) return err;
  // not the upstream's fault: the vault cannot be opened until keyplane restarts with the new master key
  if (err instanceof MasterKeyMismatchError) return new UpstreamError(503, err.message, 'master_key_mismatch');
  if (err instanceof undici().errors.HeadersTimeoutError || err instanceof undici().errors.BodyTimeoutError || (err as { code?: string })?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError(504, 'The upstream provider did not answer in time.', 'upstream_timeout');
  }
  if ((err as { name?: string })?.name === 'AbortError' || (err as { code?: string })?.code === 'UND_ERR_ABORTED') return new UpstreamError(499, 'The client closed the request.', 'client_closed');
  // an answer of 200 that is not the JSON it claims to be
  if (err instanceof SyntaxError) return new UpstreamError(502, 'The upstream provider answered with a body that is not valid JSON.', 'upstream_invalid_response');
  // the network: undici's errors and the system's (ECONNREFUSED, ECONNRESET, ENOTFOUND…)
  const e = err as { code?: unknown; syscall?: unknown };
  if (err instanceof undici().errors.UndiciError || (typeof e?.code === 'string' && typeof e.syscall === 'string')) {
    return new UpstreamError(502, 'The upstream provider could not be reached.', 'upstream_unreachable');
  }
  // anything else is keyplane's own failure: not the upstream's to be blamed for, logged as a 500
  return err instanceof Error ? err : new Error(String(err));
}
