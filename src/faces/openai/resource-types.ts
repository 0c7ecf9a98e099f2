// OpenAI's names for where a role applies: `api.organization` or `api.project`.
import { scopeOf, type RoleScopeKind } from '../../domain/roles.ts';

export type OpenAIResourceType = 'api.organization' | 'api.project';

export const resourceTypeOfScope = (scope: RoleScopeKind): OpenAIResourceType => (scope === 'organization' ? 'api.organization' : 'api.project');

/** The resource type a role is bound to. */
export const resourceTypeOf = (role: { project_id: string | null }): OpenAIResourceType => resourceTypeOfScope(scopeOf(role));

/** The domain's scope of an OpenAI resource type (as stored in audit rows written before the audit catalog). */
export function scopeOfResourceType(t: unknown): RoleScopeKind | undefined {
  return t === 'api.organization' ? 'organization' : t === 'api.project' ? 'project' : undefined;
}
