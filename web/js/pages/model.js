// "/models/<name>": monitoring of the deployed version (monitor.js), every
// version with its stage and alias badges, bundle digest and provenance, and
// the stage transition history with gate reports.
import { h, add, fmtTime, fmtBytes, shortSha, kv, emptyState, section } from '../util.js';
import { get, MLF, EXT, errorBox } from '../api.js';
import { accessBadge } from '../auth.js';
import { monitorSection } from './monitor.js';

export async function render(main, ctx, name) {
  document.title = `${name} · models · mltrack`;
  const model = (await get(`${MLF}registered-models/get`, { name }, { signal: ctx.signal })).registered_model;
  let versions = [];
  let token;
  do {
    const r = await get(`${MLF}model-versions/search`, { filter: `name='${name.replace(/'/g, "\\'")}'`, max_results: 1000, page_token: token }, { signal: ctx.signal });
    versions = versions.concat(r.model_versions || []);
    token = r.next_page_token;
  } while (token && versions.length < 10000);
  versions.sort((a, b) => Number(b.version) - Number(a.version));
  const [details, trail, gates] = await Promise.all([
    Promise.all(versions.map((v) => get(`${EXT}model-versions/get`, { name, version: v.version }, { signal: ctx.signal }).catch((e) => ({ error: e })))),
    get(`${EXT}model-versions/transitions`, { name }, { signal: ctx.signal }).catch((e) => ({ error: e })),
    get(`${EXT}gates/get`, { name }, { signal: ctx.signal }).catch(() => ({})),
  ]);

  const aliases = new Map();
  for (const a of model.aliases || []) aliases.set(a.version, [...(aliases.get(a.version) || []), a.alias]);
  add(main,
    h('div', { class: 'crumbs' }, h('a', { href: '/models', text: 'Models' }), ' / '),
    h('div', { class: 'head' }, h('h1', { text: model.name }), accessBadge({ name: model.name })),
    h('div', { class: 'facts' },
      model.creation_timestamp ? h('span', {}, 'created ', h('b', { text: fmtTime(model.creation_timestamp) })) : null,
      model.last_updated_timestamp ? h('span', {}, 'updated ', h('b', { text: fmtTime(model.last_updated_timestamp) })) : null,
      h('span', {}, h('b', { text: String(versions.length) }), ' versions')),
    model.description ? h('p', { text: model.description }) : null);

  if ((gates.gates || []).length) {
    main.append(section('Gates', h('table', { class: 'grid', 'data-testid': 'gates' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Into stage or alias' }), h('th', { text: 'Rules' }))),
      h('tbody', {}, gates.gates.map((g) => h('tr', {}, h('td', {}, g.stage
        ? h('span', { class: `badge stage-${g.stage}`, text: g.stage })
        : h('span', { class: 'badge', text: `@${g.alias}` })),
        h('td', {}, (g.rules || []).map((r) => h('div', { class: 'mono', text: r })))))))));
  }

  main.append(monitorSection(model, versions, details, ctx, report));

  const vbox = h('div', { 'data-testid': 'versions' });
  if (!versions.length) vbox.append(emptyState('No versions yet. ', h('code', { text: `mltrack model register ${name} RUN_ID model/` }), ' adds one.'));
  versions.forEach((v, i) => {
    const d = details[i] || {};
    const bundle = d.bundle;
    const tags = kv(v.tags);
    vbox.append(h('div', { class: 'version', 'data-version': v.version },
      h('h3', {}, `Version ${v.version}`,
        h('span', { class: `badge stage-${v.current_stage || 'None'}`, text: v.current_stage || 'None' }),
        (aliases.get(v.version) || v.aliases || []).map((a) => h('span', { class: 'badge alias', text: `@${a}` }))),
      h('table', { class: 'grid kv' }, h('tbody', {},
        row('Run', v.run_id ? h('a', { href: `/runs/${encodeURIComponent(v.run_id)}`, class: 'mono', text: v.run_id }) : null),
        row('Source', v.source ? h('span', { class: 'mono', text: v.source }) : null),
        row('Bundle', bundle ? h('span', {}, h('span', { class: 'mono', title: bundle.sha256, 'data-testid': 'bundle-digest', text: `sha256:${bundle.sha256}` }),
          ` · ${fmtBytes(bundle.size)}`, bundle.manifest && bundle.manifest.files ? ` · ${bundle.manifest.files.length} file${bundle.manifest.files.length === 1 ? '' : 's'}` : '') : null),
        row('Provenance', provenance(bundle, tags)),
        row('Created', fmtTime(v.creation_timestamp)),
        row('Status', v.status),
        row('Description', v.description))),
      d.error ? errorBox(d.error, 'Bundle details') : null));
  });
  main.append(section('Versions', vbox));

  const tbox = h('div', {});
  if (trail.error) tbox.append(errorBox(trail.error, 'The transition history cannot be read'));
  else if (!(trail.transitions || []).length) tbox.append(emptyState('No stage transitions yet. ', h('code', { text: `mltrack model promote ${name} VERSION Staging` }), ' makes one.'));
  else {
    tbox.append(h('table', { class: 'grid', 'data-testid': 'transitions' },
      h('thead', {}, h('tr', {}, ['Time', 'Version', 'From', 'To', 'Outcome', 'Actor', 'Gate report'].map((t) => h('th', { text: t })))),
      h('tbody', {}, [...trail.transitions].reverse().map((t) => h('tr', { 'data-outcome': t.outcome },
        h('td', { text: fmtTime(t.timestamp) }), h('td', { text: t.version ? `v${t.version}` : '' }),
        h('td', { text: t.from_stage }), h('td', { text: t.to_stage }),
        h('td', {}, h('span', { class: `badge out-${t.outcome}`, text: t.outcome }), t.reason ? h('div', { class: 'muted', text: t.reason }) : null),
        h('td', { text: t.actor || '' }),
        h('td', {}, report(t.report)))))));
  }
  main.append(section('Transition history', tbox));
}

// Git provenance from the bundle's manifest, else from the version's tags.
function provenance(bundle, tags) {
  const g = bundle && bundle.manifest && bundle.manifest.provenance ? bundle.manifest.provenance.git || {} : {};
  const commit = g.commit || tags.get('mlflow.source.git.commit');
  if (!commit) return null;
  const dirty = g.dirty !== undefined ? g.dirty : undefined;
  return h('span', { 'data-testid': 'version-provenance' },
    h('span', { class: 'mono', title: commit, text: shortSha(commit) }),
    g.branch ? ` on ${g.branch}` : '', g.repo_url ? ` · ${g.repo_url}` : '',
    dirty === true ? ' · uncommitted changes' : dirty === false ? ' · clean work tree' : '');
}

function row(k, v) {
  if (v === undefined || v === null || v === '') return null;
  return h('tr', {}, h('td', { text: k }), h('td', {}, v));
}

function report(r) {
  if (!r) return h('span', { class: 'muted', text: 'no gate' });
  const s = r.summary || {};
  return h('details', { class: 'gate-report', open: !r.passed },
    h('summary', {}, r.passed ? 'passed' : 'failed', s.total != null && s.passed != null ? ` · ${s.passed}/${s.total} rules` : ''),
    h('ul', { class: 'report' }, (r.rules || []).map((x) => h('li', { class: x.status || (x.passed ? 'pass' : 'fail') },
      h('span', { class: 'mono', text: x.rule }), ` — ${x.status || (x.passed ? 'pass' : 'fail')}`,
      figures(x), x.message ? h('div', { class: 'muted', text: x.message }) : null))));
}

// "(actual 0.97, required >= 0.98)"; a value the rule could not find (null,
// as for a missing metric) is left out: the message says why.
function figures(x) {
  const parts = [];
  if (x.actual != null) parts.push(`actual ${x.actual}`);
  if (x.required != null) parts.push(`required ${x.required}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}
