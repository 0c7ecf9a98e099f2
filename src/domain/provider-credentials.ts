// Provider credential resolution for the gateway: which API key (and endpoint settings) a request of
// an organization uses for a provider. Order:
//   1. the organization's own `llm` credential named after the provider (source 'tenant'), even when
//      it is unusable (a 400 then: a tenant's broken key never silently falls back to the platform's);
//   2. the operator's default credential for the provider (default-credentials.ts), when the
//      organization has the default LLM key enabled (source 'platform_default') or else its free
//      trial enabled (source 'free_trial');
//   3. otherwise a 400 `provider_credential_missing` telling the tenant admin what to configure.
//
// Resolutions (decrypted) are kept in a bounded in-process cache for a short time, so the hot path
// costs no database read and never a write. An entry is dropped when what it was made of changes:
// the organization's credential for that provider, its default-key / free-trial switches, the
// provider's default credential, or the master key; on every node (PostgreSQL NOTIFY on the credential
// channel, src/store/notify.ts; SQLite serves one process: local only, and a change made by another
// process on the same file, e.g. the CLI, drops the whole cache within ~250 ms: src/store/watch.ts).
// A read that started before an invalidation never fills the cache (epoch check), so a change is seen
// by the next resolve on the node that made it and, on other nodes, as soon as its notification arrives.
//
// Use is audited in aggregate: each resolve counts a use in memory; a `credential.decrypted`
// (purpose 'provider') row per credential and organization is written once its one-minute window
// has passed (on the periodic flush), with the number of uses: at most one row per credential per
// minute, never a write on the request path. Buffered counts are written at stop.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Store } from '../store/db.ts';
import { SYSTEM } from './actor.ts';
import { recordAudit } from './audit.ts';
import type { CredentialService } from './credentials.ts';
import { checkProvider, type DefaultCredentialService } from './default-credentials.ts';
import { invalid, notFound } from './errors.ts';
import { parseProviderSecret, type ProviderSecret } from './provider-secret.ts';

export type { ProviderSecret } from './provider-secret.ts';
export type CredentialSource = 'tenant' | 'platform_default' | 'free_trial';

export interface ResolvedCredential {
  source: CredentialSource;
  /** The tenant credential's id, or the platform default credential's id. */
  credentialId: string;
  provider: string;
  secret: ProviderSecret;
}

/** What changed: one organization's provider (its credential), a whole organization (its switches), one provider's default credential, or everything. */
export type CredentialScope = { orgId: string; provider?: string } | { provider: string; orgId?: undefined } | 'all';

/** Length of a use-aggregation window: at most one audit row per credential and organization per window. */
export const USE_WINDOW_MS = 60_000;

export interface ProviderCredentialOptions {
  /** Most entries cached (organization × provider). */
  max?: number;
  /** How long an entry lives without any invalidation (ms). */
  ttlMs?: number;
  /** Publishes a change to the other nodes (after the local cache was already updated); `origin`: this node. */
  publish?: (scope: CredentialScope, origin: string) => Promise<void>;
  onBackgroundError?: (err: Error, what: string) => void;
}

interface Tally {
  orgId: string;
  credentialId: string;
  provider: string;
  source: CredentialSource;
  uses: number;
  from: number;
  to: number;
}

const cacheKey = (orgId: string, provider: string) => `${orgId}\u0000${provider}`;

/** The wire form of a scope (the credential channel's payload), with the node it comes from, and back. */
export function encodeScope(scope: CredentialScope, origin?: string): string {
  return JSON.stringify({ ...(scope === 'all' ? { all: true } : { o: scope.orgId, p: scope.provider }), ...(origin ? { n: origin } : {}) });
}

/** The node a payload comes from (undefined when unsaid). */
export function originOf(payload: string): string | undefined {
  try {
    const n = (JSON.parse(payload) as { n?: unknown }).n;
    return typeof n === 'string' ? n : undefined;
  } catch {
    return undefined;
  }
}

export function decodeScope(payload: string): CredentialScope | null {
  try {
    const v = JSON.parse(payload) as { all?: boolean; o?: unknown; p?: unknown };
    if (v.all === true) return 'all';
    const orgId = typeof v.o === 'string' ? v.o : undefined;
    const provider = typeof v.p === 'string' ? v.p : undefined;
    if (orgId !== undefined) return provider !== undefined ? { orgId, provider } : { orgId };
    if (provider !== undefined) return { provider };
  } catch {
    // not ours: ignored
  }
  return null;
}

/** Cached values are handed out as they are, frozen: no caller can change what the next one gets. */
function frozen(r: ResolvedCredential): ResolvedCredential {
  Object.freeze(r.secret);
  return Object.freeze(r);
}

export class ProviderCredentialService {
  private readonly lru: LRUCache<string, ResolvedCredential>;
  /** Bumped by every invalidation: a read that started before one must not fill the cache. */
  private epoch = 0;
  /** Fills under way, shared by concurrent resolves of the same entry. */
  private readonly pending = new Map<string, { epoch: number; promise: Promise<ResolvedCredential> }>();
  private readonly tallies = new Map<string, Tally>();
  private readonly sending = new Set<Promise<void>>();
  private readonly publish: (scope: CredentialScope, origin: string) => Promise<void>;
  /** This node, in its notices: its own come back to it over LISTEN and are ignored (already applied). */
  readonly nodeId = randomUUID();

  constructor(
    private readonly store: Store,
    private readonly credentials: CredentialService,
    private readonly defaults: DefaultCredentialService,
    private readonly now: () => number = Date.now,
    private readonly opts: ProviderCredentialOptions = {},
  ) {
    const ttl = opts.ttlMs ?? 30_000;
    this.lru = new LRUCache<string, ResolvedCredential>({ max: opts.max ?? 10_000, ...(ttl > 0 ? { ttl } : {}) });
    this.publish = opts.publish ?? (async () => {});
  }

  /**
   * The credential a request of `orgId` uses for `provider`. Throws a DomainError: 400
   * `provider_credential_missing` (none configured), 400 `provider_credential_invalid` (the value
   * holds no usable key), 404 (no such organization). Never a secret in a message.
   */
  async resolve(orgId: string, provider: string): Promise<ResolvedCredential> {
    const found = await this.lookup(orgId, provider);
    this.count(orgId, found);
    return found;
  }

  /**
   * Whether `orgId` has a usable credential for `provider` (what lists of models ask): the same
   * cached lookup as resolve, without counting a use of the credential or handing out its secret.
   */
  async available(orgId: string, provider: string): Promise<boolean> {
    return this.lookup(orgId, provider).then(
      () => true,
      () => false,
    );
  }

  private async lookup(orgId: string, provider: string): Promise<ResolvedCredential> {
    const key = cacheKey(orgId, provider);
    let found = this.lru.get(key);
    if (!found) {
      let fill = this.pending.get(key);
      if (!fill || fill.epoch !== this.epoch) {
        const epoch = this.epoch;
        const promise = this.load(orgId, provider).then(frozen).then(
          (r) => {
            if (this.epoch === epoch) this.lru.set(key, r);
            if (this.pending.get(key)?.promise === promise) this.pending.delete(key);
            return r;
          },
          (err: unknown) => {
            if (this.pending.get(key)?.promise === promise) this.pending.delete(key);
            throw err;
          },
        );
        fill = { epoch, promise };
        this.pending.set(key, fill);
      }
      found = await fill.promise;
    }
    return found;
  }

  private async load(orgId: string, provider: string): Promise<ResolvedCredential> {
    checkProvider(provider);
    const own = await this.credentials.openLlm(orgId, provider);
    if (own) {
      return { source: 'tenant', credentialId: own.id, provider, secret: parseProviderSecret(own.value, `The credential for provider '${provider}'`) };
    }
    const org = await this.store.db.selectFrom('organizations').select(['use_default_llm_key', 'free_trial_enabled']).where('id', '=', orgId).executeTakeFirst();
    if (!org) throw notFound(`No such organization: '${orgId}'.`, 'org');
    const source: CredentialSource | null = Number(org.use_default_llm_key) === 1 ? 'platform_default' : Number(org.free_trial_enabled) === 1 ? 'free_trial' : null;
    if (!source) {
      throw invalid(
        `No credential for provider '${provider}': add one through the ibl.ai credential API (name '${provider}') or ask the operator to enable the default LLM key.`,
        null,
        'provider_credential_missing',
      );
    }
    const platform = await this.defaults.open(provider);
    if (!platform) {
      const why = source === 'platform_default' ? 'the default LLM key is enabled for this organization' : 'this organization is in its free trial';
      throw invalid(
        `No credential for provider '${provider}': ${why}, but the operator has set no default credential for '${provider}'. Add one through the ibl.ai credential API (name '${provider}') or ask the operator to set a default credential for it.`,
        null,
        'provider_credential_missing',
      );
    }
    return { source, credentialId: platform.id, provider, secret: parseProviderSecret(platform.value, `The platform's default credential for provider '${provider}'`) };
  }

  // ---- invalidation ----

  /** Drops what `scope` covers from this node's cache (no notification). */
  invalidateLocal(scope: CredentialScope): void {
    this.epoch++;
    if (scope === 'all') {
      this.lru.clear();
      return;
    }
    if (scope.orgId !== undefined && scope.provider !== undefined) {
      this.lru.delete(cacheKey(scope.orgId, scope.provider));
      return;
    }
    // keys first, then deletes: the cache is not changed while it is iterated
    const drop = [...this.lru.entries()].filter(([k, v]) => (scope.orgId !== undefined ? k.slice(0, k.indexOf('\u0000')) === scope.orgId : v.provider === scope.provider)).map(([k]) => k);
    for (const k of drop) this.lru.delete(k);
  }

  /** Drops what `scope` covers here, then tells the other nodes. Called after the change committed. */
  invalidate(scope: CredentialScope): void {
    this.invalidateLocal(scope);
    const sent: Promise<void> = this.publish(scope, this.nodeId)
      .catch((err) => this.opts.onBackgroundError?.(err as Error, 'credential invalidation notice'))
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }

  /** Waits for the notices being sent (before the store closes: a CLI command exits right after its change). */
  async sent(): Promise<void> {
    await Promise.all([...this.sending]);
  }

  /** A notification from another node (this node's own echo is ignored): the credential channel's payload. */
  onNotification(payload: string): void {
    if (originOf(payload) === this.nodeId) return;
    const scope = decodeScope(payload);
    if (scope) this.invalidateLocal(scope);
  }

  /** Entries cached on this node. */
  get size(): number {
    return this.lru.size;
  }

  // ---- aggregated use audit ----

  private count(orgId: string, r: ResolvedCredential): void {
    const now = this.now();
    const k = `${orgId}\u0000${r.credentialId}`;
    const t = this.tallies.get(k);
    if (t) {
      t.uses++;
      t.to = now;
      t.source = r.source;
    } else {
      this.tallies.set(k, { orgId, credentialId: r.credentialId, provider: r.provider, source: r.source, uses: 1, from: now, to: now });
    }
  }

  /**
   * Writes the use counts whose window (USE_WINDOW_MS from its first use) has passed, one
   * `credential.decrypted` row each; `all`: every count, at once (at stop). Returns the rows written.
   */
  async flushUses(all = false): Promise<number> {
    const now = this.now();
    const due = [...this.tallies.entries()].filter(([, t]) => all || now - t.from >= USE_WINDOW_MS);
    if (!due.length) return 0;
    for (const [k] of due) this.tallies.delete(k);
    try {
      await this.store.db.transaction().execute(async (tx) => {
        for (const [, t] of due) {
          await recordAudit(
            tx,
            SYSTEM,
            {
              orgId: t.orgId,
              type: 'credential.decrypted',
              targetType: t.source === 'tenant' ? 'credential' : 'default_credential',
              targetId: t.credentialId,
              payload: { name: t.provider, kind: 'llm', purpose: 'provider', source: t.source, uses: t.uses, from: t.from, to: t.to },
            },
            now,
          );
        }
      });
    } catch (err) {
      // keep the counts for the next flush rather than lose them
      for (const [k, t] of due) {
        const later = this.tallies.get(k);
        this.tallies.set(k, later ? { ...t, uses: t.uses + later.uses, to: later.to } : t);
      }
      throw err;
    }
    return due.length;
  }
}
