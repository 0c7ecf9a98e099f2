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

/**
 * Anthropic's `POST {base}/v1/messages` with the tenant's key: `x-api-key`, `anthropic-version`
 * (`version`, else keyplane's), and `anthropic-beta` when given. Nothing else of the client's.
 */
export function anthropicTarget(secret: ProviderSecret, opts: { version?: string; beta?: string } = {}): UpstreamTarget {
  const u = new URL(secret.baseUrl ?? PROVIDER_BASE_URL.anthropic!);
  const headers: Record<string, string> = { 'x-api-key': secret.apiKey, 'anthropic-version': opts.version || ANTHROPIC_VERSION };
  if (opts.beta) headers['anthropic-beta'] = opts.beta;
  return { origin: u.origin, path: `${u.pathname.replace(/\/$/, '')}/v1/messages`, headers };
}

const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

/**
 * Anthropic's `usage` in keyplane's terms: input = input + cache reads + cache writes (Anthropic
 * counts them apart), cached = cache reads. Null without a usage object.
 */
export function anthropicTokens(usage: unknown): Tokens | null {
  if (!usage || typeof usage !== 'object' || Array.isArray(usage)) return null;
  const u = usage as Record<string, unknown>;
  const cacheRead = count(u.cache_read_input_tokens);
  return { inputTokens: count(u.input_tokens) + cacheRead + count(u.cache_creation_input_tokens), cachedInputTokens: cacheRead, outputTokens: count(u.output_tokens) };
}

/**
 * Serves one chat completion through Anthropic. Returns the status sent; `onTokens` gets the usage.
 * `headers` go on the answer (rate limits, Server-Timing).
 */
export async function chatViaAnthropic(
  req: FastifyRequest,
  reply: FastifyReply,
  a: ChatRequestForAnthropic,
  secret: ProviderSecret,
  opts: { signal: AbortSignal; timeoutMs: number; retries: number; defaultMaxTokens: number; headers: Record<string, string> },
  onTokens: (t: Tokens) => void,
): Promise<number> {
  const body = chatToAnthropicRequest(a.body as unknown as OpenAIChatRequest, a.route.upstreamModel, { defaultMaxTokens: opts.defaultMaxTokens });
  const call = await callUpstream(anthropicTarget(secret), JSON.stringify(body), { signal: opts.signal, timeoutMs: opts.timeoutMs, retries: opts.retries });
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
  const t = anthropicTokens(message.usage);
  if (t) onTokens(t);
  reply.code(200).headers(opts.headers).send(anthropicToChatResponse(message, a.requested, Date.now()));
  return 200;
}

/**
 * The usage of a Messages API stream, read on the side while its bytes are relayed untouched:
 * `message_start` carries `message.usage` (input, cache reads and writes, the first output count),
 * `message_delta` the running output count and, on newer API versions, the input counts again.
 * Later numbers replace earlier ones field by field; `null`s are not numbers and change nothing.
 */
export class AnthropicStreamUsage {
  private readonly parser = new SseParser();
  private usage: Record<string, number> | null = null;

  push(chunk: Uint8Array): void {
    for (const e of this.parser.push(chunk)) this.read(e.event, e.data);
  }

  end(): void {
    for (const e of this.parser.end()) this.read(e.event, e.data);
  }

  /** The tokens reported so far; null when the stream carried no usage at all. */
  tokens(): Tokens | null {
    return this.usage ? anthropicTokens(this.usage) : null;
  }

  private read(event: string | undefined, data: string): void {
    // only the two events that carry usage are parsed (an unnamed event: when it may be one of them)
    if (event !== undefined ? event !== 'message_start' && event !== 'message_delta' : !data.includes('"message_')) return;
    let d: unknown;
    try {
      d = JSON.parse(data);
    } catch {
      return;
    }
    if (!d || typeof d !== 'object') return;
    const e = d as { type?: unknown; message?: { usage?: unknown } | null; usage?: unknown };
    const u = e.type === 'message_start' ? (e.message && typeof e.message === 'object' ? e.message.usage : undefined) : e.type === 'message_delta' ? e.usage : undefined;
    if (!u || typeof u !== 'object' || Array.isArray(u)) return;
    const next: Record<string, number> = { ...this.usage };
    let any = false;
    for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']) {
      const v = (u as Record<string, unknown>)[k];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
        next[k] = v;
        any = true;
      }
    }
    if (any) this.usage = next;
  }
}
