// The catalog of audit events keyplane records: each event type with its payload, in the domain's
// own words. `recordAudit` accepts only the payload of its type, and a face that shows audit events
// maps every type here (a new type is a compile error until each face decides how to show it).
//
// The type strings are stored in `audit_logs.type` and must not change: existing databases hold
// them. Payloads are stored as JSON in `audit_logs.payload`. Never secrets in a payload: ids, names,
// redacted values and public material only.
//
// Rows written before this catalog hold older payload shapes (OpenAI's words: `data`,
// `changes_requested`, snake_case fields); a face that reads payloads must accept those too.
import type { ApiKeyKind, ApiKeyStatus } from '../store/schema.ts';
import type { LimitField } from './model-catalog.ts';

/** A certificate as events name it. */
export interface CertificateRef {
  id: string;
  name?: string;
}

/** Where a role or an assignment applies: the organization, or one of its projects. */
export interface RoleScope {
  /** The organization's id, or the project's. */
  resourceId: string;
  scope: 'organization' | 'project';
}

export interface AuditEvents {
  // ---- organizations ----
  'organization.created': { name: string; slug: string };
  'organization.default_llm_key_updated': { enabled: boolean };
  /**
   * `startedAt` (epoch ms): the trial's start, when this change set it (first switched on, or
   * `restarted` by the operator).
   */
  'organization.free_trial_updated': { enabled?: boolean; metadataChanged: boolean; startedAt?: number; restarted?: true };
  /** The operator disabled the organization (`keyplane orgs disable`): its keys authenticate nowhere. */
  'organization.disabled': { slug: string };
  /** The operator enabled it again (`keyplane orgs enable`). */
  'organization.enabled': { slug: string };

  // ---- members ----
  /** Joined the organization (no projectId) or a project (projectId) with this role. */
  'user.added': { role: string; email?: string; projectId?: string };
  /** New role in the organization (no projectId) or in a project. */
  'user.updated': { role: string; projectId?: string };
  /**
   * Left the organization (their keys in it revoked) or a project (their project keys in it
   * deleted).
   */
  'user.deleted': { email: string; revokedKeyIds: string[] } | { projectId: string; deletedKeyIds: string[] };

  // ---- invites ----
  'invite.sent': { email: string; role: string; projects: Array<{ id: string; role: string }> };
  'invite.deleted': { email: string };
  'invite.accepted': { userId: string };
  /** A sign-up link was made for the invite (the console; any earlier link is void). */
  'invite.link_created': { email: string };

  // ---- console sign-in ----
  /** A user signed in to the console in this organization (`password`, or `invite`: by accepting an invite link). */
  'console.signed_in': { method: 'password' | 'invite' | 'oidc' };
  /** A wrong password was given for a member of this organization (recorded in each of their organizations). */
  'console.sign_in_failed': { email: string; reason: 'wrong_password' };
  /** A user changed their console password (their other sessions ended). */
  'console.password_changed': Record<string, never>;

  // ---- projects ----
  'project.created': { name: string; externalKeyId: string | null };
  'project.updated': { changes: { name?: string; externalKeyId?: string | null } };
  'project.archived': Record<string, never>;

  // ---- API keys ----
  'api_key.created': {
    kind: ApiKeyKind;
    name: string | null;
    redactedValue: string;
    ownerId: string | null;
    /** Epoch ms; null: never expires. */
    expiresAt: number | null;
    /** null: no scope restriction given. */
    scopes: string[] | null;
  };
  /** Only the fields that changed. */
  'api_key.updated': {
    changes: {
      status?: ApiKeyStatus;
      /** Epoch ms. */
      revokedAt?: number | null;
      /** The new expiry (epoch ms); null: the expiry was removed. */
      expiresAt?: number | null;
      name?: string | null;
      /** null: the restriction was removed. */
      scopes?: string[] | null;
    };
  };
  'api_key.deleted': { kind: ApiKeyKind; name: string | null; redactedValue: string };

  // ---- service accounts ----
  'service_account.created': { name: string; role: string };
  'service_account.updated': { changes: { name?: string; role?: string } };
  'service_account.deleted': { name: string; deletedKeyIds: string[] };

  // ---- groups ----
  'group.created': { name: string };
  /** One change per event; absent fields did not change. */
  'group.updated': {
    name?: string;
    usersAdded?: string[];
    usersRemoved?: string[];
    projectsAdded?: Array<{ projectId: string; roleId: string }>;
    projectsRemoved?: string[];
  };
  'group.deleted': { name: string };

  // ---- roles ----
  'role.created': RoleScope & { name: string; permissions: string[] };
  'role.updated': RoleScope & {
    changes: { name?: string; description?: string | null; permissionsAdded?: string[]; permissionsRemoved?: string[] };
  };
  'role.deleted': { name: string };
  'role.assignment.created': RoleScope & { roleId: string; principalType: string; principalId: string };
  'role.assignment.deleted': RoleScope & { roleId: string; principalType: string; principalId: string };

  // ---- rate limits ----
  'rate_limit.updated': { model: string; changes: Partial<Record<LimitField, number>> };

  // ---- project settings (src/domain/project-settings.ts) ----
  /** The project's model permissions replaced: the mode and the model ids as given. */
  'project.model_permissions_updated': { mode: 'allow_list' | 'deny_list'; modelIds: string[] };
  /** The project's model permissions removed (every model allowed again): the mode they had. */
  'project.model_permissions_deleted': { mode: 'allow_list' | 'deny_list' };
  /** The tools whose state was set (true: enabled). */
  'project.hosted_tool_permissions_updated': { changes: Partial<Record<'file_search' | 'web_search' | 'image_generation' | 'mcp' | 'code_interpreter', boolean>> };
  /** The fields that were set. */
  'project.service_tier_settings_updated': { changes: { default?: string; enabledTiers?: 'all' | string[] } };
  'project.data_retention_updated': { retentionType: string };
  'organization.data_retention_updated': { retentionType: string };
  // ---- spend limits and alerts (amounts in cents, as the API takes them; spend in nano-USD) ----
  /** Set or replaced; `projectId` absent: the organization's limit. `previous`: the amount it replaced. */
  'spend_limit.updated': { projectId?: string; thresholdAmount: number; currency: string; interval: string; previous: number | null };
  'spend_limit.deleted': { projectId?: string; thresholdAmount: number };
  'spend_alert.created': { projectId?: string; thresholdAmount: number; currency: string; interval: string; recipients: string[] };
  'spend_alert.updated': { projectId?: string; thresholdAmount: number; currency: string; interval: string; recipients: string[] };
  'spend_alert.deleted': { projectId?: string; thresholdAmount: number };
  /** The period's spend crossed the alert's threshold (recorded once per alert and period, by keyplane itself). */
  'spend_alert.triggered': { projectId?: string; thresholdAmount: number; period: string; spendNanoUsd: number; webhook: boolean };

  // ---- certificates ----
  'certificate.created': CertificateRef & { fingerprint: string };
  'certificate.updated': CertificateRef;
  /** `content`: the deleted certificate's PEM (public material). */
  'certificate.deleted': CertificateRef & { content: string };
  'certificates.activated': { certificates: CertificateRef[] };
  'certificates.deactivated': { certificates: CertificateRef[] };

  // ---- credential vault ----
  'credential.created': { name: string; kind: 'llm' | 'integration' };
  'credential.updated': { name: string; kind: 'llm' | 'integration'; valueChanged: boolean };
  'credential.deleted': { name: string; kind: 'llm' | 'integration' };
  /**
   * A credential's value was decrypted: to show it masked, or for calling the provider. The
   * gateway's resolver (provider-credentials.ts) records provider use in aggregate, at most one row
   * per credential and organization per minute: `uses` resolutions from `from` to `to` (epoch ms),
   * and where the credential came from (`source`; for the platform's default credential `name` is
   * the provider and the target its default credential's id).
   */
  'credential.decrypted': {
    name: string;
    kind: 'llm' | 'integration';
    purpose: 'masked_read' | 'provider';
    source?: 'tenant' | 'platform_default' | 'free_trial';
    uses?: number;
    from?: number;
    to?: number;
  };
  'vault.master_key_rotated': { masterKeyId: string };

  // ---- the operator's default provider credentials (org_id 'platform', no tenant's) ----
  'default_credential.created': { provider: string };
  'default_credential.updated': { provider: string };
  'default_credential.deleted': { provider: string };
  /** Decrypted to show it masked to the operator. */
  'default_credential.decrypted': { provider: string; purpose: 'masked_read' };

  // ---- platform settings (ibl.ai) ----
  'platform_settings.created': PlatformSettingsWrite;
  /** A full write (the same shape as created), or a change of the listed and active providers. */
  'platform_settings.updated':
    | PlatformSettingsWrite
    | { changes: { llms?: string[] | null; activeLlm?: string | null; activeStt?: string | null; activeTts?: string | null } };
}

export interface PlatformSettingsWrite {
  providers: string[];
  /** Providers whose credential was written with the settings. */
  credentialsWritten: string[];
  activeLlm: string | null;
  activeStt: string | null;
  activeTts: string | null;
}

export type AuditEventType = keyof AuditEvents;
export type AuditPayload<T extends AuditEventType> = AuditEvents[T];

// Every type once, checked against the catalog both ways (a missing or unknown key fails to compile).
const TYPES: { [T in AuditEventType]: true } = {
  'organization.created': true,
  'organization.default_llm_key_updated': true,
  'organization.free_trial_updated': true,
  'organization.disabled': true,
  'organization.enabled': true,
  'user.added': true,
  'user.updated': true,
  'user.deleted': true,
  'invite.sent': true,
  'invite.deleted': true,
  'invite.accepted': true,
  'invite.link_created': true,
  'console.signed_in': true,
  'console.sign_in_failed': true,
  'console.password_changed': true,
  'project.created': true,
  'project.updated': true,
  'project.archived': true,
  'api_key.created': true,
  'api_key.updated': true,
  'api_key.deleted': true,
  'service_account.created': true,
  'service_account.updated': true,
  'service_account.deleted': true,
  'group.created': true,
  'group.updated': true,
  'group.deleted': true,
  'role.created': true,
  'role.updated': true,
  'role.deleted': true,
  'role.assignment.created': true,
  'role.assignment.deleted': true,
  'rate_limit.updated': true,
  'project.model_permissions_updated': true,
  'project.model_permissions_deleted': true,
  'project.hosted_tool_permissions_updated': true,
  'project.service_tier_settings_updated': true,
  'project.data_retention_updated': true,
  'organization.data_retention_updated': true,
  'spend_limit.updated': true,
  'spend_limit.deleted': true,
  'spend_alert.created': true,
  'spend_alert.updated': true,
  'spend_alert.deleted': true,
  'spend_alert.triggered': true,
  'certificate.created': true,
  'certificate.updated': true,
  'certificate.deleted': true,
  'certificates.activated': true,
  'certificates.deactivated': true,
  'credential.created': true,
  'credential.updated': true,
  'credential.deleted': true,
  'credential.decrypted': true,
  'vault.master_key_rotated': true,
  'default_credential.created': true,
  'default_credential.updated': true,
  'default_credential.deleted': true,
  'default_credential.decrypted': true,
  'platform_settings.created': true,
  'platform_settings.updated': true,
};

/** Every event type of the catalog. */
export const AUDIT_EVENT_TYPES = Object.keys(TYPES) as AuditEventType[];

export function isAuditEventType(type: string): type is AuditEventType {
  return Object.prototype.hasOwnProperty.call(TYPES, type);
}
