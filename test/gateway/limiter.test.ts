// The gateway's in-memory rate limiter: exact admission, continuous replenishment, token
// reservation and settlement, all-or-nothing, every kind of limit, OpenAI headers and durations,
// changed limits, eviction. Every time is an explicit `now`; nothing reads the clock or sleeps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryLimiter,
  openaiDuration,
  rateLimitHeaders,
  type LimitSet,
  type Reservation,
  type ReserveInput,
  type ReserveResult,
} from '../../src/gateway/limiter.ts';

const T0 = 1_700_000_000_000;
const MIN = 60_000;
const B = 'proj_1\u0000gpt-4o';

function req(limits: LimitSet, now: number, over: Partial<ReserveInput> = {}): ReserveInput {
  return { bucket: B, limits, tokens: 0, now, ...over };
}

function ok(r: ReserveResult): Reservation {
  assert.equal(r.ok, true, r.ok ? '' : `refused: ${JSON.stringify(r.refused)}`);
  return (r as Extract<ReserveResult, { ok: true }>).reservation;
}

function refused(r: ReserveResult) {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as Extract<ReserveResult, { ok: false }>).refused;
}

/** How many reservations of `tokens` pass one after another at instant `now`. */
function admitAll(l: MemoryLimiter, limits: LimitSet, now: number, tokens = 0, max = 10_000): number {
  let n = 0;
  while (n < max && l.reserve(req(limits, now, { tokens })).ok) n++;
  return n;
}

describe('requests per minute', () => {
  test('exactly L requests pass at one instant; the L+1th is refused with the right info', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 60 };
    for (let i = 0; i < 60; i++) {
      const r = l.reserve(req(limits, T0));
      ok(r);
      assert.equal(r.state.requests!.remaining, 59 - i);
    }
    const r = l.reserve(req(limits, T0));
    const info = refused(r);
    assert.equal(info.limitName, 'requests_per_minute');
    assert.equal(info.limit, 60);
    assert.equal(info.remaining, 0);
    // One request replenishes every 60 s / 60 = 1 s.
    assert.equal(info.retryAfterMs, 1000);
    assert.equal(info.retryAfterSeconds, 1);
    assert.equal(info.resetAt, T0 + 1000);
    assert.equal(info.tooLarge, false);
    assert.equal(info.requested, 1);
    assert.match(info.message, /^Rate limit reached on requests per min \(RPM\): Limit 60, Used 60, Requested 1\. Please try again in 1s\.$/);
    // The refusal took nothing: the state is still exhausted, fully replenished in a minute.
    assert.deepEqual(r.state.requests, { limit: 60, remaining: 0, resetMs: MIN });
  });

  test('a refused caller that waits exactly retryAfterMs gets in, one ms earlier does not', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 7 };
    assert.equal(admitAll(l, limits, T0), 7);
    const info = refused(l.reserve(req(limits, T0)));
    assert.equal(info.retryAfterMs, Math.ceil(MIN / 7));
    assert.equal(info.retryAfterSeconds, 9);
    assert.equal(l.reserve(req(limits, T0 + info.retryAfterMs - 1)).ok, false);
    ok(l.reserve(req(limits, T0 + info.retryAfterMs)));
  });

  test('replenishment is continuous: half a window later, half the capacity is back', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 60 };
    assert.equal(admitAll(l, limits, T0), 60);
    assert.equal(admitAll(l, limits, T0 + MIN / 2), 30);
    // A quarter later still: a quarter of the capacity.
    assert.equal(admitAll(l, limits, T0 + (3 * MIN) / 4), 15);
    // A full idle window refills to capacity, never beyond.
    assert.equal(admitAll(l, limits, T0 + 10 * MIN), 60);
  });

  test('state reports remaining and the time until fully replenished', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 60 };
    const r = l.reserve(req(limits, T0));
    assert.deepEqual(r.state.requests, { limit: 60, remaining: 59, resetMs: 1000 });
    for (let i = 0; i < 9; i++) ok(l.reserve(req(limits, T0)));
    const r2 = l.reserve(req(limits, T0 + 500));
    // 10 used, 0.5 replenished, 1 more taken: 10.5 used → 49 whole left, 10.5 s to full.
    assert.deepEqual(r2.state.requests, { limit: 60, remaining: 49, resetMs: 10_500 });
  });

  test('buckets are independent', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 2 };
    assert.equal(admitAll(l, limits, T0), 2);
    assert.equal(l.reserve(req(limits, T0)).ok, false);
    let n = 0;
    while (l.reserve({ bucket: 'proj_2\u0000gpt-4o', limits, tokens: 0, now: T0 }).ok) n++;
    assert.equal(n, 2);
  });

  test('no limits: everything passes and the state is empty', () => {
    const l = new MemoryLimiter();
    const r = l.reserve(req({}, T0, { tokens: 1e9, images: 1e6, audioBytes: 1e12 }));
    ok(r);
    assert.deepEqual(r.state, {});
  });
});

describe('tokens per minute', () => {
  test('a reservation takes the estimate; settle refunds the unused part', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 10_000 };
    const r = l.reserve(req(limits, T0, { tokens: 4000 }));
    const res = ok(r);
    assert.equal(res.tokens, 4000);
    assert.equal(r.state.tokens!.remaining, 6000);
    l.settle(res, 1000, T0);
    // 3000 refunded: 9000 left, so 9 more of 1000 fit, not 10.
    assert.equal(admitAll(l, limits, T0, 1000), 9);
  });

  test('settle charges tokens used beyond the estimate; the debt delays later requests', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 6000 };
    const res = ok(l.reserve(req(limits, T0, { tokens: 1000 })));
    l.settle(res, 9000, T0);
    // 9000 used of 6000: 3000 in debt, remaining shows 0, even a 0-token request is refused.
    const r = l.reserve(req(limits, T0, { tokens: 0 }));
    const info = refused(r);
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.remaining, 0);
    assert.equal(info.tooLarge, false);
    assert.equal(info.retryAfterMs, 30_000); // 3000 tokens at 100 tokens/s
    assert.deepEqual(r.state.tokens, { limit: 6000, remaining: 0, resetMs: 90_000 });
    // A 600-token request fits once the debt and 600 more have replenished: 36 s.
    const info2 = refused(l.reserve(req(limits, T0, { tokens: 600 })));
    assert.equal(info2.retryAfterMs, 36_000);
    assert.equal(info2.resetAt, T0 + 36_000);
    assert.equal(l.reserve(req(limits, T0 + 35_999, { tokens: 600 })).ok, false);
    ok(l.reserve(req(limits, T0 + 36_000, { tokens: 600 })));
  });

  test('settle without actual tokens keeps the estimate; settling twice or cancelling after is a no-op', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 1000 };
    const res = ok(l.reserve(req(limits, T0, { tokens: 700 })));
    l.settle(res, undefined, T0);
    l.settle(res, 0, T0);
    l.cancel(res, T0);
    assert.equal(admitAll(l, limits, T0, 100), 3);
  });

  test('cancel refunds the tokens but the request still counts', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 2, tokensPerMinute: 1000 };
    const res = ok(l.reserve(req(limits, T0, { tokens: 1000 })));
    assert.equal(refused(l.reserve(req(limits, T0, { tokens: 1 }))).limitName, 'tokens_per_minute');
    l.cancel(res, T0);
    const r = l.reserve(req(limits, T0, { tokens: 1000 }));
    ok(r);
    assert.equal(r.state.requests!.remaining, 0);
    assert.equal(r.state.tokens!.remaining, 0);
    assert.equal(refused(l.reserve(req(limits, T0, { tokens: 0 }))).limitName, 'requests_per_minute');
  });

  test('a refund never leaves more than the capacity (the estimate had already replenished)', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 1000 };
    const res = ok(l.reserve(req(limits, T0, { tokens: 1000 })));
    l.settle(res, 0, T0 + 2 * MIN);
    assert.equal(admitAll(l, limits, T0 + 2 * MIN, 100), 10);
  });

  test('a cancel after the reservation replenished leaves no more than the capacity either', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 1000, imagesPerMinute: 2 };
    const res = ok(l.reserve(req(limits, T0, { tokens: 1000, images: 2 })));
    l.cancel(res, T0 + MIN);
    assert.equal(admitAll(l, limits, T0 + MIN, 100), 10);
    assert.equal(refused(l.reserve(req(limits, T0 + MIN, { images: 3 }))).tooLarge, true);
    let images = 0;
    while (l.reserve(req(limits, T0 + MIN, { images: 1 })).ok) images++;
    assert.equal(images, 2);
  });

  test('N concurrent reservations at one instant never overshoot: at most one request short of the limit, none over', () => {
    for (const [limit, est] of [[10_000, 300], [10_000, 1000], [90_000, 7_777], [1, 1]] as const) {
      const l = new MemoryLimiter();
      const limits = { tokensPerMinute: limit };
      const held: Reservation[] = [];
      for (let i = 0; i < 200; i++) {
        const r = l.reserve(req(limits, T0, { tokens: est }));
        if (r.ok) held.push(r.reservation);
      }
      const reserved = held.length * est;
      assert.ok(reserved <= limit, `${reserved} reserved of ${limit}`);
      assert.ok(limit - reserved < est, `left ${limit - reserved} unused with requests of ${est}`);
      // Settling every one at exactly its estimate leaves the bucket exhausted, not in debt.
      for (const h of held) l.settle(h, est, T0);
      const info = refused(l.reserve(req(limits, T0, { tokens: est })));
      assert.ok(info.retryAfterMs <= Math.ceil(((est - (limit - reserved)) * MIN) / limit));
    }
  });

  test('an under-estimate overshoots by at most that request, and the debt is paid back before anything else passes', () => {
    const l = new MemoryLimiter();
    const limits = { tokensPerMinute: 10_000 };
    const a = ok(l.reserve(req(limits, T0, { tokens: 5000 })));
    const b = ok(l.reserve(req(limits, T0, { tokens: 5000 })));
    // b used 7000: 2000 over the limit, a single request's excess.
    l.settle(a, 5000, T0);
    l.settle(b, 7000, T0);
    const info = refused(l.reserve(req(limits, T0, { tokens: 1 })));
    assert.equal(info.retryAfterMs, Math.ceil(((2000 + 1) * MIN) / 10_000));
    // Over the next minute only 10 000 − 2 000 = 8 000 more tokens can pass.
    let passed = 0;
    for (let t = T0; t <= T0 + MIN; t += 1000) {
      while (l.reserve(req(limits, t, { tokens: 100 })).ok) passed += 100;
    }
    assert.equal(passed, 8000);
  });

  test('an estimate larger than the whole capacity is refused at once as too large', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 10, tokensPerMinute: 10_000 };
    const r = l.reserve(req(limits, T0, { tokens: 10_001 }));
    const info = refused(r);
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.tooLarge, true);
    assert.equal(info.requested, 10_001);
    assert.equal(info.limit, 10_000);
    assert.equal(info.remaining, 10_000);
    assert.ok(info.retryAfterSeconds >= 1);
    assert.equal(
      info.message,
      'Request too large on tokens per min (TPM): Limit 10000, Requested 10001. The input or output tokens must be reduced in order to run successfully.',
    );
    // Nothing was taken, and an estimate of exactly the capacity fits.
    assert.equal(r.state.requests!.remaining, 10);
    ok(l.reserve(req(limits, T0, { tokens: 10_000 })));
  });

  test('too large wins over a plain exhaustion of another limit', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 1, tokensPerMinute: 100 };
    ok(l.reserve(req(limits, T0, { tokens: 1 })));
    const info = refused(l.reserve(req(limits, T0, { tokens: 101 })));
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.tooLarge, true);
  });
});

describe('all or nothing', () => {
  test('a token refusal consumes no request, a request refusal no tokens', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 3, tokensPerMinute: 1000, requestsPerDay: 100 };
    ok(l.reserve(req(limits, T0, { tokens: 900 })));
    for (let i = 0; i < 5; i++) assert.equal(refused(l.reserve(req(limits, T0, { tokens: 200 }))).limitName, 'tokens_per_minute');
    const r = l.reserve(req(limits, T0, { tokens: 100 }));
    ok(r);
    assert.equal(r.state.requests!.remaining, 1);
    assert.equal(r.state.requestsPerDay!.remaining, 98);
    ok(l.reserve(req(limits, T0, { tokens: 0 })));
    // Requests exhausted now: the refusal for requests takes nothing from the day limit either.
    const r2 = l.reserve(req(limits, T0, { tokens: 0 }));
    assert.equal(refused(r2).limitName, 'requests_per_minute');
    assert.equal(r2.state.requestsPerDay!.remaining, 97);
  });

  test('with several limits short, the refusal names the one needing the longest wait', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 1, tokensPerMinute: 600 };
    ok(l.reserve(req(limits, T0, { tokens: 600 })));
    // requests: 1 back in 60 s; 100 tokens: back in 10 s. Both must fit: wait 60 s.
    const info = refused(l.reserve(req(limits, T0, { tokens: 100 })));
    assert.equal(info.limitName, 'requests_per_minute');
    assert.equal(info.retryAfterMs, MIN);
    assert.equal(info.retryAfterSeconds, 60);
  });
});

describe('requests per day, images, audio', () => {
  test('requests per day: exactly the limit per instant, replenished over 24 h', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 1000, requestsPerDay: 48 };
    assert.equal(admitAll(l, limits, T0), 48);
    const info = refused(l.reserve(req(limits, T0)));
    assert.equal(info.limitName, 'requests_per_day');
    assert.equal(info.limit, 48);
    assert.equal(info.retryAfterMs, 30 * MIN); // 24 h / 48
    assert.equal(info.retryAfterSeconds, 1800);
    // A minute later the minute limit is full again, the day limit is not.
    assert.equal(l.reserve(req(limits, T0 + MIN)).ok, false);
    assert.equal(admitAll(l, limits, T0 + 12 * 60 * MIN), 24);
  });

  test('images per minute count images, not requests', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 100, imagesPerMinute: 5 };
    ok(l.reserve(req(limits, T0, { images: 4 })));
    const info = refused(l.reserve(req(limits, T0, { images: 2 })));
    assert.equal(info.limitName, 'images_per_minute');
    assert.equal(info.remaining, 1);
    assert.equal(info.requested, 2);
    assert.equal(info.retryAfterMs, 12_000); // one image back every 12 s
    ok(l.reserve(req(limits, T0, { images: 1 })));
    // A request without images is not held back by the images limit.
    ok(l.reserve(req(limits, T0, { tokens: 10 })));
    // More images than the capacity: never.
    assert.equal(refused(l.reserve(req(limits, T0 + 10 * MIN, { images: 6 }))).tooLarge, true);
  });

  test('audio megabytes per minute count bytes in decimal megabytes', () => {
    const l = new MemoryLimiter();
    const limits = { audioMegabytesPerMinute: 10 };
    ok(l.reserve(req(limits, T0, { audioBytes: 6_000_000 })));
    ok(l.reserve(req(limits, T0, { audioBytes: 4_000_000 })));
    const info = refused(l.reserve(req(limits, T0, { audioBytes: 1 })));
    assert.equal(info.limitName, 'audio_megabytes_per_minute');
    assert.equal(info.limit, 10);
    assert.equal(info.retryAfterMs, 1); // 1 byte = 1e-6 MB, back in 6 µs → 1 ms
    const big = refused(l.reserve(req(limits, T0, { audioBytes: 10_000_001 })));
    assert.equal(big.tooLarge, true);
    // 3 MB back after 18 s.
    assert.equal(l.reserve(req(limits, T0 + 17_999, { audioBytes: 3_000_000 })).ok, false);
    ok(l.reserve(req(limits, T0 + 18_000, { audioBytes: 3_000_000 })));
  });

  test('cancel refunds images and audio too, not the request', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 2, imagesPerMinute: 4 };
    const res = ok(l.reserve(req(limits, T0, { images: 4 })));
    l.cancel(res, T0);
    ok(l.reserve(req(limits, T0, { images: 4 })));
    assert.equal(refused(l.reserve(req(limits, T0, { images: 0 }))).limitName, 'requests_per_minute');
  });
});

describe('changed limits', () => {
  test('a raised limit applies on the next reserve; used capacity carries over', () => {
    const l = new MemoryLimiter();
    assert.equal(admitAll(l, { requestsPerMinute: 10 }, T0), 10);
    const r = l.reserve(req({ requestsPerMinute: 30 }, T0));
    ok(r);
    assert.equal(r.state.requests!.limit, 30);
    assert.equal(r.state.requests!.remaining, 19);
    assert.equal(admitAll(l, { requestsPerMinute: 30 }, T0), 19);
    // And it refills at the new rate: 30/min = one per 2 s.
    assert.equal(admitAll(l, { requestsPerMinute: 30 }, T0 + 2000), 1);
  });

  test('a lowered limit clamps the remaining capacity to the new limit, creating no debt', () => {
    const l = new MemoryLimiter();
    assert.equal(admitAll(l, { tokensPerMinute: 10_000 }, T0, 1000, 3), 3);
    const r = l.reserve(req({ tokensPerMinute: 2000 }, T0, { tokens: 1 }));
    const info = refused(r);
    assert.equal(info.limit, 2000);
    assert.equal(info.remaining, 0);
    // No debt: the new capacity refills from empty, 1 token in 30 ms.
    assert.equal(info.retryAfterMs, 30);
    assert.deepEqual(r.state.tokens, { limit: 2000, remaining: 0, resetMs: MIN });
    // With room left after the cut, remaining ≤ the new capacity.
    const l2 = new MemoryLimiter();
    ok(l2.reserve(req({ tokensPerMinute: 10_000 }, T0, { tokens: 100 })));
    const r2 = l2.reserve(req({ tokensPerMinute: 500 }, T0, { tokens: 0 }));
    assert.equal(r2.state.tokens!.remaining, 400);
  });

  test('a limit removed stops counting; added back, it starts full', () => {
    const l = new MemoryLimiter();
    assert.equal(admitAll(l, { requestsPerMinute: 2 }, T0), 2);
    assert.equal(admitAll(l, {}, T0, 0, 5), 5);
    assert.equal(admitAll(l, { requestsPerMinute: 2 }, T0), 2);
  });
});

describe('memory', () => {
  test('the bucket count is capped; the least recently used bucket goes first', () => {
    const l = new MemoryLimiter({ maxBuckets: 3 });
    const limits = { requestsPerMinute: 1 };
    for (const b of ['a', 'b', 'c']) ok(l.reserve({ bucket: b, limits, tokens: 0, now: T0 }));
    assert.equal(l.reserve({ bucket: 'a', limits, tokens: 0, now: T0 }).ok, false); // touches a
    ok(l.reserve({ bucket: 'd', limits, tokens: 0, now: T0 })); // evicts b, the least recently used
    assert.equal(l.size, 3);
    assert.equal(l.has('b'), false);
    assert.ok(l.has('a') && l.has('c') && l.has('d'));
    // An evicted bucket is forgotten (fail-open); the kept ones are still exhausted.
    ok(l.reserve({ bucket: 'b', limits, tokens: 0, now: T0 }));
    assert.equal(l.reserve({ bucket: 'd', limits, tokens: 0, now: T0 }).ok, false);
    assert.equal(l.size, 3);
  });

  test('fully replenished buckets are dropped as other buckets are used', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 60, tokensPerMinute: 1000 };
    for (let i = 0; i < 10; i++) ok(l.reserve({ bucket: `p${i}`, limits, tokens: 100, now: T0 }));
    assert.equal(l.size, 10);
    // Not yet replenished: nothing dropped.
    ok(l.reserve({ bucket: 'x', limits, tokens: 0, now: T0 + 5999 }));
    assert.equal(l.size, 11);
    // Each reserve after full replenishment (6 s for 100 of 1000 TPM, 1 s for the request) drops ≤ 2.
    for (let i = 0; i < 5; i++) ok(l.reserve({ bucket: 'x', limits, tokens: 0, now: T0 + MIN }));
    assert.equal(l.size, 1);
    assert.ok(l.has('x'));
  });

  test('a charge settled after its bucket was dropped still lands as debt', () => {
    const l = new MemoryLimiter({ maxBuckets: 1 });
    const limits = { tokensPerMinute: 1000 };
    const res = ok(l.reserve({ bucket: 'a', limits, tokens: 100, now: T0 }));
    ok(l.reserve({ bucket: 'b', limits, tokens: 0, now: T0 })); // evicts a
    assert.equal(l.has('a'), false);
    l.settle(res, 1600, T0 + MIN);
    const info = refused(l.reserve({ bucket: 'a', limits, tokens: 0, now: T0 + MIN }));
    assert.equal(info.retryAfterMs, 30_000); // 500 over at 1000/min
  });
});

describe('OpenAI headers and durations', () => {
  test('durations are written as OpenAI writes them (Go duration format)', () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [-5, '0s'],
      [0.2, '1ms'],
      [9, '9ms'],
      [20, '20ms'],
      [999, '999ms'],
      [1000, '1s'],
      [1001, '1.001s'],
      [8640, '8.64s'],
      [33_023, '33.023s'],
      [59_500, '59.5s'],
      [60_000, '1m0s'],
      [90_000, '1m30s'],
      [360_000, '6m0s'],
      [3_600_000, '1h0m0s'],
      [3_723_000, '1h2m3s'],
      [5_011_000, '1h23m31s'],
      [86_400_000, '24h0m0s'],
      [90_061_250, '25h1m1.25s'],
    ];
    for (const [ms, s] of cases) assert.equal(openaiDuration(ms), s, `${ms} ms`);
  });

  test('headers for the limits that exist, as after a request', () => {
    const l = new MemoryLimiter();
    const r = l.reserve(req({ requestsPerMinute: 60, tokensPerMinute: 150_000 }, T0, { tokens: 16 }));
    ok(r);
    assert.deepEqual(rateLimitHeaders(r.state), {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '7ms',
    });
  });

  test('only the headers whose limit exists; debt shows as 0 remaining', () => {
    assert.deepEqual(rateLimitHeaders({}), {});
    assert.deepEqual(rateLimitHeaders({ requestsPerDay: { limit: 5, remaining: 5, resetMs: 0 } }), {});
    assert.deepEqual(rateLimitHeaders({ tokens: { limit: 40_000, remaining: 0, resetMs: 360_000 } }), {
      'x-ratelimit-limit-tokens': '40000',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    const l = new MemoryLimiter();
    const res = ok(l.reserve(req({ tokensPerMinute: 100 }, T0, { tokens: 10 })));
    l.settle(res, 150, T0);
    const r = l.reserve(req({ requestsPerMinute: 5, tokensPerMinute: 100 }, T0));
    assert.equal(rateLimitHeaders(r.state)['x-ratelimit-remaining-tokens'], '0');
    assert.equal(rateLimitHeaders(r.state)['x-ratelimit-reset-tokens'], '1m30s');
    assert.equal(rateLimitHeaders(r.state)['x-ratelimit-remaining-requests'], '5');
  });
});

describe('input checks', () => {
  test('negative or non-numeric amounts and limits are refused loudly', () => {
    const l = new MemoryLimiter();
    assert.throws(() => l.reserve(req({}, T0, { tokens: -1 })), RangeError);
    assert.throws(() => l.reserve(req({}, T0, { tokens: Number.NaN })), RangeError);
    assert.throws(() => l.reserve(req({ tokensPerMinute: -5 }, T0)), RangeError);
    assert.throws(() => new MemoryLimiter({ maxBuckets: 0 }), RangeError);
    assert.throws(() => l.settle({ bucket: B, tokens: 1 }, 1, T0), TypeError);
  });

  test('a limit of 0 admits nothing and says so without a retry that could help', () => {
    const l = new MemoryLimiter();
    const info = refused(l.reserve(req({ requestsPerMinute: 0 }, T0)));
    assert.equal(info.limitName, 'requests_per_minute');
    assert.equal(info.tooLarge, true);
  });

  test('time going backwards does not refill or break anything', () => {
    const l = new MemoryLimiter();
    const limits = { requestsPerMinute: 2 };
    assert.equal(admitAll(l, limits, T0), 2);
    assert.equal(l.reserve(req(limits, T0 - MIN)).ok, false);
    ok(l.reserve(req(limits, T0 + 30_000)));
  });
});
