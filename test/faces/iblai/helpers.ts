// Helpers for the ibl.ai face tests: raw requests with `Authorization: Api-Token <key>` (or another
// scheme), JSON, form or multipart bodies, and DRF error-body checks.
import assert from 'node:assert/strict';
import type { TestServer } from '../../helpers/server.ts';
import { readResponse } from '../../helpers/http.ts';

export const SPEC = 'iblai-ai-account.subset.4.90.4.json';
export const P = {
  credential: '/api/ai-account/orgs/{org}/credential/',
  integration: '/api/ai-account/orgs/{org}/integration-credential/',
  defaultKey: '/api/ai-account/orgs/{org}/use-default-llm-key/',
  freeTrial: '/api/ai-account/orgs/{org}/use-free-trial/',
  userDefaultKey: '/api/ai-account/orgs/{org}/users/{user_id}/default-llm-key-usage',
  userFreeTrial: '/api/ai-account/orgs/{org}/users/{user_id}/free-trial',
} as const;

export interface Res {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

export interface ReqOpts {
  scheme?: string;
  /** 'json' (default), 'form' (urlencoded; objects become JSON strings) or 'multipart'; a string is sent as is. */
  as?: 'json' | 'form' | 'multipart';
  contentType?: string;
}

const formValue = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export async function ibl(s: TestServer, method: string, path: string, key: string | null, body?: unknown, o: ReqOpts = {}): Promise<Res> {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `${o.scheme ?? 'Api-Token'} ${key}`;
  let payload: string | FormData | undefined;
  if (body !== undefined) {
    if (typeof body === 'string') {
      payload = body;
      headers['content-type'] = o.contentType ?? 'application/json';
    } else if (o.as === 'form') {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(body as Record<string, unknown>)) for (const x of Array.isArray(v) ? v : [v]) u.append(k, formValue(x));
      payload = u.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (o.as === 'multipart') {
      const fd = new FormData();
      for (const [k, v] of Object.entries(body as Record<string, unknown>)) for (const x of Array.isArray(v) ? v : [v]) fd.append(k, formValue(x));
      payload = fd; // fetch sets the multipart content type and boundary
    } else {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
  }
  return readResponse(await fetch(`${s.url}${path}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) }));
}

/** A DRF `{"detail": …}` body with this status; no stack trace. */
export function assertDetail(res: Res, status: number, detail?: string | RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.deepEqual(Object.keys(res.json ?? {}), ['detail'], res.text);
  assert.equal(typeof res.json.detail, 'string');
  if (typeof detail === 'string') assert.equal(res.json.detail, detail);
  else if (detail) assert.match(res.json.detail, detail);
  assert.ok(!res.text.includes('    at '), 'no stack trace');
}

/** A DRF 400 with field errors: exactly these fields, each a list of messages. */
export function assertFieldErrors(res: Res, fields: string[], match?: Record<string, RegExp>): void {
  assert.equal(res.status, 400, res.text);
  assert.deepEqual(Object.keys(res.json ?? {}).sort(), [...fields].sort(), res.text);
  for (const f of fields) {
    assert.ok(Array.isArray(res.json[f]) && res.json[f].length > 0 && res.json[f].every((m: unknown) => typeof m === 'string'), res.text);
    if (match?.[f]) assert.match(res.json[f].join(' '), match[f]!);
  }
  assert.ok(!res.text.includes('    at '), 'no stack trace');
}

export async function auditCount(s: TestServer): Promise<number> {
  return Number((await s.rt.store.db.selectFrom('audit_logs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}
