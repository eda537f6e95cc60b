// The demo's two pages: /demo (the Discord side and the blog side, updated live by polling /demo/state) and the
// blog's post page with the real widget, as a blog embeds it.
import { escapeXml as esc, type SeedPost } from './seed.ts';

/** The blog's post page: the article and the widget snippet of docs/web.md, loaded from the bot's HTTP API. */
export function blogPage(post: SeedPost, postUrl: string, apiBase: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(post.title)}</title>
<link rel="canonical" href="${esc(postUrl)}">
<style>
  body { font: 17px/1.65 Georgia, 'Times New Roman', serif; max-width: 44rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; color: #222; background: #fdfcf9; }
  header.site { font: 600 14px/1.4 system-ui, sans-serif; letter-spacing: .08em; text-transform: uppercase; color: #8a1538; border-bottom: 1px solid #e4ded3; padding-bottom: .6rem; }
  h1 { font-size: 1.9rem; line-height: 1.25; margin: 1.2rem 0 .3rem; }
  .byline { font: 14px system-ui, sans-serif; color: #6b6b6b; margin: 0 0 1.2rem; }
  .blogcord { --blogcord-accent: #8a1538; font-size: 16px; border-top: 1px solid #e4ded3; padding-top: 1rem; }
</style></head>
<body>
  <header class="site">Digital Strategy · a blog</header>
  <article>
    <h1>${esc(post.title)}</h1>
    <p class="byline">${esc(post.date)} · by ${esc(post.author)}</p>
    ${post.paragraphs.map((p) => `<p>${esc(p)}</p>`).join('\n    ')}
  </article>
  <div id="discussion" data-blogcord data-url="${esc(postUrl)}" data-api="${esc(apiBase)}"></div>
  <script src="${esc(apiBase)}/widget.js" async></script>
  <script>
    // The demo page asks for a fresh widget when the discussion changed. The API's answers may be cached for 60 s,
    // so each refresh names the post with another utm_source (the link rules ignore it): a new cache entry.
    var refreshes = 0;
    window.refreshDiscussion = function () {
      var root = document.getElementById('discussion');
      if (!window.blogcord || root.getAttribute('data-blogcord-state') === 'loading') return;
      refreshes += 1;
      root.setAttribute('data-url', ${JSON.stringify(postUrl)} + '?utm_source=blogcord-demo-' + refreshes);
      root.removeAttribute('data-blogcord-state');
      window.blogcord.load();
    };
  </script>
</body></html>`;
}

export function demoPage(postPath: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>blogcord demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  * { box-sizing: border-box; }
  html, body { height: 100%; margin: 0; }
  body { display: grid; grid-template-rows: auto 1fr; font: 15px/1.375 'gg sans', 'Noto Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif; background: #1e1f22; }
  #bar { display: flex; gap: 1rem; align-items: baseline; padding: .55rem 1rem; background: #111214; color: #dbdee1; font-size: 13px; }
  #bar b { color: #fff; font-size: 14px; }
  #step { color: #b5bac1; flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  #step.done { color: #23a55a; }
  #step.error { color: #f23f43; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); min-height: 0; }
  .pane { display: grid; grid-template-rows: auto 1fr; min-height: 0; }
  .pane > h2 { margin: 0; padding: .7rem 1rem; font-size: 15px; font-weight: 600; }
  #discord { background: #313338; color: #dbdee1; border-right: 1px solid #1e1f22; }
  #discord > h2 { color: #f2f3f5; box-shadow: 0 1px 0 rgba(0,0,0,.25); }
  #discord > h2 .hash { color: #80848e; font-size: 20px; margin-right: .25rem; }
  #blog { background: #fdfcf9; }
  #blog > h2 { background: #f1ede4; color: #3c3c3c; border-bottom: 1px solid #e4ded3; }
  #blog iframe { width: 100%; height: 100%; border: 0; }
  #feed { overflow-y: auto; padding: .5rem 0 1.5rem; }
  .msg { display: grid; grid-template-columns: 40px 1fr; column-gap: 14px; padding: .3rem 1rem .3rem; margin-top: .65rem; }
  .msg:hover { background: #2e3035; }
  .avatar { width: 40px; height: 40px; border-radius: 50%; display: grid; place-items: center; color: #fff; font-weight: 600; font-size: 16px; grid-row: span 3; margin-top: 2px; }
  .head { display: flex; gap: .5rem; align-items: baseline; }
  .name { color: #f2f3f5; font-weight: 500; }
  .tag { background: #5865f2; color: #fff; font-size: 10px; font-weight: 600; padding: 0 .3rem; border-radius: 3px; line-height: 15px; }
  .time { color: #949ba4; font-size: 12px; }
  .text { white-space: pre-wrap; overflow-wrap: anywhere; color: #dbdee1; }
  .edited { color: #949ba4; font-size: 10px; margin-left: .25rem; }
  .reply-to { grid-column: 2; color: #b5bac1; font-size: 13px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; margin-bottom: 2px; }
  .reply-to::before { content: '╭ '; color: #4e5058; }
  .reply-to b { color: #f2f3f5; font-weight: 500; margin-right: .3rem; }
  .embed { display: grid; max-width: 520px; background: #2b2d31; border-left: 4px solid #5865f2; border-radius: 4px; padding: .6rem .9rem .8rem .8rem; margin-top: .35rem; gap: .3rem; }
  .embed .author { font-size: 13px; color: #f2f3f5; font-weight: 600; }
  .embed .title { color: #00a8fc; font-weight: 600; }
  .embed .title a { color: inherit; text-decoration: none; }
  .embed .desc { font-size: 14px; white-space: pre-wrap; }
  .embed .fields { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .4rem .8rem; }
  .embed .field { font-size: 14px; grid-column: 1 / -1; }
  .embed .field.inline { grid-column: auto; }
  .embed .field b { display: block; color: #f2f3f5; font-size: 13px; }
  .embed img { max-width: 100%; border-radius: 4px; margin-top: .3rem; }
  .embed .footer { color: #b5bac1; font-size: 12px; }
  .reactions { display: flex; flex-wrap: wrap; gap: .25rem; margin-top: .35rem; }
  .reaction { background: #2b2d31; border: 1px solid #3f4147; border-radius: 8px; padding: .05rem .45rem; font-size: 14px; color: #dbdee1; }
  .reaction.many { background: #373a54; border-color: #5865f2; }
  .thread-card { margin-top: .35rem; background: #2b2d31; border-radius: 6px; padding: .4rem .7rem; max-width: 520px; font-size: 13px; color: #b5bac1; }
  .thread-card b { color: #f2f3f5; }
  .divider { margin: 1.2rem 1rem .2rem; padding: .45rem .7rem; border-radius: 6px; background: #2b2d31; color: #f2f3f5; font-weight: 600; }
  .divider span { color: #949ba4; font-weight: 400; }
  .ephemeral { background: rgba(88,101,242,.06); border-left: 2px solid #5865f2; }
  .only-you { grid-column: 2; color: #949ba4; font-size: 12px; margin-top: .2rem; }
  .command-line { grid-column: 2; color: #b5bac1; font-size: 13px; margin-bottom: 2px; }
  .command-line .cmd { color: #00a8fc; }
  a { color: #00a8fc; }
  pre { background: #1e1f22; border: 1px solid #1e1f22; border-radius: 4px; padding: .4rem .5rem; margin: .25rem 0; font-size: 12px; line-height: 1.35; white-space: pre; overflow-x: auto; }
  .ts { background: rgba(78,80,88,.48); border-radius: 3px; padding: 0 .15rem; }
  code { background: #1e1f22; padding: 0 .2rem; border-radius: 3px; font-size: 13px; }
  .empty { color: #949ba4; padding: 1rem; }
</style></head>
<body>
<div id="bar"><b>blogcord demo</b><span id="step">starting…</span><span id="counts"></span></div>
<main>
  <section class="pane" id="discord"><h2><span class="hash">#</span><span id="channel">posts</span> <span style="color:#949ba4;font-weight:400;font-size:13px">· the local Discord (read-only)</span></h2><div id="feed"><p class="empty">The local Discord, the blog and the bot are starting…</p></div></section>
  <section class="pane" id="blog"><h2>The blog · the post page with the blogcord widget</h2><iframe id="blogframe" title="the blog's post page" src="about:blank"></iframe></section>
</main>
<script>
(function () {
  var POST_PATH = ${JSON.stringify(postPath)};
  var COLORS = ['#5865f2', '#3ba55c', '#faa61a', '#ed4245', '#eb459e', '#9b59b6', '#1abc9c', '#e67e22'];
  function color(name) { var h = 0; for (var i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0; return COLORS[h % COLORS.length]; }
  function esc(s) { return String(s == null ? '' : s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'); }
  // Discord's markdown, the part the bot writes: **bold**, *italic*, [text](url), <url>, \`code\`, > quotes.
  function md(s) {
    // Code blocks first: nothing inside them is formatted.
    return String(s == null ? '' : s).split(/\`\`\`(?:[a-z]*\\n)?/).map(function (p, i) { return i % 2 ? '<pre>' + esc(p.replace(/\\n$/, '')) + '</pre>' : inline(p); }).join('');
  }
  function ago(sec) {
    var d = Math.round(Date.now() / 1000 - sec);
    return d < 45 ? 'just now' : d < 3600 ? Math.round(d / 60) + ' minutes ago' : new Date(sec * 1000).toLocaleString('en-GB');
  }
  function inline(s) {
    var t = esc(s);
    t = t.replace(/&lt;t:(\\d+)(?::([a-zA-Z]))?&gt;/g, function (_, n, style) { return '<span class="ts">' + (style === 'R' ? ago(Number(n)) : new Date(Number(n) * 1000).toLocaleString('en-GB')) + '</span>'; });
    t = t.replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, function (_, a, u) { return '<a href="' + u + '" target="_blank" rel="noopener">' + a + '</a>'; });
    t = t.replace(/&lt;(https?:[^\\s]+?)&gt;/g, '<a href="$1" target="_blank" rel="noopener">$1</a>');
    t = t.replace(/\\*\\*([^*]+)\\*\\*/g, '<b>$1</b>').replace(/(^|[^*])\\*([^*\\n]+)\\*/g, '$1<i>$2</i>').replace(/\`([^\`]+)\`/g, '<code>$1</code>');
    t = t.replace(/\\\\([^\\w\\s])/g, '$1');
    t = t.replace(/^-# (.*)$/gm, '<span style="font-size:12px;color:#949ba4">$1</span>').replace(/^&gt; ?(.*)$/gm, '<span style="border-left:3px solid #4e5058;padding-left:.5rem">$1</span>');
    return t;
  }
  function time(iso) { var d = new Date(iso); return 'Today at ' + d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' }); }
  function embed(e) {
    var h = '<div class="embed" style="border-left-color:' + (e.color != null ? '#' + e.color.toString(16).padStart(6, '0') : '#5865f2') + '">';
    if (e.author) h += '<div class="author">' + esc(e.author.name) + '</div>';
    if (e.title) h += '<div class="title">' + (e.url ? '<a href="' + esc(e.url) + '" target="_blank" rel="noopener">' + md(e.title) + '</a>' : md(e.title)) + '</div>';
    if (e.description) h += '<div class="desc">' + md(e.description) + '</div>';
    if (e.fields && e.fields.length) h += '<div class="fields">' + e.fields.map(function (f) { return '<div class="field' + (f.inline ? ' inline' : '') + '"><b>' + md(f.name) + '</b>' + md(f.value) + '</div>'; }).join('') + '</div>';
    if (e.image && e.image.url) h += '<img alt="" src="' + esc(e.image.url) + '">';
    if (e.footer) h += '<div class="footer">' + esc(e.footer.text) + '</div>';
    return h + '</div>';
  }
  function message(m, extra) {
    var h = '<div class="msg' + (extra && extra.cls ? ' ' + extra.cls : '') + '" data-message="' + esc(m.id || '') + '">';
    if (m.replyTo) h += '<div></div><div class="reply-to"><b>@' + esc(m.replyTo.author) + '</b>' + esc(m.replyTo.excerpt) + '</div>';
    if (extra && extra.command) h += '<div></div><div class="command-line"><b style="color:#f2f3f5">' + esc(extra.user) + '</b> used <span class="cmd">' + esc(extra.command) + '</span></div>';
    h += '<div class="avatar" style="background:' + (m.bot ? '#5865f2' : color(m.author)) + '">' + esc(m.author.slice(0, 1).toUpperCase()) + '</div>';
    h += '<div><div class="head"><span class="name">' + esc(m.author) + '</span>' + (m.bot ? '<span class="tag">APP</span>' : '') + '<span class="time">' + time(m.at) + '</span></div>';
    if (m.content) h += '<div class="text">' + md(m.content) + (m.edited ? '<span class="edited">(edited)</span>' : '') + '</div>';
    (m.embeds || []).forEach(function (e) { h += embed(e); });
    (m.attachments || []).forEach(function (a) { h += a.image ? '<div class="embed" style="border:0;padding:0;background:none"><img alt="' + esc(a.filename) + '" src="' + esc(a.url) + '"></div>' : '<div><a href="' + esc(a.url) + '">' + esc(a.filename) + '</a></div>'; });
    if (m.reactions && m.reactions.length) h += '<div class="reactions">' + m.reactions.map(function (r) { return '<span class="reaction' + (r.count > 1 ? ' many' : '') + '">' + r.emoji + ' ' + r.count + '</span>'; }).join('') + '</div>';
    if (m.threadName) h += '<div class="thread-card">🧵 <b>' + esc(m.threadName) + '</b> · ' + m.threadCount + ' messages</div>';
    if (extra && extra.ephemeral) h += '<div class="only-you">👁 Only you can see this</div>';
    return h + '</div></div>';
  }
  function render(s) {
    var h = '';
    var items = [];
    if (s.channel) s.channel.messages.forEach(function (m) { items.push({ at: m.at, html: null, m: m }); });
    s.commands.forEach(function (c) { items.push({ at: c.at, c: c }); });
    items.sort(function (a, b) { return a.at < b.at ? -1 : a.at > b.at ? 1 : 0; });
    items.forEach(function (it) {
      if (it.m) {
        var m = it.m;
        if (s.thread && m.embeds.length && m.bot && !m.threadName && s.thread.messages) { m.threadName = s.thread.name; m.threadCount = s.thread.messages.length; }
        h += message(m);
      } else {
        var c = it.c;
        h += message({ author: 'blogcord', bot: true, content: c.content, embeds: c.embeds, at: c.at, id: '' }, { cls: c.ephemeral ? 'ephemeral' : '', command: c.command, user: c.user, ephemeral: c.ephemeral });
      }
    });
    if (s.thread) {
      h += '<div class="divider" id="thread">🧵 ' + esc(s.thread.name) + ' <span>· thread · ' + s.thread.messages.filter(function (m) { return !m.bot; }).length + ' replies</span></div>';
      s.thread.messages.forEach(function (m) { h += message(m); });
    }
    return h || '<p class="empty">Waiting for the first message…</p>';
  }
  var last = '';
  var frameReady = false;
  var refreshTimers = [];
  function refreshBlog() {
    refreshTimers.forEach(clearTimeout);
    var w = document.getElementById('blogframe').contentWindow;
    var go = function () { try { w.refreshDiscussion(); } catch (e) {} };
    refreshTimers = [setTimeout(go, 900), setTimeout(go, 3500)];
  }
  function poll() {
    fetch('/demo/state', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (s) {
      var step = document.getElementById('step');
      var lastStep = s.steps[s.steps.length - 1];
      step.textContent = s.error ? 'Error: ' + s.error : s.finished ? '✔ The story is finished (Ctrl-C in the terminal stops the demo)' : lastStep ? lastStep.text + '…' : 'starting…';
      step.className = s.error ? 'error' : s.finished ? 'done' : '';
      if (s.channel) document.getElementById('channel').textContent = s.channel.name;
      if (s.thread) document.getElementById('counts').textContent = s.thread.messages.filter(function (m) { return !m.bot; }).length + ' replies in the thread';
      var json = JSON.stringify([s.channel, s.thread, s.commands]);
      if (json !== last) {
        var feed = document.getElementById('feed');
        var atBottom = feed.scrollTop + feed.clientHeight >= feed.scrollHeight - 8;
        feed.innerHTML = render(s);
        if (atBottom && !s.finished && feed.scrollTop > 0) feed.scrollTop = feed.scrollHeight;
        last = json;
        if (frameReady) refreshBlog();
      }
      if (!frameReady && s.botReady) {
        frameReady = true;
        document.getElementById('blogframe').src = POST_PATH;
      }
    }).catch(function () {
      document.getElementById('step').textContent = 'The demo stopped.';
    }).finally(function () { setTimeout(poll, 700); });
  }
  poll();
})();
</script>
</body></html>`;
}
