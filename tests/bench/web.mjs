// tests/bench/web.mjs BASE EXPERIMENT_ID RUN1,RUN2: dashboard timings in
// headless Chromium (tests/bench/web.sh).  Prints one JSON object.
// Each time is from navigation start to the page's own mark, set in the
// animation frame after it drew: mltrack:runs-drawn (the runs table's first
// rows) and mltrack:charts-drawn (every compare chart).
import { chromium } from 'playwright-core';

const [base, exp, runs] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-extensions'];
const browser = await chromium.launch({ executablePath: process.env.MLTRACK_CHROMIUM || '/usr/bin/chromium', args });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
page.on('pageerror', (e) => errors.push(e.message));

async function timeTo(url, mark) {
  await page.goto(base + url);
  await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, mark, { timeout: 60000, polling: 10 });
  return page.evaluate((m) => performance.getEntriesByName(m)[0].startTime, mark);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r1 = (x) => Math.round(x * 10) / 10;

// Warm the browser's own caches of the page's files once.
await timeTo('/', 'mltrack:none').catch(() => {});
await page.goto(base + '/');

const expTimes = [];
for (let i = 0; i < 6; i++) expTimes.push(await timeTo(`/experiments/${exp}`, 'mltrack:runs-drawn'));
expTimes.shift(); // the first load also fills the browser's module cache
const rowsShown = await page.locator('.runs-row').count();

// Scroll through all 10,000 rows (loading every page first), frame by frame.
await page.evaluate(async () => {
  const sc = document.querySelector('.runs-scroll');
  for (let i = 0; i < 200 && !/10000 of 10000/.test(document.querySelector('.runs-foot').textContent); i++) {
    sc.scrollTop = sc.scrollHeight;
    await new Promise((r) => setTimeout(r, 100));
  }
  sc.scrollTop = 0;
});
// Two ways through the table: jumps of 1/120 of its height per frame (a
// fling, every row new each frame), and a steady 60 px per frame from the
// middle (a wheel or a trackpad).  Frame times are rAF to rAF.
const scroll = await page.evaluate(async () => {
  const sc = document.querySelector('.runs-scroll');
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  async function run(n, at) {
    const times = [];
    await frame();
    let last = performance.now();
    for (let i = 0; i < n; i++) {
      sc.scrollTop = at(i);
      await frame();
      const now = performance.now();
      times.push(now - last);
      last = now;
    }
    times.sort((a, b) => a - b);
    return { worst: times[times.length - 1], p95: times[Math.floor(times.length * 0.95)], median: times[Math.floor(times.length / 2)] };
  }
  const fling = await run(120, (i) => (i * sc.scrollHeight) / 120);
  const mid = sc.scrollHeight / 2;
  const steady = await run(300, (i) => mid + i * 60);
  return { fling, steady, loaded: document.querySelector('.runs-foot').textContent };
});

const cold = await timeTo(`/compare?runs=${runs}`, 'mltrack:charts-drawn');
const points = await page.locator('.chart[data-metric=loss] .uplot').getAttribute('data-points');
const warm = [];
for (let i = 0; i < 5; i++) warm.push(await timeTo(`/compare?runs=${runs}`, 'mltrack:charts-drawn'));

await browser.close();
if (errors.length) { console.error(errors); process.exit(1); }
console.log(JSON.stringify({
  experiment_ms: r1(median(expTimes)), experiment_all_ms: expTimes.map(r1), rows_in_dom: rowsShown,
  scroll_fling_worst_ms: r1(scroll.fling.worst), scroll_fling_p95_ms: r1(scroll.fling.p95), scroll_fling_median_ms: r1(scroll.fling.median),
  scroll_steady_worst_ms: r1(scroll.steady.worst), scroll_steady_p95_ms: r1(scroll.steady.p95), scroll_steady_median_ms: r1(scroll.steady.median),
  scroll_loaded: scroll.loaded,
  compare_cold_ms: r1(cold), compare_warm_ms: r1(median(warm)), compare_warm_all_ms: warm.map(r1), compare_points_drawn: Number(points),
}));
