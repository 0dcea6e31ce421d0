// /d/{uid}: the server renders the grid of panels (each with data-panel-id and data-state);
// this file asks the server for each panel's data with the page's own query string (from,
// to, var-NAME...) and draws it.  The server does all templating, so what a panel queries is
// decided in one place; data-state ends as ok, nodata (with data-missing) or error.
import { getJSON, escapeHTML } from './api.js';
import { alignMatrix, drawChart } from './chart.js';
import { formatValue } from './format.js';
import { parseDuration } from './explore.js';

const NAMED = {
  green: '#73bf69', 'dark-green': '#37872d', 'semi-dark-green': '#56a64b', 'light-green': '#96d98d',
  red: '#f2495c', 'dark-red': '#c4162a', 'semi-dark-red': '#e02f44', 'light-red': '#ff7383',
  yellow: '#fade2a', 'dark-yellow': '#e0b400', orange: '#ff9830', 'dark-orange': '#fa6400',
  blue: '#5794f2', 'dark-blue': '#1f60c4', purple: '#b877d9', 'dark-purple': '#8f3bb8',
  text: 'var(--fg)', transparent: 'transparent',
};

export function color(c) {
  return NAMED[c] || c || 'var(--fg)';
}

export function thresholdColor(v, cfg) {
  const steps = cfg.thresholds?.steps || [];
  if (!steps.length || v === null || v === undefined || Number.isNaN(v)) return null;
  let x = v;
  if (cfg.thresholds.mode === 'percentage') {
    const min = cfg.min ?? 0;
    const max = cfg.max ?? 100;
    x = max === min ? 0 : ((v - min) / (max - min)) * 100;
  }
  let c = steps[0].color;
  for (const s of steps) {
    if (s.value === null || s.value === undefined || x >= s.value) c = s.color;
  }
  return color(c);
}

const REDUCERS = {
  lastNotNull: (v) => { for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null) return v[i]; return null; },
  last: (v) => (v.length ? v[v.length - 1] : null),
  firstNotNull: (v) => v.find((x) => x !== null) ?? null,
  first: (v) => (v.length ? v[0] : null),
  mean: (v) => { const f = v.filter((x) => x !== null); return f.length ? f.reduce((a, b) => a + b, 0) / f.length : null; },
  max: (v) => { const f = v.filter((x) => x !== null); return f.length ? Math.max(...f) : null; },
  min: (v) => { const f = v.filter((x) => x !== null); return f.length ? Math.min(...f) : null; },
  sum: (v) => v.reduce((a, b) => a + (b ?? 0), 0),
  count: (v) => v.filter((x) => x !== null).length,
};
REDUCERS.avg = REDUCERS.mean;
REDUCERS.current = REDUCERS.lastNotNull;
REDUCERS.total = REDUCERS.sum;

export function reduce(values, calc) {
  return (REDUCERS[calc] || REDUCERS.lastNotNull)(values);
}

export function initDashboard(root) {
  const dash = root.querySelector('[data-dashboard]');
  if (!dash) return;
  const panels = [...dash.querySelectorAll('[data-panel-id][data-state="loading"]')];
  // Every panel request names the page's "now", so the panels of one load see the same
  // range and the server reads each selector once for all of them; a refresh moves it on
  // by the time passed (measured here, so the browser's clock does not matter).
  const pageNow = Number(dash.dataset.now) || 0;
  const t0 = performance.now();
  let now = pageNow;
  const loadAll = () => Promise.all(panels.map((p) => loadPanel(dash, p, now)));
  loadAll().then(() => { dash.dataset.loaded = 'true'; });
  const refresh = parseDuration(dash.dataset.refresh || '');
  if (refresh) {
    setInterval(() => {
      if (pageNow) now = pageNow + Math.round(performance.now() - t0);
      loadAll();
    }, Math.max(5, refresh) * 1000);
  }
  for (const row of dash.querySelectorAll('[data-row-toggle]')) {
    row.addEventListener('click', () => {
      const section = row.closest('.dash-row');
      section.classList.toggle('collapsed');
      row.querySelector('[data-arrow]').textContent = section.classList.contains('collapsed') ? '▸' : '▾';
    });
  }
}

async function loadPanel(dash, el, now) {
  const body = el.querySelector('.panel-body');
  const cfg = JSON.parse(el.querySelector('script.panel-config')?.textContent || '{}');
  const url = `/api/ui/dashboards/${encodeURIComponent(dash.dataset.uid)}/panels/${el.dataset.panelId}`;
  const multi = {};
  for (const [k, v] of new URLSearchParams(window.location.search).entries()) (multi[k] ||= []).push(v);
  if (now) multi.now = [String(now)];
  let data;
  try {
    data = await getJSON(url, multi);
  } catch (e) {
    return setState(el, body, 'error', { error: e.message });
  }
  if (data.state !== 'ok') return setState(el, body, data.state, data);
  try {
    render(el, body, cfg, data, dash);
    setState(el, body, 'ok', data);
  } catch (e) {
    setState(el, body, 'error', { error: `drawing failed: ${e.message}` });
  }
}

function setState(el, body, state, data) {
  el.dataset.state = state;
  if (state === 'nodata') {
    el.dataset.missing = (data.missing || []).join(',');
    const what = data.missing?.length
      ? `No data: metric${data.missing.length > 1 ? 's' : ''} ${data.missing.join(', ')} ${data.missing.length > 1 ? 'are' : 'is'} not in the store`
      : 'No data: the queries returned no series for this time range';
    body.innerHTML = `<p class="panel-message">${escapeHTML(what)}</p>`;
  } else if (state === 'error') {
    delete el.dataset.missing;
    body.innerHTML = `<p class="panel-message error">${escapeHTML(data.error || 'error')}</p>`;
  } else {
    delete el.dataset.missing;
  }
}

function seriesData(data) {
  return alignMatrix(data.series, data.start, data.end, data.step);
}

function render(el, body, cfg, data, dash) {
  const type = el.dataset.panelType;
  if (type === 'timeseries' || type === 'graph') {
    const aligned = seriesData(data);
    const h = Math.max(120, body.clientHeight || el.clientHeight - 40 || 220);
    drawChart(body, aligned, {
      unit: cfg.unit, decimals: cfg.decimals, height: h - (cfg.legend === false ? 10 : 40),
      legend: cfg.legend !== false, fillOpacity: cfg.fillOpacity, lineWidth: cfg.lineWidth,
      onZoom: (min, max) => {
        const p = new URLSearchParams(window.location.search);
        p.set('from', String(Math.round(min * 1000)));
        p.set('to', String(Math.round(max * 1000)));
        window.location.search = p.toString();
      },
    });
    return;
  }
  const aligned = seriesData(data);
  const values = aligned.series.map((s) => ({ name: s.name, labels: s.labels, v: reduce(s.values, cfg.calc) }));
  if (type === 'stat') {
    body.innerHTML = `<div class="stat-grid">${values.map((x) => {
      const c = thresholdColor(x.v, cfg);
      const style = cfg.colorMode === 'background' && c ? `background:${c};color:#fff` : c ? `color:${c}` : '';
      return `<div class="stat" style="${style}"><div class="stat-value">${escapeHTML(formatValue(x.v, cfg.unit, cfg.decimals))}</div>` +
        (values.length > 1 ? `<div class="stat-name">${escapeHTML(x.name)}</div>` : '') + '</div>';
    }).join('')}</div>`;
  } else if (type === 'gauge') {
    body.innerHTML = `<div class="stat-grid">${values.map((x) => gauge(x, cfg)).join('')}</div>`;
  } else if (type === 'bargauge') {
    const min = cfg.min ?? 0;
    const max = cfg.max ?? Math.max(...values.map((x) => x.v ?? 0), 1);
    body.innerHTML = `<div class="bars">${values.map((x) => {
      const pct = max === min ? 0 : Math.max(0, Math.min(100, (((x.v ?? min) - min) / (max - min)) * 100));
      const c = thresholdColor(x.v, cfg) || 'var(--accent)';
      return `<div class="bar-row"><span class="bar-name">${escapeHTML(x.name)}</span>` +
        `<span class="bar"><span style="width:${pct.toFixed(1)}%;background:${c}"></span></span>` +
        `<span class="bar-value">${escapeHTML(formatValue(x.v, cfg.unit, cfg.decimals))}</span></div>`;
    }).join('')}</div>`;
  } else if (type === 'table') {
    const keys = [...new Set(values.flatMap((x) => Object.keys(x.labels || {})))].filter((k) => k !== '__name__').sort();
    body.innerHTML = `<table class="data-table"><thead><tr>${keys.map((k) => `<th>${escapeHTML(k)}</th>`).join('')}<th>Value</th></tr></thead><tbody>` +
      values.map((x) => `<tr>${keys.map((k) => `<td>${escapeHTML(x.labels?.[k] ?? '')}</td>`).join('')}` +
        `<td class="num" style="color:${thresholdColor(x.v, cfg) || 'inherit'}">${escapeHTML(formatValue(x.v, cfg.unit, cfg.decimals))}</td></tr>`).join('') +
      '</tbody></table>';
  }
  void dash;
}

function gauge(x, cfg) {
  const min = cfg.min ?? 0;
  const max = cfg.max ?? 100;
  const frac = x.v === null ? 0 : Math.max(0, Math.min(1, (x.v - min) / (max - min || 1)));
  const c = thresholdColor(x.v, cfg) || 'var(--accent)';
  const a = Math.PI * (1 - frac);
  const ex = 50 + 40 * Math.cos(a);
  const ey = 50 - 40 * Math.sin(a);
  return `<div class="gauge"><svg viewBox="0 0 100 60" role="img" aria-label="${escapeHTML(x.name)}">` +
    '<path d="M10 50 A40 40 0 0 1 90 50" fill="none" stroke="var(--grid)" stroke-width="8"/>' +
    `<path d="M10 50 A40 40 0 0 1 ${ex.toFixed(2)} ${ey.toFixed(2)}" fill="none" stroke="${c}" stroke-width="8"/>` +
    `<text x="50" y="48" text-anchor="middle" class="gauge-text">${escapeHTML(formatValue(x.v, cfg.unit, cfg.decimals))}</text></svg>` +
    `<div class="stat-name">${escapeHTML(x.name)}</div></div>`;
}
