// What a provider credential's JSON value means to the gateway: the API key (tenants write `key` or
// `api_key`) and the optional endpoint settings. Messages name the provider and the fields, never a value.
import { invalid } from './errors.ts';

export interface ProviderSecret {
  apiKey: string;
  baseUrl?: string;
  /** Azure OpenAI: the resource endpoint. */
  endpoint?: string;
  /** Azure OpenAI: the deployment name. */
  deployment?: string;
  /** Azure OpenAI: the API version. */
  apiVersion?: string;
}

/** Optional string fields of a value, as ProviderSecret names them. */
const OPTIONAL = { base_url: 'baseUrl', endpoint: 'endpoint', deployment: 'deployment', api_version: 'apiVersion' } as const;

/** Fields that are where keyplane sends requests: absolute http(s) URLs (anything else could not be called). */
const URL_FIELDS = new Set<string>(['base_url', 'endpoint']);

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * The secret of a credential value, or a 400 `provider_credential_invalid` naming `whose` credential
 * (e.g. "The credential for provider 'openai'") and what is wrong with it.
 */
export function parseProviderSecret(value: unknown, whose: string): ProviderSecret {
  const refuse = (why: string) => invalid(`${whose} is unusable: ${why}`, null, 'provider_credential_invalid');
  if (!isPlainObject(value)) throw refuse('its value must be a JSON object such as {"key": "sk-…"}.');
  const key = value.key ?? value.api_key;
  if (value.key !== undefined && value.api_key !== undefined && value.key !== value.api_key) throw refuse('it has both "key" and "api_key" and they differ; keep one.');
  if (typeof key !== 'string' || !key.trim()) throw refuse('its value has no API key: set "key" (or "api_key") to a non-empty string.');
  const secret: ProviderSecret = { apiKey: key };
  for (const [field, prop] of Object.entries(OPTIONAL) as Array<[keyof typeof OPTIONAL, (typeof OPTIONAL)[keyof typeof OPTIONAL]]>) {
    const v = value[field];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !v.trim()) throw refuse(`"${field}" must be a non-empty string.`);
    if (URL_FIELDS.has(field) && !isHttpUrl(v)) throw refuse(`"${field}" must be an http:// or https:// URL such as https://api.example.com/v1.`);
    secret[prop] = v;
  }
  return secret;
}
