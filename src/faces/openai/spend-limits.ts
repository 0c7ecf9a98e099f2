// /v1/organization/spend_limit and /v1/organization/projects/{project_id}/spend_limit: the hard
// monthly spend limit of the organization or of a project (get, create or replace, delete). The
// gateway enforces them (src/gateway/spend.ts). `enforcement.status` is `enforcing` once the month's
// recorded spend has reached the limit (the gateway then refuses traffic), `inactive` before.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { MAX_THRESHOLD_CENTS, NANO_PER_CENT, type SpendLimit } from '../../domain/spend-limits.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatSpendLimit(l: SpendLimit) {
  return {
    object: l.projectId === null ? ('organization.spend_limit' as const) : ('project.spend_limit' as const),
    threshold_amount: l.thresholdCents,
    currency: l.currency,
    interval: l.interval,
    enforcement: { status: l.spentNanoUsd >= l.thresholdCents * NANO_PER_CENT ? ('enforcing' as const) : ('inactive' as const) },
  };
}

const UpdateBody = Type.Object({
  threshold_amount: Type.Integer({ minimum: 1, maximum: MAX_THRESHOLD_CENTS }),
  currency: Type.Literal('USD'),
  interval: Type.Literal('month'),
});
const ProjectParams = Type.Object({ project_id: Id });

export const spendLimitsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  for (const base of ['/organization/spend_limit', '/organization/projects/:project_id/spend_limit']) {
    const project = base.includes(':project_id');
    const schema = project ? { params: ProjectParams } : {};
    const projectOf = (params: unknown): string | null => (project ? (params as { project_id: string }).project_id : null);

    app.get(base, { schema: { ...schema, response: R.ok(R.SpendLimit) } }, async (req) => formatSpendLimit(await core.spendLimits.get(req.actor, req.org.id, projectOf(req.params))));

    app.post(base, { schema: { response: R.ok(R.SpendLimit), ...schema, body: UpdateBody } }, async (req) => {
      const b = req.body;
      return formatSpendLimit(await core.spendLimits.set(req.actor, req.org.id, projectOf(req.params), { thresholdCents: b.threshold_amount, currency: b.currency, interval: b.interval }));
    });

    app.delete(base, { schema: { ...schema, response: R.ok(R.Deleted) } }, async (req) => {
      const projectId = projectOf(req.params);
      await core.spendLimits.delete(req.actor, req.org.id, projectId);
      return { object: projectId === null ? ('organization.spend_limit.deleted' as const) : ('project.spend_limit.deleted' as const), deleted: true };
    });
  }
};
