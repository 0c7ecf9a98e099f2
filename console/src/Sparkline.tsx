// A small line chart drawn by uPlot (the console's charting library).
import { useEffect, useRef } from 'preact/hooks';
import type { JSX } from 'preact';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export function Sparkline(props: { label: string; x: number[]; y: number[]; width?: number; height?: number }): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, Math.min(props.width ?? 480, el.clientWidth || 480));
    const chart = new uPlot(
      {
        width,
        height: props.height ?? 120,
        legend: { show: false },
        cursor: { show: false },
        axes: [{ show: true, size: 30 }, { show: true, size: 40 }],
        series: [{}, { label: props.label, stroke: '#2f5bd3', width: 2, fill: 'rgba(47,91,211,0.12)' }],
      },
      [props.x, props.y],
      el,
    );
    return () => chart.destroy();
  }, [props.x, props.y, props.label]);
  return <div class="sparkline" ref={box} role="img" aria-label={props.label} />;
}
