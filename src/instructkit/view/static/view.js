// instructkit view: small enhancements only; every page works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // a filter choice applies at once (the form still has its button for keyboards)
    var form = document.getElementById("filters");
    if (form) {
      form.querySelectorAll("select").forEach(function (sel) {
        sel.addEventListener("change", function () {
          if (sel.name === "stream") {  // another file: its filters do not apply
            form.querySelectorAll("select:not([name=stream])").forEach(function (s) { s.value = ""; });
          }
          form.submit();
        });
      });
    }
    // expand / collapse every node of the GLAN tree
    document.querySelectorAll("[data-toggle-details]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var open = btn.getAttribute("data-toggle-details") === "open";
        document.querySelectorAll("ul.tree details").forEach(function (d) { d.open = open; });
      });
    });
    // j / k: next / previous page where there is a pager
    document.addEventListener("keydown", function (e) {
      if (e.target && /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) { return; }
      var link = e.key === "j" ? document.getElementById("next") : e.key === "k" ? document.getElementById("prev") : null;
      if (link) { window.location.href = link.getAttribute("href"); }
    });
  });
})();
