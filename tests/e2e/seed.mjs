// Seed a live mltrackd through its HTTP API with what every dashboard page
// shows: experiments, runs (params, metrics, tags with git provenance, an
// output log, artifacts), one RUNNING run, and a registered model with
// versions, stages, an alias, a gate and transitions (one refused by it);
// and sparse data with every optional field absent.
//
//   node tests/e2e/seed.mjs http://127.0.0.1:PORT   (prints the ids as JSON)

import { execFileSync, spawn } from 'node:child_process';

const MLF = '/api/2.0/mlflow/';
const EXT = '/api/2.0/mltrack/';

// headers: sent with every request (an Authorization for a server with users).
export function client(base, { headers = {} } = {}) {
  async function call(method, path, body, { expect = [200] } = {}) {
    const res = await fetch(base + path, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!expect.includes(res.status)) throw new Error(`${method} ${path} -> ${res.status}: ${text}`);
    return text ? JSON.parse(text) : {};
  }
  return {
    call,
    post: (p, b, o) => call('POST', p, b, o),
    get: (p, q) => call('GET', p + (q ? `?${new URLSearchParams(q)}` : '')),
    async put(path, data) {
      const res = await fetch(base + path, { method: 'PUT', headers, body: data });
      if (!res.ok) throw new Error(`PUT ${path} -> ${res.status}: ${await res.text()}`);
    },
  };
}

// The environment a test runs the CLI in: the server at base, HOME and a
// spool under home, none of the caller's own MLFLOW_* or MLTRACK_* settings;
// then extra (a PATH, a secret the test hands over).
export function cliEnv(base, home, extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('MLFLOW_') || k.startsWith('MLTRACK_')) delete env[k];
  return { ...env, HOME: home, MLTRACK_TRACKING_URI: base, MLTRACK_SPOOL_DIR: `${home}/spool`, ...extra };
}

// Run a command to its end without blocking the event loop: {status,
// stdout, stderr} (strings).  A test that fetches must not use spawnSync
// for anything long: while the loop is blocked, fetch's idle keep-alive
// connections are not closed on time, and the next request goes out on one
// mltrackd has closed meanwhile ("fetch failed").
export function runCommand(cmd, args, { input, timeout = 120e3, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
    p.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    p.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
    p.stdin.end(input);
  });
}

export const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

// One run with a metric history of `steps` points per metric.
async function makeRun(c, expId, { name, params, tags, status, steps, start, loss0, log }) {
  const { run } = await c.post(`${MLF}runs/create`, {
    experiment_id: expId, run_name: name, start_time: start, user_id: 'ada',
    tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
  });
  const id = run.info.run_id;
  await c.post(`${MLF}runs/log-batch`, { run_id: id, params: Object.entries(params).map(([key, value]) => ({ key, value: String(value) })) });
  const metrics = [];
  for (let s = 0; s < steps; s++) {
    const ts = start + s * 1000;
    metrics.push({ key: 'loss', value: loss0 * Math.exp(-s / 30) + 0.02 * Math.sin(s), step: s, timestamp: ts });
    metrics.push({ key: 'accuracy', value: 1 - 0.9 * Math.exp(-s / (10 + 6 * loss0)), step: s, timestamp: ts });
  }
  for (let i = 0; i < metrics.length; i += 1000)
    await c.post(`${MLF}runs/log-batch`, { run_id: id, metrics: metrics.slice(i, i + 1000) });
  const root = run.info.artifact_uri.replace('mlflow-artifacts:/', '');
  if (log) await c.put(`/api/2.0/mlflow-artifacts/artifacts/${root}/mltrack/output.log`, log);
  await c.put(`/api/2.0/mlflow-artifacts/artifacts/${root}/config.yaml`, `lr: ${params.lr}\noptimizer: ${params.optimizer}\n`);
  await c.put(`/api/2.0/mlflow-artifacts/artifacts/${root}/model/weights.bin`, new Uint8Array(3000).fill(7));
  if (status !== 'RUNNING')
    await c.post(`${MLF}runs/update`, { run_id: id, status, end_time: start + steps * 1000 + 500 });
  return id;
}

export async function seed(base) {
  const c = client(base);
  const { experiment_id: exp } = await c.post(`${MLF}experiments/create`, { name: 'mnist-sweep' });
  const { experiment_id: empty } = await c.post(`${MLF}experiments/create`, { name: 'empty-experiment' });
  const git = (commit, dirty) => ({
    'mlflow.source.git.commit': commit, 'mlflow.source.git.branch': 'main',
    'mlflow.source.git.repoURL': 'https://git.example.org/ml/mnist.git', 'mltrack.git.dirty': dirty,
    'mlflow.source.name': 'train.py', 'mltrack.command': './train.py --lr 0.01',
  });
  // A log long enough that the run page shows its tail and "load earlier output".
  const lines = [];
  for (let i = 0; i < 6000; i++) lines.push(`epoch ${Math.floor(i / 100)} batch ${i % 100} loss: ${(1 / (i + 1)).toFixed(6)}`);
  lines.push('training finished: best accuracy 0.9731');
  const log = lines.join('\n') + '\n';
  const runA = await makeRun(c, exp, { name: 'baseline', params: { lr: 0.01, batch_size: 64, optimizer: 'sgd' },
    tags: git('a1b2c3d4e5f60718293a4b5c6d7e8f9012345678', 'false'), status: 'FINISHED', steps: 120, start: T0, loss0: 2.3, log });
  const runB = await makeRun(c, exp, { name: 'adam-fast', params: { lr: 0.001, batch_size: 64, optimizer: 'adam' },
    tags: git('b1b2c3d4e5f60718293a4b5c6d7e8f9012345678', 'true'), status: 'FINISHED', steps: 120, start: T0 + 3600e3, loss0: 2.0, log: 'adam run\nloss: 0.5\n' });
  const runC = await makeRun(c, exp, { name: 'diverged', params: { lr: 0.5, batch_size: 128, optimizer: 'sgd' },
    tags: git('c1b2c3d4e5f60718293a4b5c6d7e8f9012345678', 'false'), status: 'FAILED', steps: 20, start: T0 + 7200e3, loss0: 9.0, log: 'loss: nan\nTraceback (most recent call last):\nFloatingPointError\n' });
  const live = await makeRun(c, exp, { name: 'live-run', params: { lr: 0.005, batch_size: 32, optimizer: 'adam' },
    tags: git('d1b2c3d4e5f60718293a4b5c6d7e8f9012345678', 'false'), status: 'RUNNING', steps: 10, start: Date.now() - 60e3, loss0: 2.1, log: 'starting\n' });

  // The registry: model "mnist-classifier", versions from runs A and B.
  const name = 'mnist-classifier';
  await c.post(`${MLF}registered-models/create`, { name, description: 'Digit classifier from the mnist sweep' });
  const v1 = (await c.post(`${MLF}model-versions/create`, { name, source: `mlflow-artifacts:/${exp}/${runA}/artifacts/model`, run_id: runA })).model_version.version;
  const v2 = (await c.post(`${MLF}model-versions/create`, { name, source: `mlflow-artifacts:/${exp}/${runB}/artifacts/model`, run_id: runB })).model_version.version;
  await c.post(`${EXT}gates/set`, { name, stage: 'Production', rules: ['metrics.accuracy >= 0.999'] });
  await c.post(`${EXT}model-versions/transition-stage`, { name, version: v1, stage: 'Staging' });
  await c.post(`${EXT}model-versions/transition-stage`, { name, version: v2, stage: 'Production' }, { expect: [412] });
  await c.post(`${EXT}gates/set`, { name, stage: 'Production', rules: ['metrics.accuracy >= 0.98'] });
  await c.post(`${EXT}model-versions/transition-stage`, { name, version: v2, stage: 'Production' });
  await c.post(`${MLF}registered-models/alias`, { name, alias: 'champion', version: v2 });
  // A bundle version (digest, manifest) through the CLI, when it is there.
  let v3 = null;
  if (process.env.MLTRACK_CLI) {
    v3 = execFileSync(process.env.MLTRACK_CLI, ['-q', '--tracking-uri', base, 'model', 'register', name, '--run', runA,
      '-d', 'bundle of the baseline'], { encoding: 'utf8' }).trim();
    await c.post(`${MLF}registered-models/alias`, { name, alias: 'candidate', version: v3 });
  }

  // Sparse data: every optional field absent (no user, description, run,
  // params, metrics, tags, output log or artifacts), and a gate report whose
  // metric is missing (its "actual" is null).
  const { experiment_id: sparse } = await c.post(`${MLF}experiments/create`, { name: 'sparse-experiment' });
  const { run: bareRun } = await c.post(`${MLF}runs/create`, { experiment_id: sparse, start_time: T0 });
  const bare = bareRun.info.run_id;
  await c.post(`${MLF}runs/update`, { run_id: bare, status: 'FINISHED', end_time: T0 + 1500 });
  const bareModel = 'bare-model';
  await c.post(`${MLF}registered-models/create`, { name: bareModel });
  const bv1 = (await c.post(`${MLF}model-versions/create`, { name: bareModel, source: 's3://bucket/bare/model' })).model_version.version;
  await c.post(`${EXT}gates/set`, { name: bareModel, stage: 'Staging', rules: ['metrics.accuracy >= 0.9'] });
  await c.post(`${EXT}model-versions/transition-stage`, { name: bareModel, version: bv1, stage: 'Staging' }, { expect: [412] });

  return { exp, empty, runA, runB, runC, live, model: name, v1, v2, v3, sparse, bare, bareModel };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  seed(process.argv[2] || 'http://127.0.0.1:5301').then((ids) => console.log(JSON.stringify(ids)))
    .catch((e) => { console.error(e); process.exit(1); });
}
