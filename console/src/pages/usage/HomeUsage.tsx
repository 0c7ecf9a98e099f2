// The home page's small usage chart: tokens (input + output) per day over the last 14 days, from the
// Usage API, with a link to the Usage page.
import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import { Sparkline } from '../../Sparkline.tsx';
import { useLoad } from '../../ui.tsx';
import { allBuckets, rangeStart, type CompletionsResult } from './data.ts';

const DAYS = 14;

export function HomeUsage(): JSX.Element {
  const load = useLoad(async () => {
    const buckets = await allBuckets<CompletionsResult>(`/v1/organization/usage/completions?start_time=${rangeStart(DAYS)}&bucket_width=1d&limit=${DAYS}`);
    buckets.sort((a, b) => a.start_time - b.start_time);
    const x = buckets.map((b) => b.start_time);
    const y = buckets.map((b) => b.results.reduce((n, r) => n + r.input_tokens + r.output_tokens, 0));
    return { x, y, total: y.reduce((a, b) => a + b, 0) };
  }, []);
  const d = load.data;
  const x = useMemo(() => d?.x ?? [], [d]);
  const y = useMemo(() => d?.y ?? [], [d]);
  if (load.error) return <p class="muted" id="home-usage-error">Usage could not be loaded: {load.error}</p>;
  if (!d) return <p class="muted">Loading usage…</p>;
  return (
    <figure class="chart" id="home-usage">
      <figcaption>
        Tokens per day, last {DAYS} days: <strong id="home-usage-total">{d.total.toLocaleString('en-US')}</strong> in all. <a href="#/usage">See usage</a>
      </figcaption>
      {d.total > 0 ? <Sparkline id="home-usage-chart" label={`Tokens per day over the last ${DAYS} days`} x={x} y={y} /> : <p class="muted" id="home-usage-empty">No requests yet.</p>}
    </figure>
  );
}
