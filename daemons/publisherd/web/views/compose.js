import * as api from '../api.js';
import { onLangChange, t, tr } from '../i18n.js';
import {
  categoryLabel, clear, formatDateTime, h, naturalCompare, notify, pageHead, parseTime, setCategories, uid,
} from '../ui.js';

// The default limits (publisherd's defaults). The server has the last word: a 400 names the field.
export const limits = { titleChars: 200, bodyBytes: 8192, targets: 64, scheduleDays: 90 };
export const targetPattern = /^(all|[a-z]+:[a-z0-9][a-z0-9_.-]{0,63})$/;
const priorities = ['normal', 'high', 'urgent'];
const draftKey = 'bcast.draft';
const quickGroupLimit = 16;
// Units for the must-read durations (repeat_every_s, escalate_after_s), in seconds.
const durationUnits = { s: 1, min: 60, h: 3600 };
const minRepeatSeconds = 10;
const encoder = new TextEncoder();

function loadDraft() {
  try {
    return JSON.parse(sessionStorage.getItem(draftKey) || 'null');
  } catch {
    return null;
  }
}

function saveDraft(draft) {
  try {
    sessionStorage.setItem(draftKey, JSON.stringify(draft));
  } catch {
    // A draft is a convenience only.
  }
}

function dropDraft() {
  try {
    sessionStorage.removeItem(draftKey);
  } catch {
    // Nothing to drop.
  }
}

// A datetime-local value is local wall time; the API wants UTC with milliseconds.
function expiryToIso(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

const pad = (n) => String(n).padStart(2, '0');

function localDateValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function localInputValue(date) {
  return `${localDateValue(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

// A date input's and a time input's values (local wall time) as a Date, or null.
function localDateTime(dateValue, timeValue) {
  const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateValue || '');
  const tm = /^(\d{2}):(\d{2})(?::(\d{2}))?/.exec(timeValue || '');
  if (!d || !tm) return null;
  const at = new Date(Number(d[1]), Number(d[2]) - 1, Number(d[3]), Number(tm[1]), Number(tm[2]), Number(tm[3] || 0));
  return Number.isNaN(at.getTime()) ? null : at;
}

// RFC 3339 with the browser's UTC offset at that moment: 2026-11-27T10:00:00+07:00. The server
// reads the instant; the offset keeps the time as the person chose it readable in logs.
export function rfc3339Local(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${localDateValue(date)}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
    + `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// A number and a unit as whole seconds; null when the number is empty (the option is off).
// Anything else goes to the server as it is: its 400 names the field.
function durationSeconds(value, unit) {
  if (String(value).trim() === '') return null;
  return Math.round(Number(value) * (durationUnits[unit] || 1));
}

// Seconds as the largest unit that divides them.
function durationParts(seconds) {
  const unit = ['h', 'min'].find((u) => seconds % durationUnits[u] === 0) || 's';
  return { value: String(seconds / durationUnits[unit]), unit };
}

function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || rfc3339Local(new Date()).slice(-6);
  } catch {
    return rfc3339Local(new Date()).slice(-6);
  }
}

export function composeView(root, { params, go }) {
  // #/compose?correct=<id>: a correction of that message, filled in from it. The user's own
  // draft is neither shown nor overwritten meanwhile.
  let supersedes = params.get('correct') || null;
  const draft = (supersedes ? null : loadDraft()) || {};
  const targets = [];
  let knownStores = [];
  let categories = api.defaultCategories;
  let sending = false;
  let loadingOriginal = Boolean(supersedes);

  // Recipients ---------------------------------------------------------------
  const chips = h('ul', { class: 'chips chips--selected', id: 'target-chips', 'aria-live': 'polite' });
  const targetInput = h('input', {
    id: 'target-input', type: 'text', list: 'target-options', autocomplete: 'off',
    autocapitalize: 'none', spellcheck: 'false', 'i18n:placeholder': 'compose.target_placeholder',
    'aria-describedby': 'targets-hint targets-error',
  });
  const datalist = h('datalist', { id: 'target-options' });
  const quick = h('div', { class: 'quick', role: 'group', 'aria-labelledby': 'quick-label' });
  const reach = h('p', { class: 'hint reach', id: 'targets-reach' });
  const targetsError = h('p', { class: 'field__error', id: 'targets-error', hidden: true });

  const targetsField = h('fieldset', { class: 'field field--targets', id: 'field-targets', dataset: { field: 'targets' } },
    h('legend', { class: 'field__label', i18n: 'compose.targets' }),
    h('p', { class: 'hint', id: 'targets-hint', i18n: 'compose.targets_hint' }),
    chips,
    h('div', { class: 'target-add' },
      h('label', { class: 'visually-hidden', for: 'target-input', i18n: 'compose.target_input' }),
      targetInput,
      datalist,
      h('button', { type: 'button', class: 'btn btn--secondary', id: 'target-add', i18n: 'compose.target_add', onclick: addTyped })),
    targetsError,
    h('div', { class: 'quick-wrap' },
      h('span', { class: 'quick__label', id: 'quick-label', i18n: 'compose.quick' }),
      quick),
    reach);

  targetInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      addTyped();
    } else if (e.key === 'Backspace' && !targetInput.value && targets.length) {
      removeTarget(targets[targets.length - 1]);
    }
  });
  // Picking an entry from the datalist fills the input with a complete value: add it at once.
  targetInput.addEventListener('input', (e) => {
    const v = targetInput.value.trim();
    if (e.inputType === 'insertReplacementText' && [...datalist.options].some((o) => o.value === v)) addTyped();
  });

  function addTyped() {
    const raw = targetInput.value.trim().toLowerCase();
    if (!raw) {
      targetInput.focus();
      return;
    }
    const parts = raw.split(/[\s,;]+/).filter(Boolean);
    const bad = parts.find((p) => !targetPattern.test(p));
    if (bad) {
      fieldError('targets', 'compose.target_invalid', { target: bad });
      targetInput.setAttribute('aria-invalid', 'true');
      return;
    }
    for (const p of parts) addTarget(p);
    targetInput.value = '';
    targetInput.focus();
  }

  function addTarget(target) {
    if (targets.includes(target)) return;
    if (targets.length >= limits.targets) {
      fieldError('targets', 'compose.target_max', { max: limits.targets });
      return;
    }
    targets.push(target);
    clearFieldError('targets');
    renderTargets();
    changed();
  }

  function removeTarget(target) {
    const i = targets.indexOf(target);
    if (i >= 0) targets.splice(i, 1);
    renderTargets();
    changed();
  }

  function renderTargets() {
    clear(chips, targets.length
      ? targets.map((target) => h('li', { class: `chip chip--removable${target === 'all' ? ' chip--all' : ''}` },
        target === 'all' ? h('span', { i18n: 'target.all' }) : h('span', { text: target }),
        h('button', {
          type: 'button', class: 'chip__remove',
          'i18n:aria-label': ['compose.target_remove', { target }],
          onclick: () => {
            removeTarget(target);
            targetInput.focus();
          },
        }, h('span', { 'aria-hidden': 'true', text: '×' }))))
      : h('li', { class: 'chips__empty', i18n: 'compose.selected_none' }));
    for (const b of quick.querySelectorAll('[data-target]')) {
      b.setAttribute('aria-pressed', String(targets.includes(b.dataset.target)));
    }
    renderReach();
  }

  function renderReach() {
    if (targets.includes('all')) {
      tr(reach, 'compose.reach_all');
      reach.hidden = false;
      return;
    }
    if (!knownStores.length || !targets.length) {
      reach.hidden = true;
      return;
    }
    const n = knownStores.filter((s) => targets.includes(`store:${s.id}`)
      || (s.groups || []).some((g) => targets.includes(g))).length;
    tr(reach, 'compose.reach', { n, total: knownStores.length });
    reach.hidden = false;
  }

  function renderKnown() {
    const groups = new Map();
    for (const s of knownStores) {
      for (const g of s.groups || []) {
        if (targetPattern.test(g)) groups.set(g, (groups.get(g) || 0) + 1);
      }
    }
    const groupNames = [...groups.keys()].sort(naturalCompare);
    const storeIds = knownStores.map((s) => s.id).filter(Boolean).sort(naturalCompare);

    clear(datalist,
      h('option', { value: 'all', text: t('target.all') }),
      groupNames.map((g) => h('option', { value: g, text: `${g} (${groups.get(g)})` })),
      storeIds.map((id) => {
        const s = knownStores.find((x) => x.id === id);
        return h('option', { value: `store:${id}`, text: `${id} · ${t(s?.online ? 'stores.online' : 'stores.offline')}` });
      }));

    const pick = (target, label, count) => h('button', {
      type: 'button', class: 'pick', dataset: { target }, 'aria-pressed': String(targets.includes(target)),
      onclick: () => (targets.includes(target) ? removeTarget(target) : addTarget(target)),
    }, label, count === undefined ? null : h('span', { class: 'pick__count', text: String(count) }));

    clear(quick,
      pick('all', h('span', { i18n: 'target.all' }), knownStores.length || undefined),
      groupNames.slice(0, quickGroupLimit).map((g) => pick(g, h('span', { text: g }), groups.get(g))));
    renderReach();
  }

  // Category and priority -----------------------------------------------------
  const categoryGroup = h('div', { class: 'segmented', role: 'radiogroup', 'aria-labelledby': 'category-legend' });
  const categoryField = h('fieldset', { class: 'field', id: 'field-category', dataset: { field: 'category' } },
    h('legend', { class: 'field__label', id: 'category-legend', i18n: 'compose.category' }),
    categoryGroup,
    h('p', { class: 'field__error', hidden: true }));

  function renderCategories() {
    const selected = currentCategory() || draft.category || categories[0]?.id;
    const ids = categories.map((c) => c.id).join(' ');
    if (categoryGroup.dataset.ids === ids) {
      for (const label of categoryGroup.querySelectorAll('label[data-cat]')) label.textContent = categoryLabel(label.dataset.cat);
      return;
    }
    categoryGroup.dataset.ids = ids;
    clear(categoryGroup, categories.map((c) => {
      const id = uid('cat');
      return [
        h('input', { type: 'radio', name: 'category', id, value: c.id, class: 'segmented__input', checked: c.id === selected, onchange: changed }),
        h('label', { for: id, class: 'segmented__option', dataset: { cat: c.id }, text: categoryLabel(c.id) }),
      ];
    }));
    if (!currentCategory() && categoryGroup.querySelector('input')) categoryGroup.querySelector('input').checked = true;
  }

  function currentCategory() {
    return categoryGroup.querySelector('input:checked')?.value;
  }

  const priorityGroup = h('div', { class: 'segmented segmented--priority', role: 'radiogroup', 'aria-labelledby': 'priority-legend' },
    priorities.map((p) => {
      const id = `priority-${p}`;
      return [
        h('input', {
          type: 'radio', name: 'priority', id, value: p, class: 'segmented__input',
          checked: p === (priorities.includes(draft.priority) ? draft.priority : 'normal'), onchange: changed,
        }),
        h('label', { for: id, class: `segmented__option segmented__option--${p}` },
          h('span', { class: `dot dot--${p}`, 'aria-hidden': 'true' }),
          h('span', { i18n: `priority.${p}` })),
      ];
    }));
  const priorityField = h('fieldset', { class: 'field', id: 'field-priority', dataset: { field: 'priority' } },
    h('legend', { class: 'field__label', id: 'priority-legend', i18n: 'compose.priority' }),
    priorityGroup,
    h('p', { class: 'field__error', hidden: true }));

  // Title and body -------------------------------------------------------------
  const title = h('input', {
    id: 'title', name: 'title', type: 'text', autocomplete: 'off', value: draft.title || '',
    'aria-describedby': 'title-count title-error', required: true,
  });
  const titleCount = h('span', { class: 'counter', id: 'title-count' });
  const titleField = h('div', { class: 'field', id: 'field-title', dataset: { field: 'title' } },
    h('div', { class: 'field__label-row' },
      h('label', { class: 'field__label', for: 'title', i18n: 'compose.subject' }),
      titleCount),
    title,
    h('p', { class: 'field__error', id: 'title-error', hidden: true }));

  const body = h('textarea', {
    id: 'body', name: 'body', rows: '7', value: draft.body || '',
    'aria-describedby': 'body-count body-error', required: true,
  });
  const bodyCount = h('span', { class: 'counter', id: 'body-count' });
  const bodyField = h('div', { class: 'field', id: 'field-body', dataset: { field: 'body' } },
    h('div', { class: 'field__label-row' },
      h('label', { class: 'field__label', for: 'body', i18n: 'compose.body' }),
      bodyCount),
    body,
    h('p', { class: 'field__error', id: 'body-error', hidden: true }));

  // Options -------------------------------------------------------------------
  const expiry = h('input', {
    id: 'expires', name: 'expires', type: 'datetime-local', value: draft.expires || '',
    'aria-describedby': 'expires-hint expires-error', onchange: changed,
  });
  const expiryField = h('div', { class: 'field', id: 'field-expires_at', dataset: { field: 'expires_at' } },
    h('label', { class: 'field__label', for: 'expires', i18n: 'compose.expiry' }),
    expiry,
    h('p', { class: 'hint', id: 'expires-hint', i18n: 'compose.expiry_hint' }),
    h('p', { class: 'field__error', id: 'expires-error', hidden: true }));

  const ack = h('input', {
    id: 'require-ack', name: 'require_ack', type: 'checkbox', checked: Boolean(draft.require_ack), 'aria-describedby': 'ack-hint',
    onchange: () => {
      renderMustRead();
      changed();
    },
  });
  const ackField = h('div', { class: 'field field--check', id: 'field-require_ack', dataset: { field: 'require_ack' } },
    h('div', { class: 'check' },
      ack,
      h('label', { for: 'require-ack', class: 'check__label' },
        h('span', { class: 'check__title', i18n: 'compose.ack' }),
        h('span', { class: 'hint', id: 'ack-hint', i18n: 'compose.ack_hint' }))),
    h('p', { class: 'field__error', hidden: true }));

  // Must-read: shown again every N seconds, escalated after M seconds, both only with require_ack.
  function durationField({ field, id, label, hint, value, unit }) {
    const input = h('input', {
      id, name: field, type: 'number', min: '1', step: '1', inputmode: 'numeric', value: value || '',
      'aria-describedby': `${id}-hint ${id}-error`, oninput: () => {
        clearFieldError(field);
        renderMustRead();
        changed();
      },
    });
    const units = h('select', { id: `${id}-unit`, name: `${field}_unit`, class: 'duration__unit', onchange: () => {
      renderMustRead();
      changed();
    } }, Object.keys(durationUnits).map((u) => h('option', { value: u, i18n: `unit.${u}` })));
    units.value = durationUnits[unit] ? unit : 'min';
    const hintEl = h('p', { class: 'hint', id: `${id}-hint`, i18n: hint });
    const el = h('div', { class: 'field field--duration', id: `field-${field}`, dataset: { field } },
      h('label', { class: 'field__label', for: id, i18n: label }),
      h('div', { class: 'duration' },
        input,
        h('label', { class: 'visually-hidden', for: `${id}-unit`, i18n: 'compose.unit' }),
        units),
      hintEl,
      h('p', { class: 'field__error', id: `${id}-error`, hidden: true }));
    return { el, input, units, hintEl, seconds: () => durationSeconds(input.value, units.value) };
  }
  const repeat = durationField({
    field: 'repeat_every_s', id: 'repeat-every', label: 'compose.repeat', hint: ['compose.repeat_hint', { min: minRepeatSeconds }],
    value: draft.repeat, unit: draft.repeat_unit,
  });
  const escalate = durationField({
    field: 'escalate_after_s', id: 'escalate-after', label: 'compose.escalate', hint: 'compose.escalate_hint',
    value: draft.escalate, unit: draft.escalate_unit,
  });
  const mustReadOff = h('p', { class: 'hint must-read__off', id: 'must-read-off', i18n: 'compose.must_read_off' });
  const mustReadRow = h('div', { class: 'must-read', id: 'must-read' },
    h('div', { class: 'form-row form-row--2' }, repeat.el, escalate.el),
    mustReadOff);

  function renderMustRead() {
    for (const d of [repeat, escalate]) {
      d.input.disabled = !ack.checked;
      d.units.disabled = !ack.checked;
    }
    mustReadOff.hidden = ack.checked;
    // A hint only: the server's 400 for a shorter repeat shows at the field.
    const s = repeat.seconds();
    repeat.hintEl.classList.toggle('hint--warn', ack.checked && s !== null && s < minRepeatSeconds);
  }

  // Send later: a date and a time in the browser's time zone, posted as send_at with its offset.
  const laterToggle = h('input', {
    id: 'send-later', name: 'send_later', type: 'checkbox', 'aria-describedby': 'later-hint', 'aria-controls': 'later-when',
    onchange: () => {
      laterWhen.hidden = !laterToggle.checked;
      clearFieldError('send_at');
      if (laterToggle.checked) {
        if (!laterDate.value) laterDate.value = localDateValue(new Date());
        // The picker offers the days the server accepts; the server still judges the time.
        laterDate.min = localDateValue(new Date());
        laterDate.max = localDateValue(new Date(Date.now() + limits.scheduleDays * 86400000));
        laterDate.focus();
      }
      renderSendLabel();
    },
  });
  const laterDate = h('input', { id: 'send-at-date', name: 'send_at_date', type: 'date', 'aria-describedby': 'send-at-error', dataset: { invalidTarget: '' } });
  const laterTime = h('input', { id: 'send-at-time', name: 'send_at_time', type: 'time', 'aria-describedby': 'send-at-error', dataset: { invalidTarget: '' } });
  for (const el of [laterDate, laterTime]) el.addEventListener('input', () => clearFieldError('send_at'));
  const laterWhen = h('div', { class: 'later__when', id: 'later-when', hidden: true },
    h('div', { class: 'later__part' },
      h('label', { class: 'field__label', for: 'send-at-date', i18n: 'compose.later_date' }),
      laterDate),
    h('div', { class: 'later__part' },
      h('label', { class: 'field__label', for: 'send-at-time', i18n: 'compose.later_time' }),
      laterTime));
  const laterField = h('div', { class: 'field field--later', id: 'field-send_at', dataset: { field: 'send_at' }, hidden: Boolean(supersedes) },
    h('div', { class: 'check' },
      laterToggle,
      h('label', { for: 'send-later', class: 'check__label' },
        h('span', { class: 'check__title', i18n: 'compose.later' }),
        h('span', { class: 'hint', id: 'later-hint', i18n: ['compose.later_hint', { zone: timeZoneName() }] }))),
    laterWhen,
    h('p', { class: 'field__error', id: 'send-at-error', hidden: true }));

  // A correction: which message it replaces. Errors about `supersedes` show here.
  const correctionText = h('p', { class: 'correction__title', id: 'correction-title', i18n: 'correct.loading' });
  const correctionField = h('div', {
    class: 'correction', id: 'field-supersedes', dataset: { field: 'supersedes' }, tabindex: '-1', hidden: !supersedes,
    role: 'group', 'aria-labelledby': 'correction-title',
  },
  correctionText,
  h('p', { class: 'hint', i18n: 'correct.note_hint' }),
  h('p', { class: 'correction__links' },
    h('a', { href: supersedes ? `#/messages/${encodeURIComponent(supersedes)}` : '#/history', id: 'correction-original', i18n: 'correct.original' }),
    h('a', { href: '#/compose', id: 'correction-stop', i18n: 'correct.stop' })),
  h('p', { class: 'field__error', id: 'supersedes-error', hidden: true }));

  const sendBtn = h('button', { type: 'submit', class: 'btn btn--primary btn--send', id: 'send' },
    h('span', { class: 'btn__icon btn__icon--send', 'aria-hidden': 'true' }),
    h('span', { class: 'btn__text', i18n: 'compose.send' }));
  const clearBtn = h('button', { type: 'button', class: 'btn btn--ghost', id: 'clear', i18n: 'compose.clear', onclick: resetForm });

  const form = h('form', { class: 'compose__form card', id: 'compose-form', novalidate: true, onsubmit: submit },
    correctionField,
    targetsField,
    categoryField,
    priorityField,
    titleField,
    bodyField,
    h('div', { class: 'form-row form-row--2 form-row--options' }, expiryField, ackField),
    mustReadRow,
    laterField,
    h('div', { class: 'form-actions' }, sendBtn, clearBtn));

  // Preview -------------------------------------------------------------------
  const pvCategory = h('span', { class: 'popup__category' });
  const pvPriority = h('span', { class: 'badge' });
  const pvTitle = h('p', { class: 'popup__title' });
  const pvBody = h('p', { class: 'popup__body' });
  const pvButton = h('span', { class: 'popup__button' });
  const popup = h('div', { class: 'popup', 'aria-hidden': 'true' },
    h('div', { class: 'popup__bar' },
      h('span', { class: 'popup__dots' }, h('span'), h('span'), h('span')),
      h('span', { class: 'popup__app', text: 'bcast' })),
    h('div', { class: 'popup__content' },
      h('div', { class: 'popup__meta' }, pvCategory, pvPriority),
      pvTitle,
      pvBody,
      h('div', { class: 'popup__actions' }, pvButton)));
  const preview = h('aside', { class: 'compose__preview', 'aria-labelledby': 'preview-heading' },
    h('h2', { class: 'section-title', id: 'preview-heading', i18n: 'compose.preview' }),
    popup);

  root.append(h('section', { class: 'page page--compose' },
    pageHead('compose.title', 'compose.lead'),
    h('div', { class: 'compose' }, form, preview)));

  // Behaviour -----------------------------------------------------------------
  function counters() {
    const chars = [...title.value].length;
    tr(titleCount, 'compose.count_chars', { n: chars, max: limits.titleChars });
    titleCount.classList.toggle('counter--over', chars > limits.titleChars);
    const bytes = encoder.encode(body.value).length;
    tr(bodyCount, 'compose.count_bytes', { n: bytes, max: limits.bodyBytes });
    bodyCount.classList.toggle('counter--over', bytes > limits.bodyBytes);
  }

  function renderPreview() {
    const cat = currentCategory();
    pvCategory.textContent = cat ? categoryLabel(cat) : '';
    const p = priorityGroup.querySelector('input:checked')?.value || 'normal';
    pvPriority.className = `badge badge--priority-${p}`;
    tr(pvPriority, `priority.${p}`);
    popup.className = `popup popup--${p}`;
    if (title.value.trim()) {
      delete pvTitle.dataset.i18n;
      pvTitle.textContent = title.value;
      pvTitle.classList.remove('is-placeholder');
    } else {
      tr(pvTitle, 'compose.preview_title');
      pvTitle.classList.add('is-placeholder');
    }
    if (body.value.trim()) {
      delete pvBody.dataset.i18n;
      pvBody.textContent = body.value;
      pvBody.classList.remove('is-placeholder');
    } else {
      tr(pvBody, 'compose.preview_body');
      pvBody.classList.add('is-placeholder');
    }
    tr(pvButton, ack.checked ? 'compose.preview_ok' : 'compose.preview_close');
  }

  function collect() {
    return {
      targets: [...targets],
      category: currentCategory() || '',
      priority: priorityGroup.querySelector('input:checked')?.value || 'normal',
      title: title.value,
      body: body.value,
      expires: expiry.value,
      require_ack: ack.checked,
      repeat: repeat.input.value,
      repeat_unit: repeat.units.value,
      escalate: escalate.input.value,
      escalate_unit: escalate.units.value,
    };
  }

  function changed() {
    counters();
    renderPreview();
    if (!supersedes) saveDraft(collect());
  }

  function sendLabel() {
    if (supersedes) return sending ? 'compose.sending' : 'correct.send';
    if (laterToggle.checked) return sending ? 'compose.scheduling' : 'compose.schedule';
    return sending ? 'compose.sending' : 'compose.send';
  }

  function renderSendLabel() {
    tr(sendBtn.querySelector('.btn__text'), sendLabel());
    sendBtn.disabled = sending || loadingOriginal;
  }

  for (const el of [title, body]) {
    el.addEventListener('input', () => {
      clearFieldError(el === title ? 'title' : 'body');
      changed();
    });
  }
  expiry.addEventListener('input', () => clearFieldError('expires_at'));

  function fieldEl(name) {
    return form.querySelector(`[data-field="${name}"]`);
  }

  // A server-side field name may point inside a value ("targets[3]", "targets.3").
  function fieldName(raw) {
    const base = String(raw || '').split(/[.[]/)[0];
    return base === 'expires' ? 'expires_at' : base;
  }

  function fieldError(name, key, vars, serverText) {
    const field = fieldEl(fieldName(name));
    if (!field) return null;
    field.classList.add('field--invalid');
    const err = field.querySelector('.field__error');
    if (serverText) {
      delete err.dataset.i18n;
      err.textContent = serverText;
    } else {
      tr(err, key, vars);
    }
    err.hidden = false;
    // A field may name its controls (send later: the date and the time, not the checkbox).
    const named = [...field.querySelectorAll('[data-invalid-target]')];
    const controls = named.length ? named
      : [field.querySelector('input:not([type=radio]), textarea') || field.querySelector('input')].filter(Boolean);
    for (const c of controls) c.setAttribute('aria-invalid', 'true');
    return controls[0] || (field.hasAttribute('tabindex') ? field : null);
  }

  function clearFieldError(name) {
    const field = fieldEl(name);
    if (!field) return;
    field.classList.remove('field--invalid');
    const err = field.querySelector('.field__error');
    err.hidden = true;
    err.textContent = '';
    delete err.dataset.i18n;
    for (const c of field.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  }

  function clearAllErrors() {
    for (const f of form.querySelectorAll('[data-field]')) clearFieldError(f.dataset.field);
  }

  function validate(d) {
    const problems = [];
    if (!d.targets.length) problems.push(['targets', 'compose.target_none']);
    const chars = [...d.title.trim()].length;
    if (!chars) problems.push(['title', 'compose.title_required']);
    else if (chars > limits.titleChars) problems.push(['title', 'compose.title_long', { max: limits.titleChars }]);
    const bytes = encoder.encode(d.body).length;
    if (!d.body.trim()) problems.push(['body', 'compose.body_required']);
    else if (bytes > limits.bodyBytes) problems.push(['body', 'compose.body_long', { max: limits.bodyBytes }]);
    if (d.expires) {
      const at = new Date(d.expires);
      if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now()) problems.push(['expires_at', 'compose.expiry_past']);
    }
    if (d.sendAt === null) problems.push(['send_at', 'compose.later_required']);
    else if (d.sendAt && d.sendAt.getTime() <= Date.now()) problems.push(['send_at', 'compose.later_past']);
    return problems;
  }

  function setSending(on) {
    sending = on;
    sendBtn.setAttribute('aria-busy', String(on));
    renderSendLabel();
    form.classList.toggle('is-sending', on);
  }

  async function submit(event) {
    event.preventDefault();
    if (sending) return;
    clearAllErrors();
    // A recipient typed but not added yet is meant to be sent to; one that is not valid stops the send.
    if (targetInput.value.trim()) {
      addTyped();
      if (targetInput.value.trim()) {
        notify({ kind: 'error', key: 'notice.check_form' });
        targetInput.focus();
        return;
      }
    }
    const d = collect();
    // undefined: send now; null: later, but no complete date and time.
    if (laterToggle.checked && !supersedes) d.sendAt = localDateTime(laterDate.value, laterTime.value);
    const problems = validate(d);
    if (problems.length) {
      let first = null;
      for (const [name, key, vars] of problems) {
        const control = fieldError(name, key, vars);
        first = first || (name === 'targets' ? targetInput : control);
      }
      notify({ kind: 'error', key: 'notice.check_form' });
      first?.focus();
      return;
    }

    const payload = {
      targets: d.targets,
      category: d.category,
      title: d.title.trim(),
      body: d.body,
      priority: d.priority,
      require_ack: d.require_ack,
    };
    const expiresAt = expiryToIso(d.expires);
    if (expiresAt) payload.expires_at = expiresAt;
    if (d.require_ack) {
      const repeatS = repeat.seconds();
      const escalateS = escalate.seconds();
      if (repeatS !== null) payload.repeat_every_s = repeatS;
      if (escalateS !== null) payload.escalate_after_s = escalateS;
    }
    if (supersedes) payload.supersedes = supersedes;
    else if (d.sendAt) payload.send_at = rfc3339Local(d.sendAt);

    setSending(true);
    try {
      const envelope = await api.sendMessage(payload);
      const id = envelope?.id || '';
      if (supersedes) {
        // The new message's page shows what it corrects; the notice survives the navigation.
        notify({ kind: 'success', key: 'correct.sent', detailKey: id ? 'notice.sent_detail' : undefined, detailVars: { id }, persist: true });
        if (id) {
          go(`#/messages/${encodeURIComponent(id)}`);
          return;
        }
      } else if (envelope?.state === 'scheduled' || payload.send_at) {
        const at = parseTime(envelope?.send_at) || d.sendAt;
        notify({
          kind: 'success', key: 'notice.scheduled', vars: { time: formatDateTime(at) },
          detailKey: id ? 'notice.scheduled_detail' : undefined, detailVars: { id },
          link: { href: '#/scheduled', key: 'notice.scheduled_link' },
        });
        laterToggle.checked = false;
        laterDate.value = '';
        laterTime.value = '';
        laterWhen.hidden = true;
      } else {
        notify({
          kind: 'success', key: 'notice.sent',
          detailKey: id ? 'notice.sent_detail' : undefined, detailVars: { id },
          link: id ? { href: `#/messages/${encodeURIComponent(id)}`, key: 'notice.sent_link' } : undefined,
        });
      }
      // Keep who it went to and the category: the next message often goes the same way.
      title.value = '';
      body.value = '';
      expiry.value = '';
      ack.checked = false;
      clearMustRead();
      priorityGroup.querySelector('#priority-normal').checked = true;
      changed();
      dropDraft();
      title.focus();
    } catch (err) {
      failed(err);
    } finally {
      setSending(false);
      // A disabled button drops focus; give it back so Enter retries.
      if (document.activeElement === document.body || !document.activeElement) sendBtn.focus();
    }
  }

  function failed(err) {
    if (err instanceof api.NetworkError) {
      notify({ kind: 'error', key: 'notice.not_sent' });
      return;
    }
    if (!(err instanceof api.ApiError)) {
      notify({ kind: 'error', key: 'notice.not_sent' });
      return;
    }
    if (err.status === 401) return; // The session handler has taken us to the login page.
    if (err.status === 503 || err.code === 'broker_unavailable' || err.status >= 500) {
      notify({ kind: 'error', key: 'notice.not_sent', detail: err.message });
    } else if (err.status === 400 || err.code === 'invalid_request'
      || ([404, 409].includes(err.status) && err.field && fieldEl(fieldName(err.field)))) {
      // 404/409 name `supersedes` for a correction of a message that is gone or not sent yet.
      const control = err.field ? fieldError(err.field, null, null, err.message) : null;
      notify({ kind: 'error', key: 'notice.invalid', detail: err.message });
      (fieldName(err.field) === 'targets' ? targetInput : control)?.focus();
    } else if (err.status === 403) {
      notify({ kind: 'error', key: 'notice.forbidden_send', detail: err.message });
    } else {
      notify({ kind: 'error', key: 'notice.error', vars: { code: err.code }, detail: err.message });
    }
  }

  function clearMustRead() {
    repeat.input.value = '';
    escalate.input.value = '';
    renderMustRead();
  }

  function resetForm() {
    targets.splice(0);
    title.value = '';
    body.value = '';
    expiry.value = '';
    ack.checked = false;
    clearMustRead();
    laterToggle.checked = false;
    laterDate.value = '';
    laterTime.value = '';
    laterWhen.hidden = true;
    renderSendLabel();
    priorityGroup.querySelector('#priority-normal').checked = true;
    const firstCat = categoryGroup.querySelector('input');
    if (firstCat) firstCat.checked = true;
    clearAllErrors();
    renderTargets();
    changed();
    dropDraft();
    targetInput.focus();
  }

  // Start ---------------------------------------------------------------------
  for (const target of Array.isArray(draft.targets) ? draft.targets : []) {
    if (targetPattern.test(target) && !targets.includes(target)) targets.push(target);
  }
  const wanted = params.get('target');
  if (wanted && targetPattern.test(wanted)) targets.splice(0, targets.length, wanted);

  expiry.min = localInputValue(new Date());
  renderMustRead();
  renderCategories();
  renderTargets();
  renderKnown();
  counters();
  renderPreview();
  renderSendLabel();

  let alive = true;

  // The message to correct: its contents fill the form.
  function fillFrom(m) {
    targets.splice(0, targets.length, ...(Array.isArray(m.targets) ? m.targets : []).filter((x) => targetPattern.test(x)));
    draft.category = m.category;
    const cat = [...categoryGroup.querySelectorAll('input')].find((i) => i.value === m.category);
    if (cat) cat.checked = true;
    const p = priorities.includes(m.priority) ? m.priority : 'normal';
    priorityGroup.querySelector(`#priority-${p}`).checked = true;
    title.value = m.title || '';
    body.value = m.body || '';
    ack.checked = Boolean(m.require_ack);
    for (const [d, seconds] of [[repeat, m.repeat_every_s], [escalate, m.escalate_after_s]]) {
      const parts = Number.isInteger(seconds) && seconds > 0 ? durationParts(seconds) : { value: '', unit: d.units.value };
      d.input.value = parts.value;
      d.units.value = parts.unit;
    }
    renderMustRead();
    const expires = parseTime(m.expires_at);
    expiry.value = expires && expires.getTime() > Date.now() ? localInputValue(expires) : '';
    tr(correctionText, 'correct.note', { title: m.title || supersedes, id: supersedes });
    renderTargets();
    changed();
  }

  function stopCorrecting(key, detail) {
    supersedes = null;
    correctionField.hidden = true;
    laterField.hidden = false;
    notify({ kind: 'error', key, detail });
  }

  if (supersedes) {
    api.getMessage(supersedes)
      .then((data) => {
        if (!alive) return;
        if (!data?.message) throw new Error('no message');
        fillFrom(data.message);
      })
      .catch((err) => {
        if (!alive || (err instanceof api.ApiError && err.status === 401)) return;
        if (err instanceof api.ApiError && err.status === 404) stopCorrecting('correct.not_found');
        else stopCorrecting('correct.load_failed', err instanceof api.ApiError ? err.message : undefined);
      })
      .finally(() => {
        loadingOriginal = false;
        if (alive) renderSendLabel();
      });
  }
  api.categories()
    .catch(() => api.defaultCategories)
    .then((list) => {
      if (!alive) return;
      const configured = api.serverLimits();
      const positive = (v, fallback) => (Number.isInteger(v) && v > 0 ? v : fallback);
      if (configured) {
        limits.titleChars = positive(configured.title_max_chars, limits.titleChars);
        limits.bodyBytes = positive(configured.body_max_bytes, limits.bodyBytes);
        limits.targets = positive(configured.max_targets, limits.targets);
        limits.scheduleDays = positive(configured.schedule_max_ahead_days, limits.scheduleDays);
        counters();
      }
      categories = list;
      setCategories(list);
      renderCategories();
      renderPreview();
    });
  api.stores()
    .then((list) => {
      if (!alive) return;
      knownStores = list.filter((s) => s && s.id);
      renderKnown();
    })
    .catch(() => {
      // Without the store list, recipients can still be typed.
    });

  const offLang = onLangChange(() => {
    renderCategories();
    renderKnown();
    renderPreview();
  });

  return () => {
    alive = false;
    offLang();
  };
}

