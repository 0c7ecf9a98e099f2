// The security matrix shared by test/security/*.test.ts: the faces (auth header builder, key rules,
// error envelope), two tenants with one of every object, the path parameters filled from them, the
// request inputs of every route that takes a body, and a content hash of the whole database.
//
// Every registered route (app.routeList) must be known here: a route of no known face, with a path
// parameter this file cannot fill, or taking a body it has no input for fails the suite ("route X is
// not in the security matrix"), so a new endpoint is covered or breaks the build.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { TestServer } from '../helpers/server.ts';
import { readResponse } from '../helpers/http.ts';
import { SYSTEM } from '../../src/domain/actor.ts';
import type { Core } from '../../src/domain/core.ts';
import type { Store } from '../../src/store/db.ts';
import { makeCertificate } from '../fixtures/certs.ts';
import { consoleDir } from '../../src/faces/console-static.ts';

// ---------------------------------------------------------------------------------------------
// Faces

export type FaceName = 'openai' | 'gateway' | 'h2ogpte' | 'whylabs' | 'iblai' | 'platform' | 'health' | 'console';
/** The faces authenticated by API keys (the console's is a session cookie: see CONSOLE_PUBLIC_WRITES). */
export type KeyFaceName = Exclude<FaceName, 'health' | 'console'>;

export interface Route {
  /** The face that registered the route (the face kit's name for it). */
  face: string;
  method: string;
  url: string;
}

/** The matrix's name of each face of the server's FACES table (and the health probes). */
const FACE_NAMES: Record<string, FaceName> = {
  'openai-admin': 'openai',
  gateway: 'gateway',
  h2ogpte: 'h2ogpte',
  whylabs: 'whylabs',
  iblai: 'iblai',
  platform: 'platform',
  health: 'health',
  console: 'console',
};

/** The face serving a registered route; undefined for a face this matrix does not know yet. */
export function faceOf(route: Route): FaceName | undefined {
  return FACE_NAMES[route.face];
}

export const routeName = (r: Route): string => `${r.method} ${r.url}`;

/** The kinds of credential a face is tried with. */
export type KeyKind = 'admin' | 'owner' | 'reader' | 'project' | 'serviceAccount';

export interface FaceSpec {
  /** Headers presenting `token` the way this face expects it. */
  auth(token: string): Record<string, string>;
  /** Malformed credentials: wrong scheme, empty token, garbage (each must be a 401). */
  malformed(validToken: string): Array<[label: string, headers: Record<string, string>]>;
  /** A well-formed key of this face's format that was never issued. */
  unknownKey(t: Tenant): string;
  /** What each kind of key of the right organization gets: 'ok' (passes authorization) or a refusal status. */
  kinds: Record<KeyKind, 'ok' | number>;
  /** The face's own key used for the revoked / deactivated / expired cases. */
  lifecycleKind: 'admin' | 'user' | 'project';
  /** Asserts the face's error envelope for `status`. */
  envelope(status: number, body: any, text: string): void;
  /** The path parameter naming the organization, when the face has one. */
  orgParam?: string;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const b64url = (n: number) => randomBytes(n).toString('base64url').slice(0, n);

function bearerMalformed(valid: string): Array<[string, Record<string, string>]> {
  return [
    ['wrong scheme (Basic)', { authorization: `Basic ${valid}` }],
    ['wrong scheme (Token)', { authorization: `Token ${valid}` }],
    ['empty token', { authorization: 'Bearer' }],
    ['garbage token', { authorization: 'Bearer !!not*a*key!!' }],
    ['token with spaces', { authorization: `Bearer ${valid} extra` }],
    ['key in X-API-Key instead', { 'x-api-key': valid }],
  ];
}

function openaiEnvelope(status: number, body: any, text: string): void {
  assert.ok(body && typeof body === 'object' && !Array.isArray(body), `an OpenAI error object: ${text}`);
  assert.deepEqual(Object.keys(body), ['error'], text);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], text);
  assert.equal(typeof body.error.message, 'string', text);
  assert.equal(body.error.type, status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error', text);
  assert.ok(body.error.param === null || typeof body.error.param === 'string', text);
  assert.ok(body.error.code === null || typeof body.error.code === 'string', text);
}

/** The console's envelope (src/faces/console/face.ts): `{"error":{"message","code"}}`. */
export function consoleEnvelope(_status: number, body: any, text: string): void {
  assert.ok(body && typeof body === 'object' && !Array.isArray(body), `a console error object: ${text}`);
  assert.deepEqual(Object.keys(body), ['error'], text);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'], text);
  assert.equal(typeof body.error.message, 'string', text);
  assert.equal(typeof body.error.code, 'string', text);
}

/**
 * The console's writes that need no session (they start one): without valid input they are a 400;
 * every other console route without a session is a 401 `not_signed_in`, whatever API key comes with it.
 */
export const CONSOLE_PUBLIC_WRITES = new Set(['POST /console/api/session', 'POST /console/api/invites/accept']);
/**
 * The console's public reads and what they answer a server without OpenID Connect configured (the
 * matrix's): whether OIDC is on (200 `{enabled:false}`), and its login and callback (404 in the
 * console's envelope). With OIDC configured they are tested in test/faces/console/oidc.test.ts.
 */
export const CONSOLE_PUBLIC_READS: Record<string, number> = { 'GET /console/api/oidc': 200, 'GET /console/api/oidc/login': 404, 'GET /console/api/oidc/callback': 404 };

export const FACES: Record<KeyFaceName, FaceSpec> = {
  // Admin keys only (src/faces/openai/plugin.ts): every other key of the organization is a 403.
  openai: {
    auth: bearer,
    malformed: bearerMalformed,
    unknownKey: () => `sk-admin-${b64url(48)}`,
    kinds: { admin: 'ok', owner: 403, reader: 403, project: 403, serviceAccount: 403 },
    lifecycleKind: 'admin',
    envelope: openaiEnvelope,
  },
  // The data plane: project keys only (a user's or a service account's); every admin-plane key is a 403.
  gateway: {
    auth: bearer,
    // (x-api-key is how Anthropic's clients send their key, accepted on /v1/messages)
    malformed: (valid) => bearerMalformed(valid).filter(([label]) => !label.includes('X-API-Key')),
    unknownKey: () => `sk-proj-${b64url(48)}`,
    kinds: { admin: 403, owner: 403, reader: 403, project: 'ok', serviceAccount: 'ok' },
    lifecycleKind: 'project',
    // /v1/messages answers in Anthropic's envelope, the rest in OpenAI's
    envelope(status, body, text) {
      if (!text.includes('/v1/messages')) return openaiEnvelope(status, body, text);
      assert.ok(body && typeof body === 'object', `an Anthropic error: ${text}`);
      assert.deepEqual(Object.keys(body).sort(), ['error', 'type'], text);
      assert.equal(body.type, 'error', text);
      assert.deepEqual(Object.keys(body.error).sort(), ['message', 'type'], text);
      assert.ok(typeof body.error.message === 'string' && typeof body.error.type === 'string', text);
    },
  },
  // Organization administrators: admin keys and owners' user keys; readers and project keys are 403.
  h2ogpte: {
    auth: bearer,
    malformed: bearerMalformed,
    unknownKey: () => `sk-${b64url(48)}`,
    kinds: { admin: 'ok', owner: 'ok', reader: 403, project: 403, serviceAccount: 403 },
    lifecycleKind: 'user',
    envelope(status, body, text) {
      assert.ok(body && typeof body === 'object', `an h2oGPTe error: ${text}`);
      assert.deepEqual(Object.keys(body).sort(), ['code', 'message'], text);
      assert.equal(body.code, status, text);
      assert.equal(typeof body.message, 'string', text);
    },
  },
  // Any key of the path's organization passes the face; each operation then needs an administrator
  // (or, for a user key, that user's own keys: the matrix always targets another user's keys).
  whylabs: {
    auth: (token) => ({ 'x-api-key': token }),
    malformed: (valid) => [
      ['Authorization: Bearer instead of X-API-Key', { authorization: `Bearer ${valid}` }],
      ['empty X-API-Key', { 'x-api-key': '' }],
      ['garbage X-API-Key', { 'x-api-key': '!!not*a*key!!' }],
      ['three-part X-API-Key', { 'x-api-key': `${valid}:org:extra` }],
      ['cookie with bad percent-encoding', { cookie: 'X-API-Key=%E0%A4%A' }],
      ['empty cookie', { cookie: 'X-API-Key=' }],
    ],
    unknownKey: (t) => `${b64url(10).replace(/[-_]/g, 'a')}.${b64url(53).replace(/[-_]/g, 'b')}:${t.orgId}`,
    kinds: { admin: 'ok', owner: 'ok', reader: 403, project: 403, serviceAccount: 403 },
    lifecycleKind: 'user',
    orgParam: 'org_id',
    envelope(status, body, text) {
      assert.ok(body && typeof body === 'object', `a WhyLabs error: ${text}`);
      assert.deepEqual(Object.keys(body).sort(), ['message', 'requestId', 'type'], text);
      assert.ok(typeof body.message === 'string' && typeof body.requestId === 'string' && typeof body.type === 'string', text);
      const type = ({ 400: 'IllegalArgument', 401: 'Unauthorized', 403: 'Forbidden', 404: 'ResourceNotFound', 409: 'ResourceAlreadyExists', 413: 'PayloadTooLarge' } as Record<number, string>)[status];
      if (type) assert.equal(body.type, type, text);
    },
  },
  // `Api-Token` (or `Api-Key`) of the `{org}` slug's own organization, tenant administrators only.
  iblai: {
    auth: (token) => ({ authorization: `Api-Token ${token}` }),
    malformed: (valid) => [
      ['wrong scheme (Bearer)', { authorization: `Bearer ${valid}` }],
      ['wrong scheme (Token)', { authorization: `Token ${valid}` }],
      ['empty token', { authorization: 'Api-Token' }],
      ['garbage token', { authorization: 'Api-Token !!not*a*key!!' }],
      ['token with spaces', { authorization: `Api-Token ${valid} extra` }],
      ['key in X-API-Key instead', { 'x-api-key': valid }],
    ],
    unknownKey: () => `sk-${b64url(48)}`,
    kinds: { admin: 'ok', owner: 'ok', reader: 403, project: 403, serviceAccount: 403 },
    lifecycleKind: 'user',
    orgParam: 'org',
    envelope(status, body, text) {
      assert.ok(body && typeof body === 'object' && !Array.isArray(body), `a DRF error: ${text}`);
      const keys = Object.keys(body);
      if (status === 400 && !('detail' in body)) {
        // field errors: {"<field>": ["message", …], …}
        assert.ok(keys.length > 0, text);
        for (const k of keys) assert.ok(Array.isArray(body[k]) && body[k].length > 0 && body[k].every((m: unknown) => typeof m === 'string'), text);
      } else {
        assert.deepEqual(keys, ['detail'], text);
        assert.equal(typeof body.detail, 'string', text);
      }
    },
  },
  // The operator's root key only: every organization key, whatever its kind, is a 401.
  platform: {
    auth: bearer,
    malformed: bearerMalformed,
    unknownKey: () => randomBytes(32).toString('hex'),
    kinds: { admin: 401, owner: 401, reader: 401, project: 401, serviceAccount: 401 },
    lifecycleKind: 'admin',
    envelope: openaiEnvelope,
    orgParam: 'slug',
  },
};

/** No stack trace, source path or exception text in an answer. */
export function assertNoStackTrace(text: string, what: string): void {
  assert.ok(!/\n\s+at |\bat [^\s]+ \([^)]*:\d+:\d+\)|node_modules|\/src\/|\.ts:\d+/.test(text), `stack trace or source path in ${what}: ${text.slice(0, 500)}`);
}

// ---------------------------------------------------------------------------------------------
// Tenants: one of every object, with names that appear nowhere else

export interface Tenant {
  tag: string;
  orgId: string;
  slug: string;
  name: string;
  ownerId: string;
  ownerEmail: string;
  ownerName: string;
  readerId: string;
  readerEmail: string;
  readerName: string;
  projectId: string;
  projectName: string;
  saId: string;
  saName: string;
  projectKeyId: string;
  projectKeyName: string;
  adminKeyId: string;
  /** An admin key that routes address (never the one the matrix authenticates with). */
  targetAdminKeyId: string;
  targetAdminKeyName: string;
  /** An owner's user key that h2oGPTe routes address. */
  targetUserKeyId: string;
  targetUserKeyName: string;
  /** The owner's WhyLabs key (10-character keyId) that WhyLabs routes address. */
  whylabsKeyId: string;
  whylabsKeyRowId: string;
  groupId: string;
  groupName: string;
  roleId: string;
  roleName: string;
  projectRoleId: string;
  projectRoleName: string;
  certId: string;
  certName: string;
  inviteId: string;
  inviteEmail: string;
  credentialName: string;
  integrationName: string;
  sessionId: string;
  rateLimitId: string;
  /** Spend alerts of the organization and of the project (the tenant also has both spend limits). */
  spendAlertId: string;
  projectSpendAlertId: string;
  /** The most recent audit event id, a cursor of this tenant. */
  auditId: string;
  keys: Record<KeyKind, string> & {
    whylabsOwner: string;
    revokedAdmin: string;
    deactivatedAdmin: string;
    expiredAdmin: string;
    revokedUser: string;
    deactivatedUser: string;
    expiredUser: string;
    revokedProject: string;
    deactivatedProject: string;
    expiredProject: string;
  };
  /** Every id, name, email and slug of this tenant: none may appear in an answer to the other. */
  markers: string[];
}

export async function makeTenant(core: Core, store: Store, tag: string): Promise<Tenant> {
  const u = randomBytes(4).toString('hex');
  const slug = `${tag}-${u}`;
  const name = `${tag} Corp ${u}`;
  const ownerEmail = `owner-${u}@${tag}.example`;
  const ownerName = `${tag} Owner ${u}`;
  const { org, owner, adminKey } = await core.orgs.create(SYSTEM, { name, slug, ownerEmail, ownerName });
  const orgId = org.id;
  const readerEmail = `reader-${u}@${tag}.example`;
  const readerName = `${tag} Reader ${u}`;
  const reader = await core.users.addMember(SYSTEM, orgId, { email: readerEmail, name: readerName, role: 'reader' });

  const projectName = `${tag}-project-${u}`;
  const project = await core.projects.create(SYSTEM, orgId, { name: projectName });
  await core.projectUsers.add(SYSTEM, orgId, project.id, { userId: owner.id, role: 'owner' });
  await core.projectUsers.add(SYSTEM, orgId, project.id, { userId: reader.id, role: 'member' });
  const projectKeyName = `${tag}-pk-${u}`;
  const projectKey = await core.projectKeys.createForUser(SYSTEM, orgId, project.id, owner.id, { name: projectKeyName });
  const saName = `${tag}-sa-${u}`;
  const sa = await core.serviceAccounts.create(SYSTEM, orgId, project.id, { name: saName });

  const userKey = (userId: string, keyName: string, format: 'sk' | 'whylabs' = 'sk') => core.userKeys.create(SYSTEM, orgId, { userId, format, name: keyName });
  const ownerKey = await userKey(owner.id, `${tag}-owner-key-${u}`);
  const readerKey = await userKey(reader.id, `${tag}-reader-key-${u}`);
  const targetUserKeyName = `${tag}-target-user-key-${u}`;
  const targetUserKey = await userKey(owner.id, targetUserKeyName);
  const whylabsKey = await userKey(owner.id, `${tag}-whylabs-key-${u}`, 'whylabs');
  const targetAdminKeyName = `${tag}-target-admin-key-${u}`;
  const targetAdmin = await core.keys.createAdminKey(SYSTEM, orgId, { name: targetAdminKeyName });

  // keys that must be refused: revoked, deactivated and expired, of both families
  const revokedAdmin = await core.keys.createAdminKey(SYSTEM, orgId, { name: `${tag}-revoked-admin-${u}` });
  await core.keys.setStatus(SYSTEM, orgId, revokedAdmin.row.id, 'revoked');
  const deactivatedAdmin = await core.keys.createAdminKey(SYSTEM, orgId, { name: `${tag}-deactivated-admin-${u}` });
  await core.keys.setStatus(SYSTEM, orgId, deactivatedAdmin.row.id, 'deactivated');
  const expiredAdmin = await core.keys.createAdminKey(SYSTEM, orgId, { name: `${tag}-expired-admin-${u}` });
  const revokedUser = await userKey(owner.id, `${tag}-revoked-user-${u}`);
  await core.userKeys.revoke(SYSTEM, orgId, revokedUser.row.id);
  const deactivatedUser = await userKey(owner.id, `${tag}-deactivated-user-${u}`);
  await core.userKeys.deactivate(SYSTEM, orgId, deactivatedUser.row.id);
  const expiredUser = await userKey(owner.id, `${tag}-expired-user-${u}`);
  const projectKeyOf = (n: string) => core.projectKeys.createForUser(SYSTEM, orgId, project.id, owner.id, { name: `${tag}-${n}-project-${u}` });
  const revokedProject = await projectKeyOf('revoked');
  await core.keys.setStatus(SYSTEM, orgId, revokedProject.row.id, 'revoked');
  const deactivatedProject = await projectKeyOf('deactivated');
  await core.keys.setStatus(SYSTEM, orgId, deactivatedProject.row.id, 'deactivated');
  const expiredProject = await projectKeyOf('expired');
  // keys cannot be issued already expired: move the expiry into the past behind the service's back
  await store.db.updateTable('api_keys').set({ expires_at: Date.now() - 60_000 }).where('id', 'in', [expiredAdmin.row.id, expiredUser.row.id, expiredProject.row.id]).execute();

  const groupName = `${tag}-group-${u}`;
  const group = await core.groups.create(SYSTEM, orgId, { name: groupName });
  await core.groups.addUser(SYSTEM, orgId, group.id, reader.id);
  const roleName = `${tag}-role-${u}`;
  const role = await core.roles.create(SYSTEM, orgId, null, { name: roleName, permissions: ['api.organization.admin_api_keys.read'] });
  const projectRoleName = `${tag}-project-role-${u}`;
  const projectRole = await core.roles.create(SYSTEM, orgId, project.id, { name: projectRoleName, permissions: [] });
  await core.roles.assign(SYSTEM, orgId, { type: 'user', id: reader.id }, null, role.id);
  await core.roles.assign(SYSTEM, orgId, { type: 'group', id: group.id }, null, role.id);
  await core.groups.addToProject(SYSTEM, orgId, project.id, { groupId: group.id, roleId: projectRole.id });
  await core.roles.assign(SYSTEM, orgId, { type: 'user', id: reader.id }, project.id, projectRole.id);

  const certName = `${tag}-cert-${u}`;
  const cert = await core.certificates.upload(SYSTEM, orgId, { certificate: makeCertificate(`${tag}-${u}`), name: certName });
  await core.certificates.setProjectActive(SYSTEM, orgId, project.id, [cert.id], true);
  const inviteEmail = `invitee-${u}@${tag}.example`;
  const invite = await core.invites.create(SYSTEM, orgId, { email: inviteEmail, role: 'reader', projects: [{ id: project.id, role: 'member' }] });

  const credentialName = `${tag}-llm-${u}`;
  // a provider credential, so the gateway lists models (its value is nobody's real key)
  await core.credentials.create(SYSTEM, orgId, 'llm', { name: 'openai', value: { key: `${tag}-openai-secret-${u}` }, platform: slug });
  await core.credentials.create(SYSTEM, orgId, 'llm', { name: credentialName, value: { api_key: `${tag}-llm-secret-${u}` }, platform: slug });
  const integrationName = `${tag}-integration-${u}`;
  await core.credentials.create(SYSTEM, orgId, 'integration', { name: integrationName, value: { token: `${tag}-integration-secret-${u}` }, platform: slug });
  await core.platform.createMetadata(SYSTEM, orgId, { platform: slug, llms: { [credentialName]: { llm_options: {} } }, active_llm: credentialName });
  const sessionId = `${tag}-session-${u}`;
  await core.usage.record({ orgId, userId: owner.id, sessionId, model: 'gpt-4o', promptTokens: 7, completionTokens: 11 });

  // spend limits (so that reading them is a 200) and spend alerts, of the organization and the project
  const spendInput = { thresholdCents: 100_000, currency: 'USD', interval: 'month' };
  await core.spendLimits.set(SYSTEM, orgId, null, spendInput);
  await core.spendLimits.set(SYSTEM, orgId, project.id, spendInput);
  const alertInput = { ...spendInput, channel: { type: 'email', recipients: [`spend-${u}@${tag}.example`], subjectPrefix: null } };
  const spendAlert = await core.spendAlerts.create(SYSTEM, orgId, null, alertInput);
  const projectSpendAlert = await core.spendAlerts.create(SYSTEM, orgId, project.id, alertInput);

  const last = await store.db.selectFrom('audit_logs').select('id').where('org_id', '=', orgId).orderBy('created_at', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow();

  const t: Omit<Tenant, 'markers'> = {
    tag,
    orgId,
    slug,
    name,
    ownerId: owner.id,
    ownerEmail,
    ownerName,
    readerId: reader.id,
    readerEmail,
    readerName,
    projectId: project.id,
    projectName,
    saId: sa.account.id,
    saName,
    projectKeyId: projectKey.row.id,
    projectKeyName,
    adminKeyId: adminKey.row.id,
    targetAdminKeyId: targetAdmin.row.id,
    targetAdminKeyName,
    targetUserKeyId: targetUserKey.row.id,
    targetUserKeyName,
    whylabsKeyId: whylabsKey.row.public_id!,
    whylabsKeyRowId: whylabsKey.row.id,
    groupId: group.id,
    groupName,
    roleId: role.id,
    roleName,
    projectRoleId: projectRole.id,
    projectRoleName,
    certId: cert.id,
    certName,
    inviteId: invite.id,
    inviteEmail,
    credentialName,
    integrationName,
    sessionId,
    rateLimitId: 'rl-gpt-4o',
    spendAlertId: spendAlert.id,
    projectSpendAlertId: projectSpendAlert.id,
    auditId: last.id,
    keys: {
      admin: adminKey.secret,
      owner: ownerKey.secret,
      reader: readerKey.secret,
      project: projectKey.secret,
      serviceAccount: sa.key!.secret,
      revokedProject: revokedProject.secret,
      deactivatedProject: deactivatedProject.secret,
      expiredProject: expiredProject.secret,
      whylabsOwner: whylabsKey.secret,
      revokedAdmin: revokedAdmin.secret,
      deactivatedAdmin: deactivatedAdmin.secret,
      expiredAdmin: expiredAdmin.secret,
      revokedUser: revokedUser.secret,
      deactivatedUser: deactivatedUser.secret,
      expiredUser: expiredUser.secret,
    },
  };
  // the tenant's own ids and names, and the tail of every secret (in case a redacted form leaks)
  const keyIds = (await store.db.selectFrom('api_keys').select(['id', 'redacted_value', 'public_id']).where('org_id', '=', orgId).execute()).flatMap((k) => [k.id, k.public_id ?? '']);
  const markers = [
    ...Object.entries(t)
      .filter(([k, v]) => typeof v === 'string' && k !== 'tag' && k !== 'rateLimitId')
      .map(([, v]) => v as string),
    ...keyIds,
    ...Object.values(t.keys),
    `${tag}-llm-secret-${u}`,
    `${tag}-integration-secret-${u}`,
  ].filter((m) => m.length >= 8);
  return { ...t, markers: [...new Set(markers)] };
}

/** The markers of `t` found in `text`, leaving out those the request itself carried (echoes are no leak). */
export function leakedMarkers(t: Tenant, text: string, request: string): string[] {
  return t.markers.filter((m) => text.includes(m) && !request.includes(m) && !request.includes(encodeURIComponent(m)));
}

// ---------------------------------------------------------------------------------------------
// Path parameters

/** The value of path parameter `name` of `route` in tenant `t`; throws for a parameter it cannot fill. */
/** The console's built asset files (dist/console/assets), none when it was never built. */
function consoleAssets(): string[] {
  try {
    return readdirSync(join(consoleDir(), 'assets')).sort();
  } catch {
    return [];
  }
}

export function paramValue(route: Route, face: FaceName, name: string, t: Tenant): string {
  const inProject = route.url.includes(':project_id');
  switch (name) {
    case 'project_id':
      return t.projectId;
    case 'user_id':
      return t.readerId;
    case 'group_id':
      return t.groupId;
    case 'role_id':
      return inProject ? t.projectRoleId : t.roleId;
    case 'certificate_id':
      return t.certId;
    case 'invite_id':
      return t.inviteId;
    case 'service_account_id':
      return t.saId;
    case 'api_key_id':
      return t.projectKeyId;
    case 'rate_limit_id':
      return t.rateLimitId;
    case 'alert_id':
      return inProject ? t.projectSpendAlertId : t.spendAlertId;
    case 'slug':
    case 'org':
      return t.slug;
    case 'org_id':
      return t.orgId;
    case 'model':
      return 'gpt-4o-mini'; // the gateway's model routes: no tenant's object
    case 'provider':
      // an operator-global object (the platform's default credential of a provider): no tenant's
      if (face === 'platform') return 'matrix-provider';
      break;
    case 'file':
      // the console's built assets (/console/assets/:file, public): a file the console build wrote
      if (route.url === '/console/assets/:file') return consoleAssets()[0] ?? 'console-not-built.js';
      break;
    case 'key_id':
      if (face === 'openai') return t.targetAdminKeyId;
      if (face === 'h2ogpte') return t.targetUserKeyId;
      if (face === 'whylabs') return t.whylabsKeyId;
  }
  throw new Error(`route ${routeName(route)} is not in the security matrix: test/security/matrix.ts cannot fill its path parameter :${name} (add it to paramValue)`);
}

/**
 * Path parameters of operator-global objects, which name nothing of any organization: the platform's
 * default credentials (`/platform/v1/default_credentials/:provider`). There is no "other tenant's id"
 * to put in them, so the matrix tries their routes with every refused credential but not with mixed
 * tenants' ids (paramValue still fills them).
 */
const GLOBAL_PARAMS: Record<string, string[]> = { '/platform/v1/default_credentials/:provider': ['provider'] };

/** The path parameters naming an organization or its objects (operator-global ones left out: GLOBAL_PARAMS). */
export const paramNames = (url: string): string[] => [...url.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!).filter((p) => !GLOBAL_PARAMS[url]?.includes(p));

/** The route's path with each parameter given by `pick` (URL-encoded). */
export function fillPath(route: Route, pick: (name: string) => string): string {
  return route.url.replace(/:([A-Za-z0-9_]+)/g, (_m, n: string) => encodeURIComponent(pick(n)));
}

// ---------------------------------------------------------------------------------------------
// Request inputs

/**
 * What a route takes beyond its path. `body` is a valid body acting on tenant `t`'s objects (so that
 * only the credential decides the answer); `query` likewise. `foreign` are requests of the other
 * tenant (`own`) on its own path, referencing `t`'s objects by body or query, with their status.
 * `createsOnly`: a route without path parameters whose body names nothing of a tenant (it creates
 * in the caller's organization from plain values): there is nothing of another tenant to aim at.
 */
export interface RouteInput {
  body?: (t: Tenant) => unknown;
  query?: (t: Tenant) => string;
  foreign?: Array<{ label: string; query?: (own: Tenant, other: Tenant) => string; body?: (own: Tenant, other: Tenant) => unknown; status: number }>;
  createsOnly?: string;
}

let pemCache: string | null = null;
const pem = () => (pemCache ??= makeCertificate('matrix-upload'));

/** A gateway body that is admitted up to the model lookup and never reaches an upstream. */
const INFERENCE = "an inference request: its body names no tenant's object, and the credential used is always the key's own organization's";
const gatewayBody = () => ({ model: 'matrix-no-such-model', messages: [{ role: 'user', content: 'hi' }] });

const spendLimitBody = { threshold_amount: 777, currency: 'USD', interval: 'month' };
const spendAlertBody = { threshold_amount: 777, currency: 'USD', interval: 'month', notification_channel: { type: 'email', recipients: ['matrix@example.com'] } };
/** The Usage and Costs API routes (GET, no path parameters, paged with `page`, not `after`). */
const USAGE_ROUTES = [
  ...['completions', 'embeddings', 'moderations', 'images', 'audio_speeches', 'audio_transcriptions', 'vector_stores', 'code_interpreter_sessions', 'file_search_calls', 'web_search_calls', 'decisions'].map((k) => `GET /v1/organization/usage/${k}`),
  'GET /v1/organization/costs',
];
const USAGE_QUERY = `start_time=${Math.floor(Date.now() / 1000) - 86_400}`;

export const ROUTE_INPUTS: Record<string, RouteInput> = {
  // gateway (data plane)
  'POST /v1/chat/completions': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/completions': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/embeddings': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/responses': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/moderations': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/images/generations': { body: () => ({ model: 'matrix-no-such-model', prompt: 'a cat' }), createsOnly: INFERENCE },
  'POST /v1/audio/speech': { body: () => ({ model: 'matrix-no-such-model', input: 'hi', voice: 'alloy' }), createsOnly: INFERENCE },
  'POST /v1/audio/transcriptions': { body: gatewayBody, createsOnly: INFERENCE },
  'POST /v1/messages': { body: () => ({ model: 'matrix-no-such-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }), createsOnly: INFERENCE },
  // OpenAI face
  'POST /v1/organization/admin_api_keys': { body: () => ({ name: 'matrix key' }), createsOnly: 'a new admin key from a name' },
  'POST /v1/organization/projects': { body: () => ({ name: 'matrix project' }), createsOnly: 'a new project from a name' },
  'POST /v1/organization/projects/:project_id': { body: () => ({ name: 'matrix renamed' }) },
  'POST /v1/organization/projects/:project_id/archive': {},
  'POST /v1/organization/certificates': { body: () => ({ certificate: pem(), name: 'matrix cert' }), createsOnly: 'a new certificate from its PEM' },
  'POST /v1/organization/certificates/activate': {
    body: (t) => ({ certificate_ids: [t.certId] }),
    foreign: [{ label: "the other tenant's certificate id in the body", body: (_o, x) => ({ certificate_ids: [x.certId] }), status: 404 }],
  },
  'POST /v1/organization/certificates/deactivate': {
    body: (t) => ({ certificate_ids: [t.certId] }),
    foreign: [{ label: "the other tenant's certificate id in the body", body: (_o, x) => ({ certificate_ids: [x.certId] }), status: 404 }],
  },
  'POST /v1/organization/certificates/:certificate_id': { body: () => ({ name: 'matrix renamed' }) },
  'POST /v1/organization/projects/:project_id/certificates/activate': {
    body: (t) => ({ certificate_ids: [t.certId] }),
    foreign: [{ label: "the other tenant's certificate id in the body", body: (_o, x) => ({ certificate_ids: [x.certId] }), status: 404 }],
  },
  'POST /v1/organization/projects/:project_id/certificates/deactivate': {
    body: (t) => ({ certificate_ids: [t.certId] }),
    foreign: [{ label: "the other tenant's certificate id in the body", body: (_o, x) => ({ certificate_ids: [x.certId] }), status: 404 }],
  },
  'POST /v1/organization/projects/:project_id/rate_limits/:rate_limit_id': { body: () => ({ max_requests_per_1_minute: 7 }) },
  // project settings: bodies of plain values
  'POST /v1/organization/projects/:project_id/model_permissions': { body: () => ({ mode: 'deny_list', model_ids: [] }) },
  'POST /v1/organization/projects/:project_id/hosted_tool_permissions': { body: () => ({ mcp: { enabled: true } }) },
  'POST /v1/organization/projects/:project_id/service_tier_settings': { body: () => ({ default: 'standard' }) },
  'POST /v1/organization/projects/:project_id/data_retention': { body: () => ({ retention_type: 'organization_default' }) },
  'POST /v1/organization/data_retention': { body: () => ({ retention_type: 'zero_data_retention' }), createsOnly: "the caller's own organization's setting, from a plain value" },
  'POST /v1/organization/spend_limit': { body: () => spendLimitBody, createsOnly: "the organization's own hard spend limit from an amount" },
  'POST /v1/organization/projects/:project_id/spend_limit': { body: () => spendLimitBody },
  'POST /v1/organization/spend_alerts': { body: () => spendAlertBody, createsOnly: 'a new spend alert from an amount and email recipients' },
  'POST /v1/organization/spend_alerts/:alert_id': { body: () => spendAlertBody },
  'POST /v1/organization/projects/:project_id/spend_alerts': { body: () => spendAlertBody },
  'POST /v1/organization/projects/:project_id/spend_alerts/:alert_id': { body: () => spendAlertBody },
  'POST /v1/organization/roles': { body: () => ({ role_name: 'matrix role', permissions: [] }), createsOnly: 'a new role from a name and permissions' },
  'POST /v1/organization/roles/:role_id': { body: () => ({ role_name: 'matrix renamed' }) },
  'POST /v1/projects/:project_id/roles': { body: () => ({ role_name: 'matrix role', permissions: [] }) },
  'POST /v1/projects/:project_id/roles/:role_id': { body: () => ({ role_name: 'matrix renamed' }) },
  'POST /v1/organization/users/:user_id/roles': {
    body: (t) => ({ role_id: t.roleId }),
    foreign: [{ label: "the other tenant's role id in the body", body: (_o, x) => ({ role_id: x.roleId }), status: 404 }],
  },
  'POST /v1/organization/groups/:group_id/roles': {
    body: (t) => ({ role_id: t.roleId }),
    foreign: [{ label: "the other tenant's role id in the body", body: (_o, x) => ({ role_id: x.roleId }), status: 404 }],
  },
  'POST /v1/projects/:project_id/users/:user_id/roles': {
    body: (t) => ({ role_id: t.projectRoleId }),
    foreign: [{ label: "the other tenant's project role id in the body", body: (_o, x) => ({ role_id: x.projectRoleId }), status: 404 }],
  },
  'POST /v1/projects/:project_id/groups/:group_id/roles': {
    body: (t) => ({ role_id: t.projectRoleId }),
    foreign: [{ label: "the other tenant's project role id in the body", body: (_o, x) => ({ role_id: x.projectRoleId }), status: 404 }],
  },
  'POST /v1/organization/groups': { body: () => ({ name: 'matrix group' }), createsOnly: 'a new group from a name' },
  'POST /v1/organization/groups/:group_id': { body: () => ({ name: 'matrix renamed' }) },
  'POST /v1/organization/groups/:group_id/users': {
    body: (t) => ({ user_id: t.ownerId }),
    foreign: [{ label: "the other tenant's user id in the body", body: (_o, x) => ({ user_id: x.ownerId }), status: 404 }],
  },
  'POST /v1/organization/projects/:project_id/groups': {
    body: (t) => ({ group_id: t.groupId, role: t.projectRoleId }),
    foreign: [
      { label: "the other tenant's group id in the body", body: (o, x) => ({ group_id: x.groupId, role: o.projectRoleId }), status: 404 },
      { label: "the other tenant's project role id in the body", body: (o, x) => ({ group_id: o.groupId, role: x.projectRoleId }), status: 404 },
    ],
  },
  'POST /v1/organization/users/:user_id': { body: () => ({ role: 'owner' }) },
  'POST /v1/organization/invites': {
    body: () => ({ email: 'matrix-invitee@example.com', role: 'reader' }),
    foreign: [
      { label: "the other tenant's project id in the invite", body: (_o, x) => ({ email: 'matrix-invitee@example.com', role: 'reader', projects: [{ id: x.projectId, role: 'member' }] }), status: 404 },
      { label: "an invite for the other tenant's pending invitee", body: (_o, x) => ({ email: x.inviteEmail, role: 'owner', projects: [{ id: x.projectId, role: 'owner' }] }), status: 404 },
    ],
  },
  'POST /v1/organization/projects/:project_id/users': {
    body: (t) => ({ user_id: t.ownerId, role: 'member' }),
    foreign: [
      { label: "the other tenant's user id in the body", body: (_o, x) => ({ user_id: x.ownerId, role: 'member' }), status: 404 },
      { label: "the other tenant's user email in the body", body: (_o, x) => ({ email: x.ownerEmail, role: 'member' }), status: 404 },
    ],
  },
  'POST /v1/organization/projects/:project_id/users/:user_id': { body: () => ({ role: 'owner' }) },
  'POST /v1/organization/projects/:project_id/service_accounts': { body: () => ({ name: 'matrix sa' }) },
  'POST /v1/organization/projects/:project_id/service_accounts/:service_account_id': { body: () => ({ name: 'matrix renamed' }) },
  'POST /v1/organization/projects/:project_id/service_accounts/:service_account_id/api_keys': { body: () => ({ name: 'matrix key' }) },
  'POST /v1/organization/projects/:project_id/api_keys': {
    body: (t) => ({ user_id: t.ownerId, name: 'matrix key' }),
    foreign: [{ label: "a key in its project for the other tenant's user", body: (_o, x) => ({ user_id: x.ownerId, name: 'matrix key' }), status: 404 }],
  },
  'POST /v1/organization/projects/:project_id/api_keys/:api_key_id': { body: () => ({ expires_in_seconds: 3600 }) },

  // platform face (root key): the organization in the path and the objects it names must match
  'POST /platform/v1/organizations': { body: () => ({ name: 'matrix org', slug: 'matrix-org' }), createsOnly: 'a new organization from a name and slug' },
  'POST /platform/v1/organizations/:slug/admin_keys': { body: () => ({ name: 'matrix key' }) },
  'POST /platform/v1/organizations/:slug/free_trial': { body: () => ({ enabled: true, metadata: { days: 14 } }) },
  'PUT /platform/v1/default_credentials/:provider': {
    body: () => ({ value: { key: 'sk-matrix-default-credential' } }),
    createsOnly: "the platform's default credential of a provider: operator-global, naming nothing of a tenant",
  },
  'POST /platform/v1/organizations/:slug/invites/:invite_id/accept': { body: () => ({ name: 'Matrix Invitee' }) },
  'POST /platform/v1/organizations/:slug/projects/:project_id/api_keys': {
    body: (t) => ({ user_id: t.ownerId, name: 'matrix key' }),
    foreign: [{ label: "a key in its project for the other tenant's user", body: (_o, x) => ({ user_id: x.ownerId, name: 'matrix key' }), status: 404 }],
  },

  // h2oGPTe face (both spellings take the same inputs)
  ...Object.fromEntries(
    ['api-keys', 'api_keys'].flatMap((s) => [
      [
        `POST /api/v1/admin/${s}`,
        {
          body: (t: Tenant) => ({ user_id: t.ownerId, name: 'matrix key' }),
          foreign: [{ label: "a key for the other tenant's user", body: (_o: Tenant, x: Tenant) => ({ user_id: x.ownerId, name: 'matrix key' }), status: 404 }],
        },
      ],
      [
        `GET /api/v1/admin/${s}`,
        {
          foreign: [
            { label: "filter by the other tenant's owner email", query: (_o: Tenant, x: Tenant) => `filter=${encodeURIComponent(x.ownerEmail)}`, status: 200 },
            { label: "filter by the other tenant's owner name", query: (_o: Tenant, x: Tenant) => `filter=${encodeURIComponent(x.ownerName)}`, status: 200 },
          ],
        },
      ],
      [`POST /api/v1/admin/${s}/deactivate/:key_id`, {}],
      [`PATCH /api/v1/admin/${s}/expire/:key_id`, { body: () => ({ expires_in: '30 days' }) }],
    ]),
  ),

  // WhyLabs face: no bodies; the operations take their inputs in the query. The user is the owner,
  // so that a reader's key (which may manage its own keys) has no business with it.
  'POST /v0/organizations/:org_id/api-key': {
    query: (t) => `user_id=${t.ownerId}`,
    foreign: [{ label: "a key for the other tenant's user", query: (_o, x) => `user_id=${x.ownerId}`, status: 404 }],
  },
  'GET /v0/organizations/:org_id/api-key': {
    foreign: [{ label: "the other tenant's user id as user_id", query: (_o, x) => `user_id=${x.ownerId}`, status: 200 }],
  },
  'DELETE /v0/organizations/:org_id/api-key': {
    query: (t) => `user_id=${t.ownerId}&key_id=${t.whylabsKeyId}`,
    foreign: [
      { label: "the other tenant's user and key", query: (_o, x) => `user_id=${x.ownerId}&key_id=${x.whylabsKeyId}`, status: 404 },
      { label: "own user, the other tenant's key", query: (o, x) => `user_id=${o.ownerId}&key_id=${x.whylabsKeyId}`, status: 404 },
    ],
  },

  // ibl.ai face
  ...Object.fromEntries(
    (
      [
        ['credential', 'credentialName'],
        ['integration-credential', 'integrationName'],
      ] as const
    ).flatMap(([seg, field]) => [
      [
        `POST /api/ai-account/orgs/:org/${seg}/`,
        {
          body: (t: Tenant) => ({ name: 'matrix-cred', value: { k: 'v' }, platform: t.slug }),
          foreign: [{ label: "the other tenant's slug as platform", body: (_o: Tenant, x: Tenant) => ({ name: 'matrix-cred', value: { k: 'v' }, platform: x.slug }), status: 400 }],
        },
      ],
      [
        `PATCH /api/ai-account/orgs/:org/${seg}/`,
        {
          body: (t: Tenant) => ({ name: t[field], value: { k: 'changed' } }),
          foreign: [
            { label: "the other tenant's credential name", body: (_o: Tenant, x: Tenant) => ({ name: x[field], value: { k: 'changed' } }), status: 404 },
            { label: "own credential moved to the other tenant's slug", body: (o: Tenant, x: Tenant) => ({ name: o[field], platform: x.slug }), status: 400 },
          ],
        },
      ],
      [
        `GET /api/ai-account/orgs/:org/${seg}/`,
        { foreign: [{ label: "the other tenant's credential name", query: (_o: Tenant, x: Tenant) => `name=${encodeURIComponent(x[field])}`, status: 404 }] },
      ],
      [
        `DELETE /api/ai-account/orgs/:org/${seg}/`,
        {
          body: (t: Tenant) => ({ name: t[field] }),
          foreign: [
            { label: "the other tenant's credential name in the body", body: (_o: Tenant, x: Tenant) => ({ name: x[field] }), status: 404 },
            { label: "the other tenant's credential name in the query", query: (_o: Tenant, x: Tenant) => `name=${encodeURIComponent(x[field])}`, status: 404 },
          ],
        },
      ],
    ]),
  ),
  'POST /api/ai-account/orgs/:org/platform-metadata/': { body: () => ({ data: { active_llm: null } }) },
  'PUT /api/ai-account/orgs/:org/platform-metadata/': { body: () => ({ active_llm: null }) },
  'GET /api/ai-account/orgs/:org/tokens/': {
    foreign: [
      { label: "the other tenant's user email as username", query: (_o, x) => `username=${encodeURIComponent(x.ownerEmail)}`, status: 404 },
      { label: "the other tenant's user id as username", query: (_o, x) => `username=${x.ownerId}`, status: 404 },
      { label: "the other tenant's session id", query: (_o, x) => `session_id=${x.sessionId}`, status: 404 },
    ],
  },
  'POST /api/ai-account/orgs/:org/use-default-llm-key/': { body: () => ({ enable: true }) },
  'POST /api/ai-account/orgs/:org/use-free-trial/': { body: () => ({ enable: true }) },
  // OpenAI face, Usage and Costs: start_time is required
  ...Object.fromEntries(USAGE_ROUTES.map((r) => [r, { query: () => USAGE_QUERY }])),
};

/**
 * OpenAI list routes page with `after=<id>`: a cursor of the other tenant must not page through
 * anything. Each list route names the field of the tenant holding a cursor of what it lists, or
 * null when its cursors are not tenant data (rate limit ids are the model catalog's).
 */
export const AFTER_CURSOR: Record<string, keyof Tenant | null> = {
  'GET /v1/organization/admin_api_keys': 'targetAdminKeyId',
  'GET /v1/organization/projects': 'projectId',
  'GET /v1/organization/certificates': 'certId',
  'GET /v1/organization/projects/:project_id/certificates': 'certId',
  'GET /v1/organization/projects/:project_id/rate_limits': null,
  // single settings objects, not lists: no cursor
  'GET /v1/organization/projects/:project_id/model_permissions': null,
  'GET /v1/organization/projects/:project_id/hosted_tool_permissions': null,
  'GET /v1/organization/projects/:project_id/service_tier_settings': null,
  'GET /v1/organization/projects/:project_id/data_retention': null,
  'GET /v1/organization/data_retention': null,
  // a spend limit is one object, not a list: no cursor
  'GET /v1/organization/spend_limit': null,
  'GET /v1/organization/projects/:project_id/spend_limit': null,
  'GET /v1/organization/spend_alerts': 'spendAlertId',
  'GET /v1/organization/projects/:project_id/spend_alerts': 'projectSpendAlertId',
  'GET /v1/organization/audit_logs': 'auditId',
  'GET /v1/organization/roles': 'roleId',
  'GET /v1/projects/:project_id/roles': 'projectRoleId',
  'GET /v1/organization/users/:user_id/roles': 'roleId',
  'GET /v1/organization/groups/:group_id/roles': 'roleId',
  'GET /v1/projects/:project_id/users/:user_id/roles': 'projectRoleId',
  'GET /v1/projects/:project_id/groups/:group_id/roles': 'projectRoleId',
  'GET /v1/organization/groups': 'groupId',
  'GET /v1/organization/groups/:group_id/users': 'readerId',
  'GET /v1/organization/projects/:project_id/groups': 'groupId',
  'GET /v1/organization/users': 'readerId',
  'GET /v1/organization/invites': 'inviteId',
  'GET /v1/organization/projects/:project_id/users': 'readerId',
  'GET /v1/organization/projects/:project_id/service_accounts': 'saId',
  'GET /v1/organization/projects/:project_id/api_keys': 'projectKeyId',
  ...Object.fromEntries(USAGE_ROUTES.map((r) => [r, null])),
};

/** Extra filters of OpenAI list routes naming objects of the other tenant: answered without its data. */
export const FOREIGN_FILTERS: Record<string, Array<{ label: string; query: (x: Tenant) => string }>> = {
  'GET /v1/organization/audit_logs': [
    { label: 'project_ids[]', query: (x) => `project_ids[]=${x.projectId}` },
    { label: 'resource_ids[]', query: (x) => `resource_ids[]=${x.projectId}&resource_ids[]=${x.readerId}&resource_ids[]=${x.targetAdminKeyId}` },
    { label: 'actor_ids[]', query: (x) => `actor_ids[]=${x.ownerId}` },
    { label: 'actor_emails[]', query: (x) => `actor_emails[]=${encodeURIComponent(x.ownerEmail)}` },
  ],
  'GET /v1/organization/users': [{ label: 'emails[]', query: (x) => `emails[]=${encodeURIComponent(x.readerEmail)}&emails[]=${encodeURIComponent(x.ownerEmail)}` }],
  ...Object.fromEntries(
    USAGE_ROUTES.map((r) => [
      r,
      [
        { label: 'project_ids[]', query: (x: Tenant) => `${USAGE_QUERY}&project_ids[]=${x.projectId}&group_by[]=project_id` },
        { label: 'api_key_ids[]', query: (x: Tenant) => `${USAGE_QUERY}&api_key_ids[]=${x.projectKeyId}` },
      ],
    ]),
  ),
};

/** True when a route takes a request body (its input says so). */
export const takesBody = (r: Route): boolean => ROUTE_INPUTS[routeName(r)]?.body !== undefined;

/** Checks that a route is fully described by the matrix; throws "route X is not in the security matrix" otherwise. */
export function checkCovered(r: Route): FaceName {
  const face = faceOf(r);
  const name = routeName(r);
  if (!face) throw new Error(`route ${name} is not in the security matrix: its face '${r.face}' is unknown here (add it to FACE_NAMES and FACES in test/security/matrix.ts)`);
  if (face === 'health') return face; // public
  if (face === 'console') return face; // cookie sessions: the cases of casesFor's console branch
  const input = ROUTE_INPUTS[name];
  const writes = r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH';
  if (writes && !input) throw new Error(`route ${name} is not in the security matrix: add its request inputs to ROUTE_INPUTS in test/security/matrix.ts`);
  if (r.method !== 'GET' && r.method !== 'POST' && r.method !== 'PUT' && r.method !== 'PATCH' && r.method !== 'DELETE') {
    throw new Error(`route ${name} is not in the security matrix: method ${r.method} is not handled`);
  }
  if (face === 'openai' && r.method === 'GET' && !/\/:[a-z_]+$/.test(r.url) && !(name in AFTER_CURSOR)) {
    throw new Error(`route ${name} is not in the security matrix: add the cursor it lists to AFTER_CURSOR in test/security/matrix.ts`);
  }
  if (input?.createsOnly === undefined && paramNames(r.url).length === 0 && writes && !input?.foreign?.length) {
    throw new Error(`route ${name} is not in the security matrix: without path parameters it needs foreign inputs or createsOnly in ROUTE_INPUTS`);
  }
  return face;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface Answer {
  status: number;
  text: string;
  json: any;
}

export interface Req {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** A string or bytes are sent as they are (with `contentType`, default JSON), anything else as JSON. */
  body?: unknown;
  contentType?: string;
}

export async function send(s: TestServer, r: Req): Promise<Answer> {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  let body: string | Uint8Array | undefined;
  if (r.body !== undefined) {
    body = typeof r.body === 'string' || r.body instanceof Uint8Array ? r.body : JSON.stringify(r.body);
    headers['content-type'] = r.contentType ?? 'application/json';
  }
  const { status, text, json } = await readResponse(await fetch(`${s.url}${r.path}`, { method: r.method, headers, ...(body !== undefined ? { body: body as string } : {}) }));
  return { status, text, json };
}

/** Runs `tasks` with at most `n` at a time. */
export async function pool<T>(n: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// Database snapshot

/** Columns that change on every authenticated request (buffered key usage), not by any endpoint. */
const VOLATILE = new Set(['last_used_at', 'usage_count']);

/** A content hash of every table (rows sorted, key-usage counters left out), with per-table row counts. */
export interface Snapshot {
  hash: string;
  /** Table → `<row count>:<content hash>`. */
  tables: Record<string, string>;
}

export async function snapshot(store: Store): Promise<Snapshot> {
  const names =
    store.dialect === 'postgres'
      ? (await sql<{ name: string }>`select tablename as name from pg_tables where schemaname = current_schema() order by tablename`.execute(store.db)).rows.map((r) => r.name)
      : (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name`.execute(store.db)).rows.map((r) => r.name);
  const tables: Record<string, string> = {};
  const all = createHash('sha256');
  for (const name of names) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(store.db)).rows;
    const lines = rows.map((r) => JSON.stringify(Object.entries(r).filter(([k]) => !VOLATILE.has(k)), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
    const h = createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16);
    tables[name] = `${rows.length}:${h}`;
    all.update(`${name}=${tables[name]};`);
  }
  return { hash: all.digest('hex'), tables };
}

/** Asserts that nothing changed between two snapshots (but the `ignore`d tables), naming the tables that did. */
export function assertUnchanged(before: Snapshot, after: Snapshot, what: string, ignore: string[] = []): void {
  if (before.hash === after.hash) return;
  const changed = Object.keys({ ...before.tables, ...after.tables }).filter((t) => before.tables[t] !== after.tables[t] && !ignore.includes(t));
  if (changed.length) assert.fail(`${what} changed rows of: ${changed.map((t) => `${t} (${before.tables[t]} → ${after.tables[t]})`).join(', ')}`);
}
