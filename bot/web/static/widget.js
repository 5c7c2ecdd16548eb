// kefu's chat widget for a shop's own pages:
//   <script src="https://kefu.example/widget.js" data-shop="..." async></script>
// A round button in the corner opens the chat in a panel: an iframe of kefu's /chat page, so
// that the shop's styles and scripts and the chat's never touch each other, and the visitor's
// cookie stays kefu's. Optional: data-lang="zh|en"; data-user, data-expires and data-signature
// for a visitor logged in on the shop (see kefu's README, "Web chat").
(function () {
  "use strict";
  var TEXTS = __KEFU_TEXTS__;
  var script = document.currentScript;
  if (!script || window.__kefuWidget) return;
  window.__kefuWidget = true;
  var base = new URL(script.src, location.href).origin;
  var data = script.dataset;
  var lang = (data.lang || navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var words = TEXTS[lang];
  var query = new URLSearchParams({ embed: "1", lang: lang });
  if (data.shop) query.set("shop", data.shop);
  if (data.user && data.expires && data.signature) {
    query.set("user", data.user);
    query.set("expires", data.expires);
    query.set("signature", data.signature);
  }

  function style(element, rules) {
    for (var name in rules) element.style.setProperty(name, rules[name]);
  }

  var button = document.createElement("button");
  button.type = "button";
  // a speech bubble drawn here, so that it looks the same whatever fonts the visitor has
  var icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "28");
  icon.setAttribute("height", "28");
  icon.setAttribute("aria-hidden", "true");
  var path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  icon.appendChild(path);
  button.appendChild(icon);
  button.title = words.web_open;
  button.setAttribute("aria-label", words.web_open);
  button.setAttribute("aria-expanded", "false");
  style(button, {
    position: "fixed", right: "20px", bottom: "20px", "z-index": "2147483000",
    width: "56px", height: "56px", "border-radius": "50%", border: "0",
    background: "#1f6feb", color: "#fff", cursor: "pointer", padding: "0",
    display: "flex", "align-items": "center", "justify-content": "center",
    "box-shadow": "0 4px 14px rgba(0,0,0,.25)",
  });

  var panel = null;
  function open() {
    if (!panel) {
      panel = document.createElement("iframe");
      panel.src = base + "/chat?" + query.toString();
      panel.title = words.web_open;
      style(panel, {
        position: "fixed", right: "20px", bottom: "88px", "z-index": "2147483000",
        width: "min(380px, calc(100vw - 24px))", height: "min(600px, calc(100vh - 110px))",
        border: "0", "border-radius": "12px", background: "#fff",
        "box-shadow": "0 8px 30px rgba(0,0,0,.3)",
      });
      document.body.appendChild(panel);
    }
    panel.style.display = "block";
    button.title = words.web_close;
    button.setAttribute("aria-label", words.web_close);
    button.setAttribute("aria-expanded", "true");
  }
  function close() {
    if (panel) panel.style.display = "none";
    button.title = words.web_open;
    button.setAttribute("aria-label", words.web_open);
    button.setAttribute("aria-expanded", "false");
  }
  button.addEventListener("click", function () {
    if (panel && panel.style.display !== "none") close(); else open();
  });
  window.addEventListener("message", function (event) {
    if (event.origin === base && event.data && event.data.kefu === "close") close();
  });
  function place() { document.body.appendChild(button); }
  if (document.body) place(); else document.addEventListener("DOMContentLoaded", place);
})();
