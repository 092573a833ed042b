/* Streamify live dashboard.
 *
 * Plain ES2020 in a classic script (no modules, no build step), served by the
 * Rust server at /dashboard/app.js. Uses the vendored uPlot (global `uPlot`).
 *
 * Data: GET /api/v1/live (one snapshot) and GET /api/v1/live/stream (SSE,
 * `event: snapshot`, about once a second). When the stream errors the page
 * polls /api/v1/live every 2 s and tries the stream again every 15 s.
 *
 * For tests: every card / health value element has a stable id and a
 * `data-value` attribute with the raw (unformatted) value ("" when null);
 * `document.body.dataset.snapshots` counts the snapshots applied.
 */
(function () {
  'use strict';

  const LIVE_URL = '/api/v1/live';
  const STREAM_URL = '/api/v1/live/stream';
  const POLL_MS = 2000;
  const STREAM_RETRY_MS = 15000;
  const STALE_MS = 5000;
  // A stream that is open but silent for this long is treated as failed.
  const STREAM_SILENT_MS = 10000;
  const TOP_N = 10;
  const NEW_ROW_MS = 3200;
  const DASH = '\u2014';

  // ---------------------------------------------------------------- helpers

  const $ = (id) => document.getElementById(id);
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const arr = (v) => (Array.isArray(v) ? v : []);
  const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
  const str = (v) => (v === null || v === undefined ? '' : String(v));

  const nfInt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const nfMoney = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const nfPct = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const nfCompact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

  function fmtInt(v) { return isNum(v) ? nfInt.format(v) : DASH; }
  function fmtMoney(v) { return isNum(v) ? nfMoney.format(v) : DASH; }
  function fmtPct(ratio) { return isNum(ratio) ? nfPct.format(ratio * 100) + '%' : DASH; }
  function fmtRate(v) { return isNum(v) ? (Math.abs(v) >= 100 ? nfInt.format(v) : nf1.format(v)) : DASH; }
  function fmtUs(v) { return isNum(v) ? nfInt.format(v) + ' \u00b5s' : DASH; }
  function fmtCompact(v) { return isNum(v) ? nfCompact.format(v) : ''; }

  function fmtDuration(secs) {
    if (!isNum(secs)) return DASH;
    const neg = secs < 0;
    let s = Math.abs(secs);
    let out;
    if (s < 60) out = nf1.format(s) + ' s';
    else if (s < 3600) out = Math.floor(s / 60) + 'm ' + Math.floor(s % 60) + 's';
    else if (s < 86400) out = Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    else out = Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
    return neg ? '-' + out : out;
  }

  function parseTime(iso) {
    if (typeof iso !== 'string' || iso === '') return NaN;
    return Date.parse(iso);
  }

  function fmtTime(iso) {
    const t = parseTime(iso);
    if (!Number.isFinite(t)) return iso ? String(iso) : DASH;
    return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  function fmtDateTime(iso) {
    const t = parseTime(iso);
    if (!Number.isFinite(t)) return iso ? String(iso) : DASH;
    return new Date(t).toLocaleString([], {
      year: 'numeric', month: 'short', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
  }

  function pretty(key) {
    const s = str(key);
    return s === '' ? DASH : s.replace(/_/g, ' ');
  }

  function shortId(id) {
    const s = str(id);
    return s.length > 12 ? s.slice(0, 10) + '\u2026' : s || DASH;
  }

  function mk(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  /** Sets an element's text and its `data-value` (raw value, "" when null). */
  function setVal(id, raw, text, title) {
    const e = $(id);
    if (!e) return null;
    e.dataset.value = raw === null || raw === undefined ? '' : String(raw);
    e.textContent = text;
    if (title !== undefined) e.title = title || '';
    return e;
  }

  function setLevel(e, level) {
    if (!e) return;
    e.classList.toggle('warn', level === 'warn');
    e.classList.toggle('bad', level === 'bad');
  }

  /** "known_fraud:50,high_amount:30" -> [{code, points}]; points null when not a number. */
  function parseReasons(reasons) {
    if (typeof reasons !== 'string') return [];
    return reasons.split(',').map((p) => p.trim()).filter(Boolean).map((part) => {
      const i = part.lastIndexOf(':');
      if (i <= 0) return { code: part, points: null };
      const n = Number(part.slice(i + 1).trim());
      return { code: part.slice(0, i).trim(), points: Number.isFinite(n) ? n : null };
    });
  }

  const RISK_LEVELS = ['low', 'medium', 'high', 'critical'];
  function riskBadge(level) {
    const l = str(level).toLowerCase();
    const b = mk('span', 'badge' + (RISK_LEVELS.includes(l) ? ' risk-' + l : ''), level ? String(level) : DASH);
    return b;
  }

  /** Runs one render step; an error in it does not stop the others but still surfaces. */
  function guarded(name, fn) {
    try {
      fn();
    } catch (e) {
      console.error('dashboard: ' + name + ' failed', e);
      setTimeout(() => { throw e; }, 0);
    }
  }

  // ------------------------------------------------------------------ state

  const state = {
    paused: false,
    pending: null,          // newest snapshot received while paused
    current: null,          // snapshot on screen
    applied: 0,
    lastAsOf: NaN,          // as_of (ms) of the snapshot on screen
    lastReceivedAt: 0,      // browser clock, ms
    transport: 'none',      // 'stream' | 'poll' | 'none'
    es: null,
    streamOpenedAt: 0,
    pollTimer: null,
    pollInFlight: false,
    pollFailing: false,
    retryTimer: null,
    metric: 'revenue',
  };

  // ----------------------------------------------------------------- charts

  const AXIS = {
    stroke: '#8b97a6',
    grid: { stroke: 'rgba(139,151,166,0.12)', width: 1 },
    ticks: { stroke: 'rgba(139,151,166,0.25)', width: 1, size: 4 },
    font: '11px system-ui, sans-serif',
  };
  const charts = {}; // id -> { plot, el, height: fn }

  function chartWidth(el) {
    return Math.max(200, Math.floor(el.clientWidth || el.getBoundingClientRect().width || 300));
  }
  function narrow() { return window.innerWidth < 560; }

  function axisX() {
    return Object.assign({}, AXIS, { space: 60 });
  }
  // Tick steps for counts: whole numbers only.
  const INT_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5,
    1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8, 2e8, 5e8, 1e9];
  function axisY(scale, side, fmt, ints) {
    const a = Object.assign({}, AXIS, {
      scale: scale,
      side: side,
      size: 52,
      grid: side === 3 ? AXIS.grid : { show: false },
      values: (u, splits) => splits.map((v) => fmt(v)),
    });
    if (ints) a.incrs = INT_INCRS;
    return a;
  }
  /** Legend value: the hovered point, or the newest point when the cursor is elsewhere. */
  function lv(fmt) {
    return (u, v, sidx, idx) => {
      if (idx == null) {
        const d = u.data[sidx];
        v = d && d.length ? d[d.length - 1] : null;
      }
      return v == null ? DASH : fmt(v);
    };
  }
  const fmtX = (v) => fmtDateTime(new Date(v * 1000).toISOString());
  const fmtXTime = (v) => fmtTime(new Date(v * 1000).toISOString());
  const zeroBased = (u, min, max) => [0, max > 0 ? max * 1.1 : 1];
  // Time axes always span a fixed window ending at the newest point (one point alone would
  // otherwise be auto-ranged over years): the last hour of minutes, the last 10 min of latency.
  // The newest point is read from the data: uPlot widens a single point's range before calling.
  const lastSecs = (span, pad) => (u, min, max) => {
    const xs = u.data && u.data[0];
    const newest = xs && xs.length ? xs[xs.length - 1] : max;
    return newest == null ? [min, max] : [newest - span, newest + pad];
  };

  function makeChart(id, opts, heightFn) {
    const el = $(id);
    if (!el) return;
    if (typeof uPlot !== 'function') {
      el.textContent = 'Charts unavailable (uPlot did not load).';
      return;
    }
    const base = {
      width: chartWidth(el),
      height: heightFn(),
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { live: true },
    };
    const data = opts.series.map(() => []);
    const plot = new uPlot(Object.assign(base, opts), data, el);
    charts[id] = { plot, el, height: heightFn, w: base.width, h: base.height };
  }

  function initCharts() {
    makeChart('chart-revenue', {
      scales: { x: { time: true, range: lastSecs(3540, 60) }, rev: { range: zeroBased }, ord: { range: zeroBased } },
      series: [
        { label: 'Minute', value: lv(fmtX) },
        { label: 'Revenue', scale: 'rev', stroke: '#4da3ff', width: 2, fill: 'rgba(77,163,255,0.12)',
          value: lv(fmtMoney) },
        { label: 'Orders', scale: 'ord', stroke: '#3fb950', width: 2, value: lv(fmtInt) },
      ],
      axes: [axisX(), axisY('rev', 3, fmtCompact), axisY('ord', 1, fmtCompact, true)],
    }, () => (narrow() ? 200 : 260));

    const bars = typeof uPlot === 'function' && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined;
    makeChart('chart-alerts', {
      scales: { x: { time: true, range: lastSecs(3540, 60) }, y: { range: zeroBased } },
      series: [
        { label: 'Minute', value: lv(fmtX) },
        { label: 'Alerts', stroke: '#f0883e', fill: 'rgba(240,136,62,0.55)', width: 1, paths: bars,
          points: { show: false }, value: lv(fmtInt) },
      ],
      axes: [axisX(), axisY('y', 3, fmtCompact, true)],
    }, () => (narrow() ? 180 : 220));

    makeChart('chart-latency', {
      scales: { x: { time: true, range: lastSecs(600, 5) }, y: { range: zeroBased } },
      series: [
        { label: 'Time', value: lv(fmtXTime) },
        { label: 'p50', stroke: '#4da3ff', width: 2, value: lv(fmtUs) },
        { label: 'p99', stroke: '#f0883e', width: 2, value: lv(fmtUs) },
        { label: 'max', stroke: '#8b97a6', width: 1, dash: [4, 4], value: lv(fmtUs) },
      ],
      axes: [axisX(), axisY('y', 3, fmtCompact)],
    }, () => (narrow() ? 180 : 220));
  }

  function resizeCharts() {
    for (const id of Object.keys(charts)) {
      const c = charts[id];
      const w = chartWidth(c.el);
      const h = c.height();
      if (w !== c.w || h !== c.h) {
        c.w = w;
        c.h = h;
        c.plot.setSize({ width: w, height: h });
      }
    }
  }

  let resizeQueued = false;
  function queueResize() {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => { resizeQueued = false; resizeCharts(); });
  }

  function setChartData(id, data) {
    const c = charts[id];
    if (c) c.plot.setData(data);
  }

  function secs(iso) {
    const t = parseTime(iso);
    return Number.isFinite(t) ? t / 1000 : null;
  }
  const numOrNull = (v) => (isNum(v) ? v : null);
  // A number's element: its raw value in data-value, its text formatted.
  const showNum = (id, v, fmt) => setVal(id, numOrNull(v), fmt(v));

  function renderCharts(s) {
    const minutes = arr(s.minutes).filter((m) => m && secs(m.minute) !== null);
    minutes.sort((a, b) => secs(a.minute) - secs(b.minute));
    const mx = minutes.map((m) => secs(m.minute));
    setChartData('chart-revenue', [mx, minutes.map((m) => numOrNull(m.revenue)), minutes.map((m) => numOrNull(m.orders))]);
    setChartData('chart-alerts', [mx, minutes.map((m) => numOrNull(m.alerts))]);

    const lat = arr(s.latency).filter((p) => p && secs(p.at) !== null);
    lat.sort((a, b) => secs(a.at) - secs(b.at));
    setChartData('chart-latency', [
      lat.map((p) => secs(p.at)),
      lat.map((p) => numOrNull(p.p50_us)),
      lat.map((p) => numOrNull(p.p99_us)),
      lat.map((p) => numOrNull(p.max_us)),
    ]);
  }

  // ------------------------------------------------------------- breakdowns

  const BREAKDOWNS = [
    ['chart-category', 'by_category'],
    ['chart-payment', 'by_payment_method'],
    ['chart-country', 'by_country'],
  ];

  function renderBars(el, rows, metric) {
    const list = arr(rows).filter((r) => r && typeof r === 'object').slice();
    const val = (r) => (isNum(r[metric]) ? r[metric] : 0);
    list.sort((a, b) => val(b) - val(a) || (isNum(b.revenue) ? b.revenue : 0) - (isNum(a.revenue) ? a.revenue : 0));
    const top = list.slice(0, TOP_N);
    el.dataset.metric = metric;
    el.dataset.count = String(top.length);
    if (top.length === 0) {
      el.replaceChildren(mk('p', 'empty', 'No data in the last 60 minutes.'));
      return;
    }
    const max = Math.max(...top.map(val), 0);
    const frag = document.createDocumentFragment();
    for (const r of top) {
      const label = r.key === null || r.key === undefined || r.key === '' ? '(unknown)' : pretty(r.key);
      const row = mk('div', 'bar-row');
      row.dataset.key = str(r.key);
      const lab = mk('span', 'bar-label', label);
      lab.title = label;
      const track = mk('span', 'bar-track');
      const bar = mk('span', 'bar');
      bar.style.width = (max > 0 ? Math.max(0.5, (val(r) / max) * 100) : 0).toFixed(2) + '%';
      bar.dataset.value = String(val(r));
      track.appendChild(bar);
      const value = mk('span', 'bar-value');
      let main, sub;
      if (metric === 'revenue') {
        main = fmtMoney(r.revenue);
        sub = fmtInt(r.orders) + ' ord';
      } else if (metric === 'orders') {
        main = fmtInt(r.orders);
        sub = fmtMoney(r.revenue);
      } else {
        main = fmtInt(r.alerts);
        sub = isNum(r.orders) && r.orders > 0 && isNum(r.alerts) ? fmtPct(r.alerts / r.orders) : DASH;
      }
      value.append(main, mk('small', null, sub));
      row.title = label + ': revenue ' + fmtMoney(r.revenue) + ', orders ' + fmtInt(r.orders) + ', alerts ' + fmtInt(r.alerts);
      row.append(lab, track, value);
      frag.appendChild(row);
    }
    el.replaceChildren(frag);
  }

  function renderBreakdowns(s) {
    for (const [id, field] of BREAKDOWNS) {
      const el = $(id);
      if (el) renderBars(el, s[field], state.metric);
    }
  }

  // ----------------------------------------------------------------- alerts

  const rows = new Map();      // key -> tr
  const alertsByKey = new Map(); // key -> alert object (latest seen)
  const seen = new Set();      // every key ever shown
  let alertsRendered = false;

  function alertKey(a, i) {
    return str(a.alert_id) || str(a.transaction_id) || 'idx-' + i;
  }

  function buildRow(a, key) {
    const tr = document.createElement('tr');
    tr.tabIndex = 0;
    tr.dataset.key = key;
    tr.dataset.alertId = str(a.alert_id);
    tr.dataset.transactionId = str(a.transaction_id);
    tr.setAttribute('aria-label', 'Alert ' + str(a.alert_id) + ', open details');
    const time = mk('td', 'col-time', fmtTime(a.timestamp));
    time.title = fmtDateTime(a.timestamp);
    const id = mk('td', 'mono col-alert', shortId(a.alert_id));
    id.title = str(a.alert_id);
    const merchant = mk('td', 'merchant', str(a.merchant) || DASH);
    merchant.title = str(a.merchant);
    const score = mk('td', 'num col-score', isNum(a.risk_score) ? String(a.risk_score) : DASH);
    const risk = mk('td', 'risk');
    risk.appendChild(riskBadge(a.risk_level));
    // Shown instead of the separate columns on narrow screens (see style.css).
    const compact = mk('td', 'col-compact', [
      fmtTime(a.timestamp), str(a.user_id) || DASH, str(a.country) || DASH,
      'score\u00a0' + (isNum(a.risk_score) ? a.risk_score : DASH),
    ].join(' \u00b7 '));
    tr.append(
      time,
      id,
      mk('td', 'mono col-customer', str(a.user_id) || DASH),
      merchant,
      mk('td', 'num amount', fmtMoney(a.amount)),
      mk('td', 'col-country', str(a.country) || DASH),
      mk('td', 'col-payment', pretty(a.payment_method)),
      score,
      risk,
      compact,
    );
    return tr;
  }

  function renderAlerts(s) {
    const body = $('alerts-body');
    const list = arr(s.alerts).filter((a) => a && typeof a === 'object');
    const wanted = [];
    const keys = new Set();
    list.forEach((a, i) => {
      let key = alertKey(a, i);
      if (keys.has(key)) key = key + '#' + i;
      keys.add(key);
      alertsByKey.set(key, a);
      let tr = rows.get(key);
      if (!tr) {
        tr = buildRow(a, key);
        rows.set(key, tr);
        if (alertsRendered && !seen.has(key)) {
          tr.classList.add('new');
          setTimeout(() => tr.classList.remove('new'), NEW_ROW_MS);
        }
      }
      seen.add(key);
      wanted.push(tr);
    });
    // Drop rows that left the list.
    for (const [key, tr] of rows) {
      if (!keys.has(key)) {
        rows.delete(key);
        alertsByKey.delete(key);
        tr.remove();
      }
    }
    // Put rows in order, moving only those out of place (so highlights keep running).
    wanted.forEach((tr, i) => {
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
    });
    while (body.children.length > wanted.length) body.lastElementChild.remove();
    alertsRendered = true;
    $('alerts-empty').hidden = wanted.length > 0;
    $('alerts-count').textContent = wanted.length ? 'newest first · ' + wanted.length + ' shown' : 'newest first';
  }

  // ---------------------------------------------------------- alert detail

  function openDetail(a) {
    const dlg = $('alert-detail');
    const title = $('alert-detail-title');
    title.replaceChildren(document.createTextNode('Alert ' + shortId(a.alert_id) + ' '), riskBadge(a.risk_level));
    dlg.dataset.alertId = str(a.alert_id);
    dlg.dataset.transactionId = str(a.transaction_id);

    const fields = [
      ['Alert ID', str(a.alert_id) || DASH, 'mono'],
      ['Transaction ID', str(a.transaction_id) || DASH, 'mono'],
      ['Customer', str(a.user_id) || DASH, 'mono'],
      ['Time', a.timestamp ? fmtDateTime(a.timestamp) + ' (' + a.timestamp + ')' : DASH],
      ['Amount', fmtMoney(a.amount)],
      ['Merchant', str(a.merchant) || DASH],
      ['Country', str(a.country) || DASH],
      ['Payment method', pretty(a.payment_method)],
      ['Risk score', isNum(a.risk_score) ? String(a.risk_score) : DASH],
      ['Risk level', str(a.risk_level) || DASH],
      ['Rules version', str(a.rules_version) || DASH, 'mono'],
      ['Model version', str(a.model_version) || DASH, 'mono'],
    ];
    const known = new Set(['alert_id', 'transaction_id', 'user_id', 'timestamp', 'amount', 'merchant', 'country',
      'payment_method', 'risk_score', 'risk_level', 'rules_version', 'model_version', 'reasons']);
    for (const k of Object.keys(a)) {
      if (known.has(k)) continue;
      const v = a[k];
      fields.push([pretty(k), v === null || v === undefined ? DASH : typeof v === 'object' ? JSON.stringify(v) : String(v)]);
    }
    const dl = $('alert-detail-fields');
    const frag = document.createDocumentFragment();
    for (const [k, v, cls] of fields) {
      frag.append(mk('dt', null, k), mk('dd', cls || null, v));
    }
    dl.replaceChildren(frag);

    const reasons = parseReasons(a.reasons);
    const ul = $('alert-detail-reasons');
    if (reasons.length === 0) {
      ul.replaceChildren(mk('li', 'none', 'No reason codes.'));
    } else {
      const maxPts = Math.max(100, ...reasons.map((r) => (isNum(r.points) ? r.points : 0)));
      const items = reasons.map((r) => {
        const li = mk('li', 'reason');
        li.dataset.code = r.code;
        li.dataset.points = r.points === null ? '' : String(r.points);
        const track = mk('span', 'pts-track');
        const bar = mk('span', 'pts-bar');
        bar.style.width = (isNum(r.points) ? Math.max(0, Math.min(100, (r.points / maxPts) * 100)) : 0) + '%';
        track.appendChild(bar);
        li.append(mk('span', 'code', r.code), track,
          mk('span', 'points', r.points === null ? DASH : (r.points > 0 ? '+' : '') + r.points));
        return li;
      });
      ul.replaceChildren(...items);
    }

    if (!dlg.open) {
      if (typeof dlg.showModal === 'function') dlg.showModal();
      else dlg.setAttribute('open', '');
    }
    $('alert-detail-close').focus();
  }

  function closeDetail() {
    const dlg = $('alert-detail');
    if (!dlg.open) return;
    if (typeof dlg.close === 'function') dlg.close();
    else dlg.removeAttribute('open');
  }

  // ----------------------------------------------------------------- health

  function renderHealth(s) {
    const st = obj(s.status);
    const running = st.running;
    const r = setVal('health-running', typeof running === 'boolean' ? running : null,
      running === true ? 'running' : running === false ? 'stopped' : DASH);
    setLevel(r, running === false ? 'bad' : null);
    const badge = $('health-running-badge');
    badge.textContent = running === true ? 'running' : running === false ? 'stopped' : DASH;
    badge.className = 'badge' + (running === true ? ' ok' : running === false ? ' bad' : '');

    const ep = setVal('health-epoch', numOrNull(st.epoch),
      (isNum(st.epoch) ? fmtInt(st.epoch) : DASH) + ' / ' + (isNum(st.committed_epoch) ? fmtInt(st.committed_epoch) : DASH));
    if (ep) ep.dataset.committed = isNum(st.committed_epoch) ? String(st.committed_epoch) : '';

    const lag = setVal('health-lag', numOrNull(st.consumer_lag_records),
      isNum(st.consumer_lag_records) ? fmtInt(st.consumer_lag_records) + ' records' : DASH);
    setLevel(lag, isNum(st.consumer_lag_records) && st.consumer_lag_records > 100000 ? 'warn' : null);

    setVal('health-watermark', st.watermark || null, fmtTime(st.watermark), st.watermark ? fmtDateTime(st.watermark) : '');
    const wl = showNum('health-watermark-lag', st.watermark_lag_secs, fmtDuration);
    setLevel(wl, isNum(st.watermark_lag_secs) ? (st.watermark_lag_secs > 300 ? 'bad' : st.watermark_lag_secs > 30 ? 'warn' : null) : null);

    const asOf = parseTime(s.as_of);
    const cp = parseTime(st.last_checkpoint);
    let cpText = fmtTime(st.last_checkpoint);
    if (Number.isFinite(cp) && Number.isFinite(asOf)) cpText += ' (' + fmtDuration(Math.max(0, (asOf - cp) / 1000)) + ' ago)';
    setVal('health-last-checkpoint', st.last_checkpoint || null, cpText, st.last_checkpoint ? fmtDateTime(st.last_checkpoint) : '');

    const dl = showNum('health-dead-letters', st.dead_letters, fmtInt);
    setLevel(dl, isNum(st.dead_letters) && st.dead_letters > 0 ? 'warn' : null);
    showNum('health-late-events', st.late_events, fmtInt);
    showNum('health-open-windows', st.open_windows, fmtInt);
    showNum('health-windows-closed', st.windows_closed, fmtInt);
    showNum('health-open-sessions', st.open_sessions, fmtInt);
    showNum('health-customers', st.customers, fmtInt);
    showNum('health-transactions', st.transactions, fmtInt);
    showNum('health-clicks', st.clicks, fmtInt);
    showNum('health-alerts', st.alerts, fmtInt);
    showNum('health-latency-p50', st.latency_p50_us, fmtUs);
    showNum('health-latency-p99', st.latency_p99_us, fmtUs);
    showNum('health-latency-p999', st.latency_p999_us, fmtUs);
  }

  // ------------------------------------------------------------------ cards

  function renderCards(s) {
    const st = obj(s.status);
    const m = obj(s.last_10m);
    showNum('card-events-per-sec', st.events_per_sec, fmtRate);
    showNum('card-revenue', m.revenue, fmtMoney);
    showNum('card-orders', m.orders, fmtInt);
    showNum('card-aov', m.avg_order_value, fmtMoney);
    showNum('card-alerts', m.alerts, fmtInt);
    showNum('card-fraud-rate', m.fraud_rate, fmtPct);
    showNum('card-conversion', m.conversion_rate, fmtPct);
    for (const e of document.querySelectorAll('.card .value')) e.title = e.textContent;
  }

  function renderHeader(s) {
    const t = $('as-of');
    t.dataset.value = str(s.as_of);
    t.textContent = fmtTime(s.as_of);
    t.title = s.as_of ? fmtDateTime(s.as_of) + ' (' + s.as_of + ')' : '';
    if (s.as_of) t.setAttribute('datetime', String(s.as_of));
    const mode = $('mode');
    if (s.mode) {
      mode.hidden = false;
      mode.textContent = String(s.mode);
      mode.title = s.mode === 'open' ? 'The API is open (no authentication)' : 'The API requires authentication';
    }
  }

  // -------------------------------------------------------------- applying

  function apply(s) {
    const asOf = parseTime(s.as_of);
    // A stream event and a poll can deliver the same or an older snapshot: skip those.
    if (Number.isFinite(asOf) && Number.isFinite(state.lastAsOf) && asOf <= state.lastAsOf) return;
    if (Number.isFinite(asOf)) state.lastAsOf = asOf;
    state.current = s;
    guarded('header', () => renderHeader(s));
    guarded('cards', () => renderCards(s));
    guarded('charts', () => renderCharts(s));
    guarded('breakdowns', () => renderBreakdowns(s));
    guarded('alerts', () => renderAlerts(s));
    guarded('health', () => renderHealth(s));
    state.applied += 1;
    document.body.dataset.snapshots = String(state.applied);
  }

  function receive(s, via) {
    if (!s || typeof s !== 'object') return;
    state.lastReceivedAt = Date.now();
    if (via === 'stream') state.transport = 'stream';
    if (state.paused) {
      state.pending = s;
    } else {
      apply(s);
    }
    updateIndicator();
  }

  function receiveText(text, via) {
    let s;
    try {
      s = JSON.parse(text);
    } catch (e) {
      console.warn('dashboard: bad snapshot JSON from ' + via, e);
      return;
    }
    receive(s, via);
  }

  // -------------------------------------------------------------- transport

  function startStream() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (typeof EventSource !== 'function') {
      startPolling();
      return;
    }
    let es;
    try {
      es = new EventSource(STREAM_URL);
    } catch (e) {
      streamFailed();
      return;
    }
    state.es = es;
    es.addEventListener('open', () => {
      if (state.es !== es) return;
      state.transport = 'stream';
      state.streamOpenedAt = Date.now();
      stopPolling();
      updateIndicator();
    });
    es.addEventListener('snapshot', (ev) => { if (state.es === es) receiveText(ev.data, 'stream'); });
    es.addEventListener('message', (ev) => { if (state.es === es) receiveText(ev.data, 'stream'); });
    es.addEventListener('error', (ev) => {
      if (state.es !== es) return;
      // A server-sent `event: error` carries data; the connection stays up.
      if (typeof ev.data === 'string') {
        console.warn('dashboard: the live stream reported an error: ' + ev.data);
        return;
      }
      streamFailed();
    });
  }

  function streamFailed() {
    if (state.es) {
      state.es.close();
      state.es = null;
    }
    state.transport = 'poll';
    startPolling();
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(startStream, STREAM_RETRY_MS);
    updateIndicator();
  }

  function startPolling() {
    if (state.pollTimer) return;
    pollOnce();
    state.pollTimer = setInterval(pollOnce, POLL_MS);
  }

  function stopPolling() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  async function pollOnce() {
    if (state.pollInFlight) return;
    state.pollInFlight = true;
    try {
      const r = await fetch(LIVE_URL, { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const text = await r.text();
      state.pollFailing = false;
      receiveText(text, 'poll');
    } catch (e) {
      state.pollFailing = true;
      console.warn('dashboard: polling ' + LIVE_URL + ' failed', e);
      updateIndicator();
    } finally {
      state.pollInFlight = false;
    }
  }

  // -------------------------------------------------------- header / ticker

  function updateIndicator() {
    const ind = $('live-indicator');
    const label = $('live-label');
    const now = Date.now();
    const stale = state.lastReceivedAt > 0 && now - state.lastReceivedAt > STALE_MS;
    let st, text;
    if (state.paused) {
      st = 'paused';
      text = state.pending ? 'Paused · new data waiting' : 'Paused';
    } else if (state.lastReceivedAt === 0) {
      st = state.pollFailing ? 'offline' : 'connecting';
      text = state.pollFailing ? 'Offline' : 'Connecting\u2026';
    } else if (stale) {
      st = state.pollFailing ? 'offline' : 'stale';
      text = state.pollFailing ? 'Offline' : 'Stale';
    } else if (state.transport === 'poll') {
      st = 'polling';
      text = 'Live (polling)';
    } else {
      st = 'live';
      text = 'Live';
    }
    ind.dataset.state = st;
    if (label.textContent !== text) label.textContent = text;
    ind.title = state.transport === 'stream' ? 'Server-sent events' : state.transport === 'poll' ? 'Polling every 2 s' : '';
    const staleEl = $('as-of-stale');
    staleEl.hidden = !(state.current && stale);
  }

  function tick() {
    // An open stream that stays silent is as good as broken.
    if (state.es && state.transport === 'stream') {
      const since = Math.max(state.lastReceivedAt, state.streamOpenedAt);
      if (since > 0 && Date.now() - since > STREAM_SILENT_MS) streamFailed();
    }
    updateIndicator();
  }

  function setPaused(p) {
    state.paused = p;
    const btn = $('pause-btn');
    btn.textContent = p ? 'Resume' : 'Pause';
    btn.setAttribute('aria-pressed', p ? 'true' : 'false');
    document.body.dataset.paused = p ? 'true' : 'false';
    if (!p && state.pending) {
      const s = state.pending;
      state.pending = null;
      apply(s);
    }
    updateIndicator();
  }

  // ------------------------------------------------------------------- init

  function init() {
    document.body.dataset.snapshots = '0';
    document.body.dataset.paused = 'false';
    guarded('charts init', initCharts);

    $('pause-btn').addEventListener('click', () => setPaused(!state.paused));

    for (const b of document.querySelectorAll('.seg-btn')) {
      b.addEventListener('click', () => {
        state.metric = b.dataset.metric;
        for (const o of document.querySelectorAll('.seg-btn')) o.setAttribute('aria-pressed', o === b ? 'true' : 'false');
        if (state.current) guarded('breakdowns', () => renderBreakdowns(state.current));
      });
    }

    const body = $('alerts-body');
    const openFrom = (target) => {
      const tr = target.closest('tr');
      if (!tr || !body.contains(tr)) return;
      const a = alertsByKey.get(tr.dataset.key);
      if (a) openDetail(a);
    };
    body.addEventListener('click', (ev) => openFrom(ev.target));
    body.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        openFrom(ev.target);
      }
    });

    const dlg = $('alert-detail');
    $('alert-detail-close').addEventListener('click', closeDetail);
    dlg.addEventListener('click', (ev) => { if (ev.target === dlg) closeDetail(); }); // backdrop
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeDetail(); });

    window.addEventListener('resize', queueResize);
    if (typeof ResizeObserver === 'function') {
      const ro = new ResizeObserver(queueResize);
      for (const id of Object.keys(charts)) ro.observe(charts[id].el);
    }

    setInterval(tick, 1000);
    updateIndicator();
    pollOnce();      // first paint without waiting for the stream
    startStream();
  }

  init();
})();
