// The ibl.ai AI-account face under /api/ai-account (seed 000, reference §3): `Authorization:
// Api-Token <key>` (or `Api-Key <key>`), the `{org}` path segment is the organization's slug and must
// be the key's own organization, tenant administrators only, Django REST framework error bodies.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { keyActor, requireOrgAdmin } from '../../domain/actor.ts';
import { requestContext } from '../request-context.ts';
import { forbidden, isDomainError, notFound, unauthenticated } from '../../domain/errors.ts';
import { SLUG } from '../../domain/organizations.ts';
import type { Organization } from '../../store/schema.ts';
import { addFormParsers } from './body.ts';
import { DRF, DrfParseError, DrfValidationError, sendIblaiError } from './envelope.ts';
import { credentialRoutes } from './credentials.ts';
import { platformMetadataRoutes } from './platform-metadata.ts';
import { tokensRoutes } from './tokens.ts';
import { tenantSettingsRoutes } from './tenant-settings.ts';

const resolvedOrg = new WeakMap<FastifyRequest, Organization>();

/** The organization named by `{org}`: the caller's own, checked by the auth hook. */
export function orgOf(req: FastifyRequest): Organization {
  const org = resolvedOrg.get(req);
  if (!org) throw forbidden();
  return org;
}

export async function iblaiFace(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  app.setErrorHandler((err, req, reply) => {
    const known = isDomainError(err) || err instanceof DrfValidationError || err instanceof DrfParseError || (err as { validation?: unknown }).validation;
    if (!known && (err as { statusCode?: number }).statusCode === undefined) req.log.error({ err }, 'unhandled error');
    return sendIblaiError(reply, err, req);
  });
  app.setNotFoundHandler((req, reply) => sendIblaiError(reply, notFound(DRF.notFound), req));
  addFormParsers(app);

  app.addHook('onRequest', async (req) => {
    const header = req.headers.authorization;
    const scheme = typeof header === 'string' ? /^\s*(Api-Token|Api-Key)\b\s*(.*)$/i.exec(header) : null;
    if (!scheme) throw unauthenticated(DRF.notAuthenticated);
    const token = scheme[2]!.trim();
    if (!token) throw unauthenticated('Invalid token header. No credentials provided.');
    if (/\s/.test(token)) throw unauthenticated('Invalid token header. Token string should not contain spaces.');
    const principal = await core.keys.verify(token);
    if (!principal) throw unauthenticated(DRF.invalidToken);
    req.actor = keyActor(principal, requestContext(req));
    const slug = (req.params as Record<string, unknown> | undefined)?.org;
    if (typeof slug !== 'string') return; // no route matched: the not-found handler answers
    // An unknown slug and another tenant's answer alike (404), so tenants cannot be discovered.
    const org = SLUG.test(slug) ? await core.orgs.getBySlug(req.actor, slug).catch((e: unknown) => (isDomainError(e) ? null : Promise.reject(e))) : null;
    if (!org || org.id !== principal.orgId) throw notFound(DRF.notFound);
    requireOrgAdmin(req.actor, org.id); // "Accessible to tenant admins only": other keys get 403
    resolvedOrg.set(req, org);
  });

  await app.register(credentialRoutes, { core });
  await app.register(platformMetadataRoutes, { core });
  await app.register(tokensRoutes, { core });
  await app.register(tenantSettingsRoutes, { core });
}
