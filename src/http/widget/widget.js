/*! blogcord widget: a post's rating and its Discord discussion. No dependencies.
 * <div data-blogcord data-url="https://blog.example/post" data-api="https://bot.example:8787"></div>
 * <script src="https://bot.example:8787/widget.js" async></script>
 * Optional: data-guild, data-heading, data-heading-level (2-6), data-style="none" (no built-in CSS).
 * Built-in rules are wrapped in :where() (zero specificity): override --blogcord-* or .blogcord-* freely. */
(function () {
  'use strict';
  var script = document.currentScript;
  var scriptOrigin = '';
  try { if (script && script.src) scriptOrigin = new URL(script.src, location.href).origin; } catch (e) { /* keep '' */ }

  var CSS =
    ':where(.blogcord){--blogcord-accent:#5865f2;--blogcord-text:inherit;--blogcord-muted:#6b7280;--blogcord-line:#d9dce1;' +
    '--blogcord-star:#e8a317;--blogcord-indent:1.1rem;--blogcord-gap:.9rem;--blogcord-font:inherit;' +
    'color:var(--blogcord-text);font-family:var(--blogcord-font);line-height:1.5;margin:2rem 0}' +
    ':where(.blogcord-heading){font-size:1.25em;margin:0 0 .25rem}' +
    ':where(.blogcord-stats){margin:0 0 var(--blogcord-gap);color:var(--blogcord-muted)}' +
    ':where(.blogcord-star){color:var(--blogcord-star)}' +
    ':where(.blogcord-list){list-style:none;margin:0;padding:0}' +
    ':where(.blogcord-replies){margin:var(--blogcord-gap) 0 0 var(--blogcord-indent);padding-left:var(--blogcord-indent);border-left:2px solid var(--blogcord-line)}' +
    ':where(.blogcord-reply){margin:0 0 var(--blogcord-gap)}' +
    ':where(.blogcord-meta){margin:0;font-size:.9em}' +
    ':where(.blogcord-author){font-weight:600}' +
    ':where(.blogcord-date,.blogcord-edited){color:var(--blogcord-muted)}' +
    ':where(.blogcord-text){margin:.2rem 0 0;white-space:pre-wrap;overflow-wrap:anywhere}' +
    ':where(.blogcord-deleted){margin:0;font-style:italic;color:var(--blogcord-muted)}' +
    ':where(.blogcord-files){margin:.25rem 0 0;padding-left:1.2rem;font-size:.9em}' +
    ':where(.blogcord-join){margin:var(--blogcord-gap) 0 0}' +
    ':where(.blogcord-join a){color:var(--blogcord-accent);font-weight:600}' +
    ':where(.blogcord-note){color:var(--blogcord-muted)}';

  function injectStyle() {
    if (document.getElementById('blogcord-style')) return;
    var style = document.createElement('style');
    style.id = 'blogcord-style';
    style.textContent = CSS;
    var head = document.head || document.documentElement;
    head.insertBefore(style, head.firstChild); // first, so the blog's own CSS comes later and wins
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function safeHref(url) {
    try { var u = new URL(url); return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null; } catch (e) { return null; }
  }

  var lang = document.documentElement.lang || undefined;
  function formatDate(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    try { return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(d); } catch (e) { return d.toLocaleString(); }
  }

  // Text with its http(s) links made clickable; every piece goes in as a text node.
  function appendText(parent, text) {
    var parts = String(text).split(/(https?:\/\/[^\s<>"']+)/g);
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i];
      if (!part) continue;
      if (i % 2 === 1) {
        var trail = (part.match(/[.,;:!?)\]]+$/) || [''])[0];
        var link = part.slice(0, part.length - trail.length);
        var href = safeHref(link);
        if (href) {
          var a = el('a', 'blogcord-textlink', link);
          a.href = href;
          a.rel = 'nofollow ugc noopener noreferrer';
          parent.appendChild(a);
          if (trail) parent.appendChild(document.createTextNode(trail));
          continue;
        }
      }
      parent.appendChild(document.createTextNode(part));
    }
  }

  function renderReplies(list, nodes, depth) {
    for (var i = 0; i < nodes.length; i++) {
      var c = nodes[i];
      var li = el('li', 'blogcord-reply' + (c.deleted ? ' blogcord-reply--deleted' : ''));
      li.setAttribute('data-depth', String(depth));
      var label;
      if (c.deleted) {
        li.appendChild(el('p', 'blogcord-deleted', c.hidden ? 'Hidden reply' : 'This reply was deleted.'));
        label = 'Replies to a deleted reply';
      } else {
        var article = el('article', 'blogcord-comment');
        var meta = el('p', 'blogcord-meta');
        meta.appendChild(el('span', 'blogcord-author', c.author));
        meta.appendChild(document.createTextNode(' · '));
        var time = el('time', 'blogcord-date', formatDate(c.createdAt));
        time.setAttribute('datetime', c.createdAt);
        meta.appendChild(time);
        if (c.editedAt) meta.appendChild(el('span', 'blogcord-edited', ' (edited)'));
        article.appendChild(meta);
        if (c.content) {
          var p = el('p', 'blogcord-text');
          appendText(p, c.content);
          article.appendChild(p);
        }
        var files = (c.attachments || []).filter(function (f) { return safeHref(f.url); });
        if (files.length) {
          var ul = el('ul', 'blogcord-files');
          ul.setAttribute('aria-label', 'Attachments');
          files.forEach(function (f) {
            var a = el('a', null, f.name || 'attachment');
            a.href = safeHref(f.url);
            a.rel = 'nofollow ugc noopener noreferrer';
            var item = el('li');
            item.appendChild(a);
            ul.appendChild(item);
          });
          article.appendChild(ul);
        }
        li.appendChild(article);
        label = 'Replies to ' + c.author;
      }
      if (c.replies && c.replies.length) {
        var sub = el('ol', 'blogcord-list blogcord-replies');
        sub.setAttribute('aria-label', label);
        renderReplies(sub, c.replies, depth + 1);
        li.appendChild(sub);
      }
      list.appendChild(li);
    }
  }

  function shell(root) {
    var level = Math.min(6, Math.max(2, parseInt(root.getAttribute('data-heading-level'), 10) || 2));
    var id = 'blogcord-' + Math.random().toString(36).slice(2, 9);
    var section = el('section', 'blogcord');
    section.setAttribute('aria-labelledby', id);
    var h = el('h' + level, 'blogcord-heading', root.getAttribute('data-heading') || 'Discussion on Discord');
    h.id = id;
    section.appendChild(h);
    return section;
  }

  function joinLink(section, url, text) {
    var href = url && safeHref(url);
    if (!href) return;
    var p = el('p', 'blogcord-join');
    var a = el('a', null, text);
    a.href = href;
    a.rel = 'noopener';
    p.appendChild(a);
    section.appendChild(p);
  }

  function render(root, post) {
    var section = shell(root);
    var stats = el('p', 'blogcord-stats');
    var rating = post.rating || { count: 0 };
    var label = rating.label || 'Be the first to rate';
    var ratingEl = el('span', 'blogcord-rating');
    if (label.charAt(0) === '\u2605') { // the star in its own span, so it can have its colour
      ratingEl.appendChild(el('span', 'blogcord-star', '\u2605'));
      label = label.slice(1);
    }
    ratingEl.appendChild(document.createTextNode(label));
    stats.appendChild(ratingEl);
    stats.appendChild(document.createTextNode(' · '));
    stats.appendChild(el('span', 'blogcord-count', plural(post.replies || 0, 'reply', 'replies')));
    section.appendChild(stats);
    if (post.discussion === 'closed') { // its thread or announcement was deleted in Discord
      section.appendChild(el('p', 'blogcord-note', 'Discussion closed.'));
    } else if (post.comments && post.comments.length) {
      var list = el('ol', 'blogcord-list blogcord-thread');
      list.setAttribute('aria-label', 'Replies from Discord');
      renderReplies(list, post.comments, 0);
      section.appendChild(list);
    } else {
      section.appendChild(el('p', 'blogcord-note', 'No replies yet.'));
    }
    joinLink(section, post.discord && post.discord.threadUrl, 'Join the discussion on Discord');
    root.replaceChildren(section);
  }

  function note(root, text) {
    var section = shell(root);
    section.appendChild(el('p', 'blogcord-note', text));
    root.replaceChildren(section);
  }

  function pageUrl(root) {
    var own = root.getAttribute('data-url');
    if (own) return own;
    var canonical = document.querySelector('link[rel="canonical"]');
    if (canonical && canonical.href) return canonical.href;
    return location.origin + location.pathname;
  }

  function load(root) {
    if (root.getAttribute('data-blogcord-state')) return;
    root.setAttribute('data-blogcord-state', 'loading');
    root.setAttribute('aria-busy', 'true');
    var api = (root.getAttribute('data-api') || scriptOrigin).replace(/\/+$/, '');
    var query = '?url=' + encodeURIComponent(pageUrl(root));
    var guild = root.getAttribute('data-guild');
    if (guild) query += '&guild=' + encodeURIComponent(guild);
    var done = function (state) { root.setAttribute('data-blogcord-state', state); root.removeAttribute('aria-busy'); };
    fetch(api + '/api/posts' + query, { credentials: 'omit', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 404) { note(root, 'No discussion on Discord yet.'); done('empty'); return; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json().then(function (post) { render(root, post); done('ready'); });
      })
      .catch(function () { note(root, 'The discussion could not be loaded right now.'); done('error'); });
  }

  function init() {
    var roots = document.querySelectorAll('[data-blogcord]');
    if (!roots.length) return;
    if (!document.querySelector('[data-blogcord][data-style="none"]')) injectStyle();
    for (var i = 0; i < roots.length; i++) load(roots[i]);
  }

  window.blogcord = { load: init };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
