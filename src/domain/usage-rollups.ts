// The usage rollups behind the Usage and Costs APIs: what kind of usage each gateway endpoint is, how
// a flush's events are summed into per-minute, per-hour and per-day rows (written in the flush's own
// transaction, src/domain/usage-recorder.ts), and the compaction of old per-minute rows.
//
// A rollup row's key: (org, width, kind, bucket start, project, user, api key, model, batch, service
// tier). `user` is the key owner's user id (OpenAI's `user_id` is an organization user), never the
// request's `user` field; '' for service-account keys. Absent dimensions are '' (see 0006). Money is
// integer nano-USD per line item, as priced when the request was made. Images have no service tier:
// their rows keep the requested image size in the `service_tier` column (the Usage API's `size`).
import type { Store } from '../store/db.ts';
import type { UsageRollupRow } from '../store/usage-writes.ts';

/** The Usage API's endpoints fed by the gateway. */
export const USAGE_KINDS = ['completions', 'embeddings', 'moderations', 'images', 'audio_speeches', 'audio_transcriptions'] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];

/** Bucket widths in seconds. */
export const WIDTHS = { '1m': 60, '1h': 3600, '1d': 86400 } as const;
export type BucketWidth = keyof typeof WIDTHS;

const KIND_OF: Record<string, UsageKind> = {
  'chat.completions': 'completions',
  completions: 'completions',
  responses: 'completions',
  messages: 'completions',
  embeddings: 'embeddings',
  moderations: 'moderations',
  'audio.speech': 'audio_speeches',
  'audio.transcriptions': 'audio_transcriptions',
  'audio.translations': 'audio_transcriptions',
};

/** The usage kind of a gateway endpoint name (`chat.completions` → completions); unknown ones count as completions. */
export function usageKindOf(endpoint: string | null): UsageKind {
  if (!endpoint) return 'completions';
  if (endpoint.startsWith('images.')) return 'images';
  return KIND_OF[endpoint] ?? 'completions';
}

/** What the rollups need of one recorded event. */
export interface RollupSource {
  org_id: string;
  project_id: string | null;
  api_key_id: string | null;
  key_owner_type: string | null;
  key_owner_id: string | null;
  model: string;
  endpoint: string | null;
  batch: number;
  service_tier: string | null;
  created_at: number;
  prompt_tokens: number;
  cached_input_tokens: number;
  completion_tokens: number;
  images: number;
  characters: number;
  audio_ms: number;
  cost_input: number;
  cost_cached_input: number;
  cost_output: number;
  /** An image request's size: the images rollups keep it in the `service_tier` column (images have no tier). */
  image_size?: string | null;
}

const SEP = '\u0001';

type Acc = UsageRollupRow & { dims: number };

function accOf(r: Acc, width: number, bucket: number): Acc {
  return {
    dims: r.dims,
    org_id: r.org_id,
    width,
    kind: r.kind,
    bucket,
    project_id: r.project_id,
    user_id: r.user_id,
    api_key_id: r.api_key_id,
    model: r.model,
    batch: r.batch,
    service_tier: r.service_tier,
    requests: r.requests,
    input_tokens: r.input_tokens,
    cached_input_tokens: r.cached_input_tokens,
    output_tokens: r.output_tokens,
    images: r.images,
    characters: r.characters,
    audio_ms: r.audio_ms,
    cost_input_nano_usd: r.cost_input_nano_usd,
    cost_cached_input_nano_usd: r.cost_cached_input_nano_usd,
    cost_output_nano_usd: r.cost_output_nano_usd,
  };
}

function addTo(r: UsageRollupRow, x: UsageRollupRow): void {
  r.requests += x.requests;
  r.input_tokens += x.input_tokens;
  r.cached_input_tokens += x.cached_input_tokens;
  r.output_tokens += x.output_tokens;
  r.images += x.images;
  r.characters += x.characters;
  r.audio_ms += x.audio_ms;
  r.cost_input_nano_usd += x.cost_input_nano_usd;
  r.cost_cached_input_nano_usd += x.cost_cached_input_nano_usd;
  r.cost_output_nano_usd += x.cost_output_nano_usd;
}

/**
 * A numeric key of (dimensions, bucket): the dimensions' interned id times 2^26, plus the bucket in
 * units of `width` (minutes since 1970 stay below 2^26 until 2097); exact below 2^53.
 */
const keyOf = (dims: number, bucket: number, width: number): number => dims * 67_108_864 + bucket / width;

/** Sums `rows` (of one width) into rows of the wider `width`, keeping their dimensions. */
function widen(rows: Iterable<Acc>, width: number): Map<number, Acc> {
  const out = new Map<number, Acc>();
  for (const r of rows) {
    const bucket = r.bucket - (r.bucket % width);
    const k = keyOf(r.dims, bucket, width);
    const w = out.get(k);
    if (w) addTo(w, r);
    else out.set(k, accOf(r, width, bucket));
  }
  return out;
}

/**
 * The rollup rows of `events`: one per distinct key and width (minute, hour, day), counters summed;
 * the minute rows are summed from the events, the hour rows from the minute rows, the day rows from
 * the hour rows. `ordered`: sorted by key, so that concurrent flushes of several nodes lock rows in
 * the same order (PostgreSQL); SQLite has one writer and needs no order.
 */
export function rollupRows(events: readonly RollupSource[], ordered = true): UsageRollupRow[] {
  const interned = new Map<string, number>();
  const dimsText: string[] = [];
  const minutes = new Map<number, Acc>();
  for (const e of events) {
    const sec = Math.floor(e.created_at / 1000);
    const bucket = sec - (sec % 60);
    const kind = usageKindOf(e.endpoint);
    const user = e.key_owner_type === 'user' && e.key_owner_id ? e.key_owner_id : '';
    const project = e.project_id ?? '';
    const key = e.api_key_id ?? '';
    const tier = (kind === 'images' ? e.image_size : e.service_tier) ?? '';
    const text = e.org_id + SEP + kind + SEP + project + SEP + user + SEP + key + SEP + e.model + SEP + e.batch + SEP + tier;
    let dims = interned.get(text);
    if (dims === undefined) {
      dims = dimsText.length;
      interned.set(text, dims);
      dimsText.push(text);
    }
    const k = keyOf(dims, bucket, 60);
    const r = minutes.get(k);
    if (r) {
      r.requests += 1;
      r.input_tokens += e.prompt_tokens;
      r.cached_input_tokens += e.cached_input_tokens;
      r.output_tokens += e.completion_tokens;
      r.images += e.images;
      r.characters += e.characters;
      r.audio_ms += e.audio_ms;
      r.cost_input_nano_usd += e.cost_input;
      r.cost_cached_input_nano_usd += e.cost_cached_input;
      r.cost_output_nano_usd += e.cost_output;
    } else {
      minutes.set(k, {
        dims,
        org_id: e.org_id,
        width: 60,
        kind,
        bucket,
        project_id: project,
        user_id: user,
        api_key_id: key,
        model: e.model,
        batch: e.batch,
        service_tier: tier,
        requests: 1,
        input_tokens: e.prompt_tokens,
        cached_input_tokens: e.cached_input_tokens,
        output_tokens: e.completion_tokens,
        images: e.images,
        characters: e.characters,
        audio_ms: e.audio_ms,
        cost_input_nano_usd: e.cost_input,
        cost_cached_input_nano_usd: e.cost_cached_input,
        cost_output_nano_usd: e.cost_output,
      });
    }
  }
  const hours = widen(minutes.values(), 3600);
  const days = widen(hours.values(), 86400);
  const all: Acc[] = [...minutes.values(), ...hours.values(), ...days.values()];
  if (ordered) {
    // one total order every node uses: width, bucket, then the dimensions as text
    const order = dimsText.map((_, i) => i).sort((a, b) => (dimsText[a]! < dimsText[b]! ? -1 : dimsText[a]! > dimsText[b]! ? 1 : 0));
    const rank = new Array<number>(order.length);
    order.forEach((d, i) => (rank[d] = i));
    all.sort((a, b) => a.width - b.width || a.bucket - b.bucket || rank[a.dims]! - rank[b.dims]!);
    return all.map(strip);
  }
  return all;
}

/** The row without its `dims` helper (PostgreSQL's jsonb_to_recordset would ignore it; the size would not). */
function strip(r: Acc): UsageRollupRow {
  const { dims: _dims, ...row } = r;
  return row;
}

/**
 * Deletes per-minute rollup rows whose bucket started before `beforeMs` (hour and day rows stay);
 * one statement per organization and kind, along the primary key. Returns the rows deleted.
 */
export async function compactMinuteRollups(store: Pick<Store, 'db'>, beforeMs: number): Promise<number> {
  const before = Math.floor(beforeMs / 1000);
  const orgs = await store.db.selectFrom('organizations').select('id').execute();
  let deleted = 0;
  for (const { id } of orgs) {
    for (const kind of USAGE_KINDS) {
      const r = await store.db.deleteFrom('usage_rollups').where('org_id', '=', id).where('width', '=', 60).where('kind', '=', kind).where('bucket', '<', before).executeTakeFirst();
      deleted += Number(r.numDeletedRows ?? 0n);
    }
  }
  return deleted;
}

