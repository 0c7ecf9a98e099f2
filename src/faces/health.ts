// Liveness and readiness probes, unauthenticated.
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/db.ts';
import type { Role } from '../config.ts';
import type { GatewayStatus } from './kit.ts';

export async function healthRoutes(app: FastifyInstance, opts: { store: Store; role: Role; gateway?: GatewayStatus }): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok', role: opts.role }));
  app.get('/readyz', async (req, reply) => {
    try {
      await opts.store.ping();
      // with REDIS_URL: `degraded` while the rate limiter is limiting in memory (Redis unusable) —
      // still ready (200): requests are served, each node taking its share of every limit
      const degraded = opts.gateway?.redisDegraded?.();
      return { status: 'ready', role: opts.role, database: opts.store.dialect, ...(degraded === undefined ? {} : { degraded }) };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'readiness check failed');
      return reply.code(503).send({ status: 'unavailable', role: opts.role, database: opts.store.dialect });
    }
  });
}
