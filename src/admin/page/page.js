// failoverd status page: asks for the token (when the server has tokens), follows the
// state through /v1/stream, and runs the operating verbs after an in-page confirmation.
//
// - The token lives in this tab's sessionStorage and travels only as a bearer header:
//   no cookie, so another site can never make the browser act with it.
// - Every text from the API goes into the page as a text node (never as HTML), so a name
//   or an error message cannot become markup.
// - /v1/stream is read with fetch() (EventSource cannot send a header). When it fails or
//   ends, the page polls once at once and tries the stream again a second later: it is
//   never more than about a second behind.
'use strict';

(function () {
  const KEY = 'failoverd.token';
  const KEEP_EVENTS = 300;
  const needsToken = document.body.dataset.auth === 'token';
  const $ = (id) => document.getElementById(id);

  let token = null;
  let who = null; // {name, role}
  let streamAbort = null;
  let mode = 'starting';
  let events = []; // oldest first
  let pending = null; // the action waiting for its confirmation
  let returnFocus = null; // the button that opened the dialog

  // --- calls ---------------------------------------------------------------------------

  function headers(json) {
    const h = {};
    if (token) h.Authorization = 'Bearer ' + token;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  }

  async function api(method, path, body) {
    const init = { method, headers: headers(body !== undefined), cache: 'no-store' };
    if (body !== undefined) init.body = JSON.stringify(body);
    const r = await fetch(path, init);
    let data = null;
    try {
      data = await r.json();
    } catch (_) {
      data = null;
    }
    return { status: r.status, ok: r.ok, data };
  }

  // --- token ---------------------------------------------------------------------------

  function showLogin(message) {
    stopStream();
    $('login').hidden = false;
    $('forget').hidden = true;
    $('login-error').textContent = message || '';
    setLive('Enter an admin token to see the state.');
    $('token').focus();
  }

  async function start(candidate) {
    token = candidate;
    let r;
    try {
      r = await api('GET', '/v1/whoami');
    } catch (e) {
      setLive('Cannot reach failoverd: ' + e.message);
      setTimeout(() => start(candidate), 2000);
      return;
    }
    if (r.status === 401 || r.status === 403) {
      token = null;
      sessionStorage.removeItem(KEY);
      showLogin('Refused: ' + errorText(r));
      return;
    }
    if (!r.ok) {
      showLogin('Unexpected answer: ' + errorText(r));
      return;
    }
    if (needsToken) sessionStorage.setItem(KEY, candidate);
    who = r.data;
    $('login').hidden = true;
    $('login-error').textContent = '';
    $('token').value = '';
    $('forget').hidden = !needsToken;
    connect();
  }

  function forget() {
    sessionStorage.removeItem(KEY);
    token = null;
    who = null;
    events = [];
    $('groups').replaceChildren();
    $('events').replaceChildren();
    showLogin('');
  }

  // --- live feed -----------------------------------------------------------------------

  function stopStream() {
    if (streamAbort) streamAbort.abort();
    streamAbort = null;
  }

  async function connect() {
    stopStream();
    const ctrl = new AbortController();
    streamAbort = ctrl;
    try {
      const r = await fetch('/v1/stream', { headers: headers(false), cache: 'no-store', signal: ctrl.signal });
      if (r.status === 401) {
        if (needsToken) return forgetWith('The token is no longer accepted.');
      }
      if (!r.ok || !r.body) throw new Error('stream answered ' + r.status);
      mode = 'live';
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          handle(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch (_) {
      // Falls through to polling below.
    }
    if (ctrl.signal.aborted) return;
    mode = 'polling';
    await poll();
    setTimeout(() => {
      if (streamAbort === ctrl) connect();
    }, 1000);
  }

  function forgetWith(message) {
    forget();
    $('login-error').textContent = message;
  }

  function handle(block) {
    let name = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) name = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (!data) return;
    const body = JSON.parse(data);
    if (name === 'groups') renderGroups(body.groups || []);
    if (name === 'events') addEvents(body.events || []);
  }

  async function poll() {
    try {
      const g = await api('GET', '/v1/groups');
      if (g.ok) renderGroups(g.data.groups || []);
      const since = events.length ? '&since=' + events[events.length - 1].id : '';
      const e = await api('GET', '/v1/events?limit=' + KEEP_EVENTS + since);
      if (e.ok) addEvents(e.data.events || []);
    } catch (_) {
      setLive('Cannot reach failoverd; retrying.');
    }
  }

  function setLive(text) {
    $('live').textContent = text;
  }

  function liveText() {
    const at = new Date().toLocaleTimeString();
    const how = mode === 'live' ? 'Live' : 'Polling (the live stream is unavailable)';
    const role = who && who.role === 'read' ? ' — read-only token: actions are disabled' : '';
    const name = who && needsToken ? ' — token ' + who.name + ' (' + who.role + ')' : '';
    return how + ', updated ' + at + name + role;
  }

  // --- rendering -----------------------------------------------------------------------

  // el('td', {class: 'x'}, 'text', child): attributes, then text or nodes.
  function el(tag, attrs, ...children) {
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

  function button(action, label) {
    const off = !who || who.role !== 'operate';
    return el('button', {
      type: 'button', 'data-action': action, disabled: off,
      title: off ? 'needs an operate token' : null,
    }, label);
  }

  function fact(term, value, attrs) {
    return el('div', {}, el('dt', {}, term), el('dd', attrs || {}, value));
  }

  function failbackFact(g) {
    if (g.failback_in === null || g.failback_in === undefined) return fact('Failback', g.failback);
    const deadline = Date.now() + g.failback_in * 1000;
    return fact('Failback', countdown(g.failback, deadline),
      { class: 'countdown', 'data-deadline': Math.round(deadline), 'data-mode': g.failback });
  }

  function countdown(failback, deadline) {
    const s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    return failback + ' in ' + s + ' s';
  }

  function buildGroup(g) {
    const [kind, text] = chip(g);
    const change = g.last_change ? g.last_change.cause + ' at ' + time(g.last_change.at) : 'none';
    const facts = el('dl', { class: 'facts' },
      fact('State', g.state),
      fact('Epoch', g.epoch),
      fact('Active', g.active.length ? g.active.join(', ') : 'none'),
      fact('Pinned to', g.pinned || 'none'),
      failbackFact(g),
      fact('Last change', change));
    const actions = el('div', { class: 'actions' }, ...GROUP_ACTIONS.map(([a, l]) => button(a, l)));
    const head = el('tr', {}, ...COLUMNS.map((c) => el('th', { scope: 'col' }, c)));
    const rows = [...g.targets].map(buildTarget);
    const table = el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', {}, 'Targets of ' + g.name), el('thead', {}, head), el('tbody', {}, ...rows)));
    return el('article', {
      class: 'group', 'data-group': g.name, 'data-state': g.state, 'aria-label': 'Group ' + g.name,
    }, el('div', { class: 'group-head' }, el('h2', {}, g.name),
      el('span', { class: 'chip chip-' + kind, 'data-chip': kind }, text)), facts, actions, table);
  }

  function buildTarget(t) {
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
      el('td', { class: 'actions' }, ...TARGET_ACTIONS.map(([a, l]) => button(a, l))));
  }

  // Replaces only the groups that changed, and puts the focus back where it was, so a
  // keyboard user is not thrown to the top at every update.
  function renderGroups(list) {
    const box = $('groups');
    const old = new Map([...box.children].map((n) => [n.dataset.group, n]));
    const focus = focusKey();
    const next = list.map((g) => {
      const fresh = buildGroup(g);
      const prev = old.get(g.name);
      return prev && prev.isEqualNode(fresh) ? prev : fresh;
    });
    box.replaceChildren(...next);
    restoreFocus(focus);
    updateFilter(list.map((g) => g.name));
    setLive(liveText());
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

  function updateFilter(names) {
    const select = $('event-filter');
    const have = [...select.options].map((o) => o.value).filter((v) => v);
    if (have.join('\n') === names.join('\n')) return;
    const value = select.value;
    select.replaceChildren(el('option', { value: '' }, 'All groups'),
      ...names.map((n) => el('option', { value: n }, n)));
    select.value = names.includes(value) ? value : '';
  }

  function addEvents(list) {
    const seen = new Set(events.map((e) => e.id));
    for (const e of list) if (!seen.has(e.id)) events.push(e);
    events.sort((a, b) => a.id - b.id);
    events = events.slice(-KEEP_EVENTS);
    renderEvents();
  }

  function renderEvents() {
    const filter = $('event-filter').value;
    const shown = events.filter((e) => !filter || e.group === filter).reverse();
    $('events').replaceChildren(...shown.map((e) => el('li',
      { 'data-event': e.id, 'data-event-group': e.group || '' },
      el('time', { datetime: new Date(e.at * 1000).toISOString() }, time(e.at)), ' ',
      el('span', { class: 'kind' }, e.kind), ' ',
      el('span', { class: 'event-group' }, e.group || ''), ' ',
      e.summary || JSON.stringify(e.details))));
  }

  // --- actions -------------------------------------------------------------------------

  function describe(action, group, target) {
    const g = encodeURIComponent(group);
    const path = '/v1/groups/' + g;
    const state = (s) => ({
      method: 'POST', path: path + '/targets/' + encodeURIComponent(target) + '/state', body: { state: s },
    });
    switch (action) {
      case 'switch': return { method: 'POST', path: path + '/switch', body: { target },
        label: 'Switch ' + group + ' to ' + target,
        text: 'Pin group ' + group + ' to ' + target + ': DNS answers and new proxied connections go to ' +
          target + ' alone, whatever its health, until the pin is released.' };
      case 'release': return { method: 'POST', path: path + '/release', label: 'Release the pin of ' + group,
        text: 'Release the pin of ' + group + ': the health rules decide again which targets serve.' };
      case 'failback': return { method: 'POST', path: path + '/failback', label: 'Fail ' + group + ' back',
        text: 'Move ' + group + ' back to its best healthy tier now, without waiting for the failback hold.' };
      case 'commit': return { method: 'POST', path: path + '/commit', label: 'Commit ' + group,
        text: 'Make the targets that serve ' + group + ' now its new main: priorities are swapped and kept ' +
          'across restarts, until an uncommit.' };
      case 'disconnect': return { method: 'POST', path: path + '/disconnect', label: 'Disconnect ' + group,
        text: 'Close every proxied session of ' + group + ' now; clients reconnect to the active targets.' };
      case 'drain': return Object.assign(state('drain'), { label: 'Drain ' + target,
        text: 'Drain ' + target + ' in ' + group + ': no new traffic goes to it; open sessions stay.' });
      case 'maintenance': return Object.assign(state('maintenance'), { label: 'Maintenance on ' + target,
        text: 'Put ' + target + ' of ' + group + ' in maintenance: no traffic at all, its open sessions ' +
          'are closed; its health checks go on.' });
      case 'enable': return Object.assign(state('enabled'), { label: 'Enable ' + target,
        text: 'Enable ' + target + ' in ' + group + ': it takes traffic again as the health rules decide.' });
      default: return null;
    }
  }

  function onGroupsClick(ev) {
    const b = ev.target.closest('button[data-action]');
    if (!b || b.disabled) return;
    const g = b.closest('[data-group]');
    const t = b.closest('[data-target]');
    const what = describe(b.dataset.action, g.dataset.group, t ? t.dataset.target : null);
    if (!what) return;
    pending = what;
    returnFocus = b;
    $('confirm-title').textContent = what.label + '?';
    $('confirm-text').textContent = what.text;
    document.querySelector('#confirm [data-action="confirm"]').textContent = what.label;
    $('confirm').showModal();
  }

  async function onConfirm() {
    const what = pending;
    pending = null;
    $('confirm').close();
    if (!what) return;
    const answer = $('answer');
    answer.className = 'answer';
    answer.textContent = what.label + '…';
    let r;
    try {
      r = await api(what.method, what.path, what.body);
    } catch (e) {
      r = { status: 0, ok: false, data: { error: e.message } };
    }
    answer.dataset.status = String(r.status);
    if (r.ok) {
      let text = what.label + ': done. Active: ' + (r.data.active || []).join(', ') + ', epoch ' + r.data.epoch;
      if (r.data.sessions_closed !== undefined) text += ', ' + r.data.sessions_closed + ' sessions closed';
      answer.textContent = text + '.';
    } else {
      answer.className = 'answer error';
      answer.textContent = what.label + ' failed: HTTP ' + r.status + ': ' + errorText(r);
    }
  }

  function errorText(r) {
    return (r.data && r.data.error) || 'HTTP ' + r.status;
  }

  // --- start ---------------------------------------------------------------------------

  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    if (t) start(t);
  });
  $('forget').addEventListener('click', forget);
  $('groups').addEventListener('click', onGroupsClick);
  $('event-filter').addEventListener('change', renderEvents);
  document.querySelector('#confirm [data-action="confirm"]').addEventListener('click', onConfirm);
  $('confirm-cancel').addEventListener('click', () => {
    pending = null;
    $('confirm').close();
  });
  // Back to the button that opened the dialog (or its replacement after an update).
  $('confirm').addEventListener('close', () => {
    if (returnFocus && returnFocus.isConnected) returnFocus.focus();
    returnFocus = null;
  });
  setInterval(() => {
    for (const dd of document.querySelectorAll('.countdown')) {
      dd.textContent = countdown(dd.dataset.mode, Number(dd.dataset.deadline));
    }
  }, 1000);

  if (!needsToken) {
    start(null);
  } else {
    const saved = sessionStorage.getItem(KEY);
    if (saved) start(saved);
    else showLogin('');
  }
})();
