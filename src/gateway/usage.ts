// Token counts as providers report them, per endpoint, in the gateway's own terms.
export interface Tokens {
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
}

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/**
 * The usage object of an OpenAI-shaped answer: Chat Completions / Completions / Embeddings
 * (`prompt_tokens`, `completion_tokens`, `prompt_tokens_details.cached_tokens`) or Responses
 * (`input_tokens`, `output_tokens`, `input_tokens_details.cached_tokens`). Null without one.
 */
export function tokensOf(usage: unknown): Tokens | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  if (typeof u.input_tokens === 'number' || typeof u.output_tokens === 'number') {
    return { inputTokens: n(u.input_tokens), cachedInputTokens: n(obj(u.input_tokens_details).cached_tokens), outputTokens: n(u.output_tokens) };
  }
  if (typeof u.prompt_tokens === 'number' || typeof u.completion_tokens === 'number') {
    return { inputTokens: n(u.prompt_tokens), cachedInputTokens: n(obj(u.prompt_tokens_details).cached_tokens), outputTokens: n(u.completion_tokens) };
  }
  return null;
}

/** Usage of a non-streamed JSON answer (top-level `usage`). */
export function tokensOfBody(body: unknown): Tokens | null {
  return tokensOf(obj(body).usage);
}

/**
 * Usage carried by one streamed event's data: a Chat Completions / Completions chunk with `usage`
 * (the `stream_options.include_usage` chunk), or a Responses `response.completed` event.
 */
export function tokensOfStreamData(data: unknown): Tokens | null {
  const d = obj(data);
  if (d.type === 'response.completed' || d.type === 'response.incomplete' || d.type === 'response.failed') return tokensOf(obj(d.response).usage);
  return tokensOf(d.usage);
}
