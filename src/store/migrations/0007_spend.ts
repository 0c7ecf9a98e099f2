// Spend limits and spend alerts (issue 8, the `spend` part):
// - spend_limits: one hard monthly limit per organization (project_id '') or per project, in cents
//   (OpenAI's `threshold_amount`); the gateway refuses traffic once the month's spend reaches it;
// - spend_alerts: alert thresholds (cents) per organization (project_id '') or project, with the
//   notification channel as given (recipients as a JSON array);
// - spend_alert_firings: one row per alert and period ('YYYY-MM', UTC) once it fired: the primary key
//   is what makes an alert fire once per period across every node (an INSERT that conflicts did not fire).
// Dialect-neutral: text ids, bigint amounts and epoch-ms timestamps, '' for "no project".
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('spend_limits')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('threshold_cents', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('interval', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('spend_limits_pk', ['org_id', 'project_id'])
    .execute();

  await db.schema
    .createTable('spend_alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('threshold_cents', 'bigint', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('interval', 'text', (c) => c.notNull())
    .addColumn('channel_type', 'text', (c) => c.notNull())
    .addColumn('recipients', 'text', (c) => c.notNull()) // JSON array of strings
    .addColumn('subject_prefix', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('spend_alerts_scope').on('spend_alerts').columns(['org_id', 'project_id', 'created_at', 'id']).execute();

  await db.schema
    .createTable('spend_alert_firings')
    .addColumn('alert_id', 'text', (c) => c.notNull())
    .addColumn('period', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('spend_nano_usd', 'bigint', (c) => c.notNull())
    .addColumn('fired_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('spend_alert_firings_pk', ['alert_id', 'period'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('spend_alert_firings').execute();
  await db.schema.dropTable('spend_alerts').execute();
  await db.schema.dropTable('spend_limits').execute();
}
