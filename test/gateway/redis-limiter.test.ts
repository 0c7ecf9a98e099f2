// The shared (Redis) rate limiter: MemoryLimiter's behaviour where it applies (the same cases as
// limiter.test.ts, time moved by hand with `clock: 'caller'`), then what only a shared limiter has:
// several nodes on one bucket admitting exactly the limit, Redis' clock, one cluster slot per
// project, expiring keys, versioned names, and the in-memory fallback when Redis is unusable.
// Needs Redis (127.0.0.1:6379 or KEYPLANE_TEST_REDIS_URL); skipped without it unless
// KEYPLANE_TEST_REDIS=require.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Redis } from 'ioredis';
import { rateLimitHeaders, type LimitSet, type Reservation, type ReserveInput, type ReserveResult } from '../../src/gateway/limiter.ts';
import { RedisLimiter, REDIS_LIMITER_VERSION, shareOf, TTL_MARGIN_MS, type RedisLimiterOptions } from '../../src/gateway/redis-limiter.ts';
import { dropPrefix, REDIS_TEST_URL, redisSkip, testPrefix } from '../helpers/redis.ts';

const skip = await redisSkip();
const PREFIX = testPrefix();
const T0 = 1_700_000_000_000;
const MIN = 60_000;
const B = 'proj_1\u0000gpt-4o';

const open: RedisLimiter[] = [];
const clients: Redis[] = [];
let bucketSeq = 0;

after(async () => {
  await Promise.all(open.map((l) => l.close()));
  for (const c of clients) c.disconnect();
  if (!skip) await dropPrefix(PREFIX);
});

/** A limiter on the test Redis, on the caller's clock, under this run's prefix. */
async function mk(opts: Partial<RedisLimiterOptions> = {}): Promise<RedisLimiter> {
  // generous command timeout: a loaded CI machine must not push these into the in-memory fallback (tested on its own below)
  const l = new RedisLimiter({ url: REDIS_TEST_URL, prefix: PREFIX, clock: 'caller', heartbeatMs: 0, commandTimeoutMs: 5000, ...opts });
  open.push(l);
  if (opts.url === undefined) assert.equal(await l.ready(), true, 'Redis answers');
  return l;
}

/** Each test its own buckets: the same Redis serves every test of the run. */
function fresh(): string {
  return `proj_${++bucketSeq}\u0000gpt-4o`;
}

function ok(r: ReserveResult): Reservation {
  assert.equal(r.ok, true, r.ok ? '' : `refused: ${JSON.stringify(r.refused)}`);
  return (r as Extract<ReserveResult, { ok: true }>).reservation;
}

function refused(r: ReserveResult) {
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as Extract<ReserveResult, { ok: false }>).refused;
}

/** A limiter bound to one fresh bucket, with MemoryLimiter-test-shaped helpers. */
async function bench(opts: Partial<RedisLimiterOptions> = {}) {
  const l = await mk(opts);
  const bucket = fresh();
  const req = (limits: LimitSet, now: number, over: Partial<ReserveInput> = {}): ReserveInput => ({ bucket, limits, tokens: 0, now, ...over });
  const reserve = async (limits: LimitSet, now: number, over: Partial<ReserveInput> = {}) => l.reserve(req(limits, now, over));
  /** How many reservations of `tokens` pass one after another at instant `now`. */
  const admitAll = async (limits: LimitSet, now: number, tokens = 0, max = 10_000) => {
    let n = 0;
    while (n < max && (await reserve(limits, now, { tokens })).ok) n++;
    return n;
  };
  return { l, bucket, reserve, admitAll };
}

describe('RedisLimiter: the same behaviour as MemoryLimiter', { skip }, () => {
  test('exactly L requests pass at one instant; the L+1th is refused with the right info', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 60 };
    for (let i = 0; i < 60; i++) {
      const r = await reserve(limits, T0);
      ok(r);
      assert.equal(r.state.requests!.remaining, 59 - i);
    }
    const r = await reserve(limits, T0);
    const info = refused(r);
    assert.equal(info.limitName, 'requests_per_minute');
    assert.equal(info.limit, 60);
    assert.equal(info.remaining, 0);
    assert.equal(info.retryAfterMs, 1000);
    assert.equal(info.retryAfterSeconds, 1);
    assert.equal(info.resetAt, T0 + 1000);
    assert.equal(info.tooLarge, false);
    assert.equal(info.requested, 1);
    assert.equal(info.message, 'Rate limit reached on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s.');
    assert.deepEqual(r.state.requests, { limit: 60, remaining: 0, resetMs: MIN });
  });

  test('a refused caller that waits exactly retryAfterMs gets in, one ms earlier does not', async () => {
    const { reserve, admitAll } = await bench();
    const limits = { requestsPerMinute: 7 };
    assert.equal(await admitAll(limits, T0), 7);
    const info = refused(await reserve(limits, T0));
    assert.equal(info.retryAfterMs, Math.ceil(MIN / 7));
    assert.equal((await reserve(limits, T0 + info.retryAfterMs - 1)).ok, false);
    ok(await reserve(limits, T0 + info.retryAfterMs));
  });

  test('replenishment is continuous', async () => {
    const { admitAll } = await bench();
    const limits = { requestsPerMinute: 60 };
    assert.equal(await admitAll(limits, T0), 60);
    assert.equal(await admitAll(limits, T0 + MIN / 2), 30);
    assert.equal(await admitAll(limits, T0 + (3 * MIN) / 4), 15);
    assert.equal(await admitAll(limits, T0 + 10 * MIN), 60);
  });

  test('state reports remaining and the time until fully replenished', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 60 };
    assert.deepEqual((await reserve(limits, T0)).state.requests, { limit: 60, remaining: 59, resetMs: 1000 });
    for (let i = 0; i < 9; i++) ok(await reserve(limits, T0));
    assert.deepEqual((await reserve(limits, T0 + 500)).state.requests, { limit: 60, remaining: 49, resetMs: 10_500 });
  });

  test('buckets are independent (other model of the project, other project)', async () => {
    const l = await mk();
    const limits = { requestsPerMinute: 2 };
    const p = fresh().split('\u0000')[0]!;
    for (const b of [`${p}\u0000a`, `${p}\u0000b`, `${p}x\u0000a`]) {
      let n = 0;
      while ((await l.reserve({ bucket: b, limits, tokens: 0, now: T0 })).ok) n++;
      assert.equal(n, 2, b);
    }
  });

  test('no limits: everything passes, the state is empty, Redis is not asked', async () => {
    const { l, bucket, reserve } = await bench();
    const r = await reserve({}, T0, { tokens: 1e9, images: 1e6, audioBytes: 1e12 });
    ok(r);
    assert.deepEqual(r.state, {});
    assert.equal(await l.client.exists(l.keyOf(bucket)), 0);
  });

  test('settle refunds the unused part of the estimate', async () => {
    const { l, reserve, admitAll } = await bench();
    const limits = { tokensPerMinute: 10_000 };
    const r = await reserve(limits, T0, { tokens: 4000 });
    const res = ok(r);
    assert.equal(res.tokens, 4000);
    assert.equal(r.state.tokens!.remaining, 6000);
    await l.settle(res, 1000, T0);
    assert.equal(await admitAll(limits, T0, 1000), 9);
  });

  test('settle charges tokens beyond the estimate; the debt delays later requests', async () => {
    const { l, reserve } = await bench();
    const limits = { tokensPerMinute: 6000 };
    const res = ok(await reserve(limits, T0, { tokens: 1000 }));
    await l.settle(res, 9000, T0);
    const r = await reserve(limits, T0, { tokens: 0 });
    const info = refused(r);
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.remaining, 0);
    assert.equal(info.retryAfterMs, 30_000);
    assert.deepEqual(r.state.tokens, { limit: 6000, remaining: 0, resetMs: 90_000 });
    const info2 = refused(await reserve(limits, T0, { tokens: 600 }));
    assert.equal(info2.retryAfterMs, 36_000);
    assert.equal(info2.resetAt, T0 + 36_000);
    assert.equal((await reserve(limits, T0 + 35_999, { tokens: 600 })).ok, false);
    ok(await reserve(limits, T0 + 36_000, { tokens: 600 }));
  });

  test('settle without actual tokens keeps the estimate; settling twice or cancelling after is a no-op', async () => {
    const { l, reserve, admitAll } = await bench();
    const limits = { tokensPerMinute: 1000 };
    const res = ok(await reserve(limits, T0, { tokens: 700 }));
    await l.settle(res, undefined, T0);
    await l.settle(res, 0, T0);
    await l.cancel(res, T0);
    assert.equal(await admitAll(limits, T0, 100), 3);
  });

  test('cancel refunds tokens, images and audio, but the request still counts', async () => {
    const { l, reserve } = await bench();
    const limits = { requestsPerMinute: 2, tokensPerMinute: 1000, imagesPerMinute: 4, audioMegabytesPerMinute: 1 };
    const res = ok(await reserve(limits, T0, { tokens: 1000, images: 4, audioBytes: 1_000_000 }));
    assert.equal(refused(await reserve(limits, T0, { tokens: 1 })).limitName, 'tokens_per_minute');
    await l.cancel(res, T0);
    const r = await reserve(limits, T0, { tokens: 1000, images: 4, audioBytes: 1_000_000 });
    ok(r);
    assert.equal(r.state.requests!.remaining, 0);
    assert.equal(r.state.tokens!.remaining, 0);
    assert.equal(refused(await reserve(limits, T0)).limitName, 'requests_per_minute');
  });

  test('a refund never leaves more than the capacity', async () => {
    const { l, reserve, admitAll } = await bench();
    const limits = { tokensPerMinute: 1000 };
    const res = ok(await reserve(limits, T0, { tokens: 1000 }));
    await l.settle(res, 0, T0 + 2 * MIN);
    assert.equal(await admitAll(limits, T0 + 2 * MIN, 100), 10);
  });

  test('an under-estimate overshoots by at most that request, and the debt is paid back', async () => {
    const { l, reserve } = await bench();
    const limits = { tokensPerMinute: 10_000 };
    const a = ok(await reserve(limits, T0, { tokens: 5000 }));
    const b = ok(await reserve(limits, T0, { tokens: 5000 }));
    await l.settle(a, 5000, T0);
    await l.settle(b, 7000, T0);
    const info = refused(await reserve(limits, T0, { tokens: 1 }));
    assert.equal(info.retryAfterMs, Math.ceil(((2000 + 1) * MIN) / 10_000));
    let passed = 0;
    for (let t = T0; t <= T0 + MIN; t += 1000) {
      while ((await reserve(limits, t, { tokens: 100 })).ok) passed += 100;
    }
    assert.equal(passed, 8000);
  });

  test('an estimate larger than the whole capacity is refused at once as too large', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 10, tokensPerMinute: 10_000 };
    const r = await reserve(limits, T0, { tokens: 10_001 });
    const info = refused(r);
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.tooLarge, true);
    assert.equal(info.requested, 10_001);
    assert.equal(info.remaining, 10_000);
    assert.equal(
      info.message,
      'Request too large on tokens per min (TPM): Limit 10000, Requested 10001. The input or output tokens must be reduced in order to run successfully.',
    );
    assert.equal(r.state.requests!.remaining, 10);
    ok(await reserve(limits, T0, { tokens: 10_000 }));
  });

  test('too large wins over a plain exhaustion; a limit of 0 is too large for anything', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 1, tokensPerMinute: 100 };
    ok(await reserve(limits, T0, { tokens: 1 }));
    const info = refused(await reserve(limits, T0, { tokens: 101 }));
    assert.equal(info.limitName, 'tokens_per_minute');
    assert.equal(info.tooLarge, true);
    const zero = refused(await (await bench()).reserve({ requestsPerMinute: 0 }, T0));
    assert.equal(zero.limitName, 'requests_per_minute');
    assert.equal(zero.tooLarge, true);
  });

  test('all or nothing: a token refusal consumes no request, a request refusal no tokens', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 3, tokensPerMinute: 1000, requestsPerDay: 100 };
    ok(await reserve(limits, T0, { tokens: 900 }));
    for (let i = 0; i < 5; i++) assert.equal(refused(await reserve(limits, T0, { tokens: 200 })).limitName, 'tokens_per_minute');
    const r = await reserve(limits, T0, { tokens: 100 });
    ok(r);
    assert.equal(r.state.requests!.remaining, 1);
    assert.equal(r.state.requestsPerDay!.remaining, 98);
    ok(await reserve(limits, T0));
    const r2 = await reserve(limits, T0);
    assert.equal(refused(r2).limitName, 'requests_per_minute');
    assert.equal(r2.state.requestsPerDay!.remaining, 97);
  });

  test('with several limits short, the refusal names the one needing the longest wait', async () => {
    const { reserve } = await bench();
    const limits = { requestsPerMinute: 1, tokensPerMinute: 600 };
    ok(await reserve(limits, T0, { tokens: 600 }));
    const info = refused(await reserve(limits, T0, { tokens: 100 }));
    assert.equal(info.limitName, 'requests_per_minute');
    assert.equal(info.retryAfterMs, MIN);
  });

  test('requests per day, images and audio', async () => {
    const day = await bench();
    const dl = { requestsPerMinute: 1000, requestsPerDay: 48 };
    assert.equal(await day.admitAll(dl, T0), 48);
    const info = refused(await day.reserve(dl, T0));
    assert.equal(info.limitName, 'requests_per_day');
    assert.equal(info.retryAfterMs, 30 * MIN);
    assert.equal(await day.admitAll(dl, T0 + 12 * 60 * MIN), 24);

    const img = await bench();
    const il = { requestsPerMinute: 100, imagesPerMinute: 5 };
    ok(await img.reserve(il, T0, { images: 4 }));
    const ii = refused(await img.reserve(il, T0, { images: 2 }));
    assert.equal(ii.limitName, 'images_per_minute');
    assert.equal(ii.remaining, 1);
    assert.equal(ii.retryAfterMs, 12_000);
    ok(await img.reserve(il, T0, { tokens: 10 }));

    const audio = await bench();
    const al = { audioMegabytesPerMinute: 10 };
    ok(await audio.reserve(al, T0, { audioBytes: 6_000_000 }));
    ok(await audio.reserve(al, T0, { audioBytes: 4_000_000 }));
    const ai = refused(await audio.reserve(al, T0, { audioBytes: 1 }));
    assert.equal(ai.limitName, 'audio_megabytes_per_minute');
    assert.equal(ai.retryAfterMs, 1);
    assert.equal((await audio.reserve(al, T0 + 17_999, { audioBytes: 3_000_000 })).ok, false);
    ok(await audio.reserve(al, T0 + 18_000, { audioBytes: 3_000_000 }));
  });

  test('a raised limit applies on the next reserve; used capacity carries over', async () => {
    const { reserve, admitAll } = await bench();
    assert.equal(await admitAll({ requestsPerMinute: 10 }, T0), 10);
    const r = await reserve({ requestsPerMinute: 30 }, T0);
    ok(r);
    assert.equal(r.state.requests!.remaining, 19);
    assert.equal(await admitAll({ requestsPerMinute: 30 }, T0), 19);
    assert.equal(await admitAll({ requestsPerMinute: 30 }, T0 + 2000), 1);
  });

  test('a lowered limit clamps the remaining capacity to the new limit, creating no debt', async () => {
    const { reserve, admitAll } = await bench();
    assert.equal(await admitAll({ tokensPerMinute: 10_000 }, T0, 1000, 3), 3);
    const r = await reserve({ tokensPerMinute: 2000 }, T0, { tokens: 1 });
    const info = refused(r);
    assert.equal(info.limit, 2000);
    assert.equal(info.retryAfterMs, 30);
    assert.deepEqual(r.state.tokens, { limit: 2000, remaining: 0, resetMs: MIN });
  });

  test('a limit removed stops counting; added back, it starts full', async () => {
    const { admitAll } = await bench();
    assert.equal(await admitAll({ requestsPerMinute: 2, tokensPerMinute: 100 }, T0), 2);
    assert.equal(await admitAll({ tokensPerMinute: 100 }, T0, 0, 5), 5);
    assert.equal(await admitAll({ requestsPerMinute: 2, tokensPerMinute: 100 }, T0), 2);
  });

  test('headers as after a request; debt shows as 0 remaining', async () => {
    const { l, reserve } = await bench();
    const r = await reserve({ requestsPerMinute: 60, tokensPerMinute: 150_000 }, T0, { tokens: 16 });
    ok(r);
    assert.deepEqual(rateLimitHeaders(r.state), {
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '150000',
      'x-ratelimit-remaining-tokens': '149984',
      'x-ratelimit-reset-tokens': '7ms',
    });
    const b = await bench();
    const res = ok(await b.reserve({ tokensPerMinute: 100 }, T0, { tokens: 10 }));
    await b.l.settle(res, 150, T0);
    const h = rateLimitHeaders((await b.reserve({ requestsPerMinute: 5, tokensPerMinute: 100 }, T0)).state);
    assert.equal(h['x-ratelimit-remaining-tokens'], '0');
    assert.equal(h['x-ratelimit-reset-tokens'], '1m30s');
    assert.equal(h['x-ratelimit-remaining-requests'], '5');
    void l;
  });

  test('time going backwards does not refill or break anything', async () => {
    const { reserve, admitAll } = await bench();
    const limits = { requestsPerMinute: 2 };
    assert.equal(await admitAll(limits, T0), 2);
    assert.equal((await reserve(limits, T0 - MIN)).ok, false);
    ok(await reserve(limits, T0 + 30_000));
  });

  test('bad amounts and foreign reservations are refused loudly', async () => {
    const { l, reserve } = await bench();
    await assert.rejects(async () => reserve({}, T0, { tokens: -1 }), RangeError);
    await assert.rejects(async () => reserve({ tokensPerMinute: -5 }, T0), RangeError);
    assert.throws(() => l.settle({ bucket: B, tokens: 1 }, 1, T0), TypeError);
  });
});

describe('RedisLimiter: shared across nodes', { skip }, () => {
  test('three nodes hammering one bucket in parallel: exactly L admitted, every run', async () => {
    const nodes = [await mk(), await mk(), await mk()];
    for (let run = 0; run < 5; run++) {
      const bucket = fresh();
      const limits = { requestsPerMinute: 50, tokensPerMinute: 1_000_000 };
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => nodes[i % 3]!.reserve({ bucket, limits, tokens: 10, now: T0 })));
      const admitted = results.filter((r) => r.ok).length;
      assert.equal(admitted, 50, `run ${run}`);
      for (const r of results) if (!r.ok) assert.equal(r.refused.limitName, 'requests_per_minute');
    }
  });

  test("on Redis' clock: exactly L admitted within the time it takes (nodes' own clocks play no part)", async () => {
    const nodes = [await mk({ clock: 'redis' }), await mk({ clock: 'redis' })];
    const bucket = fresh();
    const limits = { requestsPerMinute: 50 };
    // nodes disagreeing about the time by an hour change nothing
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => nodes[i % 2]!.reserve({ bucket, limits, tokens: 0, now: i % 2 ? t0 + 3_600_000 : t0 - 3_600_000 })));
    const elapsed = Date.now() - t0;
    const admitted = results.filter((r) => r.ok).length;
    // one request replenishes every 1.2 s: in a burst shorter than that, exactly 50
    assert.ok(admitted >= 50 && admitted <= 50 + Math.floor(elapsed / 1200), `${admitted} admitted in ${elapsed} ms`);
    if (elapsed < 1200) assert.equal(admitted, 50);
    const info = results.find((r) => !r.ok)!;
    const refusal = refused(info);
    // the wait is Redis-measured (≤ 1.2 s), expressed on the caller's clock
    assert.ok(refusal.retryAfterMs >= 1 && refusal.retryAfterMs <= 1200, String(refusal.retryAfterMs));
  });

  test('a token limit with streaming answers settled later: overshoot at most one request’s excess', async () => {
    const nodes = [await mk(), await mk(), await mk()];
    const bucket = fresh();
    const limits = { tokensPerMinute: 10_000 };
    const est = 700;
    const held = (await Promise.all(Array.from({ length: 60 }, (_, i) => nodes[i % 3]!.reserve({ bucket, limits, tokens: est, now: T0 }))))
      .filter((r) => r.ok)
      .map((r) => (r as Extract<ReserveResult, { ok: true }>).reservation);
    assert.equal(held.length, Math.floor(10_000 / est));
    // every stream used exactly its estimate: nothing over, a request's worth at most unused
    await Promise.all(held.map((h, i) => nodes[i % 3]!.settle(h, est, T0)));
    const r = await nodes[0]!.reserve({ bucket, limits, tokens: 0, now: T0 });
    assert.ok(r.state.tokens!.remaining < est && r.state.tokens!.remaining >= 0);
  });

  test("a project's buckets share one cluster slot: the project id is the hash tag", async () => {
    const l = await mk();
    const k1 = l.keyOf('proj_abc\u0000gpt-4o');
    const k2 = l.keyOf('proj_abc\u0000text-embedding-3-small');
    assert.equal(k1, `${PREFIX}:${REDIS_LIMITER_VERSION}:rl:{proj_abc}:gpt-4o`);
    assert.equal(keySlot(k1), keySlot(k2));
    assert.equal(keySlot(k1), keySlot('{proj_abc}'));
    // a model name with braces does not move the key: only the first {…} counts
    assert.equal(keySlot(l.keyOf('proj_abc\u0000{odd}')), keySlot(k1));
    // and the real keys, as Redis computes it
    const bucket = fresh();
    ok(await l.reserve({ bucket, limits: { requestsPerMinute: 5 }, tokens: 0, now: T0 }));
    const project = bucket.split('\u0000')[0]!;
    const keys = await l.client.keys(`${PREFIX}:${REDIS_LIMITER_VERSION}:rl:{${project}}:*`);
    assert.deepEqual(keys, [l.keyOf(bucket)]);
  });

  test('keys expire once every limit has replenished, plus a margin; a charge recreates an expired bucket', async () => {
    const l = await mk({ clock: 'redis' });
    const bucket = fresh();
    const key = l.keyOf(bucket);
    ok(await l.reserve({ bucket, limits: { requestsPerMinute: 60, tokensPerMinute: 600 }, tokens: 300, now: Date.now() }));
    const ttl = await l.client.pttl(key);
    // 300 of 600 tokens: 30 s to replenish, plus the margin
    assert.ok(ttl > TTL_MARGIN_MS + 29_000 && ttl <= TTL_MARGIN_MS + 30_000, String(ttl));
    const day = fresh();
    ok(await l.reserve({ bucket: day, limits: { requestsPerDay: 24 }, tokens: 0, now: Date.now() }));
    const dayTtl = await l.client.pttl(l.keyOf(day));
    assert.ok(dayTtl > TTL_MARGIN_MS + 3_599_000 && dayTtl <= TTL_MARGIN_MS + 3_600_000, String(dayTtl));
    // a late charge on a bucket that expired meanwhile lands as debt
    const res = ok(await l.reserve({ bucket, limits: { tokensPerMinute: 600 }, tokens: 100, now: Date.now() }));
    await l.client.del(key);
    await l.settle(res, 1000, Date.now());
    const info = refused(await l.reserve({ bucket, limits: { tokensPerMinute: 600 }, tokens: 0, now: Date.now() }));
    assert.ok(info.retryAfterMs > 29_000 && info.retryAfterMs <= 30_000, String(info.retryAfterMs)); // 900 used: 300 over at 10 tokens/s
  });

  test('the scripts and the stored layout carry the version', async () => {
    const l = await mk();
    assert.equal(REDIS_LIMITER_VERSION, 'v1');
    assert.ok(l.keyOf(B).includes(':v1:'));
    assert.ok(l.nodesKey.endsWith(':v1:nodes'));
    assert.equal(typeof (l.client as unknown as Record<string, unknown>)['keyplaneRateReserve_v1'], 'function');
    assert.equal(typeof (l.client as unknown as Record<string, unknown>)['keyplaneRateAdjust_v1'], 'function');
  });

  test('the heartbeat counts live nodes; a closed node leaves the set', async () => {
    const prefix = `${PREFIX}-hb`;
    const a = await mk({ prefix, heartbeatMs: 50 });
    const b = await mk({ prefix, heartbeatMs: 50 });
    const deadline = Date.now() + 2000;
    while ((a.liveNodes < 2 || b.liveNodes < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(a.liveNodes, 2);
    assert.equal(b.liveNodes, 2);
    await b.close();
    const after = Date.now() + 2000;
    while ((a.liveNodes as number) !== 1 && Date.now() < after) await new Promise((r) => setTimeout(r, 20));
    assert.equal(a.liveNodes, 1);
    await dropPrefix(prefix);
  });
});

describe('RedisLimiter: when Redis is unusable', { skip }, () => {
  test('Redis down from the start: limits in memory at this node’s share, no exception, no wait', async () => {
    const logs: string[] = [];
    const l = new RedisLimiter({ url: 'redis://127.0.0.1:1', prefix: PREFIX, nodes: 2, heartbeatMs: 0, log: { warn: (m) => logs.push(`warn ${m}`), info: (m) => logs.push(`info ${m}`) } });
    open.push(l);
    assert.equal(await l.ready(300), false);
    assert.equal(l.isDegraded, true);
    const limits = { requestsPerMinute: 10 };
    let admitted = 0;
    for (let i = 0; i < 8; i++) {
      const t = Date.now();
      const r = await l.reserve({ bucket: B, limits, tokens: 5, now: T0 });
      assert.ok(Date.now() - t < 300, 'answers at once');
      if (r.ok) {
        admitted++;
        await l.settle(r.reservation, 3, T0);
      } else assert.equal(r.refused.limit, 5, 'half of the limit for each of two nodes');
    }
    assert.equal(admitted, 5);
    assert.equal(logs.length, 1, logs.join('\n'));
    assert.match(logs[0]!, /^warn rate limiter: Redis unusable .*1\/2 of each limit/);
  });

  test('Redis that stops answering: the first request waits at most the command timeout, later ones not at all; recovery is logged once', async () => {
    // a proxy to the test Redis that can freeze (hold every command, as a stalled Redis does) and thaw
    const url = new URL(REDIS_TEST_URL);
    let frozen = false;
    const held: Array<() => void> = [];
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      const up = net.connect(Number(url.port || 6379), url.hostname);
      sockets.push(s, up);
      s.on('data', (d) => (frozen ? held.push(() => up.write(d)) : up.write(d)));
      up.pipe(s);
      s.on('error', () => {});
      up.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const logs: string[] = [];
    const l = new RedisLimiter({
      url: `redis://127.0.0.1:${port}`,
      prefix: PREFIX,
      clock: 'caller',
      heartbeatMs: 0,
      commandTimeoutMs: 150,
      log: { warn: (m) => logs.push(`warn ${m}`), info: (m) => logs.push(`info ${m}`) },
    });
    open.push(l);
    try {
      assert.equal(await l.ready(), true);
      const bucket = fresh();
      const limits = { requestsPerMinute: 3 };
      ok(await l.reserve({ bucket, limits, tokens: 0, now: T0 }));
      frozen = true;
      let t = Date.now();
      ok(await l.reserve({ bucket, limits, tokens: 0, now: T0 }));
      const first = Date.now() - t;
      assert.ok(first >= 100 && first < 1000, `first request waited ${first} ms`);
      assert.equal(l.isDegraded, true);
      t = Date.now();
      for (let i = 0; i < 3; i++) await l.reserve({ bucket, limits, tokens: 0, now: T0 });
      assert.equal((await l.reserve({ bucket, limits, tokens: 0, now: T0 })).ok, false, 'limited in memory');
      assert.ok(Date.now() - t < 50, 'later requests go straight to memory');
      assert.deepEqual(logs.map((m) => m.split(' ')[0]), ['warn']);
      // thawed: the probe finds Redis again
      frozen = false;
      for (const f of held.splice(0)) f();
      const deadline = Date.now() + 3000;
      while (l.isDegraded && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(l.isDegraded, false);
      assert.deepEqual(logs.map((m) => m.split(' ')[0]), ['warn', 'info']);
      // the request that timed out did reach Redis late: a timeout only ever over-counts
      let n = 0;
      while ((await l.reserve({ bucket, limits, tokens: 0, now: T0 })).ok) n++;
      assert.equal(n, 1);
    } finally {
      await l.close();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('a connection lost and found again: degraded in between, shared limits after, each logged once', async () => {
    const logs: string[] = [];
    const l = await mk({ log: { warn: (m) => logs.push(`warn ${m}`), info: (m) => logs.push(`info ${m}`) } });
    const bucket = fresh();
    const limits = { requestsPerMinute: 4 };
    ok(await l.reserve({ bucket, limits, tokens: 0, now: T0 }));
    const ended = new Promise((r) => l.client.once('end', r));
    (l.client as Redis).disconnect(); // no reconnection: status 'end'
    await ended;
    for (let i = 0; i < 3; i++) {
      const t = Date.now();
      ok(await l.reserve({ bucket, limits, tokens: 0, now: T0 }));
      assert.ok(Date.now() - t < 50);
    }
    assert.equal(l.isDegraded, true);
    await (l.client as Redis).connect();
    const deadline = Date.now() + 2000;
    while (l.isDegraded && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(l.isDegraded, false);
    // the shared bucket kept its own count: 1 taken before the outage, 3 left
    let n = 0;
    while ((await l.reserve({ bucket, limits, tokens: 0, now: T0 })).ok) n++;
    assert.equal(n, 3);
    assert.deepEqual(
      logs.map((m) => m.split(' ')[0]),
      ['warn', 'info'],
    );
  });

  test('shares: whole units of the limit divided by the nodes, never 0 for a nonzero limit', () => {
    assert.equal(shareOf(undefined, 3), undefined);
    assert.equal(shareOf(100, 1), 100);
    assert.equal(shareOf(100, 3), 33);
    assert.equal(shareOf(2, 3), 1);
    assert.equal(shareOf(0.5, 3), 0.5);
    assert.equal(shareOf(0, 3), 0);
  });
});

/** Redis Cluster's key slot: CRC16 (XMODEM) of the hash tag, or of the whole key, mod 16384. */
function keySlot(key: string): number {
  const s = key.indexOf('{');
  if (s >= 0) {
    const e = key.indexOf('}', s + 1);
    if (e > s + 1) key = key.slice(s + 1, e);
  }
  let crc = 0;
  for (const b of Buffer.from(key)) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

