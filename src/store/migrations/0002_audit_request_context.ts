// Audit rows record where a change came from when it came over HTTP: the request id the server
// answered with (`x-request-id`), the client's address and its user agent. Nullable: rows written
// by keyplane itself (bootstrap, CLI) and every row written before this migration have none.
// One ADD COLUMN per statement: SQLite accepts no more, PostgreSQL does the same.
import type { Kysely } from 'kysely';

const COLUMNS = ['request_id', 'client_ip', 'user_agent'] as const;

export async function up(db: Kysely<any>): Promise<void> {
  for (const c of COLUMNS) await db.schema.alterTable('audit_logs').addColumn(c, 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const c of [...COLUMNS].reverse()) await db.schema.alterTable('audit_logs').dropColumn(c).execute();
}
