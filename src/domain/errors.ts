// Typed domain errors. Faces map each kind to their own status and envelope; the domain knows no HTTP.
export type DomainErrorKind =
  | 'not_found'
  | 'conflict'
  | 'invalid'
  | 'forbidden'
  | 'unauthenticated'
  | 'rate_limited';

/**
 * What a refused-for-rate caller needs to know (what a 429 and its headers are made of). Times are
 * whole seconds or epoch milliseconds as named; faces convert them to their wire format.
 */
export interface RateLimitInfo {
  /** Which limit was hit, e.g. `requests_per_minute` or `tokens_per_day`. */
  readonly limitName: string;
  /** The limit's size in its window. */
  readonly limit: number;
  /** What is left of it in the current window (0 when refused for exhaustion). */
  readonly remaining: number;
  /** When the window resets and `remaining` is back to `limit`: epoch milliseconds. */
  readonly resetAt: number;
  /** Seconds the caller should wait before trying again (the `Retry-After` header): a whole number ≥ 0. */
  readonly retryAfterSeconds: number;
}

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** The offending input field, when there is one. */
    readonly param: string | null = null,
    /** A short machine code (`invalid_api_key`, `not_found`…). */
    readonly code: string | null = null,
    /** Set on `rate_limited` errors: the limit that refused the call. */
    readonly rateLimit?: RateLimitInfo,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what: string, param: string | null = null) => new DomainError('not_found', what, param, 'not_found');
export const conflict = (msg: string, param: string | null = null) => new DomainError('conflict', msg, param, 'conflict');
export const invalid = (msg: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new DomainError('invalid', msg, param, code);
export const forbidden = (msg = 'You do not have permission to perform this action.') =>
  new DomainError('forbidden', msg, null, 'insufficient_permissions');
export const unauthenticated = (msg = 'Invalid or missing API key.') =>
  new DomainError('unauthenticated', msg, null, 'invalid_api_key');

/** A call refused by a rate limit; `retryAfterSeconds` is rounded up to whole seconds (never negative). */
export function rateLimited(input: { message?: string } & RateLimitInfo): DomainError {
  const { message, limitName, limit, remaining, resetAt, retryAfterSeconds } = input;
  return new DomainError('rate_limited', message ?? `Rate limit reached for ${limitName}: ${limit}.`, null, 'rate_limit_exceeded', {
    limitName,
    limit,
    remaining: Math.max(0, remaining),
    resetAt,
    retryAfterSeconds: Math.max(0, Math.ceil(retryAfterSeconds)),
  });
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}
