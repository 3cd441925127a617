// livedrop seller console, drops panel: every drop (GET /v1/drops), a form
// that creates or edits one before it opens (product, stock, price, prices
// per region, per-buyer limit, opening time, member early minutes and
// member price, an RSVP batch to reserve, photo), each drop's photo with
// its removal, duplicate, and the run of show: the event's drops by
// opening time, with "Pin next" putting the next drop's product on screen.
// The token is the console's (sessionStorage), sent only as a bearer header.
'use strict';

(function () {
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const panel = $('drops-panel');
  const dropIn = $('drop');
  const streamIn = $('stream');
  if (!panel || !dropIn) return;
  const form = panel.querySelector('form');
  const f = (n) => $('drop-form-' + n);
  const listEl = $('drops-list');
  const rosEl = $('run-of-show');
  const errEl = $('drops-error');
  const titleEl = $('drop-form-mode');
  const enc = encodeURIComponent;
  const token = () => { try { return sessionStorage.getItem('livedrop.token') || ''; } catch (_) { return ''; } };
  let drops = [];
  let editing = null; // the drop being edited (null: a new one)

  async function call(method, path, body, type) {
    const headers = { 'Authorization': 'Bearer ' + token(), 'Accept': 'application/json' };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = type || 'application/json';
      init.body = type ? body : JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text().catch(() => '');
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
    if (!res.ok) throw new Error(res.status + ' ' + ((data && data.error) || text).slice(0, 200));
    return data;
  }

  // Amounts are typed in major units and kept in the currency's minor units.
  function digits(cur) {
    try { return new Intl.NumberFormat('en', { style: 'currency', currency: cur }).resolvedOptions().maximumFractionDigits; } catch (_) { return 2; }
  }
  const toMinor = (v, cur) => Math.round(Number(v) * 10 ** digits(cur));
  const toMajor = (m, cur) => (Number(m) / 10 ** digits(cur)).toFixed(digits(cur));

  // Regional prices are typed as "eu EUR 25.00, us USD 29.00".
  function parsePrices(s) {
    const out = {};
    for (const part of s.split(/[,;\n]/).map((p) => p.trim()).filter(Boolean)) {
      const m = part.match(/^([A-Za-z0-9_-]+)\s+([A-Za-z]{3})\s+([0-9]+(?:\.[0-9]+)?)$/);
      if (!m) throw new Error('regional price "' + part + '": write region, currency and amount, e.g. "us USD 29.00"');
      const cur = m[2].toUpperCase();
      out[m[1]] = { currency: cur, cents: toMinor(m[3], cur) };
    }
    return out;
  }
  const showPrices = (p) => Object.entries(p || {}).map(([r, v]) => r + ' ' + v.currency + ' ' + toMajor(v.cents, v.currency)).join(', ');

  function localTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }

  // Limits the server checks too (checkout: MaxEarlyMinutes, MaxRSVPWindow):
  // the form says them before a round trip.
  const MAX_EARLY_MINUTES = 24 * 60;
  const MAX_RSVP_WINDOW_MS = 90 * 24 * 3600 * 1000;

  // whole reads a field that must be a whole number from 0 to max (empty: 0).
  function whole(name, label, max) {
    const v = f(name).value.trim();
    if (v === '') return 0;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(label + ' must be a whole number from 0 to ' + max);
    return n;
  }

  function fromForm() {
    const cur = f('currency').value.trim().toUpperCase() || 'EUR';
    const sku = {
      sku: f('sku').value.trim(), name: f('name').value.trim(), currency: cur,
      price_cents: toMinor(f('price').value || 0, cur), stock: Math.round(Number(f('stock').value) || 0),
      max_per_buyer: Math.round(Number(f('max').value) || 0),
    };
    const mp = f('member-price').value.trim();
    if (mp !== '') {
      const cents = toMinor(mp, cur);
      if (!(Number(mp) > 0) || !(cents < sku.price_cents)) throw new Error('Member price must be more than 0 and less than the price');
      sku.member_price_cents = cents;
    }
    const prices = parsePrices(f('prices').value);
    if (Object.keys(prices).length) sku.prices = prices;
    // An edit keeps what the form does not show (other SKUs, gates).
    const base = editing ? JSON.parse(JSON.stringify(editing)) : {};
    delete base.state;
    const d = Object.assign(base, { id: f('id').value.trim(), stream: f('stream').value.trim() || streamIn.value.trim() });
    const skus = (base.skus || []).slice();
    skus[0] = Object.assign(skus[0] || {}, sku);
    if (!sku.prices) delete skus[0].prices;
    if (!sku.member_price_cents) delete skus[0].member_price_cents;
    d.skus = skus;
    const opens = f('opens').value;
    if (opens) d.opens_at = new Date(opens).toISOString(); else delete d.opens_at;
    const early = whole('early', 'Members early minutes', MAX_EARLY_MINUTES);
    if (early > 0 && !opens) throw new Error('Members early access needs an opening time (members buy that long before it)');
    if (early > 0) d.members = { early_minutes: early }; else delete d.members;
    return d;
  }

  // rsvpFromForm is the RSVP batch to reserve after saving (null: none).
  function rsvpFromForm(d) {
    const units = whole('rsvp-units', 'RSVP units', d.skus[0].stock);
    const at = f('rsvp-deadline').value;
    if (!units && !at) return null;
    if (!units) throw new Error('RSVP deadline given: say how many RSVP units to reserve');
    if (!at) throw new Error('RSVP units given: say until when they are reserved (RSVP deadline)');
    const deadline = new Date(at);
    if (isNaN(deadline.getTime()) || deadline.getTime() <= Date.now()) throw new Error('RSVP deadline must be in the future');
    if (deadline.getTime() > Date.now() + MAX_RSVP_WINDOW_MS) throw new Error('RSVP deadline must be within 90 days');
    return { sku: d.skus[0].sku, count: units, deadline: deadline.toISOString() };
  }

  function toForm(d) {
    editing = d;
    const k = (d && d.skus && d.skus[0]) || {};
    f('id').value = d ? d.id : '';
    f('id').readOnly = !!d;
    f('stream').value = d ? d.stream : streamIn.value.trim();
    f('sku').value = k.sku || '';
    f('name').value = k.name || '';
    f('currency').value = k.currency || 'EUR';
    f('price').value = d ? toMajor(k.price_cents, k.currency) : '';
    f('stock').value = d ? k.stock : '';
    f('max').value = d ? (k.max_per_buyer || 0) : '';
    f('prices').value = showPrices(k.prices);
    f('opens').value = d ? localTime(d.opens_at) : '';
    f('early').value = d && d.members ? d.members.early_minutes : '';
    f('member-price').value = k.member_price_cents ? toMajor(k.member_price_cents, k.currency) : '';
    f('rsvp-units').value = '';
    f('rsvp-deadline').value = '';
    f('photo').value = '';
    titleEl.textContent = d ? 'Edit ' + d.id : 'New drop';
  }

  function say(text, state) {
    errEl.textContent = text;
    errEl.dataset.state = state || '';
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = f('save');
    btn.disabled = true;
    try {
      const d = fromForm();
      const rsvp = rsvpFromForm(d); // checked before anything is saved
      const saved = editing
        ? await call('PUT', '/v1/drops/' + enc(editing.id), d)
        : await call('POST', '/v1/drops', d);
      const file = f('photo').files && f('photo').files[0];
      if (file) {
        await call('POST', '/v1/drops/' + enc(saved.id) + '/photo', file, file.type || 'application/octet-stream');
        thumbs.delete(saved.id); // the row loads the new one
      }
      let issued = '';
      if (rsvp) {
        try {
          const b = await call('POST', '/v1/drops/' + enc(saved.id) + '/rsvps', rsvp);
          issued = ', ' + b.tokens.length + ' RSVP links reserved until ' + new Date(b.deadline).toLocaleString();
        } catch (err) {
          await load();
          toForm(drops.find((x) => x.id === saved.id) || null); // saved: fix the RSVP fields and save again
          f('rsvp-units').value = String(rsvp.count);
          f('rsvp-deadline').value = localTime(rsvp.deadline);
          say('Saved ' + saved.id + ', but the RSVP units were not reserved: ' + err.message, 'error');
          return;
        }
      }
      say('Saved ' + saved.id + (saved.opens_at ? ', opens ' + new Date(saved.opens_at).toLocaleTimeString() : '') + issued, 'ok');
      toForm(null);
      await load();
    } catch (err) {
      say(err.message, 'error');
    } finally {
      btn.disabled = false;
    }
  });
  f('new').addEventListener('click', () => { toForm(null); say(''); });

  async function duplicate(d) {
    const id = prompt('Id of the copy of ' + d.id, d.id + '-copy');
    if (!id) return;
    try {
      await call('POST', '/v1/drops/' + enc(d.id) + '/duplicate', { id: id.trim() });
      say('Duplicated ' + d.id + ' as ' + id.trim(), 'ok');
      await load();
    } catch (err) {
      say(err.message, 'error');
    }
  }

  function select(id) {
    dropIn.value = id;
    dropIn.dispatchEvent(new Event('input'));
    dropIn.dispatchEvent(new Event('change'));
  }

  function button(text, testid, fn, disabled) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-quiet';
    b.textContent = text;
    b.dataset.testid = testid;
    b.disabled = !!disabled;
    b.addEventListener('click', fn);
    return b;
  }

  // Each drop's photo thumbnail, kept across renders (a row is rebuilt on
  // every load): shown once it loads, hidden when the drop has none, and
  // the row's "Remove photo" shows with it.
  const thumbs = new Map();
  function thumb(id) {
    let img = thumbs.get(id);
    if (img) return img;
    img = document.createElement('img');
    img.dataset.testid = 'drop-photo-' + id;
    img.alt = '';
    img.width = 32;
    img.height = 32;
    img.style.cssText = 'width:32px;height:32px;object-fit:cover;border-radius:6px;flex:none';
    img.hidden = true;
    const sync = () => {
      const b = listEl.querySelector('[data-testid="drop-photo-delete-' + id + '"]');
      if (b) b.hidden = img.hidden;
    };
    img.addEventListener('load', () => { img.hidden = false; sync(); });
    img.addEventListener('error', () => { img.hidden = true; sync(); });
    img.src = '/v1/drops/' + enc(id) + '/photo?v=' + Date.now();
    thumbs.set(id, img);
    return img;
  }

  async function removePhoto(d) {
    if (!window.confirm('Remove the photo of ' + d.id + '? The product card then shows none.')) return;
    try {
      await call('DELETE', '/v1/drops/' + enc(d.id) + '/photo');
      const img = thumbs.get(d.id);
      if (img) { img.hidden = true; img.removeAttribute('src'); }
      const b = listEl.querySelector('[data-testid="drop-photo-delete-' + d.id + '"]');
      if (b) b.hidden = true;
      say('Removed the photo of ' + d.id, 'ok');
    } catch (err) {
      say(err.message, 'error');
    }
  }

  function render() {
    listEl.textContent = '';
    rosEl.textContent = '';
    for (const d of drops) {
      const li = document.createElement('li');
      li.className = 'drop-row';
      li.dataset.testid = 'drop-row-' + d.id;
      li.dataset.state = d.state;
      const k = d.skus[0] || {};
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = d.id + ' · ' + (k.name || k.sku) + ' · ' + LivedropPlayer.formatMoney(k.price_cents, k.currency) +
        (k.prices ? ' (' + showPrices(k.prices) + ')' : '') + ' · ' + d.state +
        (d.opens_at ? ' · opens ' + new Date(d.opens_at).toLocaleString() : '');
      const img = thumb(d.id);
      const rm = button('Remove photo', 'drop-photo-delete-' + d.id, () => removePhoto(d));
      rm.hidden = img.hidden || !img.getAttribute('src');
      li.append(img, what,
        button('Use', 'drop-use-' + d.id, () => select(d.id)),
        button('Edit', 'drop-edit-' + d.id, () => { toForm(d); say(''); }, d.state !== 'created'),
        button('Duplicate', 'drop-duplicate-' + d.id, () => duplicate(d)), rm);
      listEl.append(li);
      if (d.state === 'closed') continue;
      const item = document.createElement('li');
      item.dataset.testid = 'ros-' + d.id;
      item.textContent = (d.opens_at ? new Date(d.opens_at).toLocaleTimeString() : 'unscheduled') + ' · ' + d.id + ' · ' + (k.name || k.sku) + ' · ' + d.state;
      rosEl.append(item);
    }
  }

  // The next drop of the run of show: the first not yet open, else the
  // first open one that is not the one in the drop panel.
  function nextDrop() {
    const live = drops.filter((d) => d.state !== 'closed');
    return live.find((d) => d.state === 'created' && d.id !== dropIn.value.trim()) ||
      live.find((d) => d.id !== dropIn.value.trim()) || live[0];
  }

  $('pin-next').addEventListener('click', async (ev) => {
    const btn = ev.currentTarget;
    const d = nextDrop();
    if (!d) { say('No drop left in the run of show.', 'error'); return; }
    btn.disabled = true;
    try {
      select(d.id);
      const stream = d.stream || streamIn.value.trim();
      await call('POST', '/v1/streams/' + enc(stream) + '/overlays', { type: 'product', drop: d.id, sku: d.skus[0].sku });
      say('Pinned ' + (d.skus[0].name || d.skus[0].sku) + ' of ' + d.id, 'ok');
    } catch (err) {
      say(err.message, 'error');
    } finally {
      btn.disabled = false;
    }
  });

  async function load() {
    if (!token()) return;
    try {
      drops = (await call('GET', '/v1/drops')).drops || [];
      render();
    } catch (err) {
      say(err.message, 'error');
    }
  }
  $('drops-refresh').addEventListener('click', load);

  // The desk shows once the console signed in: load then, and every few
  // seconds while it shows (states change on their own at opens_at).
  const desk = $('desk');
  let timer = 0;
  new MutationObserver(() => {
    clearInterval(timer);
    if (!desk.hidden) { load(); timer = setInterval(load, 3000); }
  }).observe(desk, { attributes: true, attributeFilter: ['hidden'] });
  toForm(null);
})();
