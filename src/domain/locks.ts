// Serialising a rule a count decides ("at most 50 certificates per organization"): a count is no
// index, so two transactions that each count 49 would both insert. Each such transaction first
// writes the organization's row without changing it; the write is what serialises them:
// - PostgreSQL: the UPDATE takes the row's lock (FOR NO KEY UPDATE, which foreign-key checks of other
//   inserts do not wait for) until the transaction ends, so the second counter waits for the first
//   to commit and then counts its row (READ COMMITTED: each statement sees what committed before it);
// - SQLite: the write takes the database's write lock for the rest of the transaction (waiting up to
//   busy_timeout for another process's), before anything is read: a transaction that had read
//   first could no longer upgrade to a writer once another process committed.
// So call it as the transaction's first statement.
import { sql } from 'kysely';
import type { Tx } from '../store/db.ts';

export async function lockOrganization(tx: Tx, orgId: string): Promise<void> {
  await sql`update organizations set updated_at = updated_at where id = ${orgId}`.execute(tx);
}
