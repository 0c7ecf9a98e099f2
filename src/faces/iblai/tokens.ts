// Token usage: GET /api/ai-account/orgs/{org}/tokens/?username=&session_id= answers
// [{date, prompt_tokens, completion_tokens}] per UTC day, from the usage rollups.
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { queryParam } from './body.ts';
import { DrfValidationError, type FieldErrors } from './envelope.ts';
import { tenantOf } from './tenant.ts';
import * as R from './responses.ts';

export async function tokensRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;
  app.get('/orgs/:org/tokens/', { schema: { response: { 200: R.DailyTokens } } }, async (req) => {
    const org = tenantOf(req);
    const errors: FieldErrors = {};
    const username = queryParam(req.query, 'username', errors);
    const sessionId = queryParam(req.query, 'session_id', errors);
    if (Object.keys(errors).length) throw new DrfValidationError(errors);
    // a username is a keyplane user of the tenant (its id `user-…` or email) or an end user as the
    // gateway recorded it (any string the client sent)
    return core.usage.tokensPerDay(req.actor, org.id, { username, sessionId });
  });
}
