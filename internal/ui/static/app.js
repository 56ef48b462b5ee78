// taskfleet console: plain JavaScript over the JSON API of package ui.
'use strict';

const $ = (sel) => document.querySelector(sel);
const STATUSES = ['waiting', 'running', 'part_done', 'done', 'failed'];
const FEED_MAX = 300;
const FEED_IDS = 3;

const state = {
  cfg: null, pool: null, taskID: null,
  pages: [], next: null, // keyset cursors: pages[i] is the "after" of page i
  source: null, timer: null, pending: null,
  confirming: null, // answers the open question of the confirm dialog
};

// el builds an element; text is set with textContent, never as HTML.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)));
  return e;
}

function csrf() {
  const c = document.cookie.split('; ').find((x) => x.startsWith('taskfleet_csrf='));
  return c ? c.slice('taskfleet_csrf='.length) : '';
}

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
  const json = (r.headers.get('content-type') || '').includes('json');
  const body = json ? await r.json() : await r.text();
  if (!r.ok) throw new Error((json && body.error) || r.status + ' ' + r.statusText);
  return body;
}

function post(path, body) {
  return api(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
    body: JSON.stringify(body),
  });
}

function say(msg, isError) {
  const s = $('#status-line');
  s.textContent = msg;
  s.className = isError ? 'error' : '';
}

const enc = encodeURIComponent;
const poolPath = () => '/api/pools/' + enc(state.pool);
const fmtTime = (t) => (t ? new Date(t).toLocaleString() : '');
const pct = (v) => (v == null ? '–' : (100 * v).toFixed(1) + ' %');

// --- pools ---

async function loadPools() {
  const pools = await api('/api/pools');
  const tb = $('#pools tbody');
  tb.replaceChildren(...pools.map((p) => {
    const tr = el('tr', { 'data-pool': p.name },
      el('td', {}, el('a', { href: '#/pool/' + enc(p.name) }, p.name)),
      ...STATUSES.map((s) => el('td', { class: p.counts[s] ? 's-' + s : '' }, p.counts[s])),
      el('td', {}, p.throughput_per_min == null ? '–' : p.throughput_per_min.toFixed(1) + ' /min'),
      el('td', {}, pct(p.failure_rate)),
      el('td', { class: 'paused', title: p.paused == null ? 'this build does not report pause' : '' },
        p.paused == null ? '–' : (p.paused ? 'paused' : 'active')));
    tr.onclick = () => { location.hash = '#/pool/' + enc(p.name); };
    return tr;
  }));
  const cur = pools.find((p) => p.name === state.pool);
  if (cur) renderCounts(cur);
}

function renderCounts(p) {
  $('#pool-paused').textContent = p.paused ? 'paused' : '';
  $('#counts').replaceChildren(...STATUSES.map((s) => {
    const b = el('button', { type: 'button', id: 'count-' + s, class: 's-' + s }, s, el('b', {}, p.counts[s]));
    b.onclick = () => { $('#f-status').value = s; applyFilters(); };
    return b;
  }));
}

// --- tasks ---

function filterParams() {
  const q = new URLSearchParams();
  const add = (k, v) => { if (v) q.set(k, v); };
  add('status', $('#f-status').value);
  add('kind', $('#f-kind').value.trim());
  add('path', $('#f-path').value.trim());
  if ($('#f-path').value.trim()) q.set('value', $('#f-value').value);
  add('id', $('#f-id').value.trim());
  add('sort', $('#f-sort').value);
  return q;
}

async function loadTasks() {
  const q = filterParams();
  const after = state.pages[state.pages.length - 1];
  if (after) q.set('after', after);
  const res = await api(poolPath() + '/tasks?' + q);
  state.next = res.next;
  $('#tasks tbody').replaceChildren(...res.tasks.map((t) => {
    const tr = el('tr', { 'data-id': t.id },
      el('td', {}, el('code', {}, t.id)), el('td', {}, t.kind),
      el('td', {}, el('span', { class: 'badge s-' + t.status }, t.status)),
      el('td', {}, t.priority), el('td', {}, t.attempts + (t.max_attempts ? '/' + t.max_attempts : '')),
      el('td', {}, t.owner || ''), el('td', { class: 'err', title: t.last_error || '' }, t.last_error || ''),
      el('td', {}, fmtTime(t.updated_at)));
    tr.onclick = () => { location.hash = '#/pool/' + enc(state.pool) + '/task/' + t.id; };
    return tr;
  }));
  $('#page-next').disabled = !res.next;
  $('#page-first').disabled = state.pages.length <= 1;
  $('#page-info').textContent = 'page ' + state.pages.length + ', ' + res.tasks.length + ' tasks';
}

function applyFilters() {
  state.pages = [''];
  loadTasks().catch((e) => say(e.message, true));
}

// --- one task ---

async function loadTask() {
  const t = await api(poolPath() + '/tasks/' + enc(state.taskID));
  $('#task-id').textContent = t.id;
  const st = $('#task-status');
  st.textContent = t.status;
  st.className = 'badge s-' + t.status;
  const err = $('#task-error');
  err.hidden = !t.last_error;
  err.textContent = t.last_error || '';
  const rows = [
    ['kind', t.kind], ['priority', t.priority], ['attempts', t.attempts + (t.max_attempts ? ' of ' + t.max_attempts : '')],
    ['owner', t.owner], ['lease until', fmtTime(t.lease_until)], ['claimed from', t.claimed_from],
    ['run after', fmtTime(t.run_after)], ['created', fmtTime(t.created_at)], ['updated', fmtTime(t.updated_at)],
    ['started', fmtTime(t.started_at)], ['finished', fmtTime(t.finished_at)],
  ];
  $('#task-fields tbody').replaceChildren(...rows.map(([k, v]) => el('tr', {}, el('th', {}, k), el('td', {}, v == null ? '' : v))));
  $('#task-def').textContent = JSON.stringify(t.def, null, 2);
  $('#task-res').textContent = t.res === undefined ? '(none)' : JSON.stringify(t.res, null, 2);
  const last = (t.logs || [])[(t.logs || []).length - 1];
  const logBox = $('#task-log');
  logBox.replaceChildren(last ? last.tail : '(no kept output)');
  if (last) logBox.append(el('div', {}, el('a', { href: poolPath() + '/tasks/' + t.id + '/log' }, 'download log')));
  $('#task-artifacts').replaceChildren(...(t.artifacts || []).map((a) => el('li', {},
    el('a', { href: poolPath() + '/tasks/' + t.id + '/artifacts/' + enc(a.name) }, a.name), ' (' + a.size + ' bytes)')));
  if (!(t.artifacts || []).length) $('#task-artifacts').append(el('li', {}, '(none)'));
}

// confirmAction asks text in the dialog and resolves to whether it was
// confirmed. A dialog fires its close event a task after it closed, so
// the close of one question can come when the next has opened (Back, then
// Remove at once): a close event while the dialog is open is such a late
// one and does not answer. A question whose event has not come when the
// next opens is answered then, from the closed dialog's value.
function confirmAction(text) {
  const d = $('#confirm');
  if (state.confirming) state.confirming();
  return new Promise((resolve) => {
    const answer = () => { state.confirming = null; resolve(d.returnValue === 'ok'); };
    state.confirming = answer;
    d.onclose = () => { if (!d.open && state.confirming === answer) answer(); };
    $('#confirm-text').textContent = text;
    d.returnValue = '';
    d.showModal();
  });
}

async function act(action, body, question) {
  if (question && !(await confirmAction(question))) return;
  try {
    const r = await post(poolPath() + '/actions/' + action, Object.assign({ ids: [state.taskID] }, body || {}));
    say(action + ': ' + r.matched + ' task(s)');
    if (action === 'remove') { location.hash = '#/pool/' + enc(state.pool); return; }
    await refresh();
  } catch (e) {
    say(action + ': ' + e.message, true);
  }
}

// --- live updates ---

function addFeed(ev) {
  // A few ids per line; the count says how many more (an admin change
  // such as a retry carries a count only).
  const all = ev.ids || [];
  const ids = all.slice(0, FEED_IDS).join(' ') + (all.length && ev.n > FEED_IDS ? ' +' + (ev.n - FEED_IDS) + ' more' : '');
  $('#feed').prepend(el('li', { class: 'ev-' + ev.event }, new Date(ev.time).toLocaleTimeString() + ' ' + ev.event + ' ' + ev.n + ' ' + ids));
  while ($('#feed').children.length > FEED_MAX) $('#feed').lastChild.remove();
}

// refreshSoon folds a burst of events into one refresh.
function refreshSoon() {
  if (state.pending) return;
  state.pending = setTimeout(() => { state.pending = null; refresh(); }, 250);
}

function watch() {
  if (state.source) { state.source.close(); state.source = null; }
  $('#feed').replaceChildren();
  if (!state.pool || !state.cfg.live) return;
  const src = new EventSource(poolPath() + '/events');
  src.onmessage = (m) => { addFeed(JSON.parse(m.data)); refreshSoon(); };
  src.onopen = () => { $('#live').textContent = 'live'; };
  src.onerror = () => { $('#live').textContent = 'reconnecting'; };
  state.source = src;
}

async function refresh() {
  try {
    await loadPools();
    if (state.pool && !state.taskID) await loadTasks();
    if (state.taskID) await loadTask();
  } catch (e) {
    say(e.message, true);
  }
}

// --- routing: #/pool/NAME and #/pool/NAME/task/ID ---

function route() {
  const m = location.hash.match(/^#\/pool\/([^/]+)(?:\/task\/([0-9a-f]{24}))?$/);
  const pool = m ? decodeURIComponent(m[1]) : null;
  const poolChanged = pool !== state.pool;
  state.pool = pool;
  state.taskID = m && m[2] ? m[2] : null;
  $('#pool-view').hidden = !pool || !!state.taskID;
  $('#task-view').hidden = !state.taskID;
  $('#feed-view').hidden = !pool || !state.cfg.live;
  $('#pool-name').textContent = pool || '';
  if (poolChanged) { state.pages = ['']; watch(); }
  refresh();
}

async function start() {
  state.cfg = await api('/api/config');
  $('#mode').textContent = state.cfg.allow_actions ? 'actions on' : 'read-only';
  $('#live').textContent = state.cfg.live ? 'live' : 'refresh every ' + state.cfg.refresh_ms / 1000 + ' s';
  if (!state.cfg.live) state.timer = setInterval(refresh, state.cfg.refresh_ms);
  const ro = !state.cfg.allow_actions;
  for (const b of document.querySelectorAll('#actions button')) b.disabled = ro;
  $('#actions-note').textContent = ro ? 'read-only: start dispatcher ui with --allow-actions' : '';
  $('#act-retry').onclick = () => act('retry');
  $('#act-cancel').onclick = () => act('cancel', { reason: 'from the console' }, 'Cancel this task?');
  $('#act-prioritize').onclick = () => act('prioritize', { priority: Number($('#act-priority').value) });
  $('#act-remove').onclick = () => act('remove', {}, 'Remove this task? This cannot be undone.');
  $('#filters').onsubmit = (e) => { e.preventDefault(); applyFilters(); };
  $('#f-clear').onclick = () => { $('#filters').reset(); applyFilters(); };
  $('#page-next').onclick = () => { if (state.next) { state.pages.push(state.next); loadTasks(); } };
  $('#page-first').onclick = () => { state.pages = ['']; loadTasks(); };
  window.addEventListener('hashchange', route);
  route();
}

document.addEventListener('DOMContentLoaded', () => start().catch((e) => say(e.message, true)));
