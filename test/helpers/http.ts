// HTTP helpers for face tests: raw requests (to see exact statuses and bodies) and envelope checks.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { TestServer } from './server.ts';

export interface RawResponse {
  status: number;
  json: any;
  headers: Headers;
}

/** A request with an optional bearer key; a string body is sent as it is, anything else as JSON. */
export async function http(s: TestServer, method: string, path: string, key: string | null, body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = contentType;
  const res = await fetch(`${s.url}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Status, text and, when the body is JSON, the parsed body (undefined otherwise) of a response. */
export async function readResponse(res: Response): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** The official SDK's admin client on a test server, without retries. */
export function openaiClient(s: TestServer, key: string): OpenAI {
  return new OpenAI({ adminAPIKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
}

/** The OpenAI error envelope: all four keys present, no stack trace. */
export function assertOpenAIError(body: any, type = 'invalid_request_error'): void {
  assert.equal(typeof body?.error?.message, 'string');
  assert.equal(body.error.type, type);
  assert.ok('param' in body.error && 'code' in body.error, 'param and code are always present');
  assert.ok(!JSON.stringify(body).includes('    at '), 'no stack trace');
}
