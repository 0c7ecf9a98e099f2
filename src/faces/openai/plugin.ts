// The OpenAI Admin API face under /v1: admin-key bearer auth, OpenAI error envelope, one module per resource.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { keyActor } from '../../domain/actor.ts';
import { requestContext } from '../request-context.ts';
import { forbidden, invalid, notFound, unauthenticated } from '../../domain/errors.ts';
import { IdempotencyService } from '../../domain/idempotency.ts';
import type { FastifyRequest as Req } from 'fastify';

const idempotent = new WeakMap<Req, { key: string; hash: string }>();
import { authToken } from '../common.ts';
import { sendOpenAIError } from './envelope.ts';
import { adminApiKeysRoutes } from './admin-api-keys.ts';
import { projectsRoutes } from './projects.ts';
import { certificatesRoutes } from './certificates.ts';
import { rateLimitsRoutes } from './rate-limits.ts';
import { auditLogsRoutes } from './audit-logs.ts';
import { rolesRoutes } from './roles.ts';
import { roleAssignmentsRoutes } from './role-assignments.ts';
import { groupsRoutes } from './groups.ts';
import { usersRoutes } from './users.ts';
import { projectMembersRoutes } from './project-members.ts';

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
    req.actor = keyActor(principal, requestContext(req));
  });

  // Idempotency-Key on POST: a retried create (the SDK retries 409, 429 and 5xx) replays the first
  // answer; the same key with a different request is a 400.
  app.addHook('preHandler', async (req, reply) => {
    const idem = req.headers['idempotency-key'];
    if (req.method !== 'POST' || idem === undefined || req.actor?.type !== 'key') return;
    if (typeof idem !== 'string' || idem.length < 1 || idem.length > 255) throw invalid('Idempotency-Key must be 1 to 255 characters.', 'Idempotency-Key', 'invalid_idempotency_key');
    const hash = IdempotencyService.requestHash(req.method, req.url, req.body);
    const found = await core.idempotency.lookup(req.actor.key.orgId, req.actor.key.keyId, idem, hash);
    if (found.kind === 'mismatch') throw invalid('This Idempotency-Key was already used with a different request.', 'Idempotency-Key', 'idempotency_key_reused');
    if (found.kind === 'replay') {
      return reply.code(found.answer.status).type('application/json').header('idempotent-replayed', 'true').send(found.answer.body);
    }
    idempotent.set(req, { key: idem, hash });
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const idem = idempotent.get(req);
    if (!idem || reply.statusCode >= 500 || typeof payload !== 'string' || req.actor?.type !== 'key') return payload;
    await core.idempotency.save(req.actor.key.orgId, req.actor.key.keyId, idem.key, idem.hash, { status: reply.statusCode, body: payload });
    return payload;
  });

  await app.register(adminApiKeysRoutes, { core });
  await app.register(projectsRoutes, { core });
  await app.register(certificatesRoutes, { core });
  await app.register(rateLimitsRoutes, { core });
  await app.register(auditLogsRoutes, { core });
  await app.register(rolesRoutes, { core });
  await app.register(roleAssignmentsRoutes, { core });
  await app.register(groupsRoutes, { core });
  await app.register(usersRoutes, { core });
  await app.register(projectMembersRoutes, { core });
}
