// The pickup desk's service worker (GET /desk-sw.js, scope /desk): it keeps
// the desk page and its assets in the browser's cache, so a reload or a
// browser restart at the stall while the venue's internet is down brings the
// page back, with the list and collections desk.js keeps in localStorage.
// The page is fetched from the network first (a new build reaches the desk
// as soon as it is online) and from the cache when the network fails or
// hangs; the versioned assets come from the cache. The desk's API calls
// (/v1/pickups...) are left to the network: the page itself keeps working
// offline and syncs when it can. The asset list is filled in by the origin,
// so a new build is a new worker.
'use strict';
const ASSETS = {{.Assets}};
const PAGE = '/desk';
const PREFIX = 'livedrop-desk-';
const CACHE = PREFIX + ASSETS.map((u) => u.slice(u.indexOf('?v=') + 3)).join('-').slice(0, 60);
const PAGE_TIMEOUT_MS = 4000;

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll([PAGE].concat(ASSETS))).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

// page answers a navigation to the desk: the network's page (kept for next
// time) unless it fails or takes too long, then the kept one.
async function page(req) {
  const cache = await caches.open(CACHE);
  const net = fetch(req).then((res) => {
    if (res.ok) cache.put(PAGE, res.clone());
    return res;
  });
  const late = new Promise((resolve) => setTimeout(resolve, PAGE_TIMEOUT_MS));
  try {
    const res = await Promise.race([net, late]);
    if (res) return res;
  } catch (_) { /* offline: the kept page */ }
  const kept = await cache.match(PAGE);
  return kept || net;
}

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  if (req.method !== 'GET') return;
  const u = new URL(req.url);
  if (u.origin !== self.location.origin) return;
  if (req.mode === 'navigate' && u.pathname === PAGE) {
    ev.respondWith(page(req));
    return;
  }
  if (ASSETS.indexOf(u.pathname + u.search) >= 0) {
    ev.respondWith(caches.open(CACHE).then((c) => c.match(req)).then((hit) => hit || fetch(req)));
  }
});
