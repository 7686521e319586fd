// Renders the OpenAPI document as a browsable list; no third-party code, no CDN.
(function () {
  "use strict";
  var root = document.getElementById("api-docs");
  if (!root) { return; }
  var strings = JSON.parse(root.dataset.strings || "{}");
  function t(key, name, value) {
    return (strings[key] || key).replace("%(" + name + ")s", value);
  }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }
  fetch(root.dataset.spec, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (doc) {
      root.textContent = "";
      Object.keys(doc.paths).sort().forEach(function (path) {
        var item = doc.paths[path];
        Object.keys(item).forEach(function (method) {
          var op = item[method];
          var box = el("div", null, "op");
          box.appendChild(el("span", method, "method"));
          box.appendChild(el("code", path));
          box.appendChild(el("p", op.summary || ""));
          if (op.description) { box.appendChild(el("p", op.description)); }
          var params = (op.parameters || []).map(function (p) { return p.name + " (" + p["in"] + ")"; });
          if (params.length) { box.appendChild(el("p", t("parameters", "list", params.join(", ")))); }
          box.appendChild(el("p", t("responses", "list", Object.keys(op.responses).join(", "))));
          root.appendChild(box);
        });
      });
    })
    .catch(function (err) { root.textContent = t("failed", "error", String(err)); });
})();
