import * as api from '../api.js';
import { lang, onLangChange, t, tr } from '../i18n.js';
import {
  categoryBadge, clear, confirmDialog, formatClock, formatDateTime, h, naturalCompare, notify, parseTime,
  poll, priorityBadge, recalledBadge, setCategories, stateBadge, targetChip, timeEl,
} from '../ui.js';

const refreshMs = 4000;
const storesRefreshMs = 30000;
const problemStates = new Set(['rejected', 'failed', 'gap', 'expired']);
const stateOrder = ['rejected', 'failed', 'gap', 'expired', 'missing', 'pending', 'delivered', 'displayed', 'acknowledged', 'recalled'];

function rank(state) {
  const i = stateOrder.indexOf(state);
  return i < 0 ? stateOrder.indexOf('pending') : i;
}

// Seconds as the largest whole unit: "90 seconds", "5 minutes", "1 hour".
function durationText(seconds) {
  if (seconds % 3600 === 0) return t('duration.h', { n: seconds / 3600 });
  if (seconds % 60 === 0) return t('duration.min', { n: seconds / 60 });
  return t('duration.s', { n: seconds });
}

function matches(store, targets) {
  if (targets.includes('all') || targets.includes(`store:${store.id}`)) return true;
  return (store.groups || []).some((g) => targets.includes(g));
}

export function messageView(root, { match }) {
  const id = decodeURIComponent(match[1]);
  let data = null;
  let knownStores = null;
  let storesFetchedAt = 0;
  let lastUpdate = null;
  let filter = 'all';
  let alive = true;
  let recalling = false;
  const titles = new Map(); // id -> title of a message this one links to (its original or correction)

  const titleEl = h('h1', { class: 'page-title', tabindex: '-1', text: id });
  const badges = h('div', { class: 'msg-badges' });
  const meta = h('dl', { class: 'meta' });
  const bodyEl = h('p', { class: 'message-body' });
  const stats = h('div', { class: 'stats', id: 'receipt-stats' });
  const missingNote = h('p', { class: 'note note--warning', hidden: true });
  // Recall and correction: what happened to this message, and the actions.
  const lifecycle = h('div', { class: 'lifecycle', id: 'lifecycle', hidden: true });
  const recallBtn = h('button', {
    type: 'button', class: 'btn btn--danger-ghost', id: 'recall', hidden: true, onclick: recall,
    'i18n:title': 'recall.button_label',
  }, h('span', { class: 'btn__text', i18n: 'recall.button' }));
  const correctLink = h('a', {
    class: 'btn btn--secondary', id: 'correct', hidden: true, href: `#/compose?correct=${encodeURIComponent(id)}`,
    i18n: 'correct.button', 'i18n:title': 'correct.button_label',
  });
  const actions = h('div', { class: 'page-head__actions' }, correctLink, recallBtn);
  const rejectedNote = h('p', { class: 'note note--danger', id: 'rejected-note', hidden: true });
  const tbody = h('tbody');
  const table = h('table', { class: 'table table--stores-state', id: 'receipt-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', i18n: 'detail.col_store' }),
      h('th', { scope: 'col', i18n: 'detail.col_state' }),
      h('th', { scope: 'col', i18n: 'detail.col_at' }))),
    tbody);
  const none = h('p', { class: 'empty__title muted', i18n: 'detail.none', hidden: true });
  const updated = h('p', { class: 'muted auto-note' });
  const filterKeys = {
    all: 'detail.filter_all', problems: 'detail.filter_problems', missing: 'detail.filter_waiting', unacked: 'detail.filter_unacked',
  };
  const shows = {
    all: () => true,
    problems: (s) => problemStates.has(s.state),
    missing: (s) => s.state === 'missing',
    unacked: (s) => s.state !== 'acknowledged',
  };
  const filterGroup = h('div', { class: 'segmented segmented--small', role: 'group', 'aria-labelledby': 'filter-label' },
    Object.keys(filterKeys).map((value) => h('button', {
      type: 'button', class: 'segmented__button', dataset: { filter: value },
      onclick: () => {
        filter = value;
        renderReceipts();
      },
    })));

  const content = h('div', { class: 'detail', hidden: true },
    h('div', { class: 'detail__grid' },
      h('div', { class: 'card detail__message' },
        badges,
        lifecycle,
        bodyEl,
        meta),
      h('div', { class: 'card detail__receipts' },
        h('h2', { class: 'section-title', i18n: 'history.col_receipts' }),
        stats,
        rejectedNote,
        missingNote)),
    h('div', { class: 'card card--flush' },
      h('div', { class: 'card__head' },
        h('h2', { class: 'section-title', i18n: 'detail.stores' }),
        h('div', { class: 'toolbar' },
          h('span', { class: 'toolbar__label', id: 'filter-label', i18n: 'detail.filter_label' }),
          filterGroup,
          h('a', {
            class: 'btn btn--secondary btn--small', id: 'receipts-csv', download: '',
            href: `/api/v1/messages/${encodeURIComponent(id)}/receipts.csv`, i18n: 'detail.csv', 'i18n:title': 'detail.csv_label',
          }))),
      h('div', { class: 'table-wrap' }, table),
      none),
    updated);
  const notFound = h('div', { class: 'empty card', hidden: true },
    h('p', { class: 'empty__title', i18n: 'detail.not_found' }),
    h('a', { class: 'btn btn--secondary', href: '#/history', i18n: 'detail.back' }));

  root.append(h('section', { class: 'page page--message' },
    h('a', { class: 'back-link', href: '#/history' },
      h('span', { 'aria-hidden': 'true', text: '← ' }), h('span', { i18n: 'detail.back' })),
    h('header', { class: 'page-head' }, h('div', { class: 'page-head__text' }, titleEl), actions),
    content,
    notFound));

  function metaRow(key, value) {
    return [h('dt', { i18n: key }), h('dd', {}, value)];
  }

  function renderMessage() {
    const m = data.message || {};
    titleEl.textContent = m.title || id;
    document.title = `${m.title || id} · bcast`;
    const recalled = data.recall && typeof data.recall === 'object' ? data.recall : null;
    clear(badges, recalled ? recalledBadge() : null,
      m.supersedes ? h('span', { class: 'badge badge--correction', i18n: 'correct.badge' }) : null,
      categoryBadge(m.category), priorityBadge(m.priority),
      m.require_ack ? h('span', { class: 'badge badge--ack', i18n: 'history.ack' }) : null);
    renderLifecycle(m, recalled);
    bodyEl.textContent = m.body || '';
    clear(meta,
      metaRow('detail.sent_at', timeEl(m.sent_at)),
      metaRow('detail.sender', h('span', { text: m.sender || '' })),
      metaRow('detail.targets', h('div', { class: 'chips' }, (m.targets || []).map(targetChip))),
      metaRow('detail.expires', m.expires_at ? timeEl(m.expires_at) : h('span', { i18n: 'detail.never' })),
      metaRow('detail.ack', h('span', { i18n: m.require_ack ? 'detail.ack_yes' : 'detail.ack_no' })),
      Number.isInteger(m.repeat_every_s)
        ? metaRow('detail.repeat', h('span', { id: 'detail-repeat', text: t('detail.repeat_every', { d: durationText(m.repeat_every_s) }) }))
        : null,
      Number.isInteger(m.escalate_after_s)
        ? metaRow('detail.escalate', h('div', {},
          h('span', { id: 'detail-escalate', text: t('detail.escalate_after', { d: durationText(m.escalate_after_s) }) }),
          escalationState(data.escalation)))
        : null,
      metaRow('detail.id', h('code', { class: 'mono', text: m.id || id })));
  }

  // Where the escalation stands (GET /api/v1/messages/{id}'s "escalation"): due, or how it ended.
  function escalationState(esc) {
    if (!esc || typeof esc !== 'object') return null;
    const done = esc.state === 'done';
    const when = parseTime(done ? esc.at : esc.due_at);
    const time = when ? formatDateTime(when) : '';
    const known = ['ok', 'failed', 'all_acknowledged', 'not_configured', 'recalled', 'dropped'];
    const text = !done ? t('detail.escalation_pending', { time })
      : known.includes(esc.result) ? t(`detail.escalation_${esc.result}`, { time })
        : t('detail.escalation_done', { time, result: String(esc.result ?? '') });
    return h('div', {
      id: 'detail-escalation-state',
      class: `muted escalation escalation--${done ? esc.result : 'pending'}`,
      dataset: { state: done ? 'done' : 'pending', result: done ? String(esc.result ?? '') : '' },
      text,
    });
  }

  // A link to another message, by its title once known.
  function messageLink(other, linkId) {
    const a = h('a', { href: `#/messages/${encodeURIComponent(other)}`, id: linkId, class: 'lifecycle__link', text: titles.get(other) || other });
    if (!titles.has(other)) {
      titles.set(other, other);
      api.getMessage(other).then((d) => {
        const title = d?.message?.title;
        if (!title) return;
        titles.set(other, title);
        if (alive) renderAll();
      }).catch(() => {});
    }
    return a;
  }

  function renderLifecycle(m, recalled) {
    recallBtn.hidden = Boolean(recalled);
    correctLink.hidden = false;
    // Rebuilt only when something changed: the page refreshes every few seconds, and a link
    // that is rebuilt loses the keyboard focus.
    const others = [recalled?.superseded_by, m.supersedes].filter(Boolean);
    const key = JSON.stringify([recalled, m.supersedes, others.map((o) => titles.get(o)), lang()]);
    if (lifecycle.dataset.key === key) return;
    lifecycle.dataset.key = key;
    const parts = [];
    if (recalled) {
      const at = parseTime(recalled.at);
      parts.push(h('p', { class: 'note note--recalled', id: 'recall-note', tabindex: '-1' },
        h('span', { i18n: ['recall.by', { by: recalled.by || '?', time: at ? formatDateTime(at) : '' }] })));
      if (recalled.superseded_by) {
        parts.push(h('p', { class: 'lifecycle__row', id: 'corrected-by' },
          h('span', { class: 'lifecycle__label', i18n: 'recall.corrected_by' }), ' ',
          messageLink(recalled.superseded_by, 'corrected-by-link')));
      }
    }
    if (m.supersedes) {
      parts.push(h('p', { class: 'lifecycle__row', id: 'corrects' },
        h('span', { class: 'lifecycle__label', i18n: 'correct.corrects' }), ' ',
        messageLink(m.supersedes, 'corrects-link')));
    }
    clear(lifecycle, parts);
    lifecycle.hidden = parts.length === 0;
  }

  async function recall() {
    if (recalling || !data) return;
    const title = data.message?.title || id;
    const yes = await confirmDialog({
      titleKey: 'recall.confirm_title', bodyKey: 'recall.confirm_body', vars: { title },
      confirmKey: 'recall.confirm_ok', cancelKey: 'recall.confirm_keep', danger: true,
    });
    if (!yes || !alive) return;
    recalling = true;
    recallBtn.disabled = true;
    recallBtn.setAttribute('aria-busy', 'true');
    tr(recallBtn.querySelector('.btn__text'), 'recall.busy');
    try {
      const res = await api.recallMessage(id);
      if (!alive) return;
      if (res?.recall) data.recall = res.recall;
      notify({ kind: 'success', key: 'recall.done' });
      renderAll();
      // The button is gone: what happened takes the focus.
      lifecycle.querySelector('#recall-note')?.focus();
      refresh();
    } catch (err) {
      if (!alive) return;
      recallFailed(err);
    } finally {
      recalling = false;
      recallBtn.disabled = false;
      recallBtn.removeAttribute('aria-busy');
      tr(recallBtn.querySelector('.btn__text'), 'recall.button');
    }
  }

  function recallFailed(err) {
    if (!(err instanceof api.ApiError)) {
      notify({ kind: 'error', key: 'recall.not_recalled' });
    } else if (err.status === 401) {
      // The session handler has taken over.
    } else if (err.status === 404) {
      notify({ kind: 'error', key: 'detail.not_found', detail: err.message });
    } else if (err.status === 409) {
      notify({ kind: 'warning', key: 'recall.scheduled', detail: err.message, link: { href: '#/scheduled', key: 'notice.scheduled_link' } });
    } else if (err.status === 403) {
      notify({ kind: 'error', key: 'notice.forbidden', detail: err.message });
    } else if (err.status >= 500) {
      notify({ kind: 'error', key: 'recall.not_recalled', detail: err.message });
    } else {
      notify({ kind: 'error', key: 'notice.error', vars: { code: err.code }, detail: err.message });
    }
  }

  function rows() {
    const r = data.receipts || {};
    const reported = Array.isArray(r.stores) ? r.stores.filter((s) => s && s.store) : [];
    const list = reported.map((s) => ({ store: String(s.store), state: s.state, at: s.at }));
    const seen = new Set(list.map((s) => s.store));
    const expected = Number(r.expected) || 0;
    const missingCount = Math.max(0, expected - seen.size);
    // Which stores are still missing: those known stores that the targets reach and that have
    // not reported. Only while the server counts some as missing.
    if (missingCount > 0 && knownStores) {
      const targets = data.message?.targets || [];
      for (const s of knownStores) {
        if (!seen.has(String(s.id)) && matches(s, targets)) list.push({ store: String(s.id), state: 'missing', at: null, online: s.online });
      }
    }
    list.sort((a, b) => rank(a.state) - rank(b.state) || naturalCompare(a.store, b.store));
    return { list, missingCount };
  }

  function renderReceipts() {
    const r = data.receipts || {};
    const m = data.message || {};
    const n = (k) => Math.max(0, Number(r[k]) || 0);
    const expected = n('expected');
    const stages = ['delivered', 'displayed'];
    if (m.require_ack || n('acknowledged') > 0) stages.push('acknowledged');
    if (n('rejected') > 0) stages.push('rejected');
    if (n('recalled') > 0 || data.recall) stages.push('recalled');
    const total = Math.max(expected, ...stages.map(n));

    clear(stats,
      h('div', { class: 'stat stat--expected' },
        h('span', { class: 'stat__label', i18n: 'receipts.expected' }),
        h('span', { class: 'stat__value', text: String(expected) })),
      stages.map((stage) => {
        const pct = total ? Math.round((n(stage) / total) * 100) : 0;
        return h('div', { class: `stat stat--${stage}` },
          h('span', { class: 'stat__label', i18n: `receipts.${stage}` }),
          h('span', { class: 'stat__value', dataset: { stage }, text: String(n(stage)) },
            h('span', { class: 'stat__pct', text: ` ${pct}%` })),
          h('progress', {
            class: `bar bar--${stage}`, max: String(Math.max(total, 1)), value: String(Math.min(n(stage), Math.max(total, 1))),
            'aria-label': `${t(`receipts.${stage}`)}: ${t('receipts.count', { n: n(stage), total })}`,
          }));
      }));

    const { list, missingCount } = rows();
    if (missingCount > 0) tr(missingNote, 'detail.missing_n', { n: missingCount });
    missingNote.hidden = missingCount === 0;
    if (n('rejected') > 0) tr(rejectedNote, 'detail.rejected_n', { n: n('rejected') });
    rejectedNote.hidden = n('rejected') === 0;

    // "Not acknowledged" is for messages that ask for it.
    const acks = Boolean(m.require_ack);
    if (!acks && filter === 'unacked') filter = 'all';
    for (const b of filterGroup.children) {
      const name = b.dataset.filter;
      b.hidden = name === 'unacked' && !acks;
      tr(b, filterKeys[name], { n: list.filter(shows[name]).length });
      b.setAttribute('aria-pressed', String(filter === name));
    }

    const visible = list.filter(shows[filter]);
    clear(tbody, visible.map((s) => h('tr', { class: `state-row state-row--${s.state}`, dataset: { store: s.store, state: s.state } },
      h('td', {}, h('a', { href: `#/compose?target=${encodeURIComponent(`store:${s.store}`)}`, class: 'mono', text: s.store, 'i18n:title': ['stores.send_to', { id: s.store }] })),
      h('td', {}, stateBadge(s.state)),
      h('td', {}, s.at ? timeEl(s.at) : h('span', { class: 'muted', text: '—' })))));
    none.hidden = list.length > 0;
    table.hidden = list.length === 0;
  }

  function renderUpdated() {
    if (lastUpdate) tr(updated, 'detail.auto', { s: Math.round(refreshMs / 1000), time: formatClock(lastUpdate) });
  }

  function renderAll() {
    if (!data) return;
    renderMessage();
    renderReceipts();
    renderUpdated();
  }

  async function refresh() {
    try {
      const [next] = await Promise.all([
        api.getMessage(id),
        Date.now() - storesFetchedAt > storesRefreshMs
          ? api.stores().then((s) => { knownStores = s; storesFetchedAt = Date.now(); }).catch(() => {})
          : null,
      ]);
      if (!alive) return;
      data = next || {};
      lastUpdate = new Date();
      content.hidden = false;
      notFound.hidden = true;
      renderAll();
    } catch (err) {
      if (!alive) return;
      if (err instanceof api.ApiError && err.status === 404) {
        content.hidden = true;
        notFound.hidden = false;
        recallBtn.hidden = true;
        correctLink.hidden = true;
        titleEl.textContent = id;
        stopPoll();
      } else if (err instanceof api.ApiError && err.status === 401) {
        // The session handler has taken over.
      } else if (!data) {
        notify({ kind: 'error', key: 'notice.load_failed', detail: err instanceof api.ApiError ? err.message : undefined });
      }
    }
  }

  api.categories().then((list) => {
    setCategories(list);
    if (alive) renderAll();
  }).catch(() => {});
  refresh();
  const stopPoll = poll(refresh, refreshMs);
  const offLang = onLangChange(renderAll);

  return () => {
    alive = false;
    stopPoll();
    offLang();
  };
}

