// giveaway.js: the giveaway card of the viewer page. With ?giveaway=ID in
// the page's address, or when the seller has started one on this stream
// (GET /v1/streams/{stream}/giveaway, asked every few seconds), it shows the prize, the entry rule and the seed's hash
// (the commitment), enters in one tap with the buyer's session and the
// page's watch proof, and after the draw shows the masked winner and the
// revealed seed, checked here: the seed matches the hash and re-running the
// draw over the published entrants picks the same winner. The stream's
// overlay events carry the giveaway too (watch.js applies a "giveaway"
// event on the video frame it was stamped for): the start and the winner
// show on that frame; the reads give the first state, the entrants to
// check the draw, and stand in for a draw no stamped event followed.
(function () {
  'use strict';
  const ANNOUNCED_FOR_MS = 3600 * 1000; // a drawn giveaway stays on the page this long after its start
  let id = new URLSearchParams(location.search).get('giveaway');
  const card = document.getElementById('giveaway');
  const stream = decodeURIComponent((location.pathname || '').split('/')[2] || '');
  if (!card || (id && !/^[A-Za-z0-9_-]{1,64}$/.test(id)) || (!id && !stream)) return;

  const el = (name) => card.querySelector('[data-testid="giveaway-' + name + '"]');
  const enc = new TextEncoder();
  const rules = { present: 'everyone watching', verified: 'signed-in viewers', buyers: 'buyers' };
  let state = null;
  let checked = '';

  const me = () => (window.livedrop && window.livedrop.buyerSession && window.livedrop.buyerSession()) || null;
  const watchProof = () => {
    const p = window.livedrop && window.livedrop.proofs && window.livedrop.proofs();
    return p && p.watch && Date.now() < p.watch.exp ? p.watch.proof : '';
  };
  const hex = (s) => new Uint8Array((s.match(/../g) || []).map((b) => parseInt(b, 16)));
  const toHex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  };

  // verify re-runs giveaway.Commitment and giveaway.Draw (checkout/giveaway).
  async function verify(g) {
    const seed = hex(g.seed);
    const commit = await crypto.subtle.digest('SHA-256', concat(enc.encode('livedrop giveaway commit\0' + g.id + '\0'), seed));
    if (toHex(commit) !== g.commitment) return false;
    const list = Array.from(new Set(g.entrant_ids || [])).sort();
    if (!list.length) return false;
    const key = await crypto.subtle.importKey('raw', seed, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const n = BigInt(list.length);
    const limit = ((2n ** 64n - 1n) / n) * n;
    const body = enc.encode('livedrop giveaway draw\0' + g.id + '\0' + list.join('\n'));
    for (let ctr = 0; ctr < 1000; ctr++) {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, ctr);
      const sum = new DataView(await crypto.subtle.sign('HMAC', key, concat(body, c)));
      for (let i = 0; i + 8 <= 32; i += 8) {
        const v = sum.getBigUint64(i);
        if (v < limit) return list[Number(v % n)] === g.winner;
      }
    }
    return false;
  }

  async function show(g, source) {
    state = g;
    card.hidden = false;
    el('prize').textContent = g.prize || 'Giveaway';
    el('rule').textContent = 'for ' + (rules[g.rule] || g.rule) + ' · ' + g.entrants + ' in';
    el('hash').textContent = 'hash ' + g.commitment.slice(0, 16) + '…';
    el('hash').title = g.commitment;
    const drawn = g.state === 'drawn';
    el('enter').hidden = drawn;
    if (!drawn) {
      for (const n of ['winner', 'seed', 'check']) el(n).textContent = '';
      return;
    }
    const s = me();
    const w = el('winner');
    if (!w.textContent || source === 'stamped') w.dataset.source = source || 'poll';
    w.textContent = s && g.winner && s.buyer === g.winner ? 'You won! The prize is in your orders.' : 'Winner: ' + g.winner_masked;
    el('seed').textContent = 'seed ' + g.seed.slice(0, 16) + '…';
    el('seed').title = g.seed;
    if (!g.entrant_ids) { // a stamped draw: the entrants come with the read
      if (checked !== g.seed) el('check').textContent = 'checking the draw…';
    } else if (checked !== g.seed && !(window.crypto && crypto.subtle)) { // not a secure context: no Web Crypto here
      checked = g.seed;
      el('check').textContent = 'check it: GET /v1/giveaways/' + g.id;
    } else if (checked !== g.seed) {
      checked = g.seed;
      let ok = false;
      try { ok = await verify(g); } catch (_) { ok = false; }
      el('check').textContent = ok ? '✓ seed matches the hash; the draw checks out' : '✗ the draw does not check out';
      el('check').dataset.ok = String(ok);
    }
  }

  async function poll() {
    try {
      if (announced) {
        const resp = await fetch('/v1/streams/' + encodeURIComponent(stream) + '/giveaway', { cache: 'no-store' });
        if (!resp.ok) return;
        const g = await resp.json();
        if (g.state !== 'drawn' || Date.now() - Date.parse(g.started_at) < ANNOUNCED_FOR_MS) {
          if (g.id !== id) { checked = ''; el('status').textContent = ''; }
          id = g.id;
          await fromRead(g);
        } else if (g.id === id) card.hidden = true;
        return;
      }
      const resp = await fetch('/v1/giveaways/' + encodeURIComponent(id), { cache: 'no-store' });
      if (resp.ok) await fromRead(await resp.json());
    } catch (_) { /* offline: the next poll */ }
  }

  // fromRead shows a read, but a draw the page has not shown yet waits
  // FALLBACK_MS for its stamped event once the stream carries them.
  const FALLBACK_MS = 3000;
  let stamped = false;
  const shownDrawn = (g) => state && state.id === g.id && state.state === 'drawn';
  function fromRead(g) {
    if (stamped && g.state === 'drawn' && !shownDrawn(g)) {
      setTimeout(() => { if (g.id === id && (!shownDrawn(g) || !state.entrant_ids)) show(g, 'poll'); }, FALLBACK_MS);
      return;
    }
    return show(g, 'poll');
  }

  // A stamped giveaway event, on its frame.
  document.addEventListener('livedrop:giveaway', async (ev) => {
    const e = ev.detail;
    if (!e || typeof e.commitment !== 'string' || (e.state !== 'open' && e.state !== 'drawn')) return;
    if (e.id !== id) {
      if (!announced) return;
      id = e.id;
      state = null;
      checked = '';
      el('status').textContent = '';
      el('winner').textContent = '';
    } else if (shownDrawn(e) && (e.state === 'open' || state.entrant_ids)) return; // shown already, or older
    stamped = true;
    await show({ id: e.id, prize: e.prize || '', rule: e.rule, commitment: e.commitment, entrants: Number(e.entrants) || 0,
      state: e.state, winner_masked: e.winner || '', seed: e.seed || '', entrants_digest: e.entrants_digest || '' }, 'stamped');
    if (e.state === 'drawn') { // the entrants (and whether this buyer won), to check the draw
      try {
        const resp = await fetch('/v1/giveaways/' + encodeURIComponent(e.id), { cache: 'no-store' });
        if (resp.ok) { const g = await resp.json(); if (g.id === id && g.state === 'drawn') await show(g, 'stamped'); }
      } catch (_) { /* the next poll */ }
    }
  });

  async function enter() {
    const s = me();
    const msg = el('status');
    if (!s) {
      msg.textContent = 'Sign in to enter';
      if (window.livedrop && window.livedrop.signIn) window.livedrop.signIn();
      return;
    }
    el('enter').disabled = true;
    try {
      const headers = { 'Authorization': 'Bearer ' + s.session };
      const proof = watchProof();
      if (proof) headers['Watch-Proof'] = proof;
      const resp = await fetch('/v1/giveaways/' + encodeURIComponent(id) + '/entries', { method: 'POST', headers });
      const a = await resp.json().catch(() => ({}));
      msg.textContent = resp.ok ? (a.new ? "You're in. Good luck!" : "You're already in")
        : ({ not_watching: 'Watch the stream to enter', not_signed_in: 'Sign in with your email to enter',
          no_purchase: 'This giveaway is for buyers' })[a.why] || (a.code === 'giveaway_closed' ? 'The draw has taken place' : a.error || 'Try again');
      poll();
    } catch (_) {
      msg.textContent = 'No connection: try again';
    } finally {
      el('enter').disabled = false;
    }
  }

  const announced = !id; // no ?giveaway=: follow the stream's latest
  el('enter').addEventListener('click', enter);
  poll();
  setInterval(poll, 3000);
  window.livedropGiveaway = { state: () => state, verify };
})();
