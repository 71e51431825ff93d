import * as api from '../api.js';
import { onLangChange } from '../i18n.js';
import {
  categoryBadge, clear, h, notify, pageHead, poll, priorityBadge, receiptBars, recalledBadge,
  refreshButton, setCategories, targetChip, timeEl,
} from '../ui.js';

const pageSize = 20;
const shownTargets = 3;
const refreshMs = 10000;
const parallelFetches = 4;

export function historyView(root) {
  const messages = [];
  const receipts = new Map(); // id -> receipts, or null when they could not be read
  const recalled = new Map(); // id -> {id, at, by, superseded_by}: taken down by a recall or a correction
  let done = false;
  let cursor; // where the next page starts
  let loading = false;
  let alive = true;

  const tbody = h('tbody');
  const table = h('table', { class: 'table table--history', id: 'history-table' },
    h('thead', {},
      h('tr', {},
        h('th', { scope: 'col', class: 'col-time', i18n: 'history.col_time' }),
        h('th', { scope: 'col', class: 'col-message', i18n: 'history.col_message' }),
        h('th', { scope: 'col', class: 'col-targets', i18n: 'history.col_targets' }),
        h('th', { scope: 'col', class: 'col-receipts', i18n: 'history.col_receipts' }))),
    tbody);
  const empty = h('div', { class: 'empty', hidden: true },
    h('p', { class: 'empty__title', i18n: 'history.empty' }),
    h('a', { class: 'btn btn--primary', href: '#/compose', i18n: 'nav.compose' }));
  const more = h('button', { type: 'button', class: 'btn btn--secondary', id: 'history-more', i18n: 'history.more', onclick: () => load(false) });
  const end = h('p', { class: 'muted list-end', i18n: 'history.end', hidden: true });
  const status = h('p', { class: 'muted list-status', 'aria-live': 'polite' });
  const refresh = refreshButton('history-refresh', () => load(true));

  root.append(h('section', { class: 'page page--history' },
    pageHead('history.title', 'history.lead', refresh),
    h('div', { class: 'card card--flush' }, h('div', { class: 'table-wrap' }, table), empty),
    h('div', { class: 'list-footer' }, status, more, end)));

  function row(m) {
    const link = h('a', { class: 'msg-link', href: `#/messages/${encodeURIComponent(m.id)}`, text: m.title || m.id });
    const targets = Array.isArray(m.targets) ? m.targets : [];
    const rest = targets.length - shownTargets;
    const cell = h('td', { class: 'col-receipts', dataset: { label: 'history.col_receipts' } });
    fillReceipts(cell, m);
    const recall = recalled.get(m.id);
    return h('tr', { class: recall ? 'is-recalled' : null, dataset: recall ? { id: m.id, recalled: 'true' } : { id: m.id } },
      h('td', { class: 'col-time' }, timeEl(m.sent_at)),
      h('td', { class: 'col-message' },
        h('div', { class: 'msg-badges' },
          recall ? recalledBadge() : null,
          m.supersedes ? h('span', { class: 'badge badge--correction', i18n: 'correct.badge' }) : null,
          categoryBadge(m.category),
          priorityBadge(m.priority),
          m.require_ack ? h('span', { class: 'badge badge--ack', i18n: 'history.ack' }) : null),
        link),
      h('td', { class: 'col-targets' },
        h('div', { class: 'chips' },
          targets.slice(0, shownTargets).map(targetChip),
          rest > 0 ? h('span', { class: 'chip chip--more', i18n: ['history.more_targets', { n: rest }] }) : null)),
      cell);
  }

  function fillReceipts(cell, m) {
    if (!receipts.has(m.id)) clear(cell, h('span', { class: 'skeleton', 'aria-hidden': 'true' }));
    else clear(cell, receiptBars(receipts.get(m.id), { requireAck: m.require_ack, compact: true }));
  }

  function renderAll() {
    clear(tbody, messages.map(row));
    empty.hidden = messages.length > 0 || !done;
    table.hidden = messages.length === 0;
    more.hidden = done;
    end.hidden = !done || messages.length === 0;
  }

  // Receipts come one message at a time; a few requests run in parallel.
  async function fetchReceipts(list) {
    const queue = [...list];
    const worker = async () => {
      while (alive && queue.length) {
        const m = queue.shift();
        try {
          const data = await api.getMessage(m.id);
          receipts.set(m.id, data?.receipts || null);
        } catch (err) {
          if (err instanceof api.ApiError && err.status === 401) return;
          if (!receipts.has(m.id)) receipts.set(m.id, null);
        }
        const cell = tbody.querySelector(`tr[data-id="${CSS.escape(m.id)}"] td.col-receipts`);
        if (cell && alive) fillReceipts(cell, m);
      }
    };
    await Promise.all(Array.from({ length: parallelFetches }, worker));
  }

  async function load(reset) {
    if (loading) return;
    loading = true;
    more.disabled = true;
    refresh.disabled = true;
    root.querySelector('.page')?.setAttribute('aria-busy', 'true');
    try {
      const before = reset ? undefined : cursor;
      const page = await api.listMessages({ limit: pageSize, before });
      if (!alive) return;
      if (reset) {
        messages.splice(0);
        receipts.clear();
        recalled.clear();
      }
      for (const [id, r] of Object.entries(page.recalled)) if (r) recalled.set(id, r);
      const seen = new Set(messages.map((m) => m.id));
      const fresh = page.messages.filter((m) => m && m.id && !seen.has(m.id));
      messages.push(...fresh);
      cursor = page.nextBefore || messages[messages.length - 1]?.id;
      done = !page.nextBefore && page.messages.length < pageSize;
      renderAll();
      fetchReceipts(fresh);
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 401) return;
      notify({ kind: 'error', key: 'notice.load_failed', detail: err instanceof api.ApiError ? err.message : undefined });
    } finally {
      loading = false;
      more.disabled = false;
      refresh.disabled = false;
      root.querySelector('.page')?.removeAttribute('aria-busy');
    }
  }

  // Keep the progress of recent, unfinished messages moving.
  function unfinished() {
    return messages.slice(0, 50).filter((m) => {
      const r = receipts.get(m.id);
      if (!r) return true;
      const goal = Number(r.expected) || 0;
      if (goal === 0) return true;
      if (recalled.has(m.id)) return (Number(r.recalled) || 0) < goal;
      return (Number(r.displayed) || 0) < goal || (m.require_ack && (Number(r.acknowledged) || 0) < goal);
    });
  }

  api.categories().then((list) => {
    setCategories(list);
    if (alive) renderAll();
  }).catch(() => {});
  load(true);
  const stopPoll = poll(() => fetchReceipts(unfinished()), refreshMs);
  const offLang = onLangChange(renderAll);

  return () => {
    alive = false;
    stopPoll();
    offLang();
  };
}
