// Reads of the usage rollups (src/domain/usage-rollups.ts) for the Usage and Costs APIs: sums per
// bucket and per requested group over one page of buckets, from the rows of the bucket's width
// (minute rows for 1m, hour rows for 1h, day rows for 1d), so a query reads at most one row per
// bucket and distinct key, never the events.
import { PostgresAdapter, sql, type SelectQueryBuilder } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { Store } from '../store/db.ts';
import { ROLLUP_COUNTERS } from '../store/usage-writes.ts';
import type { UsageKind } from './usage-rollups.ts';

/** Dimensions a usage query can group by, as rollup columns. */
export const USAGE_DIMENSIONS = ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

export interface UsageFilter {
  orgId: string;
  /** Bucket width in seconds: 60, 3600 or 86400. */
  width: number;
  /** [from, to) in Unix seconds, aligned to `width`. */
  from: number;
  to: number;
  projectIds?: string[] | undefined;
  userIds?: string[] | undefined;
  apiKeyIds?: string[] | undefined;
  models?: string[] | undefined;
  batch?: boolean | undefined;
  /** Values of the `service_tier` column to keep (for images: the sizes). */
  tiers?: string[] | undefined;
}

export interface UsageSums {
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  images: number;
  characters: number;
  audio_ms: number;
  cost_input_nano_usd: number;
  cost_cached_input_nano_usd: number;
  cost_output_nano_usd: number;
}
/** Every counter of a rollup row, summed by a report: the columns the flush adds to. */
export const SUMS: ReadonlyArray<keyof UsageSums> = ROLLUP_COUNTERS;

/** One row of a report: a bucket, the grouped dimensions (absent ones undefined), the sums. */
export type UsageReportRow = { bucket: number } & Partial<Record<UsageDimension, string | number>> & UsageSums;

type Q = SelectQueryBuilder<Database, 'usage_rollups', object>;

function filtered(store: Pick<Store, 'db'>, f: UsageFilter, kinds: readonly UsageKind[]): Q {
  let q = store.db
    .selectFrom('usage_rollups')
    .where('org_id', '=', f.orgId)
    .where('width', '=', f.width)
    .where('kind', kinds.length === 1 ? '=' : 'in', kinds.length === 1 ? kinds[0]! : [...kinds])
    .where('bucket', '>=', f.from)
    .where('bucket', '<', f.to) as unknown as Q;
  if (f.projectIds) q = q.where('project_id', 'in', f.projectIds);
  if (f.userIds) q = q.where('user_id', 'in', f.userIds);
  if (f.apiKeyIds) q = q.where('api_key_id', 'in', f.apiKeyIds);
  if (f.models) q = q.where('model', 'in', f.models);
  if (f.batch !== undefined) q = q.where('batch', '=', f.batch ? 1 : 0);
  if (f.tiers) q = q.where('service_tier', 'in', f.tiers);
  return q;
}

/**
 * The sums of `kinds` per bucket and per distinct value of `groupBy` within [from, to), ordered by
 * bucket then group. Empty filter lists match nothing. Only the `sums` named are computed (the others are 0).
 */
export async function usageReport(store: Pick<Store, 'db'>, f: UsageFilter, kinds: readonly UsageKind[], groupBy: readonly UsageDimension[], sums: ReadonlyArray<keyof UsageSums> = SUMS): Promise<UsageReportRow[]> {
  for (const list of [f.projectIds, f.userIds, f.apiKeyIds, f.models, f.tiers]) if (list && list.length === 0) return [];
  const cols = ['bucket', ...groupBy] as const;
  const pg = store.db.getExecutor().adapter instanceof PostgresAdapter;
  let q = filtered(store, f, kinds)
    .select(cols as unknown as Array<'bucket'>)
    // PostgreSQL sums bigints as numeric: cast back (exact below 2^63); SQLite sums integers as integers
    .select(sums.map((c) => (pg ? sql<number>`cast(sum(${sql.ref(c)}) as bigint)` : sql<number>`sum(${sql.ref(c)})`).as(c)))
    .groupBy(cols as unknown as Array<'bucket'>);
  for (const c of cols) q = q.orderBy(c as 'bucket');
  const rows = (await q.execute()) as unknown as UsageReportRow[];
  for (const r of rows) {
    r.bucket = Number(r.bucket);
    for (const c of SUMS) r[c] = Number(r[c] ?? 0);
    if (r.batch !== undefined) r.batch = Number(r.batch);
  }
  return rows;
}
