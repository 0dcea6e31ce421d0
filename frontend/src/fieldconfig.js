// Grafana's field options for one series: the panel's defaults, then each override whose
// matcher picks the series (byName, byRegexp, byFrameRefID, byNames, byType, byValue), and
// value mappings (value, range, regex, special) that turn a number into text and a colour.
// The server reads the dashboard JSON into these shapes (dashboards/fieldconfig.py).
import { matchesValue } from './reducers.js';

function matches(m, field) {
  const o = m.options;
  switch (m.id) {
    case 'byName': return o === field.name || o === field.displayName;
    case 'byRegexp': {
      try { return new RegExp(`^(?:${o})$`).test(field.name); } catch (e) { return false; }
    }
    case 'byFrameRefID': return o === field.refId;
    case 'byNames': {
      const hit = (o.names || []).includes(field.name);
      return o.mode === 'exclude' ? !hit : hit;
    }
    case 'byType': return o === (field.type || 'number');
    // the series' values reduced (max, mean, lastNotNull...) and compared with a number
    case 'byValue': return (field.type || 'number') === 'number' && matchesValue(field.values, o);
    default: return false;
  }
}

// field: {name, refId, labels, type, values}; returns the settings that apply to it
export function fieldConfig(cfg, field) {
  const out = {
    unit: cfg.unit, decimals: cfg.decimals, min: cfg.min, max: cfg.max, thresholds: cfg.thresholds,
    mappings: cfg.mappings || [], color: cfg.color || null, displayName: cfg.displayName || '',
    noValue: cfg.noValue || '', fillOpacity: cfg.fillOpacity, lineWidth: cfg.lineWidth,
    hidden: false, hideLegend: false, negativeY: false, axisPlacement: cfg.axisPlacement || 'auto',
  };
  for (const o of cfg.overrides || []) {
    if (matches(o.matcher, field)) Object.assign(out, o.properties);
  }
  out.name = displayName(out.displayName, field);
  return out;
}

// displayName may use ${__field.labels.X}, ${__field.name}, ${__series.name}
function displayName(tpl, field) {
  if (!tpl) return field.name;
  return tpl.replace(/\$\{__(field|series)\.(labels\.([A-Za-z_][A-Za-z0-9_]*)|name|displayName)\}/g,
    (_all, _kind, what, label) => (label ? (field.labels?.[label] ?? '') : field.name));
}

function inRange(v, r) {
  return (r.from === null || r.from === undefined || v >= r.from) && (r.to === null || r.to === undefined || v <= r.to);
}

// The first mapping that applies to v: {text?, color?}, or null.
export function mapValue(v, mappings) {
  for (const m of mappings || []) {
    let hit = false;
    if (m.type === 'value') hit = v !== null && v !== undefined && String(v) === m.value;
    else if (m.type === 'range') hit = typeof v === 'number' && !Number.isNaN(v) && inRange(v, m);
    else if (m.type === 'regex') {
      try { hit = v !== null && v !== undefined && new RegExp(m.pattern).test(String(v)); } catch (e) { hit = false; }
      if (hit && m.text !== undefined) {
        return { text: String(v).replace(new RegExp(m.pattern), m.text), color: m.color };
      }
    } else if (m.type === 'special') {
      const isNull = v === null || v === undefined;
      const isNaN = typeof v === 'number' && Number.isNaN(v);
      hit = { null: isNull, nan: isNaN, 'null+nan': isNull || isNaN, true: v === true || v === 'true',
        false: v === false || v === 'false', empty: v === '' }[m.match] || false;
    }
    if (hit) return { text: m.text, color: m.color };
  }
  return null;
}
