// /explore: runs the expression in the URL (expr, range, step, end, tab) against the
// Prometheus API and draws a chart or a table; the URL is the whole state, so a zoom or a
// new query is a navigation that can be bookmarked or shared.
import { getJSON, escapeHTML } from './api.js';
import { alignMatrix, drawChart, seriesName } from './chart.js';

const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

export function parseDuration(text) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
  let total = 0;
  let matched = '';
  let m;
  while ((m = re.exec(text)) !== null) {
    total += m[2] === 'ms' ? parseFloat(m[1]) / 1000 : parseFloat(m[1]) * UNITS[m[2]];
    matched += m[0];
  }
  return matched === text && total > 0 ? total : null;
}

export function autoStep(rangeS) {
  return Math.max(1, Math.round(rangeS / 250));
}

export function initExplore(root) {
  const page = root.querySelector('[data-explore]');
  if (!page) return;
  const params = new URLSearchParams(window.location.search);
  const expr = (params.get('expr') || '').trim();
  if (!expr) return;
  const out = page.querySelector('[data-explore-result]');
  const errBox = page.querySelector('[data-explore-error]');
  const info = page.querySelector('[data-explore-info]');
  const rangeS = parseDuration(params.get('range') || '1h') || 3600;
  const endS = params.get('end') ? parseEnd(params.get('end')) : Date.now() / 1000;
  const tab = params.get('tab') || 'graph';
  const stepS = parseDuration(params.get('step') || '') || autoStep(rangeS);
  const started = performance.now();
  const showError = (e) => {
    errBox.textContent = e.message || String(e);
    errBox.hidden = false;
    out.dataset.state = 'error';
  };
  if (tab === 'table') {
    getJSON('/api/v1/query', { query: expr, time: endS })
      .then((body) => {
        renderTable(out, body.data);
        note(info, body, started);
      })
      .catch(showError);
    return;
  }
  const startS = endS - rangeS;
  getJSON('/api/v1/query_range', { query: expr, start: startS, end: endS, step: stepS })
    .then((body) => {
      const result = body.data.result;
      note(info, body, started, `${result.length} series, step ${stepS}s`);
      if (!result.length) {
        out.dataset.state = 'nodata';
        out.textContent = 'The query returned no series over this range.';
        return;
      }
      const data = alignMatrix(result, startS, endS, stepS);
      out.dataset.state = 'ok';
      drawChart(out, data, {
        height: 360,
        onZoom: (min, max) => {
          const p = new URLSearchParams(window.location.search);
          p.set('end', new Date(max * 1000).toISOString());
          p.set('range', `${Math.max(1, Math.round(max - min))}s`);
          p.delete('step');
          window.location.search = p.toString();
        },
      });
    })
    .catch(showError);
}

function parseEnd(v) {
  if (/^\d+(\.\d+)?$/.test(v)) return parseFloat(v);
  const ms = Date.parse(v);
  return isNaN(ms) ? Date.now() / 1000 : ms / 1000;
}

function note(info, body, started, extra) {
  const ms = Math.round(performance.now() - started);
  const warnings = [...(body.warnings || []), ...(body.infos || [])];
  info.innerHTML = `Load time: ${ms} ms${extra ? ' · ' + escapeHTML(extra) : ''}` +
    warnings.map((w) => `<div class="warning">${escapeHTML(w)}</div>`).join('');
}

function renderTable(out, data) {
  out.replaceChildren();
  const table = document.createElement('table');
  table.className = 'data-table';
  const rows = [];
  if (data.resultType === 'vector') {
    for (const s of data.result) rows.push([seriesName(s.metric), s.value[1]]);
  } else if (data.resultType === 'matrix') {
    for (const s of data.result) rows.push([seriesName(s.metric), s.values.map((v) => `${v[1]} @${v[0]}`).join('\n')]);
  } else {
    rows.push([data.resultType, data.result[1]]);
  }
  if (!rows.length) {
    out.dataset.state = 'nodata';
    out.textContent = 'Empty query result.';
    return;
  }
  table.innerHTML = '<thead><tr><th>Series</th><th>Value</th></tr></thead><tbody>' +
    rows.map(([k, v]) => `<tr><td class="mono">${escapeHTML(k)}</td><td class="num">${escapeHTML(v)}</td></tr>`).join('') +
    '</tbody>';
  out.dataset.state = 'ok';
  out.append(table);
}
