// Debian's headless Chromium for the dashboard's end-to-end tests: the flags
// it needs here (root, no network), a context that lets requests reach the
// server under test only, and pages whose console is watched.  Not a test
// file itself: node --test runs *.test.mjs.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.MLTRACK_CHROMIUM || '/usr/bin/chromium';

// --no-sandbox: CI runs as root; the rest keep Chromium off the network,
// which is closed here (it would try, and log failures).
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-default-apps', '--disable-extensions',
  '--disable-features=Translate,OptimizationHints,MediaRouter', '--metrics-recording-only', '--mute-audio'];

// A browser and a 1280x900 context in which a request to anything but
// origin is aborted and its URL pushed to foreign.
export async function launch(origin, foreign) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  return { browser, context };
}

// A new page of context at base + path, whose console errors and warnings,
// page errors and failed requests to base's origin go to problems (a
// request cut short by leaving the page, ERR_ABORTED, is not a failure).
export async function openPage(context, base, path, problems) {
  const origin = new URL(base).origin;
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${path}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${path}: page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (new URL(r.url()).origin === origin && !/ERR_ABORTED/.test(r.failure()?.errorText || '')) problems.push(`${path}: request failed: ${r.url()}`);
  });
  await page.goto(base + path);
  return page;
}
