// The dashboard's router: real paths (DESIGN §9), one page module each.
import { h, clear } from './util.js';
import { errorBox, ApiError, setUnauthenticatedHandler } from './api.js';
import { auth, whoami, logout, sessionLost, setLogoutHandler, forgetPermissions } from './auth.js';
// Pages are loaded when first visited: the runs table does not wait for the
// chart library.
const pages = {
  experiments: () => import('./pages/experiments.js'),
  experiment: () => import('./pages/experiment.js'),
  run: () => import('./pages/run.js'),
  compare: () => import('./pages/compare.js'),
  models: () => import('./pages/models.js'),
  model: () => import('./pages/model.js'),
  login: () => import('./pages/login.js'),
};

const routes = [
  [/^\/$/, 'experiments', 'experiments'],
  [/^\/experiments\/([^/]+)$/, 'experiment', 'experiments'],
  [/^\/runs\/([^/]+)$/, 'run', 'experiments'],
  [/^\/compare$/, 'compare', 'experiments'],
  [/^\/models\/?$/, 'models', 'models'],
  [/^\/models\/(.+)$/, 'model', 'models'],
  [/^\/login$/, 'login', ''],
];

let current = null; // { cleanup, controller }

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

// The login page, then back to `next` (this page by default).
function toLogin({ expired = false, next = location.pathname + location.search + location.hash } = {}) {
  const q = new URLSearchParams();
  if (next && next !== '/') q.set('next', next);
  if (expired) q.set('expired', '1');
  const s = q.toString();
  navigate(`/login${s ? `?${s}` : ''}`, { replace: true });
}

// Any API answer 401 while the dashboard thought itself logged in (or
// before it knew better): the session is gone; log in again.
setUnauthenticatedHandler(() => {
  if (location.pathname === '/login') return;
  const had = !!auth.user;
  sessionLost();
  toLogin({ expired: had });
});

setLogoutHandler(async () => {
  try { await logout(); } catch (e) { console.warn('logout:', e.message); }
  toLogin({ next: '/' });
});

async function route() {
  const main = document.getElementById('main');
  if (current) {
    current.controller.abort();
    try { current.cleanup && current.cleanup(); } catch (e) { console.warn(e); }
    current = null;
  }
  clear(main);
  forgetPermissions();
  const path = location.pathname;
  let page = null, args = [], section = '';
  for (const [re, mod, sec] of routes) {
    const m = path.match(re);
    if (m) { page = mod; args = m.slice(1).map(decodeURIComponent); section = sec; break; }
  }
  for (const a of document.querySelectorAll('[data-nav]'))
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  // Users exist and this browser has no session: the login page first.
  if (auth.enabled && !auth.user && page && page !== 'login') {
    toLogin();
    return;
  }
  if (!page) {
    main.append(h('h1', { text: 'Not found' }),
      h('p', {}, 'There is no dashboard page at ', h('code', { text: path }), '. ', h('a', { href: '/' }, 'See the experiments.')));
    return;
  }
  const controller = new AbortController();
  const ctx = { signal: controller.signal, navigate, params: new URLSearchParams(location.search) };
  current = { controller, cleanup: null };
  const mine = current;
  try {
    const mod = await pages[page]();
    if (mine !== current) return;
    const cleanup = await mod.render(main, ctx, ...args);
    if (mine === current) mine.cleanup = cleanup;
    else if (cleanup) cleanup();
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (!(e instanceof ApiError)) console.error(e);
    if (mine === current) main.append(errorBox(e, 'This page could not be shown'));
  }
}

// Same-origin links move through history without reloading.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);
// Who we are first: whether to show the login page and the user menu.
whoami().finally(route);
