// /silences: the matcher editor (rows of name, operator, value), a live preview of the
// alerts the new silence would mute, and create/expire through the Alertmanager API v2 --
// the same calls amtool makes, so the UI and the API cannot disagree.
import { getJSON, sendJSON, escapeHTML } from './api.js';

const OPS = { '=': [false, true], '!=': [false, false], '=~': [true, true], '!~': [true, false] };

export function readMatchers(form) {
  const out = [];
  for (const row of form.querySelectorAll('[data-matcher-row]')) {
    const name = row.querySelector('[name=m_name]').value.trim();
    const op = row.querySelector('[name=m_op]').value;
    const value = row.querySelector('[name=m_value]').value;
    if (!name) continue;
    const [isRegex, isEqual] = OPS[op] || OPS['='];
    out.push({ name, value, isRegex, isEqual });
  }
  return out;
}

function matcherText(m) {
  const op = m.isRegex ? (m.isEqual ? '=~' : '!~') : (m.isEqual ? '=' : '!=');
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

export function initSilences(root) {
  for (const btn of root.querySelectorAll('[data-expire]')) {
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        await sendJSON('DELETE', `/api/v2/silence/${encodeURIComponent(btn.dataset.expire)}`);
        window.location.reload();
      } catch (e) {
        btn.disabled = false;
        showError(root, e);
      }
    });
  }
  const form = root.querySelector('form[data-silence-form]');
  if (!form) return;
  const rows = form.querySelector('[data-matcher-rows]');
  const template = form.querySelector('template[data-matcher-template]');
  form.querySelector('[data-add-matcher]').addEventListener('click', () => {
    rows.append(template.content.cloneNode(true));
    preview(form);
  });
  rows.addEventListener('click', (ev) => {
    const rm = ev.target.closest('[data-remove-matcher]');
    if (!rm) return;
    rm.closest('[data-matcher-row]').remove();
    preview(form);
  });
  let timer;
  form.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => preview(form), 250);
  });
  preview(form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const matchers = readMatchers(form);
    const hours = parseFloat(form.querySelector('[name=duration_h]').value || '2');
    const start = new Date();
    const end = new Date(start.getTime() + hours * 3600 * 1000);
    const payload = {
      matchers,
      startsAt: start.toISOString(),
      endsAt: end.toISOString(),
      createdBy: form.querySelector('[name=created_by]').value || 'guardia-ui',
      comment: form.querySelector('[name=comment]').value || '',
    };
    try {
      const res = await sendJSON('POST', '/api/v2/silences', payload);
      form.dataset.created = res.silenceID;
      window.location.href = `${document.body.dataset.prefix || ''}/silences?created=${encodeURIComponent(res.silenceID)}`;
    } catch (e) {
      showError(root, e);
    }
  });
}

function showError(root, e) {
  const box = root.querySelector('[data-silence-error]');
  if (!box) return;
  box.textContent = e.message || String(e);
  box.hidden = false;
}

async function preview(form) {
  const box = form.querySelector('[data-silence-preview]');
  const matchers = readMatchers(form);
  if (!matchers.length) {
    box.textContent = 'Add a matcher to see the alerts this silence would mute.';
    return;
  }
  try {
    const alerts = await getJSON('/api/v2/alerts', { filter: matchers.map(matcherText) });
    box.dataset.count = String(alerts.length);
    if (!alerts.length) {
      box.textContent = 'No alert firing now matches these matchers.';
      return;
    }
    box.innerHTML = `<p>${alerts.length} alert${alerts.length > 1 ? 's' : ''} would be silenced now:</p><ul>` +
      alerts.map((a) => `<li class="mono">${escapeHTML(Object.entries(a.labels).map(([k, v]) => `${k}="${v}"`).join(', '))}</li>`).join('') +
      '</ul>';
  } catch (e) {
    box.textContent = `Preview failed: ${e.message}`;
  }
}
