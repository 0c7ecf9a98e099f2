// Where each model is served: its provider, the model id the provider knows it by, its aliases and
// its prices. The built-in routes below cover the built-in model catalog; KEYPLANE_MODELS_FILE may add
// to each model's entry (beside its limits):
//   "my-llama": { "max_requests_per_1_minute": 100, "max_tokens_per_1_minute": 100000,
//                 "provider": "vllm", "upstream_model": "meta-llama/Llama-3.1-8B-Instruct",
//                 "aliases": ["llama"], "prices": { "input": 0.1, "cached_input": 0.05, "output": 0.2 } }
// Prices are USD per million tokens. A provider is `openai`, `azure_openai`, `anthropic`, `google`, or
// any other name: an OpenAI-compatible server whose `base_url` the tenant's credential gives.

/** How keyplane talks to a provider. */
export type ProviderApi = 'openai' | 'azure' | 'anthropic';

export interface Prices {
  /** USD per million input tokens (not cached). */
  input: number;
  /** USD per million cached input tokens. */
  cachedInput: number;
  /** USD per million output tokens. */
  output: number;
}

export interface ModelRoute {
  /** The catalog's name of the model (what rate limits and usage are recorded under). */
  model: string;
  provider: string;
  api: ProviderApi;
  /** The id sent upstream (aliases never leave keyplane). */
  upstreamModel: string;
  aliases: readonly string[];
  prices: Prices;
}

/** Where a provider is reached when its credential names no `base_url`. */
export const PROVIDER_BASE_URL: Readonly<Record<string, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com',
  google: 'https://generativelanguage.googleapis.com/v1beta/openai',
};

export function providerApi(provider: string): ProviderApi {
  return provider === 'azure_openai' ? 'azure' : provider === 'anthropic' ? 'anthropic' : 'openai';
}

const P = (input: number, cachedInput: number, output: number): Prices => ({ input, cachedInput, output });

/** Built-in routes and prices (USD per 1M tokens; list prices of the providers). */
const BUILT_IN: Record<string, { provider: string; prices: Prices; aliases?: string[] }> = {
  'gpt-4o': { provider: 'openai', prices: P(2.5, 1.25, 10) },
  'gpt-4o-mini': { provider: 'openai', prices: P(0.15, 0.075, 0.6) },
  'gpt-4.1': { provider: 'openai', prices: P(2, 0.5, 8) },
  'gpt-4.1-mini': { provider: 'openai', prices: P(0.4, 0.1, 1.6) },
  'gpt-4.1-nano': { provider: 'openai', prices: P(0.1, 0.025, 0.4) },
  'o3': { provider: 'openai', prices: P(2, 0.5, 8) },
  'o3-mini': { provider: 'openai', prices: P(1.1, 0.55, 4.4) },
  'o4-mini': { provider: 'openai', prices: P(1.1, 0.275, 4.4) },
  'gpt-3.5-turbo': { provider: 'openai', prices: P(0.5, 0.5, 1.5) },
  'text-embedding-3-small': { provider: 'openai', prices: P(0.02, 0, 0) },
  'text-embedding-3-large': { provider: 'openai', prices: P(0.13, 0, 0) },
  'dall-e-3': { provider: 'openai', prices: P(0, 0, 0) },
  'gpt-image-1': { provider: 'openai', prices: P(5, 1.25, 40) },
  'whisper-1': { provider: 'openai', prices: P(0, 0, 0) },
  'tts-1': { provider: 'openai', prices: P(0, 0, 0) },
};

const PROVIDER = /^[a-z0-9][a-z0-9_.\-]{0,62}$/;
const NO_PRICE = P(0, 0, 0);

/** Model names and aliases → routes. */
export class ModelRoutes {
  private readonly byName = new Map<string, ModelRoute>();
  readonly routes: readonly ModelRoute[];

  constructor(routes: ModelRoute[]) {
    this.routes = routes;
    for (const r of routes) this.byName.set(r.model, r);
    for (const r of routes) for (const a of r.aliases) if (!this.byName.has(a)) this.byName.set(a, r);
  }

  /** The route of a model name or alias. */
  resolve(name: string): ModelRoute | undefined {
    return this.byName.get(name);
  }
}

/**
 * The routes of every model of `models` (the catalog's model names): from the models file's entry
 * when it names a provider, else the built-in route, else OpenAI with no price.
 */
export function buildModelRoutes(models: Iterable<string>, file?: unknown): ModelRoutes {
  const entries = (file && typeof file === 'object' && !Array.isArray(file) ? file : {}) as Record<string, Record<string, unknown>>;
  const routes: ModelRoute[] = [];
  for (const model of models) {
    const e = entries[model] ?? {};
    const builtIn = BUILT_IN[model];
    const provider = typeof e.provider === 'string' ? e.provider : (builtIn?.provider ?? 'openai');
    routes.push({
      model,
      provider,
      api: providerApi(provider),
      upstreamModel: typeof e.upstream_model === 'string' ? e.upstream_model : model,
      aliases: Array.isArray(e.aliases) ? (e.aliases as string[]) : (builtIn?.aliases ?? []),
      prices: e.prices ? pricesOf(e.prices as Record<string, number>) : (builtIn?.prices ?? NO_PRICE),
    });
  }
  return new ModelRoutes(routes);
}

const pricesOf = (p: Record<string, number>): Prices => P(p.input ?? 0, p.cached_input ?? p.input ?? 0, p.output ?? 0);

/** The route fields a models-file entry may carry beside its limits. */
export const ROUTE_FIELDS = ['provider', 'upstream_model', 'aliases', 'prices'] as const;

/** Checks the route fields of one models-file entry; throws an Error saying what is wrong. */
export function checkRouteFields(model: string, entry: Record<string, unknown>): void {
  const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,199}$/;
  if (entry.provider !== undefined && (typeof entry.provider !== 'string' || !PROVIDER.test(entry.provider))) {
    throw new Error(`model "${model}": provider must be a lowercase name (openai, azure_openai, anthropic, google, or your own OpenAI-compatible server's name)`);
  }
  if (entry.upstream_model !== undefined && (typeof entry.upstream_model !== 'string' || !MODEL.test(entry.upstream_model))) {
    throw new Error(`model "${model}": upstream_model must be 1 to 200 characters of A-Z a-z 0-9 . _ : - /`);
  }
  if (entry.aliases !== undefined && (!Array.isArray(entry.aliases) || entry.aliases.some((a) => typeof a !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$/.test(a)))) {
    throw new Error(`model "${model}": aliases must be a list of model names`);
  }
  if (entry.prices !== undefined) {
    const p = entry.prices as Record<string, unknown>;
    if (!p || typeof p !== 'object' || Array.isArray(p)) throw new Error(`model "${model}": prices must be {"input": n, "cached_input": n, "output": n} (USD per million tokens)`);
    for (const [k, v] of Object.entries(p)) {
      if (!['input', 'cached_input', 'output'].includes(k)) throw new Error(`model "${model}": unknown price "${k}" (known: input, cached_input, output)`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1_000_000) throw new Error(`model "${model}": price ${k} must be a number of USD per million tokens`);
    }
  }
}

/** Cost of a request in nano-USD per line item (input = uncached input, cached input, output), each rounded. */
export function costPartsNanoUsd(prices: Prices, t: { inputTokens: number; cachedInputTokens: number; outputTokens: number }): { input: number; cachedInput: number; output: number } {
  const uncached = Math.max(0, t.inputTokens - t.cachedInputTokens);
  return { input: Math.round(uncached * prices.input * 1000), cachedInput: Math.round(t.cachedInputTokens * prices.cachedInput * 1000), output: Math.round(t.outputTokens * prices.output * 1000) };
}

/** Cost of a request in nano-USD (1e-9 USD): exact integers that sum without drift. */
export function costNanoUsd(prices: Prices, t: { inputTokens: number; cachedInputTokens: number; outputTokens: number }): number {
  const uncached = Math.max(0, t.inputTokens - t.cachedInputTokens);
  // USD per 1M tokens = 1000 nano-USD per token
  return Math.round(uncached * prices.input * 1000 + t.cachedInputTokens * prices.cachedInput * 1000 + t.outputTokens * prices.output * 1000);
}
