// The model page's monitoring view (issue 17, docs/monitoring.md): for one
// monitored version (a version registered with a reference profile; the
// deployed one first), the drift of each feature over its live windows as a
// heatmap with each window's alert check, one window's figures, live label
// quality against the training run's metric, the model's open alerts, and
// the webhook deliveries of the model's events.  Read only, as the rest of
// the dashboard: alerts are acknowledged with `mltrack monitor ack`.
import { h, add, fill, fmtTime, fmtNum, emptyState, section } from '../util.js';
import { get, MLF, EXT, errorBox } from '../api.js';
import { auth } from '../auth.js';
import { LineChart } from '../chart.js';

const MAX_WINDOWS = 168; // a week of hourly windows
const DEPLOYED_ALIASES = ['production', 'prod', 'champion', 'live'];

// What the heatmap can colour by: the value of a window's column, and the
// two levels where it turns amber and red (docs/monitoring.md's readings).
const STATS = {
  psi: { label: 'PSI', value: (c) => c.psi, warn: 0.1, bad: 0.25,
    legend: 'PSI against the reference: below 0.1 stable, 0.1 to 0.25 moving, above 0.25 shifted' },
  ks: { label: 'KS', value: (c) => c.ks, warn: 0.1, bad: 0.2,
    legend: 'Kolmogorov-Smirnov statistic (numbers only): the largest gap between the cumulative shares' },
  missing: { label: 'Missing change', value: (c) => (c.missing_rate_change == null ? null : Math.abs(c.missing_rate_change)),
    warn: 0.02, bad: 0.1, legend: 'change of the missing rate from the reference, either way' },
};

// Which live quality measure goes with which training metric names.
const QUALITY = [
  { key: 'accuracy', label: 'live accuracy', metric: /acc/i },
  { key: 'f1_macro', label: 'live macro F1', metric: /f1/i },
  { key: 'rmse', label: 'live RMSE', metric: /rmse/i },
  { key: 'mae', label: 'live MAE', metric: /(^|[^r])mae/i },
];

// versions: the model's versions, newest first; details: their
// model-versions/get answers; report: the gate report renderer.
export function monitorSection(model, versions, details, ctx, report) {
  const monitored = versions
    .map((v, i) => ({ v, profile: details[i] && details[i].bundle && details[i].bundle.manifest
      ? details[i].bundle.manifest.reference_profile : null }))
    .filter((x) => x.profile);
  const box = h('div', { 'data-testid': 'monitoring' });
  if (!monitored.length) {
    box.append(emptyState('No version has a reference profile to monitor against. ',
      h('code', { text: `mltrack model register ${model.name} --from DIR --reference data.csv` }),
      ' adds one; docs/monitoring.md explains the rest.'));
    return section('Monitoring', box);
  }
  const aliases = new Map();
  for (const a of model.aliases || []) aliases.set(a.version, [...(aliases.get(a.version) || []), a.alias]);
  const aliasesOf = (v) => aliases.get(v.version) || v.aliases || [];
  const wanted = ctx.params && ctx.params.get('monitor');
  const chosen = monitored.find((x) => x.v.version === wanted)
    || monitored.find((x) => x.v.current_stage === 'Production')
    || monitored.find((x) => aliasesOf(x.v).some((a) => DEPLOYED_ALIASES.includes(a.toLowerCase())))
    || monitored.find((x) => aliasesOf(x.v).length)
    || monitored[0];

  const view = h('div', {});
  const pick = h('div', { class: 'mon-pick', role: 'group', 'aria-label': 'Monitored version', 'data-testid': 'monitor-versions' },
    h('span', { class: 'muted', text: 'Version ' }),
    monitored.map((x) => h('button', {
      type: 'button', class: 'tab', 'data-version': x.v.version, 'aria-pressed': String(x === chosen),
      onclick: (ev) => {
        for (const b of pick.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === ev.currentTarget));
        const u = new URL(location.href);
        u.searchParams.set('monitor', x.v.version);
        history.replaceState(history.state, '', u.pathname + u.search);
        show(x);
      },
    }, `v${x.v.version}`,
    x.v.current_stage && x.v.current_stage !== 'None' ? h('span', { class: `badge stage-${x.v.current_stage}`, text: x.v.current_stage }) : null,
    aliasesOf(x.v).map((a) => h('span', { class: 'badge alias', text: `@${a}` })))));
  // The model's rules, alerts and deliveries are the same whatever version
  // is shown: read once, the alerts and deliveries drawn once below it.
  const rulesP = get(`${EXT}monitor/alert-rules/get`, { name: model.name }, { signal: ctx.signal }).catch(() => ({}));
  const alertsP = get(`${EXT}monitor/alerts/list`, { name: model.name, max_results: 200 }, { signal: ctx.signal })
    .catch((e) => ({ error: e }));
  const alertsBoxEl = h('div', {});
  const deliveries = h('div', { 'data-testid': 'deliveries' });
  box.append(monitored.length > 1 ? pick : null, view, h('h3', { text: 'Open alerts' }), alertsBoxEl,
    h('h3', { text: 'Webhook deliveries' }), deliveries);
  alertsP.then((a) => fill(alertsBoxEl, alertsBox(model.name, a.alerts || [], a.error)));
  fillDeliveries(deliveries, model.name, ctx);

  let charts = [];
  let seq = 0;
  async function show(x) {
    const mine = ++seq;
    for (const c of charts) c.destroy();
    charts = [];
    fill(view, h('p', { class: 'muted', text: 'Loading…' }));
    const q = { name: model.name, version: x.v.version };
    const [mon, rules, alerts, run] = await Promise.all([
      get(`${EXT}monitor/get`, { ...q, max_windows: MAX_WINDOWS }, { signal: ctx.signal }).catch((e) => ({ error: e })),
      rulesP, alertsP,
      x.v.run_id ? get(`${MLF}runs/get`, { run_id: x.v.run_id }, { signal: ctx.signal }).catch(() => null) : null,
    ]);
    if (mine !== seq) return;
    fill(view);
    if (mon.error) { view.append(errorBox(mon.error, 'The monitoring windows cannot be read')); return; }
    const windows = [...(mon.windows || [])].reverse(); // oldest first, left to right
    const mineOpen = (alerts.alerts || []).filter((a) => a.version === mon.version).length;
    add(view,
      h('div', { class: 'facts', 'data-testid': 'monitor-facts' },
        h('span', {}, 'version ', h('b', { text: mon.version })),
        h('span', {}, 'reference of ', h('b', { text: String(mon.reference_rows) }), ' rows'),
        h('span', {}, h('b', { text: String(windows.length) }), ` window${windows.length === 1 ? '' : 's'}`,
          windows.length ? ` of ${fmtSpan(windows[windows.length - 1].window_seconds)}` : ''),
        h('span', { 'data-testid': 'version-open-alerts' }, h('b', { text: String(mineOpen) }),
          ` open alert${mineOpen === 1 ? '' : 's'} of this version`)),
      rulesBox(model.name, rules.rules || []));
    if (!windows.length) {
      view.append(emptyState('No observations yet: ',
        h('code', { text: `mltrack monitor log ${model.name}/${mon.version} --file served.jsonl` }),
        ' sends some, or a serving stack posts them to ', h('code', { text: '/api/2.0/mltrack/monitor/log' }), '.'));
    } else {
      const detail = h('div', { 'data-testid': 'window-detail' });
      const initial = [...windows].reverse().find((w) => w.alert) || windows[windows.length - 1];
      view.append(h('h3', { text: 'Drift per feature' }),
        heatmap(mon.columns || {}, windows, (w) => fill(detail, windowDetail(w, mon.columns || {}, report)), initial),
        detail);
      fill(detail, windowDetail(initial, mon.columns || {}, report));
      const q2 = quality(windows, rules.rules || [], run);
      if (q2) {
        const qbox = h('figure', { class: 'chart', 'data-testid': 'quality' });
        view.append(h('h3', { text: 'Live quality against training' }), q2.caption, qbox);
        charts.push(new LineChart(qbox, q2.series, { xMode: 'wall', height: 220 }));
      }
    }
  }
  show(chosen);
  return section('Monitoring', box);
}

function fmtSpan(s) {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function rulesBox(name, rules) {
  if (!rules.length)
    return h('p', { class: 'muted', 'data-testid': 'alert-rules' }, 'No alert rules: ',
      h('code', { text: `mltrack monitor rules ${name} --rule 'drift.psi(FEATURE) < 0.2'` }), ' sets some.');
  return h('div', { class: 'mon-rules', 'data-testid': 'alert-rules' }, h('span', { class: 'muted', text: 'Alert rules: ' }),
    rules.map((r) => h('code', { class: 'rule', text: r })));
}

// How a window's check came out: 'alert', 'acked', 'passed', 'norules', 'open'.
function checkOf(w) {
  if (w.alert) return w.alert.acknowledged_at ? 'acked' : 'alert';
  if (w.closed_at == null) return 'open';
  return w.report ? 'passed' : 'norules';
}
const CHECK_TEXT = {
  alert: 'alert fired', acked: 'alert fired, acknowledged', passed: 'checked: every rule passed',
  norules: 'closed without rules', open: 'open: not checked yet',
};
const CHECK_MARK = { alert: '!', acked: '!', passed: '✓', norules: '', open: '·' };

function cellColor(v, st) {
  if (v == null || !isFinite(v)) return null;
  const t = Math.min(1, Math.max(0, v / st.bad));
  const hue = Math.round(130 - 130 * t);
  const alpha = (0.18 + 0.72 * t).toFixed(2);
  return `hsl(${hue} 70% 45% / ${alpha})`;
}

// Rows: the columns (features, then prediction and target); columns: the
// windows, oldest left.  Over each window its check.  A cell or a window's
// head selects the window (its figures show below).
function heatmap(columns, windows, onSelect, initial) {
  const order = { feature: 0, prediction: 1, target: 2 };
  const names = Object.keys(columns).sort((a, b) => (order[columns[a].role] ?? 3) - (order[columns[b].role] ?? 3)
    || (a < b ? -1 : a > b ? 1 : 0));
  let stat = 'psi';
  let selected = initial;
  const every = Math.max(1, Math.ceil(windows.length / 12));
  const wrap = h('div', { class: 'heat-wrap' });
  const legend = h('p', { class: 'muted heat-legend' });
  const select = h('select', { 'aria-label': 'Colour by', onchange: (e) => { stat = e.target.value; draw(); } },
    Object.entries(STATS).map(([k, s]) => h('option', { value: k, text: s.label })));

  function draw() {
    const st = STATS[stat];
    const head = h('tr', {}, h('th', { class: 'heat-corner', text: 'Window' }), windows.map((w, i) => {
      const c = checkOf(w);
      return h('th', { class: `heat-check chk-${c}${w === selected ? ' sel' : ''}`, 'data-start': String(w.start), 'data-check': c },
        h('button', { type: 'button', title: `${fmtTime(w.start)} · ${w.rows} rows · ${CHECK_TEXT[c]}`,
          'aria-label': `window ${fmtTime(w.start)}, ${CHECK_TEXT[c]}`, onclick: () => choose(w) }, CHECK_MARK[c] || '\u00a0'),
        i % every === 0 ? h('div', { class: 'heat-time', text: shortTime(w.start, i ? windows[i - every].start : null) }) : null);
    }));
    const body = names.map((n) => h('tr', { 'data-feature': n },
      h('th', { scope: 'row', class: 'heat-name' }, h('span', { class: 'mono', text: n }),
        columns[n].role !== 'feature' ? h('span', { class: 'muted', text: ` ${columns[n].role}` }) : null),
      windows.map((w) => {
        const c = (w.columns || {})[n] || {};
        const v = st.value(c);
        const bg = cellColor(v, st);
        const tip = `${n} · ${fmtTime(w.start)} · ${c.psi != null ? `PSI ${fmtNum(round(c.psi))}` : 'no values'}`
          + `${c.ks != null ? ` · KS ${fmtNum(round(c.ks))}` : ''}${c.chi2 != null ? ` · chi² ${fmtNum(round(c.chi2))}` : ''}`
          + `${c.missing_rate_change != null ? ` · missing ${c.missing_rate_change >= 0 ? '+' : ''}${fmtNum(round(c.missing_rate_change))}` : ''}`;
        return h('td', { class: `heat-cell${bg ? '' : ' none'}${w === selected ? ' sel' : ''}`,
          style: bg ? { background: bg } : undefined, title: tip, 'data-start': String(w.start),
          'data-value': v == null ? '' : String(v), 'data-level': v == null ? 'none' : v >= st.bad ? 'bad' : v >= st.warn ? 'warn' : 'ok',
          onclick: () => choose(w) });
      })));
    fill(wrap, h('table', { class: 'heat', 'data-testid': 'drift-heatmap', 'data-stat': stat },
      h('thead', {}, head), h('tbody', {}, body)));
    fill(legend, st.legend, '. Grey: no values in the window. Above each window: ',
      h('b', { class: 'chk-alert', text: '!' }), ' an alert fired, ', h('b', { text: '✓' }), ' the rules passed, ',
      h('b', { text: '·' }), ' not closed yet.');
  }
  function choose(w) { selected = w; draw(); onSelect(w); }
  draw();
  return h('div', {}, h('label', { class: 'heat-stat' }, 'Colour by ', select), wrap, legend);
}

function round(v) { return Math.round(v * 10000) / 10000; }

// "14:00", with the date when it differs from the previous label's.
function shortTime(ms, prev) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (prev != null && new Date(prev).toDateString() === d.toDateString()) return hm;
  return `${d.getMonth() + 1}/${d.getDate()} ${hm}`;
}

function windowDetail(w, columns, report) {
  const c = checkOf(w);
  const q = w.quality;
  return h('div', { class: 'win-detail', 'data-start': String(w.start), 'data-check': c },
    h('div', { class: 'facts' },
      h('span', {}, 'window ', h('b', { text: `${fmtTime(w.start)} – ${fmtTime(w.end)}` })),
      h('span', {}, h('b', { text: String(w.rows) }), ' rows'),
      q ? h('span', {}, h('b', { text: String(q.labels) }), ' labels') : null,
      h('span', { class: `chk-${c}` }, CHECK_TEXT[c], w.alert ? ` (alert ${w.alert.alert_id})` : '')),
    h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Column', 'Type', 'PSI', 'KS', 'Chi²', 'Missing', 'Change'].map((t, i) => h('th', { class: i > 1 ? 'num' : null, text: t })))),
      h('tbody', {}, Object.entries(w.columns || {}).map(([n, x]) => h('tr', {},
        h('td', { class: 'mono', text: n }), h('td', { text: `${x.type}${columns[n] && columns[n].role !== 'feature' ? ` · ${columns[n].role}` : ''}` }),
        ...[x.psi, x.ks, x.chi2, x.missing_rate].map((v) => h('td', { class: 'num', text: v == null ? '–' : fmtNum(round(v)) })),
        h('td', { class: 'num', text: x.missing_rate_change == null ? '–' : `${x.missing_rate_change >= 0 ? '+' : ''}${fmtNum(round(x.missing_rate_change))}` }))))),
    q ? h('p', {}, 'Live quality: ', ['accuracy', 'f1_macro', 'rmse', 'mae'].filter((k) => q[k] != null)
      .map((k) => `${k} ${fmtNum(round(q[k]))}`).join(' · ')) : null,
    w.report ? report(w.report) : null);
}

// The live quality measure the windows have, and the training metric to
// hold it against: the one an alert rule compares it with
// (`live.accuracy >= champion.metrics.val_acc - 0.03`), else the run's
// metric whose name says the same thing.
function quality(windows, rules, run) {
  const have = windows.filter((w) => w.quality);
  if (!have.length) return null;
  const m = QUALITY.find((x) => have.some((w) => w.quality[x.key] != null));
  if (!m) return null;
  const metrics = new Map(((run && run.run && run.run.data && run.run.data.metrics) || []).map((x) => [x.key, x.value]));
  let key = null;
  for (const r of rules) {
    const mm = r.match(new RegExp(`live\\.${m.key === 'f1_macro' ? 'f1(?:_macro)?' : m.key}\\b[^]*?champion\\.metrics\\.([A-Za-z0-9_./-]+)`));
    if (mm && metrics.has(mm[1])) { key = mm[1]; break; }
  }
  if (!key) key = [...metrics.keys()].filter((k) => m.metric.test(k) && !/loss/i.test(k)).sort((a, b) => a.length - b.length)[0] || null;
  const xs = have.map((w) => w.start / 1000);
  const series = [{ label: m.label, color: '#2f7ed8', xs, ys: have.map((w) => w.quality[m.key] ?? null), width: 2 }];
  if (key) series.push({ label: `training ${key}`, color: '#e8590c', xs, ys: have.map(() => metrics.get(key)), style: 'steps', width: 1.5 });
  return {
    series,
    caption: h('p', { class: 'muted', 'data-testid': 'quality-caption' },
      `${m.label} of each window with labels`, key ? `, against the training run's ${key} (${fmtNum(metrics.get(key))})` : ' (no training metric to compare with)', '.'),
  };
}

function alertsBox(name, alerts, error) {
  if (error) return errorBox(error, 'The alerts cannot be read');
  if (!alerts.length) return emptyState('No open alert.');
  return h('div', {},
    h('table', { class: 'grid', 'data-testid': 'alerts' },
      h('thead', {}, h('tr', {}, ['Alert', 'Version', 'Window', 'Rows', 'Fired', 'Failed rules'].map((t) => h('th', { text: t })))),
      h('tbody', {}, alerts.map((a) => h('tr', { 'data-alert': a.alert_id, 'data-start': String(a.window_start) },
        h('td', { class: 'mono', text: a.alert_id }), h('td', { text: `v${a.version}` }),
        h('td', { text: `${fmtTime(a.window_start)} – ${fmtTime(a.window_end)}` }),
        h('td', { class: 'num', text: a.report && a.report.rows != null ? String(a.report.rows) : '' }),
        h('td', { text: fmtTime(a.created_at) }),
        h('td', {}, (a.failed || []).map((r) => h('div', { class: 'mono', text: r }))))))),
    h('p', { class: 'muted' }, 'Acknowledge one with ', h('code', { text: `mltrack monitor ack ${name} ID` }), '.'));
}

// The delivery log of the model's events, across webhooks: admins only
// (a webhook sends every event of the server).
async function fillDeliveries(box, name, ctx) {
  if (auth.enabled && !(auth.user && auth.user.is_admin)) {
    fill(box, h('p', { class: 'muted', text: 'Webhooks and their deliveries are shown to admins.' }));
    return;
  }
  let hooks;
  try {
    hooks = (await get(`${MLF}webhooks`, { max_results: 100 }, { signal: ctx.signal })).webhooks || [];
  } catch (e) {
    if (e.name === 'AbortError') return;
    fill(box, errorBox(e, 'The webhooks cannot be read'));
    return;
  }
  if (!hooks.length) {
    fill(box, emptyState('No webhook: ', h('code', { text: 'mltrack webhooks create NAME --url URL --event monitor_alert.fired' }),
      ' sends alerts to a receiver (a CI trigger, a chat channel).'));
    return;
  }
  const lists = await Promise.all(hooks.map((w) => get(`${EXT}webhooks/${encodeURIComponent(w.webhook_id)}/deliveries`,
    { model: name, max_results: 50 }, { signal: ctx.signal })
    .then((r) => (r.deliveries || []).map((d) => ({ ...d, hook: w })), () => [])));
  const all = lists.flat().sort((a, b) => b.creation_timestamp - a.creation_timestamp).slice(0, 50);
  if (!all.length) {
    fill(box, emptyState(`No event of this model was sent to the ${hooks.length} webhook${hooks.length === 1 ? '' : 's'} yet.`));
    return;
  }
  fill(box, h('table', { class: 'grid', 'data-testid': 'deliveries-table' },
    h('thead', {}, h('tr', {}, ['Time', 'Webhook', 'Event', 'State', 'Attempts', 'Last answer', 'Delivery id'].map((t) => h('th', { text: t })))),
    h('tbody', {}, all.map((d) => h('tr', { 'data-state': d.state, 'data-event': `${d.entity}.${d.action}`.toLowerCase(),
      'data-version': d.payload && d.payload.data && d.payload.data.version != null ? String(d.payload.data.version) : null },
      h('td', { text: fmtTime(d.creation_timestamp) }),
      h('td', {}, d.hook.name, h('div', { class: 'muted mono', text: d.hook.url })),
      h('td', { class: 'mono', text: `${d.entity}.${d.action}`.toLowerCase() }),
      h('td', {}, h('span', { class: `badge dl-${d.state}`, text: d.state })),
      h('td', { class: 'num', text: String(d.attempts) }),
      h('td', { text: d.last_status ? `HTTP ${d.last_status}` : d.last_error || '' }),
      h('td', { class: 'mono', text: d.delivery_id }))))));
}
