// Request schemas shared by the OpenAI face's resources.
import { Type } from '@fastify/type-provider-typebox';

/** An object id in a path or cursor. Unknown ids are 404s; absurd ones are 400s. */
export const Id = Type.String({ minLength: 1, maxLength: 200 });

/** `ConversationCursorPage` / `CursorPage` query: `after` and `limit` (1–100, default 20). */
export const PageQuery = {
  after: Type.Optional(Id),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
};

export const Order = Type.Union([Type.Literal('asc'), Type.Literal('desc')]);
