// Small helpers over guardia's HTTP APIs (Prometheus v1 envelopes, Alertmanager v2 JSON).

export function prefix() {
  return document.body.dataset.prefix || '';
}

export async function getJSON(path, params) {
  const url = new URL(prefix() + path, window.location.origin);
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
      else if (v !== undefined && v !== null) url.searchParams.set(k, v);
    }
  }
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  let body;
  try {
    body = await r.json();
  } catch (e) {
    throw new Error(`${r.status} ${r.statusText}: the answer is not JSON`);
  }
  if (body && body.status === 'error') throw new Error(`${body.errorType}: ${body.error}`);
  if (!r.ok) throw new Error(typeof body === 'string' ? body : `${r.status} ${r.statusText}`);
  return body;
}

export async function sendJSON(method, path, payload) {
  const r = await fetch(prefix() + path, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const text = await r.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch (e) { /* plain text answer */ }
  if (!r.ok) throw new Error(typeof body === 'string' ? body : (body && (body.error || body.message)) || r.statusText);
  return body;
}

export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
