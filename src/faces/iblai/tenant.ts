// The tenant of an ibl.ai request: the organization named by `{org}`, which the face's auth hook
// resolved by slug and checked against the caller's key before any handler runs.
import type { FastifyRequest } from 'fastify';

export function tenantOf(req: FastifyRequest): { id: string; slug: string } {
  return { id: req.org.id, slug: req.org.slug ?? '' };
}
