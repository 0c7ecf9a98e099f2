// LLM and integration credentials: /api/ai-account/orgs/{org}/credential/ and
// …/integration-credential/ (POST create, PATCH partial update, GET one or all, DELETE). Values are
// arbitrary JSON, sealed in the vault; answers show them masked (every string keeps a short tail).
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../domain/core.ts';
import type { Credential, CredentialKind } from '../../domain/credentials.ts';
import { Fields, queryParam } from './body.ts';
import { DrfValidationError, type FieldErrors } from './envelope.ts';
import { tenantOf } from './tenant.ts';
import * as R from './responses.ts';

/** ExternalServiceInfo of the 4.90.4 models: keyplane's built-in catalog of well-known services. */
const CATALOG: Record<string, [id: number, displayName: string]> = {
  openai: [1, 'OpenAI'],
  google: [2, 'Google'],
  anthropic: [3, 'Anthropic'],
  azure_openai: [4, 'Azure OpenAI'],
  'google-drive': [5, 'Google Drive'],
  mistral: [6, 'Mistral'],
  groq: [7, 'Groq'],
  deepseek: [8, 'DeepSeek'],
  elevenlabs: [9, 'ElevenLabs'],
  'aws-bedrock': [10, 'AWS Bedrock'],
  dropbox: [11, 'Dropbox'],
  onedrive: [12, 'OneDrive'],
  slack: [13, 'Slack'],
  notion: [14, 'Notion'],
  github: [15, 'GitHub'],
};

/** A stable id for names outside the catalog (FNV-1a), above the catalog's range. */
function stableId(name: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(name, 'utf8')) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return 1000 + (h % 1_000_000_000);
}

export function serviceInfo(name: string): { id: number; name: string; display_name: string; logo: string | null } {
  const known = CATALOG[name];
  return { id: known ? known[0] : stableId(name), name, display_name: known ? known[1] : name, logo: null };
}

/** LLMCredentialResponse / IntegrationCredential. */
export const credentialView = (c: Credential) => ({ name: c.name, value: c.value, platform: c.platform, service_info: serviceInfo(c.name) });

/** `platform` is the tenant's key: it must be the organization in the path. */
function checkPlatform(f: Fields, platform: string | null | undefined, slug: string): void {
  if (typeof platform === 'string' && platform !== slug) f.add('platform', `Must be the organization in the path ('${slug}').`);
}

export async function credentialRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  const kinds: Array<[string, CredentialKind]> = [
    ['credential', 'llm'],
    ['integration-credential', 'integration'],
  ];
  for (const [segment, kind] of kinds) {
    const path = `/orgs/:org/${segment}/`;

    // create: 200 (what the generated clients accept; the seed docstring's 201 would make them return None)
    app.post(path, { schema: { response: { 200: R.Credential } } }, async (req) => {
      const org = tenantOf(req);
      const f = new Fields(req.body);
      const name = f.string('name', { required: true });
      const value = f.json('value', { required: true });
      const platform = f.string('platform', { required: true });
      checkPlatform(f, platform, org.slug);
      f.done();
      const created = await core.credentials.create(req.actor, org.id, kind, { name, value, platform: platform! });
      return credentialView(created);
    });

    // partial update of the credential named in the body: a new value and/or platform
    app.patch(path, { schema: { response: { 200: R.Credential } } }, async (req) => {
      const org = tenantOf(req);
      const f = new Fields(req.body);
      const name = f.string('name', { required: true });
      const value = f.json('value');
      const platform = f.string('platform');
      checkPlatform(f, platform, org.slug);
      f.done();
      const input: { value?: unknown; platform?: string } = {};
      if (value !== undefined) input.value = value;
      if (typeof platform === 'string') input.platform = platform;
      const updated = await core.credentials.update(req.actor, org.id, kind, name!, input);
      return credentialView(updated);
    });

    // without `name`: every credential of this kind (an array); with it: that one object, 404 if absent
    app.get(path, { schema: { response: { 200: R.CredentialOrList } } }, async (req) => {
      const org = tenantOf(req);
      const errors: FieldErrors = {};
      const name = queryParam(req.query, 'name', errors);
      if (Object.keys(errors).length) throw new DrfValidationError(errors);
      if (name === undefined) return (await core.credentials.list(req.actor, org.id, kind)).map(credentialView);
      return credentialView(await core.credentials.get(req.actor, org.id, kind, name));
    });

    // delete: the name in the body (`{name, platform}`, as ibl.ai's docs send it) or in the query
    app.delete(path, { schema: { response: { 204: R.NoContent } } }, async (req, reply) => {
      const org = tenantOf(req);
      const errors: FieldErrors = {};
      const fromQuery = queryParam(req.query, 'name', errors);
      const f = new Fields(req.body);
      const fromBody = f.string('name');
      const platform = f.string('platform');
      checkPlatform(f, platform, org.slug);
      Object.assign(errors, f.errors);
      const name = fromBody ?? fromQuery;
      if (!name && !Object.keys(errors).length) errors.name = ['This field is required.'];
      if (Object.keys(errors).length) throw new DrfValidationError(errors);
      await core.credentials.delete(req.actor, org.id, kind, name!);
      return reply.code(204).send();
    });
  }
}
