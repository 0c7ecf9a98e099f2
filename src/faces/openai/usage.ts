// /v1/organization/usage/{completions, embeddings, moderations, images, audio_speeches,
// audio_transcriptions, vector_stores, code_interpreter_sessions, file_search_calls,
// web_search_calls, decisions}: the Usage API, read from the gateway's usage rollups
// (src/domain/usage-report.ts). Also the query handling the Costs API (./costs.ts) shares: time
// range, bucket width, limit, page cursor and array parameters.
//
// Wire rules (openai-admin-api.md §4 "Usage & costs", gateway.md §3):
// - `start_time` (Unix s) required; `end_time` exclusive, default now; buckets aligned to UTC
//   boundaries of `bucket_width` (the first starts at or before start_time, and a bucket counts its
//   whole width), one per interval including empty ones (`results: []`), `limit` per page;
// - arrays as `x[]=a`, as repeated `x=a&x=b`, or comma-joined `x=a,b`;
// - ungrouped results carry every group field of the endpoint as null;
// - `page` is an opaque base64 cursor (the next bucket's start); `next_page` null on the last page.
// Endpoints without a source in keyplane (vector stores, code interpreter, file search, web search,
// decisions) validate the same query and answer empty buckets.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { invalid } from '../../domain/errors.ts';
import { usageReport, type UsageDimension, type UsageReportRow, type UsageSums } from '../../domain/usage-report.ts';
import { WIDTHS, type UsageKind } from '../../domain/usage-rollups.ts';
import * as R from '../shared/openai-responses.ts';

type Query = Record<string, string | string[] | undefined>;

/** Default and largest `limit` per bucket width (the reference's numbers). */
export const USAGE_LIMITS = { '1m': { def: 60, max: 1440 }, '1h': { def: 24, max: 168 }, '1d': { def: 7, max: 31 } } as const;
const MAX_SECONDS = 100_000_000_000;
const MAX_LIST = 1000;

/** A query parameter given at most once. */
export function scalar(q: Query, name: string): string | undefined {
  const v = q[name];
  if (Array.isArray(v)) throw invalid(`'${name}' may be given only once.`, name, 'invalid_value');
  return v === undefined || v === '' ? undefined : v;
}

/**
 * An array parameter in any of its encodings (`x[]=a`, `x=a&x=b`, and unless `split` is false
 * `x=a,b`); undefined when absent.
 */
export function list(q: Query, name: string, allowed?: readonly string[], split = true): string[] | undefined {
  const raw = [q[name], q[`${name}[]`]].flat().filter((v): v is string => typeof v === 'string');
  if (!raw.length) return undefined;
  const out = [...new Set(raw.flatMap((v) => (split ? v.split(',') : [v])).map((v) => v.trim()).filter((v) => v !== ''))];
  if (out.length > MAX_LIST) throw invalid(`'${name}' may hold at most ${MAX_LIST} values.`, name, 'invalid_value');
  for (const v of out) {
    if (v.length > 255) throw invalid(`'${name}' values are at most 255 characters.`, name, 'invalid_value');
    if (allowed && !allowed.includes(v)) throw invalid(`Invalid value '${v.slice(0, 60)}' for '${name}': expected one of ${allowed.join(', ')}.`, name, 'invalid_value');
  }
  return out;
}

function integer(q: Query, name: string, min: number, max: number): number | undefined {
  const v = scalar(q, name);
  if (v === undefined) return undefined;
  if (!/^-?\d{1,15}$/.test(v.trim()) || Number(v) < min || Number(v) > max) {
    throw invalid(`Invalid '${name}': expected an integer from ${min} to ${max}, got '${v.slice(0, 40)}'.`, name, 'invalid_value');
  }
  return Number(v);
}

function bool(q: Query, name: string): boolean | undefined {
  const v = scalar(q, name);
  if (v === undefined) return undefined;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalid(`Invalid '${name}': expected true or false.`, name, 'invalid_value');
}

const encodeCursor = (bucket: number): string => Buffer.from(`keyplane-usage:${bucket}`).toString('base64');
function decodeCursor(page: string): number | null {
  if (!/^[A-Za-z0-9+/_-]{1,64}={0,2}$/.test(page)) return null;
  const m = /^keyplane-usage:(\d{1,12})$/.exec(Buffer.from(page, 'base64').toString('latin1'));
  return m ? Number(m[1]) : null;
}

/** The time window of one page of buckets. */
export interface Window {
  width: number;
  /** Bucket starts of this page, in order. */
  buckets: number[];
  /** [from, to) of this page's buckets. */
  from: number;
  to: number;
  nextPage: string | null;
}

/**
 * Reads start_time, end_time, bucket_width, limit and page, and returns this page's buckets.
 * `now` (Unix s) is the default end_time.
 */
export function windowOf(q: Query, widths: readonly string[], limits: Record<string, { def: number; max: number }>, now: number): Window {
  const startRaw = scalar(q, 'start_time');
  if (startRaw === undefined) throw invalid("Missing required parameter: 'start_time'.", 'start_time', 'missing_required_parameter');
  const start = integer(q, 'start_time', 0, MAX_SECONDS)!;
  const end = integer(q, 'end_time', 1, MAX_SECONDS) ?? Math.max(now, start + 1);
  if (end <= start) throw invalid("'end_time' must be after 'start_time'.", 'end_time', 'invalid_value');
  const bw = scalar(q, 'bucket_width') ?? '1d';
  if (!widths.includes(bw)) throw invalid(`Invalid 'bucket_width': expected one of ${widths.join(', ')}, got '${bw.slice(0, 20)}'.`, 'bucket_width', 'invalid_value');
  const { def, max } = limits[bw]!;
  const limit = integer(q, 'limit', 1, max) ?? def;
  const width = WIDTHS[bw as keyof typeof WIDTHS];
  const first = start - (start % width);
  let from = first;
  const page = scalar(q, 'page');
  if (page !== undefined) {
    const b = decodeCursor(page);
    if (b === null || b % width !== 0 || b < first || b >= end) throw invalid("Invalid 'page': not a cursor of this query.", 'page', 'invalid_value');
    from = b;
  }
  const buckets: number[] = [];
  let b = from;
  for (; b < end && buckets.length < limit; b += width) buckets.push(b);
  return { width, buckets, from, to: from + buckets.length * width, nextPage: b < end ? encodeCursor(b) : null };
}

/** The page envelope: one bucket per window bucket, with its results. */
export function pageOf<R>(w: Window, resultsOf: (bucket: number) => R[]) {
  return {
    object: 'page' as const,
    data: w.buckets.map((b) => ({ object: 'bucket' as const, start_time: b, end_time: b + w.width, results: resultsOf(b) })),
    has_more: w.nextPage !== null,
    next_page: w.nextPage,
  };
}

/** Groups report rows by bucket. */
export function byBucket<T extends { bucket: number }>(rows: T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const r of rows) {
    const xs = m.get(r.bucket);
    if (xs) xs.push(r);
    else m.set(r.bucket, [r]);
  }
  return m;
}

/** A stored dimension as the wire shows it: '' (none) is null. */
export const shown = (v: string | number | undefined): string | null => (v === undefined || v === '' ? null : String(v));

interface UsageEndpoint {
  kind: UsageKind | null;
  object: string;
  /** group_by values accepted. */
  groupBy: readonly string[];
  /** Group fields every result carries (null when not grouped). */
  fields: readonly string[];
  /** Array filters accepted besides project_ids (and their allowed values, if fixed). */
  filters: Record<string, readonly string[] | null>;
  batch?: true;
  /** The sums its counters read. */
  sums: ReadonlyArray<keyof UsageSums>;
  counters(s: UsageSums | null): Record<string, number>;
}

const PEOPLE = ['project_id', 'user_id', 'api_key_id', 'model'] as const;
const COMMON_FILTERS = { user_ids: null, api_key_ids: null, models: null } as const;
const zero = (s: UsageSums | null) => s ?? ({ requests: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, images: 0, characters: 0, audio_ms: 0 } as UsageSums);
const tokenCounters = (s: UsageSums | null) => ({ input_tokens: zero(s).input_tokens, num_model_requests: zero(s).requests });
const IMAGE_SOURCES = ['image.generation', 'image.edit', 'image.variation'] as const;
const IMAGE_SIZES = ['256x256', '512x512', '1024x1024', '1792x1792', '1024x1792'] as const;

const ENDPOINTS: Record<string, UsageEndpoint> = {
  completions: {
    kind: 'completions',
    object: 'organization.usage.completions.result',
    groupBy: [...PEOPLE, 'batch', 'service_tier', 'api_source'],
    fields: [...PEOPLE, 'batch', 'service_tier'],
    filters: COMMON_FILTERS,
    batch: true,
    sums: ['requests', 'input_tokens', 'cached_input_tokens', 'output_tokens'],
    counters: (x) => {
      const s = zero(x);
      return {
        input_tokens: s.input_tokens,
        output_tokens: s.output_tokens,
        input_cached_tokens: s.cached_input_tokens,
        input_uncached_tokens: Math.max(0, s.input_tokens - s.cached_input_tokens),
        num_model_requests: s.requests,
      };
    },
  },
  embeddings: { kind: 'embeddings', object: 'organization.usage.embeddings.result', groupBy: PEOPLE, fields: PEOPLE, filters: COMMON_FILTERS, sums: ['requests', 'input_tokens'], counters: tokenCounters },
  moderations: { kind: 'moderations', object: 'organization.usage.moderations.result', groupBy: PEOPLE, fields: PEOPLE, filters: COMMON_FILTERS, sums: ['requests', 'input_tokens'], counters: tokenCounters },
  images: {
    kind: 'images',
    object: 'organization.usage.images.result',
    groupBy: [...PEOPLE, 'size', 'source'],
    fields: [...PEOPLE, 'size', 'source'],
    filters: { ...COMMON_FILTERS, sources: IMAGE_SOURCES, sizes: IMAGE_SIZES },
    sums: ['requests', 'images'],
    counters: (s) => ({ images: zero(s).images, num_model_requests: zero(s).requests }),
  },
  audio_speeches: {
    kind: 'audio_speeches',
    object: 'organization.usage.audio_speeches.result',
    groupBy: PEOPLE,
    fields: PEOPLE,
    filters: COMMON_FILTERS,
    sums: ['requests', 'characters'],
    counters: (s) => ({ characters: zero(s).characters, num_model_requests: zero(s).requests }),
  },
  audio_transcriptions: {
    kind: 'audio_transcriptions',
    object: 'organization.usage.audio_transcriptions.result',
    groupBy: PEOPLE,
    fields: PEOPLE,
    filters: COMMON_FILTERS,
    sums: ['requests', 'audio_ms'],
    counters: (s) => ({ seconds: Math.round(zero(s).audio_ms / 1000), num_model_requests: zero(s).requests }),
  },
  vector_stores: { kind: null, object: 'organization.usage.vector_stores.result', groupBy: ['project_id'], fields: ['project_id'], filters: {}, sums: [], counters: () => ({ usage_bytes: 0 }) },
  code_interpreter_sessions: { kind: null, object: 'organization.usage.code_interpreter_sessions.result', groupBy: ['project_id'], fields: ['project_id'], filters: {}, sums: [], counters: () => ({ num_sessions: 0 }) },
  file_search_calls: {
    kind: null,
    object: 'organization.usage.file_searches.result',
    groupBy: ['project_id', 'user_id', 'api_key_id', 'vector_store_id'],
    fields: ['project_id', 'user_id', 'api_key_id', 'vector_store_id'],
    filters: { user_ids: null, api_key_ids: null, vector_store_ids: null },
    sums: [],
    counters: () => ({ num_requests: 0 }),
  },
  web_search_calls: {
    kind: null,
    object: 'organization.usage.web_searches.result',
    groupBy: [...PEOPLE, 'context_level', 'api_source'],
    fields: [...PEOPLE, 'context_level'],
    filters: { ...COMMON_FILTERS, context_levels: ['low', 'medium', 'high'] },
    sums: [],
    counters: () => ({ num_model_requests: 0, num_requests: 0 }),
  },
  decisions: {
    kind: null,
    object: 'organization.usage.decisions.result',
    groupBy: [...PEOPLE, 'batch', 'service_tier', 'api_source'],
    fields: [...PEOPLE, 'batch', 'service_tier'],
    filters: COMMON_FILTERS,
    batch: true,
    sums: [],
    counters: () => ({ input_tokens: 0, output_tokens: 0, num_model_requests: 0 }),
  },
};

/** The wire field → rollup column of a group (images keep their size in `service_tier`). */
const COLUMN_OF: Record<string, UsageDimension> = {
  project_id: 'project_id',
  user_id: 'user_id',
  api_key_id: 'api_key_id',
  model: 'model',
  batch: 'batch',
  service_tier: 'service_tier',
  size: 'service_tier',
};

async function usagePage(core: Core, req: FastifyRequest, ep: UsageEndpoint) {
  const q = req.query as Query;
  const w = windowOf(q, ['1m', '1h', '1d'], USAGE_LIMITS, Math.floor(Date.now() / 1000));
  const groupBy = list(q, 'group_by', ep.groupBy) ?? [];
  const projectIds = list(q, 'project_ids');
  const filters: Record<string, string[] | undefined> = {};
  for (const [name, allowed] of Object.entries(ep.filters)) filters[name] = list(q, name, allowed ?? undefined);
  const batch = ep.batch ? bool(q, 'batch') : undefined;
  if (!ep.kind || !w.buckets.length) return pageOf(w, () => []);

  // images: one source (the gateway serves generations only); sizes live in the service_tier column
  const sources = filters.sources;
  if (sources && !sources.includes('image.generation')) return pageOf(w, () => []);
  const columns = [...new Set(groupBy.filter((g) => COLUMN_OF[g]).map((g) => COLUMN_OF[g]!))];
  const rows = await usageReport(
    core.store,
    { orgId: req.org.id, width: w.width, from: w.from, to: w.to, projectIds, userIds: filters.user_ids, apiKeyIds: filters.api_key_ids, models: filters.models, batch, tiers: filters.sizes },
    [ep.kind],
    columns,
    ep.sums,
  );
  const buckets = byBucket(rows);
  const grouped = new Set(groupBy);
  const valueOf = (r: UsageReportRow, field: string): string | boolean | null => {
    if (!grouped.has(field)) return null;
    if (field === 'batch') return r.batch === 1;
    if (field === 'source') return 'image.generation';
    if (field === 'api_source') return 'unlabeled';
    return shown(r[COLUMN_OF[field]!]);
  };
  return pageOf(w, (b) =>
    (buckets.get(b) ?? []).map((r) => {
      const out: Record<string, unknown> = { object: ep.object, ...ep.counters(r) };
      for (const f of ep.fields) out[f] = valueOf(r, f);
      if (grouped.has('api_source')) out.api_source = 'unlabeled';
      return out;
    }),
  );
}

export const usageRoutes: FastifyPluginAsync<{ core: Core }> = async (app, { core }) => {
  for (const [name, ep] of Object.entries(ENDPOINTS)) {
    app.get(`/organization/usage/${name}`, { schema: { response: R.ok(R.BucketPage(R.UsageResult)) } }, async (req) => usagePage(core, req, ep));
  }
};
