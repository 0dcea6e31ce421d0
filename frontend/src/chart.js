// Time-series charts on uPlot: hover values in the legend, click a legend entry to hide its
// series, drag across the plot to zoom (the caller decides what a zoom means: new URL state).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatValue } from './format.js';

const PALETTE = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9',
  '#705da0', '#508642', '#cca300', '#447ebc', '#c15c17', '#890f02', '#0a437c', '#6d1f62'];

export function seriesName(metric, legendFormat) {
  if (legendFormat) {
    return legendFormat.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, k) => metric[k] ?? '');
  }
  const name = metric.__name__ || '';
  const rest = Object.keys(metric).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}="${metric[k]}"`).join(', ');
  return rest ? `${name}{${rest}}` : (name || '{}');
}

// Put a Prometheus matrix (each series with its own [t, "v"] pairs) on one step grid.
export function alignMatrix(result, startS, endS, stepS, legendFormat) {
  const n = Math.max(1, Math.floor((endS - startS) / stepS) + 1);
  const x = new Array(n);
  for (let i = 0; i < n; i++) x[i] = startS + i * stepS;
  const series = result.map((s) => {
    const values = new Array(n).fill(null);
    for (const [t, v] of s.values || []) {
      const i = Math.round((t - startS) / stepS);
      if (i >= 0 && i < n) {
        const f = parseFloat(v);
        values[i] = Number.isFinite(f) ? f : null;
      }
    }
    return { name: s.name ?? seriesName(s.metric, legendFormat), labels: s.metric, values };
  });
  return { x, series };
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function drawChart(container, data, opts = {}) {
  container.replaceChildren();
  const unit = opts.unit || 'short';
  const axisColor = cssVar('--muted', '#888');
  const gridColor = cssVar('--grid', 'rgba(128,128,128,0.15)');
  const width = Math.max(200, container.clientWidth || 600);
  const height = opts.height || 300;
  const fill = opts.fillOpacity ? Math.min(1, opts.fillOpacity / 100) : 0;
  const series = [{}].concat(data.series.map((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    return {
      label: s.name,
      stroke: color,
      width: s.fc?.lineWidth || opts.lineWidth || 1.5,
      fill: seriesFill(s, fill) ? hexAlpha(color, seriesFill(s, fill)) : undefined,
      spanGaps: false,
      points: { show: data.x.length < 60 },
      value: (_u, v) => (s.format ? s.format(v) : formatValue(v, unit, opts.decimals)),
      scale: s.scale || 'y',
    };
  }));
  // y axes: the left one for scale y, a right one (side 1) for scale y2 when a series is
  // placed right (opts.axes from the panel's axisPlacement); hidden ones are not drawn
  const layout = opts.axes || { left: true, right: false, shown: ['left'] };
  const yAxis = (scale, side) => ({
    scale, side, show: layout.shown.includes(side === 1 ? 'right' : 'left'),
    stroke: axisColor, grid: { stroke: gridColor, show: side === 3 || !layout.shown.includes('left') },
    ticks: { stroke: gridColor }, size: 70,
    values: (_u, ticks) => ticks.map((t) => formatValue(t, unit, opts.decimals)),
  });
  const axes = [{ stroke: axisColor, grid: { stroke: gridColor }, ticks: { stroke: gridColor } }];
  if (layout.left || !layout.right) axes.push(yAxis('y', 3));
  if (layout.right) axes.push(yAxis('y2', 1));
  const u = new uPlot({
    width,
    height,
    series,
    legend: { show: opts.legend !== false, live: true },
    cursor: { drag: { x: true, y: false, setScale: !opts.onZoom } },
    scales: layout.right ? { x: { time: true }, y: { auto: true }, y2: { auto: true } } : { x: { time: true } },
    axes,
    hooks: {
      setSelect: [(self) => {
        if (!opts.onZoom || self.select.width < 5) return;
        const min = self.posToVal(self.select.left, 'x');
        const max = self.posToVal(self.select.left + self.select.width, 'x');
        self.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        opts.onZoom(min, max);
      }],
    },
  }, [data.x, ...data.series.map((s) => s.values)], container);
  if (window.ResizeObserver) {
    const ro = new ResizeObserver(() => {
      const w = container.clientWidth;
      if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height });
    });
    ro.observe(container);
  }
  return u;
}

// a series' own fill (an override) or the panel's
function seriesFill(s, fill) {
  return s.fc && s.fc.fillOpacity !== undefined ? Math.min(1, (s.fc.fillOpacity || 0) / 100) : fill;
}

function hexAlpha(hex, a) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}
