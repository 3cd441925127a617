// livedrop viewer page: the proofs a gated drop asks before an order.
//
// Watch time: once the WHEP session is up, the page asks its edge every few
// seconds for a signed watch proof of that session (GET /v1/watch-proof);
// the edge signs how long the session has been receiving the stream.
// Proof of work: the page fetches a challenge (GET /v1/pow-challenge) and
// solves it in the background in a Web Worker (powworker.js), ahead of the
// tap. An order carries both in headers; a drop without a gate ignores them.
'use strict';

(function () {
  const WATCH_REFRESH_MS = 5000;
  const WATCH_FRESH_MS = 2000; // at a tap, a proof older than this is renewed first
  const POW_MARGIN_MS = 15000; // a challenge this close to expiry is solved anew

  function create(opts) {
    const auth = opts.auth; // () => "Bearer <buyer session>", or '' before sign-in
    const session = opts.session; // () => WHEP session URL or null
    const base = opts.base || (() => location.href); // () => the edge's base URL
    let watch = null; // { proof, session, at }
    let pow = null; // { token, ms, exp }
    let solving = null;
    let worker = null;
    let seq = 0;
    const pending = new Map();

    function sessionId() {
      const url = session();
      if (!url) return '';
      return new URL(url, base()).pathname.split('/').pop() || '';
    }

    async function getJSON(path, params, extra) {
      const u = new URL(path, base());
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      const headers = Object.assign({ Accept: 'application/json', Authorization: auth() }, extra || {});
      const res = await fetch(u.href, { cache: 'no-store', headers });
      let data = null;
      try { data = await res.json(); } catch (_) { /* not JSON */ }
      return { status: res.status, data };
    }

    async function refreshWatch() {
      const id = sessionId();
      if (!auth()) { watch = null; return; } // proofs vouch for a signed-in buyer
      if (!id) return; // between sessions (moving to another edge): keep the last until it lapses
      try {
        // The last proof goes along: after a move to another edge, the new
        // session's proof starts where it did.
        const prior = watch && Date.now() < watch.exp ? { 'Watch-Proof': watch.proof } : {};
        const { status, data } = await getJSON('/v1/watch-proof', { session: id }, prior);
        if (status === 200 && data && data.proof) {
          watch = { proof: data.proof, session: id, at: Date.now(), watchedMs: data.watched_ms, exp: Date.parse(data.expires_at) };
        }
        else if (status === 403) watch = null; // another buyer's session
        // 404: the session is gone here (its edge moved us); the last proof
        // stays until it lapses, and carries over to the next session.
      } catch (_) { /* offline: keep the last one until it lapses */ }
    }

    // solver is the Web Worker, made when the page starts: its script is
    // this page's (a worker must be same-origin), and after a move to a
    // sibling edge the page's own edge may be gone. A worker that fails
    // fails what it was solving, and the next solve makes a new one.
    function solver() {
      if (!worker) {
        const w = new Worker(opts.workerURL);
        worker = w;
        w.onmessage = (ev) => {
          const p = pending.get(ev.data.id);
          pending.delete(ev.data.id);
          if (p) ev.data.error ? p.reject(new Error(ev.data.error)) : p.resolve(ev.data);
        };
        w.onerror = (ev) => {
          if (worker === w) worker = null;
          const msg = 'proof-of-work worker failed: ' + ((ev && ev.message) || 'could not load');
          for (const p of pending.values()) p.reject(new Error(msg));
          pending.clear();
        };
      }
      return worker;
    }

    function solveIn(seed, bits) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        solver().postMessage({ id, seed, bits });
      });
    }

    // solve gets a challenge and solves it, once at a time.
    function solve() {
      if (!solving) {
        solving = (async () => {
          if (!auth()) throw new Error('not signed in yet');
          const { status, data } = await getJSON('/v1/pow-challenge', {});
          if (status !== 200 || !data || !data.challenge) throw new Error('no challenge (HTTP ' + status + ')');
          const r = await solveIn(data.seed, data.bits);
          pow = { token: data.challenge + '.' + r.nonce, ms: r.ms, exp: Date.parse(data.expires_at), bits: data.bits };
        })().finally(() => { solving = null; });
      }
      return solving;
    }

    function keepSolved() {
      if (!auth()) return; // a challenge is the buyer's: after sign-in
      if (!pow || pow.exp - Date.now() < POW_MARGIN_MS) solve().catch((err) => console.warn('livedrop: proof of work:', err));
    }

    // headers are an order's proofs: a fresh watch proof, a solved challenge.
    async function headers() {
      if (!watch || Date.now() - watch.at > WATCH_FRESH_MS || watch.session !== sessionId()) await refreshWatch();
      if (!pow || pow.exp - Date.now() < POW_MARGIN_MS) {
        try { await solve(); } catch (err) { console.warn('livedrop: proof of work:', err); }
      }
      const h = {};
      if (watch) h['Watch-Proof'] = watch.proof;
      if (pow) {
        h['Proof-Of-Work'] = pow.token;
        h['Proof-Of-Work-Solve-Ms'] = String(pow.ms);
      }
      return h;
    }

    // spent drops the solved challenge (an order used it) and solves another.
    function spent() {
      pow = null;
      keepSolved();
    }

    function start() {
      solver();
      setInterval(() => { if (session()) refreshWatch(); }, WATCH_REFRESH_MS);
      setInterval(keepSolved, 5000);
      keepSolved();
    }

    return { start, headers, spent, refreshWatch, state: () => ({ watch, pow }) };
  }

  window.LivedropProofs = { create };
})();
