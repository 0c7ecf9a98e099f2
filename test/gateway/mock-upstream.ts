// A fake OpenAI-compatible provider on loopback (a real HTTP server) for the gateway tests: chat
// completions (plain and streamed, with or without usage), completions, embeddings and responses;
// slow, failing or dropping answers on demand (the model name picks the behaviour). It records every
// request it received, so tests can check what reached the upstream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: string;
}

export interface MockUpstream {
  url: string;
  received: Received[];
  /** Requests the mock saw aborted by the caller before it finished answering. */
  aborted: number;
  close(): Promise<void>;
}

/** Usage the mock reports for every answer. */
export const MOCK_USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 3 } };

export const completion = (model: string) => ({
  id: 'chatcmpl-mock1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model,
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello from the mock.' }, finish_reason: 'stop', logprobs: null }],
  usage: MOCK_USAGE,
  // a `tiered` model reports the service tier it ran on, as OpenAI does
  ...(model.includes('tiered') ? { service_tier: 'flex' } : {}),
});

/** The SSE text the mock streams for a chat completion (and what a client should receive, usage chunk aside). */
export function streamEvents(model: string, withUsage: boolean, usage: object = MOCK_USAGE): string[] {
  // as OpenAI streams: with include_usage every chunk carries `"usage":null`, then a last chunk has it
  const chunk = (delta: object, finish: string | null) => ({ id: 'chatcmpl-mock2', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) });
  const events = [chunk({ role: 'assistant', content: '' }, null), chunk({ content: 'Hel' }, null), chunk({ content: 'lo' }, null), chunk({}, 'stop')].map((c) => `data: ${JSON.stringify(c)}\n\n`);
  if (withUsage) events.push(`data: ${JSON.stringify({ id: 'chatcmpl-mock2', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage })}\n\n`);
  events.push('data: [DONE]\n\n');
  return events;
}

export async function startMockUpstream(): Promise<MockUpstream> {
  const state = { received: [] as Received[], aborted: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        // a multipart form: its model field
        const m = /name="model"\r\n\r\n([^\r\n]*)/.exec(raw);
        body = m ? { model: m[1], multipart: true } : undefined;
      }
      state.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, raw });
      res.on('close', () => {
        if (!res.writableFinished) state.aborted++;
      });
      answer(req, res, body, raw);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get received() {
      return state.received;
    },
    get aborted() {
      return state.aborted;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as MockUpstream;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Calls seen per flaky model and user. */
const flaky = new Map<string, number>();

/**
 * What a `full-usage` model reports: the whole `max_tokens` as output and a quarter of the request's
 * bytes as input, at least what the gateway reserved for it (its estimate counts the client's body,
 * which the gateway may have grown by `stream_options`).
 */
export function fullUsage(raw: string, body: any) {
  const prompt = Math.ceil(Buffer.byteLength(raw) / 4);
  const completion = typeof body?.max_tokens === 'number' ? body.max_tokens : 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, body: any, raw: string): void {
  const model: string = body?.model ?? '';
  // an Azure OpenAI deployment answers chat completions under its own URL
  const azure = /^\/openai\/deployments\/[^/]+(\/chat\/completions)$/.exec((req.url ?? '').split('?')[0]!);
  const path = azure ? `/v1${azure[1]}` : (req.url ?? '').split('?')[0];
  if (path === '/v1/messages') return anthropic(req, res, body);
  if (req.headers.authorization !== 'Bearer sk-upstream-secret' && req.headers['api-key'] !== 'sk-upstream-secret') {
    return json(res, 401, { error: { message: 'Incorrect API key provided: sk-upst***.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  }
  if (model.includes('fail-400')) return json(res, 400, { error: { message: 'Upstream says no.', type: 'invalid_request_error', param: 'messages', code: 'bad_messages' } });
  if (model.includes('fail-html')) {
    res.writeHead(503, { 'content-type': 'text/html' });
    return void res.end('<html>upstream down at 10.0.0.7</html>');
  }
  // flaky: the first two calls of each `user` fail (503 with retry-after: 0, or a dropped connection)
  if (model.includes('flaky') || model.includes('reset')) {
    const who = `${model}|${body?.user ?? ''}`;
    const n = (flaky.get(who) ?? 0) + 1;
    flaky.set(who, n);
    if (n <= 2) {
      if (model.includes('reset')) return void req.socket.destroy();
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      return void res.end(JSON.stringify({ error: { message: `overloaded (call ${n})`, type: 'server_error', param: null, code: null } }));
    }
  }
  if (model.includes('slow')) {
    setTimeout(() => json(res, 200, completion(model)), 2_000).unref();
    return;
  }
  if (path === '/v1/chat/completions') {
    if (body?.stream) {
      const usage = body.stream_options?.include_usage === true && !model.includes('no-usage');
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = streamEvents(model, usage, model.includes('full-usage') ? fullUsage(raw, body) : MOCK_USAGE);
      if (model.includes('drop')) {
        res.write(events[0]);
        res.write(events[1]);
        setTimeout(() => res.destroy(), 50).unref();
        return;
      }
      if (model.includes('hang')) {
        // one event, then nothing: the client gives up
        res.write(events[0]);
        return;
      }
      let i = 0;
      const next = () => {
        if (i >= events.length) return void res.end();
        res.write(events[i++]);
        // a `long-stream` takes about half a second, so that many overlap
        setTimeout(next, model.includes('long-stream') ? 100 : 5).unref();
      };
      return next();
    }
    const c = completion(model);
    if (model.includes('no-usage')) delete (c as { usage?: unknown }).usage;
    return json(res, 200, c);
  }
  if (path === '/v1/embeddings') {
    return json(res, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }], model, usage: { prompt_tokens: 5, total_tokens: 5 } });
  }
  if (path === '/v1/responses') {
    const usage = { input_tokens: 13, output_tokens: 4, total_tokens: 17, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
    const response = { id: 'resp_mock', object: 'response', created_at: 1_700_000_000, status: 'completed', model, output: [{ type: 'message', id: 'msg_mock', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi!', annotations: [] }] }], usage };
    if (body?.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { ...response, status: 'in_progress', output: [], usage: null } })}\n\n`);
      res.write(`event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_mock', output_index: 0, content_index: 0, delta: 'Hi!' })}\n\n`);
      res.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 2, response })}\n\n`);
      return;
    }
    return json(res, 200, response);
  }
  if (path === '/v1/images/generations') {
    const n = typeof body?.n === 'number' ? body.n : 1;
    return json(res, 200, { created: 1_700_000_000, data: Array.from({ length: n }, () => ({ b64_json: 'aW1n' })), usage: { input_tokens: 8, output_tokens: 100, total_tokens: 108, input_tokens_details: { text_tokens: 8, image_tokens: 0 } } });
  }
  if (path === '/v1/audio/speech') {
    res.writeHead(200, { 'content-type': 'audio/mpeg' });
    return void res.end(Buffer.from([0xff, 0xfb, 0x90, 0x64, 1, 2, 3, 4]));
  }
  if (path === '/v1/audio/transcriptions') {
    // a multipart form: the mock checks it arrived whole and answers with what it read
    const ct = String(req.headers['content-type']);
    return json(res, 200, { text: `heard ${ct.startsWith('multipart/form-data; boundary=') ? 'a form' : 'no form'}`, usage: { type: 'tokens', input_tokens: 14, output_tokens: 3, total_tokens: 17 } });
  }
  if (path === '/v1/completions') {
    return json(res, 200, { id: 'cmpl-mock', object: 'text_completion', created: 1_700_000_000, model, choices: [{ text: 'ok', index: 0, logprobs: null, finish_reason: 'stop' }], usage: MOCK_USAGE });
  }
  json(res, 404, { error: { message: `mock: no ${path}`, type: 'invalid_request_error', param: null, code: null } });
}

/** Usage the fake Anthropic reports. */
export const ANTHROPIC_USAGE = { input_tokens: 9, output_tokens: 6, cache_read_input_tokens: 2, cache_creation_input_tokens: 0 };

/** What a `…-cache` model's stream reports at its end (newer API versions repeat the input counts in `message_delta`). */
export const ANTHROPIC_CACHE_USAGE = { input_tokens: 21, output_tokens: 12, cache_read_input_tokens: 1500, cache_creation_input_tokens: 300 };

/** The exact text of the fake Anthropic's plain answer (an unknown field included, as a newer API would send). */
export function anthropicMessageText(model: string): string {
  return JSON.stringify({ id: 'msg_mock1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'Bonjour.' }], stop_reason: 'end_turn', stop_sequence: null, usage: ANTHROPIC_USAGE, x_mock_extra: { kept: true } });
}

/**
 * The pieces the fake Anthropic writes for a stream, in order, a few milliseconds apart: events cut
 * in the middle, a ping whose JSON is not as JSON.stringify writes it (so any re-serialisation shows).
 */
export function anthropicStreamPieces(model: string): string[] {
  const ev = (event: string, data: object) => `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;
  const cache = model.includes('cache');
  const start = cache ? { input_tokens: 21, output_tokens: 1, cache_read_input_tokens: 1500, cache_creation_input_tokens: 300 } : { ...ANTHROPIC_USAGE, output_tokens: 1 };
  const end = cache ? ANTHROPIC_CACHE_USAGE : { output_tokens: ANTHROPIC_USAGE.output_tokens };
  const text = [
    ev('message_start', { message: { id: 'msg_mock2', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: start } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    'event: ping\ndata: {"type": "ping"}\n\n',
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Bon' } }),
    ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'jour' } }),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: end }),
    ev('message_stop', {}),
  ].join('');
  // cut at arbitrary places: inside an event name, inside JSON, between the two newlines of a boundary
  const cuts = [7, 95, 240, 241, text.indexOf('\n\nevent: message_delta') + 1, text.length - 5];
  const pieces: string[] = [];
  let at = 0;
  for (const c of cuts) {
    pieces.push(text.slice(at, c));
    at = c;
  }
  pieces.push(text.slice(at));
  return pieces;
}

/**
 * A fake Anthropic Messages API: `x-api-key` and `anthropic-version` required, plain and streamed
 * answers; the model name picks a failure (`fail-400`, `fail-429`, `fail-529`, `fail-html`), a slow
 * answer (`slow`), a stream that stops after its first event (`hang`), cache counts (`cache`).
 */
function anthropic(req: http.IncomingMessage, res: http.ServerResponse, body: any): void {
  if (req.headers['x-api-key'] !== 'sk-upstream-secret' || !req.headers['anthropic-version']) {
    return json(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
  }
  if (typeof body?.max_tokens !== 'number') return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  const model: string = body.model;
  if (model.includes('fail-400')) return json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'messages: Upstream says no.' }, request_id: 'req_mock400' });
  if (model.includes('fail-429')) {
    const text = JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit.' } });
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'anthropic-organization-id': 'org-upstream-secret' });
    return void res.end(text);
  }
  if (model.includes('fail-529')) return json(res, 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  if (model.includes('fail-html')) {
    res.writeHead(502, { 'content-type': 'text/html' });
    return void res.end('<html>bad gateway at 10.0.0.7</html>');
  }
  if (model.includes('slow')) {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(anthropicMessageText(model));
    }, 2_000).unref();
    return;
  }
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'anthropic-organization-id': 'org-upstream-secret' });
    return void res.end(anthropicMessageText(model));
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const pieces = anthropicStreamPieces(model);
  if (model.includes('hang')) {
    res.write(pieces[0]! + pieces[1]!);
    return;
  }
  let i = 0;
  const next = () => {
    if (i >= pieces.length) return void res.end();
    res.write(pieces[i++]);
    setTimeout(next, 3).unref();
  };
  next();
}
