// failoverd status page: asks for the token (when the server has tokens), follows the
// state through /v1/stream, and runs the operating verbs after an in-page confirmation.
// Drawing the groups and the history is render.js's. A module: strict, and deferred.
//
// - The token lives in this tab's sessionStorage and travels only as a bearer header:
//   no cookie, so another site can never make the browser act with it.
// - /v1/stream is read with fetch() (EventSource cannot send a header). When it fails or
//   ends, the page polls once at once and tries the stream again a second later: it is
//   never more than about a second behind.
import { renderEvents, renderGroups, tickCountdowns, updateFilter } from './render.js';

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
  if (name === 'groups') showGroups(body.groups || []);
  if (name === 'events') addEvents(body.events || []);
}

// One round of polling. An answer that comes back after the token was forgotten (or
// changed) is dropped, so a signed-out page never shows state again.
async function poll() {
  const mine = token;
  try {
    const g = await api('GET', '/v1/groups');
    if (token !== mine || !who) return;
    if (g.ok) showGroups(g.data.groups || []);
    const since = events.length ? '&since=' + events[events.length - 1].id : '';
    const e = await api('GET', '/v1/events?limit=' + KEEP_EVENTS + since);
    if (token !== mine || !who) return;
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

function showGroups(list) {
  renderGroups($('groups'), list, Boolean(who && who.role === 'operate'));
  updateFilter($('event-filter'), list.map((g) => g.name));
  setLive(liveText());
}

function showEvents() {
  renderEvents($('events'), events, $('event-filter').value);
}

// Keeps the newest KEEP_EVENTS, each once (the stream and a poll may both bring one).
function addEvents(list) {
  const seen = new Set(events.map((e) => e.id));
  for (const e of list) if (!seen.has(e.id)) events.push(e);
  events.sort((a, b) => a.id - b.id);
  events = events.slice(-KEEP_EVENTS);
  showEvents();
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
    case 'uncommit': return { method: 'POST', path: path + '/uncommit', label: 'Uncommit ' + group,
      text: 'Give every target of ' + group + ' its priority from the config back; traffic stays where ' +
        'it is until the failback rules move it.' };
    case 'retry': return { method: 'POST', path: path + '/retry', label: 'Retry the gates of ' + group,
      text: 'Run the gates of the failed switch of ' + group + ' again; traffic moves once they pass.' };
    case 'drill': return { method: 'POST', path: path + '/drill', label: 'Drill ' + group,
      text: 'Rehearse a failover of ' + group + ' for real: its gates run, traffic moves to the backup ' +
        'for 30 s while failoverd checks it through its own DNS and proxy, then moves back. The ' +
        'report goes to the event history.' };
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
  if (r.ok && r.status === 202) {
    // A drill: started, its report follows in the history.
    answer.textContent = what.label + ': started, to ' + r.data.to + ' for ' +
      Math.round(r.data.hold_ms / 1000) + ' s; the report follows in the event history.';
  } else if (r.ok) {
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
$('event-filter').addEventListener('change', showEvents);
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
setInterval(tickCountdowns, 1000);

if (!needsToken) {
  start(null);
} else {
  const saved = sessionStorage.getItem(KEY);
  if (saved) start(saved);
  else showLogin('');
}
