// Grafana's reducers ("calcs"): a series' values (null where it has no point) to one value.
// Stat, gauge, bar gauge and table panels show one; byValue overrides compare one.
const nonNull = (v) => v.filter((x) => x !== null && x !== undefined);

const REDUCERS = {
  lastNotNull: (v) => { for (let i = v.length - 1; i >= 0; i--) if (v[i] !== null) return v[i]; return null; },
  last: (v) => (v.length ? v[v.length - 1] : null),
  firstNotNull: (v) => v.find((x) => x !== null) ?? null,
  first: (v) => (v.length ? v[0] : null),
  mean: (v) => { const f = nonNull(v); return f.length ? f.reduce((a, b) => a + b, 0) / f.length : null; },
  max: (v) => { const f = nonNull(v); return f.length ? Math.max(...f) : null; },
  min: (v) => { const f = nonNull(v); return f.length ? Math.min(...f) : null; },
  sum: (v) => v.reduce((a, b) => a + (b ?? 0), 0),
  count: (v) => nonNull(v).length,
  range: (v) => { const f = nonNull(v); return f.length ? Math.max(...f) - Math.min(...f) : null; },
  diff: (v) => { const f = nonNull(v); return f.length ? f[f.length - 1] - f[0] : null; },
  // the sum of increases, a counter reset counting from zero (Grafana's "delta")
  delta: (v) => {
    const f = nonNull(v);
    let d = 0;
    for (let i = 1; i < f.length; i++) d += f[i] >= f[i - 1] ? f[i] - f[i - 1] : f[i];
    return f.length ? d : null;
  },
  allIsNull: (v) => nonNull(v).length === 0,
  allIsZero: (v) => { const f = nonNull(v); return f.length > 0 && f.every((x) => x === 0); },
};
REDUCERS.avg = REDUCERS.mean;
REDUCERS.current = REDUCERS.lastNotNull;
REDUCERS.total = REDUCERS.sum;

export function reduce(values, calc) {
  return (REDUCERS[calc] || REDUCERS.lastNotNull)(values || []);
}

const OPS = {
  eq: (a, b) => a === b, neq: (a, b) => a !== b, lt: (a, b) => a < b,
  lte: (a, b) => a <= b, gt: (a, b) => a > b, gte: (a, b) => a >= b,
};

// Grafana's byValue matcher: {reducer, op, value}; true/false reducers match when true.
export function matchesValue(values, o) {
  const r = reduce(values, o.reducer);
  if (o.reducer === 'allIsNull' || o.reducer === 'allIsZero') return r === true;
  if (r === null || r === undefined || Number.isNaN(r)) return false;
  return (OPS[o.op] || OPS.gte)(r, o.value);
}
