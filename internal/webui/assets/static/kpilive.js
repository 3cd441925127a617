// The live KPI strip of the report page: the figures a seller watches
// during the show (viewers now, peak, conversion, GMV per hour, new emails
// with consent), per channel and per region, with the last five minutes of
// viewers now as a line. It draws what report.js fetched each second (the 'livedrop:report'
// event), never fetching or computing a figure itself.
(() => {
  'use strict';
  const KEEP = 300; // seconds of history drawn
  const root = document.querySelector('[data-testid="kpi-live"]');
  if (!root) return;
  const SVG = 'http://www.w3.org/2000/svg';
  const history = []; // {at, now: {scope: current viewers}}

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function line(points, max) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + KEEP + ' 40');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'viewers now, last five minutes');
    const p = document.createElementNS(SVG, 'polyline');
    const off = KEEP - points.length;
    p.setAttribute('points', points.map((v, i) => (off + i) + ',' + (40 - 38 * v / Math.max(1, max))).join(' '));
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', 'currentColor');
    svg.append(p);
    return svg;
  }

  function card(scope, f) {
    const c = el('div', undefined, 'panel');
    c.dataset.scope = scope;
    c.append(el('h3', scope));
    const dl = el('dl');
    for (const [k, v] of [['now', f.current_concurrent], ['peak', f.peak_concurrent], ['viewers', f.unique_viewers],
      ['buyers', f.buyers], ['conversion', (f.conversion * 100).toFixed(1) + ' %'], ['GMV/h', (f.gmv_per_hour_cents / 100).toFixed(2)],
      ['consents', f.new_consents]]) {
      const d = el('div');
      d.dataset.kpi = k;
      d.append(el('dt', k), el('dd', v));
      dl.append(d);
    }
    const pts = history.map((h) => h.now[scope] || 0);
    c.append(dl, line(pts, Math.max(...pts, 1)));
    return c;
  }

  document.addEventListener('livedrop:report', (e) => {
    const rep = e.detail;
    const scopes = { total: rep.total };
    for (const [split, prefix] of [['by_channel', 'channel:'], ['by_region', 'region:']]) {
      const m = rep[split] || {};
      Object.keys(m).sort().forEach((k) => { scopes[prefix + k] = m[k]; });
    }
    const now = {};
    Object.keys(scopes).forEach((s) => { now[s] = scopes[s].current_concurrent; });
    history.push({ at: Date.now(), now });
    if (history.length > KEEP) history.shift();
    root.replaceChildren(...Object.keys(scopes).map((s) => card(s, scopes[s])));
  });
})();
