// Cross-origin writes and DNS rebinding in real Chromium (issue 11, item 4).
//
// A page served by a small HTTP server of this test, on another origin than
// the mltrackd under test (MLTRACK_E2E_URL, http://127.0.0.1:PORT), tries
// to change things on that server as a malicious site opened in the user's
// browser would: fetch() with a JSON body (preflighted), a text/plain fetch
// body (no preflight), form posts with urlencoded and text/plain enctypes
// (the latter shaped as JSON), a PATCH, a DELETE of a registered model and of
// an artifact, and a PUT over an artifact.  It does so from three origins:
// 127.0.0.1 on another port (same-site), localhost (cross-site) and a DNS
// name (cross-site).  Then a page reached through a DNS name mapped onto the
// server's own address (what DNS rebinding achieves) tries the same with
// same-origin requests.  Afterwards everything is read back through the API:
// nothing changed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './browser.mjs';
import { client } from './seed.mjs';

const BASE = process.env.MLTRACK_E2E_URL;
const PORT = new URL(BASE).port;
const MLF = '/api/2.0/mlflow/';
const ART = '/api/2.0/mlflow-artifacts/artifacts/';

let browser, attacker, aport, fx;
const c = client(BASE);

// The attacker's page: every attempt, each reporting what the browser saw.
function attackPage(target, tag) {
  const js = `
const T = ${JSON.stringify(target)}, TAG = ${JSON.stringify(tag)}, FX = window.FX;
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
  await tryFetch('fetch-json', T + '${MLF}experiments/create',
    { method: 'POST', headers: json, body: JSON.stringify({ name: TAG + '-fetch-json' }) });
  await tryFetch('fetch-json-cookie', T + '${MLF}experiments/create',
    { method: 'POST', headers: json, credentials: 'include', body: JSON.stringify({ name: TAG + '-fetch-cred' }) });
  await tryFetch('fetch-text-plain', T + '${MLF}experiments/create',
    { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ name: TAG + '-fetch-text' }) });
  await tryFetch('fetch-text-plain-tag', T + '${MLF}runs/set-tag',
    { method: 'POST', mode: 'no-cors', body: JSON.stringify({ run_id: FX.run, key: 'pwned', value: TAG }) });
  await tryFetch('patch-model', T + '${MLF}registered-models/update',
    { method: 'PATCH', headers: json, body: JSON.stringify({ name: FX.model, description: 'pwned by ' + TAG }) });
  await tryFetch('delete-model', T + '${MLF}registered-models/delete',
    { method: 'DELETE', headers: json, body: JSON.stringify({ name: FX.model }) });
  await tryFetch('put-artifact', T + FX.artifact, { method: 'PUT', body: 'pwned by ' + TAG });
  await tryFetch('delete-artifact', T + FX.artifact, { method: 'DELETE' });
  await post('form-urlencoded', T + '${MLF}experiments/create', 'application/x-www-form-urlencoded',
    [['name', TAG + '-form-url']]);
  // text/plain forms send "name=value": shaped so the body is JSON.
  await post('form-text-plain', T + '${MLF}experiments/create', 'text/plain',
    [['{"name": "' + TAG + '-form-text", "x": "', '"}']]);
  await post('form-text-plain-tag', T + '${MLF}runs/set-tag', 'text/plain',
    [['{"run_id": "' + FX.run + '", "key": "pwned", "value": "' + TAG + '", "x": "', '"}']]);
  // Reading is refused by the browser (no CORS grant).
  await tryFetch('read', T + '${MLF}experiments/search?max_results=10', {});
  return out;
};`;
  return `<!doctype html><meta charset="utf-8"><title>not mltrack</title>
<script>window.FX = ${JSON.stringify(fx)};</script><script>${js}</script><body></body>`;
}

before(async () => {
  // The fixtures an attack would change.
  const { experiment_id } = await c.post(`${MLF}experiments/create`, { name: `xo-target-${Date.now()}` });
  const { run } = await c.post(`${MLF}runs/create`, { experiment_id });
  const root = run.info.artifact_uri.replace('mlflow-artifacts:/', '');
  const model = `xo-model-${Date.now()}`;
  await c.post(`${MLF}registered-models/create`, { name: model, description: 'orig' });
  const artifact = `${ART}${root}/model.txt`;
  await c.put(artifact, 'original model');
  fx = { run: run.info.run_id, model, artifact, experiment_id };

  attacker = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(attackPage(url.searchParams.get('target'), url.searchParams.get('tag')));
  });
  await new Promise((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  aport = attacker.address().port;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // DNS names of the attacker, both onto this machine.
    args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP evil.test 127.0.0.1, MAP rebind.test 127.0.0.1, MAP localhost 127.0.0.1'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (attacker) attacker.close();
});

async function experimentExists(name) {
  const r = await fetch(`${BASE}${MLF}experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`);
  return r.status === 200;
}

async function assertNothingChanged(tags) {
  for (const tag of tags)
    for (const what of ['fetch-json', 'fetch-cred', 'fetch-text', 'form-url', 'form-text'])
      assert.equal(await experimentExists(`${tag}-${what}`), false, `${tag}-${what} was created`);
  const rm = await c.get(`${MLF}registered-models/get`, { name: fx.model });
  assert.equal(rm.registered_model.description, 'orig', 'the registered model was changed');
  const art = await fetch(BASE + fx.artifact);
  assert.equal(art.status, 200, 'the artifact was deleted');
  assert.equal(await art.text(), 'original model', 'the artifact was overwritten');
  const { run } = await c.get(`${MLF}runs/get`, { run_id: fx.run });
  assert.deepEqual((run.data.tags || []).filter((t) => t.key === 'pwned'), [], 'the run was tagged');
  const runs = await c.post(`${MLF}runs/search`, { experiment_ids: [fx.experiment_id] });
  assert.equal(runs.runs.length, 1);
}

for (const [label, host] of [['another port of 127.0.0.1 (same-site)', '127.0.0.1'],
  ['localhost (cross-site)', 'localhost'], ['a DNS name (cross-site)', 'evil.test']]) {
  test(`a page on ${label} changes nothing`, async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const tag = `xo-${host.replace(/\W/g, '')}-${Date.now()}`;
    await page.goto(`http://${host}:${aport}/?target=${encodeURIComponent(BASE)}&tag=${tag}`);
    const out = await page.evaluate(() => window.attack());
    await context.close();
    // What the browser saw: preflighted requests blocked for want of a grant,
    // reads not readable; no-cors requests are opaque.
    for (const k of ['fetch-json', 'fetch-json-cookie', 'patch-model', 'delete-model', 'put-artifact', 'delete-artifact', 'read'])
      assert.match(out[k], /^blocked/, `${k}: ${out[k]}`);
    await assertNothingChanged([tag]);
  });
}

test('DNS rebinding: a page at a foreign name on the server\'s own address gets nothing', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const origin = `http://rebind.test:${PORT}`;
  const res = await page.goto(`${origin}/`);
  assert.equal(res.status(), 403, 'the dashboard answered a foreign Host');
  const out = await page.evaluate(async (fx) => {
    const r = {};
    const json = { 'Content-Type': 'application/json' };
    const go = async (k, p, init) => {
      try { const x = await fetch(p, init); r[k] = [x.status, await x.text()]; } catch (e) { r[k] = [0, e.message]; }
    };
    await go('read', '/api/2.0/mlflow/experiments/search?max_results=100', {});
    await go('artifact', fx.artifact, {});
    await go('create', '/api/2.0/mlflow/experiments/create', { method: 'POST', headers: json, body: JSON.stringify({ name: 'xo-rebind-fetch-json' }) });
    await go('put', fx.artifact, { method: 'PUT', body: 'pwned by rebinding' });
    await go('delete', '/api/2.0/mlflow/registered-models/delete', { method: 'DELETE', headers: json, body: JSON.stringify({ name: fx.model }) });
    return r;
  }, fx);
  await context.close();
  for (const [k, [status, body]] of Object.entries(out)) {
    assert.equal(status, 403, `${k}: ${status} ${body}`);
    assert.match(body, /PERMISSION_DENIED/);
    assert.doesNotMatch(body, /original model|xo-target/, `${k} leaked data`);
  }
  await assertNothingChanged(['xo-rebind']);
});
