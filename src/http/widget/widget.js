/*! blogcord widget: a post's rating and its Discord discussion. No dependencies.
 * <div data-blogcord data-url="https://blog.example/post" data-api="https://bot.example:8787"></div>
 * <script src="https://bot.example:8787/widget.js" async></script>
 * Options: data-guild, data-theme="auto|light|dark", data-order="oldest|newest", lang (or data-lang; default the
 * page's), data-heading, data-heading-level (2-6), data-style="none" (no built-in CSS), data-rating="1" (JSON-LD
 * aggregateRating). The markup is the server's fragment (GET /embed/posts), the same that readers without
 * JavaScript and search engines get; this script inserts it (or keeps one included at build time) and enhances
 * it: relative times, spoilers that reveal on click or keyboard, "Show more" without leaving the page. */
(function () {
  'use strict';
  var script = document.currentScript;
  var scriptOrigin = '';
  try { if (script && script.src) scriptOrigin = new URL(script.src, location.href).origin; } catch (e) { /* keep '' */ }

  function langOf(root) {
    return root.getAttribute('lang') || root.getAttribute('data-lang') || document.documentElement.lang || 'en';
  }

  function pageUrl(root) {
    var own = root.getAttribute('data-url');
    if (own) return own;
    var canonical = document.querySelector('link[rel="canonical"]');
    if (canonical && canonical.href) return canonical.href;
    return location.origin + location.pathname;
  }

  var UNITS = [['year', 31536e6], ['month', 2592e6], ['week', 6048e5], ['day', 864e5], ['hour', 36e5], ['minute', 6e4]];
  function relative(lang, date) {
    var diff = date.getTime() - Date.now();
    try {
      var rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
      for (var i = 0; i < UNITS.length; i++) {
        if (Math.abs(diff) >= UNITS[i][1]) return rtf.format(Math.round(diff / UNITS[i][1]), UNITS[i][0]);
      }
      return rtf.format(0, 'minute');
    } catch (e) { return null; }
  }

  // Dates in the reader's language and time zone: relative in the meta line, exact on hover (title).
  function localTimes(root, lang) {
    var times = root.querySelectorAll('time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      var d = new Date(t.getAttribute('datetime'));
      if (isNaN(d.getTime()) || t.getAttribute('data-local')) continue;
      t.setAttribute('data-local', '1');
      var exact;
      try { exact = new Intl.DateTimeFormat(lang, { dateStyle: 'long', timeStyle: 'short' }).format(d); } catch (e) { exact = d.toLocaleString(); }
      t.title = exact;
      var style = t.getAttribute('data-style');
      var rel = t.classList.contains('blogcord-date') || style === 'R' ? relative(lang, d) : null;
      if (rel) t.textContent = rel;
      else if (style === 'd' || style === 'D') t.textContent = new Intl.DateTimeFormat(lang, { dateStyle: style === 'd' ? 'short' : 'long' }).format(d);
      else if (style) t.textContent = exact;
    }
  }

  function reveal(spoiler) {
    if (spoiler.classList.contains('blogcord-spoiler--shown')) return false;
    spoiler.classList.add('blogcord-spoiler--shown');
    return true;
  }

  function showMore(root, link) {
    if (link.getAttribute('aria-busy')) return;
    link.setAttribute('aria-busy', 'true');
    fetch(link.href, { credentials: 'omit' })
      .then(function (res) { if (!res.ok) throw new Error('HTTP ' + res.status); return res.text(); })
      .then(function (html) {
        var tpl = document.createElement('template');
        tpl.innerHTML = html;
        var list = root.querySelector('.blogcord-thread');
        var page = tpl.content.querySelector('.blogcord-page');
        var first = page && page.firstElementChild;
        while (page && page.firstElementChild) list.appendChild(page.firstElementChild);
        var wrap = link.closest('.blogcord-more-wrap');
        var next = tpl.content.querySelector('.blogcord-more-wrap');
        if (next) wrap.replaceWith(next); else wrap.remove();
        localTimes(root, langOf(root));
        dropBroken(root);
        if (first) { first.setAttribute('tabindex', '-1'); first.focus({ preventScroll: true }); }
      })
      .catch(function () { link.removeAttribute('aria-busy'); });
  }

  // An avatar image that cannot be loaded goes, and the letter under it shows.
  function dropBroken(root) {
    root.querySelectorAll('img.blogcord-avatar-img').forEach(function (img) { if (img.complete && !img.naturalWidth) img.remove(); });
  }

  function enhance(root) {
    var heading = root.getAttribute('data-heading');
    var h = root.querySelector('.blogcord-heading');
    if (heading && h) h.textContent = heading;
    localTimes(root, langOf(root));
    dropBroken(root);
    if (root.getAttribute('data-blogcord-enhanced')) return;
    root.setAttribute('data-blogcord-enhanced', '1');
    root.addEventListener('error', function (e) {
      var t = e.target;
      if (t instanceof HTMLImageElement && t.classList.contains('blogcord-avatar-img')) t.remove();
    }, true);
    root.addEventListener('click', function (e) {
      var target = e.target instanceof Element ? e.target : null;
      var spoiler = target && target.closest('.blogcord-spoiler');
      if (spoiler && reveal(spoiler)) { e.preventDefault(); return; }
      var more = target && target.closest('a.blogcord-more');
      if (more) { e.preventDefault(); showMore(root, more); }
    });
    root.addEventListener('keydown', function (e) {
      var target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      if ((e.key === 'Enter' || e.key === ' ') && target.matches('.blogcord-spoiler')) { e.preventDefault(); reveal(target); }
      if (e.key === ' ' && target.matches('a.blogcord-more')) { e.preventDefault(); showMore(root, target); }
    });
  }

  function note(root, lang, key, fallback) {
    var api = apiOf(root);
    var show = function (text) {
      var p = document.createElement('p');
      p.className = 'blogcord-note';
      p.textContent = text;
      root.replaceChildren(p);
    };
    show(fallback);
    fetch(api + '/widget/i18n/' + encodeURIComponent(lang.split('-')[0].toLowerCase()) + '.json', { credentials: 'omit' })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (body) { if (body && body.strings[key]) show(body.strings[key]); })
      .catch(function () { /* keep the English note */ });
  }

  function apiOf(root) { return (root.getAttribute('data-api') || scriptOrigin).replace(/\/+$/, ''); }

  function load(root) {
    if (root.getAttribute('data-blogcord-state')) return;
    root.setAttribute('data-blogcord-state', 'loading');
    root.setAttribute('aria-busy', 'true');
    var lang = langOf(root);
    var q = '?url=' + encodeURIComponent(pageUrl(root)) + '&lang=' + encodeURIComponent(lang);
    var opts = { guild: 'data-guild', theme: 'data-theme', order: 'data-order', level: 'data-heading-level', style: 'data-style', rating: 'data-rating' };
    for (var k in opts) { var v = root.getAttribute(opts[k]); if (v) q += '&' + k + '=' + encodeURIComponent(v); }
    var done = function (state) { root.setAttribute('data-blogcord-state', state); root.removeAttribute('aria-busy'); };
    var included = root.querySelector('.blogcord'); // a fragment included when the blog was built
    fetch(apiOf(root) + '/embed/posts' + q, { credentials: 'omit', headers: { Accept: 'text/html' } })
      .then(function (res) {
        if (res.status === 404) { note(root, lang, 'notFound', 'No discussion on Discord yet.'); done('empty'); return; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text().then(function (html) { root.innerHTML = html; enhance(root); done('ready'); });
      })
      .catch(function () {
        if (included) { enhance(root); done('ready'); return; }
        note(root, lang, 'error', 'The discussion could not be loaded right now.');
        done('error');
      });
  }

  function init() {
    var roots = document.querySelectorAll('[data-blogcord]');
    for (var i = 0; i < roots.length; i++) load(roots[i]);
  }

  window.blogcord = { load: init };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
