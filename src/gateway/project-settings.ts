// The gateway's enforcement of a project's settings (src/domain/project-settings.ts), read from the
// per-project policy cache, before anything reaches an upstream:
// - model permissions: a model the project may not use is refused 403 in OpenAI's words ("Project
//   `proj_…` does not have access to model `…`", code model_not_found), on every endpoint that names
//   a model; a permission applies to the catalog model a name (or alias) resolves to;
// - hosted tool permissions: a /v1/responses request whose `tools` ask for a disabled hosted tool
//   (and a chat completion with `web_search_options` when web_search is disabled; on /v1/messages,
//   Anthropic's server tools `web_search_…` and `code_execution_…` and `mcp_servers`) is refused
//   403, naming the tool;
// - service tier settings (Chat Completions and Responses, the endpoints with `service_tier`): a
//   request without a tier, or with `auto`, gets the project's default (`fast` is sent as OpenAI's
//   `priority`; a `standard` default leaves the body untouched); a request naming an optional tier
//   (`flex`, `fast`/`priority`, `ultrafast`) the project has not enabled is refused 403. `default`,
//   `scale` and other values go on as they came (the provider decides eligibility).
import { DomainError } from '../domain/errors.ts';
import { modelAllowed, tierEnabled, type EnforcedSettings, type HostedTool, type OptionalTier } from '../domain/project-settings.ts';

type Json = Record<string, unknown>;

export const modelNotAllowed = (projectId: string, model: string) =>
  new DomainError('forbidden', `Project \`${projectId}\` does not have access to model \`${model}\``, null, 'model_not_found');

export const toolNotAllowed = (projectId: string, tool: HostedTool, param: string) =>
  new DomainError('forbidden', `The hosted tool \`${tool}\` is not enabled for project \`${projectId}\`.`, param, 'hosted_tool_not_allowed');

export const tierNotAllowed = (projectId: string, requested: string) =>
  new DomainError('forbidden', `The service tier \`${requested}\` is not enabled for project \`${projectId}\`.`, 'service_tier', 'service_tier_not_allowed');

/** The hosted tool a Responses API tool `type` is (web_search_preview and dated variants are web_search). */
export function hostedToolOf(type: unknown): HostedTool | null {
  if (typeof type !== 'string') return null;
  if (type.startsWith('web_search')) return 'web_search';
  if (type === 'file_search' || type === 'image_generation' || type === 'mcp' || type === 'code_interpreter') return type;
  return null;
}

/** The hosted tool an Anthropic server tool `type` is (`web_search_20250305`, `code_execution_20250522`…). */
export function anthropicToolOf(type: unknown): HostedTool | null {
  if (typeof type !== 'string') return null;
  if (type.startsWith('web_search_')) return 'web_search';
  if (type.startsWith('code_execution_')) return 'code_interpreter';
  return null;
}

/** The optional tier a request's `service_tier` value asks for, or null when it needs no enabling. */
function optionalTierOf(value: string): OptionalTier | null {
  if (value === 'flex' || value === 'ultrafast') return value;
  if (value === 'fast' || value === 'priority') return 'fast';
  return null;
}

/** What the default tier is sent as, when a request names none: null for Standard (nothing sent). */
const DEFAULT_WIRE: Record<EnforcedSettings['tiers']['default'], string | null> = { standard: null, fast: 'priority', scale: 'scale' };

/**
 * Checks a request against its project's settings (throws the refusal) and applies the default
 * service tier to `body` in place; returns whether `body` changed (then it must be sent re-serialized).
 */
export function applyProjectSettings(s: EnforcedSettings, endpoint: string, body: Json, model: string, projectId: string): boolean {
  if (!modelAllowed(s, model)) throw modelNotAllowed(projectId, typeof body.model === 'string' ? body.model : model);
  if (endpoint === 'responses' && Array.isArray(body.tools)) {
    body.tools.forEach((t, i) => {
      const tool = t && typeof t === 'object' ? hostedToolOf((t as Json).type) : null;
      if (tool && !s.tools[tool]) throw toolNotAllowed(projectId, tool, `tools[${i}]`);
    });
  }
  if (endpoint === 'chat.completions' && body.web_search_options != null && !s.tools.web_search) throw toolNotAllowed(projectId, 'web_search', 'web_search_options');
  if (endpoint === 'messages') {
    // Anthropic's server tools are the same hosted tools under other names
    if (Array.isArray(body.tools)) {
      body.tools.forEach((t, i) => {
        const tool = t && typeof t === 'object' ? anthropicToolOf((t as Json).type) : null;
        if (tool && !s.tools[tool]) throw toolNotAllowed(projectId, tool, `tools[${i}]`);
      });
    }
    if (Array.isArray(body.mcp_servers) && body.mcp_servers.length > 0 && !s.tools.mcp) throw toolNotAllowed(projectId, 'mcp', 'mcp_servers');
  }
  if (endpoint !== 'responses' && endpoint !== 'chat.completions') return false;
  const tier = body.service_tier;
  if (tier === undefined || tier === null || tier === 'auto') {
    const wire = DEFAULT_WIRE[s.tiers.default];
    if (wire === null) return false;
    body.service_tier = wire;
    return true;
  }
  if (typeof tier === 'string') {
    const optional = optionalTierOf(tier);
    if (optional && !tierEnabled(s.tiers, optional)) throw tierNotAllowed(projectId, tier);
  }
  return false;
}
