// livedrop seller console: a preview of the stream (player.js), and the
// control API of the origin on this host, called with the bearer token the
// seller typed. The token lives in sessionStorage, never in a URL.
'use strict';

(function () {
  const POLL_MS = 1000;
  const WS_BACKOFF_MIN_MS = 500;
  const WS_BACKOFF_MAX_MS = 10000;
  const TOKEN_KEY = 'livedrop.token';
  const DROP_KEY = 'livedrop.drop';
  const STREAM_KEY = 'livedrop.stream';
  const { formatMoney } = window.LivedropPlayer; // the viewer page's rule for prices

  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const loginPanel = $('login-panel');
  const loginForm = loginPanel.querySelector('form');
  const tokenIn = $('token');
  const loginBtn = $('login');
  const loginErr = $('login-error');
  const logoutBtn = $('logout');
  const desk = $('desk');
  const streamIn = $('stream');
  const statusEl = $('status');
  const video = $('video');
  const dropIn = $('drop');
  const dropStateEl = $('drop-state');
  const openBtn = $('open-drop');
  const closeBtn = $('close-drop');
  const skusEl = $('skus');
  const overlaysEl = $('overlays');
  const overlaysEmpty = $('overlays-empty');
  const cdForm = document.querySelector('.countdown-form');
  const cdLabel = $('countdown-label');
  const cdSeconds = $('countdown-seconds');
  const noticeEl = $('notice');

  const store = {
    get(k) { try { return sessionStorage.getItem(k) || ''; } catch (_) { return ''; } },
    set(k, v) { try { if (v) sessionStorage.setItem(k, v); else sessionStorage.removeItem(k); } catch (_) { /* off */ } },
  };

  let token = '';
  let pollTimer = 0;
  let polling = false;
  let drop = null; // the last GET /v1/drops/{id}
  let streamTouched = false;

  // ---- the control API -------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { 'Authorization': 'Bearer ' + token, 'Accept': 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      throw new APIError(0, 'network error: ' + (err && err.message ? err.message : err));
    }
    let data = null;
    const text = await res.text().catch(() => '');
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const reason = data && typeof data.error === 'string' ? data.error : text.trim().split('\n')[0] || res.statusText;
      throw new APIError(res.status, res.status + ' ' + (reason || 'error').slice(0, 160));
    }
    return data;
  }

  const enc = encodeURIComponent;
  const dropPath = (id) => '/v1/drops/' + enc(id);
  const overlaysPath = (s) => '/v1/streams/' + enc(s) + '/overlays';

  function notice(text, state) {
    noticeEl.textContent = text;
    noticeEl.dataset.state = state || '';
  }

  // run does one control call for a button, disabling it meanwhile, and
  // returns {ok, data}.
  async function run(btn, what, fn) {
    btn.disabled = true;
    try {
      const data = await fn();
      notice(what + ': done', 'ok');
      return { ok: true, data };
    } catch (err) {
      if (err.status === 401) {
        logout(err.message);
      } else {
        notice(what + ': ' + err.message, 'error');
      }
      return { ok: false, data: null };
    } finally {
      btn.disabled = false;
    }
  }

  // ---- login -----------------------------------------------------------------------

  loginForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = tokenIn.value.trim();
    if (!t) {
      loginErr.textContent = 'Enter the control token.';
      return;
    }
    loginBtn.disabled = true;
    loginErr.textContent = '';
    try {
      await login(t);
    } finally {
      loginBtn.disabled = false;
    }
  });

  // login checks the token against the API before it keeps it.
  async function login(t) {
    token = t;
    try {
      const first = await firstDrop();
      if (!dropIn.value) dropIn.value = store.get(DROP_KEY) || first || 'd1';
      await api('GET', dropPath(dropIn.value)).catch((err) => {
        if (err.status !== 404) throw err; // a token good enough to be told "no such drop"
      });
    } catch (err) {
      token = '';
      store.set(TOKEN_KEY, '');
      loginErr.textContent = err.status === 401 ? 'Wrong token: ' + err.message : 'Cannot sign in: ' + err.message;
      tokenIn.focus();
      tokenIn.select();
      return;
    }
    store.set(TOKEN_KEY, t);
    tokenIn.value = '';
    loginPanel.hidden = true;
    desk.hidden = false;
    logoutBtn.hidden = false;
    startDesk();
  }

  // firstDrop asks for the list of drops, if the API has one, and returns
  // the first id; a 401 is thrown, any other failure means "no list".
  async function firstDrop() {
    let list;
    try {
      list = await api('GET', '/v1/drops');
    } catch (err) {
      if (err.status === 401) throw err;
      return '';
    }
    if (list && !Array.isArray(list)) list = list.drops;
    if (!Array.isArray(list) || !list.length) return '';
    const d = list[0];
    return typeof d === 'string' ? d : String((d && (d.drop || d.id)) || '');
  }

  function logout(why) {
    token = '';
    store.set(TOKEN_KEY, '');
    stopDesk();
    desk.hidden = true;
    logoutBtn.hidden = true;
    loginPanel.hidden = false;
    loginErr.textContent = why ? 'Signed out: ' + why : '';
  }
  logoutBtn.addEventListener('click', () => logout(''));

  // ---- the desk: preview, drop, overlays ---------------------------------------------

  const player = window.LivedropPlayer.create({
    video,
    stream: streamIn.value,
    onStatus(text, state) {
      statusEl.textContent = text;
      statusEl.dataset.state = state;
      statusEl.title = text;
    },
    query: () => ({ preview: '1' }), // the seller's preview is no viewer (event KPIs)
  });

  function validStream(s) { return /^[A-Za-z0-9_-]{1,64}$/.test(s); }

  function startDesk() {
    const s = store.get(STREAM_KEY);
    if (s && validStream(s)) {
      streamIn.value = s;
      streamTouched = true;
    }
    player.setStream(streamIn.value);
    player.start();
    connectEvents();
    poll();
  }

  function stopDesk() {
    player.stop();
    clearTimeout(pollTimer);
    pollTimer = 0;
    closeEvents();
  }

  streamIn.addEventListener('change', () => {
    const s = streamIn.value.trim();
    if (!validStream(s)) {
      notice('Stream names are 1 to 64 letters, digits, - or _.', 'error');
      return;
    }
    streamTouched = true;
    store.set(STREAM_KEY, s);
    switchStream(s);
  });

  function switchStream(s) {
    streamIn.value = s;
    player.setStream(s);
    overlays.clear();
    renderOverlays();
    closeEvents();
    connectEvents();
    refreshOverlays();
  }

  dropIn.addEventListener('change', () => {
    store.set(DROP_KEY, dropIn.value.trim());
    drop = null;
    skuRows.clear();
    skusEl.textContent = '';
    poll();
  });

  function currentDrop() { return dropIn.value.trim(); }
  function currentStream() { return streamIn.value.trim(); }

  // ---- totals ------------------------------------------------------------------------

  async function poll() {
    clearTimeout(pollTimer);
    pollTimer = 0;
    if (!token || polling) return;
    polling = true;
    const id = currentDrop();
    try {
      if (id) {
        const d = await api('GET', dropPath(id));
        if (id === currentDrop()) showDrop(d);
      }
      if (!events.isOpen()) await refreshOverlays();
    } catch (err) {
      if (err.status === 401) {
        polling = false;
        logout(err.message);
        return;
      }
      if (err.status === 404) showDrop(null, 'no drop ' + id);
      else notice('Drop ' + id + ': ' + err.message, 'error');
    } finally {
      polling = false;
    }
    if (token) pollTimer = setTimeout(poll, POLL_MS);
  }

  function setText(e, text) { if (e.textContent !== text) e.textContent = text; }

  const skuRows = new Map(); // sku -> row element

  function showDrop(d, missing) {
    drop = d;
    const badge = d ? String(d.state || '') : '';
    setText(dropStateEl, missing || badge || '–');
    dropStateEl.dataset.state = missing ? 'missing' : badge;
    openBtn.disabled = !d || badge === 'open';
    closeBtn.disabled = !d || badge === 'closed';
    const skus = d && Array.isArray(d.skus) ? d.skus : [];
    let sold = 0, left = 0, orders = 0;
    const revenue = new Map();
    for (const s of skus) {
      const n = Number(s.sold) || 0;
      sold += n;
      left += Math.max(0, (Number(s.stock) || 0) - n);
      orders += Number(s.orders) || 0;
      const c = s.currency || 'EUR';
      revenue.set(c, (revenue.get(c) || 0) + (Number(s.revenue_cents) || 0));
    }
    // The control side splits revenue per currency (regional prices): never add EUR to USD.
    const perCur = (m) => {
      const ks = Object.keys(m).sort();
      const nz = ks.filter((c) => m[c]);
      return (nz.length ? nz : ks.slice(0, 1)).map((c) => formatMoney(m[c], c)).join(' + ');
    };
    if (d && d.revenue_by_currency) { revenue.clear(); Object.keys(d.revenue_by_currency).sort().forEach((c) => { if (d.revenue_by_currency[c]) revenue.set(c, d.revenue_by_currency[c]); }); }
    setText($('sold'), d ? String(sold) : '–');
    setText($('left'), d ? String(left) : '–');
    setText($('orders'), d ? String(orders) : '–');
    setText($('revenue'), d ? (revenue.size ? Array.from(revenue, ([c, v]) => formatMoney(v, c)).join(' + ') : formatMoney(0)) : '–');
    if (d && d.stream && !streamTouched && d.stream !== currentStream() && validStream(d.stream)) {
      streamTouched = true;
      switchStream(d.stream);
    }

    // Rows are kept, not rebuilt, so a tap on Pin never lands on a node
    // that the next poll replaced.
    const seen = new Set();
    for (const s of skus) {
      const sku = String(s.sku);
      seen.add(sku);
      let row = skuRows.get(sku);
      if (!row) {
        row = skuRow(sku);
        skuRows.set(sku, row);
        skusEl.append(row);
      }
      const n = Number(s.sold) || 0;
      const stock = Number(s.stock) || 0;
      setText(row.querySelector('.sku-name'), sku);
      setText(row.querySelector('.sku-figures'), n + ' / ' + stock + ' sold · ' + (Number(s.orders) || 0) + ' orders · ' +
        (d.sku_revenue_by_currency && d.sku_revenue_by_currency[sku] ? perCur(d.sku_revenue_by_currency[sku]) : formatMoney(s.revenue_cents, s.currency)));
      row.querySelector('.sku-bar > i').style.width = (stock ? Math.min(100, (100 * n) / stock) : 0) + '%';
      const pinned = Array.from(overlays.values()).some((o) => o.kind === 'product' && o.sku === sku && o.drop === currentDrop());
      row.dataset.pinned = String(pinned);
    }
    for (const [sku, row] of skuRows) {
      if (!seen.has(sku)) { row.remove(); skuRows.delete(sku); }
    }
  }

  function skuRow(sku) {
    const li = document.createElement('li');
    li.className = 'sku';
    li.dataset.sku = sku;
    const info = document.createElement('div');
    info.className = 'sku-info';
    const name = document.createElement('strong');
    name.className = 'sku-name';
    const fig = document.createElement('span');
    fig.className = 'sku-figures';
    const bar = document.createElement('span');
    bar.className = 'sku-bar';
    bar.append(document.createElement('i'));
    info.append(name, fig, bar);
    const pin = document.createElement('button');
    pin.type = 'button';
    pin.className = 'btn btn-primary';
    pin.dataset.testid = 'pin-' + sku;
    pin.textContent = 'Pin';
    pin.setAttribute('aria-label', 'Pin ' + sku + ' on screen');
    pin.addEventListener('click', () => pinProduct(pin, sku));
    li.append(info, pin);
    return li;
  }

  openBtn.addEventListener('click', () => dropAction(openBtn, 'open'));
  closeBtn.addEventListener('click', () => dropAction(closeBtn, 'close'));

  async function dropAction(btn, action) {
    const id = currentDrop();
    if (!id) return;
    await run(btn, (action === 'open' ? 'Open ' : 'Close ') + id, () => api('POST', dropPath(id) + '/' + action));
    poll();
  }

  async function pinProduct(btn, sku) {
    const s = currentStream();
    const ov = (await run(btn, 'Pin ' + sku, () =>
      api('POST', overlaysPath(s), { type: 'product', drop: currentDrop(), sku }))).data;
    if (ov && ov.id) {
      overlays.set(String(ov.id), Object.assign({ kind: 'product', drop: currentDrop(), sku }, ov));
      renderOverlays();
    }
    refreshOverlays();
  }

  cdForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const seconds = Math.max(1, Math.min(3600, Math.round(Number(cdSeconds.value) || 30)));
    const label = cdLabel.value.trim() || 'Drop opens in';
    const btn = $('countdown-start');
    const s = currentStream();
    const body = { type: 'countdown', label, seconds };
    if (currentDrop()) body.drop = currentDrop();
    const ov = (await run(btn, 'Countdown', () => api('POST', overlaysPath(s), body))).data;
    if (ov && ov.id) {
      overlays.set(String(ov.id), Object.assign({ kind: 'countdown', label, ends_at_ms: Date.now() + seconds * 1000 }, ov));
      renderOverlays();
    }
    refreshOverlays();
  });

  // ---- active overlays: the events WebSocket, or GET .../overlays ------------------

  const overlays = new Map(); // id -> overlay
  // The events WebSocket at the origin carries the same messages as the
  // viewers'; only text messages are expected.
  const events = LivedropPlayer.eventSocket(currentStream, (data) => {
    if (typeof data === 'string') onEvent(data);
  }, WS_BACKOFF_MIN_MS, WS_BACKOFF_MAX_MS);

  function connectEvents() { events.start(); }

  function closeEvents() { events.stop(); }

  // onEvent applies the viewer's messages at once: the console shows what is
  // pinned, not the frame it appears on.
  function onEvent(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (_) { return; }
    if (!msg || msg.v !== 1) return;
    if (msg.type === 'state' && Array.isArray(msg.overlays)) {
      overlays.clear();
      for (const ov of msg.overlays) if (ov && ov.id) overlays.set(String(ov.id), ov);
    } else if (msg.type === 'show' && msg.overlay && msg.overlay.id) {
      overlays.set(String(msg.overlay.id), msg.overlay);
    } else if (msg.type === 'hide' && msg.id) {
      overlays.delete(String(msg.id));
    } else if (msg.type === 'drop' && msg.state === 'closed') {
      for (const [id, ov] of overlays) if (ov.drop === msg.drop) overlays.delete(id);
    } else {
      return;
    }
    renderOverlays();
  }

  // refreshOverlays reads the list of overlays, where the API has one; a
  // 401 signs out.
  async function refreshOverlays() {
    const s = currentStream();
    let list;
    try {
      list = await api('GET', overlaysPath(s));
    } catch (err) {
      if (err.status === 401 && token) logout(err.message);
      return; // no list endpoint: the WebSocket and our own calls keep it
    }
    if (s !== currentStream()) return;
    if (list && !Array.isArray(list)) list = list.overlays;
    if (!Array.isArray(list)) return;
    overlays.clear();
    for (const ov of list) if (ov && ov.id) overlays.set(String(ov.id), ov);
    renderOverlays();
  }

  const overlayRows = new Map(); // id -> row
  function renderOverlays() {
    for (const [id, row] of overlayRows) {
      if (!overlays.has(id)) { row.remove(); overlayRows.delete(id); }
    }
    for (const [id, ov] of overlays) {
      let row = overlayRows.get(id);
      if (!row) {
        row = document.createElement('li');
        row.className = 'overlay-row';
        row.dataset.id = id;
        const kind = document.createElement('span');
        kind.className = 'kind';
        const what = document.createElement('span');
        what.className = 'what';
        const unpin = document.createElement('button');
        unpin.type = 'button';
        unpin.className = 'btn btn-quiet';
        unpin.dataset.testid = 'unpin-' + id;
        unpin.textContent = 'Unpin';
        unpin.addEventListener('click', () => unpinOverlay(unpin, id));
        row.append(kind, what, unpin);
        overlayRows.set(id, row);
        overlaysEl.append(row);
      }
      const kind = ov.kind || (ov.sku ? 'product' : 'countdown');
      setText(row.querySelector('.kind'), kind === 'product' ? 'Product' : 'Countdown');
      const what = kind === 'product'
        ? String(ov.name || ov.sku || '') + (ov.drop ? ' · ' + ov.drop : '')
        : String(ov.label || 'Countdown') + (ov.ends_at_ms ? ' · ' + remaining(ov.ends_at_ms) : '');
      setText(row.querySelector('.what'), what);
      row.querySelector('.what').dataset.endsAt = ov.ends_at_ms ? String(ov.ends_at_ms) : '';
      row.querySelector('.btn').setAttribute('aria-label', 'Unpin ' + what);
    }
    overlaysEmpty.hidden = overlays.size > 0;
    for (const row of skuRows.values()) {
      row.dataset.pinned = String(Array.from(overlays.values()).some((o) => o.sku === row.dataset.sku && o.drop === currentDrop()));
    }
  }

  function remaining(endsAt) {
    const s = Math.ceil(Math.max(0, Number(endsAt) - Date.now()) / 1000);
    return String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  }
  setInterval(() => { if (overlays.size) renderOverlays(); }, 500);

  async function unpinOverlay(btn, id) {
    const res = await run(btn, 'Unpin', () => api('DELETE', overlaysPath(currentStream()) + '/' + enc(id)));
    if (res.ok) {
      overlays.delete(id);
      renderOverlays();
    }
    refreshOverlays();
  }

  // ---- for tests -----------------------------------------------------------------------

  window.livedrop = {
    get pc() { return player.pc; },
    status: player.status,
    drop: () => drop,
    overlays: () => Array.from(overlays.values()),
    eventsOpen: () => events.isOpen(),
  };

  // A reload keeps the session's token (sessionStorage, this tab only).
  const saved = store.get(TOKEN_KEY);
  if (saved) login(saved);
  else tokenIn.focus();
})();
