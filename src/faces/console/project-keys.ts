// POST /console/api/projects/:project_id/api_keys — issues a project API key owned by a project
// member, the secret in this answer only. The OpenAI Admin API has no such route (its project keys
// are made in the dashboard), so the console has its own; the platform face's operator route (POST /platform/v1/organizations/:slug/projects/:project_id/api_keys) is
// the same call. The domain decides who may: an organization administrator or the project's owner
// for any member, a project member (`api.project.api_keys.own`) for themselves.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { forbidden } from '../../domain/errors.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';
import type { FaceContext } from '../kit.ts';
import { MAX_EXPIRES_IN_SECONDS } from '../shared/openai-objects.ts';
import { requireSession } from './state.ts';

const Params = Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 200 }) });
const Body = Type.Object({
  user_id: Type.String({ minLength: 1, maxLength: 200 }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXPIRES_IN_SECONDS })),
});
const Issued = Type.Object({
  object: Type.Literal('organization.project.api_key'),
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  redacted_value: Type.String(),
  created_at: Type.Integer(),
  expires_at: Type.Union([Type.Integer(), Type.Null()]),
  project_id: Type.Union([Type.String(), Type.Null()]),
  owner: Type.Object({ type: Type.Literal('user'), id: Type.String() }),
  value: Type.String(),
});

export const projectKeyRoutes: FastifyPluginAsyncTypebox<FaceContext> = async (app, { core }) => {
  app.post('/projects/:project_id/api_keys', { schema: { params: Params, body: Body, response: { 201: Issued } } }, async (req, reply) => {
    const s = requireSession(req);
    if (!s.org) throw forbidden('The operator issues project keys through the platform API.');
    const { row, secret } = await core.projectKeys.createForUser(req.actor, s.org.id, req.params.project_id, req.body.user_id, { name: req.body.name, expiresInSeconds: req.body.expires_in_seconds ?? null });
    reply.code(201);
    return { object: 'organization.project.api_key' as const, id: row.id, name: row.name, redacted_value: row.redacted_value, created_at: toUnixSeconds(row.created_at), expires_at: toUnixSecondsOrNull(row.expires_at), project_id: row.project_id, owner: { type: 'user' as const, id: req.body.user_id }, value: secret };
  });
};
