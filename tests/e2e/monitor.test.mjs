// Monitoring, end to end (issue 17's "done when"), with the walkthrough of
// docs/monitoring.md and its programs (examples/monitoring/):
//
// a scikit-learn churn model is trained as a tracked run, registered with
// the profile of its validation data, and promoted through a gate; alert
// rules and a signed webhook to examples/monitoring/receiver.py are set;
// twelve hours of served traffic whose customers shift halfway are logged.
// Exactly the six shifted windows must fire an alert, each once; each alert
// must reach the receiver with a signature it verifies (a forged POST it
// must refuse); the receiver must start one retraining (retrain.sh), which
// registers version 2 and promotes it through the gate.  The model page
// must show the drift heatmap with the alerts, the quality against the
// training metric, the open alerts and the webhook deliveries.
//
// mltrackd runs with a 2 s grace (tests/run-e2e.sh), and the windows are
// the default hour, in the past.  Run by tests/run-e2e.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, openPage } from './browser.mjs';
import { client, cliEnv as baseEnv, runCommand } from './seed.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EX = join(ROOT, 'examples', 'monitoring');
const BASE = process.env.MLTRACK_E2E_URL;
const CLI = process.env.MLTRACK_CLI;
const SCREENS = process.env.MLTRACK_E2E_SCREENS || 'build/e2e-screens';
const ORIGIN = new URL(BASE).origin;
const MLF = '/api/2.0/mlflow/';
const EXT = '/api/2.0/mltrack/';
const NAME = 'churn-e2e';
const HOUR = 3600 * 1000;
const RULES = ['drift.psi(age) < 0.2', 'live.accuracy >= champion.metrics.val_acc - 0.1'];
const SECRET = `e2e-${process.pid}-${Date.now()}`;

let browser, context, work, receiver, receiverPort, py;
const lines = []; // the receiver's JSON lines
const problems = [];
const foreign = [];
const c = client(BASE);

before(async () => {
  mkdirSync(SCREENS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'mltrack-e2e-monitor-'));
  ({ browser, context } = await launch(ORIGIN, foreign));
});

after(async () => {
  if (receiver && receiver.exitCode === null) receiver.kill('SIGINT');
  if (browser) await browser.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// The CLI's environment: this server, a spool and HOME of the test's own,
// mltrack on PATH (retrain.sh calls it), the Python with scikit-learn.
const cliEnv = (extra = {}) => baseEnv(BASE, work, { PATH: `${dirname(CLI)}:${process.env.PATH}`, PYTHON: py, ...extra });

async function run(cmd, args, { input, timeout = 120e3 } = {}) {
  const r = await runCommand(cmd, args, { cwd: work, env: cliEnv(), input, timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const mltrack = (...args) => run(CLI, args);

async function until(what, fn, timeout = 60e3) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const open = (path) => openPage(context, BASE, path, problems);
const shot = (page, name) => page.screenshot({ path: `${SCREENS}/${name}.png`, fullPage: true });

function startReceiver() {
  receiver = spawn(py, [join(EX, 'receiver.py'), '--port', '0', '--on-alert', `sh '${join(EX, 'retrain.sh')}' '${join(work, 'retrain')}'`],
    { cwd: work, env: cliEnv({ MLTRACK_WEBHOOK_SECRET: SECRET }), stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '', err = '';
  receiver.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    receiver.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = line.match(/^listening on (\d+)$/);
        if (m) resolve(Number(m[1]));
        else if (line.startsWith('{')) lines.push(JSON.parse(line));
      }
    });
    receiver.on('exit', (code) => reject(new Error(`receiver.py exited ${code}: ${err}`)));
  });
}

test('a drifting scikit-learn model alerts once per breached window, the receiver retrains it through the gate, the model page shows it', async () => {
  py = ['/usr/bin/python3', 'python3'].find((x) => spawnSync(x, ['-c', 'import sklearn, joblib']).status === 0);
  assert.ok(py, 'scikit-learn is missing: install Debian\'s python3-sklearn (sh tools/deps.sh does)');

  // 1. Train as a tracked run; register with the reference profile; gate;
  //    promote.
  await run(py, [join(EX, 'churn.py'), 'data', '--rows', '4000', '--seed', '1', '--out', 'train.csv']);
  await mltrack('run', '-q', '-e', NAME, '-n', 'first', '--run-id-file', 'run_id', '--', py, join(EX, 'churn.py'), 'train', '--data', 'train.csv', '--out', 'out');
  const runId = (await run('cat', ['run_id'])).trim();
  const v1 = (await mltrack('model', 'register', NAME, '--run', runId, '--from', 'out/model', '--reference', 'out/reference.csv',
    '--target', 'churned', '--prediction', 'predicted')).trim();
  assert.equal(v1, '1');
  const valAcc = (await c.get(`${MLF}runs/get`, { run_id: runId })).run.data.metrics.find((m) => m.key === 'val_acc').value;
  assert.ok(valAcc > 0.8, `val_acc ${valAcc}`);
  await mltrack('gate', 'set', NAME, '--to', 'production', '--rule', 'metrics.val_acc >= 0.75');
  await mltrack('model', 'promote', NAME, v1, '--to', 'production');
  await mltrack('monitor', 'rules', NAME, '--rule', RULES[0], '--rule', RULES[1]);

  // 2. The receiver, and a webhook to it for alerts and stage changes.
  receiverPort = await startReceiver();
  const url = `http://127.0.0.1:${receiverPort}/hooks/mltrack`;
  await run(CLI, ['webhooks', 'create', `${NAME}-retrain`, '--url', url, '--event', 'monitor_alert.fired',
    '--event', 'model_version_stage.set', '--event', 'model_version_stage.refused', '--secret-stdin'], { input: `${SECRET}\n` });
  // A forged POST (a wrong secret) is refused and starts nothing.
  const body = JSON.stringify({ entity: 'monitor_alert', action: 'fired', data: { name: NAME, version: '1' } });
  const ts = String(Math.floor(Date.now() / 1000));
  const forged = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json',
    'X-MLflow-Delivery-Id': 'forged-1', 'X-MLflow-Timestamp': ts, 'X-MLflow-Signature': 'v1,AAAA' } });
  assert.equal(forged.status, 401);

  // 3. Twelve hours of traffic, the last six from the shifted population.
  const now = Date.now();
  await run(py, [join(EX, 'churn.py'), 'serve', '--model', 'out/model', '--hours', '12', '--drift-from', '6', '--rows', '400',
    '--now', String(now), '--out', 'served.jsonl']);
  await mltrack('monitor', 'log', `${NAME}@production`, '--file', 'served.jsonl');
  const first = (Math.floor(now / HOUR) - 12) * HOUR;
  const starts = Array.from({ length: 12 }, (_, k) => first + k * HOUR);

  // 4. Every window closes; exactly the six shifted ones fire, each once.
  const windows = await until('the twelve windows to close', async () => {
    const ws = (await c.get(`${EXT}monitor/get`, { name: NAME, version: '1' })).windows;
    return ws.length === 12 && ws.every((w) => w.closed_at) ? ws : null;
  });
  assert.deepEqual(windows.map((w) => w.start).sort(), starts);
  await new Promise((r) => setTimeout(r, 3000)); // time for anything that would fire twice
  const alerts = (await c.get(`${EXT}monitor/alerts/list`, { name: NAME, version: '1', include_acknowledged: 'true' })).alerts;
  assert.deepEqual(alerts.map((a) => a.window_start).sort(), starts.slice(6));
  for (const a of alerts) assert.ok(a.failed.includes(RULES[0]), JSON.stringify(a.failed));
  for (const w of windows) assert.equal(!!w.alert, w.start >= starts[6], `window ${w.start}`);

  // 5. Each alert reached the receiver, signed: verified once per
  //    delivery id; one retraining started for version 1.
  const fired = await until('six verified alert deliveries', () => {
    const got = lines.filter((l) => l.event === 'monitor_alert.fired' && l.verified);
    return new Set(got.map((l) => l.delivery_id)).size >= 6 ? got : null;
  }, 30e3);
  assert.equal(new Set(fired.map((l) => l.delivery_id)).size, 6);
  assert.deepEqual(lines.filter((l) => l.verified === false).map((l) => l.delivery_id), ['forged-1']);
  assert.equal(fired.filter((l) => l.outcome === 'job started').length, 1);
  assert.equal(fired.filter((l) => l.outcome === 'job already started').length, fired.length - 1);

  // 6. The job retrained, registered version 2 and the gate let it into
  //    Production; the receiver heard of that too.
  const job = await until('the retraining job', () => lines.find((l) => l.job), 180e3);
  assert.equal(job.exit_code, 0, job.output);
  const v2 = (await c.get(`${MLF}model-versions/get`, { name: NAME, version: '2' })).model_version;
  assert.equal(v2.current_stage, 'Production');
  assert.equal((await c.get(`${MLF}model-versions/get`, { name: NAME, version: '1' })).model_version.current_stage, 'Archived');
  const trail = (await c.get(`${EXT}model-versions/transitions`, { name: NAME })).transitions;
  const promo = trail.find((t) => t.version === '2' && t.to_stage === 'Production');
  assert.equal(promo.outcome, 'allowed');
  assert.ok(promo.report.passed);
  await until('the stage change at the receiver', () => lines.find((l) => l.event === 'model_version_stage.set' && l.version === '2' && l.verified), 30e3);

  // 7. The model page: version 1's monitoring, as the one that was deployed.
  const page = await open(`/models/${NAME}?monitor=1`);
  const heat = page.locator('[data-testid=drift-heatmap]');
  await heat.waitFor();
  assert.equal(await page.locator('[data-testid=monitor-versions] button[aria-pressed=true]').getAttribute('data-version'), '1');
  assert.deepEqual(await heat.locator('tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.feature)),
    ['age', 'monthly_spend', 'plan', 'tenure_months', 'predicted', 'churned']);
  const checks = await heat.locator('thead th.heat-check').evaluateAll((ths) => ths.map((t) => [Number(t.dataset.start), t.dataset.check]));
  assert.deepEqual(checks, starts.map((s, k) => [s, k >= 6 ? 'alert' : 'passed']));
  const age = await heat.locator('tr[data-feature=age] td').evaluateAll((tds) => tds.map((t) => t.dataset.level));
  assert.deepEqual(age, starts.map((s, k) => (k >= 6 ? 'bad' : 'ok')));
  // The selected window is the newest with an alert: its report is shown.
  const detail = page.locator('[data-testid=window-detail] .win-detail');
  assert.equal(await detail.getAttribute('data-start'), String(starts[11]));
  assert.match(await detail.textContent(), /drift\.psi\(age\) < 0\.2/);
  // Another window, by its head: the first, which passed.
  await heat.locator('thead th.heat-check').first().locator('button').click();
  assert.equal(await detail.getAttribute('data-start'), String(starts[0]));
  assert.equal(await detail.getAttribute('data-check'), 'passed');
  // Quality against the training metric named in the rule.
  assert.match(await page.locator('[data-testid=quality-caption]').textContent(), /live accuracy .*val_acc/);
  assert.equal(await page.locator('[data-testid=quality] .uplot').count(), 1);
  // The open alerts (six, of version 1) and the deliveries (six alerts
  // and the stage changes, delivered).
  assert.equal(await page.locator('[data-testid=alerts] tbody tr').count(), 6);
  assert.match(await page.locator('[data-testid=version-open-alerts]').textContent(), /^6 open alerts of this version$/);
  const dl = page.locator('[data-testid=deliveries-table]');
  await dl.waitFor();
  assert.equal(await dl.locator('tbody tr[data-event="monitor_alert.fired"][data-state=DELIVERED]').count(), 6);
  assert.equal(await dl.locator('tbody tr[data-event="model_version_stage.set"][data-version="2"]').count(), 1);
  await shot(page, '25-model-monitoring');
  // Coloured by KS: categories have none (grey), numbers do.
  await page.locator('.heat-stat select').selectOption('ks');
  await page.locator('[data-testid=drift-heatmap][data-stat=ks]').waitFor();
  assert.deepEqual(await heat.locator('tr[data-feature=plan] td').evaluateAll((tds) => [...new Set(tds.map((t) => t.dataset.level))]), ['none']);
  assert.equal(await heat.locator('tr[data-feature=age] td[data-level=bad]').count(), 6);

  // Without ?monitor the page shows the deployed version: now version 2,
  // with no traffic yet.
  await page.goto(`${BASE}/models/${NAME}`);
  await page.locator('[data-testid=monitor-facts]').waitFor();
  assert.equal(await page.locator('[data-testid=monitor-versions] button[aria-pressed=true]').getAttribute('data-version'), '2');
  assert.match(await page.locator('[data-testid=monitoring]').textContent(), /No observations yet/);
  await page.close();
});

test('no console errors, no foreign requests', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
});
