// The server's HTTP API, and its errors in words.
import { h } from './util.js';

export class ApiError extends Error {
  constructor(message, status, code, body, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

// The dashboard session's CSRF token (auth.js sets it from the login's answer
// or whoami).  In memory only: never in localStorage or a cookie, so no other
// page and no script of another origin can read it.
let csrfToken = null;
let onUnauthenticated = null;

export function setCsrfToken(token) { csrfToken = token || null; }
// fn() is called when the server answers 401: the session ended (app.js
// shows the login page).
export function setUnauthenticatedHandler(fn) { onUnauthenticated = fn; }

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

// The dashboard's one fetch: every request to mltrackd goes through here.  A
// request that may change something carries the session's CSRF token; a 401
// (no session, or it expired) sends the user to the login page unless the
// caller handles it itself ({ login: true }: the login form, whoami).
export async function apiFetch(url, { login = false, ...init } = {}) {
  const method = (init.method || 'GET').toUpperCase();
  const headers = new Headers(init.headers || {});
  if (csrfToken && !SAFE_METHODS.has(method)) headers.set('X-CSRF-Token', csrfToken);
  const res = await fetch(url, { ...init, method, headers, credentials: 'same-origin' });
  if (res.status === 401 && !login && onUnauthenticated) onUnauthenticated();
  return res;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) q.append(k, x);
    else q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export async function request(method, path, { params, body, signal, login } = {}) {
  let res;
  try {
    res = await apiFetch(path + query(params), {
      method,
      signal,
      login,
      headers: body ? { 'Content-Type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`Cannot reach the mltrack server (${e.message}). Is mltrackd running?`, 0, 'NETWORK');
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { json = null; }
  if (!res.ok) {
    const retry = Number(res.headers.get('Retry-After')) || undefined;
    if (json && json.message)
      throw new ApiError(json.message, res.status, json.error_code, json, retry);
    throw new ApiError(`The server answered ${res.status} ${res.statusText}`, res.status, 'HTTP', null, retry);
  }
  if (json === null) throw new ApiError('The server sent an answer that is not JSON', res.status, 'HTTP');
  return json;
}

export const get = (path, params, opts) => request('GET', path, { ...opts, params });
export const post = (path, body, opts) => request('POST', path, { ...opts, body });
export const del = (path, body, opts) => request('DELETE', path, { ...opts, body });

export const MLF = '/api/2.0/mlflow/';
export const EXT = '/api/2.0/mltrack/';

const PROXY = 'mlflow-artifacts:/';
const encPath = (p) => p.split('/').filter(Boolean).map(encodeURIComponent).join('/');

// The path under the artifact proxy of an mlflow-artifacts:/ URI (a run's or
// a logged model's artifact_uri), or null for any other kind of URI.
export function proxyRoot(uri) {
  return uri && uri.startsWith(PROXY) ? uri.slice(PROXY.length).replace(/^\/+/, '') : null;
}

// The proxy URL of a file under such a root.
export function proxyUrl(root, path) {
  return `/api/2.0/mlflow-artifacts/artifacts/${encPath(root)}/${encPath(path)}`;
}

// The proxy URL of a run's artifact: mlflow-artifacts:/<exp>/<run>/artifacts + /path.
export function artifactUrl(run, path) {
  const root = proxyRoot(run.info.artifact_uri || '') ?? `${run.info.experiment_id}/${run.info.run_id}/artifacts`;
  return proxyUrl(root, path);
}

// A series downsampled by the server to about one point per pixel.  The
// width is rounded up to a multiple of 200 so that charts of nearly the same
// width share the server's cached sample.
export function sampled(runId, key, pixels, opts) {
  const maxPoints = Math.max(200, Math.min(10000, Math.ceil(pixels / 200) * 200));
  return get(`${EXT}metrics/get-history-sampled`, { run_id: runId, metric_key: key, max_points: maxPoints }, opts)
    .then((r) => r.metrics || []);
}

// An error shown in words, where the user is looking.
export function errorBox(err, what) {
  if (err && err.name === 'AbortError') return document.createTextNode('');
  const msg = err instanceof ApiError ? err.message : String(err && err.message ? err.message : err);
  return h('div', { class: 'error', role: 'alert' }, what ? `${what}: ${msg}` : msg);
}
