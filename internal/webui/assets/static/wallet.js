// livedrop wallet on the viewer page: the signed-in buyer's prepaid balance,
// a top-up button (the demo's test payment provider), and a "Pay with
// wallet" switch on each product card; watch.js asks payFor(card) when it
// builds an order and then sends "pay":"wallet".
(() => {
  'use strict';
  const TOPUP_CENTS = 5000; // one tap tops up 50.00 of the card's currency

  const lv = () => window.livedrop;
  const sess = () => (lv() && lv().buyerSession ? lv().buyerSession() : null);
  const api = (path) => new URL(path, lv() && lv().base ? lv().base() : location.href).href;
  const auth = () => ({ 'Authorization': 'Bearer ' + sess().session });
  const fmt = (cents, cur) => {
    if (window.LivedropPlayer && window.LivedropPlayer.formatMoney) return window.LivedropPlayer.formatMoney(cents, cur);
    const digits = cur === 'JPY' || cur === 'KRW' ? 0 : 2;
    return (cents / 10 ** digits).toFixed(digits) + ' ' + cur;
  };

  const bar = document.querySelector('.bar');
  const box = document.createElement('span');
  box.className = 'wallet';
  box.dataset.testid = 'wallet';
  box.hidden = true;
  const bal = document.createElement('span');
  bal.dataset.testid = 'wallet-balance';
  const topup = document.createElement('button');
  topup.type = 'button';
  topup.className = 'account';
  topup.dataset.testid = 'wallet-topup';
  box.append(bal, ' ', topup);
  if (bar) bar.insertBefore(box, bar.querySelector('[data-testid="account"]'));

  let balances = {};
  let currency = 'EUR'; // the currency of the last card shown
  // A guest has no wallet (the edge answers 403 email_required): the bar
  // says to sign in with an email instead of showing a balance.
  const guest = () => { const s = sess(); return !!s && s.kind === 'guest'; };

  function show() {
    const s = sess();
    box.hidden = !s;
    if (!s) return;
    const cur = currency;
    topup.hidden = guest();
    bal.textContent = guest() ? 'Wallet: sign in with your email to use one' : 'Wallet ' + fmt(balances[cur] || 0, cur);
    topup.textContent = '+ ' + fmt(TOPUP_CENTS, cur);
  }

  async function refresh() {
    if (!sess() || guest()) { show(); return; }
    try {
      const res = await fetch(api('/v1/me/wallet'), { headers: auth(), cache: 'no-store' });
      if (res.ok) balances = (await res.json()).balances || {};
    } catch (_) { /* shown again on the next refresh */ }
    show();
  }

  // refusal is what a card says when the edge refused a wallet order up
  // front ('' for any other answer): the balance too low (402
  // insufficient_balance) or a guest session (403 email_required).
  function refusal(status, data) {
    if (!data || typeof data.error !== 'string') return '';
    if ((status === 402 && data.code === 'insufficient_balance') || (status === 403 && data.code === 'email_required')) {
      if (status === 402 && typeof data.balance_cents === 'number' && data.currency) balances[data.currency] = data.balance_cents;
      show();
      return data.error.slice(0, 160);
    }
    return '';
  }

  topup.addEventListener('click', async () => {
    if (!sess()) return;
    topup.disabled = true;
    const key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    try {
      const res = await fetch(api('/v1/me/wallet/topups'), {
        method: 'POST', cache: 'no-store',
        headers: Object.assign({ 'Content-Type': 'application/json', 'Idempotency-Key': key }, auth()),
        body: JSON.stringify({ amount_cents: TOPUP_CENTS, currency }),
      });
      if (res.ok) balances = ((await res.json()).wallet || {}).balances || {};
    } finally {
      topup.disabled = false;
      show();
      document.dispatchEvent(new CustomEvent('livedrop:wallet')); // the auction card reads its balance again
    }
  });

  // A "Pay with wallet" switch on every product card, off by default.
  function hook(card) {
    if (card.querySelector('[data-testid="pay-wallet"]')) return;
    const label = document.createElement('label');
    label.className = 'card-wallet';
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.dataset.testid = 'pay-wallet';
    label.append(cb, ' Pay with wallet');
    const buy = card.querySelector('.buy');
    card.insertBefore(label, buy ? buy.nextSibling : null);
  }
  const overlay = document.getElementById('overlay');
  if (overlay) {
    new MutationObserver(() => {
      overlay.querySelectorAll('[data-testid="product-card"]').forEach(hook);
      const card = overlay.querySelector('[data-testid="product-card"]');
      const cur = card && card.dataset.currency;
      if (cur && /^[A-Z]{3}$/.test(cur) && cur !== currency) { currency = cur; show(); }
    }).observe(overlay, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-currency'] });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // follow waits for the wallet order of card to be paid or cancelled
  // (an order held up front is paid; one refused never gets an id) and
  // says which on the card.
  async function follow(card, before) {
    const st = card.querySelector('[data-testid="order-status"]');
    for (let i = 0; i < 60 && sess(); i++) {
      await sleep(500);
      if (card.dataset.busy !== 'true' && card.dataset.walletRefused === 'true') break; // refused up front
      const id = card.dataset.orderId;
      if (!id || id === before) continue;
      try {
        const res = await fetch(api('/v1/me/orders'), { headers: auth(), cache: 'no-store' });
        const o = res.ok ? ((await res.json()).orders || []).find((x) => x.id === id) : null;
        if (!o || o.status === 'pending') continue;
        const paid = o.status === 'paid';
        if (st) {
          st.textContent = paid ? 'Paid from wallet' : 'Wallet payment failed: order cancelled, tap again';
          st.dataset.state = paid ? 'ok' : 'error';
        }
      } catch (_) { continue; }
      break;
    }
    refresh();
  }

  window.livedropWallet = {
    // payFor: whether the order of card is to be paid from the wallet.
    payFor: (card) => {
      const cb = card && card.querySelector('[data-testid="pay-wallet"]');
      if (cb && cb.checked) { card.dataset.walletRefused = 'false'; follow(card, card.dataset.orderId); return true; }
      return false;
    },
    balances: () => Object.assign({}, balances),
    refresh,
    refusal,
  };
  refresh();
  setInterval(refresh, 5000);
})();
