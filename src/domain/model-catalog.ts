// The models a project can have rate limits for, with the default limits every project starts with.
// The built-in catalog below is used unless KEYPLANE_MODELS_FILE names a JSON file of the same shape:
//   { "gpt-4o": { "max_requests_per_1_minute": 500, "max_tokens_per_1_minute": 30000, … }, … }
// `max_requests_per_1_minute` and `max_tokens_per_1_minute` are required; the other limits are
// optional and only exist for the models that list them (OpenAI omits them for other models).

import { checkRouteFields, ROUTE_FIELDS } from './model-routes.ts';

export const LIMIT_FIELDS = [
  'max_requests_per_1_minute',
  'max_tokens_per_1_minute',
  'max_images_per_1_minute',
  'max_audio_megabytes_per_1_minute',
  'max_requests_per_1_day',
  'batch_1_day_max_input_tokens',
] as const;

export type LimitField = (typeof LIMIT_FIELDS)[number];

export const REQUIRED_LIMIT_FIELDS: readonly LimitField[] = ['max_requests_per_1_minute', 'max_tokens_per_1_minute'];

export type ModelLimits = { max_requests_per_1_minute: number; max_tokens_per_1_minute: number } & Partial<Record<LimitField, number>>;

/** Model name → default limits, in the order lists show them. */
export type ModelCatalog = ReadonlyMap<string, Readonly<ModelLimits>>;

/** Largest limit accepted anywhere (fits a PostgreSQL bigint and a JS safe integer). */
export const MAX_LIMIT = 1_000_000_000_000;

const DEFAULTS: Record<string, ModelLimits> = {
  'gpt-4o': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 30_000, max_requests_per_1_day: 10_000, batch_1_day_max_input_tokens: 90_000 },
  'gpt-4o-mini': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 200_000, max_requests_per_1_day: 10_000, batch_1_day_max_input_tokens: 2_000_000 },
  'gpt-4.1': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 30_000, batch_1_day_max_input_tokens: 900_000 },
  'gpt-4.1-mini': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 200_000, batch_1_day_max_input_tokens: 2_000_000 },
  'gpt-4.1-nano': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 200_000, batch_1_day_max_input_tokens: 2_000_000 },
  'o3': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 30_000, batch_1_day_max_input_tokens: 90_000 },
  'o3-mini': { max_requests_per_1_minute: 1_000, max_tokens_per_1_minute: 100_000, batch_1_day_max_input_tokens: 1_000_000 },
  'o4-mini': { max_requests_per_1_minute: 1_000, max_tokens_per_1_minute: 100_000, batch_1_day_max_input_tokens: 1_000_000 },
  'gpt-3.5-turbo': { max_requests_per_1_minute: 3_500, max_tokens_per_1_minute: 200_000, max_requests_per_1_day: 10_000, batch_1_day_max_input_tokens: 2_000_000 },
  'text-embedding-3-small': { max_requests_per_1_minute: 3_000, max_tokens_per_1_minute: 1_000_000, batch_1_day_max_input_tokens: 3_000_000 },
  'text-embedding-3-large': { max_requests_per_1_minute: 3_000, max_tokens_per_1_minute: 1_000_000, batch_1_day_max_input_tokens: 3_000_000 },
  'dall-e-3': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 10_000, max_images_per_1_minute: 5 },
  'gpt-image-1': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 100_000, max_images_per_1_minute: 5 },
  'whisper-1': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 10_000, max_audio_megabytes_per_1_minute: 100 },
  'tts-1': { max_requests_per_1_minute: 500, max_tokens_per_1_minute: 10_000, max_audio_megabytes_per_1_minute: 100 },
};

export const DEFAULT_MODEL_CATALOG: ModelCatalog = new Map(Object.entries(DEFAULTS));

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$/;

/**
 * Validates a parsed catalog file. Throws an Error whose message says what is wrong (the config
 * loader prefixes it with the setting's name).
 */
export function parseModelCatalog(value: unknown): ModelCatalog {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('must be a JSON object of {"<model>": {"max_requests_per_1_minute": n, "max_tokens_per_1_minute": n, …}}');
  }
  const out = new Map<string, ModelLimits>();
  for (const [model, limits] of Object.entries(value)) {
    if (!MODEL_NAME.test(model)) throw new Error(`model name ${JSON.stringify(model)} must be 1 to 100 characters of A-Z a-z 0-9 . _ : -`);
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) throw new Error(`model "${model}" must map to an object of limits`);
    const entry: Partial<ModelLimits> = {};
    checkRouteFields(model, limits as Record<string, unknown>);
    for (const [field, v] of Object.entries(limits as Record<string, unknown>)) {
      if ((ROUTE_FIELDS as readonly string[]).includes(field)) continue; // where it is served: see model-routes.ts
      if (!(LIMIT_FIELDS as readonly string[]).includes(field)) {
        throw new Error(`model "${model}": unknown limit "${field}" (known: ${LIMIT_FIELDS.join(', ')})`);
      }
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LIMIT) {
        throw new Error(`model "${model}": ${field} must be a positive integer up to ${MAX_LIMIT}`);
      }
      entry[field as LimitField] = v;
    }
    for (const f of REQUIRED_LIMIT_FIELDS) {
      if (entry[f] === undefined) throw new Error(`model "${model}" needs ${f}`);
    }
    out.set(model, entry as ModelLimits);
  }
  if (!out.size) throw new Error('must list at least one model');
  return out;
}
