"""The portal's only script: filters the list as one types or chooses, without a round trip.

Without it the filter form is an ordinary GET form and the server filters (same rules): the
script only makes it instant. It reads the rows' data-* attributes (written escaped by the
server) and its messages from a JSON block; it never builds HTML, so it cannot inject any.
Served from /portal.js so that the pages' Content-Security-Policy can forbid inline scripts.
"""

from __future__ import annotations

from typing import Final

SCRIPT: Final[str] = """(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) return;
  document.documentElement.classList.add("js");
  var msgs = {};
  var island = document.getElementById("portal-data");
  if (island) {
    try { msgs = JSON.parse(island.textContent); } catch (err) { msgs = {}; }
  }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.app[data-app]"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("tbody.agency"));
  var count = document.getElementById("count");
  var empty = document.getElementById("no-match");
  var langSwitch = document.getElementById("lang-switch");
  var fields = ["q", "agency", "managed_by", "category", "state"];

  function value(name) {
    var el = form.elements.namedItem(name);
    return el && "value" in el ? el.value : "";
  }

  function matches(row, terms, want) {
    var d = row.dataset;
    var text = d.search || "";
    for (var i = 0; i < terms.length; i++) {
      if (text.indexOf(terms[i]) === -1) return false;
    }
    return (!want.agency || d.agency === want.agency) &&
      (!want.managed_by || d.managedBy === want.managed_by) &&
      (!want.category || d.category === want.category) &&
      (!want.state || d.state === want.state);
  }

  function query(params, lang) {
    var out = new URLSearchParams(params);
    if (lang && lang !== msgs.default_lang) out.set("lang", lang);
    var text = out.toString();
    return location.pathname + (text ? "?" + text : "");
  }

  function apply() {
    var terms = value("q").toLowerCase().split(/\\s+/).filter(Boolean);
    var want = {agency: value("agency"), managed_by: value("managed_by"),
                category: value("category"), state: value("state")};
    var shown = 0;
    rows.forEach(function (row) {
      var ok = matches(row, terms, want);
      row.hidden = !ok;
      if (ok) shown++;
    });
    groups.forEach(function (group) {
      group.hidden = !group.querySelector("tr.app:not([hidden])");
    });
    if (count && msgs.shown) {
      count.textContent = msgs.shown.replace("{shown}", String(shown))
        .replace("{total}", String(rows.length));
    }
    if (empty) empty.hidden = shown !== 0;
    var params = new URLSearchParams();
    fields.forEach(function (name) {
      var v = value(name);
      if (v) params.set(name, v);
    });
    if (window.history && history.replaceState) {
      history.replaceState(null, "", query(params, msgs.lang));
    }
    if (langSwitch) langSwitch.href = query(params, msgs.other_lang);
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (ev) { ev.preventDefault(); apply(); });
  apply();
})();
"""
