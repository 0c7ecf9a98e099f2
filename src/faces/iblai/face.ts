// The ibl.ai AI-account face under /api/ai-account (seed 000, reference §3): `Authorization:
// Api-Token <key>` (or `Api-Key <key>`), the `{org}` path segment is the organization's slug and must
// be the key's own organization, tenant administrators only, Django REST framework error bodies.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { requireOrgAdmin, requireOrgRead } from '../../domain/actor.ts';
import { isDomainError, notFound, unauthenticated } from '../../domain/errors.ts';
import { SLUG } from '../../domain/organizations.ts';
import { defineFace, JSON_ADMIN_BODY, type FaceContext } from '../kit.ts';
import { addFormParsers } from './body.ts';
import { DRF, sendIblaiError } from './envelope.ts';
import { credentialRoutes } from './credentials.ts';
import { platformMetadataRoutes } from './platform-metadata.ts';
import { tokensRoutes } from './tokens.ts';
import { tenantSettingsRoutes } from './tenant-settings.ts';

const routes: FastifyPluginAsync<FaceContext> = async (app, { core }) => {
  for (const r of [credentialRoutes, platformMetadataRoutes, tokensRoutes, tenantSettingsRoutes]) await app.register(r, { core });
};

/** DRF's TokenAuthentication: `Api-Token <key>` (or `Api-Key`), with its own messages for malformed headers. */
function apiToken(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  const scheme = typeof header === 'string' ? /^\s*(Api-Token|Api-Key)\b\s*(.*)$/i.exec(header) : null;
  if (!scheme) return null;
  const token = scheme[2]!.trim();
  if (!token) throw unauthenticated('Invalid token header. No credentials provided.');
  if (/\s/.test(token)) throw unauthenticated('Invalid token header. Token string should not contain spaces.');
  return token;
}

export const iblaiFace = defineFace({
  name: 'iblai',
  prefix: '/api/ai-account',
  auth: { token: apiToken, missing: DRF.notAuthenticated, invalid: DRF.invalidToken },
  // An unknown slug and another tenant's answer alike (404), so tenants cannot be discovered.
  async org(req, actor, { core }) {
    const slug = (req.params as Record<string, unknown> | undefined)?.org;
    const own = actor.type === 'key' ? actor.key.orgId : actor.type === 'console_user' ? actor.user.orgId : null;
    if (typeof slug !== 'string' || own === null) return null; // no route matched: the not-found handler answers
    const org = SLUG.test(slug) ? await core.orgs.getBySlug(actor, slug).catch((e: unknown) => (isDomainError(e) ? null : Promise.reject(e))) : null;
    if (!org || org.id !== own) throw notFound(DRF.notFound);
    return { id: org.id, slug: org.slug };
  },
  // the console calls these routes with its session (src/faces/session.ts)
  acceptsSession: true,
  // "Accessible to tenant admins only": other keys get 403; a console user may read (every write
  // is checked again in the domain, which refuses one who is not an administrator)
  admit(actor, org) {
    if (org) (actor.type === 'console_user' ? requireOrgRead : requireOrgAdmin)(actor, org.id);
  },
  render: (reply, err, req) => sendIblaiError(reply, err, req),
  notFoundMessage: () => DRF.notFound,
  // JSON, and the form encodings DRF accepts
  body: { ...JSON_ADMIN_BODY, parsers: addFormParsers },
  routes,
  docs: {
    title: 'keyplane: ibl.ai AI-account API',
    description: "ibl.ai's AI-account API under `/api/ai-account/orgs/{org}/…`, for tenant administrators.",
    securitySchemes: {
      apiToken: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'The key after the `Api-Token` (or `Api-Key`) scheme: `Authorization: Api-Token <key>`.' },
    },
  },
});

