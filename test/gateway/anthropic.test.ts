// The OpenAI Chat Completions ⇄ Anthropic Messages translation: requests, responses, both
// stream directions, the SSE parser, and the official SDKs reading what the translation emits.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  AnthropicToChatStream,
  ChatToAnthropicStream,
  SseParser,
  TranslationError,
  UpstreamStreamError,
  anthropicToChatRequest,
  anthropicToChatResponse,
  chatToAnthropicRequest,
  chatToAnthropicResponse,
  sseFormat,
  type AnthropicMessage,
  type AnthropicRequest,
  type OpenAIChatCompletion,
  type OpenAIChatCompletionChunk,
  type OpenAIChatRequest,
} from '../../src/gateway/providers/anthropic.ts';
import { AnthropicStreamUsage, anthropicTokens } from '../../src/gateway/anthropic-upstream.ts';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678); // created = 1735787045
const CREATED = 1735787045;
const PNG_B64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a place',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
    strict: true,
  },
};

// ---------------------------------------------------------------------------
// 1. OpenAI request → Anthropic request
// ---------------------------------------------------------------------------

describe('chatToAnthropicRequest', () => {
  test('text, system and developer messages, sampling fields, user, unknown fields dropped', () => {
    const body: OpenAIChatRequest = {
      model: 'claude-latest',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Bonjour' },
        { role: 'user', content: [{ type: 'text', text: 'How ' }, { type: 'text', text: 'are you?' }] },
      ],
      temperature: 1.7,
      top_p: 0.9,
      stop: 'END',
      user: 'user-42',
      stream: false,
      logprobs: true,
      response_format: { type: 'text' },
      seed: 7,
    };
    assert.deepEqual(chatToAnthropicRequest(body, 'claude-sonnet-4-5'), {
      model: 'claude-sonnet-4-5',
      system: [
        { type: 'text', text: 'You are terse.' },
        { type: 'text', text: 'Answer in French.' },
      ],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Bonjour' }] },
        { role: 'user', content: [{ type: 'text', text: 'How ' }, { type: 'text', text: 'are you?' }] },
      ],
      max_tokens: 4096,
      temperature: 1, // clamped to Anthropic's range
      top_p: 0.9,
      stop_sequences: ['END'],
      metadata: { user_id: 'user-42' },
    });
  });

  test('one system message is a string; max_completion_tokens wins over max_tokens; default is configurable; stream', () => {
    const base: OpenAIChatRequest = { model: 'm', messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'U' }] };
    const a = chatToAnthropicRequest({ ...base, max_tokens: 100, max_completion_tokens: 200, stream: true, stop: ['a', 'b'] }, 'up');
    assert.equal(a.system, 'S');
    assert.equal(a.max_tokens, 200);
    assert.equal(a.stream, true);
    assert.deepEqual(a.stop_sequences, ['a', 'b']);
    assert.equal(chatToAnthropicRequest({ ...base, max_tokens: 100 }, 'up').max_tokens, 100);
    assert.equal(chatToAnthropicRequest(base, 'up', { defaultMaxTokens: 1024 }).max_tokens, 1024);
    assert.equal(chatToAnthropicRequest(base, 'up').stream, undefined);
  });

  test('image parts: data URLs become base64 sources, http URLs become url sources', () => {
    const out = chatToAnthropicRequest(
      {
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in these?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}`, detail: 'high' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
              { type: 'image_url', image_url: { url: `data:image/jpg;base64,${PNG_B64}` } },
            ],
          },
        ],
      },
      'up',
    );
    assert.deepEqual(out.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: PNG_B64 } },
        ],
      },
    ]);
  });

  test('unsupported images and parts are refused with a TranslationError naming the field', () => {
    const bad = (part: any) => () =>
      chatToAnthropicRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, part] }] }, 'up');
    assert.throws(bad({ type: 'image_url', image_url: { url: 'data:image/bmp;base64,AAAA' } }), (e: any) => {
      assert.ok(e instanceof TranslationError);
      assert.equal(e.status, 400);
      assert.equal(e.param, 'messages[0].content[1].image_url');
      return true;
    });
    assert.throws(bad({ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }), TranslationError);
    assert.throws(bad({ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }), TranslationError);
    assert.throws(() => chatToAnthropicRequest({ model: 'm', n: 2, messages: [{ role: 'user', content: 'x' }] }, 'up'), TranslationError);
  });

  test('tools, tool_choice, parallel_tool_calls', () => {
    const base: OpenAIChatRequest = { model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool] };
    const out = chatToAnthropicRequest(base, 'up');
    assert.deepEqual(out.tools, [
      {
        name: 'get_weather',
        description: 'Current weather for a place',
        input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
      },
    ]);
    assert.equal(out.tool_choice, undefined);
    const choice = (tool_choice: any, extra: Partial<OpenAIChatRequest> = {}) =>
      chatToAnthropicRequest({ ...base, tool_choice, ...extra }, 'up').tool_choice;
    assert.deepEqual(choice('auto'), { type: 'auto' });
    assert.deepEqual(choice('required'), { type: 'any' });
    assert.deepEqual(choice('none'), { type: 'none' });
    assert.deepEqual(choice({ type: 'function', function: { name: 'get_weather' } }), { type: 'tool', name: 'get_weather' });
    assert.deepEqual(choice('required', { parallel_tool_calls: false }), { type: 'any', disable_parallel_tool_use: true });
    assert.deepEqual(choice(undefined, { parallel_tool_calls: false }), { type: 'auto', disable_parallel_tool_use: true });
    // A function without parameters still gets an object schema.
    const bare = chatToAnthropicRequest({ ...base, tools: [{ type: 'function', function: { name: 'now' } }] }, 'up');
    assert.deepEqual(bare.tools, [{ name: 'now', input_schema: { type: 'object', properties: {} } }]);
    // tool_choice without tools is dropped (Anthropic refuses it).
    assert.equal(chatToAnthropicRequest({ model: 'm', messages: base.messages, tool_choice: 'auto' }, 'up').tool_choice, undefined);
    // Non-function tools cannot be expressed.
    assert.throws(() => chatToAnthropicRequest({ ...base, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'up'), TranslationError);
  });

  test('deprecated functions / function_call / function messages', () => {
    const out = chatToAnthropicRequest(
      {
        model: 'm',
        functions: [{ name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
        function_call: { name: 'lookup' },
        messages: [
          { role: 'user', content: 'find x' },
          { role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '{"q":"x"}' } },
          { role: 'function', name: 'lookup', content: 'x is 1' },
        ],
      },
      'up',
    );
    assert.deepEqual(out.tool_choice, { type: 'tool', name: 'lookup' });
    assert.deepEqual(out.messages, [
      { role: 'user', content: [{ type: 'text', text: 'find x' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_legacy_1', name: 'lookup', input: { q: 'x' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_legacy_1', content: 'x is 1' }] },
    ]);
  });

  test('assistant tool_calls → tool_use; consecutive tool messages (and a following user turn) merge into one user message', () => {
    const out = chatToAnthropicRequest(
      {
        model: 'm',
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Checking both.',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
              { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '24°C' }] },
          { role: 'user', content: 'And tomorrow?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
        ],
      },
      'up',
    );
    assert.deepEqual(out.messages, [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking both.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { location: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { location: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18°C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '24°C' },
          { type: 'text', text: 'And tomorrow?' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_3', name: 'get_weather', input: {} }] },
    ]);
    assert.throws(
      () =>
        chatToAnthropicRequest(
          { model: 'm', messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }] }] },
          'up',
        ),
      (e: any) => e instanceof TranslationError && e.param === 'messages[0].tool_calls[0].function.arguments',
    );
  });
});

// ---------------------------------------------------------------------------
// 2. Anthropic response → OpenAI completion
// ---------------------------------------------------------------------------

const anthropicMessage = (over: Partial<AnthropicMessage> = {}): AnthropicMessage => ({
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hello!' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 6 },
  ...over,
});

describe('anthropicToChatResponse', () => {
  test('text, id, created, model, usage', () => {
    assert.deepEqual(anthropicToChatResponse(anthropicMessage(), 'claude-latest', NOW), {
      id: 'chatcmpl-01XFDUDYJgAACzvnptvVoYEL',
      object: 'chat.completion',
      created: CREATED,
      model: 'claude-latest',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!', refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  test('tool_use → tool_calls, thinking dropped, cache tokens counted in prompt_tokens', () => {
    const out = anthropicToChatResponse(
      anthropicMessage({
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'San Francisco, CA' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 50, cache_read_input_tokens: 2000, cache_creation_input_tokens: 300, output_tokens: 40 },
      }),
      'claude-latest',
      NOW,
    );
    assert.deepEqual(out.choices[0], {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Let me check.',
        refusal: null,
        tool_calls: [
          { id: 'toolu_01A09q90qw90lq917835lq9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA"}' } },
        ],
      },
      finish_reason: 'tool_calls',
      logprobs: null,
    });
    assert.deepEqual(out.usage, { prompt_tokens: 2350, completion_tokens: 40, total_tokens: 2390, prompt_tokens_details: { cached_tokens: 2000 } });
  });

  test('only tool calls → content null; stop reasons', () => {
    const tools = anthropicToChatResponse(
      anthropicMessage({ content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }], stop_reason: 'tool_use' }),
      'x',
      NOW,
    );
    assert.equal(tools.choices[0]!.message.content, null);
    const reason = (stop_reason: any) => anthropicToChatResponse(anthropicMessage({ stop_reason }), 'x', NOW).choices[0]!.finish_reason;
    assert.equal(reason('end_turn'), 'stop');
    assert.equal(reason('stop_sequence'), 'stop');
    assert.equal(reason('max_tokens'), 'length');
    assert.equal(reason('model_context_window_exceeded'), 'length');
    assert.equal(reason('tool_use'), 'tool_calls');
    assert.equal(reason('refusal'), 'content_filter');
    assert.equal(reason('pause_turn'), 'stop');
  });
});

// ---------------------------------------------------------------------------
// 3. Anthropic stream → OpenAI chunks
// ---------------------------------------------------------------------------

/** A stream as the Messages API sends it for a text answer followed by a tool call (written from the docs). */
const RECORDED_ANTHROPIC_STREAM = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,"output_tokens":2},"content":[],"stop_reason":null}}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  '',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let me check"}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the weather."}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":0}',
  '',
  'event: content_block_start',
  'data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \\"San Francisco, CA\\""}}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":", \\"unit\\": \\"fahrenheit\\"}"}}',
  '',
  'event: content_block_stop',
  'data: {"type":"content_block_stop","index":1}',
  '',
  'event: message_delta',
  'data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');

const chunk = (delta: any, finish_reason: any = null, usage = true): OpenAIChatCompletionChunk => ({
  id: 'chatcmpl-014p7gG3wDgGV9EUtLvnow3U',
  object: 'chat.completion.chunk',
  created: CREATED,
  model: 'claude-latest',
  choices: [{ index: 0, delta, finish_reason }],
  ...(usage ? { usage: null } : {}),
});

function translateRecorded(includeUsage: boolean, pieces = 1): { chunks: OpenAIChatCompletionChunk[]; stream: AnthropicToChatStream } {
  const parser = new SseParser();
  const stream = new AnthropicToChatStream({ requestedModel: 'claude-latest', includeUsage, now: NOW });
  const chunks: OpenAIChatCompletionChunk[] = [];
  const size = Math.ceil(RECORDED_ANTHROPIC_STREAM.length / pieces);
  for (let i = 0; i < RECORDED_ANTHROPIC_STREAM.length; i += size) {
    for (const e of parser.push(RECORDED_ANTHROPIC_STREAM.slice(i, i + size))) chunks.push(...stream.push(e));
  }
  for (const e of parser.end()) chunks.push(...stream.push(e));
  return { chunks, stream };
}

describe('AnthropicToChatStream', () => {
  test('a recorded text + tool_use stream becomes the exact OpenAI chunks, with the usage chunk last', () => {
    const { chunks, stream } = translateRecorded(true);
    assert.deepEqual(chunks, [
      chunk({ role: 'assistant', content: '' }),
      chunk({ content: 'Okay, let me check' }),
      chunk({ content: ' the weather.' }),
      chunk({ tool_calls: [{ index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"location":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ' "San Francisco, CA"' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: ', "unit": "fahrenheit"}' } }] }),
      chunk({}, 'tool_calls'),
      {
        id: 'chatcmpl-014p7gG3wDgGV9EUtLvnow3U',
        object: 'chat.completion.chunk',
        created: CREATED,
        model: 'claude-latest',
        choices: [],
        usage: { prompt_tokens: 2572, completion_tokens: 89, total_tokens: 2661, prompt_tokens_details: { cached_tokens: 2000 } },
      },
    ]);
    assert.equal(stream.done, true);
    assert.deepEqual(stream.usage(), { inputTokens: 2572, cachedInputTokens: 2000, cacheCreationInputTokens: 100, outputTokens: 89 });
  });

  test('without include_usage: no usage fields and no usage chunk; byte-at-a-time input gives the same chunks', () => {
    const whole = translateRecorded(false).chunks;
    assert.equal(whole.length, 8);
    assert.ok(whole.every((c) => !('usage' in c)));
    assert.deepEqual(whole.at(-1), chunk({}, 'tool_calls', false));
    assert.deepEqual(translateRecorded(false, RECORDED_ANTHROPIC_STREAM.length).chunks, whole);
    assert.deepEqual(translateRecorded(false, 7).chunks, whole);
  });

  test('max_tokens → length; already-parsed data objects are accepted', () => {
    const s = new AnthropicToChatStream({ requestedModel: 'm', now: NOW });
    s.push({ event: 'message_start', data: { type: 'message_start', message: { id: 'msg_1', usage: { input_tokens: 3, output_tokens: 1 } } } });
    const out = s.push({ event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 5 } } });
    assert.equal(out.at(-1)!.choices[0]!.finish_reason, 'length');
    assert.deepEqual(s.push({ event: 'message_stop', data: '{"type":"message_stop"}' }), []);
    assert.deepEqual(s.usage(), { inputTokens: 3, cachedInputTokens: 0, cacheCreationInputTokens: 0, outputTokens: 5 });
  });

  test('an error event throws UpstreamStreamError with the upstream type and message; ping is ignored', () => {
    const s = new AnthropicToChatStream({ requestedModel: 'm', now: NOW });
    assert.deepEqual(s.push({ event: 'ping', data: '{"type": "ping"}' }), []);
    assert.throws(
      () => s.push({ event: 'error', data: '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}' }),
      (e: any) => {
        assert.ok(e instanceof UpstreamStreamError);
        assert.equal(e.errorType, 'overloaded_error');
        assert.equal(e.upstreamMessage, 'Overloaded');
        return true;
      },
    );
  });

  test('the OpenAI SDK assembles the translated stream into the expected message', async () => {
    const { chunks } = translateRecorded(true);
    const body = chunks.map((c) => sseFormat({ data: c })).join('') + sseFormat({ data: '[DONE]' });
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(body);
      },
      async (url) => {
        const client = new OpenAI({ apiKey: 'x', baseURL: `${url}/v1`, maxRetries: 0 });
        const stream = client.chat.completions.stream({ model: 'claude-latest', messages: [{ role: 'user', content: 'hi' }], stream_options: { include_usage: true } });
        const final = await stream.finalChatCompletion();
        assert.equal(final.choices[0]!.message.content, 'Okay, let me check the weather.');
        assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
        assert.deepEqual(JSON.parse(final.choices[0]!.message.tool_calls![0]!.type === 'function' ? final.choices[0]!.message.tool_calls![0]!.function.arguments : ''), {
          location: 'San Francisco, CA',
          unit: 'fahrenheit',
        });
        assert.equal(final.usage?.prompt_tokens, 2572);
        assert.equal(final.usage?.prompt_tokens_details?.cached_tokens, 2000);
      },
    );
  });
});

describe('AnthropicStreamUsage (the usage of a stream relayed untouched)', () => {
  const feed = (text: string, size: number) => {
    const u = new AnthropicStreamUsage();
    const bytes = new TextEncoder().encode(text);
    for (let i = 0; i < bytes.length; i += size) u.push(bytes.subarray(i, i + size));
    u.end();
    return u.tokens();
  };

  test('message_start input and cache counts, message_delta output; the same whatever the chunking', () => {
    const want = { inputTokens: 472 + 2000 + 100, cachedInputTokens: 2000, outputTokens: 89 };
    assert.deepEqual(feed(RECORDED_ANTHROPIC_STREAM, RECORDED_ANTHROPIC_STREAM.length), want);
    assert.deepEqual(feed(RECORDED_ANTHROPIC_STREAM, 1), want);
    assert.deepEqual(feed(RECORDED_ANTHROPIC_STREAM, 13), want);
  });

  test("message_delta's input counts replace message_start's; nulls and non-numbers change nothing; unnamed events are read", () => {
    const stream = [
      'data: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":1,"output_tokens":1}}}',
      '',
      'event: message_delta',
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"input_tokens":null,"cache_read_input_tokens":"7","cache_creation_input_tokens":3,"output_tokens":40}}',
      '',
      '',
    ].join('\r\n');
    assert.deepEqual(feed(stream, 5), { inputTokens: 10 + 5 + 3, cachedInputTokens: 5, outputTokens: 40 });
  });

  test('a stream without usage (cut before message_start, or an error event) reports none', () => {
    assert.equal(feed('event: ping\ndata: {"type": "ping"}\n\nevent: message_start\ndata: {"type":"message_st', 4), null);
    assert.equal(feed('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n', 8), null);
  });

  test('anthropicTokens: input counts cache reads and writes, cached is the reads; junk is zero', () => {
    assert.deepEqual(anthropicTokens({ input_tokens: 50, cache_read_input_tokens: 2000, cache_creation_input_tokens: 300, output_tokens: 40 }), { inputTokens: 2350, cachedInputTokens: 2000, outputTokens: 40 });
    assert.deepEqual(anthropicTokens({ input_tokens: '5', output_tokens: -1, cache_read_input_tokens: null }), { inputTokens: 0, cachedInputTokens: 0, outputTokens: 0 });
    assert.equal(anthropicTokens(undefined), null);
    assert.equal(anthropicTokens([1]), null);
  });
});

// ---------------------------------------------------------------------------
// 4. The reverse: Anthropic clients, OpenAI-compatible upstream
// ---------------------------------------------------------------------------

describe('anthropicToChatRequest', () => {
  test('system, text, images, tool_use, tool_result, tools, tool_choice, limits, metadata', () => {
    const body: AnthropicRequest = {
      model: 'gpt-proxy',
      max_tokens: 512,
      system: [
        { type: 'text', text: 'You are terse.' },
        { type: 'text', text: 'Answer in French.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather where this was taken?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_B64 } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/p.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Paris, probably', signature: 's' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { location: 'Lyon' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '20°C' }], is_error: false },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { location: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      temperature: 0.3,
      top_p: 0.8,
      top_k: 40,
      stop_sequences: ['###'],
      stream: true,
      metadata: { user_id: 'u-9' },
      thinking: { type: 'enabled', budget_tokens: 1000 },
    };
    assert.deepEqual(anthropicToChatRequest(body, 'gpt-4o-mini'), {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are terse.\n\nAnswer in French.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather where this was taken?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_B64}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/p.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
            { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Lyon"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_2', content: '20°C' },
        { role: 'user', content: 'Thanks' },
      ],
      max_tokens: 512,
      temperature: 0.3,
      top_p: 0.8,
      stop: ['###'],
      stream: true,
      stream_options: { include_usage: true },
      user: 'u-9',
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { location: { type: 'string' } } } } }],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    assert.equal(anthropicToChatRequest({ ...body, stream: false }, 'x', { maxTokensField: 'max_completion_tokens' }).max_completion_tokens, 512);
  });

  test('string content, tool_choice mapping, server tools refused', () => {
    const base: AnthropicRequest = { model: 'm', max_tokens: 10, system: 'S', messages: [{ role: 'user', content: 'Hi' }] };
    const out = anthropicToChatRequest(base, 'up');
    assert.deepEqual(out.messages, [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'Hi' },
    ]);
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const choice = (tool_choice: any) => anthropicToChatRequest({ ...base, tools, tool_choice }, 'up').tool_choice;
    assert.equal(choice({ type: 'auto' }), 'auto');
    assert.equal(choice({ type: 'none' }), 'none');
    assert.deepEqual(choice({ type: 'tool', name: 'f' }), { type: 'function', function: { name: 'f' } });
    assert.throws(() => anthropicToChatRequest({ ...base, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 'up'), TranslationError);
    assert.throws(
      () => anthropicToChatRequest({ ...base, messages: [{ role: 'user', content: [{ type: 'document', source: {} }] }] }, 'up'),
      TranslationError,
    );
  });
});

const openaiCompletion = (over: Partial<OpenAIChatCompletion['choices'][number]> = {}, usage?: any): OpenAIChatCompletion => ({
  id: 'chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT',
  object: 'chat.completion',
  created: 1741569952,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there.', refusal: null }, finish_reason: 'stop', logprobs: null, ...over }],
  usage: usage ?? { prompt_tokens: 1200, completion_tokens: 30, total_tokens: 1230, prompt_tokens_details: { cached_tokens: 1024 } },
});

describe('chatToAnthropicResponse', () => {
  test('text, id, usage with cached tokens', () => {
    assert.deepEqual(chatToAnthropicResponse(openaiCompletion(), 'gpt-proxy'), {
      id: 'msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT',
      type: 'message',
      role: 'assistant',
      model: 'gpt-proxy',
      content: [{ type: 'text', text: 'Hello there.' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 176, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 1024 },
    });
  });

  test('tool_calls → tool_use, finish reasons', () => {
    const out = chatToAnthropicResponse(
      openaiCompletion({
        message: {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [{ id: 'call_9', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
        },
        finish_reason: 'tool_calls',
      }),
      'gpt-proxy',
    );
    assert.deepEqual(out.content, [{ type: 'tool_use', id: 'call_9', name: 'get_weather', input: { location: 'Paris' } }]);
    assert.equal(out.stop_reason, 'tool_use');
    const stop = (finish_reason: any) => chatToAnthropicResponse(openaiCompletion({ finish_reason }), 'x').stop_reason;
    assert.equal(stop('stop'), 'end_turn');
    assert.equal(stop('length'), 'max_tokens');
    assert.equal(stop('content_filter'), 'refusal');
    const refusal = chatToAnthropicResponse(openaiCompletion({ message: { role: 'assistant', content: null, refusal: 'I cannot help.' } }), 'x');
    assert.deepEqual([refusal.content, refusal.stop_reason], [[{ type: 'text', text: 'I cannot help.' }], 'refusal']);
  });
});

/** A realistic OpenAI stream: role chunk, text, one tool call in pieces, finish, usage chunk. */
function openaiChunks(): OpenAIChatCompletionChunk[] {
  const c = (delta: any, finish_reason: any = null): OpenAIChatCompletionChunk => ({
    id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
    object: 'chat.completion.chunk',
    created: 1741570283,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, delta, finish_reason, logprobs: null }],
    usage: null,
  });
  return [
    c({ role: 'assistant', content: '', refusal: null }),
    c({ content: 'Hello' }),
    c({ content: ' there.' }),
    c({ tool_calls: [{ index: 0, id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
    c({ tool_calls: [{ index: 0, function: { arguments: '{"location"' } }] }),
    c({ tool_calls: [{ index: 0, function: { arguments: ':"Paris"}' } }] }),
    c({}, 'tool_calls'),
    {
      id: 'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
      object: 'chat.completion.chunk',
      created: 1741570283,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [],
      usage: { prompt_tokens: 1200, completion_tokens: 30, total_tokens: 1230, prompt_tokens_details: { cached_tokens: 1024 } },
    },
  ];
}

function translateOpenAIStream(chunks = openaiChunks()) {
  const s = new ChatToAnthropicStream({ requestedModel: 'gpt-proxy' });
  const events = chunks.flatMap((c) => s.push(c));
  events.push(...s.end());
  return { events, stream: s };
}

describe('ChatToAnthropicStream', () => {
  test('OpenAI chunks become the exact Anthropic event sequence', () => {
    const { events, stream } = translateOpenAIStream();
    assert.deepEqual(events, [
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG',
            type: 'message',
            role: 'assistant',
            model: 'gpt-proxy',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens: 0, output_tokens: 0 },
          },
        },
      },
      { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there.' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
      {
        event: 'content_block_start',
        data: { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_abc', name: 'get_weather', input: {} } },
      },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"location"' } } },
      { event: 'content_block_delta', data: { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: ':"Paris"}' } } },
      { event: 'content_block_stop', data: { type: 'content_block_stop', index: 1 } },
      {
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { input_tokens: 176, output_tokens: 30, cache_creation_input_tokens: 0, cache_read_input_tokens: 1024 },
        },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
    assert.equal(stream.done, true);
    assert.deepEqual(stream.usage(), { inputTokens: 1200, cachedInputTokens: 1024, cacheCreationInputTokens: 0, outputTokens: 30 });
    assert.deepEqual(stream.end(), []);
  });

  test('an empty upstream stream still yields a well-formed message', () => {
    const s = new ChatToAnthropicStream({ requestedModel: 'm', messageId: 'msg_x' });
    assert.deepEqual(
      s.end().map((e) => e.event),
      ['message_start', 'message_delta', 'message_stop'],
    );
  });

  test('finish_reason length → max_tokens; a usage-only chunk with choices: null is read', () => {
    const { events } = translateOpenAIStream([
      { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: 'length' }] },
      { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'x', choices: null as any, usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } },
    ]);
    const delta = events.find((e) => e.event === 'message_delta')!.data as any;
    assert.equal(delta.delta.stop_reason, 'max_tokens');
    assert.deepEqual(delta.usage, { input_tokens: 5, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });
});

// ---------------------------------------------------------------------------
// The Anthropic SDK reads what the reverse translation emits
// ---------------------------------------------------------------------------

async function withServer(handler: http.RequestListener, fn: (url: string) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    await fn(`http://127.0.0.1:${port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Answers POST /v1/messages the way the gateway would for an OpenAI-compatible upstream. */
function fakeGateway(seen: any[]): http.RequestListener {
  return (req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as AnthropicRequest;
      seen.push({ method: req.method, url: req.url, body });
      if (req.method !== 'POST' || req.url !== '/v1/messages') {
        res.writeHead(404).end();
        return;
      }
      // The upstream request is what the gateway would send (checked loosely here).
      const upstream = anthropicToChatRequest(body, 'gpt-4o-mini');
      assert.equal(upstream.messages.at(-1)!.role, 'user');
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const s = new ChatToAnthropicStream({ requestedModel: body.model });
        for (const c of openaiChunks()) for (const e of s.push(c)) res.write(sseFormat(e));
        for (const e of s.end()) res.write(sseFormat(e));
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(chatToAnthropicResponse(openaiCompletion(), body.model)));
      }
    });
  };
}

describe('@anthropic-ai/sdk against the translated output', () => {
  test('messages.stream(): final message text, tool input and usage', async () => {
    const seen: any[] = [];
    await withServer(fakeGateway(seen), async (url) => {
      const client = new Anthropic({ apiKey: 'x', baseURL: url, maxRetries: 0 });
      const stream = client.messages.stream({ model: 'gpt-proxy', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
      let text = '';
      stream.on('text', (t) => (text += t));
      const final = await stream.finalMessage();
      assert.equal(text, 'Hello there.');
      assert.equal(final.id, 'msg_B9MHDbslfkBeAs8l4bebGdFOJ6PeG');
      assert.equal(final.model, 'gpt-proxy');
      assert.equal(final.stop_reason, 'tool_use');
      assert.equal(final.content.length, 2);
      const [t, tool] = final.content;
      assert.equal(t!.type === 'text' ? t.text : null, 'Hello there.');
      assert.ok(tool!.type === 'tool_use');
      assert.deepEqual([tool.id, tool.name, tool.input], ['call_abc', 'get_weather', { location: 'Paris' }]);
      assert.equal(final.usage.input_tokens, 176);
      assert.equal(final.usage.cache_read_input_tokens, 1024);
      assert.equal(final.usage.output_tokens, 30);
      assert.equal(seen[0].body.stream, true);
    });
  });

  test('messages.create({ stream: true }) yields the raw events in order', async () => {
    await withServer(fakeGateway([]), async (url) => {
      const client = new Anthropic({ apiKey: 'x', baseURL: url, maxRetries: 0 });
      const stream = await client.messages.create({ model: 'gpt-proxy', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Hi' }] });
      const types: string[] = [];
      let text = '';
      let outputTokens = -1;
      for await (const e of stream) {
        types.push(e.type);
        if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
        if (e.type === 'message_delta') outputTokens = e.usage.output_tokens;
      }
      assert.equal(text, 'Hello there.');
      assert.equal(outputTokens, 30);
      assert.deepEqual(types, [
        'message_start',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'content_block_start',
        'content_block_delta',
        'content_block_delta',
        'content_block_stop',
        'message_delta',
        'message_stop',
      ]);
    });
  });

  test('messages.create() non-streaming reads chatToAnthropicResponse output', async () => {
    await withServer(fakeGateway([]), async (url) => {
      const client = new Anthropic({ apiKey: 'x', baseURL: url, maxRetries: 0 });
      const msg = await client.messages.create({ model: 'gpt-proxy', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] });
      assert.equal(msg.content[0]!.type === 'text' ? msg.content[0]!.text : null, 'Hello there.');
      assert.equal(msg.stop_reason, 'end_turn');
      assert.deepEqual([msg.usage.input_tokens, msg.usage.cache_read_input_tokens, msg.usage.output_tokens], [176, 1024, 30]);
    });
  });
});

// ---------------------------------------------------------------------------
// 5. SSE parsing and formatting
// ---------------------------------------------------------------------------

describe('SseParser', () => {
  test('an event split in the middle of a line, and in the middle of "data:"', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: message_st'), []);
    assert.deepEqual(p.push('art\nda'), []);
    assert.deepEqual(p.push('ta: {"a":'), []);
    assert.deepEqual(p.push('1}\n'), []);
    assert.deepEqual(p.push('\n'), [{ event: 'message_start', data: '{"a":1}' }]);
  });

  test('CRLF and lone CR line endings, including a CRLF split across chunks', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: a\r\ndata: 1\r\n\r\nevent: b\r'), [{ event: 'a', data: '1' }]);
    assert.deepEqual(p.push('\ndata: 2\r'), []);
    assert.deepEqual(p.push('\n\r'), [{ event: 'b', data: '2' }]);
    assert.deepEqual(p.push('\ndata: 3\r\r'), [{ data: '3' }]);
  });

  test('multiple data lines join with \\n; comments, retry and unknown fields are ignored; id is kept', () => {
    const p = new SseParser();
    assert.deepEqual(p.push(': keep-alive\n\n: another comment\nretry: 3000\nfoo: bar\nid: 7\ndata: line one\ndata:line two\ndata\n\n'), [
      { data: 'line one\nline two\n', id: '7' },
    ]);
  });

  test('an event name without data is not dispatched; the name does not leak into the next event', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: ping\n\ndata: x\n\n'), [{ data: 'x' }]);
  });

  test('OpenAI style: unnamed events and [DONE]; a BOM is stripped; bytes split inside a UTF-8 character', () => {
    const p = new SseParser();
    const bytes = new TextEncoder().encode('\uFEFFdata: {"t":"héllo"}\n\ndata: [DONE]\n\n');
    const split = bytes.indexOf(0xc3) + 1; // between the two bytes of "é"
    const events = [...p.push(bytes.slice(0, split)), ...p.push(bytes.slice(split))];
    assert.deepEqual(events, [{ data: '{"t":"héllo"}' }, { data: '[DONE]' }]);
  });

  test('end() dispatches a last event that lacks its blank line', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: message_stop\ndata: {}'), []);
    assert.deepEqual(p.end(), [{ event: 'message_stop', data: '{}' }]);
  });

  test('sseFormat round-trips through the parser, multi-line data included', () => {
    assert.equal(sseFormat({ event: 'ping', data: { type: 'ping' } }), 'event: ping\ndata: {"type":"ping"}\n\n');
    assert.equal(sseFormat({ data: 'a\nb' }), 'data: a\ndata: b\n\n');
    const p = new SseParser();
    const text = sseFormat({ event: 'x', data: 'one\r\ntwo' }) + sseFormat({ data: '[DONE]' });
    assert.deepEqual(p.push(text), [{ event: 'x', data: 'one\ntwo' }, { data: '[DONE]' }]);
  });
});
