// The hot path of every authenticated request: hash → principal, bounded and short-lived, dropped at
// once when a key is revoked, deleted, deactivated or its expiry changes (on every node: see Invalidator).
import { LRUCache } from 'lru-cache';
import type { KeyPrincipal } from './actor.ts';

export class KeyCache {
  private readonly lru: LRUCache<string, KeyPrincipal>;
  /** Bumped by every invalidation: a read that started before one must not fill the cache. */
  private epoch = 0;
  /** Lookups answered from the cache, and lookups that had to read the store (the metrics read them). */
  hits = 0;
  misses = 0;

  constructor(max: number, ttlMs: number) {
    this.lru = new LRUCache<string, KeyPrincipal>({ max, ...(ttlMs > 0 ? { ttl: ttlMs } : {}) });
  }

  get(hash: string): KeyPrincipal | undefined {
    const p = this.lru.get(hash);
    if (p) this.hits++;
    else this.misses++;
    return p;
  }

  /** The current epoch; pass it to `fill` after reading the store. */
  mark(): number {
    return this.epoch;
  }

  /** Caches `principal` unless some key was invalidated since `mark()` (the read may be stale). */
  fill(hash: string, principal: KeyPrincipal, mark: number): void {
    if (mark === this.epoch) this.lru.set(hash, principal);
  }

  delete(hash: string): void {
    this.epoch++;
    this.lru.delete(hash);
  }

  clear(): void {
    this.epoch++;
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }
}

export type { Invalidator } from '../store/notify.ts';
import type { Invalidator } from '../store/notify.ts';

/** One process (the embedded SQLite default): the local cache is the only one. */
export const localInvalidator: Invalidator = {
  async publish() {},
  async close() {},
};
