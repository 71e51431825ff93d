import * as api from '../api.js';
import { tr } from '../i18n.js';
import { clear, h, liveData, naturalCompare, pageHead, timeEl } from '../ui.js';

const refreshMs = 10000;

export function storesView(root) {
  let stores = null;
  let show = 'all';

  const summary = h('div', { class: 'summary', id: 'stores-summary' });
  const search = h('input', {
    id: 'stores-filter', type: 'search', autocomplete: 'off', spellcheck: 'false',
    'i18n:placeholder': 'stores.filter_placeholder',
  });
  const showGroup = h('div', { class: 'segmented segmented--small', role: 'group', 'aria-labelledby': 'show-label' },
    [['all', 'stores.show_all'], ['online', 'stores.show_online'], ['offline', 'stores.show_offline']].map(([value, key]) => h('button', {
      type: 'button', class: 'segmented__button', dataset: { show: value }, i18n: key, 'aria-pressed': String(show === value),
      onclick: () => {
        show = value;
        render();
      },
    })));
  const tbody = h('tbody');
  const table = h('table', { class: 'table table--stores', id: 'stores-table' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', i18n: 'stores.col_store' }),
      h('th', { scope: 'col', i18n: 'stores.col_status' }),
      h('th', { scope: 'col', i18n: 'stores.col_groups' }),
      h('th', { scope: 'col', i18n: 'stores.col_last_seen' }),
      h('th', { scope: 'col', class: 'col-action' }, h('span', { class: 'visually-hidden', i18n: 'stores.col_action' })))),
    tbody);
  const empty = h('p', { class: 'empty__title muted', hidden: true });
  const auto = h('p', { class: 'muted auto-note', i18n: ['stores.auto', { s: refreshMs / 1000 }] });

  root.append(h('section', { class: 'page page--stores' },
    pageHead('stores.title', 'stores.lead'),
    summary,
    h('div', { class: 'card card--flush' },
      h('div', { class: 'card__head toolbar' },
        h('div', { class: 'search' },
          h('label', { class: 'visually-hidden', for: 'stores-filter', i18n: 'stores.filter' }),
          h('span', { class: 'search__icon', 'aria-hidden': 'true' }),
          search),
        h('div', { class: 'toolbar__group' },
          h('span', { class: 'toolbar__label', id: 'show-label', i18n: 'stores.show' }),
          showGroup)),
      h('div', { class: 'table-wrap' }, table),
      empty),
    auto));

  search.addEventListener('input', render);

  function render() {
    for (const b of showGroup.children) b.setAttribute('aria-pressed', String(b.dataset.show === show));
    if (!stores) return;
    const online = stores.filter((s) => s.online).length;
    clear(summary,
      h('div', { class: 'summary__item summary__item--online' },
        h('span', { class: 'summary__value', text: String(online) }),
        h('span', { class: 'summary__label', i18n: 'stores.online' })),
      h('div', { class: 'summary__item summary__item--offline' },
        h('span', { class: 'summary__value', text: String(stores.length - online) }),
        h('span', { class: 'summary__label', i18n: 'stores.offline' })),
      h('p', { class: 'summary__text', i18n: ['stores.summary', { online, total: stores.length }] }));

    const q = search.value.trim().toLowerCase();
    const visible = stores
      .filter((s) => show === 'all' || (show === 'online') === Boolean(s.online))
      .filter((s) => !q || String(s.id).toLowerCase().includes(q) || (s.groups || []).some((g) => g.toLowerCase().includes(q)))
      .sort((a, b) => naturalCompare(a.id, b.id));

    clear(tbody, visible.map((s) => h('tr', { dataset: { store: s.id } },
      h('th', { scope: 'row', class: 'mono', text: s.id }),
      h('td', {},
        h('span', { class: `status status--${s.online ? 'online' : 'offline'}` },
          h('span', { class: 'status__dot', 'aria-hidden': 'true' }),
          h('span', { i18n: s.online ? 'stores.online' : 'stores.offline' }))),
      h('td', {}, (s.groups || []).length
        ? h('div', { class: 'chips' }, s.groups.map((g) => h('span', { class: 'chip', text: g })))
        : h('span', { class: 'muted', i18n: 'stores.no_groups' })),
      h('td', {}, timeEl(s.last_seen, { relative: true })),
      h('td', { class: 'col-action' },
        h('a', {
          class: 'btn btn--ghost btn--small', href: `#/compose?target=${encodeURIComponent(`store:${s.id}`)}`,
          i18n: 'stores.send', 'i18n:aria-label': ['stores.send_to', { id: s.id }],
        })))));
    table.hidden = visible.length === 0;
    empty.hidden = visible.length > 0;
    tr(empty, stores.length ? 'stores.no_match' : 'stores.empty');
  }

  const live = liveData({
    load: api.stores,
    show: (list) => {
      stores = list.filter((s) => s && s.id !== undefined).map((s) => ({ ...s, id: String(s.id) }));
      render();
    },
    render,
    ms: refreshMs,
  });
  return live.stop;
}
