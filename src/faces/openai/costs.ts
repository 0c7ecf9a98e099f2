// /v1/organization/costs: what the organization's usage cost, per day, from the usage rollups. The
// money is what each request cost at the prices of its time (stored with the rollups in nano-USD
// per line item), so a price change never rewrites history. Line items are "<model>, input"
// (uncached input tokens), "<model>, cached input" and "<model>, output", with their token quantity
// (gateway.md §3). Query handling is shared with the Usage API (./usage.ts).
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { usageReport, type UsageDimension, type UsageReportRow } from '../../domain/usage-report.ts';
import { USAGE_KINDS } from '../../domain/usage-rollups.ts';
import { byBucket, list, pageOf, shown, windowOf } from './usage.ts';
import * as R from '../shared/openai-responses.ts';

type Query = Record<string, string | string[] | undefined>;

const GROUP_BY = ['project_id', 'line_item', 'api_key_id', 'user_id', 'api_source'] as const;
const LIMITS = { '1d': { def: 7, max: 180 } };
const DIMENSIONS = ['project_id', 'api_key_id', 'user_id'] as const;

interface Line {
  key: string;
  project_id: string | null;
  api_key_id: string | null;
  user_id: string | null;
  line_item: string | null;
  nano: number;
  quantity: number;
}

/** The line items of one rollup row: input (uncached), cached input, output; only those with a quantity or a cost. */
function linesOf(r: UsageReportRow): Array<{ name: string; quantity: number; nano: number }> {
  const model = String(r.model);
  return [
    { name: `${model}, input`, quantity: Math.max(0, r.input_tokens - r.cached_input_tokens), nano: r.cost_input_nano_usd },
    { name: `${model}, cached input`, quantity: r.cached_input_tokens, nano: r.cost_cached_input_nano_usd },
    { name: `${model}, output`, quantity: r.output_tokens, nano: r.cost_output_nano_usd },
  ].filter((l) => l.quantity > 0 || l.nano > 0);
}

async function costsPage(core: Core, req: FastifyRequest) {
  const q = req.query as Query;
  const w = windowOf(q, ['1d'], LIMITS, Math.floor(Date.now() / 1000));
  const groupBy = new Set(list(q, 'group_by', GROUP_BY) ?? []);
  const projectIds = list(q, 'project_ids');
  const apiKeyIds = list(q, 'api_key_ids');
  // line item names hold a comma ("gpt-4o, input"): one per parameter, never comma-split
  const lineItems = list(q, 'line_items', undefined, false);
  if (!w.buckets.length) return pageOf(w, () => []);
  const dims: UsageDimension[] = [...DIMENSIONS.filter((d) => groupBy.has(d)), 'model'];
  const rows = await usageReport(core.store, { orgId: req.org.id, width: w.width, from: w.from, to: w.to, projectIds, apiKeyIds }, USAGE_KINDS, dims, [
    'input_tokens',
    'cached_input_tokens',
    'output_tokens',
    'cost_input_nano_usd',
    'cost_cached_input_nano_usd',
    'cost_output_nano_usd',
  ]);
  const wanted = lineItems ? new Set(lineItems) : null;
  const byLine = groupBy.has('line_item');
  const buckets = new Map<number, Line[]>();
  for (const [bucket, rs] of byBucket(rows)) {
    const lines = new Map<string, Line>();
    for (const r of rs) {
      const group = {
        project_id: groupBy.has('project_id') ? shown(r.project_id) : null,
        api_key_id: groupBy.has('api_key_id') ? shown(r.api_key_id) : null,
        user_id: groupBy.has('user_id') ? shown(r.user_id) : null,
      };
      for (const l of linesOf(r)) {
        if (wanted && !wanted.has(l.name)) continue;
        const item = byLine ? l.name : null;
        const key = JSON.stringify([group.project_id, group.api_key_id, group.user_id, item]);
        const line = lines.get(key);
        if (line) {
          line.nano += l.nano;
          line.quantity += l.quantity;
        } else lines.set(key, { key, ...group, line_item: item, nano: l.nano, quantity: l.quantity });
      }
    }
    buckets.set(bucket, [...lines.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }
  return pageOf(w, (b) =>
    (buckets.get(b) ?? []).map((l) => ({
      object: 'organization.costs.result' as const,
      amount: { value: l.nano / 1e9, currency: 'usd' },
      line_item: l.line_item,
      project_id: l.project_id,
      api_key_id: l.api_key_id,
      user_id: l.user_id,
      quantity: byLine ? l.quantity : null,
      quantity_unit: byLine ? 'tokens' : null,
      ...(groupBy.has('api_source') ? { api_source: 'unlabeled' } : {}),
    })),
  );
}

export const costsRoutes: FastifyPluginAsync<{ core: Core }> = async (app, { core }) => {
  app.get('/organization/costs', { schema: { response: R.ok(R.BucketPage(R.CostResult)) } }, async (req) => costsPage(core, req));
};
