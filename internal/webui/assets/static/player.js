// livedrop player: a WHEP client for POST /whep/{stream} on this host, shared
// by the viewer page (watch.js) and the seller console's preview (console.js).
//
// One attempt = one RTCPeerConnection and one WHEP session. Every attempt gets
// a number; async work from an older attempt sees the number has moved on and
// stops, so a slow answer never revives a connection we already gave up.
//
// LivedropPlayer.create(opts) returns a player; opts:
//   video       the <video> element
//   stream      the stream name (setStream changes it)
//   onStatus    (text, state) on every status change; state is one of
//               connecting, playing, offline, error
//   onPeerConnection (pc) before createOffer of every attempt, to add
//               data channels; the offer then negotiates them
//   token       a playback token for streams that need one, sent as
//               Authorization: Bearer with each offer (optional)
//   base        the base URL of the node to play from (default: this page's)
//   query       () => {name: value} added to each offer's URL (optional: the
//               viewer page's ?ch= and ?viewer=, for the event's figures)
//
// player.move(base) moves the player to another node (a draining edge's
// sibling) without a gap it can avoid: the new session is set up while the
// old one still plays, and the old one is ended once the new one decodes.
// Until then a refused or failed offer says the server is restarting (not
// an error) and is retried with the backoff; the old session, while it
// lasts, keeps the picture. A target that keeps failing is given up for the
// page's own address, which a load balancer or the edge's replacement answers.
//
// LivedropPlayer.formatMoney(minor, currency) formats an amount in minor units
// (price_cents, revenue_cents) for both pages, so they agree on every price.
'use strict';

(function () {
  const OFFLINE_RETRY_MS = 3000; // the stream is not published yet
  const BACKOFF_MIN_MS = 1000; // other errors: 1 s, 2 s, 4 s ... 30 s
  const BACKOFF_MAX_MS = 30000;
  const LOSS_GRACE_MS = 3000; // disconnected/failed this long: reconnect
  const CONNECT_TIMEOUT_MS = 15000; // answer received, ICE never connects
  const POST_TIMEOUT_MS = 10000;
  const FRAME_POLL_MS = 200;
  const MOVE_KEEP_MS = 10000; // a moved-from session is ended by then at the latest
  const MOVE_GIVE_UP = 3; // failed offers to a move target before trying home

  function reasonOf(err) {
    if (err && err.name === 'AbortError') return 'request timed out';
    const text = String((err && err.message) || err || 'unknown error');
    return text.split('\n')[0].trim().slice(0, 160) || 'unknown error';
  }

  async function httpError(res) {
    let body = '';
    try { body = (await res.text()).trim(); } catch (_) { /* keep the status */ }
    const first = body.split('\n')[0].slice(0, 120);
    return new Error('HTTP ' + res.status + (first ? ': ' + first : res.statusText ? ': ' + res.statusText : ''));
  }

  function deleteSession(url) {
    // keepalive lets the request outlive the page on pagehide.
    fetch(url, { method: 'DELETE', keepalive: true, cache: 'no-store' }).catch(() => {});
  }

  async function framesDecoded(conn) {
    if (!conn) return 0;
    const stats = await conn.getStats();
    let n = 0;
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && (r.kind || r.mediaType) === 'video') n = Math.max(n, r.framesDecoded || 0);
    });
    return n;
  }

  function create(opts) {
    const video = opts.video;
    const onStatus = opts.onStatus || (() => {});
    const onPeerConnection = opts.onPeerConnection || (() => {});
    let endpoint = '';
    const home = opts.base || location.href;
    let base = home;
    let moving = false; // told to move, not playing at the new node yet
    let streamName = opts.stream;
    let prev = null; // { pc, session } of the node being moved away from
    let prevTimer = 0;

    let status = 'connecting';
    let attempt = 0; // number of the current attempt
    let failures = 0; // consecutive errors, for the backoff
    let pc = null; // current peer connection
    let sessionURL = null; // Location of the current WHEP session
    let retryTimer = 0;
    let lossTimer = 0;
    let connectTimer = 0;
    let frameTimer = 0;
    let stopped = true; // not started, stopped, or the page is hidden

    function setEndpoint(stream) {
      streamName = stream;
      endpoint = new URL('/whep/' + encodeURIComponent(stream), base).href;
    }
    setEndpoint(opts.stream);

    function setStatus(text, state) {
      status = text;
      onStatus(text, state);
    }

    function schedule(ms) {
      clearTimeout(retryTimer);
      if (!stopped) retryTimer = setTimeout(connect, ms);
    }

    function clearVideo() {
      video.srcObject = null;
    }

    // retirePrev ends the session moved away from, if any.
    function retirePrev() {
      clearTimeout(prevTimer);
      prevTimer = 0;
      if (!prev) return;
      if (prev.session) deleteSession(prev.session);
      if (prev.pc) {
        prev.pc.ontrack = null;
        prev.pc.onconnectionstatechange = null;
        prev.pc.close();
      }
      prev = null;
    }

    // teardown ends the current attempt's connection and session.
    function teardown() {
      clearTimeout(lossTimer);
      clearTimeout(connectTimer);
      clearTimeout(frameTimer);
      lossTimer = connectTimer = frameTimer = 0;
      if (sessionURL) {
        deleteSession(sessionURL);
        sessionURL = null;
      }
      if (pc) {
        pc.ontrack = null;
        pc.onconnectionstatechange = null;
        pc.close();
        pc = null;
      }
    }

    function offline() {
      teardown();
      clearVideo();
      failures = 0;
      setStatus('stream offline', 'offline');
      schedule(OFFLINE_RETRY_MS);
    }

    function retryWithError(reason) {
      teardown();
      failures++;
      const wait = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (failures - 1)) * (0.8 + 0.4 * Math.random());
      if (moving) {
        if (!prev) clearVideo();
        if (failures >= MOVE_GIVE_UP && base !== home) {
          base = home;
          setEndpoint(streamName);
        }
        setStatus('server restarting, reconnecting in ' + Math.max(1, Math.round(wait / 1000)) + ' s', 'connecting');
      } else {
        clearVideo();
        setStatus('error: ' + reason, 'error');
      }
      schedule(wait);
    }

    async function postOffer(sdp) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), POST_TIMEOUT_MS);
      try {
        const headers = { 'Content-Type': 'application/sdp', 'Accept': 'application/sdp' };
        if (opts.token) headers['Authorization'] = 'Bearer ' + opts.token;
        const u = new URL(endpoint);
        const q = opts.query ? opts.query() : {};
        for (const k of Object.keys(q || {})) if (q[k]) u.searchParams.set(k, q[k]);
        return await fetch(u.href, {
          method: 'POST',
          headers,
          body: sdp,
          cache: 'no-store',
          signal: ctrl.signal,
        });
      } finally {
        clearTimeout(timer);
      }
    }

    async function connect() {
      clearTimeout(retryTimer);
      teardown();
      if (stopped) return;
      const my = ++attempt;
      const conn = new RTCPeerConnection();
      pc = conn;
      conn.addTransceiver('video', { direction: 'recvonly' });
      conn.addTransceiver('audio', { direction: 'recvonly' });
      try {
        onPeerConnection(conn);
      } catch (err) {
        console.warn('livedrop: onPeerConnection:', err);
      }

      // One MediaStream of our own: the answer may carry no msid.
      const media = new MediaStream();
      conn.ontrack = (ev) => {
        if (my !== attempt) return;
        media.addTrack(ev.track);
        if (video.srcObject !== media) video.srcObject = media;
        video.play().catch(() => { /* autoplay refused: 'playing' never fires */ });
      };
      conn.onconnectionstatechange = () => onConnectionState(my, conn);

      try {
        const offer = await conn.createOffer();
        await conn.setLocalDescription(offer);
        // No wait for ICE gathering: the server learns our address from the
        // connectivity checks.
        const res = await postOffer(offer.sdp);
        const loc = res.headers.get('Location');
        const session = loc ? new URL(loc, endpoint).href : null;
        if (my !== attempt) {
          if (res.ok && session) deleteSession(session);
          return;
        }
        if (res.status === 404) {
          offline();
          return;
        }
        if (res.status !== 201 && res.status !== 200) throw await httpError(res);
        sessionURL = session;
        if (status !== 'connecting') setStatus('connecting', 'connecting');
        if (!session) console.warn('livedrop: WHEP answer without a Location header; the session cannot be ended');
        const answer = await res.text();
        if (my !== attempt) return;
        await conn.setRemoteDescription({ type: 'answer', sdp: answer });
        connectTimer = setTimeout(() => {
          if (my === attempt && conn.connectionState !== 'connected') retryWithError('connection timed out');
        }, CONNECT_TIMEOUT_MS);
      } catch (err) {
        if (my !== attempt) return;
        console.warn('livedrop: attempt failed:', err);
        retryWithError(reasonOf(err));
      }
    }

    function onConnectionState(my, conn) {
      if (my !== attempt) return;
      console.debug('livedrop: connection ' + conn.connectionState);
      switch (conn.connectionState) {
        case 'connected':
          clearTimeout(lossTimer);
          clearTimeout(connectTimer);
          lossTimer = connectTimer = 0;
          break;
        case 'disconnected':
        case 'failed':
          if (!lossTimer) {
            lossTimer = setTimeout(() => {
              lossTimer = 0;
              if (my !== attempt) return;
              setStatus('connecting', 'connecting');
              connect();
            }, LOSS_GRACE_MS);
          }
          break;
      }
    }

    // confirmPlaying waits, after the video's 'playing' event, until the
    // decoder has produced a frame, then says "playing".
    async function confirmPlaying(my) {
      clearTimeout(frameTimer);
      frameTimer = 0;
      let n = 0;
      try { n = await framesDecoded(pc); } catch (_) { /* closed meanwhile */ }
      if (my !== attempt || stopped) return;
      if (n > 0) {
        failures = 0;
        moving = false;
        retirePrev(); // the new node plays: the old session can go
        setStatus('playing', 'playing');
        return;
      }
      frameTimer = setTimeout(() => confirmPlaying(my), FRAME_POLL_MS);
    }

    video.addEventListener('playing', () => confirmPlaying(attempt));

    function start() {
      if (!stopped) return;
      stopped = false;
      failures = 0;
      setStatus('connecting', 'connecting');
      connect();
    }

    function stop() {
      stopped = true;
      clearTimeout(retryTimer);
      attempt++;
      teardown();
      retirePrev();
      clearVideo();
    }

    // move plays from another node: the current session keeps playing (its
    // callbacks are an old attempt's, ignored) until the new one decodes.
    function move(to) {
      base = to || home;
      setEndpoint(streamName);
      if (stopped) return;
      moving = true;
      retirePrev();
      if (pc) {
        prev = { pc, session: sessionURL };
        pc = null;
        sessionURL = null;
        prevTimer = setTimeout(retirePrev, MOVE_KEEP_MS);
      }
      failures = 0;
      connect();
    }

    window.addEventListener('pagehide', () => {
      if (stopped) return;
      stop();
      // Back from the back/forward cache, start again.
      window.addEventListener('pageshow', (ev) => { if (ev.persisted) start(); }, { once: true });
    });
    window.addEventListener('online', () => {
      if (!stopped && status !== 'playing' && status !== 'connecting') connect();
    });

    return {
      get pc() { return pc; },
      status: () => status,
      session: () => sessionURL,
      base: () => base,
      move,
      framesDecoded: () => framesDecoded(pc),
      reconnect: () => { failures = 0; if (!stopped) connect(); },
      start,
      stop,
      // setStream switches to another stream, reconnecting if started.
      setStream(stream) {
        setEndpoint(stream);
        if (!stopped) { failures = 0; setStatus('connecting', 'connecting'); connect(); }
      },
    };
  }

  // eventSocket keeps a WebSocket to a stream's events open while started,
  // reconnecting with jittered exponential backoff (minMs doubling to
  // maxMs). stream() names the stream at each connect, and baseOf() (if
  // given) the node to connect to (default: this page's). onMessage gets
  // each message's data (a string, or an ArrayBuffer for binary frames).
  function eventSocket(stream, onMessage, minMs, maxMs, baseOf) {
    let ws = null;
    let wanted = false;
    let timer = 0;
    let failures = 0;

    function connect() {
      timer = 0;
      if (!wanted) return;
      const at = new URL(baseOf ? baseOf() : location.href, location.href);
      const url = (at.protocol === 'https:' ? 'wss://' : 'ws://') + at.host +
        '/v1/streams/' + encodeURIComponent(stream()) + '/events';
      let s;
      try {
        s = new WebSocket(url);
      } catch (err) {
        console.warn('livedrop: events websocket:', err);
        retry();
        return;
      }
      s.binaryType = 'arraybuffer';
      ws = s;
      s.onopen = () => { failures = 0; };
      s.onmessage = (ev) => { if (s === ws) onMessage(ev.data); };
      s.onclose = () => {
        if (s !== ws) return;
        ws = null;
        retry();
      };
    }

    function retry() {
      if (!wanted || timer) return;
      failures++;
      const ms = Math.min(maxMs, minMs * 2 ** (failures - 1));
      timer = setTimeout(connect, ms * (0.8 + 0.4 * Math.random()));
    }

    return {
      // start connects unless already connected or waiting to.
      start() {
        wanted = true;
        if (!ws && !timer) connect();
      },
      stop() {
        wanted = false;
        clearTimeout(timer);
        timer = 0;
        failures = 0;
        if (ws) {
          const s = ws;
          ws = null;
          s.onclose = s.onmessage = s.onerror = null;
          s.close();
        }
      },
      isOpen: () => !!ws && ws.readyState === WebSocket.OPEN,
      // reconnect closes the socket and opens another (at a new base), if
      // started.
      reconnect() {
        if (!wanted) return;
        this.stop();
        this.start();
      },
      // started reports whether start was called since the last stop.
      started: () => wanted,
    };
  }

  // ---- money ----------------------------------------------------------------

  // Amounts travel in the currency's minor units: cents of EUR, yen (no minor
  // unit), fils of BHD (three digits). MINOR_DIGITS holds the ISO 4217 minor
  // units other than 2. Not Intl's resolvedOptions().maximumFractionDigits:
  // that is CLDR's display precision, 0 for HUF, IDR, COP, IQD and others that
  // ISO 4217 (and so the server's amounts) give 2 or 3 digits.
  const MINOR_DIGITS = new Map([
    ...['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND', 'VUV',
      'XAF', 'XOF', 'XPF'].map((c) => [c, 0]),
    ...['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'].map((c) => [c, 3]),
    ...['CLF', 'UYW'].map((c) => [c, 4]),
  ]);

  const moneyFormats = new Map(); // currency -> { format, scale }

  // formatMoney formats minor units of currency (EUR when empty) in the
  // browser's locale, with exactly the currency's minor-unit digits: EUR 2500
  // is €25.00, JPY 2500 is ¥2,500, BHD 2500 is BHD 2.500.
  function formatMoney(minor, currency) {
    const c = String(currency || 'EUR').toUpperCase();
    let m = moneyFormats.get(c);
    if (!m) {
      const digits = MINOR_DIGITS.has(c) ? MINOR_DIGITS.get(c) : 2;
      const opts = { minimumFractionDigits: digits, maximumFractionDigits: digits };
      let f;
      try {
        f = new Intl.NumberFormat(undefined, { style: 'currency', currency: c, ...opts });
      } catch (_) {
        f = new Intl.NumberFormat(undefined, opts); // not a currency code: the number alone
      }
      m = { format: f.format, scale: 10 ** digits };
      moneyFormats.set(c, m);
    }
    return m.format((Number(minor) || 0) / m.scale);
  }

  window.LivedropPlayer = { create, eventSocket, formatMoney };
})();
