// Idempotency-Key records: a retried create returns the first answer instead of creating twice.
// Stored answers may hold a secret shown once (a new key's value), so they are sealed with
// AES-256-GCM under a key derived from the master key, and kept for 24 hours. Answers are written once
// in the current sealed format (src/crypto/README.md) and read in any: one stored before format
// versions existed (version 0) still replays until it expires or a master-key rotation drops it.
import { createHash, hkdfSync } from 'node:crypto';
import type { Store } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import { open, seal } from '../crypto/envelope.ts';

export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

export interface StoredAnswer {
  status: number;
  body: string;
}

/** What a stored answer is bound to: the organization, the key that sent the request and its Idempotency-Key. */
const context = (orgId: string, keyId: string, idemKey: string) => `${orgId}:${keyId}:${idemKey}`;

export type Replay = { kind: 'replay'; answer: StoredAnswer } | { kind: 'mismatch' } | { kind: 'new' };

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

  async lookup(orgId: string, keyId: string, idemKey: string, requestHash: string): Promise<Replay> {
    const r = await this.store.db
      .selectFrom('idempotency_records')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idemKey)
      .where('created_at', '>', this.now() - IDEMPOTENCY_TTL_MS)
      .executeTakeFirst();
    if (!r) return { kind: 'new' };
    if (r.request_hash !== requestHash) return { kind: 'mismatch' };
    const body = open(this.key, r.response_body, context(orgId, keyId, idemKey)).toString('utf8');
    return { kind: 'replay', answer: { status: r.status_code, body } };
  }

  async save(orgId: string, keyId: string, idemKey: string, requestHash: string, answer: StoredAnswer): Promise<void> {
    const now = this.now();
    await this.store.db.deleteFrom('idempotency_records').where('created_at', '<=', now - IDEMPOTENCY_TTL_MS).execute();
    try {
      await this.store.db
        .insertInto('idempotency_records')
        .values({ org_id: orgId, key_id: keyId, idempotency_key: idemKey, request_hash: requestHash, status_code: answer.status, response_body: seal(this.key, Buffer.from(answer.body, 'utf8'), context(orgId, keyId, idemKey)), created_at: now })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err; // a concurrent duplicate saved first: keep its answer
    }
  }
}
