// The operator's default provider credentials (the platform's own LLM keys, used by tenants that have
// the default LLM key or a free trial enabled). They belong to no organization: one platform data key
// (a single row, wrapped by the master key like every organization's data key) seals each value.
// Contexts (AAD) and rotation: src/crypto/README.md.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('platform_data_key')
    .addColumn('id', 'text', (c) => c.primaryKey()) // always 'platform': one row at most
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('rotated_at', 'bigint')
    .execute();
  await db.schema
    .createTable('platform_credentials')
    .addColumn('provider', 'text', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('platform_credentials').ifExists().execute();
  await db.schema.dropTable('platform_data_key').ifExists().execute();
}
