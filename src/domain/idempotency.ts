// Idempotency-Key records: a retried create returns the first answer instead of creating twice.
// Stored answers may hold a secret shown once (a new key's value), so they are sealed with
// AES-256-GCM under a key derived from the master key, and kept for 24 hours. Answers are written once
// in the current sealed format (src/crypto/README.md) and read in any: one stored before format
// versions existed (version 0) still replays until it expires or a master-key rotation drops it.
//
// Requests with the same key that arrive together are serialised through the database, so on every
// node exactly one runs: a request first claims the key by inserting a pending row (status_code 0,
// no answer) that the primary key lets only one insert win. The others poll the row: once the answer
// is stored they replay it; after IDEMPOTENCY_WAIT_MS they give up with a conflict (the SDK retries
// 409s). A run that fails (5xx, or an answer that cannot be stored) releases its claim, so a retry
// runs again; a claim left by a node that died is taken over once older than IDEMPOTENCY_STALE_MS.
// A claim is identified by its created_at (the claim time): storing the answer or releasing only
// touches the pending row with that time, so a run whose claim was taken over changes nothing.
import { createHash, hkdfSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExpressionBuilder } from 'kysely';
import type { Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { isUniqueViolation } from '../store/db.ts';
import { open, seal } from '../crypto/envelope.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/** How long a request waits for a concurrent run with the same key before answering a conflict. */
export const IDEMPOTENCY_WAIT_MS = 10_000;
/** A pending claim this old belongs to a run that died (admin requests take well under a second). */
export const IDEMPOTENCY_STALE_MS = 60_000;
const POLL_MS = 20;

/** status_code of a claimed key whose answer is not stored yet. */
const PENDING = 0;

/** The pending row of one claim (a claim taken over since has another `created_at`). */
const pendingClaim =
  (orgId: string, keyId: string, idemKey: string, claimedAt: number) =>
  (eb: ExpressionBuilder<Database, 'idempotency_records'>) =>
    eb.and([eb('org_id', '=', orgId), eb('key_id', '=', keyId), eb('idempotency_key', '=', idemKey), eb('created_at', '=', claimedAt), eb('status_code', '=', PENDING)]);

export interface StoredAnswer {
  status: number;
  body: string;
}

/** What a stored answer is bound to: the organization, the key that sent the request and its Idempotency-Key. */
const context = (orgId: string, keyId: string, idemKey: string) => `${orgId}:${keyId}:${idemKey}`;

export type Replay = { kind: 'replay'; answer: StoredAnswer } | { kind: 'mismatch' } | { kind: 'pending'; claimedAt: number } | { kind: 'new' };

/**
 * The outcome of claiming a key: run the request (and then `save` or `release` with `claimedAt`),
 * replay the stored answer, refuse a different request under the same key, or (`busy`) answer a
 * conflict: a concurrent run did not finish within the wait.
 */
export type Claim = { kind: 'claimed'; claimedAt: number } | { kind: 'replay'; answer: StoredAnswer } | { kind: 'mismatch' } | { kind: 'busy' };

export class IdempotencyService {
  private readonly key: Buffer;

  constructor(
    private readonly store: Store,
    masterKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'keyplane idempotency records', 32));
  }

  static requestHash(method: string, url: string, body: unknown): string {
    return createHash('sha256').update(`${method} ${url}\n${JSON.stringify(body ?? null)}`).digest('hex');
  }

  private row(orgId: string, keyId: string, idemKey: string) {
    return this.store.db
      .selectFrom('idempotency_records')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idemKey)
      .executeTakeFirst();
  }

  async lookup(orgId: string, keyId: string, idemKey: string, requestHash: string): Promise<Replay> {
    const r = await this.row(orgId, keyId, idemKey);
    if (!r || r.created_at <= this.now() - IDEMPOTENCY_TTL_MS) return { kind: 'new' };
    if (r.request_hash !== requestHash) return { kind: 'mismatch' };
    if (r.status_code === PENDING) return { kind: 'pending', claimedAt: r.created_at };
    const body = open(this.key, r.response_body, context(orgId, keyId, idemKey)).toString('utf8');
    return { kind: 'replay', answer: { status: r.status_code, body } };
  }

  /** Claims the key for this request, or waits (up to `waitMs`) for the answer of the run that holds it. */
  async claim(orgId: string, keyId: string, idemKey: string, requestHash: string, waitMs = IDEMPOTENCY_WAIT_MS): Promise<Claim> {
    const db = this.store.db;
    const pk = { org_id: orgId, key_id: keyId, idempotency_key: idemKey };
    const deadline = Date.now() + waitMs; // real time, whatever clock stamps the records
    for (;;) {
      const now = this.now();
      const r = await this.row(orgId, keyId, idemKey);
      if (!r) {
        const inserted = await db
          .insertInto('idempotency_records')
          .values({ ...pk, request_hash: requestHash, status_code: PENDING, response_body: '', created_at: now })
          .onConflict((oc) => oc.columns(['org_id', 'key_id', 'idempotency_key']).doNothing())
          .executeTakeFirst();
        if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return { kind: 'claimed', claimedAt: now };
        continue; // a concurrent request claimed it first: read its row
      }
      if (r.created_at <= now - IDEMPOTENCY_TTL_MS) {
        // an expired record: its key is free again (only this very row is removed; a racing claimer's new one stays)
        await db.deleteFrom('idempotency_records').where('org_id', '=', orgId).where('key_id', '=', keyId).where('idempotency_key', '=', idemKey).where('created_at', '=', r.created_at).execute();
        continue;
      }
      if (r.request_hash !== requestHash) return { kind: 'mismatch' };
      if (r.status_code !== PENDING) {
        const body = open(this.key, r.response_body, context(orgId, keyId, idemKey)).toString('utf8');
        return { kind: 'replay', answer: { status: r.status_code, body } };
      }
      if (r.created_at <= now - IDEMPOTENCY_STALE_MS) {
        // the run that claimed it died: take the claim over (only one of several waiters does)
        const taken = await db
          .updateTable('idempotency_records')
          .set({ created_at: now })
          .where('org_id', '=', orgId)
          .where('key_id', '=', keyId)
          .where('idempotency_key', '=', idemKey)
          .where('created_at', '=', r.created_at)
          .where('status_code', '=', PENDING)
          .executeTakeFirst();
        if (Number(taken.numUpdatedRows) === 1) return { kind: 'claimed', claimedAt: now };
        continue;
      }
      if (Date.now() >= deadline) return { kind: 'busy' };
      await sleep(POLL_MS);
    }
  }

  /**
   * Stores the answer. With `claimedAt` (the run of a claim) it completes that pending row, and
   * stores nothing if the claim was taken over or dropped meanwhile; without it, inserts the record
   * unless a concurrent duplicate saved first.
   */
  async save(orgId: string, keyId: string, idemKey: string, requestHash: string, answer: StoredAnswer, claimedAt?: number): Promise<void> {
    const now = this.now();
    await this.store.db.deleteFrom('idempotency_records').where('created_at', '<=', now - IDEMPOTENCY_TTL_MS).execute();
    const sealed = seal(this.key, Buffer.from(answer.body, 'utf8'), context(orgId, keyId, idemKey));
    if (claimedAt !== undefined) {
      await this.store.db
        .updateTable('idempotency_records')
        .set({ status_code: answer.status, response_body: sealed })
        .where(pendingClaim(orgId, keyId, idemKey, claimedAt))
        .execute();
      return;
    }
    try {
      await this.store.db
        .insertInto('idempotency_records')
        .values({ org_id: orgId, key_id: keyId, idempotency_key: idemKey, request_hash: requestHash, status_code: answer.status, response_body: sealed, created_at: now })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err; // a concurrent duplicate saved first: keep its answer
    }
  }

  /** Gives up a claim whose run produced no answer to replay: the next request with the key runs. */
  async release(orgId: string, keyId: string, idemKey: string, claimedAt: number): Promise<void> {
    await this.store.db
      .deleteFrom('idempotency_records')
      .where(pendingClaim(orgId, keyId, idemKey, claimedAt))
      .execute();
  }
}
