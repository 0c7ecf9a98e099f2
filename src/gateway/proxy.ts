// The gateway's request path for OpenAI-shaped endpoints: admit (scope, project, model, limits),
// resolve the provider credential, forward the body (untouched but for the model id and, on streams,
// `stream_options.include_usage`), relay the answer as it arrives, then settle the limits and record
// the usage. Nothing on this path writes to the database: usage goes to a buffer flushed in batches.
import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../domain/core.ts';
import { isProjectKey, keyAllows } from '../domain/actor.ts';
import { DomainError, forbidden } from '../domain/errors.ts';
import { classifyError } from '../faces/common.ts';
import { chatViaAnthropic } from './anthropic-upstream.ts';
import { costPartsNanoUsd, type ModelRoute } from '../domain/model-routes.ts';
import { badJson, limitReached, missingScope, modelNotFound, noModel } from './errors.ts';
import { rateLimitHeaders, type Limiter, type Reservation, type LimitState } from './limiter.ts';
import type { PolicyCache } from './policy.ts';
import { applyProjectSettings } from './project-settings.ts';
import type { SpendGuard, SpendHold } from './spend.ts';
import { callUpstream, targetFor, upstreamFailure, UpstreamError, type UpstreamCall } from './upstream.ts';
import { SseSplitter, eventData } from './sse.ts';
import { tokensOfBody, tokensOfStreamData, type Tokens } from './usage.ts';
import type { ResolvedCredential } from './credentials.ts';
import type { GatewayObserver } from '../observe/metrics.ts';

/** An OpenAI endpoint the gateway serves by forwarding. */
export interface Endpoint {
  /** Name recorded with the usage (`chat.completions`). */
  name: string;
  /** Path below the provider's base URL (`/chat/completions`). */
  path: string;
  /** Whether `stream_options.include_usage` exists on this endpoint (Chat Completions, Completions). */
  usageOption: boolean;
  /** Body field(s) that cap the output tokens. */
  outputFields: readonly string[];
  /** What else the request uses against the project's limits: images (`n`), or its upload's size (audio). */
  meter?: 'images' | 'audio';
  /** The body is multipart/form-data, passed through as it came (the model read from its `model` field). */
  multipart?: boolean;
}

export const ENDPOINTS = {
  chat: { name: 'chat.completions', path: '/chat/completions', usageOption: true, outputFields: ['max_completion_tokens', 'max_tokens'] },
  completions: { name: 'completions', path: '/completions', usageOption: true, outputFields: ['max_tokens'] },
  embeddings: { name: 'embeddings', path: '/embeddings', usageOption: false, outputFields: [] },
  responses: { name: 'responses', path: '/responses', usageOption: false, outputFields: ['max_output_tokens'] },
  moderations: { name: 'moderations', path: '/moderations', usageOption: false, outputFields: [] },
  images: { name: 'images.generations', path: '/images/generations', usageOption: false, outputFields: [], meter: 'images' },
  speech: { name: 'audio.speech', path: '/audio/speech', usageOption: false, outputFields: [] },
  transcriptions: { name: 'audio.transcriptions', path: '/audio/transcriptions', usageOption: false, outputFields: [], meter: 'audio', multipart: true },
} as const satisfies Record<string, Endpoint>;

export interface GatewayDeps {
  core: Core;
  limiter: Limiter;
  policies: PolicyCache;
  /** Hard spend limits (src/gateway/spend.ts). */
  spend: SpendGuard;
  upstreamTimeoutMs: number;
  /** Retries of a failed upstream call before anything reached the client (src/gateway/upstream.ts). */
  upstreamRetries: number;
  defaultOutputTokens: number;
  /** Metrics of limiter decisions, upstream latency and tokens (when metrics are on). */
  observer?: GatewayObserver;
}

type Json = Record<string, unknown>;

/** The request after admission: who, which model, what was reserved. */
export interface Admitted {
  orgId: string;
  projectId: string;
  keyId: string;
  ownerType: 'user' | 'service_account' | null;
  ownerId: string | null;
  route: ModelRoute;
  requested: string;
  body: Json;
  raw: Buffer;
  stream: boolean;
  /** `body` was changed by the project's settings (a default service tier): send it re-serialized. */
  rewritten: boolean;
  reservation: Reservation;
  estimate: number;
  /** The output tokens `estimate` counts (the request's cap, or the default). */
  outputCap: number;
  state: LimitState;
  /** The cost reserved against spend limits (null: none applies). */
  spend: SpendHold | null;
}

/** Reads the body, checks scope, project, model and limits: everything decided before any upstream call. */
async function admit(req: FastifyRequest, deps: GatewayDeps, ep: Endpoint): Promise<Admitted> {
  const actor = req.actor;
  if (!isProjectKey(actor)) throw forbidden();
  const key = actor.key;
  if (!keyAllows(key, 'api.model.request')) throw missingScope('api.model.request');
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  let body: unknown;
  if (ep.multipart) {
    // the fields keyplane needs, read from the form without taking the file apart
    const text = raw.subarray(0, Math.min(raw.length, 1 << 20)).toString('latin1');
    const field = (name: string) => new RegExp(`name="${name}"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)`).exec(text)?.[1];
    body = { model: field('model'), user: field('user') };
  } else {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw badJson();
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badJson();
  const b = body as Json;
  if (typeof b.model !== 'string' || !b.model) throw noModel();
  const route = deps.core.modelRoutes.resolve(b.model);
  if (!route) throw modelNotFound(b.model);
  const policy = await deps.policies.get(key.orgId, key.projectId);
  if (!policy) throw forbidden('The project of this API key no longer exists.');
  if (policy.archived) throw forbidden(`Project ${key.projectId} is archived; its API keys cannot be used.`);
  const rewritten = applyProjectSettings(policy.settings, ep.name, b, route.model, key.projectId);
  // Cheap estimate, reconciled with the provider's count afterwards: ~4 bytes of JSON per prompt
  // token, plus the output cap the request names (or the configured default).
  let output = 0;
  for (const f of ep.outputFields) if (typeof b[f] === 'number' && Number.isFinite(b[f]) && (b[f] as number) > 0) output = Math.max(output, Math.ceil(b[f] as number));
  if (ep.outputFields.length && !output) output = deps.defaultOutputTokens;
  const estimate = Math.ceil(raw.length / 4) + output;
  const now = Date.now();
  const images = ep.meter === 'images' ? (typeof b.n === 'number' && Number.isInteger(b.n) && b.n > 0 ? b.n : 1) : 0;
  const audioBytes = ep.meter === 'audio' ? raw.length : 0;
  const r = await deps.limiter.reserve({ bucket: `${key.projectId}\u0000${route.model}`, limits: policy.limits.get(route.model) ?? {}, tokens: ep.multipart ? 0 : estimate, images, audioBytes, now });
  deps.observer?.limit(r.ok ? null : r.refused.limitName);
  if (!r.ok) throw Object.assign(limitReached(route.model, key.projectId, r.refused), { state: r.state });
  return {
    orgId: key.orgId,
    projectId: key.projectId,
    keyId: key.keyId,
    ownerType: key.ownerType,
    ownerId: key.ownerId,
    route,
    requested: b.model,
    body: b,
    raw,
    stream: b.stream === true,
    rewritten,
    reservation: r.reservation,
    estimate,
    outputCap: output,
    state: r.state,
    spend: null,
  };
}

/** The body the upstream gets: the client's bytes, unless the model id or the usage option must change. */
function upstreamBody(a: Admitted, ep: Endpoint): { body: Buffer | string; injected: boolean } {
  if (ep.multipart) {
    if (a.body.model === a.route.upstreamModel) return { body: a.raw, injected: false };
    // an alias: the form's model field rewritten in place (latin1 keeps every other byte as it was)
    const text = a.raw.toString('latin1').replace(/(name="model"\r\n(?:[^\r\n]+\r\n)*\r\n)[^\r\n]*/, (_m, head: string) => head + a.route.upstreamModel);
    return { body: Buffer.from(text, 'latin1'), injected: false };
  }
  const so = a.body.stream_options;
  const wantsUsage = so && typeof so === 'object' && (so as Json).include_usage === true;
  const inject = a.stream && ep.usageOption && a.route.api !== 'azure' && !wantsUsage;
  if (!inject && !a.rewritten && a.body.model === a.route.upstreamModel) return { body: a.raw, injected: false };
  const out: Json = { ...a.body, model: a.route.upstreamModel };
  if (inject) out.stream_options = { ...(so && typeof so === 'object' ? (so as Json) : {}), include_usage: true };
  return { body: JSON.stringify(out), injected: inject };
}

function endUserOf(req: FastifyRequest, body: Json): string | null {
  const h = req.headers['x-keyplane-user'];
  if (typeof h === 'string' && h.length > 0 && h.length <= 255) return h;
  return typeof body.user === 'string' && body.user.length > 0 && body.user.length <= 255 ? body.user : null;
}

function sessionOf(req: FastifyRequest): string | null {
  const h = req.headers['x-keyplane-session'];
  return typeof h === 'string' && h.length > 0 && h.length <= 255 ? h : null;
}

/**
 * Calls `onLeave` when the client goes away before its answer is complete: its connection closed, or
 * half-closed (a FIN, which is how fetch aborts: Node then keeps the socket until the answer ends,
 * which for a stream waiting on its upstream would be never). Returns the function that stops watching.
 */
export function watchClient(req: FastifyRequest, reply: FastifyReply, onLeave: () => void): () => void {
  const res = reply.raw;
  const socket = req.raw.socket;
  const leave = () => {
    if (!res.writableFinished) onLeave();
  };
  res.on('close', leave);
  socket?.on('end', leave);
  return () => {
    res.off('close', leave);
    socket?.off('end', leave);
  };
}

/**
 * After a failure: when the answer had already started (a stream), ends it as the client can learn of
 * it: an early end, or for a client that left (499) a destroyed connection, not one kept alive for a
 * next request that will not come. Returns whether it had started (then nothing else may be sent).
 */
export function endStartedAnswer(reply: FastifyReply, status: number): boolean {
  if (!reply.raw.headersSent) return false;
  if (status === 499) reply.raw.destroy();
  else reply.raw.end();
  return true;
}

/** A whole non-streamed upstream answer: its bytes, and their JSON when it says it is JSON and parses. */
export async function readAnswer(call: UpstreamCall, contentType: string): Promise<{ buf: Buffer; parsed: unknown }> {
  const buf = Buffer.from(await call.body.arrayBuffer());
  let parsed: unknown;
  if (contentType.includes('json')) {
    try {
      parsed = JSON.parse(buf.toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  return { buf, parsed };
}

export const serverTiming = (ownMs: number, upstreamMs: number) => `keyplane;dur=${ownMs.toFixed(2)}, upstream;dur=${upstreamMs.toFixed(2)}`;

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** admit(), and on a refusal by a limit the headers saying where the limits stand and when to retry (to the ms). */
export async function admitOrRefuse(req: FastifyRequest, reply: FastifyReply, deps: GatewayDeps, ep: Endpoint): Promise<Admitted> {
  try {
    const a = await admit(req, deps, ep);
    // hard spend limits: the request's largest cost reserved, or a 429 insufficient_quota
    a.spend = await deps.spend.reserve(a.orgId, a.projectId, a.route.prices, a.estimate - a.outputCap, a.outputCap).catch((err: unknown) => {
      // never reached the upstream: its tokens go back (the request still counts)
      void (deps.limiter.cancel ? deps.limiter.cancel(a.reservation, Date.now()) : deps.limiter.settle(a.reservation, 0, Date.now()));
      throw err;
    });
    return a;
  } catch (err) {
    const state = (err as { state?: LimitState }).state;
    const info = (err as { rateLimit?: { resetAt: number } }).rateLimit;
    if (state) reply.headers(rateLimitHeaders(state));
    if (info) reply.header('retry-after-ms', String(Math.max(0, info.resetAt - Date.now())));
    throw err;
  }
}

/** How an admitted request ended, as the limits and the usage record need it. */
export interface Outcome {
  credential: ResolvedCredential | null;
  tokens: Tokens | null;
  /** The status sent (0: none). */
  status: number;
  images: number;
  audioBytes: number;
  /** The service tier the upstream answer reported, if it did. */
  serviceTier?: string | null;
  /** Seconds of audio a transcription reported. */
  audioSeconds?: number;
  /** When the upstream call started (performance.now()), and its time to the answer's headers: for the metrics. */
  upstreamStart?: number;
  upstreamTtfbMs?: number;
}

/** The service tier an answer (or its last stream event) reports. */
function serviceTierOf(j: unknown): string | null {
  const o = j && typeof j === 'object' ? (j as Json) : {};
  if (typeof o.service_tier === 'string') return o.service_tier;
  const r = o.response && typeof o.response === 'object' ? (o.response as Json) : {};
  return typeof r.service_tier === 'string' ? r.service_tier : null;
}

/** Seconds of audio a transcription answer reports (`usage.seconds` or `duration`). */
function audioSecondsOf(j: unknown): number {
  const o = j && typeof j === 'object' ? (j as Json) : {};
  const u = o.usage && typeof o.usage === 'object' ? (o.usage as Json) : {};
  const s = typeof u.seconds === 'number' ? u.seconds : o.duration;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? s : 0;
}

/**
 * After every admitted request: settles its reservation with the tokens used (the estimate kept when
 * the usage is unknown, nothing charged for a refusal), counts a trial's use, and buffers its usage.
 */
export function settleAndRecord(req: FastifyRequest, deps: GatewayDeps, a: Admitted, endpoint: string, t0: number, o: Outcome): void {
  const now = Date.now();
  const { tokens, status, credential } = o;
  void deps.limiter.settle(a.reservation, tokens ? tokens.inputTokens + tokens.outputTokens : status >= 400 && status !== 499 ? 0 : undefined, now);
  const t = tokens ?? { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 };
  if (deps.observer) {
    if (tokens) deps.observer.tokens(a.route.model, t.inputTokens, t.outputTokens);
    if (o.upstreamStart !== undefined && o.upstreamTtfbMs !== undefined) deps.observer.upstream(a.route.provider, o.upstreamTtfbMs / 1000, (performance.now() - o.upstreamStart) / 1000);
  }
  if (credential?.source === 'free_trial' && status > 0 && status < 400) deps.core.freeTrial.note(a.orgId, t.inputTokens + t.outputTokens);
  const cost = tokens ? costPartsNanoUsd(a.route.prices, t) : { input: 0, cachedInput: 0, output: 0 };
  const requestedTier = typeof a.body.service_tier === 'string' ? a.body.service_tier : null;
  const ok = status > 0 && status < 400;
  deps.core.usageRecorder.add({
    orgId: a.orgId,
    projectId: a.projectId,
    apiKeyId: a.keyId,
    keyOwnerType: a.ownerType,
    keyOwnerId: a.ownerId,
    endUser: endUserOf(req, a.body),
    sessionId: sessionOf(req),
    model: a.route.model,
    servedModel: a.route.upstreamModel,
    provider: a.route.provider,
    credentialSource: credential?.source ?? 'tenant',
    endpoint,
    inputTokens: t.inputTokens,
    cachedInputTokens: t.cachedInputTokens,
    outputTokens: t.outputTokens,
    images: o.images,
    audioSeconds: o.audioSeconds ?? 0,
    audioBytes: o.audioBytes,
    costNanoUsd: cost.input + cost.cachedInput + cost.output,
    costParts: cost,
    serviceTier: o.serviceTier ?? requestedTier,
    batch: false,
    imageSize: endpoint.startsWith('images.') && typeof a.body.size === 'string' ? a.body.size : null,
    characters: ok && endpoint === ENDPOINTS.speech.name && typeof a.body.input === 'string' ? a.body.input.length : 0,
    status,
    latencyMs: Math.round(performance.now() - t0),
    stream: a.stream,
    at: now,
  });
  // in the same turn as its cost went to the usage buffer
  deps.spend.release(a.spend);
}

/** Serves one OpenAI-shaped request end to end. */
export async function proxy(req: FastifyRequest, reply: FastifyReply, deps: GatewayDeps, ep: Endpoint): Promise<FastifyReply> {
  const t0 = performance.now();
  const a = await admitOrRefuse(req, reply, deps, ep);
  const limitHeaders = rateLimitHeaders(a.state);
  let credential: ResolvedCredential | null = null;
  let tokens: Tokens | null = null;
  let status = 0;
  let upstreamMs = 0;
  let imagesMade = 0;
  let answerBytes = 0;
  let serviceTier: string | null = null;
  let audioSeconds = 0;
  let tUp = 0;
  let ttfbMs: number | undefined;
  const finish = () =>
    settleAndRecord(req, deps, a, ep.name, t0, {
      credential,
      tokens,
      status,
      images: ep.meter === 'images' && status > 0 && status < 400 ? imagesMade : 0,
      audioBytes: ep.meter === 'audio' ? a.raw.length : ep === ENDPOINTS.speech && status > 0 && status < 400 ? answerBytes : 0,
      serviceTier,
      audioSeconds,
      ...(ttfbMs !== undefined ? { upstreamStart: tUp, upstreamTtfbMs: ttfbMs } : {}),
    });

  let call: UpstreamCall;
  const abort = new AbortController();
  let unwatch = (): void => {};
  try {
    credential = await deps.core.providerCredentials.resolve(a.orgId, a.route.provider);
    // a trial on the platform's key stops at its allowance, before anything reaches the upstream
    if (credential.source === 'free_trial') await deps.core.freeTrial.check(a.orgId);
    if (a.route.api === 'anthropic') {
      // Anthropic serves Chat Completions through its Messages API, translated both ways
      if (ep !== ENDPOINTS.chat) throw new DomainError('invalid', `Model '${a.requested}' is served by Anthropic, which answers /v1/chat/completions (and /v1/messages) only.`, 'model', 'unsupported_endpoint');
      unwatch = watchClient(req, reply, () => abort.abort());
      status = await chatViaAnthropic(req, reply, a, credential.secret, { signal: abort.signal, timeoutMs: deps.upstreamTimeoutMs, retries: deps.upstreamRetries, defaultMaxTokens: deps.defaultOutputTokens, headers: { ...limitHeaders, 'server-timing': serverTiming(performance.now() - t0, 0) } }, (t) => (tokens = t));
      return reply;
    }
    const target = targetFor(a.route, credential.secret, ep.path);
    const { body, injected } = upstreamBody(a, ep);
    unwatch = watchClient(req, reply, () => abort.abort());
    tUp = performance.now();
    const contentTypeIn = ep.multipart ? String(req.headers['content-type']) : undefined;
    call = await callUpstream(target, body, { signal: abort.signal, timeoutMs: deps.upstreamTimeoutMs, retries: deps.upstreamRetries, ...(contentTypeIn ? { contentType: contentTypeIn } : {}) });
    upstreamMs = performance.now() - tUp;
    ttfbMs = upstreamMs;
    const contentType = headerText(call.headers['content-type']) ?? 'application/json';
    if (a.stream && call.statusCode === 200 && contentType.startsWith('text/event-stream')) {
      status = 200;
      await relayStream(req, reply, call, injected, { ...limitHeaders, 'server-timing': serverTiming(tUp - t0, upstreamMs) }, (t, tier) => {
        tokens = t;
        serviceTier = tier ?? serviceTier;
      });
      return reply;
    }
    const { buf, parsed } = await readAnswer(call, contentType);
    upstreamMs = performance.now() - tUp;
    status = call.statusCode;
    if (status < 400) {
      tokens = tokensOfBody(parsed);
      serviceTier = serviceTierOf(parsed);
      if (ep.meter === 'audio') audioSeconds = audioSecondsOf(parsed);
    }
    answerBytes = buf.length;
    if (status < 400 && ep.meter === 'images') imagesMade = Array.isArray((parsed as Json | undefined)?.data) ? ((parsed as Json).data as unknown[]).length : 0;
    reply.code(status).headers({ ...limitHeaders, 'server-timing': serverTiming(performance.now() - t0 - upstreamMs, upstreamMs) });
    if (status >= 400 && !(parsed && typeof parsed === 'object' && 'error' in (parsed as Json))) {
      // an upstream error without OpenAI's envelope: give it one (never the provider's raw page)
      return reply.type('application/json').send({ error: { message: `The upstream provider answered ${status}.`, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: 'upstream_error' } });
    }
    return reply.type(contentType).send(buf);
  } catch (err) {
    const failure = upstreamFailure(err);
    status = failure instanceof UpstreamError ? failure.status : classifyError(failure).status;
    if (endStartedAnswer(reply, status)) return reply;
    reply.headers(limitHeaders);
    throw failure;
  } finally {
    unwatch();
    finish();
  }
}

/** `"usage":null` as OpenAI writes it into every chunk when include_usage is on (no spaces; some servers add them). */
const USAGE_NULL = /,\s*"usage"\s*:\s*null(?=\s*[,}])/;

/**
 * Relays a server-sent-event answer event by event as it arrives, reading usage on the way; the
 * usage chunk keyplane asked for on the client's behalf is not passed on.
 */
async function relayStream(
  req: FastifyRequest,
  reply: FastifyReply,
  call: UpstreamCall,
  injected: boolean,
  headers: Record<string, string>,
  onTokens: (t: Tokens, serviceTier: string | null) => void,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': String(req.id) });
  res.flushHeaders();
  const decoder = new TextDecoder();
  const splitter = new SseSplitter();
  for await (const chunk of call.body) {
    let out = '';
    for (const ev of splitter.push(decoder.decode(chunk as Buffer, { stream: true }))) {
      // with the usage option keyplane added, every chunk carries `"usage":null`: not the client's to see
      let raw = injected ? ev.raw.replace(USAGE_NULL, '') : ev.raw;
      const data = raw.includes('"usage"') ? eventData(raw) : null;
      if (data && data !== '[DONE]') {
        try {
          const j = JSON.parse(data) as Json;
          const t = tokensOfStreamData(j);
          if (t) onTokens(t, serviceTierOf(j));
          // the include_usage chunk keyplane added: `choices: []` and the usage
          if (injected && t && Array.isArray(j.choices) && j.choices.length === 0) raw = '';
        } catch {
          // not JSON: pass it on as it came
        }
      }
      if (raw) out += raw + ev.end;
    }
    if (out) res.write(out);
  }
  const rest = splitter.rest() + decoder.decode();
  if (rest) res.write(rest);
  res.end();
}
