// Herald console: the one own script (served from /assets, no inline script anywhere).
// - sends the session's CSRF token with every htmx request (header x-csrf-token);
// - opens and closes the sidebar as a menu on narrow screens;
// - asks before a form marked data-confirm is submitted.
(() => {
  document.documentElement.classList.add('js');

  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = meta ? meta.getAttribute('content') : '';
  document.addEventListener('htmx:configRequest', (event) => {
    if (csrf) event.detail.headers['x-csrf-token'] = csrf;
  });

  function ready(fn) {
    if (document.readyState !== 'loading') fn();
    else document.addEventListener('DOMContentLoaded', fn);
  }

  ready(() => {
    const button = document.querySelector('.menu-button');
    const sidebar = document.getElementById('sidebar');
    if (button && sidebar) {
      button.addEventListener('click', () => {
        const open = button.getAttribute('aria-expanded') !== 'true';
        button.setAttribute('aria-expanded', open ? 'true' : 'false');
        document.body.classList.toggle('nav-open', open);
        if (open) {
          const first = sidebar.querySelector('a[href]');
          if (first) first.focus();
        }
      });
      document.addEventListener('keydown', (event) => {
        if (event.key === 'Escape' && document.body.classList.contains('nav-open')) {
          document.body.classList.remove('nav-open');
          button.setAttribute('aria-expanded', 'false');
          button.focus();
        }
      });
    }
  });

  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // A form marked data-swap-errors shows its 400/422 answer (the form re-rendered with the
  // messages next to its fields): htmx leaves error answers unswapped by default.
  document.addEventListener('htmx:beforeSwap', (event) => {
    const status = event.detail.xhr.status;
    const elt = event.detail.elt;
    if (
      (status === 400 || status === 413 || status === 415 || status === 422) &&
      elt instanceof Element &&
      elt.closest('[data-swap-errors]')
    ) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();

// Campaign pages: a zone picker marked data-detect-zone starts at the browser's own zone
// (Intl), unless the page came back with a zone already chosen (not the UTC default).
(() => {
  function pickZone() {
    let zone = '';
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
    } catch {
      zone = '';
    }
    for (const select of document.querySelectorAll('select[data-detect-zone]')) {
      if (!zone || select.value !== 'UTC') continue;
      if ([...select.options].some((option) => option.value === zone)) select.value = zone;
    }
  }
  if (document.readyState !== 'loading') pickZone();
  else document.addEventListener('DOMContentLoaded', pickZone);
})();
