// Key expiry as callers give it: an instant, or a lifetime in seconds from now. The lifetime is
// turned into an instant here, on the service's injected clock, so faces never read the wall clock.
import { invalid } from './errors.ts';

export interface ExpiryInput {
  /** Epoch milliseconds; null: the key never expires. */
  expiresAt?: number | null | undefined;
  /** Seconds from now (the service's clock); null: the key never expires. */
  expiresInSeconds?: number | null | undefined;
}

/**
 * The expiry instant (epoch ms) named by `input`: null for none, undefined when the input names
 * neither field (an update leaves the expiry as it is). Giving both fields is refused.
 */
export function expiryFrom(now: number, input: ExpiryInput): number | null | undefined {
  const { expiresAt, expiresInSeconds } = input;
  if (expiresInSeconds === undefined) return expiresAt;
  if (expiresAt !== undefined) throw invalid('Give either an expiry time or a lifetime in seconds, not both.', 'expires_in_seconds');
  if (expiresInSeconds === null) return null;
  if (!Number.isFinite(expiresInSeconds) || expiresInSeconds <= 0) throw invalid('expires_in_seconds must be a positive number of seconds.', 'expires_in_seconds');
  return now + Math.round(expiresInSeconds * 1000);
}
