// "/": every experiment with its run counts and last activity; search by name.
import { h, clear, fmtAgo, fmtTime, emptyState } from '../util.js';
import { get, post, MLF, EXT, errorBox } from '../api.js';

export async function render(main, ctx) {
  document.title = 'Experiments · mltrack';
  const search = h('input', { type: 'search', placeholder: 'Search experiments by name', 'aria-label': 'Search experiments by name', class: 'filter' });
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading experiments…' }));
  main.append(h('div', { class: 'head' }, h('h1', { text: 'Experiments' })),
    h('div', { class: 'toolbar' }, search), body);

  let exps = [];
  let token;
  do {
    const r = await post(`${MLF}experiments/search`, { max_results: 1000, page_token: token, order_by: ['last_update_time DESC'] }, { signal: ctx.signal });
    exps = exps.concat(r.experiments || []);
    token = r.next_page_token;
  } while (token && exps.length < 10000);

  const summary = new Map();
  for (let i = 0; i < exps.length; i += 1000) {
    const ids = exps.slice(i, i + 1000).map((e) => e.experiment_id);
    try {
      const s = await get(`${EXT}experiments/summary`, { experiment_ids: ids }, { signal: ctx.signal });
      for (const e of s.experiments || []) summary.set(e.experiment_id, e);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      body.before(errorBox(e, 'Run counts are not available'));
      break;
    }
  }
  const lastOf = (e) => Math.max(Number(e.last_update_time || 0), summary.get(e.experiment_id)?.last_activity || 0);
  exps.sort((a, b) => lastOf(b) - lastOf(a));

  const draw = () => {
    clear(body);
    if (!exps.length) {
      body.append(emptyState(h('p', { text: 'No experiments yet.' }),
        h('p', {}, 'Try ', h('code', { text: 'mltrack run -e demo -- ./train' }), ' to record your first run.')));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const shown = exps.filter((e) => !q || e.name.toLowerCase().includes(q));
    if (!shown.length) {
      body.append(emptyState(`No experiment name contains “${search.value.trim()}”.`));
      return;
    }
    body.append(h('table', { class: 'grid', 'data-testid': 'experiments' },
      h('thead', {}, h('tr', {},
        h('th', { text: 'Name' }), h('th', { class: 'num', text: 'ID' }), h('th', { class: 'num', text: 'Runs' }),
        h('th', { class: 'num', text: 'Running' }), h('th', { text: 'Last activity' }), h('th', { text: 'Created' }))),
      h('tbody', {}, shown.map((e) => {
        const s = summary.get(e.experiment_id) || {};
        const last = lastOf(e);
        return h('tr', { 'data-experiment-id': e.experiment_id },
          h('td', {}, h('a', { href: `/experiments/${encodeURIComponent(e.experiment_id)}`, text: e.name })),
          h('td', { class: 'num', text: e.experiment_id }),
          h('td', { class: 'num runs-count', text: s.run_count ?? '' }),
          h('td', { class: 'num', text: s.running_count ? String(s.running_count) : '' }),
          h('td', { title: fmtTime(last), text: fmtAgo(last) }),
          h('td', { text: fmtTime(e.creation_time) }));
      }))));
  };
  search.addEventListener('input', draw);
  draw();
  search.focus();
}
