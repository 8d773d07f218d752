// appflowd console: while a run is in progress ([data-live] on the page),
// fetch the page again every second and swap in its [data-live-region]
// elements, so counts and statuses update without a reload. No build step.
(function () {
  'use strict';
  var every = 1000;
  function live() { return document.querySelector('[data-live]') !== null; }
  function refresh() {
    fetch(location.href, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'text/html' } })
      .then(function (r) {
        if (!r.ok) { throw new Error('HTTP ' + r.status); }
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        if (!doc.querySelector('[data-live-region]')) {
          location.reload(); // not this page any more (signed out, deleted): show what is
          return;
        }
        document.querySelectorAll('[data-live-region]').forEach(function (el) {
          var fresh = el.id ? doc.getElementById(el.id) : null;
          if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
        });
        if (live()) { setTimeout(refresh, every); }
      })
      .catch(function () { setTimeout(refresh, 5 * every); });
  }
  if (live()) { setTimeout(refresh, every); }
})();
