// keyplane's own operator API under /platform/v1, authenticated by KEYPLANE_ROOT_KEY (Bearer).
// Without a root key configured the whole face is absent. Errors use the OpenAI envelope.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { isOperator, ROOT, rootActor } from '../../domain/actor.ts';
import { forbidden } from '../../domain/errors.ts';
import { constantTimeEqual } from '../../crypto/keys.ts';
import { authToken, toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';
import { defineFace, JSON_ADMIN_BODY } from '../kit.ts';
import { requestContext } from '../request-context.ts';
import { sendOpenAIError } from '../shared/openai-wire.ts';
import { formatAdminKey, formatInvite, formatOrgUser, MAX_EXPIRES_IN_SECONDS } from '../shared/openai-objects.ts';
import type { Organization } from '../../store/schema.ts';
import type { IssuedKey } from '../../domain/keys.ts';
import type { DefaultCredential } from '../../domain/default-credentials.ts';
import type { FreeTrialInput, TenantSettings } from '../../domain/platform.ts';
import * as R from '../shared/openai-responses.ts';

const Slug = Type.String({ minLength: 1, maxLength: 63 });
const CreateOrgBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  slug: Slug,
  owner_email: Type.Optional(Type.String({ minLength: 3, maxLength: 320 })),
  owner_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
});
const CreateKeyBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXPIRES_IN_SECONDS })),
});

const Provider = Type.String({ minLength: 1, maxLength: 255 });
// the value's shape (an object with "key" or "api_key") is checked by the domain, with its own message
const DefaultCredentialBody = Type.Object({ value: Type.Unknown() });

// an organization's free trial; metadata's shape (an object, its allowance fields) is checked by the domain
const FreeTrialBody = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  metadata: Type.Optional(Type.Unknown()),
  restart: Type.Optional(Type.Boolean()),
});

/** An organization's free trial as this API shows it. */
function formatFreeTrial(s: TenantSettings) {
  return { object: 'organization.free_trial' as const, enabled: s.freeTrialEnabled, metadata: s.freeTrialMetadata, started_at: toUnixSecondsOrNull(s.freeTrialStartedAt) };
}

/** An operator default credential as this API shows it: masked. */
function formatDefaultCredential(c: DefaultCredential) {
  return { object: 'platform.default_credential' as const, provider: c.provider, value: c.value, created_at: toUnixSeconds(c.created_at), updated_at: toUnixSeconds(c.updated_at) };
}

export function formatOrg(org: Organization) {
  return { object: 'organization' as const, id: org.id, slug: org.slug, name: org.name, created_at: toUnixSeconds(org.created_at) };
}

/** A newly issued admin key as the OpenAI face shows it, with its secret `value` (this once). */
async function formatIssuedKey(core: Core, key: IssuedKey) {
  const owners = await core.users.membersByIds(ROOT, key.row.org_id, [key.row.owner_id ?? '']);
  return { ...formatAdminKey(key.row, owners), value: key.secret };
}

// Response schemas (the serializer sends only what they name); the OpenAI objects are the OpenAI face's.
const Str = Type.String();
const Time = Type.Integer({ description: 'Unix seconds.' });
const Org = Type.Object({ object: Type.Literal('organization'), id: Str, slug: Str, name: Str, created_at: Time });
const DefaultCredential = Type.Object({ object: Type.Literal('platform.default_credential'), provider: Str, value: Type.Unknown({ description: 'The credential, masked.' }), created_at: Time, updated_at: Time });
const FreeTrial = Type.Object({ object: Type.Literal('organization.free_trial'), enabled: Type.Boolean(), metadata: Type.Unknown(), started_at: R.Nullable(Time) });
const ProjectKeyIssued = Type.Object({
  object: Type.Literal('organization.project.api_key'),
  id: Str,
  name: R.Nullable(Str),
  redacted_value: Str,
  created_at: Time,
  expires_at: R.Nullable(Time),
  project_id: R.Nullable(Str),
  value: Str,
});

const ROOT_KEY_NEEDED = 'The platform API needs the operator root key (Authorization: Bearer $KEYPLANE_ROOT_KEY).';

export const platformFace = defineFace({
  name: 'platform',
  prefix: '/platform/v1',
  // without a root key configured the whole face is absent (its URLs are unknown)
  enabled: ({ rootKey }) => !!rootKey,
  auth: {
    token: (req) => authToken(req),
    missing: ROOT_KEY_NEEDED,
    invalid: ROOT_KEY_NEEDED,
    verify: async (token, { rootKey }, req) => (rootKey && constantTimeEqual(token, rootKey) ? rootActor(requestContext(req)) : null),
  },
  // the operator acts across organizations: each route names the one it acts in
  org: () => null,
  needsOrg: false,
  // the console's operator view calls these routes with an operator session (src/faces/session.ts)
  acceptsSession: true,
  admit(actor) {
    if (!isOperator(actor)) throw forbidden('This operation is reserved to the keyplane operator.');
  },
  render: (reply, err) => sendOpenAIError(reply, err),
  notFoundMessage: (req) => `Invalid URL (${req.method} ${req.url.split('?')[0]}).`,
  docs: {
    title: 'keyplane: operator platform API',
    description: "keyplane's own operator API under `/platform/v1`: organizations, their admin keys and settings.",
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The operator root key (KEYPLANE_ROOT_KEY).' } },
  },
  body: JSON_ADMIN_BODY,
  routes: async (app, { core }) => {
    await app.register(platformRoutes, { core });
  },
});

const platformRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {

  // without `limit`, every organization (as before); with it, one keyset page (`after`: the last id of the previous page)
  const OrgListQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), after: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) });
  app.get('/organizations', { schema: { querystring: OrgListQuery, response: R.ok(Type.Object({ object: Type.Literal('list'), data: Type.Array(Org), has_more: Type.Boolean(), last_id: R.Nullable(Str) })) } }, async (req) => {
    const { limit, after } = req.query;
    if (limit === undefined && after === undefined) {
      const orgs = await core.orgs.list(ROOT);
      return { object: 'list' as const, data: orgs.map(formatOrg), has_more: false, last_id: orgs.at(-1)?.id ?? null };
    }
    const page = await core.orgs.page(ROOT, { limit: limit ?? 20, after });
    return { object: 'list' as const, data: page.items.map(formatOrg), has_more: page.hasMore, last_id: page.items.at(-1)?.id ?? null };
  });

  app.get('/organizations/:slug', { schema: { params: Type.Object({ slug: Slug }), response: R.ok(Org) } }, async (req) => formatOrg(await core.orgs.getBySlug(ROOT, req.params.slug)));

  app.post('/organizations', { schema: { body: CreateOrgBody, response: { 201: Type.Composite([Org, Type.Object({ owner: Type.Object({ id: Str, email: Str, name: Str }), admin_key: R.NewAdminKey })]) } } }, async (req, reply) => {
    const b = req.body;
    const created = await core.orgs.create(req.actor, { name: b.name, slug: b.slug, ownerEmail: b.owner_email, ownerName: b.owner_name });
    reply.code(201);
    return {
      ...formatOrg(created.org),
      owner: { id: created.owner.id, email: created.owner.email, name: created.owner.name },
      admin_key: await formatIssuedKey(core, created.adminKey),
    };
  });

  app.post(
    '/organizations/:slug/invites/:invite_id/accept',
    { schema: { params: Type.Object({ slug: Slug, invite_id: Type.String({ minLength: 1, maxLength: 200 }) }), body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }), response: R.ok(Type.Object({ invite: R.Invite, user: R.OrgUser })) } },
    async (req) => {
      const org = await core.orgs.getBySlug(ROOT, req.params.slug);
      const { invite, member } = await core.invites.accept(req.actor, org.id, req.params.invite_id, { name: req.body.name ?? null });
      return { invite: formatInvite(invite), user: formatOrgUser(member) };
    },
  );

  app.post(
    '/organizations/:slug/projects/:project_id/api_keys',
    { schema: { params: Type.Object({ slug: Slug, project_id: Type.String({ minLength: 1, maxLength: 200 }) }), body: Type.Object({ user_id: Type.String({ minLength: 1, maxLength: 200 }), name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXPIRES_IN_SECONDS })) }), response: { 201: ProjectKeyIssued } } },
    async (req, reply) => {
      const org = await core.orgs.getBySlug(ROOT, req.params.slug);
      const { row, secret } = await core.projectKeys.createForUser(req.actor, org.id, req.params.project_id, req.body.user_id, {
        name: req.body.name,
        expiresInSeconds: req.body.expires_in_seconds || null,
      });
      reply.code(201);
      return { object: 'organization.project.api_key' as const, id: row.id, name: row.name, redacted_value: row.redacted_value, created_at: toUnixSeconds(row.created_at), expires_at: toUnixSecondsOrNull(row.expires_at), project_id: row.project_id, value: secret };
    },
  );

  // the operator's default provider credentials (used by tenants with the default LLM key or a free trial)
  app.get('/default_credentials', { schema: { response: R.ok(Type.Object({ object: Type.Literal('list'), data: Type.Array(DefaultCredential) })) } }, async (req) => {
    const list = await core.defaultCredentials.list(req.actor);
    return { object: 'list' as const, data: list.map(formatDefaultCredential) };
  });

  app.put('/default_credentials/:provider', { schema: { params: Type.Object({ provider: Provider }), body: DefaultCredentialBody, response: { 200: DefaultCredential, 201: DefaultCredential } } }, async (req, reply) => {
    const { created, ...c } = await core.defaultCredentials.set(req.actor, req.params.provider, req.body.value);
    reply.code(created ? 201 : 200);
    return formatDefaultCredential(c);
  });

  app.delete('/default_credentials/:provider', { schema: { params: Type.Object({ provider: Provider }), response: R.ok(Type.Object({ object: Type.Literal('platform.default_credential.deleted'), provider: Str, deleted: Type.Boolean() })) } }, async (req) => {
    await core.defaultCredentials.delete(req.actor, req.params.provider);
    return { object: 'platform.default_credential.deleted' as const, provider: req.params.provider, deleted: true };
  });

  // an organization's free trial: on/off, its metadata (allowance: {"tokens", "requests", "days"}), and
  // `restart: true`, which only the operator may do: the trial starts over now (src/domain/platform.ts)
  app.get('/organizations/:slug/free_trial', { schema: { params: Type.Object({ slug: Slug }), response: R.ok(FreeTrial) } }, async (req) => {
    const org = await core.orgs.getBySlug(ROOT, req.params.slug);
    return formatFreeTrial(await core.platform.settings(req.actor, org.id));
  });

  app.post('/organizations/:slug/free_trial', { schema: { params: Type.Object({ slug: Slug }), body: FreeTrialBody, response: R.ok(FreeTrial) } }, async (req) => {
    const org = await core.orgs.getBySlug(ROOT, req.params.slug);
    const b = req.body;
    const input: FreeTrialInput = {};
    if (b.enabled !== undefined) input.enabled = b.enabled;
    if (b.metadata !== undefined) input.metadata = b.metadata as FreeTrialInput['metadata'];
    if (b.restart !== undefined) input.restart = b.restart;
    return formatFreeTrial(await core.platform.setFreeTrial(req.actor, org.id, input));
  });

  // the organization's spend-alert webhook signing secret (derived from the master key, never stored):
  // receivers check `keyplane-signature` with it (src/domain/spend-webhook.ts)
  app.get('/organizations/:slug/webhook_secret', { schema: { params: Type.Object({ slug: Slug }), response: R.ok(Type.Object({ object: Type.Literal('organization.webhook_secret'), organization_id: Str, secret: Str })) } }, async (req) => {
    const org = await core.orgs.getBySlug(ROOT, req.params.slug);
    return { object: 'organization.webhook_secret' as const, organization_id: org.id, secret: core.webhookSecret(org.id) };
  });

  app.post('/organizations/:slug/admin_keys', { schema: { params: Type.Object({ slug: Slug }), body: CreateKeyBody, response: { 201: R.NewAdminKey } } }, async (req, reply) => {
    const org = await core.orgs.getBySlug(ROOT, req.params.slug);
    const body = req.body;
    const issued = await core.keys.createAdminKey(req.actor, org.id, {
      name: body.name ?? 'operator',
      expiresInSeconds: body.expires_in_seconds || null,
    });
    reply.code(201);
    return formatIssuedKey(core, issued);
  });
};
