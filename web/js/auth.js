// Who is using the dashboard.  While mltrackd has no user (auth_enabled
// false, the one-person default) nothing here shows: no login, no user menu.
// Once users exist the dashboard logs in with a session cookie (HttpOnly:
// scripts never see it) and keeps the session's CSRF token in memory only.
import { h, fill } from './util.js';
import { request, get, setCsrfToken, EXT } from './api.js';

export const auth = {
  known: false,     // whoami answered (or said 401)
  enabled: false,   // users exist: every request must authenticate
  user: null,       // { username, is_admin } once logged in
  method: 'none',   // 'session', or 'password'/'token' when the browser sent credentials itself
};

function set({ enabled, user = null, method = 'none', csrf = null }) {
  Object.assign(auth, { known: true, enabled, user, method });
  permissions.clear();
  setCsrfToken(csrf);
  renderUserMenu();
}

// Ask the server who we are: at start, and after a login or logout.
export async function whoami() {
  try {
    const r = await request('GET', `${EXT}auth/whoami`, { login: true });
    set({ enabled: !!r.auth_enabled, user: r.user || null, method: r.method, csrf: r.csrf_token });
  } catch (e) {
    if (e.status === 401) set({ enabled: true });
    else auth.known = false; // unreachable: the pages will say so
  }
  return auth;
}

// The login form's request; the cookie comes back in the answer's
// Set-Cookie, the CSRF token in its body.
export async function login(username, password) {
  const r = await request('POST', `${EXT}auth/session`, { body: { username, password }, login: true });
  set({ enabled: true, user: r.user, method: 'session', csrf: r.csrf_token });
  return r;
}

export async function logout() {
  try {
    await request('DELETE', `${EXT}auth/session`, { login: true });
  } finally {
    // Ended on the server, or already gone there: forgotten here too.
    set({ enabled: true });
  }
}

// The session ended under the page (expired, logged out elsewhere, the
// password changed): forget it.
export function sessionLost() {
  if (auth.method === 'session' || !auth.user) set({ enabled: true });
}

let onLogout = null;
export function setLogoutHandler(fn) { onLogout = fn; }

// The header's corner: who is logged in, and a logout button for a session.
function renderUserMenu() {
  let box = document.getElementById('user-menu');
  if (!box) {
    const top = document.querySelector('header.top');
    if (!top) return;
    box = h('div', { id: 'user-menu', class: 'user-menu' });
    top.append(box);
  }
  if (!auth.enabled || !auth.user) { fill(box); box.hidden = true; return; }
  box.hidden = false;
  fill(box,
    h('span', { class: 'muted' }, 'Signed in as '),
    h('b', { 'data-testid': 'username', text: auth.user.username }),
    auth.user.is_admin ? h('span', { class: 'badge', text: 'admin' }) : null,
    auth.method === 'session'
      ? h('button', { type: 'button', 'data-testid': 'logout', text: 'Log out', onclick: () => onLogout && onLogout() })
      : null);
}

// ---- what the user may do ----

const permissions = new Map(); // "experiment_id=1" or "name=m" -> Promise of a level
const WRITES = new Set(['EDIT', 'MANAGE']);

// The user's permission on an experiment ({ experiment_id }) or a registered
// model ({ name }): READ, EDIT, MANAGE or NO_PERMISSIONS, from
// GET /api/2.0/mltrack/auth/permission (asked once per page view and login).
// With authentication off everyone may do everything, and nobody is asked.
export function permission(what) {
  if (!auth.enabled) return Promise.resolve('MANAGE');
  const key = new URLSearchParams(what).toString();
  if (!permissions.has(key)) {
    const p = get(`${EXT}auth/permission`, what).then((r) => r.permission);
    p.catch(() => permissions.delete(key));
    permissions.set(key, p);
  }
  return permissions.get(key);
}

// Whether a level lets the user change things.  The dashboard has no control
// that changes data today (it reads; changes go through mltrack, MLflow's
// client or the API): one added later shows only when this holds.
export const mayWrite = (level) => WRITES.has(level);

// Permissions change (an admin grants one): each page view asks afresh.
export function forgetPermissions() { permissions.clear(); }

// A badge for the page's heading when the user may only read what the page
// shows; nothing with authentication off or with the right to change it.
export function accessBadge(what) {
  const badge = h('span', { class: 'badge access', 'data-testid': 'access', hidden: true });
  if (!auth.enabled) return null;
  permission(what).then((level) => {
    if (mayWrite(level)) return;
    badge.textContent = level === 'READ' ? 'read only' : 'no access';
    badge.title = level === 'READ'
      ? 'You may read this; changing it needs the EDIT permission (ask an admin or its owner).'
      : 'You have no permission here.';
    badge.hidden = false;
  }).catch(() => { /* the page says what failed */ });
  return badge;
}
