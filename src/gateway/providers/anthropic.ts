// Pure translation between the OpenAI Chat Completions wire format and the
// Anthropic Messages wire format, both ways, plus a small SSE parser/serializer.
//
// Nothing here does I/O: the gateway feeds request bodies, response bodies and
// parsed SSE events in, and writes what comes out. The types below describe the
// parts of each wire format this module reads or writes; fields it does not know
// are dropped on the way across (the upstream is a different API).

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** The client's request cannot be expressed in the upstream's format (answer 400). */
export class TranslationError extends Error {
  readonly status = 400;
  readonly type = 'invalid_request_error';
  /** The request field the problem is in, e.g. `messages[2].content[0].image_url`. */
  readonly param: string | null;
  constructor(message: string, param: string | null = null) {
    super(message);
    this.name = 'TranslationError';
    this.param = param;
  }
}

/** An `error` event arrived in an upstream stream (e.g. Anthropic `overloaded_error`). */
export class UpstreamStreamError extends Error {
  /** The upstream's error type, e.g. `overloaded_error`, `api_error`. */
  readonly errorType: string;
  /** The upstream's error message, verbatim. */
  readonly upstreamMessage: string;
  constructor(errorType: string, upstreamMessage: string) {
    super(`upstream stream error (${errorType}): ${upstreamMessage}`);
    this.name = 'UpstreamStreamError';
    this.errorType = errorType;
    this.upstreamMessage = upstreamMessage;
  }
}

// ---------------------------------------------------------------------------
// OpenAI Chat Completions types (the subset this module reads or writes)
// ---------------------------------------------------------------------------

export interface OpenAITextPart {
  type: 'text';
  text: string;
}
export interface OpenAIImagePart {
  type: 'image_url';
  image_url: { url: string; detail?: 'auto' | 'low' | 'high' };
}
export interface OpenAIRefusalPart {
  type: 'refusal';
  refusal: string;
}
export type OpenAIContentPart = OpenAITextPart | OpenAIImagePart | OpenAIRefusalPart | { type: string; [k: string]: unknown };

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type OpenAIChatMessage =
  | { role: 'system' | 'developer'; content: string | OpenAIContentPart[]; name?: string }
  | { role: 'user'; content: string | OpenAIContentPart[]; name?: string }
  | {
      role: 'assistant';
      content?: string | OpenAIContentPart[] | null;
      refusal?: string | null;
      tool_calls?: OpenAIToolCall[];
      /** Deprecated single function call. */
      function_call?: { name: string; arguments: string } | null;
      name?: string;
    }
  | { role: 'tool'; content: string | OpenAIContentPart[]; tool_call_id: string }
  /** Deprecated function result. */
  | { role: 'function'; content: string | null; name: string };

export interface OpenAIFunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
  strict?: boolean | null;
}

export type OpenAIToolChoice =
  | 'none'
  | 'auto'
  | 'required'
  | { type: 'function'; function: { name: string } };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIChatMessage[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  tools?: Array<{ type: 'function'; function: OpenAIFunctionDefinition } | { type: string; [k: string]: unknown }>;
  tool_choice?: OpenAIToolChoice | { type: string; [k: string]: unknown };
  parallel_tool_calls?: boolean | null;
  /** Deprecated. */
  functions?: OpenAIFunctionDefinition[];
  /** Deprecated. */
  function_call?: 'none' | 'auto' | { name: string };
  n?: number | null;
  user?: string;
  safety_identifier?: string;
  [k: string]: unknown;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number; [k: string]: unknown };
  completion_tokens_details?: Record<string, unknown>;
}

export type OpenAIFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

export interface OpenAIChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: {
      role: 'assistant';
      content: string | null;
      refusal: string | null;
      tool_calls?: OpenAIToolCall[];
      function_call?: { name: string; arguments: string } | null;
    };
    finish_reason: OpenAIFinishReason | null;
    logprobs: unknown | null;
  }>;
  usage?: OpenAIUsage;
  system_fingerprint?: string;
}

export interface OpenAIToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      refusal?: string | null;
      tool_calls?: OpenAIToolCallDelta[];
      function_call?: { name?: string; arguments?: string };
    };
    finish_reason: OpenAIFinishReason | null;
    logprobs?: unknown | null;
  }>;
  usage?: OpenAIUsage | null;
}

// ---------------------------------------------------------------------------
// Anthropic Messages types (the subset this module reads or writes)
// ---------------------------------------------------------------------------

export type AnthropicImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}
export interface AnthropicImageBlock {
  type: 'image';
  source: { type: 'base64'; media_type: AnthropicImageMediaType; data: string } | { type: 'url'; url: string };
}
export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  input: unknown;
}
export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string | Array<AnthropicTextBlock | AnthropicImageBlock>;
  is_error?: boolean;
}
/** Blocks this module does not translate (thinking, documents, server tools, ...). */
export interface AnthropicOtherBlock {
  type: string;
  [k: string]: unknown;
}
export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock;

export interface AnthropicMessageParam {
  role: 'user' | 'assistant';
  content: string | Array<AnthropicContentBlock | AnthropicOtherBlock>;
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  type?: string;
}

export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicRequest {
  model: string;
  messages: AnthropicMessageParam[];
  max_tokens: number;
  system?: string | AnthropicTextBlock[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  tools?: Array<AnthropicTool | { type: string; name: string; [k: string]: unknown }>;
  tool_choice?: AnthropicToolChoice;
  metadata?: { user_id?: string | null };
  [k: string]: unknown;
}

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  [k: string]: unknown;
}

export interface AnthropicMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Array<AnthropicTextBlock | AnthropicToolUseBlock | AnthropicOtherBlock>;
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** One Anthropic stream event as the gateway writes it: `event:` name and JSON `data`. */
export interface AnthropicStreamEvent {
  event: string;
  data: Record<string, unknown>;
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/** Token counts of one response, in OpenAI terms: `inputTokens` includes cached ones. */
export interface TranslatedUsage {
  /** Every prompt token: uncached + cache reads + cache writes (OpenAI `prompt_tokens`). */
  inputTokens: number;
  /** Prompt tokens read from the cache (OpenAI `prompt_tokens_details.cached_tokens`). */
  cachedInputTokens: number;
  /** Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`); part of inputTokens. */
  cacheCreationInputTokens: number;
  outputTokens: number;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function usageFromAnthropic(u: Partial<AnthropicUsage> | undefined | null): TranslatedUsage {
  const uncached = num(u?.input_tokens);
  const cacheRead = num(u?.cache_read_input_tokens);
  const cacheWrite = num(u?.cache_creation_input_tokens);
  return {
    inputTokens: uncached + cacheRead + cacheWrite,
    cachedInputTokens: cacheRead,
    cacheCreationInputTokens: cacheWrite,
    outputTokens: num(u?.output_tokens),
  };
}

function openAIUsage(u: TranslatedUsage): OpenAIUsage {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens },
  };
}

function usageFromOpenAI(u: OpenAIUsage | null | undefined): TranslatedUsage {
  const prompt = num(u?.prompt_tokens);
  const cacheRead = num(u?.prompt_tokens_details?.cached_tokens);
  const cacheWrite = num(u?.prompt_tokens_details?.cache_write_tokens);
  return {
    inputTokens: prompt,
    cachedInputTokens: cacheRead,
    cacheCreationInputTokens: cacheWrite,
    outputTokens: num(u?.completion_tokens),
  };
}

function anthropicUsage(u: TranslatedUsage): AnthropicUsage {
  return {
    input_tokens: Math.max(0, u.inputTokens - u.cachedInputTokens - u.cacheCreationInputTokens),
    output_tokens: u.outputTokens,
    cache_creation_input_tokens: u.cacheCreationInputTokens,
    cache_read_input_tokens: u.cachedInputTokens,
  };
}

/** `msg_01Abc` → `chatcmpl-01Abc`. */
export function chatIdFromMessageId(messageId: string): string {
  return `chatcmpl-${messageId.startsWith('msg_') ? messageId.slice(4) : messageId}`;
}

/** `chatcmpl-Abc` → `msg_Abc`. */
export function messageIdFromChatId(chatId: string): string {
  return `msg_${chatId.startsWith('chatcmpl-') ? chatId.slice(9) : chatId}`;
}

export function finishReasonFromStopReason(stop: string | null | undefined): OpenAIFinishReason {
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn, null
      return 'stop';
  }
}

export function stopReasonFromFinishReason(finish: string | null | undefined): AnthropicStopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

const seconds = (nowMs: number): number => Math.floor(nowMs / 1000);

// ---------------------------------------------------------------------------
// 1. OpenAI chat request → Anthropic request
// ---------------------------------------------------------------------------

export interface ChatToAnthropicOptions {
  /** max_tokens when the client sent neither max_tokens nor max_completion_tokens (Anthropic requires one). Default 4096. */
  defaultMaxTokens?: number;
}

export const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

const DATA_URL = /^data:([^;,]+)((?:;[^;,]*)*?);base64,(.*)$/s;
const ANTHROPIC_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

function imageBlockFromUrl(url: string, param: string): AnthropicImageBlock {
  if (url.startsWith('data:')) {
    const m = DATA_URL.exec(url);
    if (!m) throw new TranslationError('image_url data URLs must be base64-encoded (data:<type>;base64,<data>)', param);
    let mediaType = m[1]!.toLowerCase();
    if (mediaType === 'image/jpg') mediaType = 'image/jpeg';
    if (!ANTHROPIC_IMAGE_TYPES.has(mediaType)) {
      throw new TranslationError(`image type ${mediaType} is not supported by this model (jpeg, png, gif, webp)`, param);
    }
    return { type: 'image', source: { type: 'base64', media_type: mediaType as AnthropicImageMediaType, data: m[3]! } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw new TranslationError('image_url must be an http(s) URL or a base64 data URL', param);
}

function textOf(content: string | OpenAIContentPart[] | null | undefined, param: string, allowRefusal = false): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  let out = '';
  content.forEach((part, i) => {
    if (part.type === 'text') out += (part as OpenAITextPart).text;
    else if (allowRefusal && part.type === 'refusal') out += (part as OpenAIRefusalPart).refusal;
    else throw new TranslationError(`content part type ${part.type} is not supported here`, `${param}[${i}]`);
  });
  return out;
}

function userBlocks(content: string | OpenAIContentPart[], param: string): AnthropicContentBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  const blocks: AnthropicContentBlock[] = [];
  content.forEach((part, i) => {
    if (part.type === 'text') {
      const text = (part as OpenAITextPart).text;
      if (text !== '') blocks.push({ type: 'text', text });
    } else if (part.type === 'image_url') {
      const url = (part as OpenAIImagePart).image_url?.url;
      if (typeof url !== 'string') throw new TranslationError('image_url.url is required', `${param}[${i}].image_url`);
      blocks.push(imageBlockFromUrl(url, `${param}[${i}].image_url`));
    } else {
      throw new TranslationError(`content part type ${part.type} is not supported by this model`, `${param}[${i}]`);
    }
  });
  return blocks;
}

function parseToolArguments(args: string | undefined, param: string): Record<string, unknown> {
  if (args == null || args.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw new TranslationError('tool call arguments must be a JSON object', param);
  }
  if (!isObject(parsed)) throw new TranslationError('tool call arguments must be a JSON object', param);
  return parsed;
}

function toolSchema(parameters: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!isObject(parameters) || Object.keys(parameters).length === 0) return { type: 'object', properties: {} };
  return parameters.type === undefined ? { type: 'object', ...parameters } : parameters;
}

/**
 * Translate an OpenAI Chat Completions request into an Anthropic Messages request.
 * Throws TranslationError for what Anthropic cannot express (n > 1, non-function tools,
 * unsupported content parts, tool-call arguments that are not a JSON object).
 */
export function chatToAnthropicRequest(
  body: OpenAIChatRequest,
  upstreamModel: string,
  options: ChatToAnthropicOptions = {},
): AnthropicRequest {
  if (body.n != null && body.n !== 1) throw new TranslationError('n must be 1 for this model', 'n');
  if (!Array.isArray(body.messages)) throw new TranslationError('messages must be an array', 'messages');

  const system: string[] = [];
  const messages: AnthropicMessageParam[] = [];
  // Ids given to deprecated assistant `function_call`s, so a later `function` message can answer it.
  const legacyCallIds = new Map<string, string>();
  let legacyCount = 0;

  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlock[]): void => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    // Anthropic wants alternating roles: consecutive same-role turns become one message.
    if (last && last.role === role) (last.content as AnthropicContentBlock[]).push(...blocks);
    else messages.push({ role, content: blocks });
  };

  body.messages.forEach((msg, i) => {
    const param = `messages[${i}]`;
    switch (msg.role) {
      case 'system':
      case 'developer': {
        const text = textOf(msg.content, `${param}.content`);
        if (text !== '') system.push(text);
        break;
      }
      case 'user':
        push('user', userBlocks(msg.content, `${param}.content`));
        break;
      case 'assistant': {
        const blocks: AnthropicContentBlock[] = [];
        const text = textOf(msg.content, `${param}.content`, true) || (msg.refusal ?? '');
        if (text !== '') blocks.push({ type: 'text', text });
        (msg.tool_calls ?? []).forEach((call, j) => {
          if (call.type !== undefined && call.type !== 'function') {
            throw new TranslationError(`tool call type ${String(call.type)} is not supported`, `${param}.tool_calls[${j}]`);
          }
          blocks.push({
            type: 'tool_use',
            id: call.id,
            name: call.function.name,
            input: parseToolArguments(call.function.arguments, `${param}.tool_calls[${j}].function.arguments`),
          });
        });
        if (msg.function_call) {
          const id = `toolu_legacy_${++legacyCount}`;
          legacyCallIds.set(msg.function_call.name, id);
          blocks.push({
            type: 'tool_use',
            id,
            name: msg.function_call.name,
            input: parseToolArguments(msg.function_call.arguments, `${param}.function_call.arguments`),
          });
        }
        push('assistant', blocks);
        break;
      }
      case 'tool': {
        const text = textOf(msg.content, `${param}.content`);
        push('user', [{ type: 'tool_result', tool_use_id: msg.tool_call_id, content: text }]);
        break;
      }
      case 'function': {
        const id = legacyCallIds.get(msg.name);
        if (!id) throw new TranslationError(`no earlier function_call named ${msg.name}`, param);
        push('user', [{ type: 'tool_result', tool_use_id: id, content: msg.content ?? '' }]);
        break;
      }
      default:
        throw new TranslationError(`unsupported message role ${String((msg as { role: unknown }).role)}`, `${param}.role`);
    }
  });

  // Within a user turn, tool results must come before anything else.
  for (const m of messages) {
    if (m.role !== 'user' || typeof m.content === 'string') continue;
    const blocks = m.content as AnthropicContentBlock[];
    if (blocks.some((b) => b.type === 'tool_result')) {
      m.content = [...blocks.filter((b) => b.type === 'tool_result'), ...blocks.filter((b) => b.type !== 'tool_result')];
    }
  }

  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? options.defaultMaxTokens ?? DEFAULT_ANTHROPIC_MAX_TOKENS;
  const out: AnthropicRequest = { model: upstreamModel, messages, max_tokens: maxTokens };
  if (system.length === 1) out.system = system[0]!;
  else if (system.length > 1) out.system = system.map((text) => ({ type: 'text', text }));

  // OpenAI allows temperature up to 2, Anthropic up to 1.
  if (typeof body.temperature === 'number') out.temperature = Math.min(1, Math.max(0, body.temperature));
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (body.stop != null) {
    const stops = (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s) => typeof s === 'string' && s !== '');
    if (stops.length > 0) out.stop_sequences = stops;
  }
  if (body.stream === true) out.stream = true;
  const userId = body.user ?? body.safety_identifier;
  if (typeof userId === 'string' && userId !== '') out.metadata = { user_id: userId };

  // Tools: `tools` (function tools) and the deprecated `functions`.
  const tools: AnthropicTool[] = [];
  (body.tools ?? []).forEach((tool, i) => {
    if (tool.type !== 'function') throw new TranslationError(`tool type ${tool.type} is not supported by this model`, `tools[${i}]`);
    const fn = (tool as { function: OpenAIFunctionDefinition }).function;
    tools.push(toAnthropicTool(fn));
  });
  for (const fn of body.functions ?? []) tools.push(toAnthropicTool(fn));
  if (tools.length > 0) {
    out.tools = tools;
    const choice = toAnthropicToolChoice(body.tool_choice ?? legacyToolChoice(body.function_call));
    const noParallel = body.parallel_tool_calls === false;
    if (choice && choice.type !== 'none') out.tool_choice = noParallel ? { ...choice, disable_parallel_tool_use: true } : choice;
    else if (choice) out.tool_choice = choice;
    else if (noParallel) out.tool_choice = { type: 'auto', disable_parallel_tool_use: true };
  }
  return out;
}

function toAnthropicTool(fn: OpenAIFunctionDefinition): AnthropicTool {
  const tool: AnthropicTool = { name: fn.name, input_schema: toolSchema(fn.parameters) };
  if (fn.description) tool.description = fn.description;
  return tool;
}

function legacyToolChoice(fc: OpenAIChatRequest['function_call']): OpenAIChatRequest['tool_choice'] {
  if (fc === undefined) return undefined;
  if (typeof fc === 'string') return fc;
  return { type: 'function', function: { name: fc.name } };
}

function toAnthropicToolChoice(choice: OpenAIChatRequest['tool_choice']): AnthropicToolChoice | undefined {
  if (choice === undefined || choice === null) return undefined;
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'required') return { type: 'any' };
  if (choice === 'none') return { type: 'none' };
  if (typeof choice === 'object' && choice.type === 'function') {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name === 'string') return { type: 'tool', name };
  }
  throw new TranslationError('unsupported tool_choice', 'tool_choice');
}

// ---------------------------------------------------------------------------
// 2. Anthropic response → OpenAI chat completion
// ---------------------------------------------------------------------------

/**
 * Translate a non-streaming Anthropic Message into an OpenAI chat completion.
 * `now` is the current time in milliseconds (Date.now()); `created` is in seconds.
 */
export function anthropicToChatResponse(
  resp: AnthropicMessage,
  requestedModel: string,
  now: number = Date.now(),
): OpenAIChatCompletion {
  let text = '';
  let sawText = false;
  const toolCalls: OpenAIToolCall[] = [];
  for (const block of resp.content ?? []) {
    if (block.type === 'text') {
      text += (block as AnthropicTextBlock).text;
      sawText = true;
    } else if (block.type === 'tool_use') {
      const b = block as AnthropicToolUseBlock;
      toolCalls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    }
    // thinking, redacted_thinking and server-tool blocks have no Chat Completions form.
  }
  const message: OpenAIChatCompletion['choices'][number]['message'] = {
    role: 'assistant',
    content: sawText || toolCalls.length === 0 ? text : null,
    refusal: null,
  };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id: chatIdFromMessageId(resp.id),
    object: 'chat.completion',
    created: seconds(now),
    model: requestedModel,
    choices: [{ index: 0, message, finish_reason: finishReasonFromStopReason(resp.stop_reason), logprobs: null }],
    usage: openAIUsage(usageFromAnthropic(resp.usage)),
  };
}

// ---------------------------------------------------------------------------
// 3. Anthropic stream → OpenAI chunks
// ---------------------------------------------------------------------------

export interface AnthropicToChatStreamOptions {
  requestedModel: string;
  /** The client asked for `stream_options.include_usage`: every chunk carries `usage: null`, and a last chunk with `choices: []` carries the usage. */
  includeUsage?: boolean;
  /** Current time in milliseconds; `created` is derived from it. */
  now?: number;
}

/** One SSE event: `event` name (if any) and `data` as text or already parsed. */
export interface SseInputEvent {
  event?: string;
  data: string | Record<string, unknown>;
}

export class AnthropicToChatStream {
  private readonly model: string;
  private readonly includeUsage: boolean;
  private readonly created: number;
  private id = 'chatcmpl-unknown';
  private started = false;
  private finished = false;
  private stopped = false;
  private finishReason: OpenAIFinishReason | null = null;
  private rawUsage: Partial<AnthropicUsage> = {};
  /** Anthropic content block index → OpenAI tool_calls index. */
  private readonly toolIndex = new Map<number, number>();
  private toolCount = 0;

  constructor(options: AnthropicToChatStreamOptions) {
    this.model = options.requestedModel;
    this.includeUsage = options.includeUsage === true;
    this.created = seconds(options.now ?? Date.now());
  }

  /** True once message_stop was seen. */
  get done(): boolean {
    return this.stopped;
  }

  /** Usage so far; final after message_stop. */
  usage(): TranslatedUsage {
    return usageFromAnthropic(this.rawUsage);
  }

  /** Feed one Anthropic SSE event; returns the OpenAI chunks to send, in order. */
  push(ev: SseInputEvent): OpenAIChatCompletionChunk[] {
    let data: Record<string, unknown>;
    if (typeof ev.data === 'string') {
      if (ev.data === '') return [];
      try {
        data = JSON.parse(ev.data) as Record<string, unknown>;
      } catch {
        throw new UpstreamStreamError('invalid_stream', `upstream sent an event that is not JSON: ${ev.data.slice(0, 200)}`);
      }
    } else data = ev.data;
    const type = typeof data.type === 'string' ? data.type : ev.event;

    switch (type) {
      case 'ping':
        return [];
      case 'error': {
        const err = isObject(data.error) ? data.error : {};
        throw new UpstreamStreamError(
          typeof err.type === 'string' ? err.type : 'api_error',
          typeof err.message === 'string' ? err.message : 'upstream error',
        );
      }
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        if (typeof message.id === 'string') this.id = chatIdFromMessageId(message.id);
        if (isObject(message.usage)) this.mergeUsage(message.usage);
        return this.start();
      }
      case 'content_block_start': {
        const out = this.start();
        const index = num(data.index);
        const block = isObject(data.content_block) ? data.content_block : {};
        if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
          out.push(this.chunk({ content: block.text }));
        } else if (block.type === 'tool_use') {
          const toolIdx = this.toolCount++;
          this.toolIndex.set(index, toolIdx);
          const input = block.input;
          const initialArgs = isObject(input) && Object.keys(input).length > 0 ? JSON.stringify(input) : '';
          out.push(
            this.chunk({
              tool_calls: [
                { index: toolIdx, id: String(block.id), type: 'function', function: { name: String(block.name), arguments: initialArgs } },
              ],
            }),
          );
        }
        return out;
      }
      case 'content_block_delta': {
        const out = this.start();
        const delta = isObject(data.delta) ? data.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
          out.push(this.chunk({ content: delta.text }));
        } else if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
          const toolIdx = this.toolIndex.get(num(data.index));
          if (toolIdx !== undefined) {
            out.push(this.chunk({ tool_calls: [{ index: toolIdx, function: { arguments: delta.partial_json } }] }));
          }
        }
        // thinking_delta, signature_delta, citations_delta: no Chat Completions form.
        return out;
      }
      case 'content_block_stop':
        return [];
      case 'message_delta': {
        const delta = isObject(data.delta) ? data.delta : {};
        if (isObject(data.usage)) this.mergeUsage(data.usage);
        const out = this.start();
        if (!this.finished) {
          this.finishReason = finishReasonFromStopReason(typeof delta.stop_reason === 'string' ? delta.stop_reason : null);
          out.push(this.finishChunk());
        }
        return out;
      }
      case 'message_stop': {
        if (this.stopped) return [];
        const out = this.start();
        if (!this.finished) {
          this.finishReason = 'stop';
          out.push(this.finishChunk());
        }
        this.stopped = true;
        if (this.includeUsage) {
          out.push({ ...this.base(), choices: [], usage: openAIUsage(this.usage()) });
        }
        return out;
      }
      default:
        return [];
    }
  }

  private mergeUsage(u: Record<string, unknown>): void {
    // Anthropic's counters are cumulative: a present value replaces the earlier one.
    for (const key of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const) {
      if (typeof u[key] === 'number') this.rawUsage[key] = u[key] as number;
    }
  }

  private base(): Omit<OpenAIChatCompletionChunk, 'choices'> {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model };
  }

  private chunk(delta: OpenAIChatCompletionChunk['choices'][number]['delta']): OpenAIChatCompletionChunk {
    const c: OpenAIChatCompletionChunk = { ...this.base(), choices: [{ index: 0, delta, finish_reason: null }] };
    if (this.includeUsage) c.usage = null;
    return c;
  }

  private start(): OpenAIChatCompletionChunk[] {
    if (this.started) return [];
    this.started = true;
    return [this.chunk({ role: 'assistant', content: '' })];
  }

  private finishChunk(): OpenAIChatCompletionChunk {
    this.finished = true;
    const c = this.chunk({});
    c.choices[0]!.finish_reason = this.finishReason;
    return c;
  }
}

// ---------------------------------------------------------------------------
// 4a. Anthropic request → OpenAI chat request
// ---------------------------------------------------------------------------

export interface AnthropicToChatOptions {
  /** Which OpenAI field carries the token limit. Default `max_tokens` (understood by most OpenAI-compatible servers). */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
}

function imageUrlFromAnthropic(block: AnthropicImageBlock, param: string): string {
  const src = block.source as { type?: string; media_type?: string; data?: string; url?: string };
  if (src?.type === 'base64' && typeof src.data === 'string') return `data:${src.media_type};base64,${src.data}`;
  if (src?.type === 'url' && typeof src.url === 'string') return src.url;
  throw new TranslationError(`image source type ${String(src?.type)} is not supported by this model`, param);
}

function systemText(system: AnthropicRequest['system'], param: string): string {
  if (system == null) return '';
  if (typeof system === 'string') return system;
  return system
    .map((b, i) => {
      if (b.type !== 'text') throw new TranslationError(`system block type ${String(b.type)} is not supported`, `${param}[${i}]`);
      return b.text;
    })
    .join('\n\n');
}

/**
 * Translate an Anthropic Messages request (a `POST /v1/messages` body) into an OpenAI
 * Chat Completions request for an OpenAI-compatible upstream.
 */
export function anthropicToChatRequest(
  body: AnthropicRequest,
  upstreamModel: string,
  options: AnthropicToChatOptions = {},
): OpenAIChatRequest {
  if (!Array.isArray(body.messages)) throw new TranslationError('messages must be an array', 'messages');
  const messages: OpenAIChatMessage[] = [];
  const sys = systemText(body.system, 'system');
  if (sys !== '') messages.push({ role: 'system', content: sys });

  body.messages.forEach((msg, i) => {
    const param = `messages[${i}]`;
    const blocks: Array<AnthropicContentBlock | AnthropicOtherBlock> =
      typeof msg.content === 'string' ? [{ type: 'text', text: msg.content }] : msg.content;
    if (msg.role === 'assistant') {
      let text = '';
      const toolCalls: OpenAIToolCall[] = [];
      blocks.forEach((b, j) => {
        if (b.type === 'text') text += (b as AnthropicTextBlock).text;
        else if (b.type === 'tool_use') {
          const t = b as AnthropicToolUseBlock;
          toolCalls.push({ id: t.id, type: 'function', function: { name: t.name, arguments: JSON.stringify(t.input ?? {}) } });
        } else if (b.type === 'thinking' || b.type === 'redacted_thinking') {
          // Reasoning of an earlier turn: nothing to send it as.
        } else throw new TranslationError(`content block type ${b.type} is not supported by this model`, `${param}.content[${j}]`);
      });
      const m: OpenAIChatMessage = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
      if (toolCalls.length > 0) m.tool_calls = toolCalls;
      messages.push(m);
    } else if (msg.role === 'user') {
      const parts: OpenAIContentPart[] = [];
      blocks.forEach((b, j) => {
        const p = `${param}.content[${j}]`;
        if (b.type === 'text') parts.push({ type: 'text', text: (b as AnthropicTextBlock).text });
        else if (b.type === 'image') parts.push({ type: 'image_url', image_url: { url: imageUrlFromAnthropic(b as AnthropicImageBlock, p) } });
        else if (b.type === 'tool_result') {
          const r = b as AnthropicToolResultBlock;
          let content = '';
          if (typeof r.content === 'string') content = r.content;
          else {
            (r.content ?? []).forEach((c, k) => {
              // A tool message holds text only: images go to the user message that follows.
              if (c.type === 'text') content += c.text;
              else if (c.type === 'image') parts.push({ type: 'image_url', image_url: { url: imageUrlFromAnthropic(c, `${p}.content[${k}]`) } });
              else throw new TranslationError(`tool_result content type ${String((c as { type: unknown }).type)} is not supported`, `${p}.content[${k}]`);
            });
          }
          messages.push({ role: 'tool', tool_call_id: r.tool_use_id, content: content });
        } else throw new TranslationError(`content block type ${b.type} is not supported by this model`, p);
      });
      if (parts.length > 0) {
        const onlyText = parts.every((p) => p.type === 'text');
        messages.push({
          role: 'user',
          content: onlyText ? parts.map((p) => (p as OpenAITextPart).text).join('') : parts,
        });
      }
    } else {
      throw new TranslationError(`unsupported message role ${String((msg as { role: unknown }).role)}`, `${param}.role`);
    }
  });

  const out: OpenAIChatRequest = { model: upstreamModel, messages };
  out[options.maxTokensField ?? 'max_tokens'] = body.max_tokens;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  if (body.stream === true) {
    out.stream = true;
    // Needed to report usage in message_delta.
    out.stream_options = { include_usage: true };
  }
  const userId = body.metadata?.user_id;
  if (typeof userId === 'string' && userId !== '') out.user = userId;

  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((tool, i) => {
      if (tool.type !== undefined && tool.type !== null && tool.type !== 'custom') {
        throw new TranslationError(`tool type ${String(tool.type)} is not supported by this model`, `tools[${i}]`);
      }
      const t = tool as AnthropicTool;
      const fn: OpenAIFunctionDefinition = { name: t.name, parameters: t.input_schema };
      if (t.description) fn.description = t.description;
      return { type: 'function' as const, function: fn };
    });
    const choice = body.tool_choice;
    if (choice) {
      if (choice.type === 'auto') out.tool_choice = 'auto';
      else if (choice.type === 'any') out.tool_choice = 'required';
      else if (choice.type === 'none') out.tool_choice = 'none';
      else if (choice.type === 'tool') out.tool_choice = { type: 'function', function: { name: choice.name } };
      else throw new TranslationError('unsupported tool_choice', 'tool_choice');
      if ('disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// 4b. OpenAI chat completion → Anthropic message
// ---------------------------------------------------------------------------

function parseArgumentsLoosely(args: string | undefined): unknown {
  if (args == null || args.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObject(v) ? v : {};
  } catch {
    return {};
  }
}

/** Translate a non-streaming OpenAI chat completion into an Anthropic Message. */
export function chatToAnthropicResponse(resp: OpenAIChatCompletion, requestedModel: string): AnthropicMessage {
  const choice = resp.choices?.[0];
  const content: AnthropicMessage['content'] = [];
  const msg = choice?.message;
  const text = msg?.content ?? msg?.refusal ?? '';
  if (text !== '') content.push({ type: 'text', text });
  for (const call of msg?.tool_calls ?? []) {
    content.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseArgumentsLoosely(call.function.arguments) });
  }
  if (msg?.function_call) {
    content.push({ type: 'tool_use', id: `toolu_${resp.id}`, name: msg.function_call.name, input: parseArgumentsLoosely(msg.function_call.arguments) });
  }
  let stop = stopReasonFromFinishReason(choice?.finish_reason);
  if (msg?.refusal && !msg.content) stop = 'refusal';
  return {
    id: messageIdFromChatId(resp.id),
    type: 'message',
    role: 'assistant',
    model: requestedModel,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: anthropicUsage(usageFromOpenAI(resp.usage)),
  };
}

// ---------------------------------------------------------------------------
// 4c. OpenAI chunks → Anthropic stream events
// ---------------------------------------------------------------------------

export interface ChatToAnthropicStreamOptions {
  requestedModel: string;
  /** Id for message_start when the first chunk has none. */
  messageId?: string;
}

type OpenBlock = { kind: 'text'; index: number } | { kind: 'tool'; index: number; toolIndex: number };

/**
 * Feed OpenAI `chat.completion.chunk`s with push(); call end() when the upstream
 * stream ends (`data: [DONE]` or EOF) to get message_delta and message_stop.
 * The usage chunk of `include_usage` comes after the finish_reason chunk, so the
 * message_delta is held until end().
 */
export class ChatToAnthropicStream {
  private readonly model: string;
  private id: string | undefined;
  private started = false;
  private ended = false;
  private nextBlock = 0;
  private open: OpenBlock | null = null;
  /** OpenAI tool_calls index → Anthropic content block index. */
  private readonly toolBlocks = new Map<number, number>();
  private stopReason: AnthropicStopReason | null = null;
  private refusalOnly = false;
  private sawContent = false;
  private rawUsage: OpenAIUsage | null = null;

  constructor(options: ChatToAnthropicStreamOptions) {
    this.model = options.requestedModel;
    this.id = options.messageId;
  }

  get done(): boolean {
    return this.ended;
  }

  usage(): TranslatedUsage {
    return usageFromOpenAI(this.rawUsage);
  }

  push(chunk: OpenAIChatCompletionChunk): AnthropicStreamEvent[] {
    if (this.ended) return [];
    const out: AnthropicStreamEvent[] = [];
    if (!this.id && typeof chunk.id === 'string' && chunk.id !== '') this.id = messageIdFromChatId(chunk.id);
    this.start(out);
    if (chunk.usage) this.rawUsage = chunk.usage;
    const choice = (chunk.choices ?? []).find((c) => (c.index ?? 0) === 0);
    if (!choice) return out;
    const delta = choice.delta ?? {};

    const text = typeof delta.content === 'string' ? delta.content : '';
    const refusal = typeof delta.refusal === 'string' ? delta.refusal : '';
    if (refusal !== '' && text === '' && !this.sawContent) this.refusalOnly = true;
    if (text !== '') {
      this.sawContent = true;
      this.refusalOnly = false;
    }
    const piece = text + refusal;
    if (piece !== '') {
      if (this.open?.kind !== 'text') {
        this.closeOpen(out);
        const index = this.nextBlock++;
        this.open = { kind: 'text', index };
        out.push(ev('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      }
      out.push(ev('content_block_delta', { type: 'content_block_delta', index: this.open.index, delta: { type: 'text_delta', text: piece } }));
    }

    const calls: OpenAIToolCallDelta[] = [...(delta.tool_calls ?? [])];
    if (delta.function_call) calls.push({ index: 0, id: `toolu_${this.id ?? 'fn'}`, function: delta.function_call });
    for (const call of calls) {
      const toolIndex = typeof call.index === 'number' ? call.index : 0;
      let blockIndex = this.toolBlocks.get(toolIndex);
      if (blockIndex === undefined) {
        this.closeOpen(out);
        blockIndex = this.nextBlock++;
        this.toolBlocks.set(toolIndex, blockIndex);
        this.open = { kind: 'tool', index: blockIndex, toolIndex };
        out.push(
          ev('content_block_start', {
            type: 'content_block_start',
            index: blockIndex,
            content_block: { type: 'tool_use', id: call.id ?? `toolu_${toolIndex}`, name: call.function?.name ?? '', input: {} },
          }),
        );
      }
      const args = call.function?.arguments;
      if (typeof args === 'string' && args !== '') {
        out.push(ev('content_block_delta', { type: 'content_block_delta', index: blockIndex, delta: { type: 'input_json_delta', partial_json: args } }));
      }
    }

    if (choice.finish_reason) {
      this.stopReason = stopReasonFromFinishReason(choice.finish_reason);
      this.closeOpen(out);
    }
    return out;
  }

  /** The upstream stream ended: close what is open and finish the message. */
  end(): AnthropicStreamEvent[] {
    if (this.ended) return [];
    const out: AnthropicStreamEvent[] = [];
    this.start(out);
    this.closeOpen(out);
    this.ended = true;
    let stop = this.stopReason ?? 'end_turn';
    if (this.refusalOnly && stop === 'end_turn') stop = 'refusal';
    const u = anthropicUsage(this.usage());
    out.push(
      ev('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stop, stop_sequence: null },
        usage: {
          input_tokens: u.input_tokens,
          output_tokens: u.output_tokens,
          cache_creation_input_tokens: u.cache_creation_input_tokens,
          cache_read_input_tokens: u.cache_read_input_tokens,
        },
      }),
    );
    out.push(ev('message_stop', { type: 'message_stop' }));
    return out;
  }

  private start(out: AnthropicStreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    if (!this.id) this.id = `msg_${Date.now().toString(36)}`;
    out.push(
      ev('message_start', {
        type: 'message_start',
        message: {
          id: this.id,
          type: 'message',
          role: 'assistant',
          model: this.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          // OpenAI reports usage only at the end; message_delta carries the totals.
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      }),
    );
  }

  private closeOpen(out: AnthropicStreamEvent[]): void {
    if (!this.open) return;
    out.push(ev('content_block_stop', { type: 'content_block_stop', index: this.open.index }));
    this.open = null;
  }
}

const ev = (event: string, data: Record<string, unknown>): AnthropicStreamEvent => ({ event, data });

// ---------------------------------------------------------------------------
// 5. Server-sent events
// ---------------------------------------------------------------------------

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/**
 * Incremental parser for a `text/event-stream` body (WHATWG HTML §9.2.6):
 * lines end in LF, CR or CRLF (also when the CR and LF arrive in different
 * chunks); `data:` lines join with `\n`; lines starting with `:` are comments;
 * a blank line dispatches an event that has data. Byte chunks are decoded as
 * UTF-8 across chunk boundaries.
 */
export class SseParser {
  private buffer = '';
  private sawCR = false;
  private bomChecked = false;
  private decoder: TextDecoder | null = null;
  private dataLines: string[] = [];
  private eventName: string | undefined;
  private lastId: string | undefined;

  push(chunk: string | Uint8Array): SseEvent[] {
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else {
      this.decoder ??= new TextDecoder('utf-8');
      text = this.decoder.decode(chunk, { stream: true });
    }
    if (!this.bomChecked && text.length > 0) {
      this.bomChecked = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 10 /* \n */) {
        if (this.sawCR) {
          // Second half of a CRLF whose CR ended the line already.
          this.sawCR = false;
          start = i + 1;
          continue;
        }
        this.line(this.buffer + text.slice(start, i), out);
        this.buffer = '';
        start = i + 1;
      } else if (ch === 13 /* \r */) {
        this.line(this.buffer + text.slice(start, i), out);
        this.buffer = '';
        start = i + 1;
        this.sawCR = true;
      } else {
        this.sawCR = false;
      }
    }
    this.buffer += text.slice(start);
    return out;
  }

  /** End of stream: a last event that lacked its blank line is dispatched too. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.decoder) {
      const rest = this.decoder.decode();
      if (rest) out.push(...this.push(rest));
    }
    if (this.buffer !== '') {
      this.line(this.buffer, out);
      this.buffer = '';
    }
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.dataLines.length > 0) {
        const e: SseEvent = { data: this.dataLines.join('\n') };
        if (this.eventName !== undefined) e.event = this.eventName;
        if (this.lastId !== undefined) e.id = this.lastId;
        out.push(e);
      }
      this.dataLines = [];
      this.eventName = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return; // comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        // `retry` and unknown fields are ignored.
        break;
    }
  }
}

/** Serialize one event for a `text/event-stream` body. Objects are sent as JSON. */
export function sseFormat(e: { event?: string; data: string | object }): string {
  const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
  let out = '';
  if (e.event !== undefined) {
    if (/[\r\n]/.test(e.event)) throw new TypeError('SSE event names cannot contain line breaks');
    out += `event: ${e.event}\n`;
  }
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return out + '\n';
}
