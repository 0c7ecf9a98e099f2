// /v1/organization/spend_alerts and /v1/organization/projects/{project_id}/spend_alerts: list (with
// `after`, `before`, `limit` 0–100 default 20, `order`), create, retrieve, update (a full
// replacement, as OpenAI's body requires every field), delete. Firing: src/domain/spend-alerts.ts.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { formatSpendAlertWire, type SpendAlertInput } from '../../domain/spend-alerts.ts';
import { MAX_THRESHOLD_CENTS } from '../../domain/spend-limits.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id, Order } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

const Body = Type.Object({
  threshold_amount: Type.Integer({ minimum: 0, maximum: MAX_THRESHOLD_CENTS }),
  currency: Type.Literal('USD'),
  interval: Type.Literal('month'),
  notification_channel: Type.Object({
    type: Type.Literal('email'),
    recipients: Type.Array(Type.String({ minLength: 3, maxLength: 320 }), { minItems: 1, maxItems: 50 }),
    subject_prefix: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])),
  }),
});
type BodyT = { threshold_amount: number; currency: 'USD'; interval: 'month'; notification_channel: { type: 'email'; recipients: string[]; subject_prefix?: string | null } };

const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, default: 20 })),
  order: Type.Optional(Order),
  after: Type.Optional(Id),
  before: Type.Optional(Id),
});

const inputOf = (b: BodyT): SpendAlertInput => ({
  thresholdCents: b.threshold_amount,
  currency: b.currency,
  interval: b.interval,
  channel: { type: b.notification_channel.type, recipients: b.notification_channel.recipients, subjectPrefix: b.notification_channel.subject_prefix ?? null },
});

export const spendAlertsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  for (const base of ['/organization/spend_alerts', '/organization/projects/:project_id/spend_alerts']) {
    const project = base.includes(':project_id');
    const Params = project ? Type.Object({ project_id: Id }) : Type.Object({});
    const OneParams = project ? Type.Object({ project_id: Id, alert_id: Id }) : Type.Object({ alert_id: Id });
    const projectOf = (params: unknown): string | null => (project ? (params as { project_id: string }).project_id : null);
    const alertOf = (params: unknown): string => (params as { alert_id: string }).alert_id;
    const deletedObject = project ? ('project.spend_alert.deleted' as const) : ('organization.spend_alert.deleted' as const);

    app.get(base, { schema: { response: R.ok(R.CursorPage(R.SpendAlert)), params: Params, querystring: ListQuery } }, async (req) => {
      const q = req.query;
      const page = await core.spendAlerts.list(req.actor, req.org.id, projectOf(req.params), { limit: q.limit ?? 20, after: q.after, before: q.before, order: q.order });
      return cursorList(page.items.map(formatSpendAlertWire), page.hasMore);
    });

    app.post(base, { schema: { response: R.ok(R.SpendAlert), params: Params, body: Body } }, async (req) => formatSpendAlertWire(await core.spendAlerts.create(req.actor, req.org.id, projectOf(req.params), inputOf(req.body as BodyT))));

    app.get(`${base}/:alert_id`, { schema: { response: R.ok(R.SpendAlert), params: OneParams } }, async (req) => formatSpendAlertWire(await core.spendAlerts.get(req.actor, req.org.id, projectOf(req.params), alertOf(req.params))));

    app.post(`${base}/:alert_id`, { schema: { response: R.ok(R.SpendAlert), params: OneParams, body: Body } }, async (req) =>
      formatSpendAlertWire(await core.spendAlerts.update(req.actor, req.org.id, projectOf(req.params), alertOf(req.params), inputOf(req.body as BodyT))),
    );

    app.delete(`${base}/:alert_id`, { schema: { response: R.ok(R.Deleted), params: OneParams } }, async (req) => {
      const id = alertOf(req.params);
      await core.spendAlerts.delete(req.actor, req.org.id, projectOf(req.params), id);
      return { id, object: deletedObject, deleted: true };
    });
  }
};
