// The sweep view on the run page of a sweep's parent (`mltrack sweep`,
// docs/cli/sweep.md): the trials table (planned trials from sweep/plan.json
// shown as pending), parallel coordinates of the swept parameters and the
// objective, the objective against each parameter, and the objective over
// time with the best so far.  The best trial is highlighted everywhere:
// while the sweep runs, the best finished trial so far; once it has ended,
// the one its mltrack.sweep.best_run tag names.  While the parent is
// RUNNING the children are polled every 2 s, asking only for the trials
// that are running, new or just ended; the view is updated in place.
import { h, add, fill, fmtNum, fmtDuration, fmtTime, runDuration, kv, statusBadge, emptyState } from '../util.js';
import { get, post, apiFetch, MLF, errorBox, artifactUrl } from '../api.js';
import { LineChart } from '../chart.js';

const POLL_MS = 2000;
const PAGE = 1000;        // runs/search's largest page
const MAX_ROWS = 1000;    // table rows drawn before "Show all"
const SINCE_MARGIN = 60e3; // a new trial started at most this long before the newest one seen
const FULL_EVERY = 15;     // polls between two reads of every trial (30 s)
const SVGNS = 'http://www.w3.org/2000/svg';
const PLAN = 'sweep/plan.json';

const quote = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// A run is a sweep's parent when it has the tag mltrack.sweep.total.
export function isSweep(run) {
  return (run.data.tags || []).some((t) => t.key === 'mltrack.sweep.total');
}

// The objective's colour scale, worst (0) to best (1): reads on light and
// dark backgrounds.
const STOPS = [[0x5c, 0x7c, 0xfa], [0x15, 0xaa, 0xbf], [0x40, 0xc0, 0x57], [0xf5, 0x9f, 0x00], [0xe8, 0x59, 0x0c]];
function scaleColor(t) {
  if (!(t >= 0)) t = 0;
  if (t > 1) t = 1;
  const x = t * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
  const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

const isNum = (v) => v !== undefined && v !== null && v !== '' && isFinite(Number(v));
const numericFirst = (a, b) => (isNum(a) && isNum(b) ? Number(a) - Number(b) : String(a).localeCompare(String(b)));

// An axis over values (strings or numbers; undefined is missing): linear,
// log when positive values span more than 2 decades, or categorical when a
// value is not a number.  pos(v) is in [0, 1] or null.
export function axisFor(name, vals) {
  const present = vals.filter((v) => v !== undefined && v !== null);
  if (present.length && present.every(isNum)) {
    const ns = present.map(Number);
    let lo = Math.min(...ns), hi = Math.max(...ns);
    if (lo > 0 && hi / lo > 100) {
      const a = Math.log10(lo), b = Math.log10(hi);
      const ticks = [];
      for (let d = Math.ceil(a); d <= Math.floor(b); d++) ticks.push([(d - a) / (b - a), d < -3 || d > 5 ? `1e${d}` : fmtNum(Number((10 ** d).toPrecision(1)))]);
      return { name, kind: 'log', pos: (v) => (isNum(v) && Number(v) > 0 ? (Math.log10(Number(v)) - a) / (b - a) : null), ticks };
    }
    if (lo === hi) { lo -= 1; hi += 1; }
    const ints = ns.every(Number.isInteger);
    const at = [...new Set([0, 0.25, 0.5, 0.75, 1].map((p) => (ints ? Math.round(lo + p * (hi - lo)) : Number((lo + p * (hi - lo)).toPrecision(4)))))];
    const ticks = at.map((v) => [(v - lo) / (hi - lo), fmtNum(v)]);
    return { name, kind: 'linear', pos: (v) => (isNum(v) ? (Number(v) - lo) / (hi - lo) : null), ticks };
  }
  const cats = [...new Set(present.map(String))].sort(numericFirst);
  const index = new Map(cats.map((c, i) => [c, i]));
  const pos = (v) => (v === undefined || v === null || !index.has(String(v)) ? null
    : cats.length < 2 ? 0.5 : index.get(String(v)) / (cats.length - 1));
  const step = Math.max(1, Math.ceil(cats.length / 12));
  return { name, kind: 'categorical', pos,
    ticks: cats.filter((c, i) => i % step === 0).map((c) => [pos(c), c.length > 14 ? `${c.slice(0, 13)}…` : c]) };
}

const STATUS_RANK = { FINISHED: 3, RUNNING: 2 };

export async function renderSweep(box, ctx, parentRun) {
  let parent = parentRun;
  let ptags = kv(parent.data.tags);
  const pid = parent.info.run_id;
  const expId = parent.info.experiment_id;
  const total = Number(ptags.get('mltrack.sweep.total')) || 0;
  const objective = (ptags.get('mltrack.sweep.objective') || '').replace(/^metrics\./, '');
  const minimize = ptags.get('mltrack.sweep.direction') === 'minimize';
  const better = (a, b) => (minimize ? a < b : a > b);
  const runs = new Map(); // run_id -> run
  let plan = null;
  let axes = [];
  let maxStart = 0;

  // ---- the DOM ----
  const summary = h('p', { class: 'sweep-summary', 'aria-live': 'polite', 'data-testid': 'sweep-summary' });
  const bestBox = h('div', { class: 'sweep-best', 'data-testid': 'sweep-best' });
  const thead = h('thead', {});
  const tbody = h('tbody', {});
  const table = h('table', { class: 'grid sweep-trials', 'data-testid': 'sweep-trials' }, thead, tbody);
  const more = h('button', { type: 'button', hidden: true });
  const pcBox = h('div', { class: 'sweep-pc' });
  const scatterBox = h('div', { class: 'sweep-scatters', 'data-testid': 'sweep-scatters' });
  const timeBox = h('div', { class: 'chart', 'data-testid': 'sweep-time' }, h('h3', { text: objective ? `${objective} by end time` : 'objective by end time' }));
  const errBox = h('div', {});
  add(box,
    h('div', { class: 'facts' },
      h('span', {}, 'trials ', h('b', { text: String(total) })),
      objective ? h('span', {}, 'objective ', h('b', { class: 'mono', text: objective }), ` (${minimize ? 'minimize' : 'maximize'})`) : null,
      ptags.get('mltrack.sweep.seed') ? h('span', {}, 'seed ', h('b', { class: 'mono', text: ptags.get('mltrack.sweep.seed') })) : null),
    ptags.get('mltrack.sweep.command') ? h('p', {}, h('code', { text: commandText(ptags.get('mltrack.sweep.command')) })) : null,
    summary, bestBox, errBox,
    h('h3', { text: 'Trials' }),
    h('div', { class: 'scroll-x sweep-table' }, table), more,
    h('h3', { text: 'Parallel coordinates' }), pcBox,
    h('h3', { text: objective ? `${objective} against each parameter` : 'Objective against each parameter' }), scatterBox,
    h('h3', { text: 'Objective over time' }), timeBox);

  // ---- loading ----
  const baseFilter = `tags.mlflow.parentRunId = ${quote(pid)}`;
  async function fetchAll(filter) {
    let token;
    do {
      const r = await post(`${MLF}runs/search`, {
        experiment_ids: [expId], filter, max_results: PAGE, page_token: token,
        order_by: ['attributes.start_time ASC'],
      }, { signal: ctx.signal });
      for (const run of r.runs || []) {
        run.data = run.data || {};
        run._params = kv(run.data.params);
        run._tags = kv(run.data.tags);
        run._metrics = kv(run.data.metrics);
        run._trial = Number(run._tags.get('mltrack.sweep.trial'));
        runs.set(run.info.run_id, run);
        maxStart = Math.max(maxStart, Number(run.info.start_time || 0));
      }
      token = r.next_page_token;
    } while (token);
  }

  async function loadPlan() {
    try {
      const files = (await get(`${MLF}artifacts/list`, { run_id: pid, path: 'sweep' }, { signal: ctx.signal })).files || [];
      if (!files.some((f) => f.path === PLAN && !f.is_dir)) return;
      const res = await apiFetch(artifactUrl(parent, PLAN), { signal: ctx.signal });
      if (!res.ok) return;
      const p = await res.json();
      if (p && Array.isArray(p.trials)) plan = p;
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      console.warn('sweep plan', e);
    }
  }

  // ---- the model: one entry per trial ----
  function trials() {
    const byTrial = new Map();
    if (plan) {
      for (const t of plan.trials) {
        const values = {};
        for (const [k, v] of Object.entries(t.values || {})) values[k] = String(v);
        byTrial.set(Number(t.trial), { n: Number(t.trial), run: null, values });
      }
    } else {
      for (let i = 0; i < total; i++) byTrial.set(i, { n: i, run: null, values: {} });
    }
    for (const r of runs.values()) {
      if (!Number.isInteger(r._trial)) continue;
      let t = byTrial.get(r._trial);
      if (!t) { t = { n: r._trial, run: null, values: {} }; byTrial.set(r._trial, t); }
      // A trial run again (--resume): its finished run, else its latest.
      const o = t.run;
      const rank = (x) => STATUS_RANK[x.info.status] || 1;
      if (!o || rank(r) > rank(o) || (rank(r) === rank(o) && Number(r.info.start_time) > Number(o.info.start_time))) t.run = r;
    }
    const list = [...byTrial.values()];
    for (const t of list) {
      const r = t.run;
      t.status = !r ? 'PENDING' : r._tags.get('mltrack.sweep.stopped_early') === 'true' ? 'STOPPED' : r.info.status;
      const m = r && objective ? r._metrics.get(objective) : undefined;
      t.value = typeof m === 'number' && isFinite(m) ? m : undefined;
      t.params = {};
      for (const a of axes) t.params[a] = r && r._params.has(a) ? r._params.get(a) : t.values[a];
      t.duration = r ? runDuration(r.info) : undefined;
      t.end = r ? Number(r.info.end_time || 0) : 0;
    }
    return list;
  }

  function swept() {
    if (plan && Array.isArray(plan.axes)) return plan.axes.map(String);
    // No plan: the params whose values differ between the trials.
    const seen = new Map();
    for (const r of runs.values()) for (const [k, v] of r._params) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k).add(v);
    }
    return [...seen].filter(([, s]) => s.size > 1).map(([k]) => k).sort();
  }

  function bestOf(list) {
    const named = ptags.get('mltrack.sweep.best_run');
    if (parent.info.status !== 'RUNNING' && named) {
      const t = list.find((x) => x.run && x.run.info.run_id === named);
      if (t) return t;
      const r = runs.get(named);
      if (r) return list.find((x) => x.n === r._trial) || null;
    }
    let best = null;
    for (const t of list)
      if (t.status === 'FINISHED' && t.value !== undefined && (!best || better(t.value, best.value))) best = t;
    return best;
  }

  // ---- the table ----
  const sort = { key: objective ? 'objective' : 'trial', best: true, dir: 1 };
  let limit = MAX_ROWS;
  const rows = new Map(); // trial -> {tr, sig}
  const STATUS_ORDER = { RUNNING: 0, FINISHED: 1, STOPPED: 2, KILLED: 3, FAILED: 4, PENDING: 5 };
  function columns() {
    const cs = [{ key: 'trial', label: 'Trial', num: true }, { key: 'status', label: 'Status' }];
    if (objective) cs.push({ key: 'objective', label: objective, num: true, mono: true });
    for (const a of axes) cs.push({ key: `p:${a}`, label: a, mono: true, param: a });
    cs.push({ key: 'duration', label: 'Duration', num: true }, { key: 'run', label: 'Run' });
    return cs;
  }
  function compare(a, b) {
    const k = sort.key;
    if (k === 'objective') {
      const av = a.value, bv = b.value;
      if (av === undefined || bv === undefined) return (av === undefined) - (bv === undefined) || a.n - b.n;
      const d = sort.best ? (minimize ? av - bv : bv - av) : (minimize ? bv - av : av - bv);
      return d || a.n - b.n;
    }
    let d = 0;
    if (k === 'trial') d = a.n - b.n;
    else if (k === 'status') d = STATUS_ORDER[a.status] - STATUS_ORDER[b.status];
    else if (k === 'duration') {
      const av = a.duration, bv = b.duration;
      if (av === undefined || bv === undefined) return (av === undefined) - (bv === undefined) || a.n - b.n;
      d = av - bv;
    } else if (k.startsWith('p:')) {
      const av = a.params[k.slice(2)], bv = b.params[k.slice(2)];
      if (av === undefined || bv === undefined) return (av === undefined) - (bv === undefined) || a.n - b.n;
      d = numericFirst(av, bv);
    }
    return d * sort.dir || a.n - b.n;
  }
  function drawHead() {
    fill(thead, h('tr', {}, columns().map((c) => {
      const on = sort.key === c.key;
      let ariaSort = 'none';
      if (on) ariaSort = c.key === 'objective' ? ((sort.best !== minimize) ? 'descending' : 'ascending') : (sort.dir > 0 ? 'ascending' : 'descending');
      const label = c.key === 'objective' && on ? `${c.label} (${sort.best ? 'best first' : 'worst first'})` : c.label;
      return h('th', { class: c.num ? 'num' : '', 'aria-sort': ariaSort, scope: 'col' },
        c.key === 'run' ? label : h('button', { type: 'button', class: 'sort', 'data-col': c.key, title: `Sort by ${c.label}`,
          onclick: () => {
            if (c.key === 'objective') { if (on) sort.best = !sort.best; else sort.best = true; }
            else if (on) sort.dir = -sort.dir;
            else sort.dir = c.key === 'duration' ? -1 : 1;
            sort.key = c.key;
            drawHead();
            thead.querySelector(`button[data-col="${CSS.escape(c.key)}"]`)?.focus();
            update(true);
          } }, label));
    })));
  }
  function cells(t, best) {
    const r = t.run;
    const st = t.status === 'PENDING' ? h('span', { class: 'badge st-SCHEDULED', text: 'pending' })
      : t.status === 'STOPPED' ? h('span', { class: 'badge st-KILLED', text: 'stopped early' }) : statusBadge(t.status);
    const out = [
      h('td', { class: 'num', 'data-col': 'trial' }, String(t.n), best ? h('span', { class: 'badge best-badge', text: 'best' }) : null),
      h('td', { 'data-col': 'status' }, st),
    ];
    if (objective) out.push(h('td', { class: 'num mono', 'data-col': 'objective', text: t.value === undefined ? '' : fmtNum(t.value) }));
    for (const a of axes) out.push(h('td', { class: 'mono', 'data-col': `p:${a}`, text: t.params[a] ?? '' }));
    out.push(h('td', { class: 'num', 'data-col': 'duration', text: fmtDuration(t.duration) }),
      h('td', { 'data-col': 'run' }, r ? h('a', { href: `/runs/${encodeURIComponent(r.info.run_id)}`, text: r.info.run_name || r.info.run_id }) : null));
    return out;
  }
  function drawTable(list, best, reorder) {
    // Focus on a link in the table stays on it (a row redrawn or moved
    // loses it otherwise).
    const focused = document.activeElement;
    const focusRow = focused && tbody.contains(focused) ? focused.closest('tr') : null;
    const focusCol = focusRow ? focused.closest('td')?.dataset.col : null;
    const sorted = [...list].sort(compare);
    const shownList = sorted.slice(0, limit);
    const keep = new Set(shownList.map((t) => t.n));
    for (const [n, row] of rows) if (!keep.has(n)) { row.tr.remove(); rows.delete(n); }
    let prev = null;
    let moved = reorder;
    for (const t of shownList) {
      const isBest = best === t;
      const sig = `${t.status}|${t.value}|${t.run ? t.run.info.run_id : ''}|${fmtDuration(t.duration)}|${isBest}|${axes.map((a) => t.params[a]).join('\u0000')}`;
      let row = rows.get(t.n);
      if (!row) {
        row = { tr: h('tr', { 'data-trial': String(t.n) }), sig: null };
        rows.set(t.n, row);
        moved = true;
      }
      if (row.sig !== sig) {
        row.sig = sig;
        row.tr.dataset.status = t.status;
        if (t.run) row.tr.dataset.runId = t.run.info.run_id; else delete row.tr.dataset.runId;
        row.tr.classList.toggle('best', isBest);
        if (isBest) row.tr.setAttribute('aria-label', `Trial ${t.n}, the best`); else row.tr.removeAttribute('aria-label');
        fill(row.tr, cells(t, isBest));
      }
      // In place: a row is moved only when it is not where it belongs.
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== row.tr) { tbody.insertBefore(row.tr, want); moved = true; }
      prev = row.tr;
    }
    if (focusRow && document.activeElement !== focused && focusRow.isConnected) {
      const again = focusRow.querySelector(`td[data-col="${CSS.escape(focusCol || '')}"] a`) || focusRow.querySelector('a');
      if (again) again.focus({ preventScroll: true });
    }
    more.hidden = sorted.length <= limit;
    more.textContent = `Show all ${sorted.length} trials (${limit} shown)`;
    return moved;
  }
  more.addEventListener('click', () => { limit = Infinity; update(true); });

  // ---- the charts ----
  let chart = null;
  function drawPC(done, best, lo, hi) {
    const dims = axes.map((a) => axisFor(a, done.map((t) => t.params[a])));
    if (objective) dims.push(axisFor(objective, done.map((t) => t.value)));
    const wrap = h('div', { 'data-testid': 'sweep-parallel', 'data-lines': String(done.length),
      'data-best-run': best && best.run ? best.run.info.run_id : '' });
    if (!done.length || dims.length < 2) {
      wrap.append(emptyState(done.length ? 'Parallel coordinates need a swept parameter and an objective.' : 'No trial has finished yet.'));
      return wrap;
    }
    const W = Math.max(560, pcBox.clientWidth || 900), H = 300, padL = 60, padR = 70, top = 34, bottom = 24;
    const x = (i) => padL + (i * (W - padL - padR)) / (dims.length - 1);
    const y = (p) => top + (1 - p) * (H - top - bottom);
    const g = svg('svg', { class: 'pc', viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': `Parallel coordinates of ${done.length} finished trials: ${dims.map((d) => d.name).join(', ')}` });
    const lines = svg('g', { class: 'pc-lines' });
    const path = (t) => {
      let d = '';
      dims.forEach((a, i) => {
        const p = a.pos(i < axes.length ? t.params[a.name] : t.value);
        if (p !== null) d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(p).toFixed(1)}`;
      });
      return d;
    };
    const norm = (v) => (v === undefined ? null : hi === lo ? 1 : minimize ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
    for (const t of done) {
      if (t === best) continue;
      const c = norm(t.value);
      lines.append(svg('path', { d: path(t), class: 'pc-line', fill: 'none', stroke: c === null ? 'currentColor' : scaleColor(c),
        'stroke-width': 1.5, 'stroke-opacity': done.length > 200 ? 0.45 : 0.8, 'data-trial': t.n, 'data-run-id': t.run.info.run_id },
      svg('title', {}, `trial ${t.n}${t.value !== undefined ? `: ${objective} ${fmtNum(t.value)}` : ''}`)));
    }
    if (best && done.includes(best)) {
      lines.append(svg('path', { d: path(best), class: 'pc-line best', fill: 'none', stroke: 'currentColor', 'stroke-width': 4,
        'data-trial': best.n, 'data-run-id': best.run.info.run_id },
      svg('title', {}, `best: trial ${best.n}${best.value !== undefined ? `: ${objective} ${fmtNum(best.value)}` : ''}`)));
    }
    g.append(lines);
    dims.forEach((a, i) => {
      g.append(svg('line', { class: 'axis', x1: x(i), x2: x(i), y1: y(0), y2: y(1), stroke: 'currentColor' }));
      const last = objective && i === dims.length - 1;
      g.append(svg('text', { x: x(i), y: 14, 'text-anchor': 'middle', 'font-weight': last ? 'bold' : 'normal' },
        a.name + (a.kind === 'log' ? ' (log)' : '')));
      for (const [p, label] of a.ticks) g.append(svg('text', { class: 'tick', x: x(i) + 4, y: y(p) + 4 }, label));
    });
    add(wrap, g, legend(lo, hi));
    return wrap;
  }

  function legend(lo, hi) {
    if (!objective || lo === undefined) return null;
    const worst = minimize ? hi : lo, bestV = minimize ? lo : hi;
    const bar = h('span', { class: 'scale-bar', 'aria-hidden': 'true' });
    bar.style.setProperty('background', `linear-gradient(to right, ${[0, 0.25, 0.5, 0.75, 1].map(scaleColor).join(', ')})`);
    return h('div', { class: 'scale muted' }, `${objective}: worst ${fmtNum(worst)} `, bar, ` best ${fmtNum(bestV)}; the best trial is the thick line`);
  }

  function drawScatters(done, best, lo, hi) {
    if (!objective || !axes.length) return [emptyState('These plots need a swept parameter and an objective.')];
    if (!done.length) return [emptyState('No trial has finished yet.')];
    const ay = axisFor(objective, done.map((t) => t.value));
    const norm = (v) => (hi === lo ? 1 : minimize ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo));
    return axes.map((a) => {
      const ax = axisFor(a, done.map((t) => t.params[a]));
      const W = 300, H = 200, L = 56, R = 12, T = 10, B = 34;
      const x = (p) => L + (0.04 + 0.92 * p) * (W - L - R), y = (p) => T + (1 - (0.04 + 0.92 * p)) * (H - T - B);
      const g = svg('svg', { class: 'scatter', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${objective} against ${a}`,
        'data-param': a, 'data-points': String(done.length) });
      g.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: 'currentColor' }),
        svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B, stroke: 'currentColor' }));
      const xt = ax.ticks.length > 5 ? ax.ticks.filter((_, i) => i % Math.ceil(ax.ticks.length / 5) === 0) : ax.ticks;
      for (const [p, label] of xt) g.append(svg('text', { class: 'tick', x: x(p), y: H - B + 13, 'text-anchor': 'middle' }, label));
      for (const [p, label] of [ay.ticks[0], ay.ticks[ay.ticks.length - 1]].filter(Boolean))
        g.append(svg('text', { class: 'tick', x: L - 4, y: y(p) + 4, 'text-anchor': 'end' }, label));
      g.append(svg('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', 'font-weight': 'bold' }, a + (ax.kind === 'log' ? ' (log)' : '')));
      const dot = (t, isBest) => {
        const px = ax.pos(t.params[a]), py = ay.pos(t.value);
        if (px === null || py === null) return null;
        return svg('circle', { cx: x(px).toFixed(1), cy: y(py).toFixed(1), r: isBest ? 6 : 3.5, fill: scaleColor(norm(t.value)),
          stroke: isBest ? 'currentColor' : null, 'stroke-width': isBest ? 2 : null, class: isBest ? 'best' : null, 'data-trial': t.n },
        svg('title', {}, `trial ${t.n}: ${a} ${t.params[a] ?? ''}, ${objective} ${fmtNum(t.value)}`));
      };
      for (const t of done) if (t !== best) { const d = dot(t, false); if (d) g.append(d); }
      if (best && done.includes(best)) { const d = dot(best, true); if (d) g.append(d); }
      return h('figure', { class: 'chart small' }, g);
    });
  }

  function timeSeries(done, best) {
    const pts = done.filter((t) => t.end && t.value !== undefined).sort((a, b) => a.end - b.end || a.n - b.n);
    const xs = [], vals = [], bestSoFar = [], bestPt = [];
    let last = -Infinity, b;
    for (const t of pts) {
      let xv = t.end / 1000;
      if (xv <= last) xv = last + 0.001; // uPlot needs ascending x
      last = xv;
      if (b === undefined || better(t.value, b)) b = t.value;
      xs.push(xv); vals.push(t.value); bestSoFar.push(b); bestPt.push(t === best ? t.value : null);
    }
    return [
      { label: objective, color: '#2f7ed8', xs, ys: vals, style: 'points', size: 6 },
      { label: 'best so far', color: '#e8590c', xs, ys: bestSoFar, style: 'steps', width: 2 },
      { label: 'best trial', color: '#c2255c', xs, ys: bestPt, style: 'points', size: 13 },
    ];
  }

  function drawTime(done, best) {
    const series = timeSeries(done, best);
    timeBox.dataset.points = String(series[0].xs.length);
    if (!objective || !series[0].xs.length) {
      if (chart) { chart.destroy(); chart = null; }
      const e = timeBox.querySelector('.empty') || timeBox.appendChild(emptyState(''));
      e.textContent = objective ? 'No trial has finished with the objective yet.' : 'This sweep has no objective.';
      return;
    }
    timeBox.querySelector('.empty')?.remove();
    if (!chart) chart = new LineChart(timeBox, series, { xMode: 'wall', height: 240 });
    else chart.setSeries(series);
  }

  // ---- drawing it all, in place ----
  let chartKey = null;
  let chartsNext = 0; // a live redraw of the charts waits until then
  function update(reorder = false) {
    const list = trials();
    const best = bestOf(list);
    const count = (s) => list.filter((t) => t.status === s).length;
    const finished = count('FINISHED');
    fill(summary,
      h('b', { text: `${finished} of ${list.length}` }), ' trials finished',
      [['RUNNING', 'running'], ['FAILED', 'failed'], ['KILLED', 'killed'], ['STOPPED', 'stopped early'], ['PENDING', 'pending']]
        .map(([s, w]) => (count(s) ? `, ${count(s)} ${w}` : '')).join(''),
      parent.info.status === 'RUNNING' ? ' · live' : ` · sweep ${parent.info.status.toLowerCase()}`);
    summary.dataset.finished = String(finished);
    box.dataset.parentStatus = parent.info.status;
    fill(bestBox, best ? [
      h('b', { text: parent.info.status === 'RUNNING' ? 'Best so far: ' : 'Best: ' }),
      `trial ${best.n}`, best.value !== undefined ? `, ${objective} ${fmtNum(best.value)}` : '', ', ',
      h('a', { href: `/runs/${encodeURIComponent(best.run.info.run_id)}`, 'data-run-id': best.run.info.run_id, text: best.run.info.run_name || best.run.info.run_id }),
      best.run.info.end_time ? h('span', { class: 'muted', text: ` (ended ${fmtTime(best.run.info.end_time)})` }) : null,
    ] : h('span', { class: 'muted', text: objective ? 'No trial has finished with the objective yet.' : 'This sweep has no objective: no best trial.' }));
    bestBox.dataset.bestRun = best && best.run ? best.run.info.run_id : '';
    bestBox.dataset.bestTrial = best ? String(best.n) : '';
    drawTable(list, best, reorder);
    table.dataset.rows = String(rows.size);
    // The charts: drawn again only when a finished trial or the best changed.
    const done = list.filter((t) => t.status === 'FINISHED' && t.run);
    const key = `${done.map((t) => `${t.n}:${t.value}`).join(',')}|${best ? best.n : ''}|${axes.join(',')}`;
    // A live sweep of many trials: charts that take long to draw are drawn
    // again at most a tenth of the time (the end is always drawn).
    if (key !== chartKey && (parent.info.status !== 'RUNNING' || performance.now() >= chartsNext)) {
      chartKey = key;
      const t0 = performance.now();
      const vs = done.map((t) => t.value).filter((v) => v !== undefined);
      const lo = vs.length ? Math.min(...vs) : undefined, hi = vs.length ? Math.max(...vs) : undefined;
      fill(pcBox, drawPC(done, best, lo, hi));
      fill(scatterBox, drawScatters(done, best, lo, hi));
      drawTime(done, best);
      const took = performance.now() - t0;
      chartsNext = performance.now() + (took > 100 ? 10 * took : 0);
    }
    box.dataset.ready = '1';
  }

  try {
    await Promise.all([loadPlan(), fetchAll(baseFilter)]);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    errBox.replaceChildren(errorBox(e, 'The sweep\u2019s trials could not be loaded'));
  }
  axes = swept();
  drawHead();
  update(true);

  // ---- live ----
  let timer = null;
  let stopped = false;
  let polls = 0;
  const poll = async () => {
    timer = null;
    if (stopped) return;
    try {
      parent = (await get(`${MLF}runs/get`, { run_id: pid }, { signal: ctx.signal })).run;
      ptags = kv(parent.data.tags);
      if (!plan) { await loadPlan(); if (plan) { axes = swept(); drawHead(); } }
      // Every 30 s, and once the sweep has ended, every trial: a trial
      // spooled while the server was away arrives later with its own,
      // older start time.
      if (parent.info.status === 'RUNNING' && ++polls % FULL_EVERY !== 0) {
        // Only what can have changed: running trials, those known to be
        // running (they may have ended) and those started since.
        const known = [...runs.values()].filter((r) => r.info.status === 'RUNNING').map((r) => r.info.run_id).slice(0, 500);
        const since = Math.max(0, maxStart - SINCE_MARGIN);
        await fetchAll(`${baseFilter} AND (attributes.status = 'RUNNING' OR attributes.start_time >= ${since}`
          + `${known.length ? ` OR attributes.run_id IN (${known.map(quote).join(', ')})` : ''})`);
      } else {
        await fetchAll(baseFilter);
      }
      if (!axes.length) axes = swept();
      if (!thead.firstChild || thead.querySelectorAll('th').length !== columns().length) drawHead();
      update();
      errBox.replaceChildren();
    } catch (e) {
      if (e.name === 'AbortError') return;
      console.warn('sweep poll', e);
    }
    if (!stopped && parent.info.status === 'RUNNING') timer = setTimeout(poll, POLL_MS);
  };
  if (parent.info.status === 'RUNNING') timer = setTimeout(poll, POLL_MS);

  return () => {
    stopped = true;
    clearTimeout(timer);
    if (chart) chart.destroy();
    chart = null;
  };
}

// mltrack.sweep.command is the command's words as a JSON array.
function commandText(v) {
  try {
    const words = JSON.parse(v);
    if (Array.isArray(words)) return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${String(w).replace(/'/g, "'\\''")}'`)).join(' ');
  } catch { /* not JSON: as it is */ }
  return v;
}
