// The event report page: GET /v1/drops/{drop}/report of the origin on this
// host, every second, with the control token the seller typed in the console
// (sessionStorage, never a URL). The page only shows the figures the server
// computed (internal/kpi); charts are SVG drawn here, no library.
(() => {
  'use strict';
  const TOKEN_KEY = 'livedrop.token';
  const root = document.querySelector('main[data-drop]');
  const drop = root.dataset.drop;
  const statusEl = document.querySelector('[data-testid="report-status"]');
  let token = '';
  try { token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (_) { token = ''; }
  const url = (fmt) => '/v1/drops/' + encodeURIComponent(drop) + '/report' + (fmt ? '?format=' + fmt : '');
  const headers = () => ({ 'Authorization': 'Bearer ' + token });

  const money = (cents) => (cents / 100).toFixed(2);
  const pct = (x) => (x * 100).toFixed(1) + ' %';
  const SVG = 'http://www.w3.org/2000/svg';

  function el(tag, text) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // bars draws one horizontal bar per key of values, scaled to the largest.
  function bars(target, values, label) {
    const keys = Object.keys(values).sort();
    const max = Math.max(1, ...keys.map((k) => values[k]));
    const rowH = 22;
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 400 ' + Math.max(rowH, keys.length * rowH));
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
    keys.forEach((k, i) => {
      const w = Math.round(280 * values[k] / max);
      const r = document.createElementNS(SVG, 'rect');
      r.setAttribute('x', '100'); r.setAttribute('y', String(i * rowH + 3));
      r.setAttribute('width', String(w)); r.setAttribute('height', String(rowH - 6));
      r.setAttribute('fill', 'currentColor');
      const t = document.createElementNS(SVG, 'text');
      t.setAttribute('x', '0'); t.setAttribute('y', String(i * rowH + 16));
      t.setAttribute('fill', 'currentColor'); t.setAttribute('font-size', '12');
      t.textContent = k + ' ' + money(values[k]);
      svg.append(r, t);
    });
    target.replaceChildren(svg);
  }

  function table(target, head, rows) {
    const tr = el('tr');
    head.forEach((h) => tr.append(el('th', h)));
    const body = rows.map((r) => {
      const row = el('tr');
      r.forEach((c) => row.append(el('td', c)));
      return row;
    });
    target.replaceChildren(tr, ...body);
  }

  const HEAD = ['', 'orders', 'buyers', 'GMV', 'GMV/h', 'revenue/h', 'AOV', 'viewers', 'conversion', 'peak', 'now', 'avg watch s', 'consents'];
  // Money figures carry their currency; "mixed" ones add unlike units, so
  // the page shows them per currency only (the By currency table).
  const amount = (f, cents) => f.currency === 'mixed' ? 'mixed' : money(cents) + (f.currency ? ' ' + f.currency : '');
  const cells = (name, f) => [name, f.orders, f.buyers, amount(f, f.gmv_cents), amount(f, f.gmv_per_hour_cents), amount(f, f.revenue_per_hour_cents),
    amount(f, f.aov_cents), f.unique_viewers, pct(f.conversion), f.peak_concurrent, f.current_concurrent, Math.round(f.avg_watch_seconds), f.new_consents];

  function show(rep) {
    const dl = document.querySelector('[data-testid="report-total"]');
    const t = cells('total', rep.total);
    const items = [];
    HEAD.slice(1).forEach((h, i) => {
      const d = el('div');
      d.dataset.kpi = h;
      d.append(el('dt', h), el('dd', t[i + 1]));
      items.push(d);
    });
    dl.replaceChildren(...items);
    for (const [split, key] of [['by_channel', 'channel'], ['by_region', 'region']]) {
      const m = rep[split] || {};
      const gmv = {};
      Object.keys(m).forEach((k) => { gmv[k] = m[k].gmv_cents; });
      bars(document.querySelector('[data-testid="chart-' + key + '-gmv"]'), gmv, 'GMV by ' + key);
      // A row in several currencies is followed by its sales per currency.
      const per = rep[split + '_currency'] || {};
      table(document.querySelector('[data-testid="report-' + key + 's"]'), HEAD,
        Object.keys(m).sort().flatMap((k) => [cells(k, m[k]), ...Object.keys(per[k] || {}).sort().map((c) =>
          cells(k + ' · ' + c, per[k][c]).map((v, i) => (i > 6 ? '' : v)))]));
    }
    const cur = rep.by_currency || {};
    table(document.querySelector('[data-testid="report-currencies"]'), ['currency', 'orders', 'buyers', 'GMV', 'revenue', 'GMV/h', 'AOV'],
      Object.keys(cur).sort().map((k) => [k, cur[k].orders, cur[k].buyers, money(cur[k].gmv_cents), money(cur[k].revenue_cents),
        money(cur[k].gmv_per_hour_cents), money(cur[k].aov_cents)]));
    table(document.querySelector('[data-testid="report-drops"]'), ['drop', 'stock', 'sold', 'sell-through', 'sold out after s'],
      (rep.drops || []).map((d) => [d.drop, d.stock, d.sold, pct(d.sell_through),
        d.sold_out_after_ns ? Math.round(d.sold_out_after_ns / 1e9) : '—']));
  }

  async function refresh() {
    if (!token) { statusEl.textContent = 'Sign in on the console first (it keeps the control token for this tab).'; return; }
    try {
      const res = await fetch(url(''), { headers: headers(), cache: 'no-store' });
      if (!res.ok) { statusEl.textContent = 'Report: HTTP ' + res.status; return; }
      const rep = await res.json();
      show(rep);
      document.dispatchEvent(new CustomEvent('livedrop:report', { detail: rep })); // kpilive.js
      statusEl.textContent = 'Updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      statusEl.textContent = 'Report unavailable: ' + e.message;
    }
  }

  async function download(fmt) {
    const res = await fetch(url(fmt), { headers: headers(), cache: 'no-store' });
    if (!res.ok) { statusEl.textContent = 'Download: HTTP ' + res.status; return; }
    const a = el('a');
    a.href = URL.createObjectURL(await res.blob());
    a.download = 'report-' + drop + '.' + fmt;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }
  document.querySelector('[data-testid="report-csv"]').addEventListener('click', () => download('csv'));
  document.querySelector('[data-testid="report-json"]').addEventListener('click', () => download('json'));

  refresh();
  setInterval(refresh, 1000);
})();
