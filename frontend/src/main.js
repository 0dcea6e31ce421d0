// Entry point: each page marks the parts that want behaviour with data-* attributes, and
// this file attaches it.  Pages stay usable (server-rendered) when the bundle is missing.
import './main.css';
import { initTheme } from './theme.js';
import { initEditors } from './editor.js';
import { initExplore } from './explore.js';
import { initDashboard } from './dashboard.js';
import { initSilences } from './silences.js';
import { initRelativeTimes } from './format.js';
import { initForms } from './forms.js';

function start() {
  initTheme();
  initEditors(document);
  initRelativeTimes(document);
  initExplore(document);
  initForms(document);
  initDashboard(document);
  initSilences(document);
  document.documentElement.dataset.ui = 'ready';
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', start);
} else {
  start();
}
