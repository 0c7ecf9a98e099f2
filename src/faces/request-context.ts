// The request context a face hands the domain with the actor, for the audit log: the request id the
// server answers with (`x-request-id`), the client's address and its user agent.
import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../domain/actor.ts';

export function requestContext(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  const ip = req.ip || null;
  return {
    id: String(req.id),
    // an IPv4 client on a dual-stack socket reads as ::ffff:a.b.c.d: record the IPv4 address
    ip: ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
    userAgent: typeof ua === 'string' && ua ? ua : null,
  };
}
