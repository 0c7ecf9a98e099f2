// Usage (#/usage?days=7|30&group=model|project_id|api_key_id|user_id): tokens and cost per day
// (charts), totals, and a table per day or per group, from the OpenAI face's Usage API (completions)
// and Costs API; the table downloads as CSV, built in the browser from the same rows.
import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { PageProps } from './index.ts';
import { go } from '../route.ts';
import { ErrorNote, Page, useLoad } from '../ui.tsx';
import { Chart, type ChartSeries } from '../Sparkline.tsx';
import { GROUPS, RANGES, loadUsage, tableOf, toCsv, usd, type GroupBy } from './usage/data.ts';

const int = (n: number) => n.toLocaleString('en-US');

/** An object URL for a CSV text, revoked when the text changes or the page goes. */
function useCsvUrl(text: string | null): string | null {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (text === null) return setUrl(null);
    const u = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [text]);
  return url;
}

export function UsagePage({ perms, route }: PageProps): JSX.Element {
  const daysParam = Number(route.params.get('days'));
  const days = (RANGES as readonly number[]).includes(daysParam) ? daysParam : 7;
  const groupParam = route.params.get('group') ?? '';
  const groupBy = (GROUPS.some((g) => g.value === groupParam) ? groupParam : '') as GroupBy;
  const set = (d: number, g: GroupBy) => go(`/usage?days=${d}${g ? `&group=${g}` : ''}`);
  const load = useLoad(() => (perms.org_read ? loadUsage(days, groupBy) : Promise.resolve(undefined)), [days, groupBy, perms.org_read]);
  const data = load.data;
  const tokenSeries = useMemo<ChartSeries[]>(() => (data ? [
    { label: 'Input tokens', values: data.input, color: '#2f5bd3' },
    { label: 'Output tokens', values: data.output, color: '#d9822b' },
  ] : []), [data]);
  const costSeries = useMemo<ChartSeries[]>(() => (data ? [{ label: 'Cost (USD)', values: data.costUsd, color: '#1f8a4c' }] : []), [data]);
  const table = useMemo(() => (data ? tableOf(data) : null), [data]);
  const empty = !!data && data.totals.requests === 0 && data.totals.input === 0 && data.totals.output === 0 && data.totals.costNano === 0;
  const csvUrl = useCsvUrl(table && table.rows.length && !empty ? toCsv(table.header, table.rows) : null);
  const csvName = data ? `usage-${data.range}d-by-${data.groupBy || 'day'}.csv` : 'usage.csv';

  if (!perms.org_read) {
    return (
      <Page title="Usage">
        <p class="muted" id="usage-not-allowed">Your role in this organization does not include reading its usage. Ask an owner of the organization.</p>
      </Page>
    );
  }

  const controls = (
    <div class="usage-controls">
      <div class="field">
        <label for="usage-range">Range</label>
        <select id="usage-range" value={String(days)} onChange={(e) => set(Number((e.currentTarget as HTMLSelectElement).value), groupBy)}>
          {RANGES.map((d) => <option key={d} value={String(d)}>Last {d} days</option>)}
        </select>
      </div>
      <div class="field">
        <label for="usage-group">Rows per</label>
        <select id="usage-group" value={groupBy} onChange={(e) => set(days, (e.currentTarget as HTMLSelectElement).value as GroupBy)}>
          {GROUPS.map((g) => <option key={g.value} value={g.value}>{g.label}</option>)}
        </select>
      </div>
      <button type="button" id="usage-reload" onClick={load.reload} disabled={load.loading}>Reload</button>
      {csvUrl && table ? (
        <a class="button" id="usage-csv" href={csvUrl} download={csvName}>Download CSV</a>
      ) : (
        <button type="button" id="usage-csv" disabled>Download CSV</button>
      )}
    </div>
  );

  return (
    <Page title="Usage">
      {controls}
      <ErrorNote id="usage-error" error={load.error} />
      {!data ? (
        load.loading && <p class="loading" id="usage-loading">Loading…</p>
      ) : (
        <div class={load.loading ? 'usage-body is-loading' : 'usage-body'} aria-busy={load.loading}>
          <dl class="usage-totals" id="usage-totals">
            <div><dt>Requests</dt><dd id="usage-total-requests" data-value={data.totals.requests}>{int(data.totals.requests)}</dd></div>
            <div><dt>Input tokens</dt><dd id="usage-total-input" data-value={data.totals.input}>{int(data.totals.input)}</dd></div>
            <div><dt>Output tokens</dt><dd id="usage-total-output" data-value={data.totals.output}>{int(data.totals.output)}</dd></div>
            <div><dt>Cost</dt><dd id="usage-total-cost">{usd(data.totals.costNano)}</dd></div>
          </dl>
          <p class="muted usage-note">
            Last {days} days (UTC), today included. Tokens and requests are chat and text completions; cost covers every metered request.
          </p>
          {empty ? (
            <p class="empty" id="usage-empty">No usage in the last {days} days. Requests made with this organization's API keys through keyplane's gateway show up here.</p>
          ) : (
            <div class="usage-charts">
              <figure class="chart">
                <figcaption>Tokens per day</figcaption>
                <Chart id="usage-chart-tokens" label={`Input and output tokens per day, last ${days} days`} x={data.days} series={tokenSeries} format={compact} />
              </figure>
              <figure class="chart">
                <figcaption>Cost per day (USD)</figcaption>
                <Chart id="usage-chart-cost" label={`Cost per day in US dollars, last ${days} days`} x={data.days} series={costSeries} format={dollars} />
              </figure>
            </div>
          )}
          {table && table.rows.length > 0 && !empty && (
            <div class="table-wrap">
              <table id="usage-table" class={data.groupBy ? 'by-group' : 'by-day'}>
                <thead>
                  <tr>{table.header.map((h, i) => <th key={h} scope="col" class={i >= table.header.length - 4 ? 'num' : undefined}>{h}</th>)}</tr>
                </thead>
                <tbody>
                  {table.rows.map((r, i) => (
                    <tr key={data.rows[i]!.key}>
                      {r.map((c, j) => (j === 0 ? <th key={j} scope="row" class={data.rows[i]!.label === null ? 'muted' : undefined}>{c}</th> : <td key={j} class={j >= r.length - 4 ? 'num' : 'id'}>{c}</td>))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      )}
    </Page>
  );
}

/** Axis numbers: 1200 → 1.2k, 3400000 → 3.4M. */
function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(2));
}

function dollars(v: number): string {
  if (v === 0) return '$0';
  if (Math.abs(v) >= 1) return `$${v.toFixed(2)}`;
  return `$${+v.toPrecision(3)}`;
}
