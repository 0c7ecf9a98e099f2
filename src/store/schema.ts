// Kysely table types: the shape of every row keyplane stores. Times are UTC epoch milliseconds,
// flags are integers 0/1 and JSON is stored as text, so the same queries run on SQLite and PostgreSQL.
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

export interface OrganizationsTable {
  id: string;
  slug: string;
  name: string;
  use_default_llm_key: number;
  free_trial_enabled: number;
  free_trial_metadata: string | null;
  /** When the free trial started (epoch ms); null: never switched on since migration 0005. */
  free_trial_started_at: number | null;
  created_at: number;
  updated_at: number;
  /** When the operator disabled the organization (epoch ms; migration 0010); null: enabled. */
  disabled_at: number | null;
}

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  created_at: number;
}

export interface OrgMembershipsTable {
  org_id: string;
  user_id: string;
  role: 'owner' | 'reader';
  created_at: number;
}

export interface InvitesTable {
  id: string;
  org_id: string;
  email: string;
  role: 'owner' | 'reader';
  status: 'pending' | 'accepted' | 'expired';
  projects: string; // JSON [{id, role}]
  created_at: number; // when the invite was sent
  expires_at: number;
  accepted_at: number | null;
  /** SHA-256 of the invite's current sign-up link token (migration 0011); null: no link. */
  token_hash?: string | null;
}

/** A user's console password: an argon2id PHC string (migration 0011). */
export interface UserPasswordsTable {
  user_id: string;
  hash: string;
  updated_at: number;
}

/** A console session: id = SHA-256 of the cookie secret; user and org null for the operator's. */
export interface ConsoleSessionsTable {
  id: string;
  user_id: string | null;
  org_id: string | null;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
}

export interface ProjectsTable {
  id: string;
  org_id: string;
  name: string;
  status: 'active' | 'archived';
  external_key_id: string | null;
  residency: string | null;
  created_at: number;
  archived_at: number | null;
}

export interface ProjectMembersTable {
  project_id: string;
  user_id: string;
  org_id: string;
  role: 'owner' | 'member';
  created_at: number;
}

export interface GroupsTable {
  id: string;
  org_id: string;
  name: string;
  is_scim_managed: number;
  created_at: number;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
  org_id: string;
  created_at: number;
}

export interface ProjectGroupsTable {
  project_id: string;
  group_id: string;
  org_id: string;
  role: string;
  created_at: number;
}

export interface RolesTable {
  id: string;
  org_id: string;
  project_id: string | null; // null: organization role
  name: string;
  description: string | null;
  permissions: string; // JSON string[]
  predefined: number;
  created_at: number;
  updated_at: number;
}

export interface RoleAssignmentsTable {
  id: string;
  org_id: string;
  role_id: string;
  principal_type: 'user' | 'group';
  principal_id: string;
  project_id: string; // '' for organization-level assignments
  created_at: number;
}

export interface ServiceAccountsTable {
  id: string;
  org_id: string;
  project_id: string;
  name: string;
  role: 'owner' | 'member' | 'none'; // none: created with create_service_account_only
  created_at: number;
}

export type ApiKeyKind = 'admin' | 'project' | 'user';
export type ApiKeyStatus = 'active' | 'deactivated' | 'revoked';

export interface ApiKeysTable {
  id: string;
  org_id: string;
  kind: ApiKeyKind;
  project_id: string | null;
  owner_type: 'user' | 'service_account' | null;
  owner_id: string | null;
  name: string | null;
  /** Face-specific public id (WhyLabs keyId), unique when present. */
  public_id: string | null;
  scopes: string | null; // JSON string[]
  collection_id: string | null;
  secret_hash: string; // hex sha256 of the whole secret
  redacted_value: string;
  status: ApiKeyStatus;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  usage_count: number;
  revoked_at: number | null;
  created_by: string | null;
}

export interface RateLimitsTable {
  id: string;
  org_id: string;
  project_id: string;
  model: string;
  max_requests_per_1_minute: number | null;
  max_tokens_per_1_minute: number | null;
  max_images_per_1_minute: number | null;
  max_audio_megabytes_per_1_minute: number | null;
  max_requests_per_1_day: number | null;
  batch_1_day_max_input_tokens: number | null;
  updated_at: number;
}

/** Migration 0008: a project's model, hosted tool and service tier settings and its data retention. */
export interface ProjectSettingsTable {
  project_id: string;
  org_id: string;
  /** `allow_list` | `deny_list`; null: no model permissions set. */
  model_mode: string | null;
  /** JSON array of model ids (as given). */
  model_ids: string | null;
  tool_file_search: number;
  tool_web_search: number;
  tool_image_generation: number;
  tool_mcp: number;
  tool_code_interpreter: number;
  tier_default: string;
  /** JSON: `"all"` or an array of optional tiers. */
  tier_enabled: string;
  data_retention: string;
  updated_at: number;
}

export interface OrganizationDataRetentionTable {
  org_id: string;
  retention_type: string;
  updated_at: number;
}

export interface CertificatesTable {
  id: string;
  org_id: string;
  name: string | null;
  content: string; // the PEM; certificates are public material
  fingerprint: string;
  valid_at: number;
  expires_at: number;
  org_active: number;
  created_at: number;
}

export interface ProjectCertificatesTable {
  project_id: string;
  certificate_id: string;
  org_id: string;
  created_at: number;
}

export interface DataKeysTable {
  org_id: string;
  wrapped_key: string; // sealed (src/crypto/README.md) under the master key
  master_key_id: string; // short fingerprint of the master key that wraps it
  created_at: number;
  rotated_at: number | null;
}

/** The platform's own data key (one row, id 'platform'): seals the operator's default credentials. */
export interface PlatformDataKeyTable {
  id: 'platform';
  wrapped_key: string; // sealed (src/crypto/README.md) under the master key
  master_key_id: string;
  created_at: number;
  rotated_at: number | null;
}

/** The operator's default credential per provider (no organization's). */
export interface PlatformCredentialsTable {
  provider: string;
  id: string;
  ciphertext: string; // sealed (src/crypto/README.md) under the platform data key
  created_at: number;
  updated_at: number;
}

export interface CredentialsTable {
  id: string;
  org_id: string;
  kind: 'llm' | 'integration';
  name: string;
  platform: string;
  ciphertext: string; // sealed (src/crypto/README.md) under the organization's data key
  created_at: number;
  updated_at: number;
}

export interface PlatformSettingsTable {
  org_id: string;
  services: string; // JSON {name: {llm_options: {...}}}
  active_llm: string | null;
  active_stt: string | null;
  active_tts: string | null;
  llms: string | null; // JSON string[]: providers listed in metadata.services; null: every LLM credential
  created_at: number;
  updated_at: number;
}

export interface UsageEventsTable {
  id: string;
  org_id: string;
  project_id: string | null;
  api_key_id: string | null;
  user_id: string | null;
  session_id: string | null;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  created_at: number;
  // 0003: what the gateway records (src/domain/usage-recorder.ts); null or 0 on rows written before
  // and by UsageService.record
  key_owner_type: 'user' | 'service_account' | null;
  key_owner_id: string | null;
  /** The model the provider ran (`model` is the one requested). */
  served_model: string | null;
  provider: string | null;
  credential_source: 'tenant' | 'platform_default' | 'free_trial' | null;
  /** The gateway endpoint, e.g. `chat.completions`. */
  endpoint: string | null;
  /** The part of prompt_tokens served from the provider's cache. */
  cached_input_tokens: ColumnType<number, number | undefined, number>;
  images: ColumnType<number, number | undefined, number>;
  /** Audio duration in integer milliseconds. */
  audio_ms: ColumnType<number, number | undefined, number>;
  audio_bytes: ColumnType<number, number | undefined, number>;
  /** Cost in billionths of a US dollar (1e-9 USD). */
  cost_nano_usd: ColumnType<number, number | undefined, number>;
  /** The HTTP status answered. */
  status: number | null;
  latency_ms: number | null;
  /** 0/1: whether the answer streamed. */
  stream: number | null;
  // 0006
  /** The service tier the upstream reported (else the one requested); null when neither said. */
  service_tier: string | null;
  /** 0/1: a batch request (the gateway's are not). */
  batch: ColumnType<number, number | undefined, number>;
  /** Characters of a speech request's input. */
  characters: ColumnType<number, number | undefined, number>;
}

/** 0006: per-minute/hour/day aggregates of the gateway's usage (src/domain/usage-rollups.ts). */
export interface UsageRollupsTable {
  org_id: string;
  /** The bucket's width in seconds: 60, 3600 or 86400. */
  width: number;
  /** completions, embeddings, moderations, images, audio_speeches, audio_transcriptions. */
  kind: string;
  /** The bucket's start, Unix seconds, aligned to UTC. */
  bucket: number;
  project_id: string; // '' when none
  /** The key owner's user id; '' for service-account keys and keys without an owner. */
  user_id: string;
  api_key_id: string; // '' when none
  model: string;
  batch: number; // 0/1
  service_tier: string; // '' when unknown
  requests: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  images: number;
  characters: number;
  audio_ms: number;
  cost_input_nano_usd: number;
  cost_cached_input_nano_usd: number;
  cost_output_nano_usd: number;
}

export interface UsageDailyTable {
  org_id: string;
  day: string; // YYYY-MM-DD (UTC)
  project_id: string; // '' when none
  user_id: string; // '' when none
  session_id: string; // '' when none
  model: string;
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  // 0003
  cached_input_tokens: ColumnType<number, number | undefined, number>;
  /** Cost in billionths of a US dollar (1e-9 USD). */
  cost_nano_usd: ColumnType<number, number | undefined, number>;
  /** Requests answered with a non-2xx status (counted in requests too). */
  errors: ColumnType<number, number | undefined, number>;
}

export interface AuditLogsTable {
  id: string;
  org_id: string;
  type: string;
  actor_type: string;
  actor_id: string | null;
  actor_key_id: string | null;
  target_type: string | null;
  target_id: string | null;
  project_id: string | null;
  payload: string; // JSON, never secrets
  created_at: number;
  /** The HTTP request that made the change (its `x-request-id`), null when none did (0002). */
  request_id: string | null;
  /** The client's address as the server saw it (0002). */
  client_ip: string | null;
  /** The client's User-Agent, cut to 512 characters (0002). */
  user_agent: string | null;
}

export interface IdempotencyRecordsTable {
  org_id: string;
  key_id: string;
  idempotency_key: string;
  request_hash: string;
  status_code: number;
  response_body: string;
  created_at: number;
}

export interface Database {
  organizations: OrganizationsTable;
  users: UsersTable;
  org_memberships: OrgMembershipsTable;
  invites: InvitesTable;
  user_passwords: UserPasswordsTable;
  console_sessions: ConsoleSessionsTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  project_groups: ProjectGroupsTable;
  roles: RolesTable;
  role_assignments: RoleAssignmentsTable;
  service_accounts: ServiceAccountsTable;
  api_keys: ApiKeysTable;
  rate_limits: RateLimitsTable;
  project_settings: ProjectSettingsTable;
  organization_data_retention: OrganizationDataRetentionTable;
  certificates: CertificatesTable;
  project_certificates: ProjectCertificatesTable;
  data_keys: DataKeysTable;
  credentials: CredentialsTable;
  platform_data_key: PlatformDataKeyTable;
  platform_credentials: PlatformCredentialsTable;
  platform_settings: PlatformSettingsTable;
  usage_events: UsageEventsTable;
  usage_daily: UsageDailyTable;
  usage_rollups: UsageRollupsTable;
  audit_logs: AuditLogsTable;
  idempotency_records: IdempotencyRecordsTable;
  // 0007
  spend_limits: SpendLimitsTable;
  spend_alerts: SpendAlertsTable;
  spend_alert_firings: SpendAlertFiringsTable;
}

/** A hard monthly spend limit of an organization (project_id '') or of a project (0007). */
export interface SpendLimitsTable {
  org_id: string;
  project_id: string;
  threshold_cents: number;
  currency: string;
  interval: string;
  created_at: number;
  updated_at: number;
}

/** A spend alert of an organization (project_id '') or of a project (0007). */
export interface SpendAlertsTable {
  id: string;
  org_id: string;
  project_id: string;
  threshold_cents: number;
  currency: string;
  interval: string;
  channel_type: string;
  /** JSON array of email addresses. */
  recipients: string;
  subject_prefix: string | null;
  created_at: number;
  updated_at: number;
}

/** An alert that fired in a period ('YYYY-MM', UTC): at most one row per alert and period (0007). */
export interface SpendAlertFiringsTable {
  alert_id: string;
  period: string;
  org_id: string;
  spend_nano_usd: number;
  fired_at: number;
}

export type Organization = Selectable<OrganizationsTable>;
export type User = Selectable<UsersTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
export type AuditLogRow = Selectable<AuditLogsTable>;
