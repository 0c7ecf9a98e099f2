// What the gateway records about each metered request (src/domain/usage-recorder.ts), beyond the
// tokens of 0001: who owns the key, which upstream model and provider served it with whose
// credential, the endpoint, cached input tokens, images, audio, the cost, the answer's status, the
// latency and whether it streamed. The daily rollups gain cached input tokens, the cost and the
// count of failed (non-2xx) requests.
//
// Units: counters are bigints; audio duration is `audio_ms`, integer milliseconds (exact sums on
// both dialects, like every other counter; the recorder takes seconds and rounds); cost is
// `cost_nano_usd`, integer billionths of a US dollar, so sums are exact. Every new column is
// nullable or has a default, so rows written before (and by UsageService.record) stay valid:
// status, latency_ms and stream are null on those, the counters 0.
// One ADD COLUMN per statement: SQLite accepts no more, PostgreSQL does the same.
import type { ColumnDataType, Kysely } from 'kysely';

interface Col {
  name: string;
  type: ColumnDataType;
  /** A counter: NOT NULL DEFAULT 0. Otherwise nullable without default. */
  counter?: true;
}

const EVENT_COLUMNS: Col[] = [
  { name: 'key_owner_type', type: 'text' }, // 'user' | 'service_account'
  { name: 'key_owner_id', type: 'text' },
  { name: 'served_model', type: 'text' },
  { name: 'provider', type: 'text' },
  { name: 'credential_source', type: 'text' }, // 'tenant' | 'platform_default' | 'free_trial'
  { name: 'endpoint', type: 'text' }, // e.g. 'chat.completions'
  { name: 'cached_input_tokens', type: 'bigint', counter: true },
  { name: 'images', type: 'bigint', counter: true },
  { name: 'audio_ms', type: 'bigint', counter: true },
  { name: 'audio_bytes', type: 'bigint', counter: true },
  { name: 'cost_nano_usd', type: 'bigint', counter: true },
  { name: 'status', type: 'integer' }, // the HTTP status answered
  { name: 'latency_ms', type: 'integer' },
  { name: 'stream', type: 'integer' }, // 0/1
];

const DAILY_COLUMNS: Col[] = [
  { name: 'cached_input_tokens', type: 'bigint', counter: true },
  { name: 'cost_nano_usd', type: 'bigint', counter: true },
  { name: 'errors', type: 'bigint', counter: true }, // requests answered with a non-2xx status
];

async function add(db: Kysely<any>, table: string, cols: Col[]): Promise<void> {
  for (const c of cols) {
    await db.schema
      .alterTable(table)
      .addColumn(c.name, c.type, (b) => (c.counter ? b.notNull().defaultTo(0) : b))
      .execute();
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await add(db, 'usage_events', EVENT_COLUMNS);
  await add(db, 'usage_daily', DAILY_COLUMNS);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const c of [...DAILY_COLUMNS].reverse()) await db.schema.alterTable('usage_daily').dropColumn(c.name).execute();
  for (const c of [...EVENT_COLUMNS].reverse()) await db.schema.alterTable('usage_events').dropColumn(c.name).execute();
}
