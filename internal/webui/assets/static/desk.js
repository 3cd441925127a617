// The pickup desk: a phone or tablet at the stall. It caches the day's
// pickup list (GET /v1/pickups), finds a typed or scanned code in it,
// records collections in this browser first (localStorage, per desk name)
// and syncs them to the origin (POST /v1/pickups:sync) whenever it can, so a
// venue whose internet drops keeps handing orders over. The origin records
// each code once; a code another desk had collected comes back "conflict"
// and is flagged here. The control token lives in sessionStorage. A
// service worker (/desk-sw.js) keeps the page itself in the browser's
// cache, so a reload, or a browser restart (the token typed again), while
// the venue is offline brings the desk back with its list and collections.
(function () {
  'use strict';
  const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
  const RETRY_MS = 2000;
  const REFRESH_MS = 30000;
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');

  const session = {
    get(k) { try { return sessionStorage.getItem(k) || ''; } catch (_) { return ''; } },
    set(k, v) { try { sessionStorage.setItem(k, v); } catch (_) { /* this page only */ } },
  };
  let token = session.get('livedrop.desk.token');
  let desk = session.get('livedrop.desk.name') || new URLSearchParams(location.search).get('desk') || '';

  // Kept per desk name, so two desks in one browser (and a reload
  // offline) each keep their own list and collections.
  const key = (k) => 'livedrop.desk.' + desk + '.' + k;
  function load(k, dflt) {
    try { const v = localStorage.getItem(key(k)); return v ? JSON.parse(v) : dflt; } catch (_) { return dflt; }
  }
  function save(k, v) { try { localStorage.setItem(key(k), JSON.stringify(v)); } catch (_) { /* full: memory only */ } }

  let list = { day: '', items: [], fetched_at: '' };
  let local = []; // {code, desk, at, id, status?, first?}
  let current = ''; // the code on screen
  let syncing = false;
  let retryTimer = 0;
  let online = navigator.onLine;
  let offlineReady = false; // the service worker has the page cached

  function normalize(s) {
    const c = String(s || '').toUpperCase().replace(/[\s-]/g, '');
    if (c.length !== 8) return '';
    for (const ch of c) if (ALPHABET.indexOf(ch) < 0) return '';
    return c;
  }
  const display = (c) => c.slice(0, 4) + '-' + c.slice(4);
  const today = () => new Date().toISOString().slice(0, 10);
  const clock = (iso) => { const d = new Date(iso); return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };

  function setNet(state) {
    online = state === 'online';
    const el = $('desk-net');
    el.dataset.state = state;
    el.dataset.offlineReady = offlineReady ? 'yes' : 'no';
    el.textContent = online ? 'online' + (offlineReady ? ' · ready for offline' : '') : 'offline · collections kept on this device';
  }

  async function call(method, path, body) {
    const res = await fetch(path, {
      method, cache: 'no-store',
      headers: Object.assign({ 'Authorization': 'Bearer ' + token, 'Accept': 'application/json' },
        body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (res.status === 401) { logout('The control token was refused'); throw new Error('unauthorized'); }
    if (!res.ok) throw new Error((data && data.error) || ('HTTP ' + res.status));
    return data;
  }

  async function fetchList() {
    try {
      const l = await call('GET', '/v1/pickups?day=' + today());
      list = { day: l.day, items: l.items || [], fetched_at: new Date().toISOString() };
      save('list', list);
      setNet('online');
    } catch (err) {
      if (String(err.message) !== 'unauthorized') setNet('offline');
    }
    render();
  }

  // The item of code in the cached list.
  const itemOf = (code) => list.items.find((it) => it.code === code);
  const localOf = (code) => local.find((c) => c.code === code);

  // stateOf says where code stands as this desk knows it.
  function stateOf(code) {
    const l = localOf(code);
    if (l && l.status === 'conflict') return 'conflict';
    if (l && !l.status) return 'local';
    if (l && (l.status === 'unknown' || l.status === 'invalid')) return 'refused';
    const it = itemOf(code);
    if ((it && it.collected) || l) return 'collected';
    return 'pending';
  }

  function render() {
    $('desk-id').textContent = desk;
    $('desk-day').textContent = list.day || today();
    const ul = $('desk-list');
    ul.textContent = '';
    let done = 0, waiting = 0;
    const codes = list.items.map((it) => it.code);
    for (const c of local) if (codes.indexOf(c.code) < 0) codes.push(c.code);
    for (const code of codes) {
      const it = itemOf(code) || { code, sku: '?', qty: 0, order: '' };
      const st = stateOf(code);
      if (st === 'pending' || st === 'refused') waiting++; else done++;
      const li = document.createElement('li');
      li.dataset.code = code;
      li.dataset.state = st;
      li.dataset.testid = 'desk-item';
      const c = document.createElement('span'); c.className = 'code'; c.textContent = display(code);
      const w = document.createElement('span'); w.textContent = it.sku + ' × ' + it.qty;
      const s = document.createElement('span'); s.className = 'state'; s.textContent = stateText(code, st);
      li.append(c, w, s);
      ul.append(li);
    }
    $('desk-counts').textContent = done + ' collected · ' + waiting + ' waiting';
    $('desk-pending-sync').textContent = String(local.filter((c) => !c.status).length);
    if (current) show(current);
  }

  function stateText(code, st) {
    const l = localOf(code), it = itemOf(code);
    switch (st) {
      case 'local': return 'collected here ' + clock(l.at) + ' · not synced yet';
      case 'conflict': return 'CONFLICT: collected at desk ' + (l.first ? l.first.desk + ' ' + clock(l.first.at) : '?') + ' first';
      case 'refused': return 'NOT RECORDED: ' + (l.error || l.status);
      case 'collected': {
        const by = (l && l.first) || (it && it.collected) || l;
        return 'collected at ' + (by ? by.desk + ' ' + clock(by.at) : 'a desk');
      }
    }
    return 'waiting';
  }

  // show puts code's order and state on screen, with the collect button
  // when it can be handed over.
  function show(code) {
    current = code;
    const out = $('desk-result');
    const btn = $('desk-collect');
    const it = itemOf(code);
    const st = stateOf(code);
    btn.hidden = true;
    if (!it && !localOf(code)) {
      out.dataset.state = 'error';
      out.textContent = display(code) + ': not on the pickup list' + (list.fetched_at ? ' (from ' + clock(list.fetched_at) + ')' : '');
      return;
    }
    const what = it ? it.sku + ' × ' + it.qty + ' · order …' + it.order.slice(-6).toUpperCase() + (it.status === 'paid' ? '' : ' · ' + it.status) : '';
    out.textContent = display(code) + ' · ' + what + ' · ' + stateText(code, st);
    out.dataset.state = st === 'pending' ? 'ok' : st === 'conflict' || st === 'refused' ? 'conflict' : 'done';
    btn.hidden = st !== 'pending';
  }

  async function find(raw) {
    const code = normalize(raw);
    if (!code) {
      current = '';
      $('desk-result').dataset.state = 'error';
      $('desk-result').textContent = 'A pickup code is 8 characters, like ABCD-EFGH';
      $('desk-collect').hidden = true;
      return;
    }
    if (!itemOf(code) && online) {
      // Ordered after the list was cached: ask the origin.
      try {
        const it = await call('GET', '/v1/pickups/' + code);
        list.items.push(it);
        save('list', list);
      } catch (_) { /* not known, or offline: show what we have */ }
    }
    show(code);
  }

  // collectionID names one hand-over: a sync resent after a lost answer
  // names the same collection, and the origin answers it the same.
  function collectionID() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function collect() {
    if (!current || stateOf(current) !== 'pending') return;
    local.push({ code: current, desk, at: new Date().toISOString(), id: collectionID() });
    save('local', local);
    render();
    sync();
  }

  // sync sends the collections not yet answered; on failure it tries again
  // in a moment, and whenever the browser says it is back online.
  async function sync() {
    const todo = local.filter((c) => !c.status);
    if (syncing || todo.length === 0) return;
    syncing = true;
    clearTimeout(retryTimer);
    let ok = false;
    try {
      const ans = await call('POST', '/v1/pickups:sync', { collections: todo.map((c) => ({ code: c.code, desk: c.desk, at: c.at, id: c.id })) });
      (ans.results || []).forEach((r, i) => {
        const c = todo[i];
        if (!c) return;
        c.status = r.status;
        if (r.collected) c.first = r.collected;
        if (r.error) c.error = r.error;
      });
      save('local', local);
      ok = true;
      setNet('online');
    } catch (err) {
      if (String(err.message) !== 'unauthorized') setNet('offline');
    } finally {
      syncing = false;
    }
    if (ok) await fetchList();
    else render();
    if (local.some((c) => !c.status)) retryTimer = setTimeout(sync, RETRY_MS);
  }

  // Camera scanning where the browser has BarcodeDetector; typing works
  // everywhere.
  async function scan() {
    const video = $('desk-video');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    } catch (_) {
      $('desk-result').dataset.state = 'error';
      $('desk-result').textContent = 'No camera: type the code';
      return;
    }
    // eslint-disable-next-line no-undef
    const det = new BarcodeDetector({ formats: ['qr_code'] });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const stop = () => { stream.getTracks().forEach((t) => t.stop()); video.hidden = true; };
    const until = Date.now() + 30000;
    while (Date.now() < until) {
      try {
        const got = await det.detect(video);
        if (got.length && normalize(got[0].rawValue)) {
          stop();
          $('desk-code').value = display(normalize(got[0].rawValue));
          await find(got[0].rawValue);
          return;
        }
      } catch (_) { /* frame not ready */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    stop();
  }

  function logout(msg) {
    token = '';
    session.set('livedrop.desk.token', '');
    $('desk-panel').hidden = true;
    $('desk-login').hidden = false;
    $('desk-login-status').textContent = msg || '';
  }

  function open() {
    $('desk-login').hidden = true;
    $('desk-panel').hidden = false;
    list = load('list', list);
    local = load('local', []);
    render();
    fetchList();
    sync();
  }

  $('desk-name').value = desk;
  $('desk-login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('desk-token').value.trim();
    const d = $('desk-name').value.trim();
    if (!t || !/^[A-Za-z0-9_-]{1,64}$/.test(d)) {
      $('desk-login-status').textContent = 'Enter the control token and a desk name of letters, digits, - or _';
      return;
    }
    token = t; desk = d;
    session.set('livedrop.desk.token', t);
    session.set('livedrop.desk.name', d);
    open();
  });
  $('desk-scan-form').addEventListener('submit', (ev) => { ev.preventDefault(); find($('desk-code').value); });
  $('desk-collect').addEventListener('click', collect);
  $('desk-refresh').addEventListener('click', fetchList);
  if ('BarcodeDetector' in window && navigator.mediaDevices) {
    $('desk-camera').hidden = false;
    $('desk-camera').addEventListener('click', scan);
  }
  window.addEventListener('online', () => { setNet('online'); sync(); fetchList(); });
  window.addEventListener('offline', () => setNet('offline'));
  // Offline too: a failed fetch is how the desk notices the origin is back
  // when the browser still thinks it is online (the venue's uplink dropped).
  setInterval(() => { if (token) fetchList(); }, REFRESH_MS);
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/desk-sw.js', { scope: '/desk' })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { offlineReady = true; setNet(online ? 'online' : 'offline'); })
      .catch(() => { /* no worker (not a secure origin): a reload needs the network */ });
  }
  setNet(navigator.onLine ? 'online' : 'offline');
  if (token && desk) open();

  // For tests and the curious: what this desk holds.
  window.livedropDesk = {
    state: (code) => stateOf(normalize(code)),
    unsynced: () => local.filter((c) => !c.status).length,
    listed: () => list.items.length,
    offlineReady: () => offlineReady && !!navigator.serviceWorker.controller,
  };
})();
