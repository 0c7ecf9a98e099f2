// Response schemas of the OpenAI admin objects (the OpenAI admin face; the platform face embeds some): what each route may send (2xx). Fastify serializes
// answers with them (fast-json-stringify), so a field no schema names never leaves, whatever a
// formatter returns; they also make the face's OpenAPI document (/openapi/openai-admin.json).
//
// Careful: a field missing here is silently dropped from the answer, a required one missing from
// the answer is a 500, and an integer schema truncates a fraction: fields a formatter sets only
// sometimes are Optional, nullable ones are `Nullable`, amounts are numbers, not integers.
import { Type, type TSchema } from '@fastify/type-provider-typebox';

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

const Str = Type.String();
const NStr = Nullable(Type.String());
const Time = Type.Integer({ description: 'Unix seconds.' });
const NTime = Nullable(Time);
/** An object whose keys are not fixed (free-form metadata): every key is sent. */
export const FreeObject = Type.Object({}, { additionalProperties: true });

/** `CursorPage` of `item`. */
export const CursorPage = <T extends TSchema>(item: T) =>
  Type.Object({ object: Type.Literal('list'), data: Type.Array(item), first_id: NStr, last_id: NStr, has_more: Type.Boolean() });

/** `NextCursorPage` of `item`. */
export const NextCursorPage = <T extends TSchema>(item: T) => Type.Object({ object: Type.Literal('list'), data: Type.Array(item), has_more: Type.Boolean(), next: NStr });

/** `{id, object, deleted}` (the id is absent for the deletions that have none). */
export const Deleted = Type.Object({ id: Type.Optional(Str), object: Str, deleted: Type.Boolean() });

/** The 200 answer of a route: `{ response: { 200: schema } }`. */
export const ok = <T extends TSchema>(schema: T) => ({ 200: schema });

// ---- keys and users ----

const OrgUser = Type.Object({ object: Type.Literal('organization.user'), id: Str, name: Str, email: Str, role: Str, added_at: Time });

export const AdminKey = Type.Object({
  object: Type.Literal('organization.admin_api_key'),
  id: Str,
  name: NStr,
  redacted_value: Str,
  created_at: Time,
  expires_at: NTime,
  last_used_at: NTime,
  owner: Type.Object({
    type: Type.Optional(Str),
    object: Type.Optional(Str),
    id: Type.Optional(Str),
    name: Type.Optional(Str),
    created_at: Type.Optional(Time),
    role: Type.Optional(Str),
  }),
});
/** A newly created admin key: with its secret, this once. */
export const NewAdminKey = Type.Composite([AdminKey, Type.Object({ value: Str })]);

export { OrgUser };

export const Invite = Type.Object({
  object: Type.Literal('organization.invite'),
  id: Str,
  email: Str,
  role: Str,
  status: Str,
  created_at: Time,
  expires_at: Time,
  accepted_at: NTime,
  projects: Type.Array(Type.Object({ id: Str, role: Str })),
});

// ---- projects ----

export const Project = Type.Object({
  id: Str,
  object: Type.Literal('organization.project'),
  name: Str,
  created_at: Time,
  archived_at: NTime,
  status: Str,
  external_key_id: NStr,
  residency: Type.Optional(Str),
});

export const ProjectUser = Type.Object({ object: Type.Literal('organization.project.user'), id: Str, name: Str, email: Str, role: Str, added_at: Time });
export const ServiceAccount = Type.Object({ object: Type.Literal('organization.project.service_account'), id: Str, name: Str, role: Str, created_at: Time });
export const ServiceAccountKey = Type.Object({
  object: Type.Literal('organization.project.service_account.api_key'),
  id: Str,
  name: Str,
  value: Str,
  created_at: Time,
  expires_at: NTime,
});
export const NewServiceAccount = Type.Composite([ServiceAccount, Type.Object({ api_key: Nullable(ServiceAccountKey) })]);
export const ProjectKey = Type.Object({
  object: Type.Literal('organization.project.api_key'),
  id: Str,
  name: Str,
  redacted_value: Str,
  created_at: Time,
  last_used_at: NTime,
  expires_at: NTime,
  owner_project_access: Str,
  owner: Type.Object({
    type: Type.Optional(Str),
    user: Type.Optional(Type.Object({ id: Str, name: Str, email: Str, role: Str, created_at: Time })),
    service_account: Type.Optional(Type.Object({ id: Str, name: Str, role: Str, created_at: Time })),
  }),
});

// ---- certificates ----

export const Certificate = Type.Object({
  object: Str,
  id: Str,
  name: NStr,
  created_at: Time,
  certificate_details: Type.Object({ valid_at: Time, expires_at: Time, content: Type.Optional(Str) }),
  active: Type.Optional(Type.Boolean()),
});
export const CertificateToggle = Type.Object({ object: Str, data: Type.Array(Certificate) });
export const CertificateDeleted = Type.Object({ object: Type.Literal('certificate.deleted'), id: Str });

// ---- rate limits ----

/** A project rate limit: the limits a model has (the optional ones only for the models that have them). */
export const RateLimit = Type.Object(
  { object: Type.Literal('project.rate_limit'), id: Str, model: Str },
  { additionalProperties: Type.Integer(), description: 'Besides id and model: max_requests_per_1_minute, max_tokens_per_1_minute, … (integers).' },
);

// ---- roles, groups, assignments ----

export const Role = Type.Object({
  object: Type.Literal('role'),
  id: Str,
  name: Str,
  description: NStr,
  permissions: Type.Array(Str),
  resource_type: Str,
  predefined_role: Type.Boolean(),
});
export const AssignedRole = Type.Object({
  id: Str,
  name: Str,
  description: NStr,
  permissions: Type.Array(Str),
  resource_type: Str,
  predefined_role: Type.Boolean(),
  created_at: Time,
  updated_at: Time,
  created_by: Type.Null(),
  created_by_user_obj: Type.Null(),
  metadata: Type.Null(),
  assignment_sources: Type.Null(),
});
export const Assignment = Type.Object({
  object: Str,
  user: Type.Optional(OrgUser),
  group: Type.Optional(Type.Object({ object: Type.Literal('group'), id: Str, name: Str, created_at: Time, scim_managed: Type.Boolean() })),
  role: Role,
});

export const Group = Type.Object({ id: Str, name: Str, created_at: Time, is_scim_managed: Type.Boolean(), group_type: Type.Optional(Type.Literal('group')) });
export const ProjectGroup = Type.Object({
  object: Type.Literal('project.group'),
  project_id: Str,
  group_id: Str,
  group_name: Str,
  group_type: Type.Literal('group'),
  created_at: Time,
});
export const GroupUser = Type.Object({ id: Str, name: Str, email: Str });
export const GroupUserAdded = Type.Object({ object: Type.Literal('group.user'), user_id: Str, group_id: Str });
export const GroupUserDetails = Type.Object({ id: Str, name: Str, email: Str, picture: Type.Null(), is_service_account: Type.Boolean(), user_type: Type.Literal('user') });

// ---- project settings, spend ----

export const ModelPermissions = Type.Object({ object: Type.Literal('project.model_permissions'), mode: Str, model_ids: Type.Array(Str) });
export const HostedToolPermissions = Type.Object({}, { additionalProperties: Type.Object({ enabled: Type.Boolean() }), description: 'One `{enabled}` per hosted tool.' });
export const ServiceTierSettings = Type.Object({
  object: Type.Literal('project.service_tier_settings'),
  default: Str,
  enabled_tiers: Type.Union([Type.Literal('all'), Type.Array(Str)]),
});
export const DataRetention = Type.Object({ object: Str, type: Str });
export const SpendLimit = Type.Object({
  object: Str,
  threshold_amount: Type.Integer({ description: 'Cents.' }),
  currency: Str,
  interval: Str,
  enforcement: Type.Object({ status: Str }),
});
export const SpendAlert = Type.Object({
  object: Str,
  id: Str,
  threshold_amount: Type.Integer({ description: 'Cents.' }),
  currency: Str,
  interval: Str,
  notification_channel: Type.Object({ type: Str, recipients: Type.Array(Str), subject_prefix: NStr }),
});

// ---- reports ----

/** A usage or costs `page` of buckets; `result` is one line of a bucket. */
export const BucketPage = <T extends TSchema>(result: T) =>
  Type.Object({
    object: Type.Literal('page'),
    data: Type.Array(Type.Object({ object: Type.Literal('bucket'), start_time: Time, end_time: Time, results: Type.Array(result) })),
    has_more: Type.Boolean(),
    next_page: NStr,
  });

export const CostResult = Type.Object({
  object: Type.Literal('organization.costs.result'),
  amount: Type.Object({ value: Type.Number(), currency: Str }),
  line_item: NStr,
  project_id: NStr,
  api_key_id: NStr,
  user_id: NStr,
  quantity: Nullable(Type.Number()),
  quantity_unit: NStr,
  api_source: Type.Optional(Str),
});

/** A usage result: its fields depend on the endpoint (counters, then the group-by dimensions). */
export const UsageResult = Type.Object({ object: Str }, { additionalProperties: true });

/** An audit log entry: its event payload is keyed by the event type (`project.created`…). */
export const AuditLog = Type.Object({ id: Str, type: Str, effective_at: Time }, { additionalProperties: true });
