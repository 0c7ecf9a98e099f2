// The OpenAI Admin API face under /v1: admin-key bearer auth, OpenAI error envelope, one module per resource.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { keyActor } from '../../domain/actor.ts';
import { forbidden, notFound, unauthenticated } from '../../domain/errors.ts';
import { authToken } from '../common.ts';
import { sendOpenAIError } from './envelope.ts';
import { adminApiKeysRoutes } from './admin-api-keys.ts';
import { projectsRoutes } from './projects.ts';

/** The admin key's organization: every admin endpoint acts in it. */
export function orgOf(req: FastifyRequest): string {
  const a = req.actor;
  if (a.type !== 'key') throw forbidden();
  return a.key.orgId;
}

export async function openaiFace(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  app.setErrorHandler((err, req, reply) => {
    if ((err as { statusCode?: number }).statusCode === undefined && !(err as { validation?: unknown }).validation && !(err as { kind?: unknown }).kind) {
      req.log.error({ err }, 'unhandled error');
    }
    return sendOpenAIError(reply, err);
  });
  app.setNotFoundHandler((req, reply) =>
    sendOpenAIError(reply, notFound(`Invalid URL (${req.method} ${req.url.split('?')[0]}).`)),
  );

  app.addHook('onRequest', async (req) => {
    const token = authToken(req);
    if (!token) {
      throw unauthenticated(
        "You didn't provide an API key. You need to provide your admin API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    const principal = await core.keys.verify(token);
    if (!principal) throw unauthenticated('Incorrect API key provided.');
    if (principal.kind !== 'admin') {
      throw forbidden('This endpoint needs an admin API key (sk-admin-…); the key you provided is not one.');
    }
    req.actor = keyActor(principal);
  });

  await app.register(adminApiKeysRoutes, { core });
  await app.register(projectsRoutes, { core });
}
