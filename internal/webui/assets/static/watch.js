// livedrop viewer page: the video (player.js), the shoppable overlays and Buy.
//
// Overlay events arrive on the data channel 'events' of the WHEP connection,
// or on the WebSocket /v1/streams/{stream}/events when the channel does not
// open or stays silent. show/hide events carry the RTP timestamp (90 kHz) of
// the frame they belong to and are applied when this page's video presents
// that frame (requestVideoFrameCallback's rtpTimestamp; else the receiver's
// synchronization source; else at once). stock and drop events apply at once.
'use strict';

(function () {
  const DC_GRACE_MS = 3000; // the data channel must open and speak within this
  const WS_BACKOFF_MIN_MS = 500;
  const WS_BACKOFF_MAX_MS = 15000;
  const CLOCK_STALE_MS = 2000; // no frame for this long: no media clock
  const MAX_AHEAD_TICKS = 90000 * 10; // further ahead than 10 s: a clock mismatch, apply
  const MAX_QUEUE_MS = 10000; // an event waits at most this long
  const MAX_QUEUE = 256;
  const ORDER_RETRIES = 3; // after the first try, on 503 or network errors
  const ORDER_BACKOFF_MS = 400; // 400, 800, 1600 ms
  const ORDER_TIMEOUT_MS = 8000;
  const ORDER_HELD_RETRIES = 30; // "held, try again" answers followed (about 3 s)
  const ENTRY_POLL_MIN_MS = 250; // an opening-lottery entry is polled from this wait,
  const ENTRY_POLL_MAX_MS = 4000; // doubling up to this one,
  const ENTRY_POLLS = 60; // this many times (a few minutes)

  const root = document.querySelector('[data-stream]');
  const video = document.querySelector('[data-testid="video"]');
  const statusEl = document.querySelector('[data-testid="status"]');
  const muteBtn = document.querySelector('[data-testid="mute"]');
  const layer = document.querySelector('[data-testid="overlay"]');
  const stream = root.dataset.stream;

  // ---- the player ----------------------------------------------------------

  // A stream that needs a playback token gets it in the watch URL
  // (?token=...), as the seller's ticketing hands it out.
  const playbackToken = new URLSearchParams(location.search).get('token') || '';

  // Where this viewer came from: ?ch= on the watch URL (a channel's QR
  // sign, a post), else utm_source; kept in localStorage so it survives the
  // sign-in link and reloads, and sent with every order. The edge keeps only
  // a short token of [a-z0-9_-] (anything else counts as "direct").
  const CHANNEL_KEY = 'livedrop.channel';
  const channel = (() => {
    const q = new URLSearchParams(location.search);
    const c = (q.get('ch') || q.get('utm_source') || '').toLowerCase().slice(0, 32);
    try {
      if (!c) return localStorage.getItem(CHANNEL_KEY) || '';
      localStorage.setItem(CHANNEL_KEY, c);
    } catch (_) { /* this page only */ }
    return c;
  })();

  const player = window.LivedropPlayer.create({
    video,
    stream,
    token: playbackToken,
    onStatus(text, state) {
      if (statusEl.textContent !== text) statusEl.textContent = text;
      statusEl.dataset.state = state;
      statusEl.title = text;
    },
    onPeerConnection: openDataChannel,
    // Who watches, for the event's figures: the channel, and the signed-in
    // buyer (else this device).
    query: () => ({ ch: channel, viewer: currentSession() ? session.buyer : device() }),
  });

  // Proofs a gated drop asks before an order (proofs.js): watch time of this
  // page's WHEP session, a proof of work solved in the background.
  const proofs = window.LivedropProofs.create({
    // Proofs vouch for the signed-in buyer: asked with the session.
    auth: () => (currentSession() ? 'Bearer ' + session.session : ''),
    session: () => player.session(),
    base: () => player.base(),
    workerURL: root.dataset.powWorker,
  });

  // api is the URL of path at the edge this page plays from: its own, or
  // the sibling it moved to when its edge drained.
  const api = (path) => new URL(path, player.base()).href;

  // moveTo follows a draining edge's notice: video, events and orders go to
  // the sibling it names (or, named none, to this page's address again,
  // which a load balancer routes to a live edge), without a reload.
  let moves = 0; // for tests
  function moveTo(to) {
    let target = '';
    if (typeof to === 'string' && to) {
      try {
        const u = new URL(to);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
        target = u.origin + '/';
      } catch (_) {
        return;
      }
    }
    moves++;
    player.move(target);
    events.reconnect();
  }

  function syncMute() {
    const muted = video.muted;
    muteBtn.setAttribute('aria-pressed', String(!muted));
    muteBtn.setAttribute('aria-label', muted ? 'Unmute' : 'Mute');
  }
  muteBtn.addEventListener('click', () => {
    video.muted = !video.muted;
    syncMute();
    if (!video.muted) video.play().catch(() => {});
  });
  video.addEventListener('volumechange', syncMute);
  syncMute();

  // ---- transport: data channel, WebSocket fallback ---------------------------

  // The WebSocket fallback: the same messages for a player without a channel.
  const events = LivedropPlayer.eventSocket(() => stream, (data) => receive(data), WS_BACKOFF_MIN_MS, WS_BACKOFF_MAX_MS,
    () => player.base());
  let dc = null; // the current attempt's channel
  let dcLive = false; // it delivered a message
  let dcTimer = 0;

  // openDataChannel runs before every createOffer of the player. The grace
  // timer is not restarted by each attempt: a player that keeps retrying an
  // offline stream must not keep the WebSocket from starting.
  function openDataChannel(pc) {
    const ch = pc.createDataChannel('events'); // ordered, reliable
    ch.binaryType = 'arraybuffer';
    dc = ch;
    dcLive = false;
    ch.onmessage = (ev) => {
      if (ch !== dc) return;
      if (!dcLive) {
        dcLive = true;
        clearTimeout(dcTimer);
        dcTimer = 0;
        stopWS(); // the channel carries the same messages
      }
      receive(ev.data);
    };
    ch.onclose = () => {
      if (ch !== dc) return;
      dc = null;
      dcLive = false;
      startWS();
    };
    // Not open, or open but silent (a server that negotiates SCTP and sends
    // nothing on it): use the WebSocket too, until a channel speaks.
    if (!dcTimer && !events.started()) {
      dcTimer = setTimeout(() => {
        dcTimer = 0;
        if (!dcLive) startWS();
      }, DC_GRACE_MS);
    }
  }

  function startWS() { events.start(); }

  function stopWS() { events.stop(); }

  function transport() {
    if (dcLive) return 'datachannel';
    if (events.isOpen()) return 'websocket';
    return 'none';
  }

  // ---- messages ----------------------------------------------------------------

  const decoder = new TextDecoder();
  let lastSeq = -1;
  const queue = []; // pending show/hide: {msg, at}
  const shown = new Map(); // overlay id -> overlay, as shown
  const stock = new Map(); // drop + '\n' + sku -> units left, latest received
  const dropState = new Map(); // drop -> 'open' | 'closed' | ..., latest received
  const applied = []; // for tests: {id, type, mediaTs, frameTs, prevFrameTs}

  const key = (drop, sku) => drop + '\n' + sku;

  function receive(data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
    } catch (_) {
      return;
    }
    if (!msg || typeof msg !== 'object' || msg.v !== 1) return;
    switch (msg.type) {
      case 'moving':
        moveTo(msg.to);
        return;
      case 'state': {
        if (!Array.isArray(msg.overlays)) return;
        const seq = Number(msg.seq);
        if (Number.isFinite(seq)) lastSeq = seq;
        // The state supersedes every event it already contains.
        for (let i = queue.length - 1; i >= 0; i--) {
          if (queue[i].msg.type !== 'lot' && queue[i].msg.type !== 'giveaway' && !(Number(queue[i].msg.seq) > lastSeq)) queue.splice(i, 1);
        }
        shown.clear();
        for (const ov of msg.overlays) {
          if (!validOverlay(ov)) continue;
          learn(ov);
          shown.set(ov.id, ov);
        }
        render();
        return;
      }
      case 'show':
      case 'hide': {
        const seq = Number(msg.seq);
        if (!Number.isFinite(seq) || seq <= lastSeq) return;
        if (msg.type === 'show' && !validOverlay(msg.overlay)) return;
        if (msg.type === 'hide' && typeof msg.id !== 'string') return;
        lastSeq = seq; // a gap: apply anyway, the server resyncs with a state
        if (msg.type === 'show') learn(msg.overlay);
        if (queue.length >= MAX_QUEUE) apply(queue.shift().msg, null);
        queue.push({ msg, at: performance.now() });
        pump();
        return;
      }
      case 'stock': {
        if (typeof msg.drop !== 'string' || typeof msg.sku !== 'string') return;
        const left = Math.max(0, Math.floor(Number(msg.left)));
        if (!Number.isFinite(left)) return;
        stock.set(key(msg.drop, msg.sku), left);
        updateCards((c) => {
          if (c.dataset.drop !== msg.drop || c.dataset.sku !== msg.sku) return false;
          if (left > 0) delete c.dataset.soldOut; // units came back after a 409
          return true;
        });
        return;
      }
      case 'drop': {
        if (typeof msg.drop !== 'string' || typeof msg.state !== 'string') return;
        dropState.set(msg.drop, msg.state);
        if (msg.state === 'closed') {
          let changed = false;
          for (const [id, ov] of shown) {
            if (ov.drop === msg.drop) { shown.delete(id); changed = true; }
          }
          if (changed) render();
        } else {
          updateCards((c) => c.dataset.drop === msg.drop);
        }
        return;
      }
      case 'giveaway': // a giveaway's card (giveaway.js), shown on its frame like the others
      case 'lot': // a live auction's card (auction.js), shown on its frame like the others
        if (!msg[msg.type] || typeof msg[msg.type] !== 'object' || typeof msg[msg.type].id !== 'string') return;
        if (queue.length >= MAX_QUEUE) apply(queue.shift().msg, null);
        queue.push({ msg, at: performance.now() });
        pump();
        return;
      default:
        // Unknown types are for newer pages.
    }
  }

  function validOverlay(ov) {
    if (!ov || typeof ov !== 'object' || typeof ov.id !== 'string' || ov.id === '') return false;
    if (ov.kind === 'product') return typeof ov.drop === 'string' && typeof ov.sku === 'string';
    if (ov.kind === 'countdown') return Number.isFinite(Number(ov.ends_at_ms));
    return false;
  }

  // learn records the facts an overlay carries, in the order they arrive, so
  // a later stock or drop message wins over an overlay still in the queue.
  function learn(ov) {
    if (ov.kind !== 'product') return;
    if (ov.stock_left !== undefined && ov.stock_left !== null) {
      stock.set(key(ov.drop, ov.sku), Math.max(0, Math.floor(Number(ov.stock_left)) || 0));
    }
    if (typeof ov.drop_state === 'string') dropState.set(ov.drop, ov.drop_state);
  }

  function apply(msg, frame) {
    if (msg.type === 'lot' || msg.type === 'giveaway') {
      document.dispatchEvent(new CustomEvent('livedrop:' + msg.type, { detail: msg[msg.type] }));
      applied.push({ id: msg[msg.type].id, type: msg.type, mediaTs: msg.media_ts, frameTs: frame ? frame.ts : null, prevFrameTs: frame ? frame.prev : null });
      if (applied.length > 100) applied.shift();
      return;
    }
    if (msg.type === 'show') {
      const ov = msg.overlay;
      if (ov.drop && dropState.get(ov.drop) === 'closed') return;
      shown.set(ov.id, ov);
    } else if (!shown.delete(msg.id)) {
      return;
    }
    applied.push({
      id: msg.type === 'show' ? msg.overlay.id : msg.id,
      type: msg.type,
      mediaTs: msg.media_ts,
      frameTs: frame ? frame.ts : null,
      prevFrameTs: frame ? frame.prev : null,
    });
    if (applied.length > 100) applied.shift();
    render();
  }

  // ---- the media clock -------------------------------------------------------

  let frameTs = null; // RTP timestamp of the last frame presented
  let prevFrameTs = null;
  let frameAt = -Infinity; // performance.now() of it
  let clockSource = 'none';

  function onFrame(ts, source) {
    ts >>>= 0;
    if (ts !== frameTs) {
      prevFrameTs = frameTs;
      frameTs = ts;
    }
    frameAt = performance.now();
    clockSource = source;
    pump();
  }

  const hasRVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
  let rvfcHasTs = hasRVFC; // until a frame without rtpTimestamp says otherwise

  function rvfc(now, meta) {
    if (meta && typeof meta.rtpTimestamp === 'number') {
      onFrame(meta.rtpTimestamp, 'rvfc');
    } else if (rvfcHasTs) {
      rvfcHasTs = false;
      requestAnimationFrame(pollSync);
    }
    video.requestVideoFrameCallback(rvfc);
  }
  if (hasRVFC) video.requestVideoFrameCallback(rvfc);
  else requestAnimationFrame(pollSync);

  // pollSync reads the RTP timestamp of the last packet of the video
  // receiver, once per animation frame, where rVFC gives no rtpTimestamp.
  function pollSync() {
    const pc = player.pc;
    if (pc) {
      const r = pc.getReceivers().find((x) => x.track && x.track.kind === 'video');
      const src = r && r.getSynchronizationSources ? r.getSynchronizationSources()[0] : null;
      if (src && typeof src.rtpTimestamp === 'number' && (src.rtpTimestamp >>> 0) !== frameTs) {
        onFrame(src.rtpTimestamp, 'sync-source');
      }
    }
    if (queue.length) pump();
    requestAnimationFrame(pollSync);
  }

  // reached reports whether the frame ts is at or past media time mt, modulo 2^32.
  const reached = (ts, mt) => ((ts - mt) >>> 0) < 0x80000000;

  function pump() {
    if (!queue.length) return;
    const now = performance.now();
    const clock = frameTs !== null && now - frameAt < CLOCK_STALE_MS;
    const frame = clock ? { ts: frameTs, prev: prevFrameTs } : null;
    // In order: a later event never overtakes an earlier one.
    while (queue.length) {
      const { msg, at } = queue[0];
      const mt = Number(msg.media_ts) >>> 0;
      const due = !clock || !Number.isFinite(Number(msg.media_ts)) || reached(frameTs, mt) ||
        ((mt - frameTs) >>> 0) > MAX_AHEAD_TICKS || now - at > MAX_QUEUE_MS;
      if (!due) break;
      queue.shift();
      apply(msg, frame);
    }
  }
  // Without frames (no video, hidden tab), the queue still drains.
  setInterval(pump, 250);

  // ---- rendering ---------------------------------------------------------------

  function el(tag, cls, attrs) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  const cardsBox = el('div', 'cards');
  const pillsBox = el('div', 'pills');
  layer.append(pillsBox, cardsBox);
  const nodes = new Map(); // overlay id -> element

  function render() {
    for (const [id, node] of nodes) {
      if (!shown.has(id)) {
        node.remove();
        nodes.delete(id);
      }
    }
    for (const [id, ov] of shown) {
      let node = nodes.get(id);
      if (node && node.dataset.kind !== ov.kind) {
        node.remove();
        node = null;
      }
      if (!node) {
        node = ov.kind === 'product' ? productCard() : countdownPill();
        node.dataset.overlayId = id;
        node.dataset.kind = ov.kind;
        nodes.set(id, node);
        (ov.kind === 'product' ? cardsBox : pillsBox).append(node);
      }
      if (ov.kind === 'product') fillCard(node, ov);
      else fillCountdown(node, ov);
    }
    tickCountdowns();
  }

  function productCard() {
    const card = el('article', 'card', { 'data-testid': 'product-card' });
    const info = el('div', 'card-info');
    const name = el('h2', 'card-name');
    const line = el('p', 'card-line');
    const price = el('span', 'price', { 'data-testid': 'price' });
    const left = el('span', 'stock', { 'data-testid': 'stock-left' });
    line.append(price, left);
    // An RSVP link's reserved unit for this card (shown by updateCard).
    const reserved = el('p', 'card-rsvp', { 'data-testid': 'rsvp-reserved' });
    info.append(name, line, reserved);
    const buy = el('button', 'buy', { 'data-testid': 'buy', type: 'button' });
    const st = el('p', 'order-status', { 'data-testid': 'order-status', role: 'status', 'aria-live': 'polite' });
    card.append(info, buy, st);
    if (window.livedropPickup) window.livedropPickup.card(card); // pickup.js
    buy.addEventListener('click', () => placeOrder(card));
    return card;
  }

  function fillCard(card, ov) {
    card.dataset.drop = ov.drop;
    card.dataset.sku = ov.sku;
    const name = String(ov.name || ov.sku);
    card.setAttribute('aria-label', name);
    setText(card.querySelector('.card-name'), name);
    // Member early access (checkout/members.go): the member price, and
    // until when a drop is open to members only.
    card.dataset.price = LivedropPlayer.formatMoney(ov.price_cents, ov.currency);
    card.dataset.currency = String(ov.currency);
    card.dataset.memberPrice = Number(ov.member_price_cents) > 0 ? String(ov.member_price_cents) : '';
    const until = Number(ov.members_until_ms) || 0;
    card.dataset.membersUntil = String(until);
    if (until > Date.now()) setTimeout(() => updateCard(card), Math.min(until - Date.now() + 50, 2147483647));
    if (window.LivedropDropPhoto) LivedropDropPhoto.fill(card, ov.drop); // dropphoto.js
    updateCard(card);
  }

  // isMember: the signed-in buyer's session carries the seller's member flag.
  function isMember() { const s = currentSession(); return !!(s && s.member); }

  // hhmm formats a Unix ms time as the viewer's local HH:MM.
  function hhmm(ms) { return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); }

  // membersOnly is the card's "Members only until HH:MM" for a non-member
  // while its drop is open to members only, else ''.
  function membersOnly(card) {
    const until = Number(card.dataset.membersUntil) || 0;
    // An RSVP link's reserved unit is the holder's: it buys during early access too.
    return until > Date.now() && !isMember() && !rsvpFor(card.dataset.drop, card.dataset.sku) ? 'Members only until ' + hhmm(until) : '';
  }

  function updateCards(match) {
    for (const node of nodes.values()) {
      if (node.dataset.kind === 'product' && match(node)) updateCard(node);
    }
  }

  // updateCard shows the stock and the Buy button's state from what we know.
  function updateCard(card) {
    const left = stock.get(key(card.dataset.drop, card.dataset.sku));
    // Unknown counts as open: the edge answers 403 if it is not.
    const ds = dropState.get(card.dataset.drop);
    // 'drawing': an opening lottery's window, where a tap is an entry.
    const open = ds === undefined || ds === 'open' || ds === 'drawing';
    const memberPrice = Number(card.dataset.memberPrice) || 0;
    setText(card.querySelector('.price'), memberPrice && isMember()
      ? 'Member price ' + LivedropPlayer.formatMoney(memberPrice, card.dataset.currency)
      : card.dataset.price);
    const early = open ? membersOnly(card) : '';
    const soldOut = left === 0 || card.dataset.soldOut === 'true';
    const stockEl = card.querySelector('.stock');
    setText(stockEl, left === undefined ? '' : left === 0 ? 'Sold out' : left + ' left');
    stockEl.dataset.left = left === undefined ? '' : String(left);
    stockEl.dataset.low = String(left !== undefined && left > 0 && left <= 10);
    const reservedEl = card.querySelector('.card-rsvp');
    if (reservedEl) {
      const until = rsvpDeadline(card.dataset.drop, card.dataset.sku);
      setText(reservedEl, until ? '1 reserved for you until ' + until : '');
    }
    const buy = card.querySelector('.buy');
    const busy = card.dataset.busy === 'true';
    buy.disabled = busy || soldOut || !open || early !== '';
    buy.setAttribute('aria-busy', String(busy));
    card.dataset.membersOnly = String(early !== '');
    setText(buy, busy ? 'Buying…' : soldOut ? 'Sold out' : early || (open ? 'Buy' : 'Not open'));
    buy.setAttribute('aria-label', (busy ? 'Buying ' : soldOut ? 'Sold out: ' : open ? 'Buy ' : 'Not open yet: ') +
      card.querySelector('.card-name').textContent);
  }

  function countdownPill() {
    const pill = el('div', 'pill', { 'data-testid': 'countdown-card', role: 'timer' });
    const label = el('span', 'pill-label');
    const time = el('time', 'pill-time', { 'data-testid': 'countdown' });
    pill.append(label, time);
    return pill;
  }

  function fillCountdown(pill, ov) {
    setText(pill.querySelector('.pill-label'), String(ov.label || 'Starts in'));
    pill.dataset.endsAt = String(Number(ov.ends_at_ms));
  }

  let countdownTimer = 0;
  function tickCountdowns() {
    let any = false;
    for (const node of nodes.values()) {
      if (node.dataset.kind !== 'countdown') continue;
      any = true;
      const ms = Math.max(0, Number(node.dataset.endsAt) - Date.now());
      const s = Math.ceil(ms / 1000);
      const text = String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
      setText(node.querySelector('.pill-time'), text);
      node.dataset.ended = String(ms === 0);
    }
    if (any && !countdownTimer) countdownTimer = setInterval(tickCountdowns, 250);
    if (!any && countdownTimer) {
      clearInterval(countdownTimer);
      countdownTimer = 0;
    }
  }

  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  // ---- orders ------------------------------------------------------------------

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    // Not a secure context (plain http to a remote edge): build a v4 UUID.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  // ---- sign-in: a session before the first purchase ---------------------------
  //
  // The edge names the buyer from a signed session, never from the order:
  // the page signs in once (an emailed code, or as a guest on this device)
  // and keeps the session in localStorage with the device id it made up.

  const SESSION_KEY = 'livedrop.session';
  const DEVICE_KEY = 'livedrop.device';
  const SESSION_MARGIN_MS = 60000; // a session this close to expiry is renewed first

  let deviceId = '';
  function device() {
    if (deviceId) return deviceId;
    try {
      deviceId = localStorage.getItem(DEVICE_KEY) || '';
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(deviceId)) {
        deviceId = 'd-' + uuid();
        localStorage.setItem(DEVICE_KEY, deviceId);
      }
    } catch (_) {
      deviceId = deviceId || 'd-' + uuid(); // storage off: one device for this page
    }
    return deviceId;
  }

  let session = null; // {session, buyer, kind, device, expires_at, email}
  function currentSession() {
    if (!session) {
      try { session = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null'); } catch (_) { session = null; }
    }
    if (session && (typeof session.session !== 'string' || !(Date.parse(session.expires_at) - Date.now() > SESSION_MARGIN_MS))) {
      forgetSession();
    }
    return session;
  }
  function keepSession(s) {
    session = s;
    try { localStorage.setItem(SESSION_KEY, JSON.stringify(s)); } catch (_) { /* this page only */ }
    showAccount();
  }
  function forgetSession() {
    session = null;
    try { localStorage.removeItem(SESSION_KEY); } catch (_) { /* nothing kept */ }
    showAccount();
  }

  const accountBtn = document.querySelector('[data-testid="account"]');
  const unsubBtn = document.querySelector('[data-testid="unsubscribe"]');
  function showAccount() {
    const s = session;
    accountBtn.hidden = !s;
    // An email buyer may withdraw marketing consent (DELETE /v1/me/consent).
    unsubBtn.hidden = !s || s.kind !== 'email' || !!s.unsubscribed;
    if (!s) return;
    const who = s.kind === 'email' && s.email ? s.email : 'Guest';
    setText(accountBtn, who);
    accountBtn.setAttribute('aria-label', 'Signed in as ' + who + '. Sign out');
  }
  accountBtn.addEventListener('click', forgetSession);
  unsubBtn.addEventListener('click', async () => {
    const s = currentSession();
    if (!s || s.kind !== 'email') return;
    unsubBtn.disabled = true;
    try {
      const res = await fetch(new URL('/v1/me/consent', location.href).href,
        { method: 'DELETE', headers: { 'Authorization': 'Bearer ' + s.session }, cache: 'no-store' });
      if (res.ok && session === s) {
        keepSession(Object.assign({}, s, { unsubscribed: true }));
        setText(accountBtn, 'No marketing email · ' + (s.email || 'signed in'));
      } else if (res.status === 401 && session === s) {
        forgetSession();
      }
    } catch (_) { /* network: the button stays to try again */ }
    unsubBtn.disabled = false;
  });

  const sheet = document.querySelector('[data-testid="signin"]');
  const emailStep = sheet.querySelector('[data-testid="signin-email-step"]');
  const codeStep = sheet.querySelector('[data-testid="signin-code-step"]');
  const emailIn = sheet.querySelector('[data-testid="signin-email"]');
  const codeIn = sheet.querySelector('[data-testid="signin-code"]');
  const marketingIn = sheet.querySelector('[data-testid="signin-marketing"]');
  const signinStatus = sheet.querySelector('[data-testid="signin-status"]');
  const guestBtn = sheet.querySelector('[data-testid="signin-guest"]');
  let pendingSignIn = null; // {resolve} of the purchase waiting for it
  let codeFor = '';

  function setSignInStatus(text, state) {
    setText(signinStatus, text);
    signinStatus.dataset.state = state || '';
  }

  async function signInCall(path, body) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), ORDER_TIMEOUT_MS);
    try {
      const res = await fetch(api(path), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
        body: JSON.stringify(body),
        cache: 'no-store',
        signal: ctrl.signal,
      });
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      return { status: res.status, data: data || {} };
    } catch (err) {
      return { status: 0, data: { error: 'network error, try again' } };
    } finally {
      clearTimeout(timer);
    }
  }

  function signedIn(data, email) {
    keepSession({ session: data.session, buyer: data.buyer, kind: data.kind, device: data.device,
      expires_at: data.expires_at, email: email || '', member: data.member === true });
    updateCards(() => true); // a member sees the member price at once
    closeSignIn(true);
  }

  function openSignIn() {
    const s = currentSession();
    if (s) return Promise.resolve(s);
    if (pendingSignIn) return pendingSignIn.promise;
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    pendingSignIn = { promise, resolve };
    emailStep.hidden = false;
    codeStep.hidden = true;
    setSignInStatus('', '');
    sheet.hidden = false;
    emailIn.focus();
    return promise;
  }

  function closeSignIn(ok) {
    sheet.hidden = true;
    const p = pendingSignIn;
    pendingSignIn = null;
    if (p) p.resolve(ok ? session : null);
  }

  emailStep.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const email = emailIn.value.trim();
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      setSignInStatus('Enter your email address', 'error');
      return;
    }
    setSignInStatus('Sending a code…', 'pending');
    const { status, data } = await signInCall('/v1/signin/code', { email });
    if (status !== 202) {
      setSignInStatus(data.error ? String(data.error).slice(0, 120) : 'Could not send a code (HTTP ' + status + ')', 'error');
      return;
    }
    codeFor = email;
    setText(sheet.querySelector('[data-testid="signin-to"]'), email);
    emailStep.hidden = true;
    codeStep.hidden = false;
    codeIn.value = '';
    setSignInStatus('Code sent: check your inbox', 'ok');
    codeIn.focus();
  });

  codeStep.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const code = codeIn.value.replace(/\s+/g, '');
    if (!/^[0-9]{6}$/.test(code)) {
      setSignInStatus('The code is the 6 digits of the email', 'error');
      return;
    }
    setSignInStatus('Checking…', 'pending');
    const { status, data } = await signInCall('/v1/signin/email',
      { email: codeFor, code, device: device(), marketing: marketingIn.checked, channel: channel || undefined });
    if (status === 200 && data.session) {
      signedIn(data, codeFor);
      return;
    }
    setSignInStatus(data.error ? String(data.error).slice(0, 120) : 'Could not sign in (HTTP ' + status + ')', 'error');
    if (data.code === 'no_code' || data.code === 'locked') {
      emailStep.hidden = false;
      codeStep.hidden = true;
    }
  });

  sheet.querySelector('[data-testid="signin-back"]').addEventListener('click', () => {
    emailStep.hidden = false;
    codeStep.hidden = true;
    setSignInStatus('', '');
    emailIn.focus();
  });

  guestBtn.addEventListener('click', async () => {
    setSignInStatus('Signing in…', 'pending');
    const { status, data } = await signInCall('/v1/signin/guest', { device: device() });
    if (status === 200 && data.session) {
      signedIn(data, '');
      return;
    }
    setSignInStatus(data.error ? String(data.error).slice(0, 120) : 'Could not continue as guest (HTTP ' + status + ')', 'error');
  });

  sheet.querySelector('[data-testid="signin-close"]').addEventListener('click', () => closeSignIn(false));
  sheet.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeSignIn(false); });

  currentSession();
  showAccount();
  // A kept session may be signed with a key this edge no longer has (the
  // demo makes one up per run): check it once, forget it if refused.
  if (session) {
    const kept = session;
    fetch(api('/v1/me'), { headers: { 'Authorization': 'Bearer ' + kept.session }, cache: 'no-store' })
      .then((res) => { if (res.status === 401 && session === kept) forgetSession(); })
      .catch(() => { /* offline: the order will tell */ });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function setOrderStatus(card, text, state) {
    const st = card.querySelector('.order-status');
    setText(st, text);
    st.dataset.state = state;
  }

  // An RSVP link (?rsvp=TOKEN) holds one reserved unit of one SKU until its
  // deadline: the token ("r1.DROP.SKU....") goes with the first order for
  // that SKU; once used or expired, orders buy from the open stock.
  let rsvpToken = new URLSearchParams(location.search).get('rsvp') || '';
  function rsvpFor(drop, sku) {
    const f = rsvpToken.split('.');
    return f.length === 8 && f[1] === drop && f[2] === sku ? rsvpToken : '';
  }

  // rsvpDeadline is the local HH:MM until which this page's RSVP token
  // holds a unit of drop's sku ('' when it holds none, or its deadline
  // passed). The token's fields are in the clear; the edge verifies it.
  function rsvpDeadline(drop, sku) {
    const tok = rsvpFor(drop, sku);
    const at = tok ? Number(tok.split('.')[5]) * 1000 : 0;
    if (!(at > Date.now())) return '';
    const d = new Date(at);
    return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
  }

  // placeOrder is one tap: one Idempotency-Key, kept across its retries, so
  // a retried request never makes a second order.
  async function placeOrder(card) {
    if (card.dataset.busy === 'true') return;
    const sess = await openSignIn();
    if (!sess) {
      setOrderStatus(card, 'Sign in to buy', 'error');
      return;
    }
    const drop = card.dataset.drop;
    const sku = card.dataset.sku;
    const idem = uuid();
    card.dataset.busy = 'true';
    updateCard(card);
    setOrderStatus(card, 'Placing order…', 'pending');
    const url = api('/v1/drops/' + encodeURIComponent(drop) + '/orders');
    const rsvp = rsvpFor(drop, sku);
    const order = rsvp ? { sku, qty: 1, rsvp } : { sku, qty: 1 };
    if (channel) order.channel = channel;
    if (window.livedropPickup) window.livedropPickup.decorate(card, order);
    if (window.livedropWallet && window.livedropWallet.payFor(card)) order.pay = 'wallet'; // wallet.js
    const body = JSON.stringify(order);
    let text = 'Could not place order, try again';
    let state = 'error';
    let hint = 0; // the edge's retry_after_ms on a "held, try again" answer
    let held = 0;
    let proofHeaders = await proofs.headers(); // the same on every retry of this tap
    let powRetried = false;
    for (let i = 0; i <= ORDER_RETRIES; i++) {
      // A held answer waits the edge's hint (it does not count as a failed
      // try, so i may be 0 again); a failure backs off.
      if (hint > 0) await sleep(hint * (0.8 + 0.4 * Math.random()));
      else if (i > 0) await sleep(ORDER_BACKOFF_MS * 2 ** (i - 1) * (0.8 + 0.4 * Math.random()));
      hint = 0;
      let res;
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), ORDER_TIMEOUT_MS);
      const headers = { 'Content-Type': 'application/json', 'Accept': 'application/json', 'Idempotency-Key': idem,
        'Authorization': 'Bearer ' + sess.session };
      // A retry may follow an attempt that was accepted but whose answer was
      // lost: say so, and the edge answers with that order.
      if (i > 0) headers['Idempotency-Retry'] = '1';
      Object.assign(headers, proofHeaders);
      try {
        res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          cache: 'no-store',
          signal: ctrl.signal,
        });
      } catch (err) {
        console.warn('livedrop: order attempt ' + (i + 1) + ':', err);
        continue; // network error or timeout: retry with the same key
      } finally {
        clearTimeout(timer);
      }
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      if (res.status === 502 || res.status === 503 || res.status === 504) {
        if (data && data.code === 'held') {
          // Other edges still hold the last units: they may come back.
          setOrderStatus(card, 'Almost gone, checking the last units…', 'pending');
          hint = Math.min(Math.max(Number(data.retry_after_ms) || 0, 50), 2000);
          if (++held <= ORDER_HELD_RETRIES) i--; // waiting for units is not a failed try
        }
        continue;
      }
      if (res.status === 202 && data && data.in_line) {
        // An opening lottery: the order is an entry; the draw decides.
        setOrderStatus(card, "You're in line: the draw decides in a moment", 'pending');
        card.dataset.entry = String(data.entry || '');
        ({ text, state } = await awaitEntry(card, sess, String(data.location || '')));
      } else if (res.status === 201 || res.status === 200) {
        const id = data && data.id ? String(data.id) : '';
        text = 'Order confirmed' + (id ? ' · #' + id.replace(/^ord[-_]?/i, '').slice(-6).toUpperCase() : '');
        state = 'ok';
        card.dataset.orderId = id;
        if (window.livedropPickup) window.livedropPickup.confirmed(card, data, api);
        if (rsvp) rsvpToken = ''; // spent: the next tap buys from the open stock
      } else if (data && /^rsvp_/.test(data.code)) {
        // Used, expired or not valid: say so; the next tap buys without it.
        text = String(data.error || 'This RSVP cannot be used').slice(0, 120);
        rsvpToken = '';
      } else if (res.status === 409 && data && data.waitlist_place) {
        text = 'Sold out · you are #' + Number(data.waitlist_place) + ' on the waitlist';
        card.dataset.soldOut = 'true';
        card.dataset.entryResult = 'lost'; // fair.js reads the entry on: a unit may come free
        card.dataset.entryLocation = String(data.location || '');
      } else if (window.livedropWallet && window.livedropWallet.refusal(res.status, data)) { // wallet.js
        text = window.livedropWallet.refusal(res.status, data);
        card.dataset.walletRefused = 'true';
      } else if (res.status === 401) {
        // The session expired or this edge does not know its key: sign in again.
        forgetSession();
        text = 'Please sign in again, then tap Buy';
      } else if (res.status === 409) {
        text = 'Sold out';
        card.dataset.soldOut = 'true';
      } else if (res.status === 403 && data && /^pow_/.test(data.code) && !powRetried) {
        // A stale or spent challenge: solve a fresh one, try once more.
        powRetried = true;
        proofs.spent();
        proofHeaders = await proofs.headers();
        i--;
        continue;
      } else if (res.status === 403 && data && /^(watch_|pow_)/.test(data.code)) {
        text = String(data.error || 'Watch a little longer before buying').slice(0, 120);
        card.dataset.gate = data.code;
      } else if (res.status === 403 && data && data.code === 'members_only') {
        const at = Date.parse(String(data.opens_at || ''));
        text = at ? 'Members only until ' + hhmm(at) : 'Members only for now';
        if (at) card.dataset.membersUntil = String(at);
      } else if (res.status === 403 && data && data.result === 'closed') {
        text = 'Drop closed before the draw: nothing was sold';
      } else if (res.status === 403) {
        text = 'Drop not open';
      } else if (res.status === 422) {
        text = 'Limit reached';
      } else if (res.status === 429) {
        text = 'Too many taps, try again';
      } else {
        const reason = data && typeof data.error === 'string' ? data.error.slice(0, 80) : 'HTTP ' + res.status;
        text = 'Could not place order: ' + reason;
      }
      break;
    }
    if (proofHeaders['Proof-Of-Work']) proofs.spent(); // one challenge per order
    card.dataset.busy = 'false';
    setOrderStatus(card, text, state);
    updateCard(card);
  }

  // awaitEntry polls an opening-lottery entry (its location) with backoff
  // until the draw has a result, and says what to show.
  async function awaitEntry(card, sess, loc) {
    if (!loc) return { text: "You're in line", state: 'pending' };
    card.dataset.entryLocation = loc; // fair.js reads a waitlisted entry on
    const url = new URL(loc, location.href).href;
    let wait = ENTRY_POLL_MIN_MS;
    for (let i = 0; i < ENTRY_POLLS; i++) {
      await sleep(wait * (0.8 + 0.4 * Math.random()));
      wait = Math.min(wait * 2, ENTRY_POLL_MAX_MS);
      let data = null;
      try {
        const res = await fetch(url, { headers: { 'Authorization': 'Bearer ' + sess.session, 'Accept': 'application/json' }, cache: 'no-store' });
        if (res.status !== 200) continue;
        data = await res.json();
      } catch (_) {
        continue; // try again after the next wait
      }
      card.dataset.entryResult = String(data.result || '');
      if (data.result === 'won') {
        const id = data.order && data.order.id ? String(data.order.id) : '';
        card.dataset.orderId = id;
        return { text: 'You won! Order confirmed' + (id ? ' · #' + id.slice(-6).toUpperCase() : ''), state: 'ok' };
      }
      if (data.result === 'lost') {
        card.dataset.soldOut = 'true';
        return { text: 'Sold out · you are #' + Number(data.waitlist_place) + ' on the waitlist', state: 'error' };
      }
      if (data.result === 'limit') return { text: 'Limit reached', state: 'error' };
      if (data.result === 'closed') return { text: 'Drop closed before the draw: nothing was sold', state: 'error' };
      setOrderStatus(card, "You're in line: the draw decides in a moment", 'pending');
    }
    return { text: "You're in line: check back in a moment", state: 'pending' };
  }

  // ---- for tests and other scripts -----------------------------------------------

  window.livedrop = {
    get pc() { return player.pc; },
    status: player.status,
    session: player.session,
    framesDecoded: player.framesDecoded,
    reconnect: player.reconnect,
    overlays: () => Array.from(shown.values(), (ov) => Object.assign({}, ov)),
    lastFrameRtpTimestamp: () => frameTs,
    clockSource: () => clockSource,
    eventsTransport: transport,
    applied: () => applied.slice(),
    pending: () => queue.length,
    // The signed-in buyer: id, kind and session token ('' when signed out).
    buyer: () => (currentSession() ? session.buyer : ''),
    buyerSession: () => (currentSession() ? Object.assign({}, session) : null),
    device,
    signIn: openSignIn,
    signOut: forgetSession,
    proofs: proofs.state,
    // The edge this page plays and orders from, and how often it moved.
    base: player.base,
    moves: () => moves,
  };

  player.start();
  proofs.start();
})();
