// Usage rollups behind the Usage and Costs APIs (src/domain/usage-rollups.ts): per-minute, per-hour
// and per-day aggregates of the gateway's usage, written by its batched flush in the same transaction
// as the events and `usage_daily`. One table, `width` telling the granularity (60, 3600 or 86400
// seconds); `bucket` is the bucket's start in Unix seconds, aligned to UTC.
//
// Key: (org, width, kind, bucket, project, user = the key owner's user id, api key, model, batch,
// service tier). Dimensions that can be absent hold '' (text) so the primary key works on both
// dialects (NULLs are never equal in a key). Counters are bigints; money is integer nano-USD per line
// item (input, cached input, output) as priced when the request was made: history is never repriced.
//
// The events gain what the rollups need from them: the service tier, whether it was a batch request
// (always 0 for the gateway today) and the characters of a speech request's input.
import { PostgresAdapter, sql, type Kysely } from 'kysely';

export const COUNTERS = [
  'requests',
  'input_tokens',
  'cached_input_tokens',
  'output_tokens',
  'images',
  'characters',
  'audio_ms',
  'cost_input_nano_usd',
  'cost_cached_input_nano_usd',
  'cost_output_nano_usd',
] as const;

export async function up(db: Kysely<any>): Promise<void> {
  let t = db.schema
    .createTable('usage_rollups')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('bucket', 'bigint', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('api_key_id', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('batch', 'integer', (c) => c.notNull())
    .addColumn('service_tier', 'text', (c) => c.notNull());
  for (const c of COUNTERS) t = t.addColumn(c, 'bigint', (b) => b.notNull().defaultTo(0));
  t = t.addPrimaryKeyConstraint('usage_rollups_pk', ['org_id', 'width', 'kind', 'bucket', 'project_id', 'model', 'user_id', 'api_key_id', 'batch', 'service_tier']);
  // SQLite: the rows live in the primary key's B-tree (no rowid table beside it): one B-tree less to
  // write per upsert, and a bucket range is read in key order without a lookup per row
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) t = t.modifyEnd(sql`without rowid`);
  await t.execute();
  // PostgreSQL: room in each page for the new version of an updated row, so that adding to a row's
  // counters (no indexed column changes) is a HOT update that writes no index entry
  // (usage_daily is added to the same way; pages written from now on keep the room)
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`alter table usage_rollups set (fillfactor = 70)`.execute(db);
    await sql`alter table usage_daily set (fillfactor = 70)`.execute(db);
  }
  // one project's usage over a time range (the Usage API's project_ids filter)
  await db.schema.createIndex('usage_rollups_project').on('usage_rollups').columns(['org_id', 'width', 'kind', 'project_id', 'bucket']).execute();

  await db.schema.alterTable('usage_events').addColumn('service_tier', 'text').execute();
  await db.schema.alterTable('usage_events').addColumn('batch', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('usage_events').addColumn('characters', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('usage_events').dropColumn('characters').execute();
  await db.schema.alterTable('usage_events').dropColumn('batch').execute();
  await db.schema.alterTable('usage_events').dropColumn('service_tier').execute();
  await db.schema.dropTable('usage_rollups').ifExists().execute();
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`alter table usage_daily reset (fillfactor)`.execute(db);
}
