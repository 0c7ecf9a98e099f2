// The domain core: every service over one store, shared by every face.
import type { Store } from '../store/db.ts';
import { pgInvalidator } from '../store/notify.ts';
import { KeyCache, localInvalidator, type Invalidator } from './key-cache.ts';
import { KeyService, KeyUseBuffer } from './keys.ts';
import { OrganizationService } from './organizations.ts';
import { ProjectService } from './projects.ts';
import { UserService } from './users.ts';

export interface CoreOptions {
  keyCacheMax?: number;
  keyCacheTtlMs?: number;
  usageFlushMs?: number;
  /** PostgreSQL URL, to LISTEN for invalidations from other nodes. */
  databaseUrl?: string | undefined;
  now?: () => number;
  onBackgroundError?: (err: Error, what: string) => void;
}

export class Core {
  readonly cache: KeyCache;
  readonly keyUses = new KeyUseBuffer();
  readonly keys: KeyService;
  readonly orgs: OrganizationService;
  readonly users: UserService;
  readonly projects: ProjectService;
  private invalidator: Invalidator = localInvalidator;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly opts: CoreOptions;

  constructor(
    readonly store: Store,
    opts: CoreOptions = {},
  ) {
    this.opts = opts;
    const now = opts.now ?? Date.now;
    this.cache = new KeyCache(opts.keyCacheMax ?? 100_000, opts.keyCacheTtlMs ?? 60_000);
    this.keys = new KeyService(store, this.cache, this.keyUses, () => this.invalidator, now);
    this.orgs = new OrganizationService(store, this.keys, now);
    this.users = new UserService(store, async (hashes) => {
      for (const h of hashes) await this.keys.invalidate(h);
    }, now);
    this.projects = new ProjectService(store, now);
  }

  /** Starts background work: the buffered-usage flush and, on PostgreSQL, the invalidation listener. */
  async start(): Promise<void> {
    if (this.store.pool && this.opts.databaseUrl) {
      this.invalidator = await pgInvalidator(this.store.pool, this.opts.databaseUrl, {
        onKey: (hash) => this.cache.delete(hash),
        onResync: () => this.cache.clear(),
        onError: (err) => this.opts.onBackgroundError?.(err, 'cache invalidation listener'),
      });
    }
    this.flushTimer = setInterval(() => {
      this.flush().catch((err) => this.opts.onBackgroundError?.(err as Error, 'key usage flush'));
    }, this.opts.usageFlushMs ?? 1000);
    this.flushTimer.unref();
  }

  /** Writes buffered key usage now. */
  async flush(): Promise<void> {
    await this.keyUses.flush(this.store.db);
  }

  /** Flushes buffered writes and stops background work; the store stays open (its owner closes it). */
  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    await this.flush();
    await this.invalidator.close();
    this.invalidator = localInvalidator;
  }
}
