// Small DOM and formatting helpers shared by every page.

// h('a', {href: '/x', class: 'y', onclick: fn}, 'text', child...): an element.
// Never sets a style attribute (CSP); use the `style` object form instead.
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') for (const [p, pv] of Object.entries(v)) el.style.setProperty(p, pv);
    else if (k === 'text') el.textContent = v;
    else if (k === 'checked' || k === 'value' || k === 'selected' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

// The DOM's own append() and replaceChildren() write null as the text
// "null": a child that may be absent goes through these, which skip
// null, undefined and false as h() does.
export function add(el, ...children) {
  append(el, children);
  return el;
}

export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtTime(ms) {
  if (ms === undefined || ms === null || ms === '' || !Number(ms)) return '';
  const d = new Date(Number(ms));
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtAgo(ms) {
  if (!ms || !Number(ms)) return '';
  const s = (Date.now() - Number(ms)) / 1000;
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null || !isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const hr = Math.floor(m / 60);
  return `${hr} h ${m - hr * 60} min`;
}

export function runDuration(info) {
  const start = Number(info.start_time || 0);
  if (!start) return undefined;
  const end = Number(info.end_time || 0) || (info.status === 'RUNNING' ? Date.now() : 0);
  return end ? end - start : undefined;
}

export function fmtNum(v) {
  if (v === undefined || v === null || v === '') return '';
  if (typeof v === 'string') return v; // "NaN"
  if (!isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return '';
  n = Number(n);
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// Key/value arrays of MLflow ({key, value}) as a Map.
export function kv(list) {
  const m = new Map();
  for (const e of list || []) m.set(e.key, e.value);
  return m;
}

export function statusBadge(status) {
  return h('span', { class: `badge st-${status}`, text: status ? status.toLowerCase() : '' });
}

export function emptyState(...children) {
  return h('div', { class: 'empty' }, ...children);
}

export function section(title, ...children) {
  return h('section', {}, h('h2', { text: title }), ...children);
}

// A palette that reads on light and dark backgrounds.
export const COLORS = ['#2f7ed8', '#e8590c', '#2b9348', '#c2255c', '#7048e8', '#0c8599',
  '#b08900', '#5c7cfa', '#d6336c', '#37b24d', '#f76707', '#1098ad'];

export function color(i) { return COLORS[i % COLORS.length]; }

export function shortSha(s) { return s ? String(s).slice(0, 8) : ''; }

export function localGet(key, dflt) {
  try {
    const v = localStorage.getItem(key);
    return v ? JSON.parse(v) : dflt;
  } catch { return dflt; }
}

export function localSet(key, v) {
  try { localStorage.setItem(key, JSON.stringify(v)); } catch { /* private mode */ }
}
