// Small shared pieces: element builder, notices, formatting, labels and receipt bars.
// Nothing here uses innerHTML: every text from the server goes in as text.

import { ApiError } from './api.js';
import { t, tr, lang, locale, has, onLangChange } from './i18n.js';

// h('a', {href: '#/x', class: 'link', i18n: 'nav.history'}, child, ...)
// Props: class, text, i18n ('key' or ['key', vars]), 'i18n:<attr>' for a translated attribute,
// on<event> handlers, dataset, value/checked as properties; anything else is an attribute.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'i18n') bind(el, v);
    else if (k.startsWith('i18n:')) bind(el, v, k.slice(5));
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function bind(el, spec, attr) {
  const [key, vars] = Array.isArray(spec) ? spec : [spec];
  tr(el, key, vars, attr);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// Notices: one at a time, under the header. The text is kept as a dictionary key, so a
// language switch re-translates a notice that is showing.
export function notify({ kind = 'info', key, vars, detail, detailKey, detailVars, link, persist = false }) {
  const host = document.getElementById('notices');
  clearNotices(true);
  host.setAttribute('aria-live', kind === 'error' || kind === 'warning' ? 'assertive' : 'polite');
  const body = h('div', { class: 'notice__body' },
    h('p', { class: 'notice__title', i18n: [key, vars] }),
    detailKey ? h('p', { class: 'notice__detail', i18n: [detailKey, detailVars] }) : null,
    detail ? h('p', { class: 'notice__detail notice__detail--server', text: detail }) : null,
    link ? h('p', { class: 'notice__more' }, h('a', { href: link.href, class: 'notice__link', i18n: link.key })) : null);
  const box = h('div', { class: `notice notice--${kind}`, dataset: { kind } },
    h('span', { class: 'notice__icon', 'aria-hidden': 'true' }),
    body,
    h('button', {
      type: 'button', class: 'notice__close', 'i18n:aria-label': 'notice.dismiss',
      onclick: () => box.remove(),
    }, h('span', { 'aria-hidden': 'true', text: '×' })));
  if (persist) box.dataset.persist = '1';
  host.append(box);
  return box;
}

// On navigation, a notice marked persist survives once (e.g. "session ended" on the login page).
export function clearNotices(all = false) {
  const host = document.getElementById('notices');
  for (const n of [...host.children]) {
    if (!all && n.dataset.persist === '1') delete n.dataset.persist;
    else n.remove();
  }
}

// For a notice that counts down: announced once when shown, then updated silently.
export function updateNotice(box, key, vars) {
  document.getElementById('notices').setAttribute('aria-live', 'off');
  const title = box?.querySelector('.notice__title');
  if (title) tr(title, key, vars);
}

// Times from the API: ISO strings, or epoch seconds/milliseconds.
export function parseTime(v) {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number') return new Date(v > 1e12 ? v : v * 1000);
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDateTime(date) {
  if (!date) return '';
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}

export function formatClock(date) {
  return new Intl.DateTimeFormat(locale(), { timeStyle: 'medium' }).format(date);
}

const units = [
  ['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400],
  ['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1],
];

export function relativeTime(date, now = Date.now()) {
  if (!date) return t('time.never');
  const seconds = (date.getTime() - now) / 1000;
  if (Math.abs(seconds) < 10) return t('time.now');
  const fmt = new Intl.RelativeTimeFormat(locale(), { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === 'second') return fmt.format(Math.round(seconds / size), unit);
  }
  return '';
}

export function timeEl(value, { relative = false } = {}) {
  const date = parseTime(value);
  if (!date) return h('span', { class: 'muted', i18n: 'time.never' });
  return h('time', {
    datetime: date.toISOString(),
    title: formatDateTime(date),
    text: relative ? relativeTime(date) : formatDateTime(date),
  });
}

let categoryList = [];
export function setCategories(list) {
  categoryList = list;
}

export function categoryLabel(id) {
  const c = categoryList.find((x) => x.id === id);
  if (c) {
    const label = lang() === 'id' ? c.label_id : c.label_en;
    if (label) return label;
  }
  if (has(`category.${id}`)) return t(`category.${id}`);
  return c?.label_en || id;
}

export function priorityBadge(priority) {
  const p = ['normal', 'high', 'urgent'].includes(priority) ? priority : 'normal';
  return h('span', { class: `badge badge--priority-${p}`, i18n: `priority.${p}` });
}

export function categoryBadge(id) {
  return h('span', { class: 'badge badge--category', text: categoryLabel(id) });
}

export function targetLabel(target) {
  return target === 'all' ? t('target.all') : target;
}

export function targetChip(target) {
  return target === 'all'
    ? h('span', { class: 'chip chip--all', i18n: 'target.all' })
    : h('span', { class: 'chip', text: target });
}

export function naturalCompare(a, b) {
  return String(a).localeCompare(String(b), 'en', { numeric: true, sensitivity: 'base' });
}

// One labelled bar per receipt stage, out of the expected stores.
export function receiptBars(receipts, { requireAck = false, compact = false } = {}) {
  if (!receipts) return h('p', { class: 'receipts receipts--unknown muted', i18n: 'receipts.unknown' });
  const count = (k) => Math.max(0, Number(receipts[k]) || 0);
  const expected = count('expected');
  const stages = ['delivered', 'displayed'];
  if (requireAck || count('acknowledged') > 0) stages.push('acknowledged');
  // Only when it happened: a store refused a copy (forged, or not for it), or took it down.
  if (count('rejected') > 0) stages.push('rejected');
  if (count('recalled') > 0) stages.push('recalled');
  const total = Math.max(expected, ...stages.map(count), 0);
  const wrap = h('div', { class: `receipts${compact ? ' receipts--compact' : ''}` });
  for (const stage of stages) {
    const n = count(stage);
    const label = t(`receipts.${stage}`);
    const done = !['rejected', 'recalled'].includes(stage) && total > 0 && n >= total;
    wrap.append(h('div', { class: `receipt receipt--${stage}${done ? ' receipt--done' : ''}` },
      h('span', { class: 'receipt__label', i18n: `receipts.${stage}` }),
      h('progress', {
        class: `bar bar--${stage}`, max: String(Math.max(total, 1)), value: String(Math.min(n, Math.max(total, 1))),
        'aria-label': `${label}: ${t('receipts.count', { n, total })}`,
      }),
      h('span', { class: 'receipt__count', text: `${n}/${total}` })));
  }
  if (expected === 0 && total === 0) wrap.append(h('p', { class: 'receipts__note muted', i18n: 'receipts.none_expected' }));
  return wrap;
}

// The Refresh button of a list page's heading.
export function refreshButton(id, onclick) {
  return h('button', { type: 'button', class: 'btn btn--ghost btn--small', id, onclick },
    h('span', { class: 'btn__icon btn__icon--refresh', 'aria-hidden': 'true' }),
    h('span', { i18n: 'history.refresh' }));
}

// A page section heading; views focus it after navigation so screen readers announce the page.
export function pageHead(titleKey, leadKey, ...extra) {
  return h('header', { class: 'page-head' },
    h('div', { class: 'page-head__text' },
      h('h1', { class: 'page-title', tabindex: '-1', i18n: titleKey }),
      leadKey ? h('p', { class: 'page-lead', i18n: leadKey }) : null),
    extra.length ? h('div', { class: 'page-head__actions' }, ...extra) : null);
}

export function stateBadge(state) {
  const known = ['delivered', 'displayed', 'acknowledged', 'expired', 'failed', 'gap', 'rejected', 'recalled', 'missing', 'pending'];
  const s = known.includes(state) ? state : 'pending';
  return h('span', { class: `state state--${s}` },
    h('span', { class: 'state__dot', 'aria-hidden': 'true' }),
    known.includes(state) ? h('span', { i18n: `state.${s}` }) : h('span', { text: String(state) }));
}

// The badge of a message taken down by a recall (or by a correction).
export function recalledBadge() {
  return h('span', { class: 'badge badge--recalled', i18n: 'recall.badge' });
}

// A modal confirmation in the page (a native <dialog>: focus stays inside, Escape cancels).
// Resolves true when the person confirms. The safe choice has the focus first; on close, focus
// goes back to where it was.
export function confirmDialog({ titleKey, bodyKey, vars, confirmKey, cancelKey, danger = false }) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const titleId = uid('dialog-title');
    const bodyId = uid('dialog-body');
    const keep = h('button', { type: 'button', class: 'btn btn--secondary', dataset: { action: 'cancel' }, i18n: cancelKey });
    const ok = h('button', {
      type: 'button', class: `btn ${danger ? 'btn--danger' : 'btn--primary'}`, dataset: { action: 'confirm' }, i18n: confirmKey,
    });
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': bodyId },
      h('h2', { class: 'dialog__title', id: titleId, i18n: titleKey }),
      h('p', { class: 'dialog__body', id: bodyId, i18n: [bodyKey, vars] }),
      h('div', { class: 'dialog__actions' }, keep, ok));
    let answer = false;
    keep.addEventListener('click', () => dialog.close());
    ok.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    // Leaving the page (the browser's Back) answers no.
    const leave = () => dialog.close();
    window.addEventListener('hashchange', leave);
    dialog.addEventListener('close', () => {
      window.removeEventListener('hashchange', leave);
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    keep.focus();
  });
}

// A page's data that loads now and every `ms`, and is re-rendered on a language switch. A load
// that fails is told once, until one works again. show(data) runs only while the page is open.
export function liveData({ load, show, render, ms }) {
  let open = true;
  let failedOnce = false;
  const refresh = async () => {
    try {
      const data = await load();
      if (!open) return;
      failedOnce = false;
      show(data);
    } catch (err) {
      if (!open || (err instanceof ApiError && err.status === 401)) return;
      if (!failedOnce) notify({ kind: 'error', key: 'notice.load_failed', detail: err instanceof ApiError ? err.message : undefined });
      failedOnce = true;
    }
  };
  refresh();
  const stopPoll = poll(refresh, ms);
  const offLang = onLangChange(render);
  return {
    refresh,
    alive: () => open,
    stop() {
      open = false;
      stopPoll();
      offLang();
    },
  };
}

// Runs fn now and every `ms`, skipping turns while the tab is hidden; returns a stop function.
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch {
        // Each view reports its own failures; polling goes on.
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  const onVisible = () => {
    if (!document.hidden && !stopped) {
      clearTimeout(timer);
      tick();
    }
  };
  document.addEventListener('visibilitychange', onVisible);
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
