// Small form behaviours: selects that apply at once (time range, refresh, variables), and
// the dashboard import form (reads the file and posts its text; JSON or YAML).
import { prefix } from './api.js';

export function initForms(root) {
  for (const el of root.querySelectorAll('[data-autosubmit]')) {
    el.addEventListener('change', () => {
      const form = el.form;
      if (el.name === 'from') {
        const to = form.querySelector('[data-to-now]');
        if (to) to.value = 'now';
      }
      form.requestSubmit();
    });
  }
  const form = root.querySelector('form[data-dashboard-import]');
  if (!form) return;
  const errBox = root.querySelector('[data-import-error]');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const file = form.querySelector('input[type=file]').files[0];
    if (!file) return;
    const overwrite = form.querySelector('[name=overwrite]').checked ? '1' : '0';
    const url = `${prefix()}/api/ui/dashboards/import?filename=${encodeURIComponent(file.name)}&overwrite=${overwrite}`;
    const r = await fetch(url, { method: 'POST', body: await file.text(), headers: { 'Content-Type': 'text/plain' } });
    const body = await r.json();
    if (!r.ok) {
      errBox.textContent = body.message || r.statusText;
      errBox.hidden = false;
      return;
    }
    window.location.href = body.url;
  });
}
