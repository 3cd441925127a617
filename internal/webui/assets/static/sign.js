// A channel's printable QR sign: the stream's name and the next drop, read
// from GET /v1/drops/{drop}/sign?ch= (public, as the sign is); the QR code
// image comes from /v1/drops/{drop}/sign.png?ch=.
(() => {
  'use strict';
  const root = document.querySelector('main[data-drop]');
  const q = (id) => document.querySelector('[data-testid="' + id + '"]');
  const url = '/v1/drops/' + encodeURIComponent(root.dataset.drop) + '/sign?ch=' + encodeURIComponent(root.dataset.channel);
  fetch(url, { cache: 'no-store' }).then((res) => res.ok ? res.json() : Promise.reject(new Error('HTTP ' + res.status)))
    .then((s) => {
      q('sign-stream').textContent = s.stream;
      let next = s.product ? 'Next drop: ' + s.product : 'Drop ' + s.drop;
      if (s.opens_at) next += ' · ' + new Date(s.opens_at).toLocaleString();
      q('sign-next').textContent = next;
      q('sign-url').textContent = s.url;
    })
    .catch((e) => { q('sign-next').textContent = 'Sign unavailable: ' + e.message; });
  q('sign-print').addEventListener('click', () => window.print());
})();
