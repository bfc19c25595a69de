// The dashboard with users defined (issue 13): the login page, the session
// cookie, CSRF, logout, session expiry and the rate limit's message, in real
// headless Chromium.  tests/run-e2e.sh starts a second mltrackd for this
// (MLTRACK_E2E_AUTH_URL) on its own database, with the users admin, reader
// and locked and passwords drawn per run, and --cors-origin granting
// http://127.0.0.1:MLTRACK_E2E_ATTACK_PORT, where the attacker page of the
// CSRF test listens: that origin passes the Origin check, so only the
// session's CSRF token stands between it and the user's session.  The first
// mltrackd (MLTRACK_E2E_URL) has no user: there the dashboard must show no
// login and no user menu.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './browser.mjs';
import { client, runCommand } from './seed.mjs';

const BASE = process.env.MLTRACK_E2E_AUTH_URL;
const OFF = process.env.MLTRACK_E2E_URL;
const SCREENS = process.env.MLTRACK_E2E_SCREENS || 'build/e2e-screens';
const ATTACK_PORT = Number(process.env.MLTRACK_E2E_ATTACK_PORT || 0);
const PW = {
  admin: process.env.MLTRACK_E2E_ADMIN_PASSWORD,
  reader: process.env.MLTRACK_E2E_READER_PASSWORD,
  locked: process.env.MLTRACK_E2E_LOCKED_PASSWORD,
};
const MLF = '/api/2.0/mlflow/';
const EXT = '/api/2.0/mltrack/';
const skip = BASE ? false : 'MLTRACK_E2E_AUTH_URL is not set (run tests/run-e2e.sh)';

const basic = (user) => `Basic ${Buffer.from(`${user}:${PW[user]}`).toString('base64')}`;
let browser, fx, api;
const attackers = [];
const problems = [];    // console errors nobody expected, page errors, CSP violations
const secrets = new Set(); // session ids and CSRF tokens seen: never in the server's log

function psql(sql) {
  return execFileSync(process.env.MLTRACK_E2E_PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
    '-d', process.env.MLTRACK_E2E_AUTH_PGCONN, '-c', sql], { encoding: 'utf8' }).trim();
}
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

before(async () => {
  if (skip) return;
  mkdirSync(SCREENS, { recursive: true });
  api = client(BASE, { headers: { Authorization: basic('admin') } });
  const { experiment_id: exp } = await api.post(`${MLF}experiments/create`, { name: `auth-exp-${Date.now()}` });
  const runs = [];
  for (const [name, lr] of [['first', 0.1], ['second', 0.01]]) {
    const { run } = await api.post(`${MLF}runs/create`, { experiment_id: exp, run_name: name, start_time: Date.now() - 60e3 });
    await api.post(`${MLF}runs/log-batch`, { run_id: run.info.run_id, params: [{ key: 'lr', value: String(lr) }],
      metrics: [{ key: 'loss', value: lr * 3, timestamp: Date.now(), step: 0 }] });
    await api.post(`${MLF}runs/update`, { run_id: run.info.run_id, status: 'FINISHED', end_time: Date.now() });
    runs.push(run.info.run_id);
  }
  const model = `auth-model-${Date.now()}`;
  await api.post(`${MLF}registered-models/create`, { name: model, description: 'orig' });
  await api.post(`${MLF}model-versions/create`, { name: model, source: 's3://bucket/model', run_id: runs[0] });
  // Version 2: a bundle with a reference profile (monitored), registered by
  // the admin with the CLI; its page shows the monitoring view, whose
  // webhook deliveries only an admin may read.
  const dir = mkdtempSync(join(tmpdir(), 'mltrack-e2e-auth-'));
  mkdirSync(join(dir, 'model'));
  writeFileSync(join(dir, 'model', 'weights.txt'), 'w\n');
  writeFileSync(join(dir, 'ref.csv'), 'age,plan\n30,basic\n41,pro\n52,basic\n');
  const reg = await runCommand(process.env.MLTRACK_CLI, ['-q', 'model', 'register', model, '--from', join(dir, 'model'), '--reference', join(dir, 'ref.csv')],
    { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, MLTRACK_TRACKING_URI: BASE, MLFLOW_TRACKING_USERNAME: 'admin', MLFLOW_TRACKING_PASSWORD: PW.admin } });
  assert.equal(reg.status, 0, reg.stderr);
  rmSync(dir, { recursive: true, force: true });
  // What the reader may not see at all (MLflow's permission API; the
  // default permission, READ, covers the rest).
  const { experiment_id: hidden } = await api.post(`${MLF}experiments/create`, { name: `auth-hidden-${Date.now()}` });
  await api.post(`${MLF}experiments/permissions/create`, { experiment_id: hidden, username: 'reader', permission: 'NO_PERMISSIONS' });
  fx = { exp, runs, model, hidden };
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP evil.test 127.0.0.1'],
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const a of attackers) a.close();
});

// A page with its console watched; `expect` lists the console errors it is
// meant to cause (Chromium logs every 4xx answer a page fetched), each once;
// allow(page, re) lets a page log re any number of times from then on.
const allowed = new WeakMap();
const allow = (page, re) => allowed.get(page).push(re);
async function open(context, url, { expect = [] } = {}) {
  const page = await context.newPage();
  const where = new URL(url).pathname;
  allowed.set(page, []);
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const i = expect.findIndex((re) => re.test(m.text()));
    if (i >= 0) expect.splice(i, 1);
    else if (!allowed.get(page).some((re) => re.test(m.text())))
      problems.push(`${where}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${where}: page error: ${e.message}`));
  await page.goto(url);
  return page;
}

// Expected console lines of a page that meets a 401, 403 or 429 on purpose.
const said = (status, n = 1) => Array.from({ length: n }, () => new RegExp(`status of ${status}`));

async function sessionCookie(context) {
  const c = (await context.cookies(BASE)).find((k) => k.name === 'mltrack_session');
  if (c && c.value) secrets.add(c.value);
  return c;
}

async function logIn(page, user, password = PW[user]) {
  await page.locator('[data-testid=login-form]').waitFor();
  await page.fill('#login-user', user);
  await page.fill('#login-pass', password);
  await page.click('[data-testid=login-form] button[type=submit]');
}

// A fresh browser (no cookie) logged in as `user`, on `path`.
async function loggedIn(user, path) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await open(context, BASE + path, { expect: said(401) });
  await page.waitForURL(/\/login/);
  await logIn(page, user);
  await page.waitForURL(BASE + path);
  await page.locator('[data-testid=username]').waitFor();
  const csrf = await page.evaluate(async () => (await (await fetch('/api/2.0/mltrack/auth/whoami')).json()).csrf_token);
  secrets.add(csrf);
  return { context, page, csrf, cookie: await sessionCookie(context) };
}

async function experimentExists(name) {
  const r = await fetch(`${BASE}${MLF}experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`,
    { headers: { Authorization: basic('admin') } });
  return r.status === 200;
}

test('authentication off (no user): no login page, no user menu', { skip: skip || !OFF }, async () => {
  const context = await browser.newContext();
  const asked = [];
  context.on('request', (r) => { if (/\/auth\/(permission|session)/.test(r.url())) asked.push(r.url()); });
  const page = await open(context, `${OFF}/`);
  await page.locator('main h1').filter({ hasText: 'Experiments' }).waitFor();
  await page.waitForFunction(() => !document.querySelector('main').textContent.includes('Loading'));
  assert.equal(await page.locator('[data-testid=username]').count(), 0);
  assert.equal(await page.locator('[data-testid=logout]').count(), 0);
  assert.ok(await page.locator('#user-menu').isHidden());
  const first = page.locator('main table a[href^="/experiments/"]').first();
  if (await first.count()) {
    await first.click();
    await page.locator('.runs-foot, .empty').first().waitFor();
    assert.equal(await page.locator('[data-testid=access]').count(), 0);
  }
  await page.goto(`${OFF}/login?next=/models`);
  await page.waitForURL(`${OFF}/models`);
  assert.deepEqual(await context.cookies(OFF), []);
  assert.deepEqual(asked, [], 'asked about sessions or permissions with authentication off');
  await context.close();
});

test('login: a page asks for it first; a wrong password says so; the right one lands on the page', { skip }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const target = `/experiments/${fx.exp}`;
  const posts = [];
  context.on('request', (r) => {
    if (r.method() !== 'GET' && new URL(r.url()).pathname.startsWith('/api/')) posts.push(r);
  });
  const page = await open(context, BASE + target, { expect: said(401, 2) });
  await page.waitForURL(`${BASE}/login?next=${encodeURIComponent(target)}`);
  assert.equal(await page.locator('main h1').textContent(), 'Log in to mltrack');
  assert.equal(await page.locator('[data-testid=username]').count(), 0, 'a user menu before the login');
  await page.screenshot({ path: `${SCREENS}/20-login.png` });

  await logIn(page, 'admin', 'not-the-password');
  const err = page.locator('[data-testid=login-error]');
  await err.waitFor();
  assert.equal(await err.textContent(), 'Wrong user name or password.');
  assert.equal(await page.inputValue('#login-pass'), '', 'the wrong password stays in the form');
  assert.equal(await sessionCookie(context), undefined);
  await page.screenshot({ path: `${SCREENS}/21-login-wrong.png` });

  await logIn(page, 'admin');
  await page.waitForURL(BASE + target);
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  assert.deepEqual((await page.locator('.runs-row [data-col=name]').allTextContents()).sort(), ['first', 'second']);
  assert.equal(await page.locator('[data-testid=username]').textContent(), 'admin');
  assert.equal(await page.locator('[data-testid=logout]').count(), 1);
  await page.screenshot({ path: `${SCREENS}/22-logged-in.png` });

  // The cookie: HttpOnly (no script reads it), SameSite=Strict, the whole site.
  const c = await sessionCookie(context);
  assert.ok(c, 'no session cookie');
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(c.path, '/');
  assert.equal(c.secure, false, 'Secure over plain HTTP: the browser would never send it back');
  assert.match(c.value, /^[A-Za-z0-9_-]{43}$/);
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /mltrack_session/);
  // The CSRF token is kept in memory only.
  const csrf = await page.evaluate(async () => (await (await fetch('/api/2.0/mltrack/auth/whoami')).json()).csrf_token);
  secrets.add(csrf);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!stored.includes(csrf), 'the CSRF token is in web storage');
  // The dashboard's POST reads (runs/search) carried it; the login did not need it.
  const changes = posts.filter((r) => !r.url().endsWith('/auth/session'));
  assert.ok(changes.length > 0, 'the runs page made no POST');
  for (const r of changes)
    assert.equal(r.headers()['x-csrf-token'], csrf, `${r.method()} ${r.url()} without the CSRF token`);
  // The row holds the id's hash, never the id.
  assert.equal(psql(`SELECT count(*) FROM sessions WHERE id_hash = '${sha256(c.value)}'`), '1');
  assert.equal(psql(`SELECT count(*) FROM sessions WHERE id_hash = '${c.value}' OR csrf_token = '${c.value}'`), '0');
  await context.close();
});

test('a same-origin request without the CSRF token is refused and writes nothing', { skip }, async () => {
  const { context, page, csrf } = await loggedIn('admin', '/');
  allow(page, /status of 403/); // the point
  const tag = `csrf-${Date.now()}`;
  const out = await page.evaluate(async ({ tag, csrf }) => {
    const post = async (name, headers) => {
      const r = await fetch('/api/2.0/mlflow/experiments/create', { method: 'POST',
        headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ name: `${tag}-${name}` }) });
      return [r.status, await r.text()];
    };
    return {
      none: await post('none', {}),
      wrong: await post('wrong', { 'X-CSRF-Token': 'x'.repeat(43) }),
      empty: await post('empty', { 'X-CSRF-Token': '' }),
      right: await post('right', { 'X-CSRF-Token': csrf }),
    };
  }, { tag, csrf });
  for (const k of ['none', 'wrong', 'empty']) {
    assert.equal(out[k][0], 403, `${k}: ${out[k]}`);
    assert.match(out[k][1], /PERMISSION_DENIED.*missing or wrong CSRF token/);
    assert.equal(await experimentExists(`${tag}-${k}`), false, `${k} was written`);
  }
  assert.equal(out.right[0], 200, `with the token: ${out.right}`);
  assert.equal(await experimentExists(`${tag}-right`), true);
  await context.close();
});

// The attacker's page: everything a page of another origin can try with the
// user's session cookie in the browser, each reporting what the browser saw.
function attackPage(target, tag) {
  return `<!doctype html><meta charset="utf-8"><title>not mltrack</title><body><script>
const T = ${JSON.stringify(target)}, TAG = ${JSON.stringify(tag)}, FX = ${JSON.stringify(fx)};
const R = ${JSON.stringify({ reader: PW.reader })};
const out = {};
async function tryFetch(name, url, init) {
  try { const r = await fetch(url, init); out[name] = 'status ' + r.status + ' ' + r.type; }
  catch (e) { out[name] = 'blocked: ' + e.message; }
}
function post(name, action, enctype, fields) {
  return new Promise((resolve) => {
    const frame = document.createElement('iframe');
    frame.name = 'f-' + name;
    document.body.append(frame);
    const form = document.createElement('form');
    form.method = 'POST'; form.action = action; form.enctype = enctype; form.target = frame.name;
    for (const [k, v] of fields) {
      const i = document.createElement('input');
      i.type = 'hidden'; i.name = k; i.value = v; form.append(i);
    }
    document.body.append(form);
    const t = setTimeout(() => { out[name] = 'form: no load event'; resolve(); }, 4000);
    frame.addEventListener('load', () => { clearTimeout(t); out[name] = 'form: sent'; resolve(); });
    form.submit();
  });
}
window.attack = async () => {
  const json = { 'Content-Type': 'application/json' };
  const MLF = T + '/api/2.0/mlflow/', EXT = T + '/api/2.0/mltrack/';
  // Read the CSRF token: the answer is not readable (no credentialed CORS).
  await tryFetch('read-whoami', EXT + 'auth/whoami', { credentials: 'include' });
  await tryFetch('fetch-json', MLF + 'experiments/create',
    { method: 'POST', headers: json, credentials: 'include', body: JSON.stringify({ name: TAG + '-fetch-json' }) });
  await tryFetch('fetch-json-guess', MLF + 'experiments/create', { method: 'POST', credentials: 'include',
    headers: { ...json, 'X-CSRF-Token': 'guess' }, body: JSON.stringify({ name: TAG + '-fetch-guess' }) });
  await tryFetch('fetch-text-plain', MLF + 'experiments/create', { method: 'POST', mode: 'no-cors',
    credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ name: TAG + '-fetch-text' }) });
  await tryFetch('fetch-tag', MLF + 'runs/set-tag', { method: 'POST', mode: 'no-cors', credentials: 'include',
    body: JSON.stringify({ run_id: FX.runs[0], key: 'pwned', value: TAG }) });
  await tryFetch('patch-model', MLF + 'registered-models/update', { method: 'PATCH', credentials: 'include',
    headers: json, body: JSON.stringify({ name: FX.model, description: 'pwned by ' + TAG }) });
  await tryFetch('delete-model', MLF + 'registered-models/delete', { method: 'DELETE', credentials: 'include',
    headers: json, body: JSON.stringify({ name: FX.model }) });
  await tryFetch('logout', EXT + 'auth/session', { method: 'DELETE', credentials: 'include' });
  await post('form-urlencoded', MLF + 'experiments/create', 'application/x-www-form-urlencoded',
    [['name', TAG + '-form-url']]);
  await post('form-text-plain', MLF + 'experiments/create', 'text/plain',
    [['{"name": "' + TAG + '-form-text", "x": "', '"}']]);
  // Login CSRF: log the user's browser into the attacker's account.
  await tryFetch('login-json', EXT + 'auth/session', { method: 'POST', headers: json,
    body: JSON.stringify({ username: 'reader', password: R.reader }) });
  await tryFetch('login-json-cred', EXT + 'auth/session', { method: 'POST', headers: json, credentials: 'include',
    body: JSON.stringify({ username: 'reader', password: R.reader }) });
  await tryFetch('login-text', EXT + 'auth/session', { method: 'POST', mode: 'no-cors', credentials: 'include',
    body: JSON.stringify({ username: 'reader', password: R.reader }) });
  await post('login-form', EXT + 'auth/session', 'text/plain',
    [['{"username": "reader", "password": "' + R.reader + '", "x": "', '"}']]);
  return out;
};
</script>`;
}

async function attacker(port) {
  const srv = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(attackPage(BASE, url.searchParams.get('tag')));
  });
  await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
  attackers.push(srv);
  return srv.address().port;
}

test('a page of another origin cannot use the session, nor log the browser in', { skip }, async () => {
  const granted = ATTACK_PORT ? await attacker(ATTACK_PORT) : null;
  const other = await attacker(0);
  const { context, page, cookie } = await loggedIn('admin', '/');
  await page.close();
  const logBefore = readFileSync(process.env.MLTRACK_E2E_AUTH_LOG, 'utf8').length;
  const origins = [[`http://evil.test:${other}`, 'cross-site'], [`http://127.0.0.1:${other}`, 'same-site, another port']];
  if (granted) origins.push([`http://127.0.0.1:${granted}`, 'same-site, granted by --cors-origin']);
  const tags = [];
  for (const [origin, label] of origins) {
    const tag = `xo-${Date.now()}-${tags.length}`;
    tags.push(tag);
    const p = await context.newPage();
    await p.goto(`${origin}/?tag=${tag}`);
    const out = await p.evaluate(() => window.attack());
    await p.close();
    for (const k of ['read-whoami', 'fetch-json', 'fetch-json-guess', 'patch-model', 'delete-model', 'logout', 'login-json-cred'])
      assert.match(out[k], /^blocked/, `${label}: ${k}: ${out[k]}`);
    // Readable only where --cors-origin grants the origin: refused all the same.
    if (origin.endsWith(`:${granted}`)) assert.equal(out['login-json'], 'status 403 cors', `${label}: login-json`);
    else assert.match(out['login-json'], /^blocked/, `${label}: login-json: ${out['login-json']}`);
  }
  // Nothing was written, the session is still the admin's and still valid.
  for (const tag of tags)
    for (const what of ['fetch-json', 'fetch-guess', 'fetch-text', 'form-url', 'form-text'])
      assert.equal(await experimentExists(`${tag}-${what}`), false, `${tag}-${what} was created`);
  const rm = await api.get(`${MLF}registered-models/get`, { name: fx.model });
  assert.equal(rm.registered_model.description, 'orig', 'the model was changed');
  const { run } = await api.get(`${MLF}runs/get`, { run_id: fx.runs[0] });
  assert.deepEqual((run.data.tags || []).filter((t) => t.key === 'pwned'), [], 'the run was tagged');
  const now = await sessionCookie(context);
  assert.equal(now && now.value, cookie.value, 'the session cookie was replaced or cleared');
  const who = await (await fetch(`${BASE}${EXT}auth/whoami`, { headers: { Cookie: `mltrack_session=${cookie.value}` } })).json();
  assert.equal(who.user && who.user.username, 'admin');
  // The same-site page of the granted origin got its cookie-carrying
  // requests past the Origin check: the CSRF check refused them.
  if (granted) {
    const log = readFileSync(process.env.MLTRACK_E2E_AUTH_LOG, 'utf8').slice(logBefore);
    assert.match(log, /missing CSRF token on POST \/api\/2\.0\/mlflow\/experiments\/create for user 'admin'/);
  }
  await context.close();
});

test('a read-only user sees no write controls; what they may not read says so', { skip }, async () => {
  const { context, page } = await loggedIn('reader', `/experiments/${fx.exp}`);
  const changes = [];
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (r.method() !== 'GET' && !/\/(runs|experiments|logged-models)\/search$/.test(u.pathname)) changes.push(`${r.method()} ${u.pathname}`);
  });
  const readOnly = async (what) => {
    const badge = page.locator('[data-testid=access]');
    await badge.waitFor();
    assert.equal(await badge.textContent(), 'read only', what);
    // Nothing on the page would change data: no control marked as a write,
    // no button that names a change.
    assert.equal(await page.locator('[data-write]').count(), 0, what);
    const buttons = (await page.locator('main button:visible').allTextContents()).map((t) => t.trim());
    for (const b of buttons) assert.doesNotMatch(b, /delete|rename|edit|transition|promote|alias|archive|tag/i, `${what}: button "${b}"`);
  };
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  await readOnly('experiment page');
  await page.screenshot({ path: `${SCREENS}/25-read-only.png` });
  await page.locator('.runs-row [data-col=name] a').first().click();
  await page.waitForURL(/\/runs\//);
  await page.locator('[data-testid=run-status]').waitFor();
  await readOnly('run page');
  await page.goto(`${BASE}/models/${encodeURIComponent(fx.model)}`);
  await page.locator('main h1').filter({ hasText: fx.model }).waitFor();
  await readOnly('model page');
  await page.locator('[data-testid=monitor-facts]').waitFor();
  assert.match(await page.locator('[data-testid=deliveries]').textContent(), /shown to admins/);
  assert.deepEqual(changes, [], 'the read-only pages sent changes');
  // What the reader may not read: the server's refusal in words, no login page.
  allow(page, /status of 403/);
  await page.goto(`${BASE}/experiments/${fx.hidden}`);
  const err = page.locator('main .error');
  await err.waitFor();
  assert.match(await err.textContent(), /could not be shown: .*permission/i);
  assert.match(page.url(), new RegExp(`/experiments/${fx.hidden}$`));
  assert.equal(await page.locator('[data-testid=username]').textContent(), 'reader');
  // ...and the experiments list leaves it out.
  await page.goto(`${BASE}/`);
  await page.locator(`tr[data-experiment-id="${fx.exp}"]`).waitFor();
  assert.equal(await page.locator(`tr[data-experiment-id="${fx.hidden}"]`).count(), 0);
  await context.close();
  // The admin (MANAGE) sees no badge on the same page.
  const adm = await loggedIn('admin', `/experiments/${fx.exp}`);
  await adm.page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  const level = await adm.page.evaluate(async (id) =>
    (await (await fetch(`/api/2.0/mltrack/auth/permission?experiment_id=${id}`)).json()).permission, fx.exp);
  assert.equal(level, 'MANAGE');
  assert.equal(await adm.page.locator('[data-testid=access]:visible').count(), 0);
  // ... and the webhooks (none yet) on the monitored model's page.
  await adm.page.goto(`${BASE}/models/${encodeURIComponent(fx.model)}`);
  await adm.page.locator('[data-testid=deliveries] .empty, [data-testid=deliveries-table]').first().waitFor();
  assert.match(await adm.page.locator('[data-testid=deliveries]').textContent(), /No webhook/);
  await adm.context.close();
});

test('session expiry: the next action goes to the login page, and back after logging in', { skip }, async () => {
  const { context, page, cookie } = await loggedIn('reader', `/experiments/${fx.exp}`);
  const hash = sha256(cookie.value);
  await page.locator('.runs-row [data-col=name] a').first().waitFor();
  // The session reaches its end on the server (as --session-lifetime would).
  psql(`UPDATE sessions SET expires_at = ${Date.now() - 1000} WHERE id_hash = '${hash}'`);
  const runId = await page.locator('.runs-row').first().getAttribute('data-run-id');
  allow(page, /status of 401/); // the point
  await page.locator('.runs-row [data-col=name] a').first().click();
  await page.waitForURL(/\/login\?/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('next'), `/runs/${runId}`);
  await page.getByText('Your session ended. Log in again to go on.').waitFor();
  assert.equal(await page.locator('[data-testid=username]').count(), 0, 'the user menu outlived the session');
  assert.equal(psql(`SELECT count(*) FROM sessions WHERE id_hash = '${hash}'`), '0', 'the row of the expired session stays');
  assert.equal(await sessionCookie(context), undefined, 'the expired cookie was not cleared');
  await page.screenshot({ path: `${SCREENS}/23-session-expired.png` });
  await logIn(page, 'reader');
  await page.waitForURL(`${BASE}/runs/${runId}`);
  await page.locator('h1').filter({ hasText: /first|second/ }).waitFor();
  await context.close();
});

test('logout: the cookie is gone, and the old session is refused', { skip }, async () => {
  const { context, page, cookie, csrf } = await loggedIn('admin', '/models');
  await page.click('[data-testid=logout]');
  await page.waitForURL(/\/login$/);
  await page.locator('[data-testid=login-form]').waitFor();
  assert.equal(await page.locator('[data-testid=username]').count(), 0);
  assert.equal(await sessionCookie(context), undefined, 'the cookie is still there');
  assert.equal(psql(`SELECT count(*) FROM sessions WHERE id_hash = '${sha256(cookie.value)}'`), '0');
  // The old cookie, replayed by hand: refused, for reads and for writes.
  const old = { Cookie: `mltrack_session=${cookie.value}` };
  assert.equal((await fetch(`${BASE}${EXT}auth/whoami`, { headers: old })).status, 401);
  const w = await fetch(`${BASE}${MLF}experiments/create`, { method: 'POST',
    headers: { ...old, 'X-CSRF-Token': csrf, 'Content-Type': 'application/json' }, body: '{"name": "after-logout"}' });
  assert.equal(w.status, 401);
  assert.equal(await experimentExists('after-logout'), false);
  // Back in the browser, a page asks for the login again.
  allow(page, /status of 401/);
  await page.goto(`${BASE}/models`);
  await page.waitForURL(/\/login\?next=%2Fmodels$/);
  await context.close();
});

test('too many failed logins: the page says when to try again', { skip }, async () => {
  // Ten failures (the per-user limit) from this address through the API...
  for (let i = 0; i < 10; i++) {
    const r = await fetch(`${BASE}${EXT}auth/session`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'locked', password: `wrong-${i}-password` }) });
    assert.equal(r.status, 401);
  }
  // ...then the form, even with the right password.
  const context = await browser.newContext();
  const page = await open(context, `${BASE}/login`, { expect: [...said(401), ...said(429)] });
  await logIn(page, 'locked');
  const err = page.locator('[data-testid=login-error]');
  await err.waitFor();
  const m = (await err.textContent()).match(/^Too many attempts, try again in (\d+) s\.$/);
  assert.ok(m, await err.textContent());
  assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 15 * 60, m[1]);
  assert.equal(await sessionCookie(context), undefined);
  await page.screenshot({ path: `${SCREENS}/24-login-rate-limited.png` });
  await context.close();
});

test('no console errors or CSP violations; no password, session id or CSRF token in the log', { skip }, () => {
  assert.deepEqual(problems, []);
  const log = readFileSync(process.env.MLTRACK_E2E_AUTH_LOG, 'utf8');
  assert.match(log, /session started for user 'admin'/);
  for (const [user, pw] of Object.entries(PW)) assert.ok(!log.includes(pw), `${user}'s password is in the log`);
  assert.ok(secrets.size >= 4, `only ${secrets.size} secrets seen`);
  for (const s of secrets) assert.ok(!log.includes(s), 'a session id or CSRF token is in the log');
});
