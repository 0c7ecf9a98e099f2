// /v1/organization/projects/{project_id}/rate_limits: list, and update one (POST …/{rate_limit_id}).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { LIMIT_FIELDS, MAX_LIMIT } from '../../domain/model-catalog.ts';
import type { RateLimit, RateLimitChanges } from '../../domain/rate-limits.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatRateLimit(r: RateLimit) {
  // the optional limits exist only for the models that have them: absent keys, never nulls
  return { object: 'project.rate_limit' as const, id: r.id, model: r.model, ...r.limits };
}

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 100 })),
  after: Type.Optional(Id),
  before: Type.Optional(Id),
});
const Limit = Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT }));
const UpdateBody = Type.Object(Object.fromEntries(LIMIT_FIELDS.map((f) => [f, Limit])) as Record<(typeof LIMIT_FIELDS)[number], typeof Limit>);
const ProjectParams = Type.Object({ project_id: Id });
const OneParams = Type.Object({ project_id: Id, rate_limit_id: Id });

export const rateLimitsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/projects/:project_id/rate_limits';

  app.get(base, { schema: { response: R.ok(R.CursorPage(R.RateLimit)), params: ProjectParams, querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const page = await core.rateLimits.list(req.actor, req.org.id, req.params.project_id, { limit: q.limit ?? 100, after: q.after, before: q.before });
    return cursorList(page.items.map(formatRateLimit), page.hasMore);
  });

  app.post(`${base}/:rate_limit_id`, { schema: { response: R.ok(R.RateLimit), params: OneParams, body: UpdateBody } }, async (req) => {
    const changes: RateLimitChanges = {};
    for (const f of LIMIT_FIELDS) if (req.body[f] !== undefined) changes[f] = req.body[f];
    return formatRateLimit(await core.rateLimits.update(req.actor, req.org.id, req.params.project_id, req.params.rate_limit_id, changes));
  });
};
