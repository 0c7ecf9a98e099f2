// What the console face knows about a request: its session (or none) and the cookie secret it came
// with, set by the face's auth hook (face.ts) and read by its routes.
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import type { SessionView } from '../../domain/console-sessions.ts';

export interface ConsoleRequest {
  session: SessionView | null;
  secret: string | null;
}
export const state = new WeakMap<FastifyRequest, ConsoleRequest>();
export const stateOf = (req: FastifyRequest): ConsoleRequest => state.get(req) ?? { session: null, secret: null };

export const notSignedIn = () => new DomainError('unauthenticated', 'You are not signed in.', null, 'not_signed_in');

/** The signed-in session of a request, or 401 not_signed_in. */
export function requireSession(req: FastifyRequest): SessionView {
  const { session } = stateOf(req);
  if (!session) throw notSignedIn();
  return session;
}
