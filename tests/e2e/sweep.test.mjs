// The sweep page and nested runs, end to end: a real `mltrack sweep`
// (MLTRACK_CLI) of a small shell script runs against the live mltrackd
// (MLTRACK_E2E_URL) while the parent's page is open in Chromium; the trials
// table must fill in without a reload, and once the sweep has ended the
// highlighted best trial must be the one the parent's mltrack.sweep.best_run
// names.  Then the experiment's runs table must nest the trials under the
// parent.  Run by tests/run-e2e.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, openPage } from './browser.mjs';
import { client, cliEnv as baseEnv, runCommand } from './seed.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BASE = process.env.MLTRACK_E2E_URL;
const CLI = process.env.MLTRACK_CLI;
const SCREENS = process.env.MLTRACK_E2E_SCREENS || 'build/e2e-screens';
const ORIGIN = new URL(BASE).origin;
const MLF = '/api/2.0/mlflow/';
const EXP = 'sweep-e2e';
const TRIALS = 8;

// The trial: four steps of half a second, an accuracy that depends on
// --lr (best at 0.01) and --opt (adam a little better).
const TRIAL_SH = `#!/bin/sh
while [ $# -gt 0 ]; do
	case "$1" in
	--lr) lr=$2; shift ;;
	--opt) opt=$2; shift ;;
	esac
	shift
done
for step in 1 2 3 4; do
	sleep 0.5
	echo "step: $step"
	awk -v lr="$lr" -v o="$opt" -v s="$step" 'BEGIN { l = log(lr) / log(10) + 2; b = (o == "adam") ? 0.03 : 0; printf "acc: %.4f\\n", 0.9 - 0.1 * l * l + b + 0.01 * s }'
done
`;

let browser, context, work, sweep, parentId, sweepDone;
const problems = [];
const foreign = [];
const c = client(BASE);

before(async () => {
  mkdirSync(SCREENS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'mltrack-e2e-sweep-'));
  writeFileSync(join(work, 'trial.sh'), TRIAL_SH, { mode: 0o755 });
  ({ browser, context } = await launch(ORIGIN, foreign));
});

after(async () => {
  if (sweep && sweep.exitCode === null) sweep.kill('SIGTERM');
  if (sweepDone) await sweepDone.catch(() => {});
  if (browser) await browser.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// A poll cut short by leaving the page is not a failure (openPage).
const open = (path) => openPage(context, BASE, path, problems);

const shot = (page, name) => page.screenshot({ path: `${SCREENS}/${name}.png`, fullPage: true });

// Starts the sweep; resolves with the parent's id once the sweep has said it
// (its first line on stderr).
// The CLI's environment: this server, a spool and HOME of the test's own.
const cliEnv = () => baseEnv(BASE, work);

function startSweep() {
  const env = cliEnv();
  sweep = spawn(CLI, ['sweep', '-e', EXP, '-n', 'e2e-sweep', '--parallel', '2', '--seed', '5',
    '--objective', 'metrics.acc', '--maximize', '--',
    './trial.sh', '--lr', '[0.0001,0.001,0.01,0.1]', '--opt', '[sgd,adam]'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  sweep.stdout.on('data', (d) => { out += d; });
  sweepDone = new Promise((resolve, reject) => {
    sweep.on('error', reject);
    sweep.on('exit', (code) => resolve({ code, out, err }));
  });
  return new Promise((resolve, reject) => {
    sweep.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/sweep ([0-9a-f]{32}): /);
      if (m) resolve(m[1]);
    });
    sweepDone.then((r) => reject(new Error(`the sweep ended (${r.code}) before it said its parent: ${r.err}`)), reject);
  });
}

const rowsOf = (page) => page.locator('[data-testid=sweep-trials] tbody tr');

test('the sweep page fills in live while the sweep runs, and highlights its best trial', async () => {
  assert.ok(CLI, 'MLTRACK_CLI is set');
  parentId = await startSweep();
  const page = await open(`/runs/${parentId}`);
  await page.locator('[data-testid=sweep][data-ready="1"]').waitFor();
  assert.equal(await page.locator('[data-testid=sweep]').getAttribute('data-parent-status'), 'RUNNING');
  assert.match(await page.locator('[data-testid=sweep-summary]').textContent(), /live/);
  // Every planned trial has a row from the start (sweep/plan.json); those
  // not started yet are pending.
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=sweep-trials] tbody tr').length === n, TRIALS);
  const finishedAtFirst = Number(await page.locator('[data-testid=sweep-summary]').getAttribute('data-finished'));
  const withRunAtFirst = await page.locator('[data-testid=sweep-trials] tbody tr[data-run-id]').count();
  assert.ok(finishedAtFirst < TRIALS - 2, `the page opened while trials were left to run (${finishedAtFirst} finished)`);
  assert.ok(await page.locator('[data-testid=sweep-trials] tbody tr[data-status=PENDING]').count() > 0, 'pending trials shown');
  // Watch the rows change in place: no reload (the marker stays), and a
  // row that was RUNNING becomes FINISHED as the same element.
  await page.evaluate(() => {
    window.__noReload = true;
    window.__changes = [];
    window.__added = 0;
    const body = document.querySelector('[data-testid=sweep-trials] tbody');
    new MutationObserver((ms) => {
      for (const m of ms) {
        if (m.type === 'attributes') window.__changes.push(`${m.target.dataset.trial}:${m.oldValue}->${m.target.dataset.status}`);
      }
    }).observe(body, { attributes: true, attributeFilter: ['data-status'], attributeOldValue: true, subtree: true });
  });
  await shot(page, '20-sweep-running');
  // A link of a trial that has not finished keeps the focus while its row
  // is redrawn and moved.
  const focusTrial = await (await page.waitForFunction(() => {
    const a = document.querySelector('[data-testid=sweep-trials] tbody tr[data-status=RUNNING] [data-col=run] a');
    if (!a) return null;
    a.focus();
    return a.closest('tr').dataset.trial;
  })).jsonValue();
  const trialsScroll = await page.evaluate(() => {
    const s = document.querySelector('.sweep-table');
    s.scrollTop = 40;
    window.scrollTo(0, 200);
    return s.scrollTop;
  });

  const done = await sweepDone;
  assert.equal(done.code, 0, `the sweep failed: ${done.err}`);
  // The page sees the end by itself.
  await page.locator('[data-testid=sweep][data-parent-status=FINISHED]').waitFor({ timeout: 15000 });
  await page.waitForFunction((n) => document.querySelector('[data-testid=sweep-summary]')?.dataset.finished === String(n), TRIALS);
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the page was not reloaded');
  const changes = await page.evaluate(() => window.__changes);
  assert.ok(changes.some((x) => /:RUNNING->FINISHED$/.test(x)), `a running row became finished in place: ${changes}`);
  assert.ok(changes.some((x) => /:PENDING->(RUNNING|FINISHED)$/.test(x)), `a pending row started in place: ${changes}`);
  assert.ok(await page.locator('[data-testid=sweep-trials] tbody tr[data-run-id]').count() > withRunAtFirst, 'rows gained their runs live');
  assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.trial), focusTrial, 'the focus stayed on the trial');
  // Scrolled positions survive the updates.
  assert.equal(await page.evaluate(() => document.querySelector('.sweep-table').scrollTop), trialsScroll);
  assert.equal(await page.evaluate(() => window.scrollY), 200);

  // The best, as the parent's tag names it.
  const parent = (await c.get(`${MLF}runs/get`, { run_id: parentId })).run;
  const tags = Object.fromEntries(parent.data.tags.map((t) => [t.key, t.value]));
  const bestRun = tags['mltrack.sweep.best_run'];
  assert.match(bestRun || '', /^[0-9a-f]{32}$/);
  const kids = (await c.post(`${MLF}runs/search`, { experiment_ids: [parent.info.experiment_id],
    filter: `tags.mlflow.parentRunId = '${parentId}'`, max_results: 100 })).runs;
  assert.equal(kids.length, TRIALS);
  const accOf = (r) => r.data.metrics.find((m) => m.key === 'acc').value;
  const maxAcc = Math.max(...kids.map(accOf));
  assert.equal(accOf(kids.find((r) => r.info.run_id === bestRun)), maxAcc);

  const best = page.locator('[data-testid=sweep-trials] tbody tr.best');
  assert.equal(await best.count(), 1);
  assert.equal(await best.getAttribute('data-run-id'), bestRun);
  assert.equal(await best.getAttribute('data-trial'), tags['mltrack.sweep.best_trial']);
  assert.equal(Number(await best.locator('[data-col=objective]').textContent()), maxAcc);
  assert.equal(await page.locator('[data-testid=sweep-best]').getAttribute('data-best-run'), bestRun);
  // Sorted best first by default: the best row is the first.
  assert.equal(await rowsOf(page).first().getAttribute('data-run-id'), bestRun);
  const objectives = (await page.locator('[data-testid=sweep-trials] tbody [data-col=objective]').allTextContents()).map(Number);
  assert.deepEqual(objectives, [...objectives].sort((a, b) => b - a));
  assert.equal(objectives.length, TRIALS);

  // Parallel coordinates: one line per finished trial, the best drawn
  // highlighted; lr spans 3 decades (a log axis), opt is categorical.
  const pc = page.locator('[data-testid=sweep-parallel]');
  assert.equal(await pc.getAttribute('data-lines'), String(TRIALS));
  assert.equal(await pc.locator('path.pc-line').count(), TRIALS);
  assert.equal(await pc.locator('path.pc-line.best').getAttribute('data-run-id'), bestRun);
  assert.equal(await pc.getAttribute('data-best-run'), bestRun);
  assert.ok(await pc.locator('text', { hasText: 'lr (log)' }).count() === 1, 'lr on a log axis');
  assert.ok(await pc.locator('text', { hasText: 'adam' }).count() >= 1, 'opt on a categorical axis');
  // The objective against each parameter, and over time.
  assert.equal(await page.locator('[data-testid=sweep-scatters] svg').count(), 2);
  assert.equal(await page.locator('[data-testid=sweep-scatters] svg[data-param=lr] circle').count(), TRIALS);
  assert.equal(await page.locator('[data-testid=sweep-scatters] circle.best').count(), 2);
  assert.equal(await page.locator('[data-testid=sweep-time]').getAttribute('data-points'), String(TRIALS));
  assert.equal(await page.locator('[data-testid=sweep-time] .uplot').count(), 1);
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, '21-sweep-finished');
  const text = await page.evaluate(() => document.querySelector('[data-testid=sweep]').innerText);
  assert.doesNotMatch(text, /\b(null|undefined|NaN)\b|\[object Object\]/);

  // Sorting with the keyboard: worst first, then by trial number.
  await page.locator('th button[data-col=objective]').focus();
  await page.keyboard.press('Enter');
  assert.equal(Number(await rowsOf(page).first().locator('[data-col=objective]').textContent()), Math.min(...kids.map(accOf)));
  assert.equal(await page.locator('th[aria-sort=ascending] button[data-col=objective]').count(), 1);
  await page.keyboard.press('Enter'); // the button kept the focus: best first again
  assert.equal(await rowsOf(page).first().getAttribute('data-run-id'), bestRun);
  await page.locator('th button[data-col=trial]').focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await page.locator('[data-testid=sweep-trials] tbody [data-col=trial]').evaluateAll((els) => els.map((e) => e.firstChild.textContent)),
    Array.from({ length: TRIALS }, (_, i) => String(i)));
  // The run's own details are still there, its tags updated live (the
  // best_* tags came at the end).
  await page.getByRole('heading', { name: 'Parameters' }).waitFor();
  await page.locator('[data-testid=run-tags] td', { hasText: /^mltrack\.sweep\.best_run$/ }).waitFor();
  // A trial's page links back to the sweep.
  await rowsOf(page).first().locator('[data-col=run] a').click();
  const back = page.locator('[data-testid=parent-run]');
  await back.waitFor();
  assert.equal(await back.getAttribute('href'), `/runs/${parentId}`);
  assert.match(await back.locator('..').textContent(), /^trial 0 of the sweep /);
  await page.close();
});

test('the experiment table nests the trials under the parent, collapsed', async () => {
  assert.ok(parentId, 'the sweep ran');
  const parent = (await c.get(`${MLF}runs/get`, { run_id: parentId })).run;
  const page = await open(`/experiments/${parent.info.experiment_id}`);
  await page.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  const prow = page.locator(`.runs-row[data-run-id="${parentId}"]`);
  assert.equal(await prow.getAttribute('data-depth'), '0');
  assert.equal(await page.locator('.runs-row').count(), 1, 'collapsed: only the parent');
  const toggle = prow.locator('button.twisty');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.match(await toggle.textContent(), new RegExp(`\\b${TRIALS}$`));
  await toggle.click();
  await page.waitForFunction((n) => document.querySelectorAll('.runs-row.child').length === n, TRIALS);
  assert.equal(await page.locator(`.runs-row[data-parent-id="${parentId}"][data-depth="1"]`).count(), TRIALS);
  assert.equal(await prow.locator('button.twisty').getAttribute('aria-expanded'), 'true');
  // Children come right after their parent.
  const order = await page.locator('.runs-row').evaluateAll((els) => els.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top))
    .map((e) => e.dataset.depth));
  assert.deepEqual(order, ['0', ...Array(TRIALS).fill('1')]);
  // Child rows can be selected for the compare view.
  const kids = page.locator('.runs-row.child input[type=checkbox]');
  await kids.nth(0).check();
  await kids.nth(1).check();
  const compare = page.getByRole('button', { name: 'Compare 2 runs' });
  assert.equal(await compare.isEnabled(), true);
  await shot(page, '22-experiment-nested');
  // Collapse with the keyboard: focus stays on the toggle.
  await prow.locator('button.twisty').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row.child').length === 0);
  assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('twisty')), true);
  assert.equal(await page.locator('.runs-row').count(), 1);
  // Sorted by name: the nesting stays (children follow the sort, under the parent).
  await page.locator('.runs-head button[data-col=name]').click();
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 1);
  // Filtered so that the parent is left out: the matching trials at the top level.
  await page.fill('input.filter', "params.opt = 'adam'");
  await page.press('input.filter', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.runs-row').length === 4);
  assert.equal(await page.locator('.runs-row[data-depth="0"]').count(), 4);
  assert.equal(await page.locator(`.runs-row[data-parent-id="${parentId}"]`).count(), 4);
  await page.close();
});

// A large sweep, made through the API: 1,200 finished trials (more than one
// runs/search page) of a 1,300-trial plan, minimizing, and a best_run tag
// that names the second best (the tag wins once the sweep has ended).
const BIG = 1200, PLANNED = 1300;
test('a sweep of 1,200 trials: paged, drawn fast, the tagged best highlighted', async () => {
  const { experiment_id: exp } = await c.post(`${MLF}experiments/create`, { name: 'sweep-e2e-big' });
  const t0 = Date.now() - 3600e3;
  const tag = (key, value) => ({ key, value: String(value) });
  const { run: p } = await c.post(`${MLF}runs/create`, { experiment_id: exp, run_name: 'big-sweep', start_time: t0, tags: [
    tag('mltrack.sweep.total', PLANNED), tag('mltrack.sweep.seed', 1), tag('mltrack.sweep.objective', 'metrics.loss'),
    tag('mltrack.sweep.direction', 'minimize'), tag('mltrack.sweep.command', '["./train","--lr","loguniform(1e-5,1)","--layers","range(1,9)","--act","choice(relu,tanh,gelu)"]')] });
  const pid = p.info.run_id;
  const values = (i) => ({ lr: Number((10 ** (-5 + 5 * ((i * 7919) % PLANNED) / PLANNED)).toPrecision(6)), layers: 1 + (i % 8), act: ['relu', 'tanh', 'gelu'][i % 3] });
  const loss = (i) => { const v = values(i); return Math.abs(Math.log10(v.lr) + 2.5) + 0.1 * Math.abs(v.layers - 4) + (v.act === 'gelu' ? 0 : 0.05) + 0.001 * (i % 17); };
  const root = p.info.artifact_uri.replace('mlflow-artifacts:/', '');
  await c.put(`/api/2.0/mlflow-artifacts/artifacts/${root}/sweep/plan.json`, JSON.stringify({ seed: '1', axes: ['lr', 'layers', 'act'],
    trials: Array.from({ length: PLANNED }, (_, i) => ({ trial: i, values: values(i), args: [] })) }));
  const ids = new Array(BIG);
  const one = async (i) => {
    const start = t0 + i * 1000;
    const { run } = await c.post(`${MLF}runs/create`, { experiment_id: exp, run_name: `big-sweep-${i}`, start_time: start,
      tags: [tag('mlflow.parentRunId', pid), tag('mltrack.sweep.trial', i)] });
    const v = values(i);
    await c.post(`${MLF}runs/log-batch`, { run_id: run.info.run_id, params: Object.entries(v).map(([k, x]) => tag(k, x)),
      metrics: [{ key: 'loss', value: loss(i), step: 1, timestamp: start + 900 }] });
    await c.post(`${MLF}runs/update`, { run_id: run.info.run_id, status: 'FINISHED', end_time: start + 900 });
    ids[i] = run.info.run_id;
  };
  let next = 0;
  await Promise.all(Array.from({ length: 12 }, async () => { while (next < BIG) await one(next++); }));
  const ranked = [...Array(BIG).keys()].sort((a, b) => loss(a) - loss(b));
  const tagged = ranked[1]; // not the minimum: the tag names it
  for (const [k, v] of [['mltrack.sweep.best_run', ids[tagged]], ['mltrack.sweep.best_trial', tagged], ['mltrack.sweep.best_value', loss(tagged)]])
    await c.post(`${MLF}runs/set-tag`, { run_id: pid, key: k, value: String(v) });
  await c.post(`${MLF}runs/update`, { run_id: pid, status: 'FINISHED', end_time: t0 + BIG * 1000 + 2000 });

  const page = await open(`/runs/${pid}`);
  const t = Date.now();
  await page.locator('[data-testid=sweep][data-ready="1"]').waitFor();
  const ms = Date.now() - t;
  // Two runs/search pages of at most 1,000 runs.
  const searches = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/runs/search')).length);
  assert.ok(searches >= 2, `the children were asked for in pages (${searches} requests)`);
  assert.equal(await page.locator('[data-testid=sweep-summary]').getAttribute('data-finished'), String(BIG));
  assert.match(await page.locator('[data-testid=sweep-summary]').textContent(), new RegExp(`${PLANNED - BIG} pending`));
  // The table draws 1,000 rows, best (lowest loss) first, and all on demand.
  assert.equal(await rowsOf(page).count(), 1000);
  assert.equal(await rowsOf(page).first().getAttribute('data-run-id'), ids[ranked[0]]);
  assert.equal(await rowsOf(page).nth(1).getAttribute('data-run-id'), ids[tagged]);
  assert.equal(await rowsOf(page).nth(1).getAttribute('class'), 'best');
  assert.equal(await page.locator('[data-testid=sweep-trials] tr.best').getAttribute('data-run-id'), ids[tagged]);
  const pc = page.locator('[data-testid=sweep-parallel]');
  assert.equal(await pc.getAttribute('data-lines'), String(BIG));
  assert.equal(await pc.locator('path.pc-line').count(), BIG);
  assert.equal(await pc.locator('path.pc-line.best').getAttribute('data-run-id'), ids[tagged]);
  assert.ok(await pc.locator('text', { hasText: 'lr (log)' }).count() === 1, 'lr spans 5 decades: a log axis');
  assert.equal(await page.locator('[data-testid=sweep-scatters] svg').count(), 3);
  await shot(page, '23-sweep-big');
  await page.getByRole('button', { name: /Show all 1300 trials/ }).click();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=sweep-trials] tbody tr').length === n, PLANNED);
  assert.equal(await page.locator('[data-testid=sweep-trials] tbody tr[data-status=PENDING]').count(), PLANNED - BIG);
  assert.ok(ms < 8000, `the sweep of ${BIG} trials was drawn in ${ms} ms`);
  console.log(`# a sweep of ${BIG} trials drawn in ${ms} ms`);
  await page.close();
  // The same in the dark theme, for the screenshots.
  const dark = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'dark' });
  await dark.route('**/*', (route) => (new URL(route.request().url()).origin === ORIGIN ? route.continue() : route.abort()));
  const darkPage = await dark.newPage();
  await darkPage.goto(`${BASE}/runs/${pid}`);
  await darkPage.locator('[data-testid=sweep][data-ready="1"]').waitFor();
  await shot(darkPage, '23b-sweep-big-dark');
  await dark.close();

  // The runs table, newest first: the trials come before their parent (on
  // the last of its pages); the parent is fetched ahead and they are nested
  // from the first page on, the count growing as the pages load.
  const table = await open(`/experiments/${exp}`);
  await table.waitForFunction(() => document.querySelector('[data-testid=runs]')?.dataset.ready);
  const prow = table.locator(`.runs-row[data-run-id="${pid}"]`);
  assert.equal(await prow.getAttribute('data-depth'), '0');
  assert.equal(await table.locator('.runs-row').count(), 1);
  await table.waitForFunction((n) => /^\d+ of \d+ runs loaded/.test(document.querySelector('.runs-foot').textContent)
    && document.querySelector('.runs-foot').textContent.startsWith(`${n} of ${n} `), BIG + 1);
  assert.equal(await table.locator('.runs-row').count(), 1, 'every trial under the parent');
  assert.equal(await prow.getAttribute('data-children'), String(BIG));
  const tableSearches = await table.evaluate(() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/runs/search')).length);
  assert.ok(tableSearches <= 4, `200 + 1000 runs and the parent ahead: ${tableSearches} requests`);
  await prow.locator('button.twisty').click();
  await table.waitForFunction(() => document.querySelectorAll('.runs-row.child').length > 10);
  assert.ok(await table.locator('.runs-row').count() < 100, 'only the rows in view are drawn');
  assert.equal(await table.evaluate(() => parseFloat(document.querySelector('.runs-body').style.height)), (BIG + 1) * 30);
  await table.close();
});

// The "done when": a 24-trial sweep of a real scikit-learn script
// (examples/sklearn/train.py, Debian's python3-sklearn) with --parallel 2,
// shown on the dashboard, and `mltrack reproduce --check` of its best trial
// giving the same metrics.  tests/cli/test_sweep_sklearn.py checks the runs
// in depth; here the page must show all 24 finished trials and the best.
test('a 24-trial scikit-learn sweep, shown, and its best trial reproduced', async () => {
  const py = ['/usr/bin/python3', 'python3'].find((x) => spawnSync(x, ['-c', 'import sklearn']).status === 0);
  assert.ok(py, 'scikit-learn is missing: install Debian\'s python3-sklearn (sh tools/deps.sh does)');
  const repo = join(work, 'sk');
  mkdirSync(repo);
  copyFileSync(join(ROOT, 'examples', 'sklearn', 'train.py'), join(repo, 'train.py'));
  const git = (...args) => {
    const r = spawnSync('git', ['-c', 'user.name=e2e', '-c', 'user.email=e2e@example.com', ...args], { cwd: repo });
    assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  };
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'the example');
  const env = cliEnv();
  const r = await runCommand(CLI, ['sweep', '-e', 'sklearn-e2e', '-n', 'sklearn', '--parallel', '2', '--seed', '7', '--trials', '2',
    '--objective', 'metrics.val_acc', '--maximize', '--', py, 'train.py', '--max-depth', '[1,2,3]',
    '--subsample', '[0.5,0.7,0.85,1.0]', '--lr', 'loguniform(0.02,0.5)'], { cwd: repo, env, timeout: 240e3 });
  assert.equal(r.status, 0, `the sweep failed: ${r.stderr}`);
  const pid = String(r.stderr).match(/sweep ([0-9a-f]{32}): /)[1];
  const tags = Object.fromEntries((await c.get(`${MLF}runs/get`, { run_id: pid })).run.data.tags.map((t) => [t.key, t.value]));
  assert.equal(tags['mltrack.sweep.total'], '24');

  const page = await open(`/runs/${pid}`);
  await page.locator('[data-testid=sweep][data-ready="1"][data-parent-status=FINISHED]').waitFor();
  assert.equal(await page.locator('[data-testid=sweep-summary]').getAttribute('data-finished'), '24');
  assert.equal(await rowsOf(page).count(), 24);
  assert.equal(await page.locator('[data-testid=sweep-trials] tbody tr[data-status=FINISHED]').count(), 24);
  const best = page.locator('[data-testid=sweep-trials] tbody tr.best');
  assert.equal(await best.getAttribute('data-run-id'), tags['mltrack.sweep.best_run']);
  assert.equal(await rowsOf(page).first().getAttribute('data-run-id'), tags['mltrack.sweep.best_run']);
  assert.equal(Number(await best.locator('[data-col=objective]').textContent()), Number(tags['mltrack.sweep.best_value']));
  const pc = page.locator('[data-testid=sweep-parallel]');
  assert.equal(await pc.getAttribute('data-lines'), '24');
  assert.equal(await pc.locator('path.pc-line.best').getAttribute('data-run-id'), tags['mltrack.sweep.best_run']);
  await shot(page, '24-sweep-sklearn');
  await page.close();

  // Reproduce the best trial; --check fails unless every metric history
  // is the same.
  const rep = await runCommand(CLI, ['reproduce', tags['mltrack.sweep.best_run'], '-C', repo, '--check'], { cwd: work, env, timeout: 120e3 });
  assert.equal(rep.status, 0, `reproduce --check failed: ${rep.stderr}`);
  assert.match(String(rep.stderr), /check passed/);
  const again = (await c.post(`${MLF}runs/search`, { experiment_ids: [(await c.get(`${MLF}runs/get`, { run_id: pid })).run.info.experiment_id],
    filter: `tags.mltrack.reproduces = '${tags['mltrack.sweep.best_run']}'` })).runs;
  assert.equal(again.length, 1);
  const metric = (run) => Object.fromEntries(run.data.metrics.filter((m) => !/^(mltrack\.|system\/)/.test(m.key)).map((m) => [m.key, m.value]));
  const orig = (await c.get(`${MLF}runs/get`, { run_id: tags['mltrack.sweep.best_run'] })).run;
  assert.deepEqual(metric(again[0]), metric(orig));
  assert.equal(metric(orig).val_acc, Number(tags['mltrack.sweep.best_value']));
});

test('no console errors, no foreign requests', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
});
