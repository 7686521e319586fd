/* Public form: no double sends from one page, and the embed iframe keeps its height. */
(function () {
  "use strict";
  var form = document.querySelector("form.wf-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      // Disabled after the browser has collected the fields; the server dedupes anyway.
      window.setTimeout(function () { if (button) { button.disabled = true; } }, 0);
    });
    var invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); }
  }
  if (window.parent !== window && document.body.classList.contains("embedded")) {
    var report = function () {
      window.parent.postMessage({ switchboardFormHeight: document.documentElement.scrollHeight }, "*");
    };
    window.addEventListener("load", report);
    window.addEventListener("resize", report);
    report();
  }
})();
