// Idempotency-Key on the OpenAI face's POSTs: a retried create (the SDK retries 409, 429 and 5xx)
// replays the first answer; the same key with a different request is a 400. Identical requests that
// arrive together run once: the others wait for that run's answer and replay it, or, if it takes
// longer than the wait, get a 409 that the SDK retries (src/domain/idempotency.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { conflict, invalid } from '../../domain/errors.ts';
import { IdempotencyService } from '../../domain/idempotency.ts';

export function idempotencyHooks(app: FastifyInstance, core: Core): void {
  const pending = new WeakMap<FastifyRequest, { key: string; hash: string; claimedAt: number }>();

  app.addHook('preHandler', async (req, reply) => {
    const idem = req.headers['idempotency-key'];
    if (req.method !== 'POST' || idem === undefined || req.actor?.type !== 'key') return;
    if (typeof idem !== 'string' || idem.length < 1 || idem.length > 255) throw invalid('Idempotency-Key must be 1 to 255 characters.', 'Idempotency-Key', 'invalid_idempotency_key');
    const hash = IdempotencyService.requestHash(req.method, req.url, req.body);
    const found = await core.idempotency.claim(req.actor.key.orgId, req.actor.key.keyId, idem, hash);
    if (found.kind === 'mismatch') throw invalid('This Idempotency-Key was already used with a different request.', 'Idempotency-Key', 'idempotency_key_reused');
    if (found.kind === 'busy') throw conflict('A request with this Idempotency-Key is still being processed; retry it shortly.', 'Idempotency-Key');
    if (found.kind === 'replay') {
      return reply.code(found.answer.status).type('application/json').header('idempotent-replayed', 'true').send(found.answer.body);
    }
    pending.set(req, { key: idem, hash, claimedAt: found.claimedAt });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const idem = pending.get(req);
    if (!idem || req.actor?.type !== 'key') return payload;
    pending.delete(req);
    const { orgId, keyId } = req.actor.key;
    // a failed run (or an answer that is not plain JSON text) leaves nothing to replay: the next request runs
    if (reply.statusCode >= 500 || typeof payload !== 'string') await core.idempotency.release(orgId, keyId, idem.key, idem.claimedAt);
    else await core.idempotency.save(orgId, keyId, idem.key, idem.hash, { status: reply.statusCode, body: payload }, idem.claimedAt);
    return payload;
  });
}
