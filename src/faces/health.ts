// Liveness and readiness probes, unauthenticated.
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/db.ts';
import type { Role } from '../config.ts';

export async function healthRoutes(app: FastifyInstance, opts: { store: Store; role: Role }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok', role: opts.role }));
  app.get('/readyz', async (req, reply) => {
    try {
      await opts.store.ping();
      return { status: 'ready', role: opts.role, database: opts.store.dialect };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'readiness check failed');
      return reply.code(503).send({ status: 'unavailable', role: opts.role, database: opts.store.dialect });
    }
  });
}
