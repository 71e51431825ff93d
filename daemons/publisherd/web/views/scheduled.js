import * as api from '../api.js';
import {
  categoryBadge, clear, confirmDialog, formatDateTime, h, liveData, notify, pageHead, parseTime,
  priorityBadge, refreshButton, relativeTime, setCategories, targetChip, timeEl,
} from '../ui.js';

const refreshMs = 5000;

function sendTime(m) {
  return parseTime(m.send_at) || parseTime(m.sent_at);
}

// Messages waiting for their send time (GET /api/v1/scheduled), soonest first, each with Cancel.
export function scheduledView(root) {
  let items = null;
  const cancelling = new Set();

  const tbody = h('tbody');
  const table = h('table', { class: 'table table--scheduled', id: 'scheduled-table', hidden: true },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'col-time', i18n: 'scheduled.col_send_at' }),
      h('th', { scope: 'col', i18n: 'scheduled.col_message' }),
      h('th', { scope: 'col', i18n: 'scheduled.col_targets' }),
      h('th', { scope: 'col', i18n: 'scheduled.col_sender' }),
      h('th', { scope: 'col', i18n: 'scheduled.col_state' }),
      h('th', { scope: 'col', class: 'col-action' }, h('span', { class: 'visually-hidden', i18n: 'scheduled.col_action' })))),
    tbody);
  const empty = h('div', { class: 'empty', id: 'scheduled-empty', hidden: true },
    h('p', { class: 'empty__title', i18n: 'scheduled.empty' }),
    h('a', { class: 'btn btn--primary', href: '#/compose', i18n: 'nav.compose' }));
  const refreshBtn = refreshButton('scheduled-refresh', () => live.refresh());
  const auto = h('p', { class: 'muted auto-note', i18n: ['scheduled.auto', { s: refreshMs / 1000 }] });

  root.append(h('section', { class: 'page page--scheduled' },
    pageHead('scheduled.title', 'scheduled.lead', refreshBtn),
    h('div', { class: 'card card--flush' }, h('div', { class: 'table-wrap' }, table), empty),
    auto));

  function row(m) {
    const at = sendTime(m);
    const state = m.state === 'sending' ? 'sending' : 'scheduled';
    const title = m.title || m.id;
    const targets = Array.isArray(m.targets) ? m.targets : [];
    return h('tr', { dataset: { id: m.id, state } },
      h('td', { class: 'col-time' },
        timeEl(m.send_at || m.sent_at),
        at ? h('span', { class: 'muted relative', text: relativeTime(at) }) : null),
      h('td', { class: 'col-message' },
        h('div', { class: 'msg-badges' }, categoryBadge(m.category), priorityBadge(m.priority),
          m.require_ack ? h('span', { class: 'badge badge--ack', i18n: 'history.ack' }) : null),
        h('span', { class: 'msg-title', text: title })),
      h('td', { class: 'col-targets' }, h('div', { class: 'chips' }, targets.map(targetChip))),
      h('td', { class: 'col-sender', text: m.sender || '' }),
      h('td', {},
        h('span', { class: `state state--${state}` },
          h('span', { class: 'state__dot', 'aria-hidden': 'true' }),
          h('span', { i18n: `scheduled.state_${state}` }))),
      h('td', { class: 'col-action' },
        h('button', {
          type: 'button', class: 'btn btn--danger-ghost btn--small', dataset: { cancel: m.id },
          disabled: state === 'sending' || cancelling.has(m.id),
          i18n: 'scheduled.cancel', 'i18n:aria-label': ['scheduled.cancel_label', { title }],
          onclick: () => cancel(m),
        })));
  }

  function render() {
    if (!items) return;
    // Keep the focus on the row's button across a re-render (the list refreshes on its own).
    const focused = document.activeElement?.dataset?.cancel;
    clear(tbody, items.map(row));
    table.hidden = items.length === 0;
    empty.hidden = items.length > 0;
    if (focused) tbody.querySelector(`[data-cancel="${CSS.escape(focused)}"]`)?.focus();
  }

  function show(list) {
    items = list.filter((m) => m && m.id)
      .sort((a, b) => (sendTime(a)?.getTime() ?? 0) - (sendTime(b)?.getTime() ?? 0) || String(a.id).localeCompare(String(b.id)));
    render();
  }

  async function cancel(m) {
    if (cancelling.has(m.id)) return;
    const at = sendTime(m);
    const yes = await confirmDialog({
      titleKey: 'scheduled.confirm_title', bodyKey: 'scheduled.confirm_body',
      vars: { title: m.title || m.id, time: at ? formatDateTime(at) : '' },
      confirmKey: 'scheduled.confirm_ok', cancelKey: 'scheduled.confirm_keep', danger: true,
    });
    if (!yes || !live.alive()) return;
    cancelling.add(m.id);
    render();
    try {
      await api.cancelScheduled(m.id);
      if (!live.alive()) return;
      items = (items || []).filter((x) => x.id !== m.id);
      notify({ kind: 'success', key: 'scheduled.cancelled' });
    } catch (err) {
      if (!live.alive()) return;
      if (!(err instanceof api.ApiError) || err.status >= 500) {
        notify({ kind: 'error', key: 'scheduled.not_cancelled', detail: err instanceof api.ApiError ? err.message : undefined });
      } else if (err.status === 401) {
        return;
      } else if (err.status === 409) {
        notify({
          kind: 'warning', key: 'scheduled.too_late', detail: err.message,
          link: { href: `#/messages/${encodeURIComponent(m.id)}`, key: 'notice.sent_link' },
        });
      } else if (err.status === 404) {
        notify({ kind: 'warning', key: 'scheduled.gone', detail: err.message });
      } else if (err.status === 403) {
        notify({ kind: 'error', key: 'notice.forbidden', detail: err.message });
      } else {
        notify({ kind: 'error', key: 'notice.error', vars: { code: err.code }, detail: err.message });
      }
    } finally {
      cancelling.delete(m.id);
    }
    render();
    if (!tbody.contains(document.activeElement)) (root.querySelector('h1'))?.focus();
    live.refresh();
  }

  const live = liveData({ load: () => api.listScheduled(), show, render, ms: refreshMs });
  api.categories().then((list) => {
    setCategories(list);
    if (live.alive()) render();
  }).catch(() => {});
  return live.stop;
}
