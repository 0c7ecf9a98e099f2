// The whole core model of DESIGN.md in one dialect-neutral migration: only text, integer and bigint
// columns, composite primary keys and plain indexes, so it runs unchanged on SQLite and PostgreSQL.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const s = db.schema;
  await s
    .createTable('organizations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('use_default_llm_key', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('free_trial_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('free_trial_metadata', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('org_memberships')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('org_memberships_pk', ['org_id', 'user_id'])
    .execute();
  await s.createIndex('org_memberships_page').on('org_memberships').columns(['org_id', 'created_at', 'user_id']).execute();

  await s
    .createTable('invites')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('projects', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', 'bigint', (c) => c.notNull()) // when the invite was sent
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('accepted_at', 'bigint')
    .execute();
  await s.createIndex('invites_page').on('invites').columns(['org_id', 'created_at', 'id']).execute();

  await s
    .createTable('projects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('external_key_id', 'text')
    .addColumn('residency', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('archived_at', 'bigint')
    .execute();
  await s.createIndex('projects_page').on('projects').columns(['org_id', 'created_at', 'id']).execute();

  await s
    .createTable('project_members')
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_members_pk', ['project_id', 'user_id'])
    .execute();
  await s.createIndex('project_members_page').on('project_members').columns(['project_id', 'created_at', 'user_id']).execute();

  await s
    .createTable('groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('is_scim_managed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('groups_page').on('groups').columns(['org_id', 'created_at', 'id']).execute();

  await s
    .createTable('group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
    .execute();
  await s.createIndex('group_members_page').on('group_members').columns(['group_id', 'created_at', 'user_id']).execute();

  await s
    .createTable('project_groups')
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_groups_pk', ['project_id', 'group_id'])
    .execute();
  await s.createIndex('project_groups_page').on('project_groups').columns(['project_id', 'created_at', 'group_id']).execute();

  await s
    .createTable('roles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('project_id', 'text', (c) => c.references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('permissions', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('predefined', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('roles_page').on('roles').columns(['org_id', 'project_id', 'created_at', 'id']).execute();

  await s
    .createTable('role_assignments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id'))
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_id', 'text', (c) => c.notNull())
    // '' for organization-level assignments, so the unique index below holds on both dialects
    .addColumn('project_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s
    .createIndex('role_assignments_unique')
    .on('role_assignments')
    .columns(['principal_type', 'principal_id', 'project_id', 'role_id'])
    .unique()
    .execute();
  await s.createIndex('role_assignments_role').on('role_assignments').columns(['role_id']).execute();

  await s
    .createTable('service_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('service_accounts_page').on('service_accounts').columns(['project_id', 'created_at', 'id']).execute();

  await s
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.references('projects.id'))
    .addColumn('owner_type', 'text')
    .addColumn('owner_id', 'text')
    .addColumn('name', 'text')
    .addColumn('public_id', 'text', (c) => c.unique())
    .addColumn('scopes', 'text')
    .addColumn('collection_id', 'text')
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('redacted_value', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('usage_count', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('revoked_at', 'bigint')
    .addColumn('created_by', 'text')
    .execute();
  await s.createIndex('api_keys_org_page').on('api_keys').columns(['org_id', 'kind', 'created_at', 'id']).execute();
  await s.createIndex('api_keys_project_page').on('api_keys').columns(['project_id', 'created_at', 'id']).execute();
  await s.createIndex('api_keys_owner').on('api_keys').columns(['owner_id', 'created_at', 'id']).execute();

  await s
    .createTable('rate_limits')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('max_requests_per_1_minute', 'bigint')
    .addColumn('max_tokens_per_1_minute', 'bigint')
    .addColumn('max_images_per_1_minute', 'bigint')
    .addColumn('max_audio_megabytes_per_1_minute', 'bigint')
    .addColumn('max_requests_per_1_day', 'bigint')
    .addColumn('batch_1_day_max_input_tokens', 'bigint')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('rate_limits_project_model', ['project_id', 'model'])
    .execute();

  await s
    .createTable('certificates')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('name', 'text')
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('valid_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('org_active', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('certificates_page').on('certificates').columns(['org_id', 'created_at', 'id']).execute();
  await s.createIndex('certificates_fingerprint').on('certificates').columns(['org_id', 'fingerprint']).unique().execute();

  await s
    .createTable('project_certificates')
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
    .addColumn('certificate_id', 'text', (c) => c.notNull().references('certificates.id'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_certificates_pk', ['project_id', 'certificate_id'])
    .execute();

  await s
    .createTable('data_keys')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id'))
    .addColumn('wrapped_key', 'text', (c) => c.notNull())
    .addColumn('master_key_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('rotated_at', 'bigint')
    .execute();

  await s
    .createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('credentials_org_kind_name', ['org_id', 'kind', 'name'])
    .execute();

  await s
    .createTable('platform_settings')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('organizations.id'))
    .addColumn('services', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('active_llm', 'text')
    .addColumn('active_stt', 'text')
    .addColumn('active_tts', 'text')
    .addColumn('llms', 'text') // JSON string[]: the providers listed in metadata.services; null = every LLM credential
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await s
    .createTable('usage_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('project_id', 'text')
    .addColumn('api_key_id', 'text')
    .addColumn('user_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
    .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('usage_events_org_time').on('usage_events').columns(['org_id', 'created_at']).execute();

  await s
    .createTable('usage_daily')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id'))
    .addColumn('day', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('requests', 'bigint', (c) => c.notNull())
    .addColumn('prompt_tokens', 'bigint', (c) => c.notNull())
    .addColumn('completion_tokens', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_daily_pk', ['org_id', 'day', 'project_id', 'user_id', 'session_id', 'model'])
    .execute();
  await s.createIndex('usage_daily_user').on('usage_daily').columns(['org_id', 'user_id', 'day']).execute();
  await s.createIndex('usage_daily_session').on('usage_daily').columns(['org_id', 'session_id', 'day']).execute();

  await s
    .createTable('audit_logs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('actor_key_id', 'text')
    .addColumn('target_type', 'text')
    .addColumn('target_id', 'text')
    .addColumn('project_id', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await s.createIndex('audit_logs_page').on('audit_logs').columns(['org_id', 'created_at', 'id']).execute();

  await s
    .createTable('idempotency_records')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status_code', 'integer', (c) => c.notNull())
    .addColumn('response_body', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_records_pk', ['org_id', 'key_id', 'idempotency_key'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'idempotency_records', 'audit_logs', 'usage_daily', 'usage_events', 'platform_settings', 'credentials',
    'data_keys', 'project_certificates', 'certificates', 'rate_limits', 'api_keys', 'service_accounts',
    'role_assignments', 'roles', 'project_groups', 'group_members', 'groups', 'project_members', 'projects',
    'invites', 'org_memberships', 'users', 'organizations',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
