// Buy now, pick up later, on the viewer page: each product card gets a
// "pick up at the stall" choice; an order placed with it asks the edge for
// fulfilment "pickup", and its confirmation shows the pickup code (short
// code and QR, GET /v1/orders/{id}/pickup) to show at the seller's desk.
// watch.js calls window.livedropPickup at three points: card, decorate,
// confirmed.
(function () {
  'use strict';
  function card(c) {
    const label = document.createElement('label');
    label.className = 'card-pickup';
    label.style.display = 'block';
    label.style.fontSize = '.85rem';
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.testid = 'pickup-choice';
    label.append(box, document.createTextNode(' Pick up at the stall'));
    const code = document.createElement('div');
    code.className = 'pickup-code';
    code.dataset.testid = 'pickup-code';
    code.hidden = true;
    c.append(label, code);
  }

  function decorate(c, order) {
    const box = c.querySelector('[data-testid="pickup-choice"]');
    if (box && box.checked) order.fulfilment = 'pickup';
  }

  async function confirmed(c, data, api) {
    const out = c.querySelector('[data-testid="pickup-code"]');
    if (!out || !data || data.fulfilment !== 'pickup' || !data.id || !data.token) return;
    const path = '/v1/orders/' + encodeURIComponent(data.id) + '/pickup?token=' + encodeURIComponent(data.token);
    for (let i = 0; i < 5; i++) {
      try {
        const res = await fetch(api(path), { cache: 'no-store', headers: { 'Accept': 'application/json' } });
        if (res.ok) {
          const p = await res.json();
          out.textContent = '';
          const txt = document.createElement('p');
          txt.textContent = 'Pickup code: ';
          const b = document.createElement('b');
          b.dataset.testid = 'pickup-code-text';
          b.textContent = String(p.display || '');
          txt.append(b, document.createTextNode(' · show it at the stall'));
          const img = document.createElement('img');
          img.alt = 'QR code of pickup code ' + String(p.display || '');
          img.width = 160;
          img.height = 160;
          img.src = api(String(p.qr || ''));
          out.append(txt, img);
          out.hidden = false;
          return;
        }
        if (res.status === 404) return;
      } catch (_) { /* try again */ }
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
  }

  window.livedropPickup = { card, decorate, confirmed };
})();
