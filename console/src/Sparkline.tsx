// Charts drawn by uPlot (the console's charting library): `Chart` (one or more series over time, as
// wide as its box, redrawn when the box is resized) and `Sparkline` (one small series).
import { useEffect, useRef } from 'preact/hooks';
import type { JSX } from 'preact';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const DAY_LABEL = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

export interface ChartSeries {
  label: string;
  values: number[];
  color: string;
}

/**
 * A line chart of `series` over `x` (Unix seconds), with a legend; `format` writes the y values
 * (axis and legend). Its width follows its box (down to a phone's), so it never widens the page.
 */
export function Chart(props: { id?: string; label: string; x: number[]; series: ChartSeries[]; height?: number; format?: (v: number) => string; legend?: boolean }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const { x, series, label, height = 220, format, legend = true } = props;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const widthOf = () => Math.max(160, Math.floor(el.clientWidth || 480));
    const fmt = format ?? ((v: number) => String(v));
    const chart = new uPlot(
      {
        width: widthOf(),
        height,
        legend: { show: legend },
        cursor: { drag: { x: false, y: false } },
        scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          // days as "Nov 24" (UTC), one line
          { size: 30, values: (_u, splits) => splits.map((t) => (t === null || t === undefined ? '' : DAY_LABEL.format(new Date(t * 1000)))) },
          {
            values: (_u, splits) => splits.map((v) => (v === null || v === undefined ? '' : fmt(v))),
            // as wide as its longest label
            size: (_u, values) => 14 + 7.5 * Math.max(3, ...(values ?? []).map((v) => String(v ?? '').length)),
          },
        ],
        series: [
          { label: 'Day', value: (_u, v) => (v === null || v === undefined ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
          ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: true, size: 5 }, value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)) })),
        ],
      },
      [x, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => {
      const w = widthOf();
      if (w !== chart.width) chart.setSize({ width: w, height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [x, series, label, height, format, legend]);
  return <div class="chart-box" id={props.id} ref={box} role="img" aria-label={label} />;
}

/** A small single-series chart without a legend. */
export function Sparkline(props: { id?: string; label: string; x: number[]; y: number[]; height?: number; color?: string }): JSX.Element {
  const series = useRef<{ y: number[]; s: ChartSeries[] } | null>(null);
  if (!series.current || series.current.y !== props.y) series.current = { y: props.y, s: [{ label: props.label, values: props.y, color: props.color ?? '#2f5bd3' }] };
  return <Chart id={props.id} label={props.label} x={props.x} series={series.current.s} height={props.height ?? 120} legend={false} />;
}
