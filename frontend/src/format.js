// Value formatting by Grafana unit id, and relative times for server-rendered timestamps.

const SI = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
const IEC = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

function trim(n, decimals) {
  if (!isFinite(n)) return String(n);
  const d = decimals ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  return Number(n.toFixed(d)).toString();
}

function scaled(v, base, prefixes, suffix, decimals) {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < prefixes.length - 1) {
    x /= base;
    i++;
  }
  return `${trim(x, decimals)} ${prefixes[i]}${suffix}`.trim();
}

function duration(seconds, decimals) {
  const a = Math.abs(seconds);
  if (a === 0) return '0 s';
  if (a < 1e-6) return `${trim(seconds * 1e9, decimals)} ns`;
  if (a < 1e-3) return `${trim(seconds * 1e6, decimals)} µs`;
  if (a < 1) return `${trim(seconds * 1e3, decimals)} ms`;
  if (a < 60) return `${trim(seconds, decimals)} s`;
  if (a < 3600) return `${trim(seconds / 60, decimals)} min`;
  if (a < 86400) return `${trim(seconds / 3600, decimals)} hour`;
  if (a < 604800) return `${trim(seconds / 86400, decimals)} day`;
  return `${trim(seconds / 604800, decimals)} week`;
}

const PER_SECOND = { reqps: 'req/s', rps: 'req/s', ops: 'ops/s', wps: 'wr/s', rdps: 'rd/s', iops: 'io/s' };

export function formatValue(v, unit, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof decimals !== 'number') decimals = undefined;
  switch (unit || 'short') {
    case 'none': return trim(v, decimals);
    case 'short': return scaled(v, 1000, SI, '', decimals);
    case 'percent': return `${trim(v, decimals)}%`;
    case 'percentunit': return `${trim(v * 100, decimals)}%`;
    case 'bytes': return scaled(v, 1024, IEC, 'B', decimals);
    case 'decbytes': return scaled(v, 1000, SI, 'B', decimals);
    case 'bits': return scaled(v, 1024, IEC, 'b', decimals);
    case 'decbits': return scaled(v, 1000, SI, 'b', decimals);
    case 'kbytes': return scaled(v * 1024, 1024, IEC, 'B', decimals);
    case 'mbytes': return scaled(v * 1024 * 1024, 1024, IEC, 'B', decimals);
    case 'Bps': case 'binBps': return scaled(v, 1024, IEC, 'B/s', decimals);
    case 'decBps': return scaled(v, 1000, SI, 'B/s', decimals);
    case 'bps': case 'binbps': return scaled(v, 1000, SI, 'b/s', decimals);
    case 's': case 'dtdurations': return duration(v, decimals);
    case 'ms': return duration(v / 1e3, decimals);
    case 'µs': case 'us': return duration(v / 1e6, decimals);
    case 'ns': return duration(v / 1e9, decimals);
    case 'hertz': return scaled(v, 1000, SI, 'Hz', decimals);
    case 'celsius': return `${trim(v, decimals)} °C`;
    case 'dateTimeAsIso': return new Date(v).toISOString();
    case 'dateTimeFromNow': return relative(v);
    case 'bool': return v ? 'true' : 'false';
    default:
      if (PER_SECOND[unit]) return `${scaled(v, 1000, SI, '', decimals)} ${PER_SECOND[unit]}`;
      if (unit.startsWith('suffix:')) return `${trim(v, decimals)}${unit.slice(7)}`;
      if (unit.startsWith('prefix:')) return `${unit.slice(7)}${trim(v, decimals)}`;
      return `${scaled(v, 1000, SI, '', decimals)} ${unit}`;
  }
}

export function relative(ms) {
  const d = (Date.now() - ms) / 1000;
  const a = Math.abs(d);
  let s;
  if (a < 60) s = `${Math.round(a)}s`;
  else if (a < 3600) s = `${Math.round(a / 60)}m`;
  else if (a < 86400) s = `${Math.round(a / 3600)}h`;
  else s = `${Math.round(a / 86400)}d`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

// <time data-relative datetime="ISO">: shows "3m ago", keeps the absolute time as its title.
export function initRelativeTimes(root) {
  const update = () => {
    for (const el of root.querySelectorAll('time[data-relative]')) {
      const ms = Date.parse(el.getAttribute('datetime'));
      if (!isNaN(ms)) {
        el.title = new Date(ms).toISOString();
        el.textContent = relative(ms);
      }
    }
  };
  update();
  setInterval(update, 15000);
}
