// Redis for tests: used whenever one answers at KEYPLANE_TEST_REDIS_URL (default 127.0.0.1:6379);
// KEYPLANE_TEST_REDIS=require makes it mandatory, as CI does. Each test file works under a key prefix
// of its own and deletes its keys afterwards.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_TEST_URL = process.env.KEYPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let reachable: Promise<boolean> | null = null;

export function redisReachable(): Promise<boolean> {
  reachable ??= (async () => {
    const c = new Redis(REDIS_TEST_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    c.on('error', () => {});
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  })();
  return reachable;
}

/**
 * false when Redis answers; otherwise the reason to skip (or a thrown error when
 * KEYPLANE_TEST_REDIS=require). Use as `describe(name, { skip: await redisSkip() }, …)`.
 */
export async function redisSkip(): Promise<false | string> {
  if (await redisReachable()) return false;
  const where = REDIS_TEST_URL.replace(/\/\/[^@]*@/, '//');
  if (process.env.KEYPLANE_TEST_REDIS === 'require') throw new Error(`Redis is required (KEYPLANE_TEST_REDIS=require) but ${where} is unreachable`);
  return `Redis at ${where} is unreachable (set KEYPLANE_TEST_REDIS=require to fail instead of skipping)`;
}

/** A key prefix unique to this run. */
export function testPrefix(label = 'kptest'): string {
  return `${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under a prefix. */
export async function dropPrefix(prefix: string): Promise<void> {
  const c = new Redis(REDIS_TEST_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await c.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    c.disconnect();
  }
}
