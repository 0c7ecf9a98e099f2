// The ibl.ai wire conventions (a Django REST framework server): `{"detail": "…"}` for 401, 403, 404
// and other non-field errors, `{"<field>": ["msg", …]}` for 400 validation errors (reference §3).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDomainError } from '../../domain/errors.ts';
import { classifyError } from '../common.ts';

/** DRF's standard messages. */
export const DRF = {
  notAuthenticated: 'Authentication credentials were not provided.',
  invalidToken: 'Invalid token.',
  forbidden: 'You do not have permission to perform this action.',
  notFound: 'Not found.',
  serverError: 'A server error occurred.',
} as const;

export type FieldErrors = Record<string, string[]>;

/** A 400 with DRF field errors, e.g. `{"name": ["This field is required."]}`. */
export class DrfValidationError extends Error {
  constructor(readonly errors: FieldErrors) {
    super('Invalid input.');
    this.name = 'DrfValidationError';
  }
}

/** A 400 `{"detail": …}` (DRF's ParseError: an unreadable body). */
export class DrfParseError extends Error {
  readonly statusCode = 400;
  constructor(readonly detail: string) {
    super(detail);
    this.name = 'DrfParseError';
  }
}

export function iblaiError(err: unknown, req?: FastifyRequest): { status: number; body: Record<string, unknown> } {
  if (err instanceof DrfValidationError) return { status: 400, body: err.errors };
  if (err instanceof DrfParseError) return { status: 400, body: { detail: err.detail } };
  const c = classifyError(err);
  if (c.status >= 500) return { status: 500, body: { detail: DRF.serverError } };
  if (c.status === 400) {
    if (c.code === 'invalid_json') return { status: 400, body: { detail: 'JSON parse error - the request body is not valid JSON.' } };
    if (c.param) return { status: 400, body: { [c.param]: [c.message] } };
    if (isDomainError(err)) return { status: 400, body: { non_field_errors: [c.message] } };
    return { status: 400, body: { detail: c.message } };
  }
  // DRF's own wording for a session write without a valid CSRF token (SessionAuthentication)
  if (c.status === 403 && c.code === 'csrf_failed') return { status: 403, body: { detail: `CSRF Failed: ${c.message.replace(/^Request refused \(CSRF protection\): /, '')}` } };
  if (c.status === 403) return { status: 403, body: { detail: DRF.forbidden } };
  if (c.status === 415) {
    const ct = req?.headers['content-type'];
    return { status: 415, body: { detail: `Unsupported media type "${typeof ct === 'string' ? ct.split(';')[0]!.trim().slice(0, 100) : ''}" in request.` } };
  }
  return { status: c.status, body: { detail: c.message } };
}

export function sendIblaiError(reply: FastifyReply, err: unknown, req?: FastifyRequest): FastifyReply {
  const { status, body } = iblaiError(err, req);
  // DRF names the expected scheme on 401 (TokenAuthentication's authenticate_header)
  if (status === 401) reply.header('www-authenticate', 'Api-Token');
  return reply.code(status).type('application/json').send(body);
}
