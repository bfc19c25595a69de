// "/experiments/<id>": the runs table.  Rows come from runs/search one page
// at a time (latest metrics only, never histories) and are drawn as a
// virtual list: only the rows in view exist in the DOM, so 10,000 runs
// scroll like 10.  Sorting and filtering run on the server (MLflow's
// grammar); duration, which the grammar cannot sort by, is sorted here once
// every page is loaded.  Child runs (mlflow.parentRunId, as mltrack sweep's
// trials) are nested under their parent, collapsed until its toggle is
// pressed; without a filter a parent is fetched ahead of its own page, with
// one a child whose parent the filter leaves out is shown at the top level.
import { h, clear, fmtTime, fmtDuration, runDuration, fmtNum, kv, statusBadge, emptyState,
  shortSha, localGet, localSet } from '../util.js';
import { get, post, MLF, EXT, errorBox } from '../api.js';
import { accessBadge } from '../auth.js';

const ROW = 30;
const FIRST_PAGE = 200;
const PAGE = 1000;
const OVERSCAN = 10;

const BASE = [
  { id: 'status', label: 'Status', width: '92px', order: 'attributes.status', cell: (r) => statusBadge(r.info.status) },
  { id: 'name', label: 'Name', width: 'minmax(160px, 2fr)', order: 'attributes.run_name',
    cell: (r) => h('a', { href: `/runs/${encodeURIComponent(r.info.run_id)}`, text: r.info.run_name || r.info.run_id }) },
  { id: 'start', label: 'Start', width: '165px', order: 'attributes.start_time', cell: (r) => fmtTime(r.info.start_time) },
  { id: 'duration', label: 'Duration', width: '100px', local: (r) => runDuration(r.info) ?? -1,
    cell: (r) => fmtDuration(runDuration(r.info)), num: true },
  { id: 'user', label: 'User', width: 'minmax(80px, 1fr)', order: 'attributes.user_id', cell: (r) => r.info.user_id || '' },
  { id: 'commit', label: 'Commit', width: '90px', order: 'tags.`mlflow.source.git.commit`',
    cell: (r) => h('span', { class: 'mono', title: r._tags.get('mlflow.source.git.commit') || '' },
      shortSha(r._tags.get('mlflow.source.git.commit'))) },
];

function quoteKey(k) { return '`' + k.replace(/`/g, '') + '`'; }
const quote = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function render(main, ctx, expId) {
  const colKey = `mltrack.columns.${expId}`;
  const state = {
    filter: ctx.params.get('filter') || '',
    sort: ctx.params.get('sort') || 'start',
    dir: ctx.params.get('dir') === 'asc' ? 'asc' : 'desc',
    runs: [], token: null, done: false, loading: null, gen: 0,
    rows: [], expanded: new Set(), // rows: [{run, depth, children}] as shown
    ids: new Set(), unfound: new Set(), // run ids loaded; parents looked for and not found
    selected: new Set(), total: null,
    chosen: localGet(colKey, null), // {params: [], metrics: []}
    paramKeys: new Set(), metricKeys: new Set(),
  };

  // The first page of runs is asked for together with the experiment.
  let prefetch = { body: JSON.stringify(pageBody(true)) };
  prefetch.promise = post(`${MLF}runs/search`, pageBody(true), { signal: ctx.signal });
  prefetch.promise.catch(() => {});
  const exp = (await get(`${MLF}experiments/get`, { experiment_id: expId }, { signal: ctx.signal })).experiment;
  document.title = `${exp.name} · mltrack`;

  const filterBox = h('input', { type: 'search', class: 'filter', value: state.filter, 'aria-label': 'Filter runs',
    placeholder: "Filter: metrics.loss < 0.5 and (params.lr = '0.01' or params.lr = '0.1') and not attributes.status = 'FAILED'" });
  const filterErr = h('div', { 'aria-live': 'polite' });
  const compareBtn = h('button', { type: 'button', class: 'primary', disabled: true, text: 'Compare' });
  const colsMenu = h('div', {});
  const cols = h('details', { class: 'cols' }, h('summary', { text: 'Columns' }), colsMenu);
  const head = h('div', { class: 'runs-head', role: 'row' });
  const bodyEl = h('div', { class: 'runs-body', role: 'rowgroup' });
  const scroller = h('div', { class: 'runs-scroll', tabindex: '0', 'aria-label': 'Runs' }, bodyEl);
  const foot = h('div', { class: 'runs-foot', 'aria-live': 'polite' });
  const table = h('div', { class: 'runs', role: 'table', 'data-testid': 'runs' }, head, scroller, foot);
  const holder = h('div', {}, table);

  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '/', text: 'Experiments' }), ' / '),
    h('div', { class: 'head' }, h('h1', { text: exp.name }), h('span', { class: 'muted', text: `#${exp.experiment_id}` }),
      accessBadge({ experiment_id: exp.experiment_id })),
    h('div', { class: 'facts' }, h('span', { class: 'run-total' }),
      exp.creation_time ? h('span', {}, 'created ', h('b', { text: fmtTime(exp.creation_time) })) : null,
      exp.artifact_location ? h('span', {}, 'artifacts ', h('b', { class: 'mono', text: exp.artifact_location })) : null),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); applyFilter(); } },
      filterBox, h('button', { type: 'submit', text: 'Search' }),
      h('button', { type: 'button', text: 'Clear', onclick: () => { filterBox.value = ''; applyFilter(); } }),
      cols, compareBtn),
    filterErr, holder);

  compareBtn.addEventListener('click', () => {
    ctx.navigate(`/compare?runs=${[...state.selected].map(encodeURIComponent).join(',')}`);
  });

  get(`${EXT}experiments/summary`, { experiment_ids: [expId] }, { signal: ctx.signal }).then((s) => {
    const e = (s.experiments || [])[0];
    if (!e) return;
    state.total = e.run_count;
    main.querySelector('.run-total').replaceChildren(h('b', { text: String(e.run_count) }), ` runs`,
      e.running_count ? ` (${e.running_count} running)` : '');
    drawFoot();
  }).catch(() => {});

  function columns() {
    const ch = state.chosen || { params: [], metrics: [] };
    const out = [{ id: 'sel', label: '', width: '36px' }, ...BASE];
    for (const k of ch.params) out.push({ id: `p:${k}`, label: k, title: `params.${k}`, width: 'minmax(70px, 1fr)',
      order: `params.${quoteKey(k)}`, cell: (r) => r._params.get(k) ?? '' });
    for (const k of ch.metrics) out.push({ id: `m:${k}`, label: k, title: `metrics.${k}`, width: 'minmax(70px, 1fr)', num: true,
      order: `metrics.${quoteKey(k)}`, cell: (r) => fmtNum(r._metrics.get(k)) });
    return out;
  }

  function gridTemplate() { return columns().map((c) => c.width).join(' '); }

  function drawHead() {
    const tpl = gridTemplate();
    head.style.gridTemplateColumns = tpl;
    clear(head);
    for (const c of columns()) {
      if (c.id === 'sel') {
        const all = h('input', { type: 'checkbox', 'aria-label': 'Select all loaded runs',
          checked: state.runs.length > 0 && state.selected.size === state.runs.length });
        all.addEventListener('change', () => {
          if (all.checked) state.runs.forEach((r) => state.selected.add(r.info.run_id));
          else state.selected.clear();
          drawRows(true); updateCompare();
        });
        head.append(h('span', { class: 'cell-sel' }, all));
        continue;
      }
      const sorted = state.sort === c.id;
      head.append(h('button', {
        type: 'button', title: c.title || `Sort by ${c.label}`, 'data-col': c.id,
        'aria-sort': sorted ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none',
        onclick: () => {
          if (state.sort === c.id) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
          else { state.sort = c.id; state.dir = c.num || c.id === 'start' || c.id === 'duration' ? 'desc' : 'asc'; }
          reload();
        },
      }, c.label));
    }
  }

  // Rows in the DOM by index: a scroll adds the rows coming into view and
  // removes those leaving it; the rest stay untouched.
  let shown = new Map();
  let drawn = { first: -1, last: -1 };
  function makeRow(i, tpl, cs) {
    const { run: r, depth, children } = state.rows[i];
    const id = r.info.run_id;
    const parentId = r._tags.get('mlflow.parentRunId');
    const row = h('div', { class: `runs-row${state.selected.has(id) ? ' sel' : ''}${depth ? ' child' : ''}`, role: 'row', 'data-run-id': id,
      'data-parent-id': parentId || undefined, 'data-depth': String(depth), 'data-children': children ? String(children) : undefined });
    row.style.top = `${i * ROW}px`;
    row.style.gridTemplateColumns = tpl;
    for (const c of cs) {
      if (c.id === 'sel') {
        const box = h('input', { type: 'checkbox', 'aria-label': `Select ${r.info.run_name || id}`, checked: state.selected.has(id) });
        box.addEventListener('change', () => {
          if (box.checked) state.selected.add(id); else state.selected.delete(id);
          row.classList.toggle('sel', box.checked);
          updateCompare();
        });
        row.append(h('span', { class: 'cell-sel' }, box));
      } else if (c.id === 'name') {
        const cell = h('span', { class: 'cell-name', role: 'cell', 'data-col': c.id }, nesting(r, depth, children), c.cell(r));
        if (depth) cell.style.paddingLeft = `${8 + 22 * depth}px`;
        row.append(cell);
      } else {
        row.append(h('span', { class: c.num ? 'num' : '', role: 'cell', 'data-col': c.id }, c.cell(r)));
      }
    }
    return row;
  }

  // The toggle of a parent's children, or the indent of a child.
  function nesting(r, depth, children) {
    const id = r.info.run_id;
    if (children) {
      const open = state.expanded.has(id);
      return h('button', { type: 'button', class: 'twisty', 'aria-expanded': String(open), 'data-toggle': id,
        'aria-label': `${open ? 'Hide' : 'Show'} the ${children} child run${children === 1 ? '' : 's'} of ${r.info.run_name || id}`,
        title: `${children} child run${children === 1 ? '' : 's'}`,
        onclick: () => {
          if (state.expanded.has(id)) state.expanded.delete(id); else state.expanded.add(id);
          nest();
          drawRows(true);
          const again = bodyEl.querySelector(`button.twisty[data-toggle="${CSS.escape(id)}"]`);
          if (again) again.focus();
        } }, `${open ? '▾' : '▸'} ${children}`);
    }
    return depth ? h('span', { class: 'indent', 'aria-hidden': 'true', text: '↳' }) : null;
  }

  // state.rows from state.runs (in the server's order): a loaded parent's
  // children under it (when expanded), the rest at the top level.  Returns
  // whether the rows only grew at the end (the rows drawn stay right).
  function nest() {
    const ids = new Set(state.runs.map((r) => r.info.run_id));
    const kids = new Map();
    const top = [];
    for (const r of state.runs) {
      const p = r._tags.get('mlflow.parentRunId');
      if (p && p !== r.info.run_id && ids.has(p)) {
        if (!kids.has(p)) kids.set(p, []);
        kids.get(p).push(r);
      } else {
        top.push(r);
      }
    }
    // Runs whose parents make a cycle hang under no top-level run: they
    // are shown at the top level too.
    const placed = new Set();
    const walk = (r) => {
      if (placed.has(r.info.run_id)) return;
      placed.add(r.info.run_id);
      for (const c of kids.get(r.info.run_id) || []) walk(c);
    };
    for (const r of top) walk(r);
    for (const r of state.runs) if (!placed.has(r.info.run_id)) { top.push(r); walk(r); }
    const rows = [];
    const seen = new Set();
    const put = (r, depth) => {
      if (seen.has(r.info.run_id)) return;
      seen.add(r.info.run_id);
      const cs = kids.get(r.info.run_id) || [];
      rows.push({ run: r, depth, children: cs.length });
      if (cs.length && state.expanded.has(r.info.run_id)) for (const c of cs) put(c, depth + 1);
    };
    for (const r of top) put(r, 0);
    const old = state.rows;
    state.rows = rows;
    if (old.length > rows.length) return false;
    for (let i = 0; i < old.length; i++)
      if (old[i].run !== rows[i].run || old[i].depth !== rows[i].depth || old[i].children !== rows[i].children) return false;
    return true;
  }

  function drawRows(force) {
    const n = state.rows.length;
    const more = state.done ? 0 : 1;
    bodyEl.style.height = `${(n + more) * ROW}px`;
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(n, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
    if (force) {
      bodyEl.replaceChildren();
      shown = new Map();
    } else if (first === drawn.first && last === drawn.last) {
      // Nothing new in view; a page of only collapsed children adds no
      // row: go on loading while the end is in view.
      if (!state.done && last >= n - OVERSCAN) loadMore();
      return;
    }
    drawn = { first, last };
    for (const [i, el] of shown) if (i < first || i >= last) { el.remove(); shown.delete(i); }
    const tpl = gridTemplate();
    const cs = columns();
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      if (shown.has(i)) continue;
      const row = makeRow(i, tpl, cs);
      shown.set(i, row);
      frag.append(row);
    }
    bodyEl.append(frag);
    if (!state.done && last >= n - OVERSCAN) loadMore();
  }

  function drawFoot() {
    const n = state.runs.length;
    let t = state.filter ? `${n}${state.done ? '' : '+'} matching runs loaded` :
      `${n} of ${state.total ?? (state.done ? n : `${n}+`)} runs loaded`;
    if (state.loading) t += ' · loading…';
    if (state.selected.size) t += ` · ${state.selected.size} selected`;
    foot.textContent = t;
  }

  function updateCompare() {
    compareBtn.disabled = state.selected.size < 2;
    compareBtn.textContent = state.selected.size >= 2 ? `Compare ${state.selected.size} runs` : 'Compare (select 2 or more)';
    drawFoot();
  }

  function drawColsMenu() {
    const ch = state.chosen || { params: [], metrics: [] };
    const group = (title, keys, list) => {
      const sorted = [...keys].sort();
      return [h('h3', { text: title }), sorted.length ? sorted.map((k) => {
        const box = h('input', { type: 'checkbox', checked: list.includes(k) });
        box.addEventListener('change', () => {
          const i = list.indexOf(k);
          if (box.checked && i < 0) list.push(k);
          if (!box.checked && i >= 0) list.splice(i, 1);
          state.chosen = ch;
          localSet(colKey, ch);
          drawHead(); drawRows(true);
        });
        return h('div', {}, h('label', { class: 'check' }, box, h('span', { class: 'mono', text: k })));
      }) : h('p', { class: 'muted', text: 'none in the loaded runs' })];
    };
    colsMenu.replaceChildren(...group('Params', state.paramKeys, ch.params).flat(), ...group('Metrics', state.metricKeys, ch.metrics).flat());
  }

  function orderBy() {
    const c = columns().find((x) => x.id === state.sort) || BASE[2];
    if (!c.order) return ['attributes.start_time DESC'];
    const first = `${c.order} ${state.dir.toUpperCase()}`;
    return c.id === 'start' ? [first] : [first, 'attributes.start_time DESC'];
  }

  function prepare(r) {
    r.data = r.data || {};
    r._params = kv(r.data.params);
    r._tags = kv(r.data.tags);
    r._metrics = kv(r.data.metrics);
    for (const k of r._params.keys()) state.paramKeys.add(k);
    for (const k of r._metrics.keys()) state.metricKeys.add(k);
    return r;
  }

  function pageBody(first) {
    return {
      experiment_ids: [expId], filter: state.filter || undefined,
      max_results: first ? FIRST_PAGE : PAGE, order_by: orderBy(), page_token: state.token || undefined,
    };
  }

  async function fetchPage(gen) {
    const first = state.runs.length === 0 && !state.token;
    const body = pageBody(first);
    const p = prefetch && prefetch.body === JSON.stringify(body) ? prefetch.promise
      : post(`${MLF}runs/search`, body, { signal: ctx.signal });
    prefetch = null;
    const res = await p;
    if (gen !== state.gen) return;
    const before = state.paramKeys.size + state.metricKeys.size;
    const fresh = [];
    for (const r of res.runs || []) {
      if (state.ids.has(r.info.run_id)) continue; // a parent fetched ahead of its page
      state.ids.add(r.info.run_id);
      fresh.push(prepare(r));
      state.runs.push(r);
    }
    state.token = res.next_page_token || null;
    state.done = !state.token;
    if (!state.filter) await pullParents(fresh, gen);
    if (!state.chosen && (state.paramKeys.size || state.metricKeys.size)) {
      state.chosen = { params: [...state.paramKeys].sort().slice(0, 4), metrics: [...state.metricKeys].filter((k) => !k.startsWith('mltrack.')).sort().slice(0, 4) };
      drawHead();
    }
    if (state.paramKeys.size + state.metricKeys.size !== before) drawColsMenu();
  }

  // Without a filter, the parent of a child on this page that is not loaded
  // yet (a sweep's parent starts before its trials: with the newest first it
  // is on the last page) is fetched ahead of its page and put just before
  // its first loaded child, so that the children are nested from the start.
  // With a filter they are not: a parent the filter leaves out is not shown.
  async function pullParents(fresh, gen) {
    for (let round = 0; round < 4 && fresh.length; round++) {
      const missing = [...new Set(fresh.map((r) => r._tags.get('mlflow.parentRunId'))
        .filter((p) => p && !state.ids.has(p) && !state.unfound.has(p)))];
      fresh = [];
      for (let i = 0; i < missing.length; i += 100) {
        const chunk = missing.slice(i, i + 100);
        let res;
        try {
          res = await post(`${MLF}runs/search`, { experiment_ids: [expId], max_results: 100,
            filter: `attributes.run_id IN (${chunk.map(quote).join(', ')})` }, { signal: ctx.signal });
        } catch (e) {
          if (e.name === 'AbortError') throw e;
          chunk.forEach((id) => state.unfound.add(id)); // its children stay at the top level
          continue;
        }
        if (gen !== state.gen) return;
        const got = new Map((res.runs || []).map((r) => [r.info.run_id, r]));
        for (const id of chunk) {
          const p = got.get(id);
          if (!p || state.ids.has(id)) { state.unfound.add(id); continue; }
          state.ids.add(id);
          prepare(p);
          const at = state.runs.findIndex((r) => r._tags.get('mlflow.parentRunId') === id);
          state.runs.splice(at < 0 ? state.runs.length : at, 0, p);
          fresh.push(p);
        }
      }
    }
  }

  function loadMore() {
    if (state.loading || state.done) return state.loading;
    const gen = state.gen;
    state.loading = fetchPage(gen).catch((e) => {
      if (e.name !== 'AbortError' && gen === state.gen) { state.done = true; filterErr.replaceChildren(errorBox(e, 'Loading more runs failed')); }
    }).finally(() => {
      if (gen !== state.gen) return;
      state.loading = null;
      const resort = localSort();
      if (resort) sortLocally();
      const appended = nest();
      drawRows(!!resort || !appended); drawFoot();
    });
    drawFoot();
    return state.loading;
  }

  const localSort = () => { const c = columns().find((x) => x.id === state.sort); return c && !c.order && c.local; };

  function sortLocally() {
    const c = columns().find((x) => x.id === state.sort);
    const s = state.dir === 'asc' ? 1 : -1;
    state.runs.sort((a, b) => (c.local(a) - c.local(b)) * s);
  }

  async function reload() {
    state.gen++;
    state.runs = []; state.rows = []; state.token = null; state.done = false; state.loading = null;
    state.ids = new Set(); state.unfound = new Set();
    const q = new URLSearchParams();
    if (state.filter) q.set('filter', state.filter);
    if (state.sort !== 'start' || state.dir !== 'desc') { q.set('sort', state.sort); q.set('dir', state.dir); }
    history.replaceState(null, '', location.pathname + (q.toString() ? `?${q}` : ''));
    drawHead();
    const gen = state.gen;
    const first = (async () => {
      await fetchPage(gen);
      // Duration cannot be sorted by the server: load every page first.
      while (localSort() && !state.done && gen === state.gen) await fetchPage(gen);
    })();
    state.loading = first; // no page is fetched twice while this one runs
    try {
      await first;
      if (gen !== state.gen) return;
      state.loading = null;
      if (localSort()) sortLocally();
      nest();
      filterErr.replaceChildren();
    } catch (e) {
      if (e.name === 'AbortError' || gen !== state.gen) return;
      state.loading = null;
      state.done = true;
      filterErr.replaceChildren(errorBox(e, state.filter ? 'This filter cannot be used' : 'Runs could not be loaded'));
    }
    scroller.scrollTop = 0;
    if (!state.runs.length && !filterErr.firstChild) {
      holder.replaceChildren(state.filter
        ? emptyState('No run matches this filter.')
        : emptyState(h('p', { text: 'No runs yet.' }), h('p', {}, 'Try ', h('code', { text: `mltrack run -e ${exp.name.includes(' ') ? JSON.stringify(exp.name) : exp.name} -- ./train` }), ' to record one.')));
    } else {
      holder.replaceChildren(table);
    }
    drawHead(); drawRows(true); drawFoot(); updateCompare();
    table.dataset.ready = String(state.gen);
    requestAnimationFrame(() => performance.mark('mltrack:runs-drawn'));
  }

  function applyFilter() {
    state.filter = filterBox.value.trim();
    reload();
  }

  let raf = 0;
  const onScroll = () => { if (!raf) raf = requestAnimationFrame(() => { raf = 0; drawRows(false); }); };
  scroller.addEventListener('scroll', onScroll, { passive: true });
  const ro = new ResizeObserver(() => drawRows(false));
  ro.observe(scroller);
  drawColsMenu();
  await reload();
  return () => { ro.disconnect(); cancelAnimationFrame(raf); };
}
