// Domain errors: a rate-limited error carries what a 429 needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDomainError, notFound, rateLimited } from '../../src/domain/errors.ts';

test('rateLimited carries the limit, what is left, the reset time and a whole Retry-After', () => {
  const e = rateLimited({ limitName: 'requests_per_minute', limit: 60, remaining: -2, resetAt: 1_700_000_060_000, retryAfterSeconds: 1.2 });
  assert.ok(isDomainError(e));
  assert.equal(e.kind, 'rate_limited');
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.match(e.message, /requests_per_minute/);
  assert.deepEqual(e.rateLimit, { limitName: 'requests_per_minute', limit: 60, remaining: 0, resetAt: 1_700_000_060_000, retryAfterSeconds: 2 });
  assert.equal(rateLimited({ message: 'Slow down.', limitName: 'tokens_per_day', limit: 1, remaining: 0, resetAt: 0, retryAfterSeconds: 0 }).message, 'Slow down.');
  assert.equal(notFound('x').rateLimit, undefined);
});
