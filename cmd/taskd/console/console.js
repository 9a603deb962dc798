// taskd console: lists tasks, follows changes, shows one task's details
// and output, cancels. Plain DOM; every text from the server goes through
// textContent, never innerHTML.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'taskd-token';
  const PER_PAGE = 50;
  const MAX_LOG_LINES = 5000; // the page shows at most this many
  const RELOAD_GAP = 500; // ms between reloads of the list while tasks change
  const terminal = (s) => s === 'SUCCEEDED' || s === 'FAILED';
  // Paths are relative to /console/, so that the console works wherever
  // taskd is mounted.
  const api = (path) => new URL('../' + path, location.href).toString();

  class SignedOut extends Error {}

  let token = sessionStorage.getItem(TOKEN_KEY);
  let stopView = () => {};
  const filters = { state: '', app: '', name: '', page: 1 };

  // call fetches path with the token; a 401 signs the page out.
  async function call(path, opts = {}) {
    const headers = Object.assign({}, opts.headers, { Authorization: 'bearer ' + token });
    const resp = await fetch(api(path), Object.assign({}, opts, { headers, cache: 'no-store' }));
    if (resp.status === 401) {
      signOut(await problem(resp));
      throw new SignedOut();
    }
    return resp;
  }

  // problem renders a CF error envelope as "status title: detail".
  async function problem(resp) {
    try {
      const e = (await resp.json()).errors[0];
      return `${resp.status} ${e.title}: ${e.detail}`;
    } catch {
      return `${resp.status} ${resp.statusText}`;
    }
  }

  function showError(msg) {
    $('error').textContent = msg || '';
    $('error').hidden = !msg;
  }

  function show(section) {
    for (const id of ['login', 'list', 'detail']) $(id).hidden = id !== section;
    $('signout').hidden = section === 'login';
  }

  function signOut(msg) {
    stopView();
    stopView = () => {};
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('login-error').textContent = msg || '';
    $('login-error').hidden = !msg;
    showError('');
    show('login');
    $('token').focus();
  }

  const sleep = (ms, signal) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  // lines yields the lines of a response body as they arrive.
  async function* lines(resp) {
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        yield buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
      }
    }
    if (buf) yield buf;
  }

  // events reads a Server-Sent Events stream with the token (EventSource
  // cannot send one), resuming with Last-Event-ID, until onEvent returns
  // false, signal aborts or taskd refuses it (a 4xx). onConnect(ok) runs
  // after each attempt to connect.
  async function events(path, onEvent, signal, onConnect = () => {}) {
    let lastID = '';
    while (!signal.aborted) {
      try {
        const resp = await call(path, { signal, headers: lastID ? { 'Last-Event-ID': lastID } : {} });
        onConnect(resp.ok);
        if (!resp.ok) {
          showError('Live updates: ' + await problem(resp));
          if (resp.status < 500 && resp.status !== 429) return;
        } else {
          showError('');
          let name = 'message', data = [];
          for await (const line of lines(resp)) {
            if (line === '') {
              if (data.length && onEvent(name, data.join('\n')) === false) return;
              name = 'message'; data = [];
              continue;
            }
            const c = line.indexOf(':');
            if (c === 0) continue; // a comment: the heartbeat
            const field = c < 0 ? line : line.slice(0, c);
            const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'data') data.push(value);
            else if (field === 'event') name = value;
            else if (field === 'id') lastID = value;
          }
        }
      } catch (e) {
        if (e instanceof SignedOut || signal.aborted) return;
        onConnect(false);
      }
      await sleep(1000, signal);
    }
  }

  // ---- the list ----

  function listQuery() {
    const q = new URLSearchParams({ page: filters.page, per_page: PER_PAGE, order_by: '-created_at' });
    if (filters.state) q.set('states', filters.state);
    if (filters.app) q.set('app_guids', filters.app);
    if (filters.name) q.set('names', filters.name);
    return q;
  }

  async function loadList(signal) {
    const resp = await call('v3/tasks?' + listQuery(), { signal });
    if (!resp.ok) {
      $('list-status').textContent = await problem(resp);
      return;
    }
    const body = await resp.json();
    const p = body.pagination;
    if (filters.page > p.total_pages) { // the page emptied: show the last
      filters.page = p.total_pages;
      return loadList(signal);
    }
    const rows = body.resources.map(row);
    $('tasks').tBodies[0].replaceChildren(...rows);
    $('list-status').textContent = p.total_results === 1 ? '1 task' : `${p.total_results} tasks`;
    $('page-info').textContent = `page ${filters.page} of ${p.total_pages}`;
    $('prev').disabled = !p.previous;
    $('next').disabled = !p.next;
  }

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function row(t) {
    const tr = document.createElement('tr');
    tr.dataset.guid = t.guid;
    const name = document.createElement('td');
    const a = document.createElement('a');
    a.href = '#/tasks/' + encodeURIComponent(t.guid);
    a.textContent = t.name;
    name.append(a);
    const state = cell('');
    const badge = document.createElement('span');
    badge.className = 'state ' + t.state;
    badge.textContent = t.state;
    state.append(badge);
    tr.append(name, state, cell(t.relationships.app.data.guid, 'wide'), cell(String(t.sequence_id), 'wide'), cell(t.created_at, 'wide'));
    return tr;
  }

  function showList() {
    show('list');
    const ctl = new AbortController();
    stopView = () => ctl.abort();
    // One reload at a time, at most every RELOAD_GAP ms: changes during
    // one cause one more, so a busy taskd costs a console two list
    // requests a second, whatever its rate of changes.
    let loading = false, again = false;
    const reload = () => {
      if (loading) { again = true; return; }
      loading = true;
      loadList(ctl.signal).catch(() => {}).finally(async () => {
        if (again) await sleep(RELOAD_GAP, ctl.signal);
        loading = false;
        if (again && !ctl.signal.aborted) { again = false; reload(); }
      });
    };
    // The list loads once the changes stream is open, so that no change
    // falls between the two, and again after each reconnection, which
    // may have missed some. Without the stream, it loads all the same.
    let loaded = false;
    events('console/api/changes', () => { reload(); }, ctl.signal, (ok) => {
      if (ok || !loaded) reload();
      loaded = true;
    });
    listReload = reload;
  }
  let listReload = () => {};

  $('filters').addEventListener('input', () => {
    filters.state = $('f-state').value;
    filters.app = $('f-app').value.trim();
    filters.name = $('f-name').value.trim();
    filters.page = 1;
    listReload();
  });
  $('filters').addEventListener('submit', (e) => e.preventDefault());
  $('prev').addEventListener('click', () => { filters.page = Math.max(1, filters.page - 1); listReload(); });
  $('next').addEventListener('click', () => { filters.page++; listReload(); });

  // ---- one task ----

  let shown = null; // the task the detail view shows

  function renderTask(t) {
    if (shown && shown.guid === t.guid && terminal(shown.state) && !terminal(t.state)) return; // an older answer
    shown = t;
    $('d-name').textContent = t.name;
    $('d-state').textContent = t.state;
    $('d-state').className = 'state ' + t.state;
    const reason = t.result && t.result.failure_reason;
    $('d-reason').textContent = reason || '';
    $('d-reason').hidden = !reason;
    const fields = [
      ['guid', t.guid], ['app', t.relationships.app.data.guid], ['sequence id', t.sequence_id],
      ['command', 'command' in t ? t.command : '(hidden)'], ['user', t.user || ''],
      ['memory', t.memory_in_mb + ' MB'], ['created', t.created_at], ['updated', t.updated_at],
    ];
    for (const [k, v] of Object.entries((t.metadata && t.metadata.labels) || {})) fields.push(['label ' + k, v]);
    const nodes = [];
    for (const [k, v] of fields) {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = String(v);
      nodes.push(dt, dd);
    }
    $('d-fields').replaceChildren(...nodes);
  }

  function logLine(l) {
    const span = document.createElement('span');
    span.className = l.stream;
    const time = document.createElement('time');
    time.textContent = l.time.slice(11, 23);
    span.append(time, l.line + (l.truncated ? ' [truncated]' : '') + '\n');
    return span;
  }

  // followLogs shows the task's output as it comes, resuming after the
  // last line it has when the connection breaks.
  async function followLogs(guid, signal) {
    const pre = $('logs'), status = $('logs-status');
    pre.replaceChildren();
    let last = 0;
    while (!signal.aborted) {
      try {
        const resp = await call(`v3/tasks/${encodeURIComponent(guid)}/logs?follow=true&format=jsonl`, { signal });
        if (!resp.ok) {
          status.textContent = await problem(resp);
          return;
        }
        status.textContent = resp.headers.get('Tasklife-Logs') === 'none'
          ? 'none here yet: the task has not started on this taskd, or ran elsewhere'
          : 'following';
        for await (const text of lines(resp)) {
          const l = JSON.parse(text);
          if (l.n <= last) continue;
          last = l.n;
          status.textContent = 'following';
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(logLine(l));
          while (pre.childNodes.length > MAX_LOG_LINES) pre.firstChild.remove();
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        }
        status.textContent = last ? 'ended' : 'ended, no output';
        return;
      } catch (e) {
        if (e instanceof SignedOut || signal.aborted) return;
        status.textContent = 'reconnecting';
      }
      await sleep(1000, signal);
    }
  }

  async function showDetail(guid) {
    show('detail');
    shown = null;
    const ctl = new AbortController();
    stopView = () => ctl.abort();
    $('cancel-result').textContent = '';
    $('d-fields').replaceChildren();
    $('d-name').textContent = '';
    $('d-state').textContent = '';
    $('logs').replaceChildren();
    const path = 'v3/tasks/' + encodeURIComponent(guid);
    const resp = await call(path, { signal: ctl.signal });
    if (!resp.ok) {
      $('d-name').textContent = await problem(resp);
      return;
    }
    renderTask(await resp.json());
    events(path + '/events', (name, data) => {
      if (name !== 'task') return true;
      const t = JSON.parse(data);
      renderTask(t);
      return !terminal(t.state);
    }, ctl.signal);
    followLogs(guid, ctl.signal);
  }

  $('cancel').addEventListener('click', async () => {
    if (!shown) return;
    const button = $('cancel'), result = $('cancel-result');
    button.disabled = true;
    result.textContent = 'canceling…';
    try {
      const resp = await call(`v3/tasks/${encodeURIComponent(shown.guid)}/actions/cancel`, { method: 'POST' });
      if (resp.status === 202) {
        const t = await resp.json();
        renderTask(t);
        result.textContent = `202 Accepted: the task is ${t.state}`;
      } else {
        result.textContent = await problem(resp);
      }
    } catch (e) {
      if (!(e instanceof SignedOut)) result.textContent = 'The cancel did not reach taskd: ' + e.message;
    } finally {
      button.disabled = false;
    }
  });

  // ---- routing and the token ----

  function route() {
    stopView();
    stopView = () => {};
    showError('');
    if (!token) return signOut('');
    const m = location.hash.match(/^#\/tasks\/([^/]+)$/);
    const run = m ? showDetail(decodeURIComponent(m[1])) : showList();
    Promise.resolve(run).catch((e) => {
      if (!(e instanceof SignedOut) && e.name !== 'AbortError') showError(e.message);
    });
  }

  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    try {
      const resp = await call('v3/tasks?per_page=1');
      if (!resp.ok) {
        signOut(await problem(resp));
        return;
      }
    } catch (err) {
      if (!(err instanceof SignedOut)) signOut('taskd did not answer: ' + err.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login-error').hidden = true;
    route();
  });
  $('signout').addEventListener('click', () => signOut(''));
  window.addEventListener('hashchange', route);
  route();
})();
