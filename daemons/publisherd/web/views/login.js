import * as api from '../api.js';
import { tr } from '../i18n.js';
import { h, notify, updateNotice } from '../ui.js';

export function loginView(root, { loggedIn }) {
  let busy = false;
  let lockedUntil = 0;
  let countdown = null;

  const username = h('input', {
    id: 'login-username', name: 'username', type: 'text', autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', required: true, 'data-autofocus': true,
  });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block', id: 'login-submit', i18n: 'login.submit' });

  const form = h('form', { class: 'login-card card', novalidate: true, onsubmit },
    h('div', { class: 'login-card__head' },
      h('h1', { class: 'page-title', tabindex: '-1', i18n: 'login.title' }),
      h('p', { class: 'page-lead', i18n: 'login.lead' })),
    h('div', { class: 'field' },
      h('label', { class: 'field__label', for: 'login-username', i18n: 'login.username' }),
      username),
    h('div', { class: 'field' },
      h('label', { class: 'field__label', for: 'login-password', i18n: 'login.password' }),
      password),
    submit);

  root.append(h('section', { class: 'page page--login' }, form));

  function setBusy(on) {
    busy = on;
    submit.disabled = on || Date.now() < lockedUntil;
    submit.setAttribute('aria-busy', String(on));
    tr(submit, on ? 'login.busy' : 'login.submit');
  }

  function throttle(seconds) {
    clearInterval(countdown);
    if (seconds === undefined) {
      notify({ kind: 'error', key: 'login.throttled_later' });
      return;
    }
    lockedUntil = Date.now() + seconds * 1000;
    submit.disabled = true;
    const box = notify({ kind: 'error', key: 'login.throttled', vars: { seconds } });
    countdown = setInterval(() => {
      const left = Math.ceil((lockedUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(countdown);
        submit.disabled = busy;
        box.remove();
        return;
      }
      updateNotice(box, 'login.throttled', { seconds: left });
    }, 1000);
  }

  async function onsubmit(event) {
    event.preventDefault();
    if (busy || Date.now() < lockedUntil) return;
    for (const input of [username, password]) input.removeAttribute('aria-invalid');
    const name = username.value.trim();
    if (!name || !password.value) {
      const empty = name ? password : username;
      empty.setAttribute('aria-invalid', 'true');
      notify({ kind: 'error', key: 'login.required' });
      empty.focus();
      return;
    }
    setBusy(true);
    try {
      await api.login(name, password.value);
      password.value = '';
      loggedIn();
    } catch (err) {
      setBusy(false);
      if (err instanceof api.ApiError && err.status === 401) {
        notify({ kind: 'error', key: 'login.invalid' });
        password.value = '';
        password.setAttribute('aria-invalid', 'true');
        password.focus();
      } else if (err instanceof api.ApiError && err.status === 429) {
        throttle(err.retryAfter);
      } else if (err instanceof api.ApiError && err.status === 503 && err.code === 'busy') {
        notify({ kind: 'error', key: 'login.server_busy' });
      } else if (err instanceof api.NetworkError) {
        notify({ kind: 'error', key: 'login.unreachable' });
      } else {
        notify({ kind: 'error', key: 'notice.error', vars: { code: err.code || 'error' }, detail: err.message });
      }
    }
  }

  return () => clearInterval(countdown);
}
