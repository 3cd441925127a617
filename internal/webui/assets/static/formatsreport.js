// The "Sale formats" section of the event report page: auctions (lots run,
// won, unsold, bids, bids/s, uplift over the start price, per lot),
// giveaways, wallet movements and liability per currency, pickup orders.
// It shows the "formats" of the report report.js fetched each second (the
// 'livedrop:report' event); every figure comes from the server
// (internal/kpi, docs/kpi.md), none is computed here.
(() => {
  'use strict';
  const main = document.querySelector('main.report');
  if (!main) return;
  const money = (cents) => (cents / 100).toFixed(2);
  const pct = (x) => (x * 100).toFixed(1) + ' %';

  function el(tag, text, testid) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (testid) e.dataset.testid = testid;
    return e;
  }
  // kpis fills dl with one dt/dd per [name, value], each dd named data-kpi.
  function kpis(dl, items) {
    dl.replaceChildren(...items.map(([name, value]) => {
      const d = el('div');
      d.dataset.kpi = name;
      d.append(el('dt', name), el('dd', value));
      return d;
    }));
  }
  function table(t, head, rows) {
    const tr = el('tr');
    head.forEach((h) => tr.append(el('th', h)));
    t.replaceChildren(tr, ...rows.map((r) => {
      const row = el('tr');
      r.forEach((c) => row.append(el('td', c)));
      return row;
    }));
  }

  const panel = el('section', undefined, 'report-formats');
  panel.className = 'panel';
  panel.hidden = true;
  const h = el('h2', 'Sale formats ');
  h.className = 'panel-title';
  h.append(el('small', '(auctions, giveaways, wallet, pickup over the report\'s window; formulas: docs/kpi.md)'));
  const parts = {};
  for (const [key, title, tag] of [['auctions', 'Auctions', 'dl'], ['lots', 'Lots', 'table'], ['giveaways', 'Giveaways', 'dl'],
    ['wallet', 'Wallet', 'table'], ['pickup', 'Pickup', 'dl']]) {
    const e = el(tag, undefined, 'report-formats-' + key);
    if (tag === 'dl') e.className = 'kpis';
    parts[key] = e;
    panel.append(el('h3', title), e);
  }
  panel.prepend(h);
  main.append(panel);

  document.addEventListener('livedrop:report', (ev) => {
    const f = ev.detail && ev.detail.formats;
    if (!f) return;
    panel.hidden = false;
    const a = f.auctions;
    const upl = a.currency === 'mixed' ? 'mixed' : (a.won ? pct(a.uplift) : '—');
    kpis(parts.auctions, [['lots run', a.lots_run], ['won', a.won], ['unsold', a.unsold], ['live', a.live], ['bids', a.bids],
      ['bidders', a.bidders], ['bids/s', a.bids_per_second.toFixed(3)], ['uplift', upl],
      ['sold for', a.currency === 'mixed' || !a.won ? '—' : money(a.final_cents) + ' ' + a.currency]]);
    table(parts.lots, ['lot', 'state', 'start', 'final', 'bids', 'bidders', 'bids/s', 'uplift'],
      (a.lots || []).map((l) => [l.title || l.id, l.state, money(l.start_cents) + ' ' + l.currency, money(l.final_cents) + ' ' + l.currency,
        l.bids, l.bidders, l.bids_per_second.toFixed(3), l.state === 'won' ? pct(l.uplift) : '—']));
    const g = f.giveaways;
    kpis(parts.giveaways, [['run', g.run], ['entries', g.entries], ['unique entrants', g.unique_entrants], ['drawn', g.drawn], ['winners', g.winners]]);
    const w = f.wallet || {};
    table(parts.wallet, ['currency', 'top-ups', 'topped up', 'spends', 'spent', 'refunds', 'refunded', 'liability'],
      Object.keys(w).sort().map((c) => [c, w[c].topups, money(w[c].topup_cents), w[c].spends, money(w[c].spend_cents),
        w[c].refunds, money(w[c].refund_cents), money(w[c].liability_cents)]));
    const p = f.pickup;
    kpis(parts.pickup, [['pickup orders', p.orders], ['collected', p.collected], ['pending', p.pending], ['conflicts', p.conflicts]]);
  });
})();
