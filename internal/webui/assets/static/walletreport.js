// livedrop wallet liability on the event report: what the seller owes buyers
// in prepaid credit (GET /v1/wallet/liability with the console's control
// token), refreshed every few seconds, in its own panel.
(() => {
  'use strict';
  let token = '';
  try { token = sessionStorage.getItem('livedrop.token') || ''; } catch (_) { token = ''; }
  const main = document.querySelector('main.report');
  if (!main || !token) return;
  const panel = document.createElement('section');
  panel.className = 'panel';
  const h = document.createElement('h2');
  h.className = 'panel-title';
  h.textContent = 'Wallet liability (prepaid credit buyers hold)';
  const dl = document.createElement('dl');
  dl.className = 'kpis';
  dl.dataset.testid = 'report-wallet-liability';
  panel.append(h, dl);
  main.append(panel);

  async function refresh() {
    try {
      const res = await fetch('/v1/wallet/liability', { headers: { 'Authorization': 'Bearer ' + token }, cache: 'no-store' });
      if (!res.ok) return;
      const l = (await res.json()).liability_cents || {};
      const curs = Object.keys(l).sort();
      dl.replaceChildren();
      for (const cur of curs.length ? curs : ['EUR']) {
        const dt = document.createElement('dt');
        dt.textContent = cur;
        const dd = document.createElement('dd');
        dd.dataset.currency = cur;
        dd.textContent = ((l[cur] || 0) / 100).toFixed(2);
        dl.append(dt, dd);
      }
    } catch (_) { /* shown again on the next refresh */ }
  }
  refresh();
  setInterval(refresh, 5000);
})();
