// "/models": registered models with their latest versions per stage.
import { h, clear, fmtTime, fmtAgo, emptyState } from '../util.js';
import { get, MLF } from '../api.js';

export async function render(main, ctx) {
  document.title = 'Models · mltrack';
  const search = h('input', { type: 'search', class: 'filter', placeholder: 'Search models by name', 'aria-label': 'Search models by name' });
  const body = h('div', {}, h('p', { class: 'muted', text: 'Loading models…' }));
  main.append(h('div', { class: 'head' }, h('h1', { text: 'Models' })), h('div', { class: 'toolbar' }, search), body);

  let models = [];
  let token;
  do {
    const r = await get(`${MLF}registered-models/search`, { max_results: 1000, page_token: token }, { signal: ctx.signal });
    models = models.concat(r.registered_models || []);
    token = r.next_page_token;
  } while (token && models.length < 10000);
  models.sort((a, b) => Number(b.last_updated_timestamp || 0) - Number(a.last_updated_timestamp || 0));

  const draw = () => {
    clear(body);
    if (!models.length) {
      body.append(emptyState(h('p', { text: 'No registered models yet.' }),
        h('p', {}, 'Register one from a run: ', h('code', { text: 'mltrack model register NAME RUN_ID model/' }), ' (see docs/registry.md).')));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const shown = models.filter((m) => !q || m.name.toLowerCase().includes(q));
    if (!shown.length) { body.append(emptyState(`No model name contains “${search.value.trim()}”.`)); return; }
    body.append(h('table', { class: 'grid', 'data-testid': 'models' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Name' }), h('th', { text: 'Latest versions' }), h('th', { text: 'Aliases' }),
        h('th', { text: 'Description' }), h('th', { text: 'Updated' }))),
      h('tbody', {}, shown.map((m) => h('tr', { 'data-model': m.name },
        h('td', {}, h('a', { href: `/models/${encodeURIComponent(m.name)}`, text: m.name })),
        h('td', {}, (m.latest_versions || []).map((v) => [h('span', { class: `badge stage-${v.current_stage || 'None'}`, text: `v${v.version} ${v.current_stage || 'None'}` }), ' '])),
        h('td', {}, (m.aliases || []).map((a) => [h('span', { class: 'badge alias', text: `@${a.alias} → v${a.version}` }), ' '])),
        h('td', { text: m.description || '' }),
        h('td', { title: fmtTime(m.last_updated_timestamp), text: fmtAgo(m.last_updated_timestamp) }))))));
  };
  search.addEventListener('input', draw);
  draw();
}
