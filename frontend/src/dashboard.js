// /d/{uid}: the server renders the grid of panels (each with data-panel-id and data-state);
// this file asks the server for each panel's data with the page's own query string (from,
// to, var-NAME...) and draws it.  The server does all templating, so what a panel queries is
// decided in one place; data-state ends as ok, nodata (with data-missing) or error.
import { getJSON, escapeHTML } from './api.js';
import { alignMatrix, drawChart } from './chart.js';
import { formatValue } from './format.js';
import { fieldConfig, mapValue } from './fieldconfig.js';
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
  // a repeated panel's copies are "ID-N": the same panel, with its repeat values
  const url = `/api/ui/dashboards/${encodeURIComponent(dash.dataset.uid)}/panels/${el.dataset.panelId.split('-')[0]}`;
  const multi = {};
  for (const [k, v] of new URLSearchParams(window.location.search).entries()) (multi[k] ||= []).push(v);
  if (now) multi.now = [String(now)];
  for (const [k, v] of Object.entries(JSON.parse(el.dataset.repeat || '{}'))) multi[`repeat-${k}`] = [v];
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

function seriesData(data, cfg) {
  const aligned = alignMatrix(data.series, data.start, data.end, data.step);
  aligned.series.forEach((s, i) => {
    s.refId = data.series[i].refId;
    s.fc = fieldConfig(cfg, { name: s.name, refId: s.refId, labels: s.labels });
    s.name = s.fc.name;
  });
  return aligned;
}

// A value as a panel shows it: a value mapping's text and colour first, else the unit's
// formatting and the thresholds' colour (a fixed colour wins over thresholds).
export function display(v, fc) {
  const mapped = mapValue(v, fc.mappings);
  const text = mapped?.text ?? (v === null && fc.noValue ? fc.noValue : formatValue(v, fc.unit, fc.decimals));
  const c = mapped?.color ? color(mapped.color) : fc.color ? color(fc.color) : thresholdColor(v, fc);
  return { text, color: c };
}

function render(el, body, cfg, data, dash) {
  const type = el.dataset.panelType;
  if (type === 'timeseries' || type === 'graph') {
    const aligned = seriesData(data, cfg);
    aligned.series = aligned.series.filter((s) => !s.fc.hidden);
    for (const s of aligned.series) {
      if (s.fc.color) s.color = color(s.fc.color);
      if (s.fc.negativeY) s.values = s.values.map((v) => (v === null ? null : -v));
      s.format = (v) => display(v === null || !s.fc.negativeY ? v : -v, s.fc).text;
    }
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
  const aligned = seriesData(data, cfg);
  const values = aligned.series.filter((s) => !s.fc.hidden).map((s) => {
    const v = reduce(s.values, cfg.calc);
    return { name: s.name, labels: s.labels, refId: s.refId, v, fc: s.fc, shown: display(v, s.fc) };
  });
  if (type === 'stat') {
    body.innerHTML = `<div class="stat-grid">${values.map((x) => {
      const c = x.shown.color;
      const style = cfg.colorMode === 'background' && c ? `background:${c};color:#fff` : c ? `color:${c}` : '';
      return `<div class="stat" style="${style}"><div class="stat-value">${escapeHTML(x.shown.text)}</div>` +
        (values.length > 1 ? `<div class="stat-name">${escapeHTML(x.name)}</div>` : '') + '</div>';
    }).join('')}</div>`;
  } else if (type === 'gauge') {
    body.innerHTML = `<div class="stat-grid">${values.map((x) => gauge(x)).join('')}</div>`;
  } else if (type === 'bargauge') {
    const top = Math.max(...values.map((x) => x.v ?? 0), 1);
    body.innerHTML = `<div class="bars">${values.map((x) => {
      const min = x.fc.min ?? 0;
      const max = x.fc.max ?? top;
      const pct = max === min ? 0 : Math.max(0, Math.min(100, (((x.v ?? min) - min) / (max - min)) * 100));
      const c = x.shown.color || 'var(--accent)';
      return `<div class="bar-row"><span class="bar-name">${escapeHTML(x.name)}</span>` +
        `<span class="bar"><span style="width:${pct.toFixed(1)}%;background:${c}"></span></span>` +
        `<span class="bar-value">${escapeHTML(x.shown.text)}</span></div>`;
    }).join('')}</div>`;
  } else if (type === 'table') {
    body.innerHTML = table(values, cfg);
  }
  void dash;
}

// An instant table, as Grafana shows a Prometheus table: a column per label, then the
// value ("Value", or "Value #A" when several queries fill it).  Overrides by column name
// rename columns, map their cells and format the values.
function table(values, cfg) {
  const keys = [...new Set(values.flatMap((x) => Object.keys(x.labels || {})))].filter((k) => k !== '__name__').sort();
  const cols = keys.map((k) => ({ key: k, fc: fieldConfig(cfg, { name: k, type: 'string' }) }))
    .filter((c) => !c.fc.hidden);
  const several = new Set(values.map((x) => x.refId)).size > 1;
  const rows = values.map((x) => {
    const fc = fieldConfig(cfg, { name: several ? `Value #${x.refId}` : 'Value', refId: x.refId, labels: x.labels });
    return { x, fc, shown: display(x.v, fc) };
  });
  const cell = (c, text) => {
    const mapped = mapValue(text, c.fc.mappings);
    const style = mapped?.color ? ` style="color:${color(mapped.color)}"` : '';
    return `<td${style}>${escapeHTML(mapped?.text ?? text)}</td>`;
  };
  return `<table class="data-table"><thead><tr>${cols.map((c) => `<th>${escapeHTML(c.fc.name)}</th>`).join('')}` +
    `<th>${escapeHTML(rows[0]?.fc.name ?? 'Value')}</th></tr></thead><tbody>` +
    rows.map(({ x, shown }) => `<tr>${cols.map((c) => cell(c, x.labels?.[c.key] ?? '')).join('')}` +
      `<td class="num" style="color:${shown.color || 'inherit'}">${escapeHTML(shown.text)}</td></tr>`).join('') +
    '</tbody></table>';
}

function gauge(x) {
  const min = x.fc.min ?? 0;
  const max = x.fc.max ?? 100;
  const frac = x.v === null ? 0 : Math.max(0, Math.min(1, (x.v - min) / (max - min || 1)));
  const c = x.shown.color || 'var(--accent)';
  const a = Math.PI * (1 - frac);
  const ex = 50 + 40 * Math.cos(a);
  const ey = 50 - 40 * Math.sin(a);
  return `<div class="gauge"><svg viewBox="0 0 100 60" role="img" aria-label="${escapeHTML(x.name)}">` +
    '<path d="M10 50 A40 40 0 0 1 90 50" fill="none" stroke="var(--grid)" stroke-width="8"/>' +
    `<path d="M10 50 A40 40 0 0 1 ${ex.toFixed(2)} ${ey.toFixed(2)}" fill="none" stroke="${c}" stroke-width="8"/>` +
    `<text x="50" y="48" text-anchor="middle" class="gauge-text">${escapeHTML(x.shown.text)}</text></svg>` +
    `<div class="stat-name">${escapeHTML(x.name)}</div></div>`;
}
