// Idempotency-Key on the OpenAI face's POSTs: a retried create (the SDK retries 409, 429 and 5xx)
// replays the first answer; the same key with a different request is a 400.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { invalid } from '../../domain/errors.ts';
import { IdempotencyService } from '../../domain/idempotency.ts';

export function idempotencyHooks(app: FastifyInstance, core: Core): void {
  const pending = new WeakMap<FastifyRequest, { key: string; hash: string }>();

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
    pending.set(req, { key: idem, hash });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const idem = pending.get(req);
    if (!idem || reply.statusCode >= 500 || typeof payload !== 'string' || req.actor?.type !== 'key') return payload;
    await core.idempotency.save(req.actor.key.orgId, req.actor.key.keyId, idem.key, idem.hash, { status: reply.statusCode, body: payload });
    return payload;
  });
}
