// POST /v1/messages for clients of Anthropic's Messages API (the official @anthropic-ai/sdk pointed at
// keyplane): same keys, limits and usage as the OpenAI endpoints; errors answer in Anthropic's
// envelope. A model served by Anthropic (Claude) is passed through natively: the client's body goes
// to Anthropic as it came (only an alias's model id rewritten) with the tenant's key, its
// `anthropic-version` and `anthropic-beta`, never the client's keyplane key; the answer (or its
// stream, byte for byte) comes back as Anthropic sent it, usage read on the side. A model served by
// an OpenAI-compatible provider is reached through Chat Completions, translated both ways (streams
// included).
import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rateLimitHeaders } from './limiter.ts';
import { admitOrRefuse, endStartedAnswer, readAnswer, serverTiming, settleAndRecord, watchClient, type Admitted, type Endpoint, type GatewayDeps } from './proxy.ts';
import { AnthropicStreamUsage, anthropicTarget, anthropicTokens } from './anthropic-upstream.ts';
import { callUpstream, targetFor, upstreamFailure, UpstreamError } from './upstream.ts';
import { SseSplitter, eventData } from './sse.ts';
import type { Tokens } from './usage.ts';
import type { ResolvedCredential } from './credentials.ts';
import {
  anthropicToChatRequest,
  chatToAnthropicResponse,
  ChatToAnthropicStream,
  sseFormat,
  TranslationError,
  type AnthropicRequest,
  type OpenAIChatCompletion,
} from './providers/anthropic.ts';
import { classifyError } from '../faces/common.ts';

const MESSAGES: Endpoint = { name: 'messages', path: '/chat/completions', usageOption: true, outputFields: ['max_tokens'] };

/** Anthropic's error `type` for a status. */
function anthropicType(status: number): string {
  return status === 400 ? 'invalid_request_error' : status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status === 404 ? 'not_found_error' : status === 413 ? 'request_too_large' : status === 429 ? 'rate_limit_error' : status === 529 ? 'overloaded_error' : 'api_error';
}

/** Any error in Anthropic's envelope: `{"type": "error", "error": {"type": …, "message": …}}`. */
export function sendAnthropicError(reply: FastifyReply, err: unknown): FastifyReply {
  let status: number;
  let message: string;
  if (err instanceof UpstreamError) {
    status = err.status === 499 ? 400 : err.status;
    message = err.message;
  } else if (err instanceof TranslationError) {
    status = 400;
    message = err.message;
  } else {
    const c = classifyError(err);
    status = c.status;
    message = c.message;
  }
  return reply.code(status).type('application/json').send({ type: 'error', error: { type: anthropicType(status), message } });
}

export async function messages(req: FastifyRequest, reply: FastifyReply, deps: GatewayDeps): Promise<FastifyReply> {
  const t0 = performance.now();
  const a = await admitOrRefuse(req, reply, deps, MESSAGES);
  if (a.route.api === 'anthropic') return passThrough(req, reply, deps, a, t0);
  const limitHeaders = rateLimitHeaders(a.state);
  let credential: ResolvedCredential | null = null;
  let tokens: Tokens | null = null;
  let status = 0;
  const abort = new AbortController();
  let unwatch = (): void => {};
  /** The upstream call's start and time to headers, for the metrics. */
  let up: { upstreamStart: number; upstreamTtfbMs: number } | undefined;
  try {
    const chat = anthropicToChatRequest(a.body as unknown as AnthropicRequest, a.route.upstreamModel);
    credential = await deps.core.providerCredentials.resolve(a.orgId, a.route.provider);
    if (credential.source === 'free_trial') await deps.core.freeTrial.check(a.orgId);
    const target = targetFor(a.route, credential.secret, MESSAGES.path);
    unwatch = watchClient(req, reply, () => abort.abort());
    const tUp = performance.now();
    const call = await callUpstream(target, JSON.stringify(chat), { signal: abort.signal, timeoutMs: deps.upstreamTimeoutMs, retries: deps.upstreamRetries });
    const upstreamMs = performance.now() - tUp;
    up = { upstreamStart: tUp, upstreamTtfbMs: upstreamMs };
    const contentType = String(call.headers['content-type'] ?? '');
    if (call.statusCode !== 200) {
      status = call.statusCode;
      const text = await call.body.text();
      let message = `The upstream provider answered ${status}.`;
      try {
        const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
        if (typeof m === 'string') message = m;
      } catch {
        // not JSON: keep the generic message
      }
      reply.headers(limitHeaders);
      return reply.code(status).type('application/json').send({ type: 'error', error: { type: anthropicType(status), message } });
    }
    status = 200;
    if (a.stream && contentType.startsWith('text/event-stream')) {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { ...limitHeaders, 'server-timing': serverTiming(tUp - t0, upstreamMs), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': String(req.id) });
      const translator = new ChatToAnthropicStream({ requestedModel: a.requested });
      const splitter = new SseSplitter();
      const decoder = new TextDecoder();
      for await (const chunk of call.body) {
        let out = '';
        for (const ev of splitter.push(decoder.decode(chunk as Buffer, { stream: true }))) {
          const data = eventData(ev.raw);
          if (!data || data === '[DONE]') continue;
          let parsed: unknown;
          try {
            parsed = JSON.parse(data);
          } catch {
            continue;
          }
          for (const e of translator.push(parsed as never)) out += sseFormat(e);
        }
        if (out) res.write(out);
      }
      let tail = '';
      for (const e of translator.end()) tail += sseFormat(e);
      const u = translator.usage();
      tokens = { inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens };
      res.end(tail);
      return reply;
    }
    const completion = (await call.body.json()) as OpenAIChatCompletion;
    const answer = chatToAnthropicResponse(completion, a.requested);
    const u = completion.usage;
    if (u) tokens = { inputTokens: u.prompt_tokens ?? 0, cachedInputTokens: u.prompt_tokens_details?.cached_tokens ?? 0, outputTokens: u.completion_tokens ?? 0 };
    reply.headers({ ...limitHeaders, 'server-timing': serverTiming(performance.now() - t0 - upstreamMs, upstreamMs) });
    return reply.send(answer);
  } catch (err) {
    const failure = err instanceof TranslationError ? err : upstreamFailure(err);
    status = failure instanceof UpstreamError ? failure.status : err instanceof TranslationError ? 400 : classifyError(failure).status;
    if (endStartedAnswer(reply, status)) return reply;
    reply.headers(limitHeaders);
    throw failure;
  } finally {
    unwatch();
    settleAndRecord(req, deps, a, 'messages', t0, { credential, tokens, status, images: 0, audioBytes: 0, ...up });
  }
}

const headerText = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** An error body already in Anthropic's envelope (`{"type": "error", "error": {…}}`). */
function isAnthropicError(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const e = v as { type?: unknown; error?: unknown };
  return e.type === 'error' && !!e.error && typeof e.error === 'object' && !Array.isArray(e.error);
}

/** A Claude model: the Messages API request sent to Anthropic as it came, the answer relayed as Anthropic sent it. */
async function passThrough(req: FastifyRequest, reply: FastifyReply, deps: GatewayDeps, a: Admitted, t0: number): Promise<FastifyReply> {
  const limitHeaders = rateLimitHeaders(a.state);
  let credential: ResolvedCredential | null = null;
  let tokens: Tokens | null = null;
  let status = 0;
  let upstreamMs = 0;
  const abort = new AbortController();
  let unwatch = (): void => {};
  /** The upstream call's start and time to headers, for the metrics. */
  let up: { upstreamStart: number; upstreamTtfbMs: number } | undefined;
  try {
    credential = await deps.core.providerCredentials.resolve(a.orgId, a.route.provider);
    // a trial on the platform's key stops at its allowance, before anything reaches the upstream
    if (credential.source === 'free_trial') await deps.core.freeTrial.check(a.orgId);
    // the tenant's key and the client's API version and betas: none of the client's other headers (its keyplane key least of all)
    const target = anthropicTarget(credential.secret, { version: headerText(req.headers['anthropic-version']), beta: headerText(req.headers['anthropic-beta']) });
    const body = a.body.model === a.route.upstreamModel ? a.raw : JSON.stringify({ ...a.body, model: a.route.upstreamModel });
    unwatch = watchClient(req, reply, () => abort.abort());
    const tUp = performance.now();
    const call = await callUpstream(target, body, { signal: abort.signal, timeoutMs: deps.upstreamTimeoutMs, retries: deps.upstreamRetries });
    upstreamMs = performance.now() - tUp;
    up = { upstreamStart: tUp, upstreamTtfbMs: upstreamMs };
    const contentType = headerText(call.headers['content-type']) ?? 'application/json';
    if (a.stream && call.statusCode === 200 && contentType.startsWith('text/event-stream')) {
      status = 200;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { ...limitHeaders, 'server-timing': serverTiming(tUp - t0, upstreamMs), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': String(req.id) });
      res.flushHeaders();
      // the bytes go on as they came; the usage events are read beside them
      const usage = new AnthropicStreamUsage();
      for await (const chunk of call.body) {
        res.write(chunk as Buffer);
        usage.push(chunk as Buffer);
      }
      usage.end();
      tokens = usage.tokens();
      res.end();
      return reply;
    }
    const { buf, parsed } = await readAnswer(call, contentType);
    upstreamMs = performance.now() - tUp;
    status = call.statusCode;
    reply.code(status).headers({ ...limitHeaders, 'server-timing': serverTiming(performance.now() - t0 - upstreamMs, upstreamMs) });
    if (status >= 400) {
      // when Anthropic says when to retry (its own rate limits, overload), so does keyplane
      const retryAfter = headerText(call.headers['retry-after']);
      if (retryAfter && /^\d{1,9}$/.test(retryAfter)) reply.header('retry-after', retryAfter);
      // an error without Anthropic's envelope gets one (never the provider's raw page)
      if (!isAnthropicError(parsed)) return reply.type('application/json').send({ type: 'error', error: { type: anthropicType(status), message: `The upstream provider answered ${status}.` } });
    } else if (parsed && typeof parsed === 'object') {
      tokens = anthropicTokens((parsed as { usage?: unknown }).usage);
    }
    return reply.type(contentType).send(buf);
  } catch (err) {
    const failure = upstreamFailure(err);
    status = failure instanceof UpstreamError ? failure.status : classifyError(failure).status;
    if (endStartedAnswer(reply, status)) return reply;
    reply.headers({ ...limitHeaders, 'server-timing': serverTiming(performance.now() - t0 - upstreamMs, upstreamMs) });
    throw failure;
  } finally {
    unwatch();
    settleAndRecord(req, deps, a, 'messages', t0, { credential, tokens, status, images: 0, audioBytes: 0, ...up });
  }
}
