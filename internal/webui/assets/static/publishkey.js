// livedrop seller console, publish panel: the fields OBS asks for (Server:
// this origin's WHIP URL of the stream; Bearer Token: the stream's publish
// key) and the control API that makes, rotates and revokes the key
// (POST and DELETE /v1/streams/{stream}/publish-key, the console's token).
// The origin never shows a key again: it is shown once, when made.
'use strict';

(function () {
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const streamIn = $('stream');
  const server = $('obs-server');
  const keyOut = $('obs-key');
  const endPub = $('end-publisher');
  const rotateBtn = $('key-rotate');
  const revokeBtn = $('key-revoke');
  const state = $('key-state');
  const golive = $('golive-link');
  const noticeEl = $('notice');

  const stream = () => streamIn.value.trim();
  const token = () => { try { return sessionStorage.getItem('livedrop.token') || ''; } catch (_) { return ''; } };
  const keyPath = () => '/v1/streams/' + encodeURIComponent(stream()) + '/publish-key' + (endPub.checked ? '?end_publisher=true' : '');

  function show() {
    server.value = new URL('/whip/' + encodeURIComponent(stream()), location.href).href;
    golive.href = '/golive/' + encodeURIComponent(stream());
  }

  function say(text, ok) {
    noticeEl.textContent = text;
    noticeEl.dataset.state = ok ? 'ok' : 'error';
  }

  function setState(s, text) {
    state.dataset.state = s;
    state.textContent = text;
  }

  async function call(method, btn) {
    btn.disabled = true;
    try {
      const res = await fetch(keyPath(), {
        method, cache: 'no-store',
        headers: { 'Authorization': 'Bearer ' + token(), 'Accept': 'application/json' },
      });
      const data = await res.json().catch(() => null);
      if (!res.ok) throw new Error(res.status + ' ' + ((data && data.error) || res.statusText));
      return data;
    } finally {
      btn.disabled = false;
    }
  }

  rotateBtn.addEventListener('click', async () => {
    try {
      const a = await call('POST', rotateBtn);
      keyOut.value = a.key;
      setState('open', 'key set');
      say('New key for ' + a.stream + (a.ended_publisher ? '; the live publisher was ended' : '') +
        ': put it in OBS (Bearer Token) or the go-live page; the old one no longer works.', true);
    } catch (err) {
      say('New key: ' + err.message, false);
    }
  });

  revokeBtn.addEventListener('click', async () => {
    try {
      const a = await call('DELETE', revokeBtn);
      keyOut.value = '';
      setState('closed', 'revoked');
      say('Key revoked for ' + a.stream + ': nobody can publish it until you make a new key' +
        (a.ended_publisher ? '; the live publisher was ended.' : '.'), true);
    } catch (err) {
      say('Revoke: ' + err.message, false);
    }
  });

  streamIn.addEventListener('input', () => {
    show();
    keyOut.value = '';
    setState('', 'key unknown');
  });
  show();
})();
