// The run page's logged models (MLflow 3, issue 12 item 8), in real headless
// Chromium against a live mltrackd seeded through its API as MLflow 3's
// client seeds it: log_model creates a logged model for the run
// (POST logged-models), links it to the run (runs/outputs), logs metrics
// carrying its id, uploads its files under its artifact_uri, finalizes it
// (PATCH status), and register_model tags it with its registered versions.
//
// The listing needs the logged-model endpoints.  The test of the listing is
// skipped, saying so, when the server answers 404 to creating a logged
// model; the test that a run without logged models asks nothing about them
// runs against every server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './browser.mjs';
import { client, T0 } from './seed.mjs';

const BASE = process.env.MLTRACK_E2E_URL;
const SCREENS = process.env.MLTRACK_E2E_SCREENS || 'build/e2e-screens';
const MLF = '/api/2.0/mlflow/';
const ART = '/api/2.0/mlflow-artifacts/artifacts/';

const c = client(BASE);
let browser, context, fx;

// A page with every request, failed answer and console error recorded.
async function open(path) {
  const page = await context.newPage();
  const seen = { requests: [], failed: [], console: [] };
  page.on('request', (r) => seen.requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
  page.on('response', (r) => { if (r.status() >= 400) seen.failed.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') seen.console.push(m.text()); });
  page.on('pageerror', (e) => seen.console.push(e.message));
  await page.goto(BASE + path);
  return { page, seen };
}

// What MLflow 3's log_model sends for one model (MLFLOW-3X.md section 4),
// then the status it ends with.  Returns the model's id.
async function logModel(expId, runId, { name, step, files, metrics, status, params }) {
  const { model } = await c.post(`${MLF}logged-models`, {
    experiment_id: expId, name, source_run_id: runId,
    params: Object.entries(params || {}).map(([key, value]) => ({ key, value })),
    tags: [{ key: 'mlflow.user', value: 'ada' }, { key: 'mlflow.source.name', value: 'train.py' }],
  });
  const id = model.info.model_id;
  assert.match(id, /^m-[0-9a-f]{32}$/);
  await c.post(`${MLF}runs/outputs`, { run_id: runId, models: [{ model_id: id, step }] });
  if (metrics && metrics.length)
    await c.post(`${MLF}runs/log-batch`, { run_id: runId, metrics: metrics.map((m) => ({ ...m, model_id: id })) });
  const root = model.info.artifact_uri.replace(/^mlflow-artifacts:\/+/, '');
  for (const [path, body] of Object.entries(files || {})) await c.put(`${ART}${root}/${path}`, body);
  if (status) await c.call('PATCH', `${MLF}logged-models/${id}`, { model_id: id, status });
  return { id, artifactUri: model.info.artifact_uri };
}

before(async () => {
  mkdirSync(SCREENS, { recursive: true });
  const { experiment_id: exp } = await c.post(`${MLF}experiments/create`, { name: 'logged-models' });
  const newRun = async (run_name) => (await c.post(`${MLF}runs/create`, { experiment_id: exp, run_name, start_time: T0, user_id: 'ada' })).run.info.run_id;
  const plain = await newRun('no-models');
  await c.post(`${MLF}runs/log-batch`, { run_id: plain, params: [{ key: 'alpha', value: '0.5' }],
    metrics: [{ key: 'rmse', value: 0.75, step: 0, timestamp: T0 }] });
  await c.post(`${MLF}runs/update`, { run_id: plain, status: 'FINISHED', end_time: T0 + 4000 });
  fx = { exp, plain };

  // Does the server have MLflow 3's logged models?
  const probe = await fetch(`${BASE}${MLF}logged-models`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ experiment_id: exp, name: 'probe' }) });
  await probe.text();
  fx.hasLoggedModels = probe.status !== 404;
  if (fx.hasLoggedModels) {
    const run = await newRun('sklearn-train');
    await c.post(`${MLF}runs/log-batch`, { run_id: run, params: [{ key: 'alpha', value: '0.5' }],
      metrics: [{ key: 'rmse', value: 0.75, step: 0, timestamp: T0 }] });
    const model = await logModel(exp, run, {
      name: 'model', step: 0, status: 'LOGGED_MODEL_READY', params: { alpha: '0.5' },
      files: { MLmodel: 'artifact_path: model\nflavors:\n  sklearn: {}\n', 'model.pkl': new Uint8Array(1234).fill(1),
        'requirements.txt': 'scikit-learn\n', 'metadata/conda.yaml': 'name: mlflow-env\n' },
      metrics: [
        { key: 'accuracy', value: 0.9, step: 0, timestamp: T0 + 1000, dataset_name: 'eval', dataset_digest: 'd1' },
        { key: 'accuracy', value: 0.97, step: 1, timestamp: T0 + 2000, dataset_name: 'eval', dataset_digest: 'd1' },
        { key: 'rmse', value: 0.25, step: 1, timestamp: T0 + 2000 },
      ],
    });
    // register_model("models:/<id>", "clf") tags the model with its version.
    await c.call('PATCH', `${MLF}logged-models/${model.id}/tags`,
      { tags: [{ key: 'mlflow.modelVersions', value: JSON.stringify([{ name: 'clf', version: '1' }]) }] });
    const pending = await logModel(exp, run, { name: 'checkpoint', step: 5 });
    await c.post(`${MLF}runs/update`, { run_id: run, status: 'FINISHED', end_time: T0 + 5000 });
    Object.assign(fx, { run, model, pending });
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});

after(async () => {
  if (browser) await browser.close();
});

test('a run without logged models asks nothing about them and shows no section', async () => {
  const { page, seen } = await open(`/runs/${fx.plain}`);
  await page.locator('[data-testid=run-charts][data-ready]').waitFor();
  await page.getByText('No artifacts.').waitFor();
  await page.waitForLoadState('networkidle');
  assert.deepEqual(seen.requests.filter((r) => r.includes('logged-models')), []);
  assert.equal(await page.getByRole('heading', { name: 'Logged models' }).isVisible(), false);
  assert.deepEqual(seen.failed, []);
  assert.deepEqual(seen.console, []);
  await page.close();
});

test('a run page lists its logged models: name, id, status, metrics, registrations, files', async (t) => {
  if (!fx.hasLoggedModels) {
    t.skip('SKIPPED: this server answers 404 to POST /api/2.0/mlflow/logged-models (no MLflow 3 logged models)');
    return;
  }
  const { page, seen } = await open(`/runs/${fx.run}`);
  const table = page.locator('[data-testid=logged-models]');
  await table.waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Logged models' }).isVisible(), true);
  assert.equal(await table.locator('tbody tr[data-model-id]').count(), 2);

  const row = table.locator(`tr[data-model-id="${fx.model.id}"]`);
  const cells = row.locator(':scope > td');
  assert.match(await cells.nth(0).textContent(), /^model/);
  assert.equal(await cells.nth(1).textContent(), fx.model.id);
  assert.equal(await row.locator('[data-testid=model-status]').textContent(), 'ready');
  // The latest value per metric (and dataset).
  assert.equal(await row.locator('li[data-metric=accuracy]').textContent(), 'accuracy 0.97 on eval');
  assert.equal(await row.locator('li[data-metric=rmse]').textContent(), 'rmse 0.25');
  assert.equal(await row.locator('a[href="/models/clf"]').textContent(), 'clf v1');
  assert.match(await cells.nth(5).textContent(), new RegExp(fx.model.artifactUri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));

  const pend = table.locator(`tr[data-model-id="${fx.pending.id}"]`);
  assert.match(await pend.locator(':scope > td').nth(0).textContent(), /^checkpoint.*step 5/);
  assert.equal(await pend.locator('[data-testid=model-status]').textContent(), 'pending');
  assert.match(await pend.locator(':scope > td').nth(3).textContent(), /none/);

  // Its files, one directory level at a time, as download links.
  await row.locator('button:has-text("Show files")').click();
  const files = page.locator('[data-testid=model-files]');
  await files.waitFor();
  assert.deepEqual(await files.locator(':scope > li').evaluateAll((ls) => ls.map((l) => l.dataset.path)),
    ['metadata', 'MLmodel', 'model.pkl', 'requirements.txt']);
  assert.match(await files.locator('li[data-path="model.pkl"]').textContent(), /model\.pkl\s*1\.2 KiB/);
  const href = await files.locator('li[data-path="MLmodel"] a').getAttribute('href');
  const dl = await fetch(BASE + href);
  assert.equal(dl.status, 200);
  assert.match(await dl.text(), /^artifact_path: model\n/);
  await files.locator('li[data-path="metadata"] > button').click();
  await files.locator('li[data-path="metadata/conda.yaml"] a').waitFor();
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: `${SCREENS}/03d-run-logged-models.png`, fullPage: true });
  assert.deepEqual(seen.failed, []);
  assert.deepEqual(seen.console, []);
  await page.close();
});
