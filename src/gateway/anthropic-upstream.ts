// Chat Completions served by Anthropic: the request translated to the Messages API, the answer (or
// its stream, event by event) translated back, usage read from Anthropic's own counts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PROVIDER_BASE_URL } from '../domain/model-routes.ts';
import type { ProviderSecret } from './credentials.ts';
import { callUpstream, type UpstreamTarget } from './upstream.ts';
import type { Tokens } from './usage.ts';
import {
  AnthropicToChatStream,
  anthropicToChatResponse,
  chatToAnthropicRequest,
  SseParser,
  type AnthropicMessage,
  type OpenAIChatRequest,
} from './providers/anthropic.ts';

export const ANTHROPIC_VERSION = '2023-06-01';

/** What of an admitted request the translation needs. */
export interface ChatRequestForAnthropic {
  body: Record<string, unknown>;
  /** The model as the client named it (answers name it so). */
  requested: string;
  stream: boolean;
  route: { upstreamModel: string };
}

function target(secret: ProviderSecret): UpstreamTarget {
  const u = new URL(secret.baseUrl ?? PROVIDER_BASE_URL.anthropic!);
  return { origin: u.origin, path: `${u.pathname.replace(/\/$/, '')}/v1/messages`, headers: { 'x-api-key': secret.apiKey, 'anthropic-version': ANTHROPIC_VERSION } };
}

const tokensOf = (u: { input_tokens?: number; output_tokens?: number; cache_read_input_tokens?: number | null; cache_creation_input_tokens?: number | null } | undefined): Tokens | null =>
  u ? { inputTokens: (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), cachedInputTokens: u.cache_read_input_tokens ?? 0, outputTokens: u.output_tokens ?? 0 } : null;

/**
 * Serves one chat completion through Anthropic. Returns the status sent; `onTokens` gets the usage.
 * `headers` go on the answer (rate limits, Server-Timing).
 */
export async function chatViaAnthropic(
  req: FastifyRequest,
  reply: FastifyReply,
  a: ChatRequestForAnthropic,
  secret: ProviderSecret,
  opts: { signal: AbortSignal; timeoutMs: number; defaultMaxTokens: number; headers: Record<string, string> },
  onTokens: (t: Tokens) => void,
): Promise<number> {
  const body = chatToAnthropicRequest(a.body as unknown as OpenAIChatRequest, a.route.upstreamModel, { defaultMaxTokens: opts.defaultMaxTokens });
  const call = await callUpstream(target(secret), JSON.stringify(body), { signal: opts.signal, timeoutMs: opts.timeoutMs });
  const contentType = String(call.headers['content-type'] ?? '');
  if (call.statusCode !== 200) {
    const text = await call.body.text();
    let message = `The upstream provider answered ${call.statusCode}.`;
    let type = call.statusCode >= 500 ? 'server_error' : 'invalid_request_error';
    try {
      const e = (JSON.parse(text) as { error?: { message?: unknown; type?: unknown } }).error;
      if (typeof e?.message === 'string') message = e.message;
      if (e?.type === 'rate_limit_error') type = 'rate_limit_error';
    } catch {
      // not JSON: the generic message
    }
    reply.code(call.statusCode).headers(opts.headers).type('application/json').send({ error: { message, type, param: null, code: 'upstream_error' } });
    return call.statusCode;
  }
  if (a.stream && contentType.startsWith('text/event-stream')) {
    const so = a.body.stream_options as { include_usage?: unknown } | undefined;
    const translator = new AnthropicToChatStream({ requestedModel: a.requested, includeUsage: so?.include_usage === true });
    const parser = new SseParser();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { ...opts.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': String(req.id) });
    for await (const chunk of call.body) {
      let out = '';
      for (const ev of parser.push(chunk as Buffer)) for (const c of translator.push(ev)) out += `data: ${JSON.stringify(c)}\n\n`;
      if (out) res.write(out);
    }
    let tail = '';
    for (const ev of parser.end()) for (const c of translator.push(ev)) tail += `data: ${JSON.stringify(c)}\n\n`;
    const u = translator.usage();
    onTokens({ inputTokens: u.inputTokens, cachedInputTokens: u.cachedInputTokens, outputTokens: u.outputTokens });
    res.end(`${tail}data: [DONE]\n\n`);
    return 200;
  }
  const message = (await call.body.json()) as AnthropicMessage;
  const t = tokensOf(message.usage as never);
  if (t) onTokens(t);
  reply.code(200).headers(opts.headers).send(anthropicToChatResponse(message, a.requested, Date.now()));
  return 200;
}
