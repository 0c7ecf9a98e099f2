// Calls to upstream providers: one keep-alive undici Pool per origin, the provider's URL and auth
// header from the credential, and the failures the client should see (504 timeout, 502 unreachable).
import { Pool, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import { DomainError } from '../domain/errors.ts';
import { MasterKeyMismatchError } from '../domain/credentials.ts';
import { PROVIDER_BASE_URL, type ModelRoute } from '../domain/model-routes.ts';
import type { ProviderSecret } from './credentials.ts';

const pools = new Map<string, Pool>();

function poolFor(origin: string): Pool {
  let p = pools.get(origin);
  if (!p) {
    p = new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });
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
  headers: Record<string, string>;
}

/** Where and how to call `route`'s provider for `endpoint` (e.g. `/chat/completions`). */
export function targetFor(route: ModelRoute, secret: ProviderSecret, endpoint: string): UpstreamTarget {
  if (route.api === 'azure') {
    if (!secret.endpoint || !secret.deployment) {
      throw new DomainError('invalid', `The credential for provider '${route.provider}' needs endpoint and deployment (Azure OpenAI).`, null, 'provider_credential_invalid');
    }
    const u = new URL(secret.endpoint);
    const version = encodeURIComponent(secret.apiVersion ?? '2024-10-21');
    return {
      origin: u.origin,
      path: `${u.pathname.replace(/\/$/, '')}/openai/deployments/${encodeURIComponent(secret.deployment)}${endpoint}?api-version=${version}`,
      headers: { 'api-key': secret.apiKey },
    };
  }
  const base = secret.baseUrl ?? PROVIDER_BASE_URL[route.provider];
  if (!base) {
    throw new DomainError('invalid', `The credential for provider '${route.provider}' needs a base_url (the OpenAI-compatible server to call).`, null, 'provider_credential_invalid');
  }
  const u = new URL(base);
  return { origin: u.origin, path: `${u.pathname.replace(/\/$/, '')}${endpoint}`, headers: { authorization: `Bearer ${secret.apiKey}` } };
}

export interface UpstreamCall {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/** POSTs `body` to the target; maps connection failures to 502 and timeouts to 504. */
export async function callUpstream(target: UpstreamTarget, body: Buffer | string, opts: { signal: AbortSignal; timeoutMs: number; contentType?: string }): Promise<UpstreamCall> {
  try {
    const res = await poolFor(target.origin).request({
      method: 'POST',
      path: target.path,
      headers: { ...target.headers, 'content-type': opts.contentType ?? 'application/json', accept: 'application/json, text/event-stream' },
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

/** The client's view of a failed upstream call (never the provider's address or key). */
export function upstreamFailure(err: unknown): Error {
  if (err instanceof UpstreamError || err instanceof DomainError) return err;
  // not the upstream's fault: the vault cannot be opened until keyplane restarts with the new master key
  if (err instanceof MasterKeyMismatchError) return new UpstreamError(503, err.message, 'master_key_mismatch');
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || (err as { code?: string })?.code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError(504, 'The upstream provider did not answer in time.', 'upstream_timeout');
  }
  if ((err as { name?: string })?.name === 'AbortError' || (err as { code?: string })?.code === 'UND_ERR_ABORTED') return new UpstreamError(499, 'The client closed the request.', 'client_closed');
  return new UpstreamError(502, 'The upstream provider could not be reached.', 'upstream_unreachable');
}
