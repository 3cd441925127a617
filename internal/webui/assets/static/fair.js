// fair.js: the fair-drop parts of the viewer page's product cards. The
// member card: while a drop is open to members only, members read "Member
// early access · opens for everyone in N min" (watch.js shows the member
// price), everyone else "Opens for everyone in N min", and a signed-out
// viewer gets "Member? Sign in". The waitlist: a card whose lottery entry
// is on the waitlist keeps reading the entry, and when a unit came free for
// it (the origin created the order) says so.
(function () {
  'use strict';
  const TICK_MS = 1000; // the member card's countdown
  const WAITLIST_POLL_MS = 5000; // a waitlisted entry is read this often (jittered)

  const me = () => (window.livedrop && window.livedrop.buyerSession && window.livedrop.buyerSession()) || null;
  const setText = (node, text) => { if (node && node.textContent !== text) node.textContent = text; };

  // memberCard keeps card's member line (created on first need).
  function memberCard(card) {
    const until = Number(card.dataset.membersUntil) || 0;
    let line = card.querySelector('[data-testid="member-card"]');
    if (!(until > Date.now())) {
      if (line) line.remove();
      return;
    }
    if (!line) {
      line = document.createElement('p');
      line.className = 'card-members';
      line.setAttribute('data-testid', 'member-card');
      const text = document.createElement('span');
      text.setAttribute('data-testid', 'member-card-text');
      const signIn = document.createElement('button');
      signIn.type = 'button';
      signIn.className = 'member-signin';
      signIn.setAttribute('data-testid', 'member-signin');
      signIn.textContent = 'Member? Sign in';
      signIn.addEventListener('click', () => { if (window.livedrop && window.livedrop.signIn) window.livedrop.signIn(); });
      line.append(text, ' ', signIn);
      (card.querySelector('.card-info') || card).append(line);
    }
    const s = me();
    const mins = Math.max(1, Math.ceil((until - Date.now()) / 60000));
    const when = 'opens for everyone in ' + mins + ' min';
    line.dataset.member = String(!!(s && s.member));
    setText(line.querySelector('[data-testid="member-card-text"]'), s && s.member ? 'Member early access · ' + when : 'O' + when.slice(1));
    line.querySelector('[data-testid="member-signin"]').hidden = !!s;
  }

  const polling = new WeakSet();
  // waitlist reads a waitlisted card's entry until a unit came free for it.
  async function waitlist(card) {
    if (polling.has(card)) return;
    polling.add(card);
    try {
      while (card.isConnected && card.dataset.entryResult === 'lost' && card.dataset.entryLocation) {
        await new Promise((r) => setTimeout(r, WAITLIST_POLL_MS * (0.8 + 0.4 * Math.random())));
        const s = me();
        if (!s) continue;
        let data = null;
        try {
          const res = await fetch(new URL(card.dataset.entryLocation, location.href).href,
            { headers: { 'Authorization': 'Bearer ' + s.session, 'Accept': 'application/json' }, cache: 'no-store' });
          if (res.status !== 200) continue;
          data = await res.json();
        } catch (_) {
          continue; // the next poll tries again
        }
        if (data.result === 'won') {
          const id = data.order && data.order.id ? String(data.order.id) : '';
          card.dataset.entryResult = 'won';
          card.dataset.orderId = id;
          card.dataset.soldOut = 'false';
          const st = card.querySelector('[data-testid="order-status"]');
          setText(st, 'A unit came free for you (waitlist #' + Number(data.waitlist_place) + '): order confirmed' +
            (id ? ' · #' + id.slice(-6).toUpperCase() : ''));
          if (st) st.dataset.state = 'ok';
        } else if (data.result !== 'lost') {
          card.dataset.entryResult = String(data.result || '');
        }
      }
    } finally {
      polling.delete(card);
    }
  }

  function tick() {
    for (const card of document.querySelectorAll('[data-testid="product-card"]')) {
      memberCard(card);
      if (card.dataset.entryResult === 'lost' && card.dataset.entryLocation) waitlist(card);
    }
  }
  setInterval(tick, TICK_MS);
  tick();
})();
