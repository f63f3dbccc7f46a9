/* 历城区政策问答 · chat widget for any portal page.
 *
 *   <script src="https://<service>/widget.js" data-api="https://<service>" defer></script>
 *
 * Adds a floating 智能问答 button. The button and its panel live in a Shadow DOM (styled through a
 * constructed stylesheet, which the portal's CSS and its CSP style-src cannot touch); the chat itself is
 * an iframe of the service's own origin (/widget), so every request it makes goes to the service only.
 */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__lichengQaWidget) return;
  window.__lichengQaWidget = true;
  var api;
  try { api = new URL(me.getAttribute("data-api") || me.src, location.href).origin; } catch (e) { return; }

  var host = document.createElement("div");
  host.id = "licheng-qa-widget";
  // Inline !important beats anything the portal's stylesheets say about this element.
  host.style.setProperty("all", "initial", "important");
  host.style.setProperty("display", "block", "important");
  var root = host.attachShadow({ mode: "open" });
  var css = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    ".fab { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000; display: inline-flex; align-items: center; gap: .4rem;",
    "  font: 600 16px/1.2 system-ui, -apple-system, 'PingFang SC', 'Hiragino Sans GB', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif;",
    "  color: #fff; background: #0b57d0; border: 0; border-radius: 999px; padding: .8rem 1.2rem; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".fab:focus-visible, .close:focus-visible { outline: 3px solid #f9ab00; outline-offset: 3px; }",
    ".fab[aria-expanded='true'] { display: none; }",
    ".panel { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483001; width: min(26rem, calc(100vw - 2rem));",
    "  height: min(40rem, calc(100vh - 2rem)); background: #fff; border-radius: 12px; overflow: hidden;",
    "  box-shadow: 0 8px 30px rgba(0,0,0,.3); display: flex; flex-direction: column; }",
    ".panel[hidden] { display: none; }",
    ".bar { display: flex; justify-content: flex-end; background: #0b57d0; }",
    ".close { font: 15px/1 system-ui, 'PingFang SC', 'Microsoft YaHei', sans-serif; color: #fff; background: transparent;",
    "  border: 0; padding: .5rem .9rem; cursor: pointer; min-height: 2.25rem; }",
    "iframe { flex: 1; width: 100%; border: 0; display: block; background: #fff; }",
    "@media (max-width: 480px) { .panel { inset: 0; width: 100vw; height: 100%; border-radius: 0; } }",
  ].join("\n");
  try {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    var style = document.createElement("style"); // older browsers: may be refused by a strict portal CSP
    style.textContent = css;
    root.appendChild(style);
  }

  var fab = document.createElement("button");
  fab.type = "button";
  fab.className = "fab";
  fab.textContent = "智能问答";
  fab.setAttribute("aria-expanded", "false");
  fab.setAttribute("aria-controls", "licheng-qa-panel");
  fab.setAttribute("aria-haspopup", "dialog");

  var panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "licheng-qa-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "智能问答");
  var bar = document.createElement("div");
  bar.className = "bar";
  var close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.textContent = "关闭 ✕";
  close.setAttribute("aria-label", "关闭智能问答");
  bar.appendChild(close);
  panel.appendChild(bar);
  var frame = null;

  function focusChat() {
    if (frame && frame.contentWindow) frame.contentWindow.postMessage({ type: "licheng-qa-focus" }, api);
  }
  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = "智能问答";
      frame.src = api + "/widget?embed=1";
      frame.addEventListener("load", focusChat);
      panel.appendChild(frame);
    }
    panel.hidden = false;
    fab.setAttribute("aria-expanded", "true");
    frame.focus();
    focusChat();
  }
  function shut() {
    panel.hidden = true;
    fab.setAttribute("aria-expanded", "false");
    fab.focus();
  }
  fab.addEventListener("click", open);
  close.addEventListener("click", shut);
  panel.addEventListener("keydown", function (ev) { if (ev.key === "Escape") shut(); });
  window.addEventListener("message", function (ev) {
    if (frame && ev.source === frame.contentWindow && ev.origin === api && ev.data && ev.data.type === "licheng-qa-close") shut();
  });
  root.appendChild(fab);
  root.appendChild(panel);
  (document.body || document.documentElement).appendChild(host);
})();
