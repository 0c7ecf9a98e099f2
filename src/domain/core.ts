// The domain core: every service over one store, shared by every face.
import type { Store } from '../store/db.ts';
import { pgInvalidator, pgPublisher, publishCacheChange, publishCredentialChange } from '../store/notify.ts';
import { KeyCache, localInvalidator, type Invalidator } from './key-cache.ts';
import { KeyService, KeyUseBuffer } from './keys.ts';
import { OrganizationService } from './organizations.ts';
import { ProjectService } from './projects.ts';
import { ProjectUserService } from './project-users.ts';
import { InviteService } from './invites.ts';
import { ConsoleSessionService } from './console-sessions.ts';
import { AccessService } from './access.ts';
import { ServiceAccountService } from './service-accounts.ts';
import { ProjectKeyService } from './project-keys.ts';
import { IdempotencyService } from './idempotency.ts';
import { UserKeyService } from './user-keys.ts';
import { CredentialService } from './credentials.ts';
import { PlatformService } from './platform.ts';
import { DefaultCredentialService } from './default-credentials.ts';
import { encodeScope, ProviderCredentialService } from './provider-credentials.ts';
import { UsageService } from './usage.ts';
import { UsageRecorder } from './usage-recorder.ts';
import { generateKey } from '../crypto/envelope.ts';
import { UserService } from './users.ts';
import { CertificateService } from './certificates.ts';
import { RateLimitService } from './rate-limits.ts';
import { ProjectSettingsService } from './project-settings.ts';
import { AuditService } from './audit.ts';
import { DEFAULT_MODEL_CATALOG, type ModelCatalog } from './model-catalog.ts';
import { buildModelRoutes, type ModelRoutes } from './model-routes.ts';
import { FreeTrialService, type TrialAllowance } from './free-trial.ts';
import { RoleService } from './roles.ts';
import { GroupService } from './groups.ts';
import { SpendLimitService } from './spend-limits.ts';
import { SpendAlertService } from './spend-alerts.ts';
import { SpendAlertWebhook, webhookSecret } from './spend-webhook.ts';

export interface CoreOptions {
  keyCacheMax?: number;
  keyCacheTtlMs?: number;
  /** How often buffered key usage and buffered gateway usage events are written (default 1000 ms). */
  usageFlushMs?: number;
  /** Days per-minute usage rollups are kept (0: forever); default 7. */
  usageMinuteRetentionDays?: number;
  /** The operator's default free-trial allowance (KEYPLANE_FREE_TRIAL_TOKENS / _REQUESTS / _DAYS). */
  freeTrial?: TrialAllowance;
  /** Provider-credential resolutions cached in process (entries; default 10 000). */
  credentialCacheMax?: number;
  /** How long a cached resolution lives without invalidation (ms; default 30 s; 0: until evicted). */
  credentialCacheTtlMs?: number;
  /** PostgreSQL URL, to LISTEN for invalidations from other nodes. */
  databaseUrl?: string | undefined;
  now?: () => number;
  /** Models and their default rate limits (KEYPLANE_MODELS_FILE); the built-in catalog when unset. */
  modelCatalog?: ModelCatalog | undefined;
  /** The models file's entries, for where each model is served (provider, upstream id, aliases, prices). */
  modelRoutes?: unknown;
  onBackgroundError?: (err: Error, what: string) => void;
  /** Master key: seals stored idempotent answers (a random one when absent, for tests). */
  masterKey?: Buffer;
  /** Where spend alerts are POSTed, signed (KEYPLANE_SPEND_ALERT_WEBHOOK_URL); none: audit events only. */
  spendAlertWebhook?: { url: string; retryMs?: number; attempts?: number } | undefined;
}

export class Core {
  readonly cache: KeyCache;
  readonly keyUses = new KeyUseBuffer();
  readonly keys: KeyService;
  readonly orgs: OrganizationService;
  readonly users: UserService;
  readonly projects: ProjectService;
  readonly certificates: CertificateService;
  readonly rateLimits: RateLimitService;
  /** Model, hosted tool and service tier permissions, and data retention settings. */
  readonly projectSettings: ProjectSettingsService;
  /** Where each model of the catalog is served, and at what price. */
  readonly modelRoutes: ModelRoutes;
  readonly audit: AuditService;
  readonly roles: RoleService;
  readonly groups: GroupService;
  readonly projectUsers: ProjectUserService;
  readonly invites: InviteService;
  /** Console passwords and sessions (src/faces/console). */
  readonly consoleSessions: ConsoleSessionService;
  /** A console user's grants from their roles, groups and project memberships. */
  readonly access: AccessService;
  readonly serviceAccounts: ServiceAccountService;
  readonly projectKeys: ProjectKeyService;
  readonly idempotency: IdempotencyService;
  readonly userKeys: UserKeyService;
  readonly credentials: CredentialService;
  readonly platform: PlatformService;
  /** The operator's default provider credentials. */
  readonly defaultCredentials: DefaultCredentialService;
  /** Free-trial allowances, checked by the gateway when a request uses the platform's key for a trial. */
  readonly freeTrial: FreeTrialService;
  /** Which credential a request of an organization uses for a provider (the gateway's hot path). */
  readonly providerCredentials: ProviderCredentialService;
  readonly usage: UsageService;
  /** Buffered usage recording for the gateway: add() on the request path, written every usageFlushMs. */
  readonly usageRecorder: UsageRecorder;
  /** Hard monthly spend limits of organizations and projects (enforced by the gateway: src/gateway/spend.ts). */
  readonly spendLimits: SpendLimitService;
  /** Spend alerts, checked after each usage flush; their signed webhook when configured. */
  readonly spendAlerts: SpendAlertService;
  readonly spendAlertWebhook: SpendAlertWebhook | null;
  private readonly masterKey: Buffer;
  /** The clock every service reads (injected for tests): faces ask it, never the wall clock. */
  readonly now: () => number;
  /**
   * Until start() (and after stop()): PostgreSQL: publishes key changes without listening (the
   * CLI's revocations reach running servers); SQLite: nothing (other processes see the file change).
   */
  private invalidator: Invalidator;
  /**
   * Cache invalidations this node received (the metrics read them): PostgreSQL notifications per
   * channel, resynchronizations after a lost listener, and SQLite commits by another process.
   */
  readonly invalidationsReceived = { key: 0, credential: 0, cache: 0, resync: 0, external: 0 };
  private flushTimer: NodeJS.Timeout | null = null;
  private unwatch: (() => void) | null = null;
  private readonly dropListeners = new Set<(scope?: CacheScope) => void>();
  private readonly sending = new Set<Promise<void>>();
  private readonly opts: CoreOptions;

  constructor(
    readonly store: Store,
    opts: CoreOptions = {},
  ) {
    this.opts = opts;
    const now = opts.now ?? Date.now;
    this.now = now;
    this.cache = new KeyCache(opts.keyCacheMax ?? 100_000, opts.keyCacheTtlMs ?? 60_000);
    this.invalidator = store.pool ? pgPublisher(store.pool) : localInvalidator;
    this.keys = new KeyService(store, this.cache, this.keyUses, () => this.invalidator, now);
    this.orgs = new OrganizationService(store, this.keys, now);
    this.users = new UserService(store, async (hashes) => {
      for (const h of hashes) await this.keys.invalidate(h);
    }, now);
    this.projects = new ProjectService(store, now);
    this.certificates = new CertificateService(store, now);
    this.rateLimits = new RateLimitService(store, opts.modelCatalog ?? DEFAULT_MODEL_CATALOG, now);
    this.modelRoutes = buildModelRoutes((opts.modelCatalog ?? DEFAULT_MODEL_CATALOG).keys(), opts.modelRoutes);
    this.projectSettings = new ProjectSettingsService(store, (name) => this.modelRoutes.resolve(name)?.model, now);
    this.audit = new AuditService(store);
    this.roles = new RoleService(store, now);
    this.groups = new GroupService(store, now);
    this.projectUsers = new ProjectUserService(store, now);
    this.invites = new InviteService(store, this.users, now);
    this.consoleSessions = new ConsoleSessionService(store, now);
    this.access = new AccessService(store);
    this.serviceAccounts = new ServiceAccountService(store, this.keys, now);
    this.projectKeys = new ProjectKeyService(store, this.keys);
    this.userKeys = new UserKeyService(store, this.keys, now);
    const masterKey = opts.masterKey ?? generateKey();
    this.credentials = new CredentialService(store, masterKey, now);
    this.platform = new PlatformService(store, this.credentials, now);
    this.defaultCredentials = new DefaultCredentialService(store, this.credentials, now);
    this.freeTrial = new FreeTrialService(store, opts.freeTrial ?? { tokens: 1_000_000, requests: null, days: null }, now);
    this.providerCredentials = new ProviderCredentialService(store, this.credentials, this.defaultCredentials, now, {
      max: opts.credentialCacheMax,
      ttlMs: opts.credentialCacheTtlMs,
      // other nodes hear of a change over PostgreSQL (even from a process that does not listen: the CLI)
      publish: async (scope, origin) => {
        if (store.pool) await publishCredentialChange(store.pool, encodeScope(scope, origin));
      },
      onBackgroundError: opts.onBackgroundError,
    });
    const resolver = this.providerCredentials;
    this.credentials.onChange((c) => {
      if (c === null) resolver.invalidate('all');
      else if (c.kind === 'llm') resolver.invalidate({ orgId: c.orgId, provider: c.name });
    });
    this.platform.onSettingsChange((orgId) => resolver.invalidate({ orgId }));
    this.platform.onSettingsChange((orgId) => this.changed({ orgId }));
    this.rateLimits.onChange((projectId) => this.changed({ projectId }));
    this.projectSettings.onChange((projectId) => this.changed({ projectId }));
    this.projects.onArchive((projectId) => this.changed({ projectId }));
    this.defaultCredentials.onChange((provider) => resolver.invalidate({ provider }));
    this.usage = new UsageService(store, now);
    const onBackgroundError = opts.onBackgroundError;
    this.usageRecorder = new UsageRecorder(store, {
      flushMs: opts.usageFlushMs ?? 1000,
      minuteRetentionDays: opts.usageMinuteRetentionDays ?? 7,
      now,
      ...(onBackgroundError ? { onError: (err: Error) => onBackgroundError(err, 'usage recording') } : {}),
    });
    this.idempotency = new IdempotencyService(store, masterKey, now);
    this.masterKey = masterKey;
    this.spendLimits = new SpendLimitService(store, now);
    this.spendLimits.onChange((orgId) => this.changed({ orgId }));
    const hook = opts.spendAlertWebhook;
    this.spendAlertWebhook = hook
      ? new SpendAlertWebhook({ url: hook.url, retryMs: hook.retryMs, attempts: hook.attempts, now, secretOf: (orgId) => this.webhookSecret(orgId), onError: (err) => onBackgroundError?.(err, 'spend alert webhook') })
      : null;
    this.spendAlerts = new SpendAlertService(store, now, this.spendAlertWebhook, (err) => onBackgroundError?.(err, 'spend alert check'));
    this.spendAlerts.onChange((orgId) => this.changed({ orgId }));
    this.onDropCaches((scope) => {
      if (!scope) this.spendAlerts.forget();
      else if ('orgId' in scope) this.spendAlerts.forget(scope.orgId);
    });
    // alerts are checked after each flush of this node, for the organizations it wrote usage of
    this.usageRecorder.onFlushed((rows) => {
      if (rows.length) void this.spendAlerts.checkAfterFlush(rows.map((r) => r.org_id));
    });
  }

  /** An organization's spend-alert webhook signing secret (derived from the master key; never stored). */
  webhookSecret(orgId: string): string {
    return webhookSecret(this.masterKey, orgId);
  }

  /** Starts background work: the buffered-usage flushes and, on PostgreSQL, the invalidation listener. */
  async start(): Promise<void> {
    this.store.startBackgroundCheckpoints((err) => this.opts.onBackgroundError?.(err, 'WAL checkpoint'));
    if (this.store.pool && this.opts.databaseUrl) {
      this.invalidator = await pgInvalidator(this.store.pool, this.opts.databaseUrl, {
        onKey: (hash) => {
          this.invalidationsReceived.key++;
          this.cache.delete(hash);
        },
        onCredential: (payload) => {
          this.invalidationsReceived.credential++;
          this.providerCredentials.onNotification(payload);
        },
        onCache: (payload) => {
          this.invalidationsReceived.cache++;
          const scope = decodeCacheScope(payload);
          if (scope) this.dropLocal(scope);
        },
        onResync: () => {
          this.invalidationsReceived.resync++;
          this.dropCaches();
        },
        onError: (err) => this.opts.onBackgroundError?.(err, 'cache invalidation listener'),
      });
    }
    // SQLite: another process (the CLI) committed to the file; what changed is not known, so every
    // cache goes (a CLI command is rare; the caches refill from one read per entry)
    this.unwatch = this.store.watchExternalChanges(() => {
      this.invalidationsReceived.external++;
      this.dropCaches();
    });
    this.flushTimer = setInterval(() => {
      this.keyUses.flush(this.store.db).catch((err) => this.opts.onBackgroundError?.(err as Error, 'key usage flush'));
      this.providerCredentials.flushUses().catch((err) => this.opts.onBackgroundError?.(err as Error, 'credential use audit flush'));
    }, this.opts.usageFlushMs ?? 1000);
    this.flushTimer.unref();
    this.usageRecorder.start();
  }

  /**
   * Drops every cache of this node: keys, provider credentials, free-trial allowances and whatever
   * registered with onDropCaches (the gateway's project policies). Called when changes may have been
   * missed: the PostgreSQL listener lost its connection, or another process wrote the SQLite file.
   */
  dropCaches(): void {
    this.cache.clear();
    this.providerCredentials.invalidateLocal('all');
    this.freeTrial.forgetAll();
    for (const f of this.dropListeners) f();
  }

  /**
   * A project's enforced policy (its limits, its archiving) or an organization's settings (free
   * trial) changed and committed: drops what this node caches about it, then tells the other nodes
   * (PostgreSQL NOTIFY; SQLite: one process, and the CLI's writes are seen by the file watcher).
   */
  changed(scope: CacheScope): void {
    this.dropLocal(scope);
    if (!this.store.pool) return;
    const sent: Promise<void> = publishCacheChange(this.store.pool, JSON.stringify(scope))
      .catch((err) => this.opts.onBackgroundError?.(err as Error, 'cache invalidation notice'))
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  private dropLocal(scope: CacheScope): void {
    if ('orgId' in scope) this.freeTrial.forget(scope.orgId);
    for (const f of this.dropListeners) f(scope);
  }

  /**
   * Registers a cache outside the domain (the gateway's) to be dropped with the others (`scope`: what
   * changed; none: everything); returns its unregistration.
   */
  onDropCaches(f: (scope?: CacheScope) => void): () => void {
    this.dropListeners.add(f);
    return () => this.dropListeners.delete(f);
  }

  /**
   * Writes buffered key usage, buffered usage events, and credential use counts whose one-minute
   * window has passed (`all`: every one) now.
   */
  async flush(all = false): Promise<void> {
    const results = await Promise.allSettled([this.keyUses.flush(this.store.db), this.usageRecorder.flush(), this.providerCredentials.flushUses(all)]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Flushes buffered writes and stops background work; the store stays open (its owner closes it,
   * after this). Every step runs even when one fails; the first failure is thrown at the end.
   */
  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.unwatch?.();
    this.unwatch = null;
    const results = await Promise.allSettled([
      this.keyUses.flush(this.store.db),
      this.usageRecorder.stop(),
      this.providerCredentials.flushUses(true).then(() => this.providerCredentials.sent()),
      Promise.all([...this.sending]).then(() => {}),
    ]);
    // the last flush's alert check, then what the webhook is sending (its waiting retries are dropped)
    await this.spendAlerts.settledChecks();
    await this.spendAlertWebhook?.stop();
    await this.invalidator.close();
    this.invalidator = this.store.pool ? pgPublisher(this.store.pool) : localInvalidator;
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/** What changed, for the caches outside the key and credential caches (ids only: it travels in a NOTIFY). */
export type CacheScope = { projectId: string } | { orgId: string };

function decodeCacheScope(payload: string): CacheScope | null {
  try {
    const v = JSON.parse(payload) as Record<string, unknown>;
    if (typeof v.projectId === 'string') return { projectId: v.projectId };
    if (typeof v.orgId === 'string') return { orgId: v.orgId };
  } catch {
    // not ours
  }
  return null;
}
