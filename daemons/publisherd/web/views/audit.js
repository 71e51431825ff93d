import * as api from '../api.js';
import { onLangChange } from '../i18n.js';
import { clear, h, notify, pageHead, refreshButton, timeEl } from '../ui.js';

const pageSize = 50;
const actions = new Set([
  'login', 'send', 'recall', 'correction', 'schedule', 'cancel', 'scheduled_send', 'token_use',
  'users_reload', 'config_reload', 'escalation',
]);

// The audit log (GET /api/v1/audit, admins only), newest first, paged with "Load more".
export function auditView(root, { session }) {
  const entries = [];
  let cursor = null; // the next page's `before`; null at the end
  let loading = false;
  let alive = true;

  if (session?.user?.role !== 'admin') {
    root.append(h('section', { class: 'page page--audit' },
      pageHead('audit.title', 'audit.lead'),
      h('div', { class: 'empty', id: 'audit-forbidden' }, h('p', { class: 'empty__title', i18n: 'audit.admins_only' }))));
    return () => {};
  }

  const tbody = h('tbody');
  const table = h('table', { class: 'table table--audit', id: 'audit-table', hidden: true },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'col-time', i18n: 'audit.col_at' }),
      h('th', { scope: 'col', i18n: 'audit.col_actor' }),
      h('th', { scope: 'col', i18n: 'audit.col_address' }),
      h('th', { scope: 'col', i18n: 'audit.col_action' }),
      h('th', { scope: 'col', i18n: 'audit.col_message' }),
      h('th', { scope: 'col', i18n: 'audit.col_result' }))),
    tbody);
  const empty = h('div', { class: 'empty', id: 'audit-empty', hidden: true },
    h('p', { class: 'empty__title', i18n: 'audit.empty' }));
  const more = h('button', { type: 'button', class: 'btn btn--secondary', id: 'audit-more', i18n: 'history.more', hidden: true, onclick: () => load(false) });
  const end = h('p', { class: 'muted list-end', id: 'audit-end', i18n: 'audit.end', hidden: true });
  const refresh = refreshButton('audit-refresh', () => load(true));

  root.append(h('section', { class: 'page page--audit' },
    pageHead('audit.title', 'audit.lead', refresh),
    h('div', { class: 'card card--flush' }, h('div', { class: 'table-wrap' }, table), empty),
    h('div', { class: 'list-footer' }, more, end)));

  function row(e) {
    const ok = e.result === 'ok';
    const action = actions.has(e.action) ? h('span', { i18n: `audit.action_${e.action}` }) : h('span', { text: e.action || '' });
    return h('tr', { dataset: { id: e.id, action: e.action || '' } },
      h('td', { class: 'col-time' }, timeEl(e.at)),
      h('td', { class: 'col-actor', text: e.actor || '' }),
      h('td', { class: 'col-address', text: e.address || '' }),
      h('td', { class: 'col-action' }, action),
      h('td', { class: 'col-message' },
        e.message_id ? h('a', { class: 'msg-link', href: `#/messages/${encodeURIComponent(e.message_id)}`, text: e.message_id }) : null),
      h('td', { class: 'col-result' },
        h('span', { class: `state state--${ok ? 'displayed' : 'failed'}` },
          h('span', { class: 'state__dot', 'aria-hidden': 'true' }),
          ok ? h('span', { i18n: 'audit.result_ok' }) : h('span', { text: e.result || '' })),
        e.detail ? h('span', { class: 'muted audit-detail', text: ` ${e.detail}` }) : null));
  }

  function render() {
    clear(tbody, entries.map(row));
    table.hidden = entries.length === 0;
    empty.hidden = entries.length > 0;
    more.hidden = cursor === null;
    end.hidden = cursor !== null || entries.length === 0;
  }

  async function load(reset) {
    if (loading) return;
    loading = true;
    more.disabled = true;
    refresh.disabled = true;
    try {
      const page = await api.listAudit({ limit: pageSize, before: reset ? undefined : cursor });
      if (!alive) return;
      if (reset) entries.splice(0);
      entries.push(...page.entries);
      cursor = page.next;
      render();
    } catch (err) {
      if (err instanceof api.ApiError && err.status === 401) return;
      notify({ kind: 'error', key: 'notice.load_failed', detail: err instanceof api.ApiError ? err.message : undefined });
    } finally {
      loading = false;
      more.disabled = false;
      refresh.disabled = false;
    }
  }

  load(true);
  const offLang = onLangChange(render);
  return () => {
    alive = false;
    offLang();
  };
}
