// The h2oGPTe face under /api/v1: `Authorization: Bearer <key>` for organization administrators
// only, errors as {code, message}. Its keys are user keys of the shared store.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { isOrgAdmin, keyActor } from '../../domain/actor.ts';
import { requestContext } from '../request-context.ts';
import { forbidden, notFound, unauthenticated } from '../../domain/errors.ts';
import { authToken } from '../common.ts';
import { sendH2ogpteError } from './envelope.ts';
import { h2ogpteApiKeysRoutes } from './api-keys.ts';

/** The caller key's organization: every endpoint acts in it. */
export function orgOf(req: FastifyRequest): string {
  const a = req.actor;
  if (a?.type !== 'key') throw forbidden();
  return a.key.orgId;
}

export async function h2ogpteFace(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  app.setErrorHandler((err, req, reply) => {
    if ((err as { statusCode?: number }).statusCode === undefined && !(err as { validation?: unknown }).validation && !(err as { kind?: unknown }).kind) {
      req.log.error({ err }, 'unhandled error');
    }
    return sendH2ogpteError(reply, err);
  });
  app.setNotFoundHandler((req, reply) => sendH2ogpteError(reply, notFound(`Not found: ${req.method} ${req.url.split('?')[0]}.`)));

  app.addHook('onRequest', async (req) => {
    const token = authToken(req);
    if (!token) throw unauthenticated('Missing API key: send it in the Authorization header as "Bearer sk-…".');
    const principal = await core.keys.verify(token);
    if (!principal) throw unauthenticated('Invalid API key.');
    const actor = keyActor(principal, requestContext(req));
    // "Allows admins to …": admin keys, and user keys of the organization's owners
    if (!isOrgAdmin(actor, principal.orgId)) throw forbidden('Only administrators may use this endpoint.');
    req.actor = actor;
  });

  await app.register(h2ogpteApiKeysRoutes, { core });
}
