/* Switchboard form embed: <script src=".../forms/SLUG/embed.js" async></script>
   Puts the form in an iframe right after this script tag and keeps its height fitted. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var src = {{ src|tojson }};
  var lang = script.getAttribute("data-lang");
  if (lang) { src += "&lang=" + encodeURIComponent(lang); }
  var frame = document.createElement("iframe");
  frame.src = src;
  frame.title = script.getAttribute("data-title") || {{ title|tojson }};
  frame.setAttribute("loading", "lazy");
  frame.style.cssText = "width:100%;max-width:42rem;border:0;min-height:32rem;display:block";
  script.parentNode.insertBefore(frame, script.nextSibling);
  var origin = new URL(src).origin;
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) { return; }
    var h = event.data && event.data.switchboardFormHeight;
    if (typeof h === "number" && h > 0 && h < 20000) { frame.style.height = h + "px"; }
  });
})();
