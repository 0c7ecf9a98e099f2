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

/**
 * The rollup rows of `events`: one per distinct key and width (minute, hour, day), counters summed,
 * sorted by key (the same lock order on every node).
 */
export function rollupRows(events: readonly RollupSource[]): UsageRollupRow[] {
  const byKey = new Map<string, UsageRollupRow>();
  for (const e of events) {
    const sec = Math.floor(e.created_at / 1000);
    const kind = usageKindOf(e.endpoint);
    const user = e.key_owner_type === 'user' && e.key_owner_id ? e.key_owner_id : '';
    const project = e.project_id ?? '';
    const key = e.api_key_id ?? '';
    const tier = (kind === 'images' ? e.image_size : e.service_tier) ?? '';
    const rest = SEP + kind + SEP + project + SEP + user + SEP + key + SEP + e.model + SEP + e.batch + SEP + tier;
    for (const width of [60, 3600, 86400]) {
      const bucket = sec - (sec % width);
      const k = e.org_id + SEP + width + SEP + String(bucket).padStart(12, '0') + rest;
      const r = byKey.get(k);
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
        byKey.set(k, {
          org_id: e.org_id,
          width,
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
  }
  const keys = [...byKey.keys()].sort();
  return keys.map((k) => byKey.get(k)!);
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

