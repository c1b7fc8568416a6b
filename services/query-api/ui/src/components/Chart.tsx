import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

Chart.register(
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  DoughnutController,
  ArcElement,
  CategoryScale,
  LinearScale,
  Filler,
  Tooltip,
  Legend,
);

function themeColour(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export const PALETTE = [
  '#4e9af1',
  '#f1774e',
  '#5cc489',
  '#c86dd7',
  '#f1c14e',
  '#4ed2d8',
  '#e85a7a',
  '#9aa84e',
  '#7a7ff0',
  '#d8934e',
  '#58b0a0',
  '#b87c5a',
  '#8e9bb0',
  '#d06ab0',
];

interface Props {
  config: ChartConfiguration;
  height?: number;
  label: string;
  onClick?: (index: number) => void;
}

/** One Chart.js chart; rebuilt when its config changes, re-themed when the theme flips. */
export function ChartView({ config, height = 220, label, onClick }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const text = themeColour('--muted');
    const grid = themeColour('--grid');
    Chart.defaults.color = text;
    Chart.defaults.borderColor = grid;
    Chart.defaults.font.family = 'inherit';
    const chart = new Chart(canvas.current, {
      ...config,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        ...config.options,
        onClick: onClick
          ? (_e, elements) => {
              const first = elements[0];
              if (first) onClick(first.index);
            }
          : undefined,
      },
    });
    return () => chart.destroy();
  }, [config, onClick]);
  return (
    <div class="chart" style={{ height: `${height}px` }}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
