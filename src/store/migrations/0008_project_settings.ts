// Project settings the gateway enforces or the admin API shows (src/domain/project-settings.ts): one
// row per project that has any setting (no row: every default), and the organization's data
// retention setting (no row: the default). Dialect-neutral: text ids, integer booleans, bigint times;
// lists (model ids, enabled service tiers) are JSON in text columns.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('project_settings')
    .addColumn('project_id', 'text', (c) => c.primaryKey().references('projects.id'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    // model permissions: null mode = none set (every model allowed)
    .addColumn('model_mode', 'text')
    .addColumn('model_ids', 'text')
    // hosted tool permissions (1 = enabled)
    .addColumn('tool_file_search', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('tool_web_search', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('tool_image_generation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('tool_mcp', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('tool_code_interpreter', 'integer', (c) => c.notNull().defaultTo(1))
    // service tier settings
    .addColumn('tier_default', 'text', (c) => c.notNull().defaultTo('standard'))
    .addColumn('tier_enabled', 'text', (c) => c.notNull().defaultTo('"all"'))
    // data retention
    .addColumn('data_retention', 'text', (c) => c.notNull().defaultTo('organization_default'))
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('organization_data_retention')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id'))
    .addColumn('retention_type', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('organization_data_retention').ifExists().execute();
  await db.schema.dropTable('project_settings').ifExists().execute();
}
