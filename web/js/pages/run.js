// "/runs/<id>": one run: provenance, params, latest metrics with sparklines,
// tags, the logged models it produced (MLflow 3), the output log's tail
// (HTTP Range, more on demand), the artifacts browser and a chart per metric.
// A RUNNING run is polled (runs/get every 2 s); a chart is fetched again only
// when its metric's latest value moved.
import { h, fill, fmtTime, fmtDuration, runDuration, fmtNum, fmtBytes, kv, statusBadge, emptyState,
  section, color } from '../util.js';
import { get, post, apiFetch, MLF, errorBox, artifactUrl, proxyRoot, proxyUrl, sampled, ApiError } from '../api.js';
import { LineChart, sparkline, toXY } from '../chart.js';
import { accessBadge } from '../auth.js';
import { isSweep, renderSweep } from './sweep.js';

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
  const modelsBox = h('div', {});
  const modelsSection = section('Logged models', modelsBox);
  modelsSection.hidden = true;
  // A sweep's parent (mltrack sweep): its trials first, the run's own
  // details below.
  const sweepBox = h('div', { 'data-testid': 'sweep' });
  const tagsBox = h('div', {}, tagsTable(run));
  const sweepSection = section('Sweep', sweepBox);
  sweepSection.hidden = !isSweep(run);
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '/', text: 'Experiments' }), ' / ',
      h('a', { href: `/experiments/${encodeURIComponent(run.info.experiment_id)}`, text: exp ? exp.name : `#${run.info.experiment_id}` }), ' / '),
    h('div', { class: 'head' }, h('h1', { text: title }), statusEl,
      h('a', { class: 'button', href: `/compare?runs=${encodeURIComponent(runId)}`, text: 'Open in compare' }),
      accessBadge({ experiment_id: run.info.experiment_id })),
    facts,
    sweepSection,
    h('div', { class: 'cols2' },
      h('div', {}, section('Provenance', provenance(run)), section('Parameters', paramsTable(run))),
      h('div', {}, section('Metrics', metricsBox), section('Tags', tagsBox))),
    modelsSection,
    section('Charts', chartsEmpty, chartsBox),
    section('Output log', logBox),
    section('Artifacts', artBox));

  const drawFacts = () => {
    const i = run.info;
    fill(facts,
      h('span', {}, 'id ', h('b', { class: 'mono', text: i.run_id })),
      fmtTime(i.start_time) ? h('span', {}, 'started ', h('b', { text: fmtTime(i.start_time) })) : null,
      fmtDuration(runDuration(i)) ? h('span', {}, 'duration ', h('b', { 'data-testid': 'run-duration', text: fmtDuration(runDuration(i)) })) : null,
      i.user_id ? h('span', {}, 'user ', h('b', { text: i.user_id })) : null,
      i.end_time ? h('span', {}, 'ended ', h('b', { text: fmtTime(i.end_time) })) : null,
      parentLink(run));
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
        h('td', { class: 'num muted', text: m.step != null ? `step ${m.step}` : '' }),
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

  let sweepCleanup = null;
  let gone = false;
  if (!sweepSection.hidden) {
    renderSweep(sweepBox, ctx, run).then((c) => { if (gone) { if (c) c(); } else sweepCleanup = c; }, (e) => {
      if (e.name !== 'AbortError') sweepBox.replaceChildren(errorBox(e, 'The sweep cannot be shown'));
    });
  }
  loadLog(logBox, run, ctx);
  artifactsBrowser(artBox, run, ctx);
  let modelIds = outputModelIds(run);
  loggedModels(modelsSection, modelsBox, run, modelIds, ctx);

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
      const oldTags = JSON.stringify(run.data.tags || []);
      run = fresh;
      statusEl.replaceChildren(statusBadge(run.info.status));
      drawFacts();
      // Tags change while a run lives (a sweep's best_* at its end).
      if (JSON.stringify(run.data.tags || []) !== oldTags) tagsBox.replaceChildren(tagsTable(run));
      const changed = [...latestOf(run).values()].filter((m) => {
        const b = before.get(m.key);
        return !b || b.step !== m.step || b.timestamp !== m.timestamp || b.value !== m.value;
      }).map((m) => m.key);
      if (changed.length) {
        chartsEmpty.remove();
        await drawCharts(changed);
        drawMetrics(run);
      }
      const ids = outputModelIds(run);
      if (ids.join() !== modelIds.join()) {
        modelIds = ids;
        loggedModels(modelsSection, modelsBox, run, modelIds, ctx);
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
    gone = true;
    clearTimeout(timer);
    if (sweepCleanup) sweepCleanup();
    for (const e of charts.values()) if (e.chart) e.chart.destroy();
  };
}

// A child run (mlflow.parentRunId: a sweep's trial, MLflow's nested runs):
// a link to its parent.
function parentLink(run) {
  const t = kv(run.data.tags);
  const p = t.get('mlflow.parentRunId');
  if (!p) return null;
  const trial = t.get('mltrack.sweep.trial');
  return h('span', {}, trial !== undefined ? `trial ${trial} of the sweep ` : 'child of ',
    h('a', { href: `/runs/${encodeURIComponent(p)}`, class: 'mono', 'data-testid': 'parent-run', text: p.slice(0, 8) }));
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

// The output log: its last 64 KiB, then earlier chunks on demand.  Whether
// the run has one is read from the listing of its mltrack/ directory first,
// so a run without a log asks for nothing that is not there (a 404 would be
// an error in the browser's console).
async function loadLog(box, run, ctx) {
  const url = artifactUrl(run, LOG_PATH);
  const noLog = () => fill(box, emptyState(run.info.status === 'RUNNING' ? 'No output log yet. ' : 'No output log. ',
    h('code', { text: 'mltrack run -- ./train' }), ' records the command\u2019s output as ', h('code', { text: LOG_PATH }),
    run.info.status === 'RUNNING' ? ' when the command ends.' : '.'));
  let start = null; // first byte shown
  let total = null;
  const pre = h('pre', { class: 'log', 'data-testid': 'output-log', tabindex: '0' });
  const more = h('button', { type: 'button', text: 'Load earlier output' });
  const info = h('span', { class: 'muted' });
  const fetchRange = async (range) => {
    const res = await apiFetch(url, { headers: { Range: range }, signal: ctx.signal });
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
    const dir = LOG_PATH.slice(0, LOG_PATH.lastIndexOf('/'));
    const listed = (await get(`${MLF}artifacts/list`, { run_id: run.info.run_id, path: dir }, { signal: ctx.signal })).files || [];
    const file = listed.find((f) => !f.is_dir && f.path === LOG_PATH);
    if (!file) { noLog(); return; }
    const r = Number(file.file_size) === 0 ? { text: '', from: 0, total: 0 } : await fetchRange(`bytes=-${LOG_CHUNK}`);
    if (!r) { noLog(); return; }
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

// An artifact tree, one directory level at a time; directories open on
// click, files are download links.  list(path) gives a directory's entries
// with paths relative to the tree's root, urlOf(path) a file's URL.
async function artifactTree(list, urlOf, testid) {
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
          h('a', { href: urlOf(f.path), download: name, text: name }),
          h('span', { class: 'size', text: fmtBytes(f.file_size) })));
      }
    }
    return files.length;
  };
  const ul = h('ul', { class: 'tree root', 'data-testid': testid });
  const n = await level('', ul);
  return { ul, n };
}

async function artifactsBrowser(box, run, ctx) {
  const list = async (path) => (await get(`${MLF}artifacts/list`, { run_id: run.info.run_id, path: path || undefined }, { signal: ctx.signal })).files || [];
  try {
    const { ul, n } = await artifactTree(list, (path) => artifactUrl(run, path), 'artifacts');
    box.replaceChildren(n ? ul : emptyState('No artifacts. ', h('code', { text: 'mltrack run --artifacts FILE -- ./train' }), ' uploads files with the run.'));
  } catch (e) {
    if (e.name === 'AbortError') return;
    box.replaceChildren(errorBox(e, 'Artifacts cannot be listed'));
  }
}

// ---- logged models (MLflow 3) ----

// The ids of the logged models the run produced: its outputs, which MLflow
// 3's log_model records (runs/outputs).  A run without any makes the page
// ask nothing about logged models, so a server without them (MLflow 2,
// answering 404) is never asked and the section stays hidden.
function outputModelIds(run) {
  const outs = (run.outputs && run.outputs.model_outputs) || [];
  return [...new Set(outs.map((o) => o.model_id).filter(Boolean))].sort();
}

const MODEL_STATUS = {
  LOGGED_MODEL_READY: ['ready', 'st-FINISHED'],
  LOGGED_MODEL_PENDING: ['pending', 'st-RUNNING'],
  LOGGED_MODEL_UPLOAD_FAILED: ['upload failed', 'st-FAILED'],
  1: ['pending', 'st-RUNNING'], 2: ['ready', 'st-FINISHED'], 3: ['upload failed', 'st-FAILED'],
};

const quote = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

// The models by id, with MLflow's logged-models search (as MLflow's own UI
// asks: attributes.model_id IN (...)), 100 ids a request.
async function searchModels(run, ids, ctx) {
  const out = [];
  for (let i = 0; i < ids.length; i += 100) {
    const chunk = ids.slice(i, i + 100);
    let token;
    do {
      const r = await post(`${MLF}logged-models/search`, {
        experiment_ids: [run.info.experiment_id],
        filter: `attributes.model_id IN (${chunk.map(quote).join(', ')})`,
        max_results: 100, page_token: token,
      }, { signal: ctx.signal });
      out.push(...(r.models || []));
      token = r.next_page_token;
    } while (token);
  }
  return out;
}

async function loggedModels(sectionEl, box, run, ids, ctx) {
  if (!ids.length) { sectionEl.hidden = true; box.replaceChildren(); return; }
  let models;
  try {
    models = await searchModels(run, ids, ctx);
  } catch (e) {
    if (e.name === 'AbortError') return;
    // A server without logged models: nothing to show.
    if (e.status === 404 && (e.code === 'ENDPOINT_NOT_FOUND' || e.code === 'HTTP')) { sectionEl.hidden = true; return; }
    sectionEl.hidden = false;
    box.replaceChildren(errorBox(e, 'The logged models cannot be read'));
    return;
  }
  sectionEl.hidden = false;
  const steps = new Map(((run.outputs && run.outputs.model_outputs) || []).map((o) => [o.model_id, o.step]));
  models.sort((a, b) => Number(a.info?.creation_timestamp_ms || 0) - Number(b.info?.creation_timestamp_ms || 0));
  const missing = ids.length - new Set(models.map((m) => m.info?.model_id)).size;
  const table = h('table', { class: 'grid', 'data-testid': 'logged-models' },
    h('thead', {}, h('tr', {}, ['Name', 'Model ID', 'Status', 'Metrics', 'Registered as', 'Artifacts'].map((t) => h('th', { text: t })))),
    h('tbody', {}));
  for (const m of models) table.tBodies[0].append(...modelRows(m, steps, ctx));
  fill(box, models.length ? table : null,
    missing > 0 ? h('p', { class: 'muted', text: `${missing} logged model${missing === 1 ? ' is' : 's are'} no longer there (deleted).` }) : null);
}

// The latest value of each metric (per dataset), as "key value".
function modelMetrics(metrics) {
  const latest = new Map();
  for (const m of metrics || []) {
    const k = `${m.key}\n${m.dataset_name || ''}`;
    const b = latest.get(k);
    if (!b || Number(m.step || 0) > Number(b.step || 0)
      || (Number(m.step || 0) === Number(b.step || 0) && Number(m.timestamp || 0) >= Number(b.timestamp || 0))) latest.set(k, m);
  }
  const ms = [...latest.values()].sort((a, b) => a.key.localeCompare(b.key) || (a.dataset_name || '').localeCompare(b.dataset_name || ''));
  if (!ms.length) return h('span', { class: 'muted', text: 'none' });
  return h('ul', { class: 'plain' }, ms.map((m) => h('li', { 'data-metric': m.key },
    h('span', { class: 'mono', text: m.key }), ' ', h('b', { class: 'num', text: fmtNum(m.value) }),
    m.dataset_name ? h('span', { class: 'muted', text: ` on ${m.dataset_name}` }) : null)));
}

// The registered versions, from the mlflow.modelVersions tag that MLflow's
// register_model sets on the model: [{"name": ..., "version": ...}].
function registrations(info) {
  const list = [...(info.registrations || [])];
  const tag = (info.tags || []).find((t) => t.key === 'mlflow.modelVersions');
  if (tag) {
    try {
      for (const r of JSON.parse(tag.value) || [])
        if (r && r.name && !list.some((x) => x.name === r.name && String(x.version) === String(r.version))) list.push(r);
    } catch { /* not JSON: shown as a tag by MLflow, nothing here */ }
  }
  return list;
}

function modelRows(m, steps, ctx) {
  const info = m.info || {};
  const data = m.data || {};
  const [statusText, statusClass] = MODEL_STATUS[info.status] || ['', ''];
  const root = proxyRoot(info.artifact_uri);
  const treeRow = h('tr', { class: 'model-artifacts', hidden: true }, h('td', { colspan: '6' }));
  let artCell;
  if (root !== null) {
    const btn = h('button', { type: 'button', 'aria-expanded': 'false', text: 'Show files' });
    let loaded = false;
    btn.addEventListener('click', async () => {
      const open = btn.getAttribute('aria-expanded') !== 'true';
      btn.setAttribute('aria-expanded', String(open));
      btn.textContent = open ? 'Hide files' : 'Show files';
      treeRow.hidden = !open;
      if (!open || loaded) return;
      loaded = true;
      const cell = treeRow.cells[0];
      const list = async (path) => {
        const r = await get('/api/2.0/mlflow-artifacts/artifacts', { path: path ? `${root}/${path}` : root }, { signal: ctx.signal });
        return (r.files || []).map((f) => ({ ...f, path: path ? `${path}/${f.path}` : f.path }));
      };
      try {
        const { ul, n } = await artifactTree(list, (path) => proxyUrl(root, path), 'model-files');
        cell.replaceChildren(n ? ul : emptyState('No files.'));
      } catch (e) {
        if (e.name !== 'AbortError') cell.replaceChildren(errorBox(e, 'The model\u2019s files cannot be listed'));
      }
    });
    artCell = h('td', {}, btn, ' ', h('span', { class: 'mono muted', title: info.artifact_uri, text: info.artifact_uri }));
  } else {
    artCell = h('td', {}, info.artifact_uri ? h('span', { class: 'mono', text: info.artifact_uri }) : null);
  }
  const step = steps.get(info.model_id);
  const regs = registrations(info);
  return [h('tr', { 'data-model-id': info.model_id },
    h('td', {}, h('b', { class: 'nowrap', text: info.name || '' }), info.model_type ? h('div', { class: 'muted', text: info.model_type }) : null,
      step ? h('div', { class: 'muted', text: `step ${step}` }) : null),
    h('td', { class: 'mono', text: info.model_id || '' }),
    h('td', {}, statusText ? h('span', { class: `badge ${statusClass}`, 'data-testid': 'model-status', text: statusText }) : null),
    h('td', {}, modelMetrics(data.metrics)),
    h('td', {}, regs.length ? regs.map((r) => h('div', {}, h('a', { href: `/models/${encodeURIComponent(r.name)}`, text: `${r.name} v${r.version}` }))) : null),
    artCell), treeRow];
}
