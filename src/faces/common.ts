// Small helpers every face uses: header parsing and the error classification that each face then
// renders in its own envelope.
import type { FastifyError, FastifyRequest } from 'fastify';
import { isDomainError, type DomainErrorKind } from '../domain/errors.ts';
import { isUniqueViolation } from '../store/db.ts';
import { parseOrigin } from '../config.ts';

/** The token after `<scheme> ` in the Authorization header (scheme matched case-insensitively). */
export function authToken(req: FastifyRequest, schemes: string[] = ['Bearer']): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^(\S+)\s+(\S+)\s*$/.exec(h);
  if (!m || !schemes.some((s) => s.toLowerCase() === m[1]!.toLowerCase())) return null;
  return m[2]!;
}

export const toUnixSeconds = (ms: number): number => Math.floor(ms / 1000);
export const toUnixSecondsOrNull = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

export interface ClassifiedError {
  status: number;
  kind: DomainErrorKind | 'server_error' | 'unsupported_media_type' | 'payload_too_large' | 'method_not_allowed';
  message: string;
  param: string | null;
  code: string | null;
}

const STATUS: Record<DomainErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
};

/**
 * Turns any error thrown while handling a request into a status and a safe message. Unknown errors
 * become a 500 with a generic message: their text and stack stay in the log.
 */
export function classifyError(err: unknown): ClassifiedError {
  if (isDomainError(err)) return { status: STATUS[err.kind], kind: err.kind, message: err.message, param: err.param, code: err.code };
  // a race the store's one retry did not settle (src/store/db.ts): a conflict, never a 5xx
  if (isUniqueViolation(err)) return { status: 409, kind: 'conflict', message: 'A concurrent request made the same change; try again.', param: null, code: 'conflict' };
  const fe = err as FastifyError & { validationContext?: string };
  if (fe?.validation) {
    const v = fe.validation[0];
    const where = fe.validationContext ?? 'body';
    const field = v ? paramOf(v.instancePath, v.params as Record<string, unknown>) : null;
    const message = v ? describeValidation(where, field, v.message ?? 'is invalid', v.params as Record<string, unknown>) : fe.message;
    return { status: 400, kind: 'invalid', message, param: field, code: 'invalid_value' };
  }
  const sc = fe?.statusCode;
  if (typeof sc === 'number' && sc >= 400 && sc < 500) {
    if (sc === 415) return { status: 415, kind: 'unsupported_media_type', message: 'Unsupported Content-Type; send application/json.', param: null, code: 'unsupported_media_type' };
    if (sc === 413) return { status: 413, kind: 'payload_too_large', message: 'The request body is too large.', param: null, code: 'payload_too_large' };
    if (fe.code === 'KP_JSON_TOO_DEEP') return { status: 400, kind: 'invalid', message: fe.message, param: null, code: 'json_too_deep' };
    if (fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || (err instanceof SyntaxError)) {
      return { status: 400, kind: 'invalid', message: 'The request body is not valid JSON.', param: null, code: 'invalid_json' };
    }
    return { status: sc, kind: 'invalid', message: fe.message || 'Bad request.', param: null, code: null };
  }
  return { status: 500, kind: 'server_error', message: 'The server had an error while processing your request.', param: null, code: null };
}

function paramOf(instancePath: string, params: Record<string, unknown>): string | null {
  const parts = instancePath.split('/').filter(Boolean);
  if (typeof params?.missingProperty === 'string') parts.push(params.missingProperty);
  if (typeof params?.additionalProperty === 'string') parts.push(params.additionalProperty);
  return parts.length ? parts.join('.') : null;
}

function describeValidation(where: string, field: string | null, message: string, params: Record<string, unknown>): string {
  if (params?.missingProperty) return `Missing required parameter: '${field}'.`;
  if (params?.additionalProperty) return `Unrecognized ${where === 'body' ? 'request argument' : 'parameter'}: '${field}'.`;
  const allowed = Array.isArray(params?.allowedValues) ? ` (one of: ${(params.allowedValues as unknown[]).join(', ')})` : '';
  return field ? `Invalid value for '${field}': ${message}${allowed}.` : `Invalid ${where}: ${message}${allowed}.`;
}

/**
 * Whether the request's origin (its Origin header, else its Referer's origin) is the server's own or
 * one of `allowed`; a request naming neither passes only when `required` is false. Used by the WhyLabs
 * face's cookie-write check and the console's CSRF guard.
 */
export function originAccepted(req: FastifyRequest, allowed: readonly string[], required: boolean): boolean {
  let origin: string | null = null;
  const o = req.headers.origin;
  const r = req.headers.referer;
  if (typeof o === 'string' && o.trim()) origin = parseOrigin(o.trim());
  else if (typeof r === 'string' && r.trim()) {
    try {
      const u = new URL(r.trim());
      origin = u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : null;
    } catch {
      origin = null;
    }
  } else if (!required) return true;
  const host = req.headers.host;
  const own = typeof host === 'string' && host ? parseOrigin(`${req.protocol}://${host}`) : null;
  return origin !== null && (origin === own || allowed.includes(origin));
}
