// The console's sign-in (src/domain/console-sessions.ts): users' password hashes (argon2id, never
// the password), console sessions keyed by the SHA-256 of the cookie secret (never the secret; the
// operator's session has no user and no organization), and the hash of an invite's sign-up link.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const s = db.schema;
  await s
    .createTable('user_passwords')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await s
    .createTable('console_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.references('organizations.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('console_sessions_user').on('console_sessions').columns(['user_id']).execute();
  await s.alterTable('invites').addColumn('token_hash', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('invites').dropColumn('token_hash').execute();
  await db.schema.dropTable('console_sessions').execute();
  await db.schema.dropTable('user_passwords').execute();
}
