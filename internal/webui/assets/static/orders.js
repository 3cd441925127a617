// livedrop seller console, orders panel: the current drop's orders, newest
// first (GET /v1/drops/{id}/orders), kept live by the orders WebSocket
// (a ticket from POST .../orders/live/ticket), searchable, refundable one
// by one or all at once, and exported as CSV. The token is the console's
// (sessionStorage), sent only as a bearer header.
'use strict';

(function () {
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const listEl = $('orders-list');
  const searchIn = $('orders-search');
  const restockIn = $('orders-restock');
  const refundAllBtn = $('orders-refund-all');
  const exportBtn = $('orders-export');
  const liveEl = $('orders-live');
  const dropIn = $('drop');
  if (!listEl || !dropIn) return;

  const enc = encodeURIComponent;
  const token = () => { try { return sessionStorage.getItem('livedrop.token') || ''; } catch (_) { return ''; } };
  const drop = () => dropIn.value.trim();
  const rows = new Map(); // order id -> {order, row}
  let ws = null;
  let wsDrop = '';
  let retry = 0;

  async function call(method, path, body, accept) {
    const headers = { 'Authorization': 'Bearer ' + token(), 'Accept': accept || 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    if (!res.ok) {
      const t = await res.text().catch(() => '');
      throw new Error(res.status + ' ' + t.slice(0, 160));
    }
    return accept === 'text/csv' ? res.blob() : res.json();
  }

  function matches(o) {
    const q = searchIn.value.trim().toLowerCase();
    return !q || [o.id, o.buyer, o.sku, o.status].some((f) => String(f || '').toLowerCase().includes(q));
  }

  function upsert(o, atTop) {
    let r = rows.get(o.id);
    if (!r) {
      const li = document.createElement('li');
      li.className = 'order-row';
      li.dataset.id = o.id;
      li.dataset.testid = 'order-' + o.id;
      const what = document.createElement('span');
      what.className = 'what';
      const st = document.createElement('span');
      st.className = 'badge';
      st.dataset.testid = 'order-status';
      const btn = document.createElement('button');
      btn.type = 'button';
      btn.className = 'btn btn-quiet';
      btn.textContent = 'Refund';
      btn.dataset.testid = 'order-refund';
      btn.addEventListener('click', () => refund(o.id, btn));
      li.append(what, st, btn);
      r = { row: li };
      rows.set(o.id, r);
      if (atTop) listEl.prepend(li); else listEl.append(li);
    }
    r.order = o;
    r.row.querySelector('.what').textContent = o.sku + ' × ' + o.qty + ' · ' + o.buyer + ' · ' +
      new Date(o.created_at).toLocaleTimeString();
    const st = r.row.querySelector('.badge');
    st.textContent = o.status;
    st.dataset.state = o.status;
    r.row.querySelector('.btn').disabled = o.status !== 'pending' && o.status !== 'paid';
    r.row.hidden = !matches(o);
  }

  async function refund(id, btn) {
    btn.disabled = true;
    try {
      upsert(await call('POST', '/v1/orders/' + enc(id) + '/refund', { restock: restockIn.checked }));
    } catch (err) {
      liveEl.textContent = 'Refund: ' + err.message;
      btn.disabled = false;
    }
  }

  refundAllBtn.addEventListener('click', async () => {
    const d = drop();
    if (!d || !window.confirm('Refund or cancel every order of ' + d + '?')) return;
    refundAllBtn.disabled = true;
    try {
      const r = await call('POST', '/v1/drops/' + enc(d) + '/refund', { restock: restockIn.checked });
      liveEl.textContent = r.refunded + ' refunded, ' + r.cancelled + ' cancelled';
      load();
    } catch (err) {
      liveEl.textContent = 'Refund all: ' + err.message;
    } finally {
      refundAllBtn.disabled = false;
    }
  });

  exportBtn.addEventListener('click', async () => {
    const d = drop();
    if (!d) return;
    try {
      const blob = await call('GET', '/v1/drops/' + enc(d) + '/orders?q=' + enc(searchIn.value.trim()), undefined, 'text/csv');
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = d + '-orders.csv';
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (err) {
      liveEl.textContent = 'Export: ' + err.message;
    }
  });

  searchIn.addEventListener('input', () => { for (const r of rows.values()) r.row.hidden = !matches(r.order); });

  // load reads the newest page, then follows the feed from its count.
  async function load() {
    const d = drop();
    links();
    closeFeed();
    rows.clear();
    listEl.textContent = '';
    if (!d || !token()) return;
    let page;
    try {
      page = await call('GET', '/v1/drops/' + enc(d) + '/orders?limit=200');
    } catch (err) {
      liveEl.textContent = 'Orders: ' + err.message;
      return;
    }
    if (d !== drop() || !page || !Array.isArray(page.orders)) return;
    for (const o of page.orders) if (o && o.id) upsert(o, false);
    openFeed(d, Number(page.total) || 0);
  }

  async function openFeed(d, after) {
    let t;
    try {
      t = await call('POST', '/v1/drops/' + enc(d) + '/orders/live/ticket');
    } catch (err) {
      liveEl.textContent = 'Live feed: ' + err.message;
      return;
    }
    if (d !== drop()) return;
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const s = new WebSocket(proto + location.host + '/v1/drops/' + enc(d) + '/orders/live?after=' + after + '&ticket=' + enc(t.ticket));
    ws = s;
    wsDrop = d;
    s.onopen = () => { retry = 0; liveEl.textContent = 'live'; liveEl.dataset.state = 'live'; };
    s.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (!m || m.type !== 'orders' || !Array.isArray(m.orders)) return;
      for (const o of m.orders) if (o && o.id) upsert(o, true);
    };
    s.onclose = () => {
      if (ws !== s) return;
      ws = null;
      liveEl.textContent = 'reconnecting';
      liveEl.dataset.state = '';
      retry = Math.min(retry + 1, 5);
      setTimeout(() => { if (!ws && wsDrop === drop()) load(); }, 500 * retry);
    };
  }

  function closeFeed() {
    if (ws) { const s = ws; ws = null; s.close(); }
  }

  // The drop's report and printable sign open in their own tabs.
  function links() {
    const d = drop();
    const report = $('report-link');
    const sign = $('sign-link');
    if (report) report.href = d ? '/report/' + enc(d) : '#';
    if (sign) sign.href = d ? '/sign/' + enc(d) + '?ch=qr' : '#';
  }
  dropIn.addEventListener('change', load);
  dropIn.addEventListener('input', links);
  links();
  // The desk shows once the console signed in: load then.
  const desk = $('desk');
  new MutationObserver(() => { if (!desk.hidden) load(); else closeFeed(); }).observe(desk, { attributes: true, attributeFilter: ['hidden'] });
  if (!desk.hidden) load();

  window.livedropOrders = { rows: () => Array.from(rows.values(), (r) => r.order), live: () => !!ws && ws.readyState === 1 };
})();
