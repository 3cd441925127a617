// auction.js: the live auction card of the viewer page. With ?lot=ID in the
// page's address it shows the lot's current bid, the masked leader and the
// countdown, follows the edge's live updates (server-sent events), and bids
// the going minimum in one tap with the buyer's session. Once the stream's
// overlay events carry the lot (watch.js applies a "lot" event on the video
// frame it was stamped for), they move the card; the live updates give its
// first state and stand in for a change no stamped event follows.
// A buyer signed in with an email can switch on "Pay from wallet": the
// card shows the wallet's balance (what is held for bids is not in it),
// bids go with pay=wallet, and a refusal (402 insufficient_balance, 403
// email_required) is said in words; a guest sees a hint to sign in.
(function () {
  'use strict';
  const lot = new URLSearchParams(location.search).get('lot');
  const card = document.getElementById('auction');
  if (!lot || !card || !/^[A-Za-z0-9_-]{1,64}$/.test(lot)) return;

  const el = (name) => card.querySelector('[data-testid="auction-' + name + '"]');
  let state = null;
  let skew = 0; // the store's clock minus ours, from the last update

  const money = (cents, cur) => {
    try { return new Intl.NumberFormat(undefined, { style: 'currency', currency: cur }).format(cents / 100); }
    catch (_) { return (cents / 100).toFixed(2) + ' ' + cur; }
  };

  function session() {
    try {
      const s = JSON.parse(localStorage.getItem('livedrop.session') || 'null');
      if (s && typeof s.session === 'string' && Date.parse(s.expires_at) > Date.now()) return s;
    } catch (_) { /* no session */ }
    return null;
  }

  function show(u) {
    if (state && u.seq < state.seq) return; // an older update arriving late
    state = u;
    if (Number.isFinite(u.now_ms)) skew = u.now_ms - Date.now();
    card.hidden = false;
    el('price').textContent = u.bids > 0 ? money(u.price_cents, u.currency) : 'No bids yet';
    el('leader').textContent = u.leader ? 'leading: ' + u.leader : '';
    el('reserve').hidden = u.reserve_met;
    const btn = el('bid');
    btn.textContent = 'Bid ' + money(u.min_cents, u.currency);
    tick();
  }

  function tick() {
    if (!state) return;
    const left = state.ends_ms - (Date.now() + skew);
    const over = state.phase !== 'live' || left <= 0;
    el('timer').textContent = state.phase === 'created' ? 'starts soon'
      : over ? 'ended' : Math.ceil(left / 1000) + ' s';
    el('timer').dataset.urgent = !over && left < 10000 ? 'true' : 'false';
    el('bid').disabled = over;
    showWallet();
  }
  setInterval(tick, 250);

  async function bid() {
    const s = session();
    const msg = el('status');
    if (!s) {
      msg.textContent = 'Sign in to bid';
      const account = document.querySelector('[data-testid="account"]');
      if (account && !account.hidden) account.click();
      return;
    }
    if (!state) return;
    const payWallet = !wal.hidden && walOn.checked;
    el('bid').disabled = true;
    try {
      const key = (crypto.randomUUID && crypto.randomUUID()) || String(Math.random()).slice(2);
      const resp = await fetch('/v1/lots/' + encodeURIComponent(lot) + '/bids', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + s.session, 'Idempotency-Key': key },
        body: JSON.stringify(payWallet ? { amount_cents: state.min_cents, pay: 'wallet' } : { amount_cents: state.min_cents }),
      });
      const a = await resp.json().catch(() => ({}));
      if (a.lot && a.lot.lot) show(a.lot);
      if (payWallet) {
        refreshWallet();
        if (window.livedropWallet && window.livedropWallet.refresh) window.livedropWallet.refresh();
      }
      if ((resp.status === 402 && a.code === 'insufficient_balance') || (resp.status === 403 && a.code === 'email_required')) {
        msg.textContent = typeof a.error === 'string' ? a.error.slice(0, 200) : 'The wallet refused this bid';
        msg.dataset.state = 'error';
        return;
      }
      msg.dataset.state = resp.status === 201 ? 'ok' : '';
      msg.textContent = resp.status === 201 ? (payWallet ? 'You lead (held on your wallet)' : 'You lead') :
        ({ outbid: 'Outbid: someone\'s maximum is higher', too_low: 'Someone bid first: tap again',
          auction_over: 'The auction is over', not_started: 'Not started yet' })[a.code] || a.error || 'Try again';
    } catch (_) {
      msg.textContent = 'No connection: try again';
    } finally {
      tick();
    }
  }
  el('bid').addEventListener('click', bid);

  // Pay from wallet (signed-in buyers): a switch and the balance on the card.
  const wal = document.createElement('span');
  wal.className = 'auction-wallet';
  wal.dataset.testid = 'auction-wallet';
  wal.hidden = true;
  const walLabel = document.createElement('label');
  const walOn = document.createElement('input');
  walOn.type = 'checkbox';
  walOn.dataset.testid = 'auction-pay-wallet';
  walLabel.append(walOn, ' Pay from wallet');
  const walBal = document.createElement('span');
  walBal.dataset.testid = 'auction-wallet-balance';
  wal.append(walLabel, ' ', walBal);
  card.insertBefore(wal, el('status'));
  const walHint = document.createElement('span');
  walHint.dataset.testid = 'auction-wallet-hint';
  walHint.hidden = true;
  walHint.textContent = 'Sign in with your email to bid from your wallet';
  card.insertBefore(walHint, el('status'));
  let wallet = null; // the buyer's statement: balances and held, by currency

  function showWallet() {
    const s = session();
    const email = !!s && s.kind === 'email';
    wal.hidden = !email;
    walHint.hidden = !s || email;
    if (!email || !wallet) { walBal.textContent = ''; return; }
    const cur = (state && state.currency) || 'EUR';
    const held = (wallet.held || {})[cur] || 0;
    walBal.textContent = 'Wallet ' + money((wallet.balances || {})[cur] || 0, cur) +
      (held > 0 ? ' (' + money(held, cur) + ' held for bids)' : '');
  }

  async function refreshWallet() {
    const s = session();
    if (!s || s.kind !== 'email') { wallet = null; showWallet(); return; }
    try {
      const res = await fetch('/v1/me/wallet', { headers: { 'Authorization': 'Bearer ' + s.session }, cache: 'no-store' });
      if (res.ok) wallet = await res.json();
    } catch (_) { /* shown again on the next refresh */ }
    showWallet();
  }
  walOn.addEventListener('change', refreshWallet);
  // The bar's top-up (wallet.js) changed the balance: read it again.
  document.addEventListener('livedrop:wallet', refreshWallet);
  setInterval(refreshWallet, 5000);

  // A stamped lot event, on its frame.
  const FALLBACK_MS = 3000; // a live update no stamped event followed by then is shown
  let stamped = false;
  document.addEventListener('livedrop:lot', (ev) => {
    const l = ev.detail;
    if (!l || l.id !== lot || !Number.isFinite(Number(l.seq))) return;
    stamped = true;
    show({ lot: l.id, phase: l.state, price_cents: Number(l.price_cents), currency: l.currency, leader: l.leader || '',
      ends_ms: Number(l.ends_at_ms), seq: Number(l.seq), bids: Number(l.bids), min_cents: Number(l.min_cents),
      reserve_met: !!l.reserve_met }); // no now_ms: the skew stays the live updates'
    el('price').dataset.source = 'stamped';
  });

  function live(u) {
    if (!state || !stamped) { show(u); el('price').dataset.source = 'live'; return; }
    setTimeout(() => { if (u.seq > state.seq) { show(u); el('price').dataset.source = 'live'; } }, FALLBACK_MS);
  }

  function follow() {
    const es = new EventSource('/v1/lots/' + encodeURIComponent(lot) + '/live');
    es.onmessage = (ev) => { try { live(JSON.parse(ev.data)); } catch (_) { /* ignore a bad line */ } };
    // EventSource reconnects by itself after an error.
  }
  follow();
  refreshWallet();
})();
