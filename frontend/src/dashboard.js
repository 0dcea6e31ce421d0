// /d/{uid}: the server renders the grid of panels (each with data-panel-id and data-state);
// this file asks the server for each panel's data with the page's own query string (from,
// to, var-NAME...) and draws it.  The server does all templating, so what a panel queries is
// decided in one place; data-state ends as ok, nodata (with data-missing) or error.
import { escapeHTML, prefix } from './api.js';
import { alignMatrix, drawChart } from './chart.js';
import { formatValue } from './format.js';
import { fieldConfig, mapValue } from './fieldconfig.js';
import { parseDuration } from './explore.js';
import { reduce } from './reducers.js';

export { reduce };

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
  const loadAll = () => loadPanels(dash, panels, now);
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

// All panels in one request: the server streams one JSON line per panel as each is
// computed (a browser opens only six connections to a host, so twenty panel requests
// queued behind the slowest), and each panel is drawn as its line arrives.
async function loadPanels(dash, els, now) {
  if (!els.length) return;
  const byKey = new Map(els.map((el) => [el.dataset.panelId, el]));
  const items = els.map((el) => ({
    key: el.dataset.panelId,
    id: Number(el.dataset.panelId.split('-')[0]),
    repeat: JSON.parse(el.dataset.repeat || '{}'),
  }));
  const url = new URL(`${prefix()}/api/ui/dashboards/${encodeURIComponent(dash.dataset.uid)}/panels`,
    window.location.origin);
  for (const [k, v] of new URLSearchParams(window.location.search).entries()) {
    if (k !== 'now' && k !== 'panels') url.searchParams.append(k, v);
  }
  if (now) url.searchParams.set('now', String(now));
  url.searchParams.set('panels', JSON.stringify(items));
  const fail = (message) => {
    for (const el of byKey.values()) setState(el, el.querySelector('.panel-body'), 'error', { error: message });
  };
  let r;
  try {
    r = await fetch(url, { headers: { Accept: 'application/x-ndjson' } });
  } catch (e) {
    return fail(e.message);
  }
  if (!r.ok || !r.body) {
    let reason = `${r.status} ${r.statusText}`;
    try { reason = (await r.json()).error || reason; } catch (e) { /* not JSON */ }
    return fail(reason);
  }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const take = (line) => {
    if (!line.trim()) return;
    const data = JSON.parse(line);
    const el = byKey.get(data.key);
    if (!el) return;
    byKey.delete(data.key);
    showPanel(dash, el, data);
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    take(buf + decoder.decode());
  } catch (e) {
    return fail(`reading the panels' data failed: ${e.message}`);
  }
  if (byKey.size) fail('the server sent no data for this panel');
}

function showPanel(dash, el, data) {
  const body = el.querySelector('.panel-body');
  const cfg = JSON.parse(el.querySelector('script.panel-config')?.textContent || '{}');
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
    s.fc = fieldConfig(cfg, { name: s.name, refId: s.refId, labels: s.labels, values: s.values });
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
    const axes = axisLayout(aligned.series);
    el.dataset.axes = axes.shown.join(' ');
    el.dataset.rightSeries = aligned.series.filter((s) => s.scale === 'y2').map((s) => s.name).join('|');
    drawChart(body, aligned, {
      axes,
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
    return {
      name: s.name, labels: s.labels, refId: s.refId, v, fc: s.fc, shown: display(v, s.fc), values: s.values,
    };
  });
  if (type === 'stat' || type === 'singlestat') {
    const spark = cfg.graphMode === 'area' || cfg.graphMode === 'line';
    body.innerHTML = `<div class="stat-grid">${values.map((x) => {
      const c = x.shown.color;
      const bg = cfg.colorMode === 'background' && c;
      const style = bg ? `background:${c};color:#fff` : c ? `color:${c}` : '';
      return `<div class="stat${spark ? ' with-sparkline' : ''}" style="${style}">` +
        `<div class="stat-value">${escapeHTML(x.shown.text)}</div>` +
        (values.length > 1 ? `<div class="stat-name">${escapeHTML(x.name)}</div>` : '') +
        (spark ? sparkline(x.values, cfg.graphMode, bg ? '#fff' : (c || 'var(--accent)')) : '') + '</div>';
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
    const fc = fieldConfig(cfg, {
      name: several ? `Value #${x.refId}` : 'Value', refId: x.refId, labels: x.labels, values: [x.v],
    });
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

// Where each series' y axis goes (custom.axisPlacement, panel default or override): series
// placed right share a second scale drawn on the right; auto and left share the left one;
// hidden draws no axis for them.  An axis is shown when a series on it is not hidden.
export function axisLayout(series) {
  for (const s of series) s.scale = s.fc?.axisPlacement === 'right' ? 'y2' : 'y';
  const on = (scale) => series.filter((s) => s.scale === scale);
  const visible = (list) => list.some((s) => s.fc?.axisPlacement !== 'hidden');
  const left = on('y');
  const right = on('y2');
  const shown = [];
  if (left.length && visible(left)) shown.push('left');
  if (right.length) shown.push('right');
  return { left: left.length > 0, right: right.length > 0, shown };
}

// A stat's sparkline (Grafana's graphMode area/line): the series over the panel's range,
// scaled to its own min and max, as an SVG under the value.
export function sparkline(values, mode, stroke) {
  const pts = (values || []).map((v, i) => [i, v]).filter(([, v]) => v !== null && Number.isFinite(v));
  if (pts.length < 2) return '';
  const n = Math.max(1, values.length - 1);
  const lo = Math.min(...pts.map(([, v]) => v));
  const hi = Math.max(...pts.map(([, v]) => v));
  const y = (v) => (hi === lo ? 15 : 28 - ((v - lo) / (hi - lo)) * 26);
  const line = pts.map(([i, v], k) => `${k ? 'L' : 'M'}${((i / n) * 100).toFixed(2)} ${y(v).toFixed(2)}`).join(' ');
  const first = ((pts[0][0] / n) * 100).toFixed(2);
  const last = ((pts[pts.length - 1][0] / n) * 100).toFixed(2);
  const area = mode === 'area'
    ? `<path class="spark-area" d="${line} L${last} 30 L${first} 30 Z" fill="${stroke}" fill-opacity="0.2" stroke="none"/>`
    : '';
  return `<svg class="sparkline" data-graph-mode="${mode}" data-points="${pts.length}" viewBox="0 0 100 30" ` +
    `preserveAspectRatio="none" aria-hidden="true">${area}` +
    `<path class="spark-line" d="${line}" fill="none" stroke="${stroke}" stroke-width="1.5" ` +
    'vector-effect="non-scaling-stroke"/></svg>';
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
