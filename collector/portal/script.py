"""The portal's only script: submits the list's filter form as soon as a filter changes.

The server filters and pages the list (the form is an ordinary GET form, and works without the
script); the script only saves the click on "Apply" and leaves empty parameters out of the
address. It never builds HTML, so it cannot inject any. Served from /portal.js so that the pages'
Content-Security-Policy can forbid inline scripts.
"""

from __future__ import annotations

from typing import Final

SCRIPT: Final[str] = """(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) return;
  document.documentElement.classList.add("js");

  function go() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string" && value.trim()) params.append(name, value);
    });
    var text = params.toString();
    location.assign(location.pathname + (text ? "?" + text : ""));
  }

  form.addEventListener("change", go);  // a select chosen, or the search field left or entered
  form.addEventListener("submit", function (ev) { ev.preventDefault(); go(); });
})();
"""
