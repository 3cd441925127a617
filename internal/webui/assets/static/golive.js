// livedrop go-live page: the seller publishes the phone's or laptop's
// camera and microphone to the origin over WHIP (POST /whip/{stream} on
// this host, the stream key as Bearer token, DELETE on the session URL to
// stop). The key is kept in this browser's storage after the first use.
'use strict';

(function () {
  const root = document.querySelector('[data-stream]');
  const stream = root.dataset.stream;
  const $ = (id) => document.querySelector('[data-testid="' + id + '"]');
  const preview = $('preview');
  const keyInput = $('key');
  const camSel = $('camera');
  const micSel = $('microphone');
  const startBtn = $('start');
  const stopBtn = $('stop');
  const notice = $('notice');
  const badge = $('live-state');
  const watching = $('viewers');
  const KEY_STORE = 'livedrop.publishKey.' + stream;

  let media = null; // the preview's MediaStream
  let pc = null;
  let session = null; // Location of the WHIP session
  let state = 'off';
  let audienceTimer = null;

  keyInput.value = localStorage.getItem(KEY_STORE) || '';

  function setState(s, text) {
    state = s;
    badge.dataset.state = s;
    badge.textContent = text;
    startBtn.disabled = s === 'connecting' || s === 'live';
    stopBtn.disabled = !(s === 'connecting' || s === 'live');
    clearInterval(audienceTimer);
    audienceTimer = null;
    watching.hidden = s !== 'live';
    if (s === 'live') {
      showAudience();
      audienceTimer = setInterval(showAudience, 2000);
    }
  }

  // How many watch, on every edge: the origin adds up what its edges
  // report (GET /v1/streams/{stream}/audience, the stream key as token).
  async function showAudience() {
    try {
      const res = await fetch(new URL('/v1/streams/' + encodeURIComponent(stream) + '/audience', location.href), {
        headers: { 'Authorization': 'Bearer ' + keyInput.value.trim() },
        cache: 'no-store',
      });
      if (!res.ok || state !== 'live') return;
      const a = await res.json();
      watching.dataset.count = String(a.viewers);
      watching.textContent = a.viewers === 1 ? '1 watching' : a.viewers + ' watching';
    } catch (e) {
      // the next poll tries again
    }
  }

  function say(text, kind) {
    notice.textContent = text;
    notice.dataset.state = kind || '';
  }

  async function openDevices() {
    const constraints = {
      video: camSel.value ? { deviceId: { exact: camSel.value } } : { width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
    };
    if (media) media.getTracks().forEach((t) => t.stop());
    media = await navigator.mediaDevices.getUserMedia(constraints);
    preview.srcObject = media;
    const devices = await navigator.mediaDevices.enumerateDevices();
    fill(camSel, devices.filter((d) => d.kind === 'videoinput'), media.getVideoTracks()[0]);
    fill(micSel, devices.filter((d) => d.kind === 'audioinput'), media.getAudioTracks()[0]);
  }

  function fill(sel, devices, track) {
    const current = track && track.getSettings().deviceId;
    sel.replaceChildren(...devices.map((d, i) => {
      const o = document.createElement('option');
      o.value = d.deviceId;
      o.textContent = d.label || (d.kind === 'videoinput' ? 'Camera ' : 'Microphone ') + (i + 1);
      o.selected = d.deviceId === current;
      return o;
    }));
  }

  // H.264 first: the origin forwards H.264 to every viewer as it comes.
  function preferH264(transceiver) {
    const caps = RTCRtpSender.getCapabilities('video');
    if (!caps || !transceiver.setCodecPreferences) return;
    const h264 = caps.codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
    const rest = caps.codecs.filter((c) => /rtx|red|ulpfec/i.test(c.mimeType));
    if (h264.length) transceiver.setCodecPreferences(h264.concat(rest));
  }

  function gathered(conn) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (conn.iceGatheringState === 'complete') resolve(); };
      conn.addEventListener('icegatheringstatechange', done);
      setTimeout(resolve, 3000); // publish with what was gathered
    });
  }

  async function start() {
    const key = keyInput.value.trim();
    if (!key) {
      say('Enter the stream key first.', 'error');
      keyInput.focus();
      return;
    }
    setState('connecting', 'connecting');
    say('');
    try {
      if (!media) await openDevices();
      pc = new RTCPeerConnection();
      const conn = pc;
      for (const track of media.getTracks()) {
        const tr = conn.addTransceiver(track, { direction: 'sendonly', streams: [media] });
        if (track.kind === 'video') preferH264(tr);
      }
      conn.onconnectionstatechange = () => {
        if (conn !== pc) return;
        if (conn.connectionState === 'connected') {
          setState('live', 'LIVE');
          say('You are live.', 'ok');
        } else if (conn.connectionState === 'failed') {
          stop('connection lost: press Go live to try again', 'error');
        }
      };
      await conn.setLocalDescription(await conn.createOffer());
      await gathered(conn); // the server takes no trickle: all candidates in the offer
      const res = await fetch(new URL('/whip/' + encodeURIComponent(stream), location.href), {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + key },
        body: conn.localDescription.sdp,
        cache: 'no-store',
      });
      const body = await res.text();
      if (res.status !== 201) {
        throw new Error(res.status === 401 ? 'wrong stream key' : (body.trim() || 'HTTP ' + res.status));
      }
      localStorage.setItem(KEY_STORE, key);
      const loc = res.headers.get('Location');
      session = loc ? new URL(loc, location.href).href : null;
      await conn.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (err) {
      stop(String(err.message || err), 'error');
    }
  }

  function stop(message, kind) {
    if (session) {
      fetch(session, { method: 'DELETE', keepalive: true, cache: 'no-store' }).catch(() => {});
      session = null;
    }
    if (pc) {
      pc.onconnectionstatechange = null;
      pc.close();
      pc = null;
    }
    setState('off', 'off air');
    say(message || 'Stopped.', kind);
  }

  startBtn.addEventListener('click', start);
  stopBtn.addEventListener('click', () => stop());
  camSel.addEventListener('change', () => openDevices().catch((e) => say(String(e), 'error')));
  micSel.addEventListener('change', () => openDevices().catch((e) => say(String(e), 'error')));
  window.addEventListener('pagehide', () => { if (session) stop(); });
  openDevices().catch((e) => say('camera: ' + (e.message || e), 'error'));

  // For tests and the curious.
  window.livedropGoLive = { state: () => state };
})();
