#!/usr/bin/env node
// Real-browser check of the Streamify live dashboard (headless Chromium via playwright-core).
//
// Usage:
//   node tests/browser/dashboard.mjs --url http://127.0.0.1:PORT --screenshot OUT.png \
//        [--user U --password P] [--expect-transaction TXID] [--timeout-ms 60000] [--viewport 1440x900]
//
// Chromium: $CHROMIUM, else /usr/bin/chromium (Debian's package); playwright-core downloads nothing.
// The timeout is one deadline for all the waits together.
// Prints one JSON line to stdout; exits 0 on success, 1 naming the failed check, 2 on bad usage.

import { chromium } from 'playwright-core';

const CARD_IDS = [
  'card-events-per-sec', 'card-revenue', 'card-orders', 'card-aov',
  'card-alerts', 'card-fraud-rate', 'card-conversion',
];
const HEALTH_IDS = [
  'health-epoch', 'health-lag', 'health-watermark',
  'health-dead-letters', 'health-late-events', 'health-last-checkpoint',
];
const CHART_IDS = [
  'chart-revenue', 'chart-alerts', 'chart-latency',
  'chart-category', 'chart-payment', 'chart-country',
];

function usage(msg) {
  if (msg) process.stderr.write(`dashboard.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node tests/browser/dashboard.mjs --url http://127.0.0.1:PORT --screenshot OUT.png ' +
    '[--user U --password P] [--expect-transaction TXID] [--timeout-ms 60000] [--viewport WxH]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { timeoutMs: 60000, viewport: { width: 1440, height: 900 } };
  const need = (i) => {
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i += 2) {
    const a = argv[i];
    switch (a) {
      case '--url': opts.url = need(i).replace(/\/+$/, ''); break;
      case '--screenshot': opts.screenshot = need(i); break;
      case '--user': opts.user = need(i); break;
      case '--password': opts.password = need(i); break;
      case '--expect-transaction': opts.expectTx = need(i); break;
      case '--timeout-ms': {
        const n = Number(need(i));
        if (!Number.isFinite(n) || n <= 0) usage('--timeout-ms must be a positive number');
        opts.timeoutMs = n;
        break;
      }
      case '--viewport': {
        const m = /^(\d+)x(\d+)$/.exec(need(i));
        if (!m) usage('--viewport must look like 1440x900');
        opts.viewport = { width: Number(m[1]), height: Number(m[2]) };
        break;
      }
      case '-h': case '--help': usage();
      // falls through (usage exits)
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!opts.url) usage('--url is required');
  if (!opts.screenshot) usage('--screenshot is required');
  if ((opts.user === undefined) !== (opts.password === undefined)) usage('--user and --password go together');
  return opts;
}

class CheckError extends Error {
  constructor(check, message) {
    super(message);
    this.check = check;
  }
}

const opts = parseArgs(process.argv.slice(2));
const origin = new URL(opts.url).origin;
const t0 = Date.now();
const deadline = t0 + opts.timeoutMs;
const timings = {};
const mark = (name) => { timings[name] = Date.now() - t0; };
const summary = {
  ok: false,
  url: `${opts.url}/dashboard/`,
  viewport: `${opts.viewport.width}x${opts.viewport.height}`,
  timings_ms: timings,
};

const pageErrors = [];
const failedRequests = [];
const consoleErrors = [];
let finishing = false;

function sameOrigin(u) {
  try { return new URL(u).origin === origin; } catch { return false; }
}

function assertClean() {
  if (pageErrors.length) throw new CheckError('page-errors', `JavaScript error on the page: ${pageErrors[0]}`);
  if (failedRequests.length) throw new CheckError('failed-requests', `same-origin request failed: ${failedRequests[0]}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` (async, returns a truthy result when done) until the shared deadline. */
async function waitFor(check, what, probe) {
  let last;
  for (;;) {
    assertClean();
    last = await probe();
    if (last && last.ok) return last;
    if (Date.now() >= deadline) {
      const detail = last && last.detail !== undefined ? `; last seen: ${JSON.stringify(last.detail)}` : '';
      throw new CheckError(check, `timed out after ${opts.timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(250);
  }
}

function attrSelectorValue(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

let browser;
let page;
let exitCode = 1;
try {
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  } catch (e) {
    throw new CheckError('launch', `could not start Chromium at ${executablePath}: ${e.message.split('\n')[0]}`);
  }
  const context = await browser.newContext({
    viewport: opts.viewport,
    httpCredentials: opts.user !== undefined ? { username: opts.user, password: opts.password } : undefined,
  });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack ? e.stack.split('\n')[0] : e)));
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('requestfailed', (req) => {
    if (finishing || !sameOrigin(req.url())) return;
    const f = req.failure();
    failedRequests.push(`${req.method()} ${req.url()}: ${f ? f.errorText : 'failed'}`);
  });
  page.on('response', (resp) => {
    if (finishing || !sameOrigin(resp.url())) return;
    const s = resp.status();
    // With credentials, the server's first 401 challenge is expected (the browser then retries).
    if (s >= 400 && !(s === 401 && opts.user !== undefined)) {
      failedRequests.push(`${resp.request().method()} ${resp.url()}: HTTP ${s}`);
    }
  });

  // 1. open the page
  let resp;
  try {
    resp = await page.goto(`${opts.url}/dashboard/`, { waitUntil: 'load', timeout: Math.max(1000, deadline - Date.now()) });
  } catch (e) {
    throw new CheckError('load', `could not open ${opts.url}/dashboard/: ${e.message.split('\n')[0]}`);
  }
  if (!resp || resp.status() !== 200) {
    throw new CheckError('load', `${opts.url}/dashboard/ answered HTTP ${resp ? resp.status() : 'nothing'}`);
  }
  mark('loaded');

  // 2. snapshots applied, cards, charts, changing numbers
  await waitFor('snapshots', 'body[data-snapshots] >= 2', async () => {
    const n = Number(await page.evaluate(() => document.body.dataset.snapshots));
    return { ok: n >= 2, detail: n };
  });
  mark('two_snapshots');

  const missing = await page.evaluate((ids) => ids.filter((id) => {
    const e = document.getElementById(id);
    return !e || !e.hasAttribute('data-value');
  }), [...CARD_IDS, ...HEALTH_IDS, 'as-of']);
  if (missing.length) {
    throw new CheckError('elements', `missing element or data-value attribute: ${missing.join(', ')}`);
  }

  const readValues = (ids) => page.evaluate((list) => {
    const out = {};
    for (const id of list) {
      const e = document.getElementById(id);
      out[id] = e ? e.getAttribute('data-value') : null;
    }
    return out;
  }, ids);

  await waitFor('cards-positive', 'card-events-per-sec and card-orders data-value > 0', async () => {
    const v = await readValues(['card-events-per-sec', 'card-orders']);
    const ok = Object.values(v).every((x) => x !== null && x !== '' && Number.isFinite(Number(x)) && Number(x) > 0);
    return { ok, detail: v };
  });
  mark('cards_positive');

  await waitFor('charts', 'every chart container to hold a uPlot canvas or bars', async () => {
    const state = await page.evaluate((ids) => {
      const out = {};
      for (const id of ids) {
        const e = document.getElementById(id);
        if (!e) { out[id] = 'missing'; continue; }
        const canvas = e.querySelector('.uplot canvas');
        const bars = e.querySelectorAll('.bar').length;
        out[id] = canvas && canvas.width > 0 ? 'canvas' : bars > 0 ? `bars:${bars}` : 'empty';
      }
      return out;
    }, CHART_IDS);
    const ok = Object.values(state).every((s) => s === 'canvas' || s.startsWith('bars:'));
    return { ok, detail: state };
  });
  mark('charts');
  summary.charts = (await page.evaluate((ids) => Object.fromEntries(ids.map((id) => {
    const e = document.getElementById(id);
    return [id, e.querySelector('.uplot canvas') ? 'canvas' : `${e.querySelectorAll('.bar').length} bars`];
  })), CHART_IDS));

  const WATCH = ['card-orders', 'health-epoch', 'as-of'];
  const first = await readValues(WATCH);
  summary.first = first;
  const changed = await waitFor('changing-numbers', `one of ${WATCH.join(', ')} to change from ${JSON.stringify(first)}`, async () => {
    const now = await readValues(WATCH);
    const diff = WATCH.filter((id) => now[id] !== first[id]);
    return { ok: diff.length > 0, detail: now, diff, now };
  });
  summary.changed = Object.fromEntries(changed.diff.map((id) => [id, changed.now[id]]));
  mark('numbers_changed');

  // 3. the expected transaction's alert and its detail panel
  if (opts.expectTx !== undefined) {
    const sel = `#alerts-body tr[data-transaction-id=${attrSelectorValue(opts.expectTx)}]`;
    await waitFor('expect-transaction', `an alert row for transaction ${opts.expectTx}`, async () => {
      const n = await page.locator(sel).count();
      return { ok: n > 0, detail: { rows: await page.locator('#alerts-body tr').count() } };
    });
    mark('transaction_row');
    const alertId = await page.locator(sel).first().getAttribute('data-alert-id');
    await page.locator(sel).first().click();
    const detail = await waitFor('alert-detail', 'the detail panel to open with at least one reason code', async () => {
      const d = await page.evaluate(() => {
        const dlg = document.getElementById('alert-detail');
        const visible = !!dlg && dlg.open && dlg.getBoundingClientRect().height > 0;
        const reasons = [...document.querySelectorAll('#alert-detail-reasons li.reason')]
          .map((li) => ({ code: li.dataset.code, points: li.dataset.points }));
        return { visible, tx: dlg ? dlg.dataset.transactionId : null, reasons };
      });
      return { ok: d.visible && d.reasons.length > 0, detail: d };
    });
    if (detail.detail.tx !== opts.expectTx) {
      throw new CheckError('alert-detail', `detail panel shows transaction ${detail.detail.tx}, expected ${opts.expectTx}`);
    }
    summary.transaction = { transaction_id: opts.expectTx, alert_id: alertId, reasons: detail.detail.reasons };
    await page.keyboard.press('Escape');
    await waitFor('alert-detail-close', 'Escape to close the detail panel', async () => {
      const open = await page.evaluate(() => document.getElementById('alert-detail').open);
      return { ok: !open, detail: { open } };
    });
    mark('transaction_detail');
  }

  // Give late errors (timers, the next snapshot) a moment to show up.
  await sleep(Math.min(1500, Math.max(0, deadline - Date.now())));
  assertClean();

  // 4. screenshot and summary
  summary.snapshots = Number(await page.evaluate(() => document.body.dataset.snapshots));
  summary.cards = await readValues(CARD_IDS);
  summary.health = await readValues(HEALTH_IDS);
  summary.as_of = (await readValues(['as-of']))['as-of'];
  summary.alert_rows = await page.locator('#alerts-body tr').count();
  summary.live_indicator = await page.evaluate(() => document.getElementById('live-indicator').dataset.state);
  try {
    await page.screenshot({ path: opts.screenshot, fullPage: true });
  } catch (e) {
    throw new CheckError('screenshot', `could not save ${opts.screenshot}: ${e.message.split('\n')[0]}`);
  }
  summary.screenshot = opts.screenshot;
  mark('total');
  summary.console_errors = consoleErrors.slice(0, 5);
  summary.ok = true;
  exitCode = 0;
} catch (e) {
  const check = e instanceof CheckError ? e.check : 'unexpected';
  summary.ok = false;
  summary.failed_check = check;
  summary.error = e.message;
  summary.page_errors = pageErrors.slice(0, 5);
  summary.failed_requests = failedRequests.slice(0, 5);
  summary.console_errors = consoleErrors.slice(0, 5);
  mark('total');
  if (page) {
    // Best effort: a picture of the failure helps.
    try {
      await page.screenshot({ path: opts.screenshot, fullPage: true, timeout: 5000 });
      summary.screenshot = opts.screenshot;
    } catch { /* ignore */ }
  }
  process.stderr.write(`FAIL [${check}]: ${e.message}\n`);
} finally {
  finishing = true;
  if (browser) await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(exitCode);
