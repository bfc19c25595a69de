// End-to-end tests of the dashboard in real headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against a live mltrackd
// seeded through its API.  Run by tests/run-e2e.sh, which starts PostgreSQL
// and mltrackd and sets MLTRACK_E2E_URL and MLTRACK_E2E_SCREENS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch } from './browser.mjs';
import { seed, client } from './seed.mjs';

const BASE = process.env.MLTRACK_E2E_URL;
const SCREENS = process.env.MLTRACK_E2E_SCREENS || 'build/e2e-screens';
const ORIGIN = new URL(BASE).origin;

let ids, browser, context;
const problems = [];   // console errors, page errors, CSP violations
const foreign = [];    // requests to anything but the server


before(async () => {
  mkdirSync(SCREENS, { recursive: true });
  ids = await seed(BASE);
  ({ browser, context } = await launch(ORIGIN, foreign));
});

after(async () => {
  if (browser) await browser.close();
});

// A page, with its console watched.  `expect` lists the console errors this
// page is meant to cause (the browser logs every 4xx answer it fetched).
async function open(path, { expect = [] } = {}) {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const i = expect.findIndex((re) => re.test(m.text()));
    if (i >= 0) expect.splice(i, 1);
    else problems.push(`${path}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${path}: page error: ${e.message}`));
  page.on('requestfailed', (r) => { if (new URL(r.url()).origin === ORIGIN) problems.push(`${path}: request failed: ${r.url()}`); });
  await page.goto(BASE + path);
  return page;
}

const shot = (page, name) => page.screenshot({ path: `${SCREENS}/${name}.png`, fullPage: true });

test('static files: CSP, nosniff, ETag revalidation, types, no listings, page paths', async () => {
  const res = await fetch(`${BASE}/experiments/1`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  assert.equal(res.headers.get('content-security-policy'), "default-src 'self'; frame-ancestors 'none'");
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  const html = await res.text();
  assert.match(html, /<script type="module" src="\/js\/app.js">/);
  assert.doesNotMatch(html, /https?:\/\//, 'index.html refers to nothing outside the server');
  for (const p of ['/', '/runs/abc', '/compare', '/models', '/models/a/b'])
    assert.equal((await fetch(BASE + p)).status, 200, p);
  for (const p of ['/js/', '/js', '/vendor/', '/runs/a/b', '/nope.js', '/experiments/'])
    assert.equal((await fetch(BASE + p)).status, 404, p);
  const js = await fetch(`${BASE}/js/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const etag = js.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(`${BASE}/js/app.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${BASE}/js/app.js`, { headers: { 'If-None-Match': '"other"' } })).status, 200);
  assert.match((await fetch(`${BASE}/app.css`)).headers.get('content-type'), /^text\/css/);
  assert.match((await fetch(`${BASE}/favicon.svg`)).headers.get('content-type'), /^image\/svg\+xml/);
  assert.match((await fetch(`${BASE}/vendor/uPlot.esm.js`)).headers.get('content-type'), /^text\/javascript/);
  assert.equal((await fetch(`${BASE}/index.html`, { method: 'POST' })).status, 405);
});

test('experiments list: run counts, last activity, search by name', async () => {
  const page = await open('/');
  const row = page.locator(`tr[data-experiment-id="${ids.exp}"]`);
  await row.waitFor();
  assert.equal(await row.locator('a').textContent(), 'mnist-sweep');
  assert.equal(await row.locator('.runs-count').textContent(), '4');
  assert.match(await row.locator('td').nth(4).textContent(), /ago|just now/);
  await shot(page, '01-experiments');
  await page.fill('input[type=search]', 'empty');
  await page.locator(`tr[data-experiment-id="${ids.exp}"]`).waitFor({ state: 'detached' });
  assert.equal(await page.locator(`tr[data-experiment-id="${ids.empty}"]`).count(), 1);
  await page.fill('input[type=search]', 'no such thing');
  await page.getByText('No experiment name contains').waitFor();
  await page.close();
});

test('empty experiment says what to do', async () => {
  const page = await open(`/experiments/${ids.empty}`);
  await page.getByText('No runs yet.').waitFor();
  assert.match(await page.locator('.empty').textContent(), /mltrack run -e empty-experiment -- \.\/train/);
  await page.close();
});

async function runNames(page) {
  return page.locator('.runs-row [data-col=name]').allTextContents();
}

test('runs table: columns, filter, inline filter errors, sort, remembered columns', async () => {
  // The bad filter below is answered 400, which the browser logs.
  const page = await open(`/experiments/${ids.exp}`, { expect: [/status of 400/] });
  const table = page.locator('[data-testid=runs]');
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  assert.deepEqual(await runNames(page), ['live-run', 'diverged', 'adam-fast', 'baseline']);
  const base = page.locator(`.runs-row[data-run-id="${ids.runA}"]`);
  assert.equal(await base.locator('[data-col=status]').textContent(), 'finished');
  assert.equal(await base.locator('[data-col=commit]').textContent(), 'a1b2c3d4');
  assert.equal(await base.locator('[data-col=user]').textContent(), 'ada');
  assert.match(await base.locator('[data-col=duration]').textContent(), /2 min 0 s|2 min 1 s/);
  assert.equal(await base.locator('[data-col="p:lr"]').textContent(), '0.01');
  assert.match(await base.locator('[data-col="m:loss"]').textContent(), /^0\.03/);
  await shot(page, '02-experiment');

  // The filter box (MLflow's grammar), and a bad filter's error inline.
  await page.fill('input.filter', "params.optimizer = 'adam'");
  await page.press('input.filter', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 2);
  assert.deepEqual((await runNames(page)).sort(), ['adam-fast', 'live-run']);
  assert.match(page.url(), /filter=params.optimizer/);
  await page.fill('input.filter', 'metrics.loss <<< 1');
  await page.press('input.filter', 'Enter');
  const err = page.locator('.error');
  await err.waitFor();
  assert.match(await err.textContent(), /filter/i);
  await shot(page, '02b-experiment-filter-error');
  await page.fill('input.filter', "attributes.status = 'FAILED'");
  await page.press('input.filter', 'Enter');
  await err.waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 1);
  assert.deepEqual(await runNames(page), ['diverged']);
  // mltrack's boolean forms (OR, NOT, parentheses) go to the server as typed.
  await page.fill('input.filter', "(params.optimizer = 'adam' OR attributes.status = 'FAILED') AND NOT metrics.loss > 100");
  await page.press('input.filter', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 3);
  assert.deepEqual((await runNames(page)).sort(), ['adam-fast', 'diverged', 'live-run']);
  assert.match(decodeURIComponent(page.url()), /filter=\(params\.optimizer/);
  await page.fill('input.filter', "not params.optimizer = 'adam'");
  await page.press('input.filter', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 2);
  assert.deepEqual((await runNames(page)).sort(), ['baseline', 'diverged']);
  await page.click('button:has-text("Clear")');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 4);

  // Sort by name (server side), then by duration (here).
  await table.locator('.runs-head button[data-col=name]').click();
  await page.waitForFunction(() => document.querySelector('.runs-row [data-col=name]')?.textContent === 'adam-fast');
  assert.deepEqual(await runNames(page), ['adam-fast', 'baseline', 'diverged', 'live-run']);
  await table.locator('.runs-head button[data-col=duration]').click();
  await page.waitForFunction(() => document.querySelector('.runs-head button[data-col=duration]')?.getAttribute('aria-sort') === 'descending');
  // Until the rows are re-sorted (descending duration cannot keep the name
  // order: 'diverged', 20.5 s, is the shortest and sorts last).
  await page.waitForFunction(() => [...document.querySelectorAll('.runs-row [data-col=name]')]
    .map((e) => e.textContent).join() !== 'adam-fast,baseline,diverged,live-run');
  const durations = await runNames(page);
  assert.equal(durations[durations.length - 1], 'diverged', `duration order: ${durations}`);

  // Columns: drop "lr", reload, it stays dropped.
  await page.click('details.cols summary');
  await page.locator('details.cols label:has-text("lr") input').uncheck();
  assert.equal(await page.locator('.runs-head button[data-col="p:lr"]').count(), 0);
  await page.reload();
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  assert.equal(await page.locator('.runs-head button[data-col="p:lr"]').count(), 0);
  assert.equal(await page.locator('.runs-head button[data-col="p:optimizer"]').count(), 1);
  await page.close();
});

test('run page: params, metrics with sparklines, tags, provenance, log tail, artifacts, charts', async () => {
  const page = await open(`/runs/${ids.runA}`);
  await page.locator('[data-testid=run-charts][data-ready]').waitFor();
  assert.equal(await page.locator('h1').textContent(), 'baseline');
  const prov = await page.locator('[data-testid=provenance]').textContent();
  assert.match(prov, /a1b2c3d4e5f60718293a4b5c6d7e8f9012345678/);
  assert.match(prov, /main/);
  assert.match(prov, /git\.example\.org\/ml\/mnist\.git/);
  assert.match(prov, /Uncommitted changes\s*no/);
  assert.match(await page.locator('[data-testid=run-params]').textContent(), /optimizer\s*sgd/);
  assert.equal(await page.locator('[data-testid=run-metrics] canvas.spark').count(), 2);
  assert.match(await page.locator('[data-testid=run-tags]').textContent(), /mlflow\.source\.git\.branch/);
  assert.equal(await page.locator('[data-testid=run-charts] .chart canvas').count(), 2);
  assert.equal(await page.locator('.chart[data-metric=loss] .uplot').getAttribute('data-points'), '120');

  const log = page.locator('[data-testid=output-log]');
  await log.waitFor();
  const tail = await log.textContent();
  assert.match(tail, /training finished: best accuracy 0\.9731\n$/);
  assert.doesNotMatch(tail, /epoch 0 batch 0 /);
  await page.click('button:has-text("Load earlier output")');
  await page.waitForFunction(() => document.querySelector('[data-testid=output-log]').textContent.length > 70000);
  // 192 KiB in 64 KiB pieces: the third is the log's start, and the button goes.
  await page.click('button:has-text("Load earlier output")');
  await page.waitForFunction(() => document.querySelector('[data-testid=output-log]').textContent.startsWith('epoch 0 batch 0 '));
  assert.equal(await page.locator('button:has-text("Load earlier output")').isVisible(), false);

  const arts = page.locator('[data-testid=artifacts]');
  assert.match(await arts.locator('li[data-path="config.yaml"]').textContent(), /config\.yaml\s*2\d B/);
  await arts.locator('li[data-path="model"] > button').click();
  const weights = arts.locator('li[data-path="model/weights.bin"]');
  await weights.waitFor();
  assert.match(await weights.textContent(), /2\.9 KiB/);
  const href = await weights.locator('a').getAttribute('href');
  const dl = await fetch(BASE + href);
  assert.equal(dl.status, 200);
  assert.equal((await dl.arrayBuffer()).byteLength, 3000);
  await shot(page, '03-run');
  await page.setViewportSize({ width: 1024, height: 700 }); // a small laptop
  await shot(page, '03b-run-laptop');
  await page.close();
});

test('a run without an output log: no failing request, no console error', async () => {
  const failed = [];
  const logged = [];
  const page = await context.newPage();
  page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') logged.push(m.text()); });
  page.on('pageerror', (e) => logged.push(e.message));
  await page.goto(`${BASE}/runs/${ids.bare}`);
  await page.getByText('No output log.').waitFor();
  await page.getByText('No artifacts.').waitFor();
  await page.getByText('No metrics logged.').waitFor();
  await page.waitForLoadState('networkidle');
  assert.deepEqual(failed, [], 'requests answered with an error');
  assert.deepEqual(logged, [], 'console errors');
  await shot(page, '03c-run-sparse');
  await page.close();
});

// Text a user should never read: a field's absence shown as "null".
const ABSENT = /\b(null|undefined)\b|\[object Object\]/;

test('no "null" or "undefined" on any page, with every optional field absent', async () => {
  const pages = [
    ['/', '[data-testid=experiments]'],
    [`/experiments/${ids.sparse}`, '[data-testid=runs][data-ready]'],
    [`/experiments/${ids.exp}`, '[data-testid=runs][data-ready]'],
    [`/runs/${ids.bare}`, 'text=No output log.'],
    [`/runs/${ids.runC}`, '[data-testid=run-charts][data-ready]'],
    [`/runs/${ids.live}`, '[data-testid=run-charts][data-ready]'],
    [`/compare?runs=${ids.bare},${ids.runA}`, '[data-testid=compare-charts][data-ready]'],
    ['/models', '[data-testid=models]'],
    [`/models/${ids.bareModel}`, '[data-testid=transitions]'],
    [`/models/${ids.model}`, '[data-testid=transitions]'],
  ];
  const found = [];
  for (const [path, ready] of pages) {
    const page = await open(path);
    await page.locator(ready).first().waitFor();
    await page.waitForLoadState('networkidle');
    // Open every <details> (gate reports, menus) so that their text counts.
    await page.evaluate(() => { for (const d of document.querySelectorAll('details')) d.open = true; });
    const texts = await page.evaluate(() => {
      const out = [document.body.innerText, document.title];
      for (const el of document.querySelectorAll('[title], [href], [aria-label], [alt], [placeholder]'))
        for (const a of ['title', 'href', 'aria-label', 'alt', 'placeholder'])
          if (el.hasAttribute(a)) out.push(`${a}=${el.getAttribute(a)}`);
      return out;
    });
    for (const t of texts)
      for (const line of t.split('\n'))
        if (ABSENT.test(line)) found.push(`${path}: ${line.trim()}`);
    if (path.startsWith('/models/') && path.includes(ids.bareModel)) await shot(page, '07b-model-sparse');
    await page.close();
  }
  assert.deepEqual(found, []);
});

test('select two runs, compare: charts drawn, differing params highlighted', async () => {
  const page = await open(`/experiments/${ids.exp}`);
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  await page.locator(`.runs-row[data-run-id="${ids.runA}"] input[type=checkbox]`).check();
  await page.locator(`.runs-row[data-run-id="${ids.runB}"] input[type=checkbox]`).check();
  await page.click('button:has-text("Compare 2 runs")');
  await page.waitForURL(/\/compare\?runs=/);
  const url = new URL(page.url());
  assert.deepEqual(url.searchParams.get('runs').split(',').sort(), [ids.runA, ids.runB].sort());
  await page.locator('[data-testid=compare-charts][data-ready]').waitFor();
  assert.equal(await page.locator('[data-testid=compare-charts] .chart').count(), 2);
  assert.equal(await page.locator('.chart[data-metric=loss] .uplot').getAttribute('data-points'), '240');
  // uPlot drew something: the canvas has non-transparent pixels.
  const inked = await page.locator('.chart[data-metric=loss] canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
    return n;
  });
  assert.ok(inked > 500, `chart pixels drawn: ${inked}`);
  const params = page.locator('[data-testid=compare-params]');
  assert.equal(await params.locator('tr[data-param=lr]').getAttribute('class'), 'diff');
  assert.equal(await params.locator('tr[data-param=optimizer]').getAttribute('class'), 'diff');
  assert.equal(await params.locator('tr[data-param=batch_size]').getAttribute('class'), '');
  assert.equal(await page.locator('[data-testid=parallel] path').count(), 2);
  assert.equal(await page.locator('[data-testid=scatter] circle').count(), 2);
  await shot(page, '04-compare');
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot(page, '04b-compare-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.check('label:has-text("Only differences") input');
  assert.equal(await params.locator('tr[data-param=batch_size]').count(), 0);
  assert.equal(await params.locator('tr[data-param=lr]').count(), 1);
  // The axis and scale controls redraw the charts.
  await page.selectOption('select[aria-label="X axis"]', 'relative');
  await page.check('label:has-text("Log scale") input');
  assert.equal(await page.locator('[data-testid=compare-charts] .chart .uplot').count(), 2);
  await page.close();
});

test('a running run gains points without a reload', async () => {
  const page = await open(`/runs/${ids.live}`);
  await page.locator('[data-testid=run-charts][data-ready]').waitFor();
  assert.equal(await page.locator('[data-testid=run-status]').textContent(), 'running');
  const points = () => page.locator('.chart[data-metric=loss] .uplot').getAttribute('data-points');
  assert.equal(await points(), '10');
  await page.evaluate(() => { window.__notReloaded = true; });
  const c = client(BASE);
  const now = Date.now();
  await c.post('/api/2.0/mlflow/runs/log-batch', { run_id: ids.live,
    metrics: Array.from({ length: 15 }, (_, i) => ({ key: 'loss', value: 1 / (i + 2), step: 10 + i, timestamp: now + i })) });
  await page.waitForFunction(() => document.querySelector('.chart[data-metric=loss] .uplot')?.dataset.points === '25', null, { timeout: 15000 });
  await c.post('/api/2.0/mlflow/runs/update', { run_id: ids.live, status: 'FINISHED', end_time: Date.now() });
  await page.waitForFunction(() => document.querySelector('[data-testid=run-status]')?.textContent === 'finished', null, { timeout: 15000 });
  assert.equal(await page.evaluate(() => window.__notReloaded), true);
  await shot(page, '05-run-live');
  await page.close();
});

test('models list and model page: stages, aliases, bundle digest, transitions with gate reports', async () => {
  let page = await open('/models');
  const row = page.locator(`tr[data-model="${ids.model}"]`);
  await row.waitFor();
  const text = await row.textContent();
  assert.match(text, /v2 Production/);
  assert.match(text, /@champion → v2/);
  await shot(page, '06-models');
  await row.locator('a').click();
  await page.waitForURL(new RegExp(`/models/${ids.model}$`));
  await page.locator('[data-testid=versions]').waitFor();
  page = page; // same tab, client-side navigation
  const v2 = page.locator('.version[data-version="2"]');
  assert.match(await v2.locator('h3').textContent(), /Production.*@champion/);
  assert.match(await page.locator('.version[data-version="1"] h3').textContent(), /Staging/);
  if (ids.v3) {
    const v3 = page.locator(`.version[data-version="${ids.v3}"]`);
    assert.match(await v3.locator('[data-testid=bundle-digest]').textContent(), /^sha256:[0-9a-f]{64}$/);
    assert.match(await v3.locator('[data-testid=version-provenance]').textContent(), /a1b2c3d4 on main/);
    assert.match(await v3.locator('h3').textContent(), /@candidate/);
  }
  const trail = page.locator('[data-testid=transitions]');
  assert.equal(await trail.locator('tbody tr').count(), 3);
  const refused = trail.locator('tr[data-outcome=refused]');
  assert.match(await refused.textContent(), /metrics\.accuracy >= 0\.999/);
  assert.match(await refused.textContent(), /fail/);
  assert.match(await page.locator('[data-testid=gates]').textContent(), /metrics\.accuracy >= 0\.98/);
  await shot(page, '07-model');
  await page.close();
});

test('server errors are shown in words', async () => {
  const page = await open('/runs/0123456789abcdef0123456789abcdef', { expect: [/status of 404/] });
  const err = page.locator('.error');
  await err.waitFor();
  assert.match(await err.textContent(), /This page could not be shown: Run with id=0123456789abcdef0123456789abcdef not found/);
  await page.close();
});

test('no console errors, and no request left the server', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
});
