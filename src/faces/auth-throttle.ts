// Throttling of failed authentication, per client address, for every face (the face kit's
// authenticate() is its only user). Only failures are counted — a missing, malformed, unknown,
// revoked or expired credential, the 401s — in a token bucket per address: `burst` failures are
// allowed at once, and the bucket refills at `burst` per `windowMs`. A failure from an address whose
// bucket is empty is answered 429 (with Retry-After) instead of 401.
//
// A valid credential is never refused nor slowed: the throttle is consulted only once a credential
// has failed, so the success path does not touch it (no lookup, no await, no allocation). The
// address is the socket's peer (`req.ip`); X-Forwarded-For is not trusted. Buckets live in a bounded
// LRU (the least recently failing addresses are forgotten first; a forgotten bucket is a full one).
import { LRUCache } from 'lru-cache';
import { rateLimited, type DomainError } from '../domain/errors.ts';

/** Addresses whose failures are remembered at once (each entry is a few dozen bytes). */
export const AUTH_THROTTLE_MAX_ADDRESSES = 100_000;

interface Bucket {
  /** Failures still allowed now (fractional while refilling). */
  tokens: number;
  /** When `tokens` was computed: epoch milliseconds. */
  at: number;
  /** Whether the last failure from this address was refused (a new run of refusals is logged once). */
  refusing: boolean;
}

export interface AuthFailureOutcome {
  /** The 429 to answer instead of the 401, or null while the address is within its burst. */
  refusal: DomainError | null;
  /** True on the first refusal of a run (the caller logs it once, not on every refused request). */
  started: boolean;
}

const ALLOWED: AuthFailureOutcome = { refusal: null, started: false };

export class AuthFailureThrottle {
  /**
   * Made at the first failure: lru-cache sizes its arrays for `max` entries when it is built, which
   * for the three throttles of a server (authentication, sign-in per account and per address) cost
   * a start about 100 ms (bench:start) for servers that may never see a failure.
   */
  private lru: LRUCache<string, Bucket> | null = null;
  /** Tokens regained per millisecond. */
  private readonly perMs: number;

  constructor(
    /** Failures an address may make before it is refused; must be ≥ 1 (0 means no throttle: don't build one). */
    readonly burst: number,
    /** Time for an empty bucket to refill completely. */
    readonly windowMs: number,
    private readonly max = AUTH_THROTTLE_MAX_ADDRESSES,
    private readonly now: () => number = Date.now,
  ) {
    this.perMs = burst / windowMs;
  }

  private get buckets(): LRUCache<string, Bucket> {
    // after windowMs without a failure a bucket is full again: forgetting it then changes nothing
    return (this.lru ??= new LRUCache<string, Bucket>({ max: this.max, ttl: this.windowMs, ttlAutopurge: false, updateAgeOnGet: false }));
  }

  /** Records one failed authentication from `address` and says whether to refuse it. */
  fail(address: string): AuthFailureOutcome {
    const now = this.now();
    let b = this.buckets.get(address);
    if (!b) b = { tokens: this.burst, at: now, refusing: false };
    else {
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.perMs);
      b.at = now;
    }
    let outcome = ALLOWED;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      b.refusing = false;
    } else {
      const started = !b.refusing;
      b.refusing = true;
      const waitMs = (1 - b.tokens) / this.perMs;
      outcome = {
        started,
        refusal: rateLimited({
          message: 'Too many failed authentication attempts from this address; try again later.',
          limitName: 'authentication_failures',
          limit: this.burst,
          remaining: 0,
          resetAt: now + Math.ceil((this.burst - b.tokens) / this.perMs),
          retryAfterSeconds: waitMs / 1000,
        }),
      };
    }
    this.buckets.set(address, b); // (re)starts its TTL: the bucket is full windowMs after this failure
    return outcome;
  }

  /**
   * Whether `key`'s allowance is used up, without counting anything: the console's sign-in asks this
   * before checking a password, so a locked account is refused even with the right password.
   */
  exhausted(key: string): DomainError | null {
    const b = this.lru?.get(key);
    if (!b) return null;
    const now = this.now();
    const tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * this.perMs);
    if (tokens >= 1) return null;
    return rateLimited({
      message: 'Too many failed sign-in attempts; try again later.',
      limitName: 'sign_in_failures',
      limit: this.burst,
      remaining: 0,
      resetAt: now + Math.ceil((this.burst - tokens) / this.perMs),
      retryAfterSeconds: (1 - tokens) / this.perMs / 1000,
    });
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.lru?.size ?? 0;
  }
}
