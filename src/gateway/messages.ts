// POST /v1/messages for clients of Anthropic's Messages API (the official @anthropic-ai/sdk pointed at
// keyplane): same keys, limits and usage as the OpenAI endpoints. A model served by an
// OpenAI-compatible provider is reached through Chat Completions, translated both ways (streams
// included); errors answer in Anthropic's envelope.
import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors.ts';
import { rateLimitHeaders } from './limiter.ts';
import { admitOrRefuse, serverTiming, settleAndRecord, type Endpoint, type GatewayDeps } from './proxy.ts';
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
  if (a.route.api === 'anthropic') {
    throw new DomainError('invalid', `Model '${a.requested}' is served by Anthropic directly; /v1/messages reaches OpenAI-compatible providers in this release.`, 'model', 'unsupported_provider');
  }
  const limitHeaders = rateLimitHeaders(a.state);
  let credential: ResolvedCredential | null = null;
  let tokens: Tokens | null = null;
  let status = 0;
  const abort = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort();
  };
  try {
    const chat = anthropicToChatRequest(a.body as unknown as AnthropicRequest, a.route.upstreamModel);
    credential = await deps.core.providerCredentials.resolve(a.orgId, a.route.provider);
    if (credential.source === 'free_trial') await deps.core.freeTrial.check(a.orgId);
    const target = targetFor(a.route, credential.secret, MESSAGES.path);
    reply.raw.on('close', onClose);
    const tUp = performance.now();
    const call = await callUpstream(target, JSON.stringify(chat), { signal: abort.signal, timeoutMs: deps.upstreamTimeoutMs });
    const upstreamMs = performance.now() - tUp;
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
    if (reply.raw.headersSent) {
      reply.raw.end();
      return reply;
    }
    reply.headers(limitHeaders);
    throw failure;
  } finally {
    reply.raw.off('close', onClose);
    settleAndRecord(req, deps, a, 'messages', t0, { credential, tokens, status, images: 0, audioBytes: 0 });
  }
}
