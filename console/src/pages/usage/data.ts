// The Usage page's data: the OpenAI face's Usage API (completions) and Costs API, read page by page
// (`next_page`) over the chosen days, then summed in the browser. Every figure shown is a sum of the
// API's own numbers: tokens and requests are integers; costs are summed in billionths of a dollar
// (the unit keyplane stores them in), so no float drift creeps into a total.
import { request } from '../../api.ts';

export type GroupBy = '' | 'model' | 'project_id' | 'api_key_id' | 'user_id';
export const GROUPS: Array<{ value: GroupBy; label: string; column: string }> = [
  { value: '', label: 'Day', column: 'Day' },
  { value: 'model', label: 'Model', column: 'Model' },
  { value: 'project_id', label: 'Project', column: 'Project' },
  { value: 'api_key_id', label: 'API key', column: 'API key' },
  { value: 'user_id', label: 'User', column: 'User' },
];
export const RANGES = [7, 30] as const;
export const DAY = 86_400;

interface Bucket<R> { start_time: number; end_time: number; results: R[] }
interface Page<R> { data: Array<Bucket<R>>; has_more: boolean; next_page: string | null }
export interface CompletionsResult {
  input_tokens: number;
  output_tokens: number;
  num_model_requests: number;
  model?: string | null;
  project_id?: string | null;
  api_key_id?: string | null;
  user_id?: string | null;
}
export interface CostResult {
  amount: { value: number; currency: string };
  line_item: string | null;
  project_id: string | null;
  api_key_id: string | null;
  user_id: string | null;
}

/** Every bucket of a bucketed list, following `next_page` (bounded by the chosen range: at most 30 daily buckets). */
export async function allBuckets<R>(url: string): Promise<Array<Bucket<R>>> {
  const out: Array<Bucket<R>> = [];
  let page: string | null = null;
  for (let i = 0; i < 100; i++) {
    const p: Page<R> = await request<Page<R>>('GET', page ? `${url}&page=${encodeURIComponent(page)}` : url);
    out.push(...p.data);
    if (!p.has_more || !p.next_page) break;
    page = p.next_page;
  }
  return out;
}

/** The first day (UTC midnight, Unix seconds) of a range of `days` days ending today. */
export const rangeStart = (days: number, now = Date.now()): number => Math.floor(now / 1000 / DAY) * DAY - (days - 1) * DAY;

/** A cost in dollars as the API gives it, in whole billionths (keyplane stores nano-USD: exact). */
export const nanoOf = (usd: number): number => Math.round(usd * 1e9);

/** Nano-USD as dollars with as many decimals as it needs (at least two, at most nine): exact. */
export function usd(nano: number): string {
  const neg = nano < 0;
  const n = Math.abs(nano);
  const whole = Math.floor(n / 1e9);
  let frac = String(n % 1e9).padStart(9, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}$${whole}.${frac}`;
}

/** The model of a cost line item ("gpt-4o, cached input" → "gpt-4o"). */
export function modelOfLineItem(item: string | null): string | null {
  if (item === null) return null;
  const m = /^(.*), (input|cached input|output)$/.exec(item);
  return m ? m[1]! : item;
}

export interface Row {
  key: string;
  /** A project's name (rows per project), when it could be read. */
  name?: string | null;
  /** The group's value (a model, an id), or the day (YYYY-MM-DD) when not grouped; null: none recorded. */
  label: string | null;
  requests: number;
  input: number;
  output: number;
  costNano: number;
}

export interface UsageData {
  /** What the rows are per (the table follows the data it has, not a choice still loading). */
  groupBy: GroupBy;
  /** The range in days. */
  range: number;
  days: number[];
  input: number[];
  output: number[];
  costUsd: number[];
  rows: Row[];
  totals: { requests: number; input: number; output: number; costNano: number };
}

const dayOf = (t: number): string => new Date(t * 1000).toISOString().slice(0, 10);

export async function loadUsage(days: number, groupBy: GroupBy): Promise<UsageData> {
  const start = rangeStart(days);
  const base = `start_time=${start}&bucket_width=1d&limit=31`;
  const costGroup = groupBy === 'model' ? 'line_item' : groupBy;
  const [usage, costs] = await Promise.all([
    allBuckets<CompletionsResult>(`/v1/organization/usage/completions?${base}${groupBy ? `&group_by=${groupBy}` : ''}`),
    allBuckets<CostResult>(`/v1/organization/costs?${base}${costGroup ? `&group_by=${costGroup}` : ''}`),
  ]);
  const dayIndex = new Map<number, number>();
  const out: UsageData = { groupBy, range: days, days: [], input: [], output: [], costUsd: [], rows: [], totals: { requests: 0, input: 0, output: 0, costNano: 0 } };
  const slot = (t: number): number => {
    let i = dayIndex.get(t);
    if (i === undefined) {
      i = out.days.length;
      dayIndex.set(t, i);
      out.days.push(t);
      out.input.push(0);
      out.output.push(0);
      out.costUsd.push(0);
    }
    return i;
  };
  const costNanoPerDay: number[] = [];
  const rows = new Map<string, Row>();
  const row = (label: string | null): Row => {
    const key = label === null ? '\u0000none' : label;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { key, label, requests: 0, input: 0, output: 0, costNano: 0 }));
    return r;
  };
  for (const b of [...usage].sort((a, c) => a.start_time - c.start_time)) {
    const i = slot(b.start_time);
    if (!groupBy) row(dayOf(b.start_time));
    for (const r of b.results) {
      out.input[i]! += r.input_tokens;
      out.output[i]! += r.output_tokens;
      const g = row(groupBy ? r[groupBy] ?? null : dayOf(b.start_time));
      g.requests += r.num_model_requests;
      g.input += r.input_tokens;
      g.output += r.output_tokens;
      out.totals.requests += r.num_model_requests;
      out.totals.input += r.input_tokens;
      out.totals.output += r.output_tokens;
    }
  }
  for (const b of costs) {
    const i = slot(b.start_time);
    for (const c of b.results) {
      const nano = nanoOf(c.amount.value);
      costNanoPerDay[i] = (costNanoPerDay[i] ?? 0) + nano;
      const label = !groupBy ? dayOf(b.start_time) : groupBy === 'model' ? modelOfLineItem(c.line_item) : c[groupBy];
      row(label).costNano += nano;
      out.totals.costNano += nano;
    }
  }
  // the days in order (a cost bucket without usage could come last otherwise)
  const order = out.days.map((_, i) => i).sort((a, c) => out.days[a]! - out.days[c]!);
  out.days = order.map((i) => out.days[i]!);
  out.input = order.map((i) => out.input[i]!);
  out.output = order.map((i) => out.output[i]!);
  out.costUsd = order.map((i) => (costNanoPerDay[i] ?? 0) / 1e9);
  out.rows = [...rows.values()];
  if (groupBy) out.rows = out.rows.filter((r) => r.requests || r.input || r.output || r.costNano).sort((a, c) => c.costNano - a.costNano || c.input + c.output - (a.input + a.output) || (a.label ?? '').localeCompare(c.label ?? ''));
  else out.rows.sort((a, c) => (a.label! < c.label! ? -1 : 1));
  if (groupBy === 'project_id') await nameProjects(out.rows);
  return out;
}

/** Most projects named per table (one read each); the rest show their id only. */
const MAX_NAMED = 50;

/** Reads the names of the rows' projects (GET /v1/organization/projects/{id}); an unreadable one (deleted) keeps its id only. */
async function nameProjects(rows: Row[]): Promise<void> {
  await Promise.all(
    rows
      .filter((r) => r.label !== null)
      .slice(0, MAX_NAMED)
      .map(async (r) => {
        try {
          r.name = (await request<{ name: string }>('GET', `/v1/organization/projects/${encodeURIComponent(r.label!)}`)).name;
        } catch {
          r.name = null;
        }
      }),
  );
}

/** The table's header and rows as text: what the page shows and what the CSV holds, cell for cell. */
export function tableOf(data: UsageData): { header: string[]; rows: string[][] } {
  const column = GROUPS.find((g) => g.value === data.groupBy)!.column;
  const numbers = (r: Row) => [String(r.requests), String(r.input), String(r.output), usd(r.costNano)];
  if (data.groupBy === 'project_id') {
    return {
      header: ['Project', 'Project ID', 'Requests', 'Input tokens', 'Output tokens', 'Cost (USD)'],
      rows: data.rows.map((r) => [r.label === null ? '(no project)' : r.name ?? '', r.label ?? '', ...numbers(r)]),
    };
  }
  return {
    header: [column, 'Requests', 'Input tokens', 'Output tokens', 'Cost (USD)'],
    rows: data.rows.map((r) => [r.label ?? '(none)', ...numbers(r)]),
  };
}

/** RFC 4180 CSV (CRLF line ends; fields with a comma, quote or line break quoted). */
export function toCsv(header: string[], rows: string[][]): string {
  const cell = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}
