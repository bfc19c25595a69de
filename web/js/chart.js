// Charts: uPlot line charts of (downsampled) metric series, and sparklines.
import uPlot from '/vendor/uPlot.esm.js';
import { h, fmtNum } from './util.js';

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

// TensorBoard's debiased exponential moving average; weight in [0, 1).
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, n = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || !isFinite(y)) { out[i] = y; continue; }
    last = last * weight + (1 - weight) * y;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

// series: [{label, color, xs: [], ys: []}], each sorted by x.
// opts: {xMode: 'step'|'wall'|'relative', log, smoothing, height}
export function buildData(series, opts) {
  const tables = series.map((s) => {
    let ys = smooth(s.ys, opts.smoothing || 0);
    if (opts.log) ys = ys.map((y) => (y > 0 ? y : null));
    return [Float64Array.from(s.xs), ys];
  });
  if (tables.length === 1) return [tables[0][0], tables[0][1]];
  return uPlot.join(tables);
}

// A series' look: a line (the default), `style: 'points'` (dots only,
// `size` px) or `style: 'steps'` (a step line, as a best-so-far).
function seriesStyle(s) {
  if (s.style === 'points')
    return { paths: () => null, points: { show: true, size: s.size || 6, width: 1, fill: s.color } };
  if (s.style === 'steps') return { paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } };
  return { points: { show: false } };
}

export class LineChart {
  constructor(container, series, opts = {}) {
    this.container = container;
    this.opts = opts;
    this.series = series;
    this.el = h('div', { class: 'plot' });
    container.append(this.el);
    this.make();
    // Colours come from the theme: drawn again when the system switches
    // between light and dark while the page is open.
    this.scheme = window.matchMedia('(prefers-color-scheme: dark)');
    this.onScheme = () => { if (this.u) { this.u.destroy(); this.make(); } };
    this.scheme.addEventListener('change', this.onScheme);
    this.ro = new ResizeObserver(() => {
      const w = this.width();
      if (this.u && Math.abs(w - this.u.width) > 2) this.u.setSize({ width: w, height: this.u.height });
    });
    this.ro.observe(container);
  }

  width() { return Math.max(200, Math.floor(this.container.clientWidth - 16)); }

  make() {
    const fg = cssVar('--muted'), grid = cssVar('--line');
    const o = this.opts;
    const xLabel = o.xMode === 'wall' ? 'time' : o.xMode === 'relative' ? 'seconds' : 'step';
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    // Steps are whole numbers: no tick at 2.5.
    const stepIncrs = [];
    for (let m = 1; m <= 1e15; m *= 10) stepIncrs.push(m, 2 * m, 5 * m);
    const u = new uPlot({
      width: this.width(),
      height: o.height || 220,
      scales: { x: { time: o.xMode === 'wall' }, y: { distr: o.log ? 3 : 1 } },
      series: [{ label: xLabel }, ...this.series.map((s) => ({
        label: s.label, stroke: s.color, width: s.width || 1.5, spanGaps: true, ...seriesStyle(s),
        value: (self, v) => (v === null || v === undefined ? '' : fmtNum(v)),
      }))],
      axes: [o.xMode === 'step' ? { ...axis, incrs: stepIncrs } : { ...axis },
        { ...axis, size: 60, values: (self, ticks) => ticks.map(fmtNum) }],
      cursor: { drag: { x: true, y: false, setScale: true }, sync: o.sync ? { key: o.sync } : undefined },
      legend: { show: o.legend !== false, live: true },
    }, buildData(this.series, o), this.el);
    u.root.dataset.points = String(this.series.reduce((n, s) => n + s.xs.length, 0));
    this.u = u;
  }

  // New data (live updates): keeps the zoom unless the chart was not zoomed.
  setSeries(series) {
    this.series = series;
    if (!this.u) return;
    this.u.setData(buildData(series, this.opts));
    this.u.root.dataset.points = String(series.reduce((n, s) => n + s.xs.length, 0));
  }

  setOpts(opts) {
    this.opts = { ...this.opts, ...opts };
    this.u.destroy();
    this.make();
  }

  destroy() {
    this.ro.disconnect();
    this.scheme.removeEventListener('change', this.onScheme);
    if (this.u) this.u.destroy();
    this.u = null;
  }
}

// A small line of values (latest metrics on the run page).
export function sparkline(values, width = 110, height = 24) {
  const c = h('canvas', { class: 'spark', width: width * 2, height: height * 2, 'aria-hidden': 'true' });
  c.style.width = `${width}px`;
  c.style.height = `${height}px`;
  const ys = values.filter((v) => typeof v === 'number' && isFinite(v));
  if (ys.length < 2) return c;
  const g = c.getContext('2d');
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (hi === lo) { hi += 1; lo -= 1; }
  g.strokeStyle = cssVar('--accent');
  g.lineWidth = 2;
  g.beginPath();
  ys.forEach((y, i) => {
    const px = (i / (ys.length - 1)) * (width * 2 - 4) + 2;
    const py = height * 2 - 2 - ((y - lo) / (hi - lo)) * (height * 2 - 4);
    if (i) g.lineTo(px, py); else g.moveTo(px, py);
  });
  g.stroke();
  return c;
}

// Points of a sampled series → {xs, ys} for the chosen x axis.
export function toXY(points, xMode, startTime) {
  const xs = [], ys = [];
  const pts = xMode === 'step' ? points : [...points].sort((a, b) => a.timestamp - b.timestamp || a.step - b.step);
  let lastX = -Infinity;
  for (const p of pts) {
    let x = xMode === 'wall' ? p.timestamp / 1000 : xMode === 'relative' ? (p.timestamp - startTime) / 1000 : p.step;
    if (x <= lastX) continue; // uPlot needs strictly ascending x
    lastX = x;
    xs.push(x);
    ys.push(typeof p.value === 'number' ? p.value : null);
  }
  return { xs, ys };
}
