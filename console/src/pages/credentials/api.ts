// The ibl.ai face's credential routes, as the Credentials page calls them with the console session:
// /api/ai-account/orgs/{org}/credential/ (LLM), …/integration-credential/, …/platform-metadata/,
// …/use-default-llm-key/, …/use-free-trial/, and the per-user reads of those two switches. Values
// always come back masked from the server; the page never asks for plaintext.
import { ApiError, request } from '../../api.ts';

export type Kind = 'llm' | 'integration';

export interface Credential {
  name: string;
  /** Masked by the server: every string keeps at most its last four characters. */
  value: unknown;
  platform: string;
  service_info: { id: number; name: string; display_name: string; logo: string | null };
}

export interface Metadata {
  services: Record<string, { llm_options: Record<string, unknown> }>;
  active_llm: string | null;
  active_stt: string | null;
  active_tts: string | null;
}

export type ActiveField = 'active_llm' | 'active_stt' | 'active_tts';

const base = (slug: string) => `/api/ai-account/orgs/${encodeURIComponent(slug)}`;
const segment = (kind: Kind) => (kind === 'llm' ? 'credential' : 'integration-credential');

export const credentialsApi = {
  list: (slug: string, kind: Kind) => request<Credential[]>('GET', `${base(slug)}/${segment(kind)}/`),
  create: (slug: string, kind: Kind, name: string, value: unknown) => request<Credential>('POST', `${base(slug)}/${segment(kind)}/`, { name, value, platform: slug }),
  rotate: (slug: string, kind: Kind, name: string, value: unknown) => request<Credential>('PATCH', `${base(slug)}/${segment(kind)}/`, { name, value }),
  remove: (slug: string, kind: Kind, name: string) => request<void>('DELETE', `${base(slug)}/${segment(kind)}/?name=${encodeURIComponent(name)}`),
  /** The platform metadata, or null while the organization has none (the face answers 404 until it is created). */
  async metadata(slug: string): Promise<Metadata | null> {
    try {
      return (await request<Array<{ metadata: Metadata }>>('GET', `${base(slug)}/platform-metadata/`))[0]?.metadata ?? null;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null;
      throw e;
    }
  },
  /** Sets one active provider (null: none). POST creates the metadata or changes only the fields given. */
  setActive: async (slug: string, field: ActiveField, provider: string | null) =>
    (await request<{ metadata: Metadata }>('POST', `${base(slug)}/platform-metadata/`, { data: { [field]: provider } })).metadata,
  /** The tenant's switches, read through the signed-in member's own per-user answers (the tenant's setting applies to every member). */
  async switches(slug: string, userId: string): Promise<{ defaultKey: boolean; freeTrial: boolean }> {
    const u = encodeURIComponent(userId);
    const [d, t] = await Promise.all([
      request<{ use_main_credentials: boolean }>('GET', `${base(slug)}/users/${u}/default-llm-key-usage`),
      request<{ is_in_free_trial: boolean }>('GET', `${base(slug)}/users/${u}/free-trial`),
    ]);
    return { defaultKey: d.use_main_credentials, freeTrial: t.is_in_free_trial };
  },
  setDefaultKey: (slug: string, on: boolean) => request<{ message: string }>('POST', `${base(slug)}/use-default-llm-key/`, on ? { enable: true } : { disable: true }),
  setFreeTrial: (slug: string, on: boolean) => request<{ message: string }>('POST', `${base(slug)}/use-free-trial/`, on ? { enable: true } : { disable: true }),
};

/**
 * What the value box holds, as the value to send: JSON (an object such as `{"key": "sk-…",
 * "base_url": "…"}`, or any JSON value) when it parses, else a bare API key, sent as `{"key": …}`.
 */
export function parseValue(text: string): { value: unknown } | { error: string } {
  const t = text.trim();
  if (!t) return { error: 'Enter the credential: an API key, or its JSON such as {"key": "sk-…"}.' };
  if (/^[{["]/.test(t)) {
    try {
      return { value: JSON.parse(t) as unknown };
    } catch {
      return { error: 'This is not valid JSON. Check the quotes and commas, or paste just the API key.' };
    }
  }
  if (/\s/.test(t)) return { error: 'An API key has no spaces. For several fields, write JSON such as {"key": "sk-…", "base_url": "https://…"}.' };
  return { value: { key: t } };
}

/** A masked value as short text, e.g. `key: ****abcd, region: ****` (masking is the server's). */
export function maskedText(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? '';
  if (Array.isArray(v)) return `[${v.map(maskedText).join(', ')}]`;
  return Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}: ${typeof x === 'string' ? x : maskedText(x)}`)
    .join(', ');
}
