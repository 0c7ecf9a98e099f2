// Liveness and readiness probes, unauthenticated.
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/db.ts';

export async function healthRoutes(app: FastifyInstance, opts: { store: Store }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (req, reply) => {
    try {
      await opts.store.ping();
      return { status: 'ready', database: opts.store.dialect };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'readiness check failed');
      return reply.code(503).send({ status: 'unavailable', database: opts.store.dialect });
    }
  });
}
