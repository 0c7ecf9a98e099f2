// The OpenAI wire conventions shared by every face that speaks them (the OpenAI admin face, the
// operator's platform API, the gateway): error envelope and list envelopes.
import type { FastifyReply } from 'fastify';
import { classifyError } from '../common.ts';

export interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openaiError(err: unknown): { status: number; body: OpenAIError } {
  const c = classifyError(err);
  const type = c.status >= 500 ? 'server_error' : c.status === 429 ? 'rate_limit_error' : 'invalid_request_error';
  return { status: c.status, body: { error: { message: c.message, type, param: c.param, code: c.code } } };
}

export function sendOpenAIError(reply: FastifyReply, err: unknown): FastifyReply {
  const { status, body } = openaiError(err);
  // 409s are retried by the SDK; a conflict here is final, so say so.
  if (status === 409) reply.header('x-should-retry', 'false');
  return reply.code(status).type('application/json').send(body);
}

/** `CursorPage` / `ConversationCursorPage` envelope. */
export function cursorList<T extends { id: string }>(data: T[], hasMore: boolean) {
  return {
    object: 'list' as const,
    data,
    first_id: data.length ? data[0]!.id : null,
    last_id: data.length ? data[data.length - 1]!.id : null,
    has_more: hasMore,
  };
}

/** `NextCursorPage` envelope (groups, roles, role assignments, project groups): `next` is the cursor. */
export function nextCursorList<T>(data: T[], hasMore: boolean, cursorOf: (item: T) => string) {
  return {
    object: 'list' as const,
    data,
    has_more: hasMore,
    next: hasMore && data.length ? cursorOf(data[data.length - 1]!) : null,
  };
}
