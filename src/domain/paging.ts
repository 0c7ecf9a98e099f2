// Keyset pagination over (created_at, id): a page costs the same at row 10 or row 10 million.
import type { SelectQueryBuilder } from 'kysely';
import type { Database } from '../store/schema.ts';
import { invalid } from './errors.ts';

export interface PageQuery {
  limit: number;
  /** Id of the last item of the previous page. */
  after?: string | undefined;
  order?: 'asc' | 'desc';
}

export interface Page<T> {
  items: T[];
  hasMore: boolean;
}

type PagedTable = { [K in keyof Database]: Database[K] extends { created_at: number } ? K : never }[keyof Database];

/**
 * Runs `q` (already filtered) one page at a time. The cursor row must be a row of `q` itself,
 * else the `after` parameter is invalid.
 */
export async function keysetPage<T extends PagedTable, O>(
  q: SelectQueryBuilder<Database, T, O>,
  table: T,
  page: PageQuery,
  /** The unique column that breaks ties and names the cursor (`id`, or `user_id` for memberships). */
  idColumn = 'id',
): Promise<Page<O>> {
  const order = page.order ?? 'asc';
  const cmp = order === 'asc' ? '>' : '<';
  // Kysely cannot type a column reference on a generic table; the shapes are checked by PagedTable.
  let query = q as unknown as SelectQueryBuilder<any, any, O>;
  if (page.after !== undefined) {
    // The cursor must be a row of this very listing (same organization, same filters).
    const cursor = await (q as any)
      .clearSelect()
      .select(`${table}.created_at as created_at`)
      .where(`${table}.${idColumn}`, '=', page.after)
      .executeTakeFirst();
    if (!cursor) throw invalid(`No such object to page after: '${page.after}'.`, 'after', 'invalid_cursor');
    const c = cursor.created_at as number;
    // A row-value comparison, (created_at, id) > (c, after), is a range on the (…, created_at, id)
    // index on both dialects; the equivalent OR form makes SQLite scan from the start of the range.
    query = query.where((eb: any) => eb(eb.refTuple(`${table}.created_at`, `${table}.${idColumn}`), cmp, eb.tuple(c, page.after)));
  }
  const rows = (await query
    .orderBy(`${table}.created_at`, order)
    .orderBy(`${table}.${idColumn}`, order)
    .limit(page.limit + 1)
    .execute()) as O[];
  const hasMore = rows.length > page.limit;
  return { items: hasMore ? rows.slice(0, page.limit) : rows, hasMore };
}
