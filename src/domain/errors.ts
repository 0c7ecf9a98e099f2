// Typed domain errors. Faces map each kind to their own status and envelope; the domain knows no HTTP.
export type DomainErrorKind =
  | 'not_found'
  | 'conflict'
  | 'invalid'
  | 'forbidden'
  | 'unauthenticated'
  | 'rate_limited';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** The offending input field, when there is one. */
    readonly param: string | null = null,
    /** A short machine code (`invalid_api_key`, `not_found`…). */
    readonly code: string | null = null,
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

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}
