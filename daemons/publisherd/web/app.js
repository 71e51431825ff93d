// bcast admin UI: hash routes, the header, and the session. Each view lives in views/.

import * as api from './api.js';
import { applyI18n, lang, setLang, onLangChange, t } from './i18n.js';
import { clear, clearNotices, notify, setCategories } from './ui.js';
import { loginView } from './views/login.js';
import { composeView } from './views/compose.js';
import { historyView } from './views/history.js';
import { messageView } from './views/message.js';
import { storesView } from './views/stores.js';
import { scheduledView } from './views/scheduled.js';
import { auditView } from './views/audit.js';

const routes = [
  { pattern: /^\/login$/, name: 'login', view: loginView, public: true },
  { pattern: /^\/compose$/, name: 'compose', view: composeView },
  { pattern: /^\/history$/, name: 'history', view: historyView },
  { pattern: /^\/messages\/([^/]+)$/, name: 'message', nav: 'history', view: messageView },
  { pattern: /^\/scheduled$/, name: 'scheduled', view: scheduledView },
  { pattern: /^\/stores$/, name: 'stores', view: storesView },
  { pattern: /^\/audit$/, name: 'audit', view: auditView },
];

const viewEl = document.getElementById('view');
let teardown = null;
let afterLogin = '#/compose';

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const q = raw.indexOf('?');
  return {
    raw,
    path: q < 0 ? raw : raw.slice(0, q),
    params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

export function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  const { raw, path, params } = parseHash();
  const session = api.currentSession();
  let route = routes.find((r) => r.pattern.test(path));

  if (!session && !route?.public) {
    if (route) afterLogin = `#${raw}`;
    location.replace('#/login');
    return;
  }
  if (!route || (session && route.name === 'login')) {
    location.replace('#/compose');
    return;
  }

  if (teardown) teardown();
  teardown = null;
  clearNotices();
  showHeader(session);
  document.body.dataset.page = route.name;
  for (const a of document.querySelectorAll('.app-nav a')) {
    if (a.dataset.route === (route.nav || route.name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }

  clear(viewEl);
  const match = path.match(route.pattern);
  teardown = route.view(viewEl, {
    params,
    match,
    session,
    go,
    loggedIn: () => {
      const next = afterLogin;
      afterLogin = '#/compose';
      go(next);
    },
  }) || null;

  const focusTarget = viewEl.querySelector('[data-autofocus]') || viewEl.querySelector('h1');
  if (focusTarget && (initialised || 'autofocus' in focusTarget.dataset)) focusTarget.focus();
  window.scrollTo(0, 0);
  updateTitle();
}

function updateTitle() {
  const h1 = viewEl.querySelector('h1');
  document.title = h1?.textContent ? `${h1.textContent} · bcast` : 'bcast';
}

function showHeader(session) {
  const signedIn = Boolean(session);
  document.getElementById('app-nav').hidden = !signedIn;
  document.getElementById('user').hidden = !signedIn;
  document.getElementById('logout').hidden = !signedIn;
  document.getElementById('brand').setAttribute('href', signedIn ? '#/compose' : '#/login');
  // The audit log is for admins only (the API refuses anyone else).
  document.getElementById('nav-audit').hidden = session?.user?.role !== 'admin';
  if (signedIn) {
    const name = session.user?.name || '';
    document.getElementById('user-name').textContent = name;
    document.getElementById('user-avatar').textContent = name.slice(0, 1).toUpperCase();
    const role = session.user?.role || '';
    const roleEl = document.getElementById('user-role');
    if (role === 'admin' || role === 'publisher') {
      roleEl.dataset.i18n = `role.${role}`;
      roleEl.textContent = t(`role.${role}`);
    } else {
      delete roleEl.dataset.i18n;
      roleEl.textContent = role;
    }
  }
}

function syncLangButtons() {
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === lang()));
  }
}

api.onUnauthorized(() => {
  if (parseHash().path === '/login') return;
  const { raw } = parseHash();
  afterLogin = `#${raw}`;
  showHeader(null);
  // Shown on the login page: persist carries it over one navigation.
  notify({ kind: 'warning', key: 'login.expired', persist: true });
  location.replace('#/login');
});

let initialised = false;

function init() {
  applyI18n(document);
  syncLangButtons();
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => setLang(b.dataset.lang));
  }
  onLangChange(() => {
    syncLangButtons();
    updateTitle();
  });

  // The skip link must not change the hash: that is the router's.
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    (viewEl.querySelector('h1') || document.getElementById('main')).focus();
  });

  document.getElementById('logout').addEventListener('click', async () => {
    try {
      await api.logout();
    } catch {
      // The session is forgotten here either way; the cookie expires on its own.
    }
    afterLogin = '#/compose';
    showHeader(null);
    notify({ kind: 'info', key: 'login.signed_out', persist: true });
    go('#/login');
  });

  // Categories are needed for labels on every page; the defaults stand in until they arrive.
  setCategories(api.defaultCategories);

  window.addEventListener('hashchange', render);
  render();
  initialised = true;
  document.body.classList.remove('is-loading');
}

init();
