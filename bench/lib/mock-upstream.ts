// A fast OpenAI-compatible upstream for benchmarks: `POST /v1/chat/completions` answers a fixed small
// completion (with usage), or with `"stream": true` a few `chat.completion.chunk` SSE events, a usage
// chunk when `stream_options.include_usage` is set, then `data: [DONE]`. Every answer is a
// precomputed buffer; loopback only, keep-alive. Anything else answers 404.
//
// In-process: `const m = await startMockUpstream()`; as its own process (what bench/gateway.ts does,
// so the mock does not share an event loop with the load generator):
//   node --import tsx bench/lib/mock-upstream.ts      → prints `{"port":N}` on stdout, runs until killed
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CREATED = 1_700_000_000;
const ID = 'chatcmpl-mock0000000000000000000000';
const USAGE = { prompt_tokens: 8, completion_tokens: 9, total_tokens: 17 };

function completionBody(model: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      id: ID,
      object: 'chat.completion',
      created: CREATED,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: USAGE,
      system_fingerprint: 'fp_mock',
    }),
  );
}

// as OpenAI: with include_usage every chunk carries `usage` (null but the last); without, none does
const chunk = (model: string, choices: unknown[], usage?: unknown) =>
  `data: ${JSON.stringify({ id: ID, object: 'chat.completion.chunk', created: CREATED, model, system_fingerprint: 'fp_mock', choices, ...(usage !== undefined ? { usage } : {}) })}\n\n`;

/** The SSE events of one streamed answer, each its own buffer (written one by one, corked). */
function streamEvents(model: string, includeUsage: boolean): Buffer[] {
  const u = includeUsage ? null : undefined;
  const parts = [
    chunk(model, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], u),
    ...['Hello', '! How can I', ' help you today?'].map((t) => chunk(model, [{ index: 0, delta: { content: t }, logprobs: null, finish_reason: null }], u)),
    chunk(model, [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], u),
  ];
  if (includeUsage) parts.push(chunk(model, [], USAGE));
  parts.push('data: [DONE]\n\n');
  return parts.map((p) => Buffer.from(p));
}

interface Answers {
  json: Buffer;
  streamNoUsage: Buffer[];
  streamUsage: Buffer[];
}

const JSON_HEADERS = (len: number) => ['content-type', 'application/json', 'content-length', String(len), 'openai-processing-ms', '1', 'x-request-id', 'req_mock'];
const SSE_HEADERS = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache', 'openai-processing-ms', '1', 'x-request-id', 'req_mock'];
const NOT_FOUND = Buffer.from(JSON.stringify({ error: { message: 'mock upstream: not found', type: 'invalid_request_error', param: null, code: 'not_found' } }));
const BAD_JSON = Buffer.from(JSON.stringify({ error: { message: 'mock upstream: body is not JSON', type: 'invalid_request_error', param: null, code: null } }));

export interface MockUpstream {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `http://127.0.0.1:PORT/v1`: what a credential's base_url is set to. */
  baseUrl: string;
  port: number;
  /** Requests answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startMockUpstream(opts: { port?: number } = {}): Promise<MockUpstream> {
  const cache = new Map<string, Answers>();
  const answersFor = (model: string): Answers => {
    let a = cache.get(model);
    if (!a) {
      a = { json: completionBody(model), streamNoUsage: streamEvents(model, false), streamUsage: streamEvents(model, true) };
      if (cache.size < 64) cache.set(model, a); // a bounded cache: models are few
    }
    return a;
  };
  const jsonHeaders = new Map<number, string[]>();
  let requests = 0;

  const server = http.createServer({ keepAlive: true, noDelay: true }, (req, res) => {
    if (req.method !== 'POST' || (req.url !== '/v1/chat/completions' && req.url !== '/chat/completions')) {
      res.writeHead(404, JSON_HEADERS(NOT_FOUND.length)).end(NOT_FOUND);
      req.resume();
      return;
    }
    const bufs: Buffer[] = [];
    req.on('data', (b: Buffer) => bufs.push(b));
    req.on('end', () => {
      requests++;
      let body: { model?: unknown; stream?: unknown; stream_options?: { include_usage?: unknown } };
      try {
        body = JSON.parse(bufs.length === 1 ? bufs[0]!.toString('utf8') : Buffer.concat(bufs).toString('utf8'));
      } catch {
        res.writeHead(400, JSON_HEADERS(BAD_JSON.length)).end(BAD_JSON);
        return;
      }
      const a = answersFor(typeof body.model === 'string' ? body.model : 'gpt-4o-mini');
      if (body.stream === true) {
        res.writeHead(200, SSE_HEADERS);
        const events = body.stream_options?.include_usage === true ? a.streamUsage : a.streamNoUsage;
        res.cork();
        for (const e of events) res.write(e);
        res.end();
        return;
      }
      let h = jsonHeaders.get(a.json.length);
      if (!h) jsonHeaders.set(a.json.length, (h = JSON_HEADERS(a.json.length)));
      res.writeHead(200, h).end(a.json);
    });
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Run as a process: print the port, serve until SIGTERM/SIGINT or the parent goes away.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const m = await startMockUpstream({ port: Number(process.env.MOCK_PORT ?? 0) });
  process.stdout.write(JSON.stringify({ port: m.port }) + '\n');
  const stop = () => void m.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}
