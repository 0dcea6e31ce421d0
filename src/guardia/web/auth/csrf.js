// guardia: sends the session's CSRF token with every write the page makes.
// The token is in the guardia_csrf cookie (readable by this page only: SameSite=Strict);
// fetch() writes get an X-CSRF-Token header, and POST forms a hidden csrf_token field.
(function () {
  'use strict';
  function token() {
    var m = document.cookie.match(/(?:^|;\s*)guardia_csrf=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : '';
  }
  var original = window.fetch;
  window.fetch = function (input, init) {
    init = init || {};
    var method = (init.method || (input && input.method) || 'GET').toUpperCase();
    var t = token();
    if (t && method !== 'GET' && method !== 'HEAD') {
      var url = new URL(typeof input === 'string' ? input : input.url, window.location.href);
      if (url.origin === window.location.origin) {
        var headers = new Headers(init.headers || (input && input.headers) || {});
        headers.set('X-CSRF-Token', t);
        init = Object.assign({}, init, { headers: headers });
      }
    }
    return original.call(this, input, init);
  };
  function addToForms() {
    var t = token();
    if (!t) { return; }
    document.querySelectorAll('form').forEach(function (form) {
      if ((form.getAttribute('method') || 'get').toLowerCase() !== 'post') { return; }
      if (form.querySelector('input[name="csrf_token"]')) { return; }
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = 'csrf_token';
      input.value = t;
      form.appendChild(input);
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', addToForms);
  } else {
    addToForms();
  }
})();
