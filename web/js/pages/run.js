// "/runs/<id>": one run: provenance, params, latest metrics with sparklines,
// tags, the output log's tail (HTTP Range, more on demand), the artifacts
// browser and a chart per metric.  A RUNNING run is polled (runs/get every
// 2 s); a chart is fetched again only when its metric's latest value moved.
import { h, fmtTime, fmtDuration, runDuration, fmtNum, fmtBytes, kv, statusBadge, emptyState,
  section, color } from '../util.js';
import { get, MLF, errorBox, artifactUrl, sampled, ApiError } from '../api.js';
import { LineChart, sparkline, toXY } from '../chart.js';

const LOG_PATH = 'mltrack/output.log';
const LOG_CHUNK = 64 * 1024;
const POLL_MS = 2000;

export async function render(main, ctx, runId) {
  let run = (await get(`${MLF}runs/get`, { run_id: runId }, { signal: ctx.signal })).run;
  let exp = null;
  try {
    exp = (await get(`${MLF}experiments/get`, { experiment_id: run.info.experiment_id }, { signal: ctx.signal })).experiment;
  } catch (e) { if (e.name === 'AbortError') throw e; }
  const title = run.info.run_name || run.info.run_id;
  document.title = `${title} · mltrack`;

  const statusEl = h('span', { 'data-testid': 'run-status' }, statusBadge(run.info.status));
  const facts = h('div', { class: 'facts' });
  const metricsBox = h('div', {});
  const chartsBox = h('div', { class: 'charts', 'data-testid': 'run-charts' });
  const chartsEmpty = emptyState('No metrics to chart yet.');
  const logBox = h('div', {});
  const artBox = h('div', {});
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '/', text: 'Experiments' }), ' / ',
      h('a', { href: `/experiments/${encodeURIComponent(run.info.experiment_id)}`, text: exp ? exp.name : `#${run.info.experiment_id}` }), ' / '),
    h('div', { class: 'head' }, h('h1', { text: title }), statusEl,
      h('a', { class: 'button', href: `/compare?runs=${encodeURIComponent(runId)}`, text: 'Open in compare' })),
    facts,
    h('div', { class: 'cols2' },
      h('div', {}, section('Provenance', provenance(run)), section('Parameters', paramsTable(run))),
      h('div', {}, section('Metrics', metricsBox), section('Tags', tagsTable(run)))),
    section('Charts', chartsEmpty, chartsBox),
    section('Output log', logBox),
    section('Artifacts', artBox));

  const drawFacts = () => {
    const i = run.info;
    facts.replaceChildren(
      h('span', {}, 'id ', h('b', { class: 'mono', text: i.run_id })),
      h('span', {}, 'started ', h('b', { text: fmtTime(i.start_time) })),
      h('span', {}, 'duration ', h('b', { 'data-testid': 'run-duration', text: fmtDuration(runDuration(i)) })),
      i.user_id ? h('span', {}, 'user ', h('b', { text: i.user_id })) : null,
      i.end_time ? h('span', {}, 'ended ', h('b', { text: fmtTime(i.end_time) })) : null);
  };
  drawFacts();

  // Metrics: the latest values, a sparkline each, and a chart each.
  const charts = new Map(); // key -> {chart, latest}
  const sparks = new Map();
  const latestOf = (r) => new Map((r.data.metrics || []).map((m) => [m.key, m]));
  const drawMetrics = (r) => {
    const ms = [...latestOf(r).values()].sort((a, b) => a.key.localeCompare(b.key));
    if (!ms.length) {
      metricsBox.replaceChildren(emptyState('No metrics logged.'));
      return;
    }
    metricsBox.replaceChildren(h('table', { class: 'grid kv', 'data-testid': 'run-metrics' },
      h('tbody', {}, ms.map((m) => h('tr', { 'data-key': m.key },
        h('td', { text: m.key }), h('td', { class: 'num', text: fmtNum(m.value) }),
        h('td', { class: 'num muted', text: `step ${m.step}` }),
        h('td', {}, sparks.get(m.key) || sparkline([])))))));
  };

  async function loadSeries(key) {
    const entry = charts.get(key);
    const width = entry ? entry.el.clientWidth : 480;
    const pts = await sampled(runId, key, Math.max(50, width), { signal: ctx.signal });
    const xy = toXY(pts, 'step', Number(run.info.start_time || 0));
    return { label: key, color: color(0), ...xy };
  }

  async function drawCharts(keys) {
    for (const key of keys) {
      let entry = charts.get(key);
      try {
        if (!entry) {
          const el = h('div', { class: 'chart', 'data-metric': key }, h('h3', { text: key }));
          chartsBox.append(el);
          entry = { el };
          charts.set(key, entry);
          const s = await loadSeries(key);
          entry.chart = new LineChart(el, [s], { xMode: 'step', legend: false });
          sparks.set(key, sparkline(s.ys.slice(-100)));
        } else {
          const s = await loadSeries(key);
          entry.chart.setSeries([s]);
          sparks.set(key, sparkline(s.ys.slice(-100)));
        }
      } catch (e) {
        if (e.name === 'AbortError') return;
        entry.el.append(errorBox(e, `Cannot load ${key}`));
      }
    }
  }

  const keys = [...latestOf(run).keys()].sort();
  drawMetrics(run);
  if (keys.length) chartsEmpty.remove();
  const chartsReady = drawCharts(keys).then(() => { drawMetrics(run); chartsBox.dataset.ready = '1'; });

  loadLog(logBox, run, ctx);
  artifactsBrowser(artBox, run, ctx);

  // Live: poll while the run is RUNNING.
  let timer = null;
  let stopped = false;
  const poll = async () => {
    timer = null;
    if (stopped) return;
    try {
      await chartsReady;
      const fresh = (await get(`${MLF}runs/get`, { run_id: runId }, { signal: ctx.signal })).run;
      const before = latestOf(run);
      run = fresh;
      statusEl.replaceChildren(statusBadge(run.info.status));
      drawFacts();
      const changed = [...latestOf(run).values()].filter((m) => {
        const b = before.get(m.key);
        return !b || b.step !== m.step || b.timestamp !== m.timestamp || b.value !== m.value;
      }).map((m) => m.key);
      if (changed.length) {
        chartsEmpty.remove();
        await drawCharts(changed);
        drawMetrics(run);
      }
      if (run.info.status !== 'RUNNING') loadLog(logBox, run, ctx);
    } catch (e) {
      if (e.name === 'AbortError') return;
      console.warn('poll', e);
    }
    if (!stopped && run.info.status === 'RUNNING') timer = setTimeout(poll, POLL_MS);
  };
  if (run.info.status === 'RUNNING') timer = setTimeout(poll, POLL_MS);

  return () => {
    stopped = true;
    clearTimeout(timer);
    for (const e of charts.values()) if (e.chart) e.chart.destroy();
  };
}

function provenance(run) {
  const t = kv(run.data.tags);
  const commit = t.get('mlflow.source.git.commit');
  const rows = [
    ['Commit', commit ? h('span', { class: 'mono', title: commit, text: commit }) : null],
    ['Branch', t.get('mlflow.source.git.branch')],
    ['Repository', t.get('mlflow.source.git.repoURL')],
    ['Uncommitted changes', t.has('mltrack.git.dirty') ? (t.get('mltrack.git.dirty') === 'true' ? 'yes (dirty work tree)' : 'no') : null],
    ['Source', t.get('mlflow.source.name')],
    ['Command', t.get('mltrack.command') ? h('code', { text: t.get('mltrack.command') }) : null],
    ['Exit code', t.get('mltrack.exit_code')],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  if (!rows.length)
    return emptyState('No provenance recorded. ', h('code', { text: 'mltrack run' }), ' records git commit, branch and dirty state when run in a git work tree.');
  return h('table', { class: 'grid kv', 'data-testid': 'provenance' },
    h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('td', { text: k }), h('td', {}, v)))));
}

function paramsTable(run) {
  const ps = [...(run.data.params || [])].sort((a, b) => a.key.localeCompare(b.key));
  if (!ps.length) return emptyState('No parameters logged.');
  return h('table', { class: 'grid kv', 'data-testid': 'run-params' },
    h('tbody', {}, ps.map((p) => h('tr', {}, h('td', { text: p.key }), h('td', { class: 'mono', text: p.value })))));
}

function tagsTable(run) {
  const ts = [...(run.data.tags || [])].sort((a, b) => a.key.localeCompare(b.key));
  if (!ts.length) return emptyState('No tags.');
  return h('table', { class: 'grid kv', 'data-testid': 'run-tags' },
    h('tbody', {}, ts.map((t) => h('tr', {}, h('td', { text: t.key }), h('td', { text: t.value })))));
}

// The output log: its last 64 KiB, then earlier chunks on demand.
async function loadLog(box, run, ctx) {
  const url = artifactUrl(run, LOG_PATH);
  let start = null; // first byte shown
  let total = null;
  const pre = h('pre', { class: 'log', 'data-testid': 'output-log', tabindex: '0' });
  const more = h('button', { type: 'button', text: 'Load earlier output' });
  const info = h('span', { class: 'muted' });
  const fetchRange = async (range) => {
    const res = await fetch(url, { headers: { Range: range }, signal: ctx.signal });
    if (res.status === 404) return null;
    if (res.status === 416) return { text: '', from: 0, total: 0 };
    if (!res.ok && res.status !== 206) {
      let msg = `${res.status} ${res.statusText}`;
      try { msg = (await res.json()).message || msg; } catch { /* not JSON */ }
      throw new ApiError(msg, res.status);
    }
    const buf = await res.arrayBuffer();
    const cr = res.headers.get('Content-Range');
    const m = cr && cr.match(/bytes (\d+)-(\d+)\/(\d+)/);
    const from = m ? Number(m[1]) : 0;
    const size = m ? Number(m[3]) : buf.byteLength;
    return { text: new TextDecoder().decode(buf), from, total: size };
  };
  try {
    const r = await fetchRange(`bytes=-${LOG_CHUNK}`);
    if (!r) {
      box.replaceChildren(emptyState('No output log. ', h('code', { text: 'mltrack run -- ./train' }), ' records the command\u2019s output as ', h('code', { text: LOG_PATH }), '.'));
      return;
    }
    start = r.from; total = r.total;
    pre.textContent = (start > 0 ? '…\n' : '') + r.text;
    const update = () => {
      info.textContent = start > 0 ? `showing the last ${fmtBytes(total - start)} of ${fmtBytes(total)}` : `${fmtBytes(total)}`;
      more.hidden = start <= 0;
    };
    more.onclick = async () => {
      const from = Math.max(0, start - LOG_CHUNK);
      try {
        const c = await fetchRange(`bytes=${from}-${start - 1}`);
        start = from;
        const rest = pre.textContent.replace(/^…\n/, '');
        pre.textContent = (start > 0 ? '…\n' : '') + c.text + rest;
        update();
      } catch (e) { if (e.name !== 'AbortError') box.append(errorBox(e, 'Cannot load more output')); }
    };
    update();
    box.replaceChildren(h('div', { class: 'toolbar' }, more, info,
      h('a', { href: url, download: 'output.log', text: 'Download' })), pre);
    pre.scrollTop = pre.scrollHeight;
  } catch (e) {
    if (e.name === 'AbortError') return;
    box.replaceChildren(errorBox(e, 'The output log cannot be read'));
  }
}

// One directory level at a time; directories open on click.
async function artifactsBrowser(box, run, ctx) {
  const list = async (path) => (await get(`${MLF}artifacts/list`, { run_id: run.info.run_id, path: path || undefined }, { signal: ctx.signal })).files || [];
  const level = async (path, ul) => {
    const files = await list(path);
    files.sort((a, b) => (b.is_dir - a.is_dir) || a.path.localeCompare(b.path));
    for (const f of files) {
      const name = f.path.split('/').pop();
      if (f.is_dir) {
        const sub = h('ul', { class: 'tree', hidden: true });
        const btn = h('button', { type: 'button', class: 'dir', 'aria-expanded': 'false', text: `▸ ${name}/` });
        let loaded = false;
        btn.addEventListener('click', async () => {
          const open = btn.getAttribute('aria-expanded') !== 'true';
          btn.setAttribute('aria-expanded', String(open));
          btn.textContent = `${open ? '▾' : '▸'} ${name}/`;
          sub.hidden = !open;
          if (open && !loaded) {
            loaded = true;
            try { await level(f.path, sub); } catch (e) { if (e.name !== 'AbortError') sub.append(h('li', {}, errorBox(e))); }
          }
        });
        ul.append(h('li', { 'data-path': f.path }, btn, sub));
      } else {
        ul.append(h('li', { 'data-path': f.path },
          h('a', { href: artifactUrl(run, f.path), download: name, text: name }),
          h('span', { class: 'size', text: fmtBytes(f.file_size) })));
      }
    }
    return files.length;
  };
  try {
    const ul = h('ul', { class: 'tree root', 'data-testid': 'artifacts' });
    const n = await level('', ul);
    box.replaceChildren(n ? ul : emptyState('No artifacts. ', h('code', { text: 'mltrack run --artifacts FILE -- ./train' }), ' uploads files with the run.'));
  } catch (e) {
    if (e.name === 'AbortError') return;
    box.replaceChildren(errorBox(e, 'Artifacts cannot be listed'));
  }
}

