// Organizations the operator disabled (`keyplane orgs disable`): null = enabled; otherwise when it
// was disabled (epoch ms). A disabled organization's keys authenticate nowhere (src/domain/keys.ts).
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').addColumn('disabled_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').dropColumn('disabled_at').execute();
}
