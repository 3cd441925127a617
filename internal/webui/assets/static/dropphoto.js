// dropphoto.js: the drop's product photo on the viewer page's product card
// (GET /v1/drops/{drop}/photo on this edge); a drop without one shows none.
'use strict';
window.LivedropDropPhoto = (() => {
  function fill(card, drop) {
    if (!drop) return;
    let img = card.querySelector('img.card-photo');
    const src = '/v1/drops/' + encodeURIComponent(drop) + '/photo';
    if (img && img.dataset.drop === drop) return;
    if (!img) {
      img = document.createElement('img');
      img.className = 'card-photo';
      img.dataset.testid = 'card-photo';
      img.setAttribute('data-testid', 'card-photo');
      img.alt = '';
      img.width = 56;
      img.height = 56;
      img.style.cssText = 'width:56px;height:56px;object-fit:cover;border-radius:8px;flex:none;margin-right:8px';
      img.hidden = true;
      img.addEventListener('load', () => { img.hidden = false; });
      img.addEventListener('error', () => { img.hidden = true; });
      card.prepend(img);
    }
    img.dataset.drop = drop;
    img.src = src;
  }
  return { fill };
})();
