// failoverd status page: the groups and the event history as DOM, from the API's JSON.
// The same markup and data-* hooks as the server writes (render.rs). Every text from the
// API goes in as a text node, never as HTML, so a name or a message cannot become markup.

// el('td', {class: 'x'}, 'text', child): attributes, then text or nodes.
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function time(at) {
  return new Date(at * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

// Whether a backup serves: a target of a worse priority than the best one is active.
function chip(g) {
  const best = Math.min(...g.targets.map((t) => t.priority));
  const active = g.targets.filter((t) => t.active);
  if (active.length === 0) return ['none', 'No target is active'];
  if (active.some((t) => t.priority > best)) return ['active', 'Backup is active'];
  return ['idle', 'Backup is idle'];
}

const GROUP_ACTIONS = [
  ['release', 'Release pin'],
  ['failback', 'Fail back'],
  ['commit', 'Commit'],
  ['uncommit', 'Uncommit'],
  ['retry', 'Retry gates'],
  ['drill', 'Drill'],
  ['disconnect', 'Disconnect sessions'],
];
const TARGET_ACTIONS = [
  ['switch', 'Switch here'],
  ['drain', 'Drain'],
  ['maintenance', 'Maintenance'],
  ['enable', 'Enable'],
];
const COLUMNS = ['Target', 'Address', 'Priority', 'Health', 'Last check error',
  'Admin state', 'Sessions', 'Traffic', 'Actions'];

// `of`: the group or target the button acts on, for a screen reader's label.
function button(action, label, of, canOperate) {
  return el('button', {
    type: 'button', 'data-action': action, 'aria-label': label + ': ' + of, disabled: !canOperate,
    title: canOperate ? null : 'needs an operate token',
  }, label);
}

function fact(term, value, attrs) {
  return el('div', {}, el('dt', {}, term), el('dd', attrs || {}, value));
}

function countdown(failback, deadline) {
  const s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
  return failback + ' in ' + s + ' s';
}

// The countdown runs on this browser's clock from the server's "seconds left", so a
// clock that differs from the server's does not skew it.
function failbackFact(g) {
  if (g.failback_in === null || g.failback_in === undefined) return fact('Failback', g.failback);
  const deadline = Date.now() + g.failback_in * 1000;
  return fact('Failback', countdown(g.failback, deadline),
    { class: 'countdown', 'data-deadline': Math.round(deadline), 'data-mode': g.failback });
}

export function tickCountdowns() {
  for (const dd of document.querySelectorAll('.countdown')) {
    dd.textContent = countdown(dd.dataset.mode, Number(dd.dataset.deadline));
  }
}

// A switch held for its gates: which gate runs, or why it failed.
function switchText(s) {
  const to = 'to ' + s.to.join(', ');
  if (s.reason) return to + ' FAILED: ' + s.reason;
  if (s.step) {
    return to + ': gate ' + s.step.hook + ' running (' + s.step.number + ' of ' + s.step.of +
      ', try ' + s.step.try + ')';
  }
  return to + ': gates starting';
}

function buildGroup(g, canOperate) {
  const [kind, text] = chip(g);
  const change = g.last_change ? g.last_change.cause + ' at ' + time(g.last_change.at) : 'none';
  const facts = el('dl', { class: 'facts' },
    fact('State', g.state),
    fact('Epoch', g.epoch),
    fact('Active', g.active.length ? g.active.join(', ') : 'none'),
    fact('Pinned to', g.pinned || 'none'),
    failbackFact(g),
    fact('Last change', change),
    ...(g.switch ? [fact('Switch', switchText(g.switch))] : []));
  const actions = el('div', { class: 'actions' },
    ...GROUP_ACTIONS.map(([a, l]) => button(a, l, g.name, canOperate)));
  const head = el('tr', {}, ...COLUMNS.map((c) => el('th', { scope: 'col' }, c)));
  const rows = g.targets.map((t) => buildTarget(t, canOperate));
  const table = el('div', { class: 'table-wrap' }, el('table', {},
    el('caption', {}, 'Targets of ' + g.name), el('thead', {}, head), el('tbody', {}, ...rows)));
  return el('article', {
    class: 'group', 'data-group': g.name, 'data-state': g.state, 'aria-label': 'Group ' + g.name,
  }, el('div', { class: 'group-head' }, el('h2', {}, g.name),
    el('span', { class: 'chip chip-' + kind, 'data-chip': kind }, text)), facts, actions, table);
}

function buildTarget(t, canOperate) {
  const error = t.last_error ? t.last_error.message + ' (' + time(t.last_error.at) + ')' : 'none';
  const health = t.health + (t.flapping ? ' (flapping)' : '');
  return el('tr', { 'data-target': t.name, 'data-health': t.health },
    el('th', { scope: 'row' }, t.name),
    el('td', {}, t.address),
    el('td', {}, t.priority),
    el('td', {}, el('span', { class: 'health health-' + t.health }, health)),
    el('td', { class: 'error-cell' }, error),
    el('td', {}, t.admin_state),
    el('td', {}, t.sessions),
    el('td', {}, t.active ? 'active' : 'idle'),
    el('td', { class: 'actions' }, ...TARGET_ACTIONS.map(([a, l]) => button(a, l, t.name, canOperate))));
}

// Replaces only the groups that changed, and puts the focus back where it was, so a
// keyboard user is not thrown to the top at every update.
export function renderGroups(box, list, canOperate) {
  const old = new Map([...box.children].map((n) => [n.dataset.group, n]));
  const focus = focusKey();
  const next = list.map((g) => {
    const fresh = buildGroup(g, canOperate);
    const prev = old.get(g.name);
    return prev && prev.isEqualNode(fresh) ? prev : fresh;
  });
  box.replaceChildren(...next);
  restoreFocus(focus);
}

function focusKey() {
  const a = document.activeElement;
  if (!a || !a.dataset || !a.dataset.action) return null;
  const g = a.closest('[data-group]');
  const t = a.closest('[data-target]');
  return g ? { group: g.dataset.group, target: t && t.dataset.target, action: a.dataset.action } : null;
}

function restoreFocus(key) {
  if (!key || document.activeElement !== document.body) return;
  for (const b of document.querySelectorAll('#groups button[data-action="' + key.action + '"]')) {
    const g = b.closest('[data-group]');
    const t = b.closest('[data-target]');
    if (g.dataset.group === key.group && (t ? t.dataset.target : null) === (key.target || null)) {
      b.focus();
      return;
    }
  }
}

// The history filter lists the groups; the choice stays while its group exists.
export function updateFilter(select, names) {
  const have = [...select.options].map((o) => o.value).filter((v) => v);
  if (have.join('\n') === names.join('\n')) return;
  const value = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All groups'),
    ...names.map((n) => el('option', { value: n }, n)));
  select.value = names.includes(value) ? value : '';
}

// Newest first; `filter` is a group name or '' for all.
export function renderEvents(list, events, filter) {
  const shown = events.filter((e) => !filter || e.group === filter).reverse();
  list.replaceChildren(...shown.map((e) => el('li',
    { 'data-event': e.id, 'data-event-group': e.group || '' },
    el('time', { datetime: new Date(e.at * 1000).toISOString() }, time(e.at)), ' ',
    el('span', { class: 'kind' }, e.kind), ' ',
    el('span', { class: 'event-group' }, e.group || ''), ' ',
    e.summary || JSON.stringify(e.details))));
}
