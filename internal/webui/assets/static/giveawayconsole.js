// livedrop seller console, giveaways panel: starts a giveaway on the
// console's stream (a prize typed or one of the drops' products, the entry
// rule, shipping or pickup), draws it, and shows the seed's hash, the
// entries as they come in, and the winner with the revealed seed and the
// prize order. The token is the console's (sessionStorage), sent only as a
// bearer header.
'use strict';

(function () {
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const panel = $('giveaway-panel');
  const streamIn = $('stream');
  if (!panel || !streamIn) return;
  const f = (n) => $('giveaway-' + n);
  const enc = encodeURIComponent;
  const KEY = 'livedrop.giveaway';
  const POLL_MS = 2000;
  const session = {
    get(k) { try { return sessionStorage.getItem(k) || ''; } catch (_) { return ''; } },
    set(k, v) { try { if (v) sessionStorage.setItem(k, v); else sessionStorage.removeItem(k); } catch (_) { /* off */ } },
  };
  let current = null; // the giveaway shown (its last read or draw answer)
  let order = ''; // the prize order (only the draw answer names it)
  let timer = 0;

  async function call(method, path, body) {
    const headers = { 'Authorization': 'Bearer ' + session.get('livedrop.token'), 'Accept': 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text().catch(() => '');
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
    if (!res.ok) throw new Error(res.status + ' ' + ((data && data.error) || text).slice(0, 200));
    return data;
  }

  function say(msg, kind) {
    const e = f('error');
    e.textContent = msg;
    e.dataset.kind = kind || '';
  }

  function render(g) {
    current = g;
    const drawn = g.state === 'drawn';
    f('state').textContent = g.id + ': ' + (drawn ? 'drawn' : 'open');
    f('state').dataset.state = g.state;
    f('commitment').textContent = g.commitment;
    f('entrants').textContent = String(g.entrants);
    f('winner').textContent = drawn ? g.winner_masked + ' (' + g.winner + ')' : '–';
    f('seed').textContent = drawn ? g.seed : '–';
    f('order').textContent = drawn && order ? order : '–';
    f('draw').disabled = drawn;
    session.set(KEY, g.id);
  }

  async function refresh() {
    clearTimeout(timer);
    const id = current ? current.id : session.get(KEY);
    if (!id) return;
    try {
      render(await call('GET', '/v1/giveaways/' + enc(id)));
    } catch (err) {
      if (/^404/.test(err.message)) { session.set(KEY, ''); return; }
    }
    if (!current || current.state !== 'drawn') timer = setTimeout(refresh, POLL_MS);
  }

  // The drops' products, to give one away.
  async function products() {
    const sel = f('product');
    try {
      const drops = (await call('GET', '/v1/drops')).drops || [];
      while (sel.options.length > 1) sel.remove(1);
      for (const d of drops) {
        for (const k of d.skus || []) {
          const o = document.createElement('option');
          o.value = k.name || k.sku;
          o.textContent = (k.name || k.sku) + ' (' + d.id + '/' + k.sku + ')';
          sel.append(o);
        }
      }
    } catch (_) { /* the typed prize still works */ }
  }
  f('product').addEventListener('change', () => { if (f('product').value) f('prize').value = f('product').value; });
  f('product').addEventListener('focus', products, { once: true });

  panel.querySelector('form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = f('id').value.trim() || 'g' + Date.now().toString(36);
    const btn = f('start');
    btn.disabled = true;
    try {
      order = '';
      render(await call('POST', '/v1/giveaways', { id, stream: streamIn.value.trim(), rule: f('rule').value,
        prize: { name: f('prize').value.trim() }, fulfilment: f('fulfilment').value }));
      f('id').value = '';
      say('Started ' + id + ': its hash is on the stream', 'ok');
      timer = setTimeout(refresh, POLL_MS);
    } catch (err) {
      say('Start refused: ' + err.message, 'error');
    } finally {
      btn.disabled = false;
    }
  });

  f('draw').addEventListener('click', async () => {
    if (!current) return;
    const btn = f('draw');
    btn.disabled = true;
    try {
      const g = await call('POST', '/v1/giveaways/' + enc(current.id) + '/draw');
      order = g.order || '';
      clearTimeout(timer);
      render(g);
      say('Drawn: ' + g.winner_masked + ' wins; the seed is revealed', 'ok');
    } catch (err) {
      btn.disabled = false;
      say('Draw refused: ' + err.message, 'error');
    }
  });

  refresh();
  window.livedropGiveawayConsole = { current: () => current };
})();
