// "/compare?runs=a,b,...": runs side by side.  One chart per metric with the
// runs overlaid (each series downsampled by the server to the chart's pixel
// width), the params table with differing rows highlighted, parallel
// coordinates of params and a chosen metric, and a metric-vs-param scatter.
import { h, clear, fmtNum, kv, statusBadge, emptyState, section, color, localGet, localSet } from '../util.js';
import { get, MLF, errorBox, sampled } from '../api.js';
import { LineChart, toXY } from '../chart.js';

const MAX_RUNS = 20;
const SVGNS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export async function render(main, ctx) {
  document.title = 'Compare runs · mltrack';
  const ids = [...new Set((ctx.params.get('runs') || '').split(',').map((s) => s.trim()).filter(Boolean))];
  main.append(h('div', { class: 'crumbs' }, h('a', { href: '/', text: 'Experiments' }), ' / '),
    h('div', { class: 'head' }, h('h1', { text: 'Compare runs' })));
  if (!ids.length) {
    main.append(emptyState('No runs to compare. Select two or more runs in an experiment\u2019s runs table and press Compare.'));
    return undefined;
  }
  if (ids.length > MAX_RUNS) main.append(errorBox(`Only the first ${MAX_RUNS} of ${ids.length} runs are compared.`));
  const runIds = ids.slice(0, MAX_RUNS);
  const results = await Promise.allSettled(runIds.map((id) => get(`${MLF}runs/get`, { run_id: id }, { signal: ctx.signal })));
  if (ctx.signal.aborted) return undefined;
  const runs = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') runs.push(r.value.run);
    else main.append(errorBox(r.reason, `Run ${runIds[i]}`));
  });
  if (!runs.length) return undefined;
  runs.forEach((r, i) => {
    r._color = color(i);
    r._params = kv(r.data.params);
    r._metrics = kv(r.data.metrics);
    r._label = r.info.run_name || r.info.run_id.slice(0, 8);
  });

  const prefs = localGet('mltrack.compare', { xMode: 'step', smoothing: 0, log: false });
  const xSel = h('select', { 'aria-label': 'X axis' },
    h('option', { value: 'step', text: 'Step' }), h('option', { value: 'wall', text: 'Wall time' }),
    h('option', { value: 'relative', text: 'Relative time' }));
  xSel.value = prefs.xMode;
  const smoothIn = h('input', { type: 'range', min: '0', max: '0.99', step: '0.01', value: String(prefs.smoothing), 'aria-label': 'Smoothing' });
  const smoothOut = h('output', { text: Number(prefs.smoothing).toFixed(2) });
  const logBox = h('input', { type: 'checkbox', checked: prefs.log });

  main.append(h('div', { class: 'legend', 'data-testid': 'compare-legend' }, runs.map((r) => {
    const s = h('span', {}, h('a', { href: `/runs/${encodeURIComponent(r.info.run_id)}`, text: r._label }), ' ', statusBadge(r.info.status));
    s.style.setProperty('--c', r._color);
    return s;
  })));

  const chartsBox = h('div', { class: 'charts', 'data-testid': 'compare-charts' });
  const paramsBox = h('div', {});
  const pcBox = h('div', {});
  const scatterBox = h('div', {});
  main.append(
    section('Metrics',
      h('div', { class: 'toolbar' },
        h('label', {}, 'X axis ', xSel),
        h('label', {}, 'Smoothing ', smoothIn, ' ', smoothOut),
        h('label', { class: 'check' }, logBox, 'Log scale'),
        h('span', { class: 'muted', text: 'Drag across a chart to zoom; double-click to reset.' })),
      chartsBox),
    section('Parameters', paramsBox),
    section('Parallel coordinates', pcBox),
    section('Scatter', scatterBox));

  // ---- charts ----
  const metricKeys = [...new Set(runs.flatMap((r) => [...r._metrics.keys()]))].sort();
  const raw = new Map(); // `${key}\n${run_id}` -> points
  const charts = [];
  // The charts share a cursor: hovering one shows the same x in all.
  const opts = () => ({ xMode: xSel.value, smoothing: Number(smoothIn.value), log: logBox.checked, sync: 'compare' });
  const seriesFor = (key) => runs.filter((r) => raw.has(`${key}\n${r.info.run_id}`)).map((r) => ({
    label: r._label, color: r._color,
    ...toXY(raw.get(`${key}\n${r.info.run_id}`), xSel.value, Number(r.info.start_time || 0)),
  }));
  if (!metricKeys.length) chartsBox.replaceWith(emptyState('These runs have no metrics.'));
  const chartsDone = Promise.all(metricKeys.map(async (key) => {
    const el = h('div', { class: 'chart', 'data-metric': key }, h('h3', { text: key }));
    chartsBox.append(el);
    const width = Math.max(100, el.clientWidth - 16);
    await Promise.all(runs.filter((r) => r._metrics.has(key)).map(async (r) => {
      try {
        raw.set(`${key}\n${r.info.run_id}`, await sampled(r.info.run_id, key, width, { signal: ctx.signal }));
      } catch (e) {
        if (e.name !== 'AbortError') el.append(errorBox(e, `${r._label}: ${key}`));
      }
    }));
    if (ctx.signal.aborted) return;
    charts.push({ key, chart: new LineChart(el, seriesFor(key), opts()) });
  })).then(() => {
    chartsBox.dataset.ready = '1';
    requestAnimationFrame(() => performance.mark('mltrack:charts-drawn'));
  });

  const redraw = () => {
    smoothOut.textContent = Number(smoothIn.value).toFixed(2);
    localSet('mltrack.compare', { xMode: xSel.value, smoothing: Number(smoothIn.value), log: logBox.checked });
    for (const c of charts) {
      c.chart.series = seriesFor(c.key);
      c.chart.setOpts(opts());
    }
  };
  xSel.addEventListener('change', redraw);
  smoothIn.addEventListener('input', redraw);
  logBox.addEventListener('change', redraw);

  // ---- params table ----
  const paramKeys = [...new Set(runs.flatMap((r) => [...r._params.keys()]))].sort();
  const onlyDiff = h('input', { type: 'checkbox', checked: localGet('mltrack.compare.onlydiff', false) });
  const drawParams = () => {
    localSet('mltrack.compare.onlydiff', onlyDiff.checked);
    if (!paramKeys.length) { paramsBox.replaceChildren(emptyState('These runs have no parameters.')); return; }
    const rows = paramKeys.map((k) => {
      const vals = runs.map((r) => r._params.get(k));
      const differs = new Set(vals.map((v) => (v === undefined ? '\u0000missing' : v))).size > 1;
      return { k, vals, differs };
    });
    const nDiff = rows.filter((r) => r.differs).length;
    paramsBox.replaceChildren(
      h('div', { class: 'toolbar' }, h('label', { class: 'check' }, onlyDiff, 'Only differences'),
        h('span', { class: 'muted', text: `${nDiff} of ${rows.length} parameters differ` })),
      h('div', { class: 'scroll-x' }, h('table', { class: 'grid', 'data-testid': 'compare-params' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Parameter' }), runs.map((r) => {
          const th = h('th', { text: r._label });
          th.style.borderBottom = `3px solid ${r._color}`;
          return th;
        }))),
        h('tbody', {}, rows.filter((r) => !onlyDiff.checked || r.differs).map((r) =>
          h('tr', { class: r.differs ? 'diff' : '', 'data-param': r.k },
            h('td', { class: 'mono', text: r.k }),
            r.vals.map((v) => h('td', { class: 'mono', text: v === undefined ? '—' : v }))))))));
  };
  onlyDiff.addEventListener('change', drawParams);
  drawParams();

  // ---- parallel coordinates and scatter ----
  const numericOf = (vals) => vals.every((v) => v === undefined || (v !== '' && isFinite(Number(v))));
  const axisFor = (name, vals) => {
    if (numericOf(vals)) {
      const ns = vals.filter((v) => v !== undefined).map(Number);
      let lo = Math.min(...ns), hi = Math.max(...ns);
      if (!ns.length) { lo = 0; hi = 1; }
      if (lo === hi) { lo -= 1; hi += 1; }
      return { name, pos: (v) => (v === undefined ? null : (Number(v) - lo) / (hi - lo)), ticks: [[0, fmtNum(lo)], [1, fmtNum(hi)]] };
    }
    const cats = [...new Set(vals.filter((v) => v !== undefined))].sort();
    const pos = (v) => (v === undefined ? null : cats.length < 2 ? 0.5 : cats.indexOf(v) / (cats.length - 1));
    return { name, pos, ticks: cats.slice(0, 12).map((c) => [pos(c), c.length > 14 ? `${c.slice(0, 13)}…` : c]) };
  };

  const pcMetric = h('select', { 'aria-label': 'Metric for parallel coordinates' }, metricKeys.map((k) => h('option', { value: k, text: k })));
  const pcPlot = h('div', {});
  const drawPC = () => {
    const axes = paramKeys.map((k) => axisFor(k, runs.map((r) => r._params.get(k))));
    if (pcMetric.value) axes.push(axisFor(pcMetric.value, runs.map((r) => r._metrics.get(pcMetric.value))));
    if (axes.length < 2) { pcPlot.replaceChildren(emptyState('Parallel coordinates need at least two parameters or a parameter and a metric.')); return; }
    const W = Math.max(480, pcBox.clientWidth || 900), H = 280, pad = 50, top = 34, bottom = 24;
    const x = (i) => pad + (i * (W - 2 * pad)) / (axes.length - 1);
    const y = (p) => top + (1 - p) * (H - top - bottom);
    const g = svg('svg', { class: 'pc', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Parallel coordinates', 'data-testid': 'parallel' });
    axes.forEach((a, i) => {
      g.append(svg('line', { class: 'axis', x1: x(i), x2: x(i), y1: y(0), y2: y(1), stroke: 'currentColor' }));
      g.append(svg('text', { x: x(i), y: 14, 'text-anchor': 'middle', 'font-weight': i === axes.length - 1 && pcMetric.value ? 'bold' : 'normal' }, a.name));
      for (const [p, label] of a.ticks) g.append(svg('text', { x: x(i) + 4, y: y(p) + 4 }, label));
    });
    runs.forEach((r) => {
      const vals = axes.map((a, i) => (i < paramKeys.length ? a.pos(r._params.get(a.name)) : a.pos(r._metrics.get(a.name))));
      let d = '';
      vals.forEach((p, i) => { if (p !== null) d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(p).toFixed(1)}`; });
      g.append(svg('path', { d, fill: 'none', stroke: r._color, 'stroke-width': 2, 'stroke-opacity': 0.85 }, svg('title', {}, r._label)));
    });
    pcPlot.replaceChildren(g);
  };
  pcMetric.addEventListener('change', drawPC);
  pcBox.append(h('div', { class: 'toolbar' }, h('label', {}, 'Metric ', pcMetric)), pcPlot);

  const scMetric = h('select', { 'aria-label': 'Scatter metric (y)' }, metricKeys.map((k) => h('option', { value: k, text: k })));
  const scParam = h('select', { 'aria-label': 'Scatter parameter (x)' }, paramKeys.map((k) => h('option', { value: k, text: k })));
  const scPlot = h('div', {});
  const drawScatter = () => {
    if (!scMetric.value || !scParam.value) { scPlot.replaceChildren(emptyState('A scatter needs a metric and a parameter.')); return; }
    const ax = axisFor(scParam.value, runs.map((r) => r._params.get(scParam.value)));
    const ay = axisFor(scMetric.value, runs.map((r) => r._metrics.get(scMetric.value)));
    const W = Math.max(400, scatterBox.clientWidth || 700), H = 300, L = 80, R = 30, T = 34, B = 40;
    const x = (p) => L + (0.04 + 0.92 * p) * (W - L - R), y = (p) => T + (1 - (0.04 + 0.92 * p)) * (H - T - B);
    const g = svg('svg', { class: 'scatter', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${scMetric.value} against ${scParam.value}`, 'data-testid': 'scatter' });
    g.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: 'currentColor' }));
    g.append(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B, stroke: 'currentColor' }));
    for (const [p, label] of ax.ticks) g.append(svg('text', { x: x(p), y: H - B + 16, 'text-anchor': 'middle' }, label));
    for (const [p, label] of ay.ticks) g.append(svg('text', { x: L - 6, y: y(p) + 4, 'text-anchor': 'end' }, label));
    g.append(svg('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', 'font-weight': 'bold' }, `params.${scParam.value}`));
    g.append(svg('text', { x: 8, y: 14, 'font-weight': 'bold' }, `metrics.${scMetric.value}`));
    for (const r of runs) {
      const px = ax.pos(r._params.get(scParam.value)), py = ay.pos(r._metrics.get(scMetric.value));
      if (px === null || py === null) continue;
      g.append(svg('circle', { cx: x(px), cy: y(py), r: 6, fill: r._color }, svg('title', {}, `${r._label}: ${fmtNum(r._metrics.get(scMetric.value))}`)));
    }
    scPlot.replaceChildren(g);
  };
  scMetric.addEventListener('change', drawScatter);
  scParam.addEventListener('change', drawScatter);
  scatterBox.append(h('div', { class: 'toolbar' }, h('label', {}, 'Metric (y) ', scMetric), h('label', {}, 'Parameter (x) ', scParam)), scPlot);
  drawPC();
  drawScatter();

  chartsDone.catch(() => {});
  return () => { for (const c of charts) c.chart.destroy(); clear(chartsBox); };
}
