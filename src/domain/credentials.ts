// The credential vault: each organization's LLM and integration credentials (arbitrary JSON: an
// OpenAI key object, a Google service-account file…), sealed with AES-256-GCM under a data key of
// the organization, itself wrapped by the master key. Plaintext leaves only through `reveal` (toward
// a provider, on the gateway); every other read returns masked values. Every decrypt that hands out
// plaintext (masked or not) is audited. Sealed formats, AAD and rotation: src/crypto/README.md.
import type { Selectable } from 'kysely';
import type { Executor, Store, Tx } from '../store/db.ts';
import type { CredentialsTable } from '../store/schema.ts';
import { generateKey, keyFingerprint, open, seal, SEALED_VERSION, sealedVersion, unwrapDataKey, VERSIONED_MARKER, wrapDataKey } from '../crypto/envelope.ts';
import { requireOrgAdmin, type Actor, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';

export type CredentialKind = 'llm' | 'integration';
type CredentialRow = Selectable<CredentialsTable>;

export interface Credential {
  name: string;
  kind: CredentialKind;
  platform: string;
  /** Masked: every string inside keeps only a short tail. */
  value: unknown;
  created_at: number;
  updated_at: number;
}

export const MAX_VALUE_BYTES = 64 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,254}$/;

/** Masks every string in a JSON value, keeping its last four characters when it is long enough. */
export function maskSecrets(v: unknown): unknown {
  // iterative (an explicit stack of containers still to fill): a value of any depth masks without recursion
  const mask = (x: unknown): unknown => (typeof x === 'string' ? (x.length > 8 ? `****${x.slice(-4)}` : '****') : x);
  const copy = (x: unknown): unknown => (Array.isArray(x) ? new Array(x.length) : x && typeof x === 'object' ? {} : mask(x));
  const root = copy(v);
  const todo: Array<[unknown, Record<string, unknown> | unknown[]]> = [];
  if (root && typeof root === 'object') todo.push([v, root as Record<string, unknown>]);
  while (todo.length) {
    const [from, to] = todo.pop()!;
    for (const [k, x] of Object.entries(from as object)) {
      const c = copy(x);
      if (Array.isArray(to)) to[Number(k)] = c;
      else Object.defineProperty(to, k, { value: c, enumerable: true, writable: true, configurable: true });
      if (c && typeof c === 'object') todo.push([x, c as Record<string, unknown>]);
    }
  }
  return root;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw invalid('A credential name is 1 to 255 characters: letters, digits, space, and _ . : -, starting with a letter or digit.', 'name');
  return name;
}

function checkValue(value: unknown): Buffer {
  if (value === undefined) throw invalid('A credential needs a value.', 'value');
  const text = Buffer.from(JSON.stringify(value), 'utf8');
  if (text.length > MAX_VALUE_BYTES) throw invalid(`A credential value is at most ${MAX_VALUE_BYTES} bytes of JSON.`, 'value');
  return text;
}

const aad = (orgId: string, kind: CredentialKind, name: string) => `credential:${orgId}:${kind}:${name}`;
/** Context of the platform data key (wrapped by the master key) and of the operator's default credential values (sealed by it). */
export const PLATFORM_DATA_KEY_CONTEXT = 'platform-data-key';
export const platformCredentialContext = (provider: string) => `platform-credential:${provider}`;

/**
 * Told after a change that may alter what a provider credential resolves to has committed: one
 * organization's credential (`orgId`, `kind`, `name`), or everything (`null`: the master key was rotated).
 */
export type CredentialChangeListener = (change: { orgId: string; kind: CredentialKind; name: string } | null) => void;

/**
 * A data key is wrapped under a master key this process does not hold: the master key was rotated by
 * another process (`keyplane vault rotate-master-key` beside a running server, or another node). Nothing
 * can be decrypted until keyplane is restarted with the new key. The message is safe to show a client.
 */
export class MasterKeyMismatchError extends Error {
  override name = 'MasterKeyMismatchError';
  constructor(
    /** Fingerprint of the master key the stored data key is wrapped under. */
    readonly storedKeyId: string,
    /** Fingerprint of the master key this process holds. */
    readonly heldKeyId: string,
  ) {
    super(
      'keyplane cannot decrypt credentials: its master key was rotated while this server was running. The operator must restart keyplane with the new master key (the data dir master-key file or KEYPLANE_MASTER_KEY).',
    );
  }
}

/** What a master-key rotation rewrote. */
export interface RotationResult {
  /** Data keys rewrapped under the new master key (all of them). */
  dataKeys: number;
  /** Credential values of an older format version re-sealed in the current one (same data key). */
  valuesResealed: number;
  /** Whether the platform data key (sealing the operator's default credentials) was rewrapped too. */
  platformKey: boolean;
}

export class CredentialService {
  private listeners: CredentialChangeListener[] = [];
  /**
   * Master keys this process has held, by fingerprint: the current one and those it rotated away from,
   * so a read that fetched a row just before this process's own rotation committed still opens it.
   */
  private readonly heldKeys = new Map<string, Buffer>();

  constructor(
    private readonly store: Store,
    private masterKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.heldKeys.set(keyFingerprint(masterKey), masterKey);
  }

  /** The master key a stored data key says it is wrapped under (its `master_key_id`), or MasterKeyMismatchError. */
  private wrappingKey(masterKeyId: string): Buffer {
    const key = this.heldKeys.get(masterKeyId);
    if (!key) throw new MasterKeyMismatchError(masterKeyId, keyFingerprint(this.masterKey));
    return key;
  }

  /** Calls `fn` after every committed change of a credential (see CredentialChangeListener). */
  onChange(fn: CredentialChangeListener): void {
    this.listeners.push(fn);
  }

  /**
   * Tells the listeners that a credential changed. The service calls it after each transaction it
   * commits itself; a caller that passed its own `tx` to create/update calls it after committing.
   */
  changed(orgId: string, kind: CredentialKind, name: string): void {
    for (const l of this.listeners) l({ orgId, kind, name });
  }

  /**
   * The platform's data key (for the operator's default credentials): read inside `tx`, and created
   * there when `create` and there is none yet (null otherwise). Not cached, like organization data keys.
   */
  async platformDataKey(tx: Executor, create: boolean): Promise<Buffer | null> {
    const row = await tx.selectFrom('platform_data_key').selectAll().where('id', '=', 'platform').executeTakeFirst();
    if (row) return open(this.wrappingKey(row.master_key_id), row.wrapped_key, PLATFORM_DATA_KEY_CONTEXT);
    if (!create) return null;
    // Race-free on both dialects: a concurrent creator's row wins (PostgreSQL waits for its commit),
    // and the key is read back — never a retry inside a transaction a failed insert has aborted.
    const key = generateKey();
    await tx
      .insertInto('platform_data_key')
      .values({ id: 'platform', wrapped_key: seal(this.masterKey, key, PLATFORM_DATA_KEY_CONTEXT), master_key_id: keyFingerprint(this.masterKey), created_at: this.now(), rotated_at: null })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return this.platformDataKey(tx, false);
  }

  /**
   * The plaintext of the organization's `llm` credential `name`, with its id, or null when there is
   * none: one read (the row with its data key), no write and no audit row (the provider-credential
   * resolver audits uses in aggregate). For the gateway's resolver only.
   */
  async openLlm(orgId: string, name: string): Promise<{ id: string; value: unknown } | null> {
    const row = await this.store.db
      .selectFrom('credentials')
      .innerJoin('data_keys', 'data_keys.org_id', 'credentials.org_id')
      .select(['credentials.id', 'credentials.ciphertext', 'data_keys.wrapped_key', 'data_keys.master_key_id'])
      .where('credentials.org_id', '=', orgId)
      .where('credentials.kind', '=', 'llm')
      .where('credentials.name', '=', name)
      .executeTakeFirst();
    if (!row) return null;
    const key = unwrapDataKey(this.wrappingKey(row.master_key_id), row.wrapped_key, orgId);
    return { id: row.id, value: JSON.parse(open(key, row.ciphertext, aad(orgId, 'llm', name)).toString('utf8')) as unknown };
  }

  /**
   * The organization's data key, created and wrapped on first use. Not cached: a key created by a
   * transaction that then rolls back must never be used again (values sealed under it would be lost).
   */
  private async dataKey(tx: Executor, orgId: string): Promise<Buffer> {
    const row = await tx.selectFrom('data_keys').selectAll().where('org_id', '=', orgId).executeTakeFirst();
    let key: Buffer;
    if (row) {
      key = unwrapDataKey(this.wrappingKey(row.master_key_id), row.wrapped_key, orgId);
    } else {
      // Race-free on both dialects: INSERT … ON CONFLICT DO NOTHING (on PostgreSQL it waits for a
      // concurrent creator's commit, then does nothing), then read back whichever key is stored.
      // Never a catch-and-retry: a failed insert aborts the caller's PostgreSQL transaction.
      await tx
        .insertInto('data_keys')
        .values({ org_id: orgId, wrapped_key: wrapDataKey(this.masterKey, generateKey(), orgId), master_key_id: keyFingerprint(this.masterKey), created_at: this.now(), rotated_at: null })
        .onConflict((oc) => oc.column('org_id').doNothing())
        .execute();
      const stored = await tx.selectFrom('data_keys').selectAll().where('org_id', '=', orgId).executeTakeFirstOrThrow();
      key = unwrapDataKey(this.wrappingKey(stored.master_key_id), stored.wrapped_key, orgId);
    }
    return key;
  }

  private async load(db: Executor, orgId: string, kind: CredentialKind, name: string): Promise<CredentialRow> {
    const row = await db.selectFrom('credentials').selectAll().where('org_id', '=', orgId).where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound(`No ${kind === 'llm' ? 'LLM' : 'integration'} credential named '${name}'.`, 'name');
    return row;
  }

  /** Runs `fn` in `tx`, or in a transaction of its own followed by the change notice for (orgId, kind, name). */
  private async inTx<T>(tx: Tx | undefined, change: { orgId: string; kind: CredentialKind; name: string }, fn: (tx: Tx) => Promise<T>): Promise<T> {
    if (tx) return fn(tx);
    const out = await this.store.db.transaction().execute(fn);
    this.changed(change.orgId, change.kind, change.name);
    return out;
  }

  /** Decrypts inside `tx` and records why. */
  private async decrypt(tx: Tx, actor: Actor, row: CredentialRow, purpose: 'masked_read' | 'provider'): Promise<unknown> {
    const key = await this.dataKey(tx, row.org_id);
    const value = JSON.parse(open(key, row.ciphertext, aad(row.org_id, row.kind, row.name)).toString('utf8')) as unknown;
    await recordAudit(tx, actor, { orgId: row.org_id, type: 'credential.decrypted', targetType: 'credential', targetId: row.id, payload: { name: row.name, kind: row.kind, purpose } });
    return value;
  }

  private async view(tx: Tx, actor: Actor, row: CredentialRow): Promise<Credential> {
    return { name: row.name, kind: row.kind, platform: row.platform, value: maskSecrets(await this.decrypt(tx, actor, row, 'masked_read')), created_at: row.created_at, updated_at: row.updated_at };
  }

  /** Creates a credential; inside `tx` when given (so callers can make it part of a larger change). */
  async create(actor: Actor, orgId: string, kind: CredentialKind, input: { name: unknown; value: unknown; platform: string }, tx?: Tx): Promise<Credential> {
    requireOrgAdmin(actor, orgId);
    const name = checkName(input.name);
    const plaintext = checkValue(input.value);
    const now = this.now();
    return this.inTx(tx, { orgId, kind, name }, async (tx) => {
      const exists = await tx.selectFrom('credentials').select('id').where('org_id', '=', orgId).where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
      if (exists) throw invalid(`A credential named '${name}' already exists.`, 'name', 'already_exists');
      const key = await this.dataKey(tx, orgId);
      const row: CredentialRow = { id: newId(ID_PREFIX.credential, now), org_id: orgId, kind, name, platform: input.platform, ciphertext: seal(key, plaintext, aad(orgId, kind, name)), created_at: now, updated_at: now };
      await tx.insertInto('credentials').values(row).execute();
      await recordAudit(tx, actor, { orgId, type: 'credential.created', targetType: 'credential', targetId: row.id, payload: { name, kind } }, now);
      return { name, kind, platform: row.platform, value: maskSecrets(input.value), created_at: now, updated_at: now };
    });
  }

  /** Partial update: a new value and/or platform. */
  async update(actor: Actor, orgId: string, kind: CredentialKind, name: string, input: { value?: unknown; platform?: string }, tx?: Tx): Promise<Credential> {
    requireOrgAdmin(actor, orgId);
    const plaintext = input.value === undefined ? null : checkValue(input.value);
    return this.inTx(tx, { orgId, kind, name }, async (tx) => {
      const row = await this.load(tx, orgId, kind, name);
      const set: Partial<CredentialRow> = { updated_at: this.now() };
      if (plaintext) set.ciphertext = seal(await this.dataKey(tx, orgId), plaintext, aad(orgId, kind, name));
      else if (sealedVersion(row.ciphertext) < SEALED_VERSION) set.ciphertext = this.reseal(await this.dataKey(tx, orgId), row); // any write upgrades an old-format value
      if (input.platform !== undefined) set.platform = input.platform;
      await tx.updateTable('credentials').set(set).where('id', '=', row.id).execute();
      await recordAudit(tx, actor, { orgId, type: 'credential.updated', targetType: 'credential', targetId: row.id, payload: { name, kind, valueChanged: !!plaintext } });
      return this.view(tx, actor, { ...row, ...set });
    });
  }

  async get(actor: Actor, orgId: string, kind: CredentialKind, name: string): Promise<Credential> {
    requireOrgRead(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => this.view(tx, actor, await this.load(tx, orgId, kind, name)));
  }

  async list(actor: Actor, orgId: string, kind: CredentialKind): Promise<Credential[]> {
    requireOrgRead(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      const rows = await tx.selectFrom('credentials').selectAll().where('org_id', '=', orgId).where('kind', '=', kind).orderBy('created_at').orderBy('id').execute();
      const out: Credential[] = [];
      for (const r of rows) out.push(await this.view(tx, actor, r));
      return out;
    });
  }

  async delete(actor: Actor, orgId: string, kind: CredentialKind, name: string): Promise<void> {
    requireOrgAdmin(actor, orgId);
    await this.store.db.transaction().execute(async (tx) => {
      const row = await this.load(tx, orgId, kind, name);
      await tx.deleteFrom('credentials').where('id', '=', row.id).execute();
      await recordAudit(tx, actor, { orgId, type: 'credential.deleted', targetType: 'credential', targetId: row.id, payload: { name, kind } });
    });
    this.changed(orgId, kind, name);
  }

  /** The plaintext value, for calling the provider (the gateway). Audited as a provider decrypt. */
  async reveal(actor: Actor, orgId: string, kind: CredentialKind, name: string): Promise<unknown> {
    return this.store.db.transaction().execute(async (tx) => this.decrypt(tx, actor, await this.load(tx, orgId, kind, name), 'provider'));
  }

  /** Names of the organization's credentials of `kind` (no decrypt). */
  async names(orgId: string, kind: CredentialKind, db: Executor = this.store.db): Promise<string[]> {
    const rows = await db.selectFrom('credentials').select('name').where('org_id', '=', orgId).where('kind', '=', kind).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => r.name);
  }

  /** The same value sealed again in the current format under the same data key and context (no audit: the plaintext never leaves). */
  private reseal(key: Buffer, row: Pick<CredentialRow, 'org_id' | 'kind' | 'name' | 'ciphertext'>): string {
    const context = aad(row.org_id, row.kind, row.name);
    return seal(key, open(key, row.ciphertext, context), context);
  }

  /** Re-seals, inside `tx`, every credential value of the organization still in an older format. */
  private async resealOldValues(tx: Tx, orgId: string, key: Buffer): Promise<number> {
    // versioned values start with the marker; version 0 (plain base64) never does
    const rows = await tx.selectFrom('credentials').select(['id', 'org_id', 'kind', 'name', 'ciphertext']).where('org_id', '=', orgId).where('ciphertext', 'not like', `${VERSIONED_MARKER}%`).execute();
    let n = 0;
    for (const r of rows) {
      if (sealedVersion(r.ciphertext) >= SEALED_VERSION) continue;
      await tx.updateTable('credentials').set({ ciphertext: this.reseal(key, r) }).where('id', '=', r.id).execute();
      n++;
    }
    return n;
  }

  /** `rotateMasterKeyAndReseal`, answering only how many data keys were rewrapped. */
  async rotateMasterKey(next: Buffer): Promise<number> {
    return (await this.rotateMasterKeyAndReseal(next)).dataKeys;
  }

  /**
   * One transaction: rewraps every data key under `next` (in the current format), re-seals every
   * credential value still in an older format (under its unchanged data key) and drops the stored
   * idempotent answers (sealed under a key derived from the master key). Nothing sealed in an older
   * format remains once it commits; if it fails or is interrupted, nothing changed. On success this
   * service uses `next` from then on. `beforeCommit` runs inside the transaction once everything is
   * written (the CLI's crash test pauses there).
   */
  async rotateMasterKeyAndReseal(next: Buffer, beforeCommit?: () => Promise<void>): Promise<RotationResult> {
    const nextId = keyFingerprint(next);
    let valuesResealed = 0;
    let platformKey = false;
    const count = await this.store.db.transaction().execute(async (tx) => {
      valuesResealed = 0;
      const rows = await tx.selectFrom('data_keys').selectAll().execute();
      const now = this.now();
      for (const r of rows) {
        const key = unwrapDataKey(this.masterKey, r.wrapped_key, r.org_id); // throws on a wrong current key
        valuesResealed += await this.resealOldValues(tx, r.org_id, key);
        await tx.updateTable('data_keys').set({ wrapped_key: wrapDataKey(next, key, r.org_id), master_key_id: nextId, rotated_at: now }).where('org_id', '=', r.org_id).execute();
        await recordAudit(tx, { type: 'system' }, { orgId: r.org_id, type: 'vault.master_key_rotated', targetType: 'data_key', targetId: r.org_id, payload: { masterKeyId: nextId } }, now);
      }
      // the platform data key (the operator's default credentials) is rewrapped the same way
      platformKey = false;
      const platform = await tx.selectFrom('platform_data_key').selectAll().where('id', '=', 'platform').executeTakeFirst();
      if (platform) {
        const key = open(this.masterKey, platform.wrapped_key, PLATFORM_DATA_KEY_CONTEXT);
        await tx.updateTable('platform_data_key').set({ wrapped_key: seal(next, key, PLATFORM_DATA_KEY_CONTEXT), master_key_id: nextId, rotated_at: now }).where('id', '=', 'platform').execute();
        platformKey = true;
        await recordAudit(tx, { type: 'system' }, { orgId: 'platform', type: 'vault.master_key_rotated', targetType: 'platform_data_key', targetId: 'platform', payload: { masterKeyId: nextId } }, now);
      }
      // stored idempotent answers are sealed under a key derived from the master key: drop them
      await tx.deleteFrom('idempotency_records').execute();
      await beforeCommit?.();
      return rows.length;
    });
    this.masterKey = next;
    this.heldKeys.set(nextId, next);
    for (const l of this.listeners) l(null);
    return { dataKeys: count, valuesResealed, platformKey };
  }
}
