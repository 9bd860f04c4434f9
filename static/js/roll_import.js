// Voter-roll import: while the confirm POST runs (it may take a minute for a million rows), poll the
// job's status partial and show its progress bar. Without JavaScript the POST simply completes.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-progress-url]")) { return; }
    var box = document.getElementById("job-live-progress");
    var bar = document.getElementById("job-live-bar");
    var text = document.getElementById("job-live-text");
    if (!box) { return; }
    box.hidden = false;
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    var url = form.getAttribute("data-progress-url");
    window.setInterval(function () {
      fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var p = doc.getElementById("job-progress");
          if (p) {
            bar.max = Number(p.getAttribute("max")) || 100;
            bar.value = Number(p.getAttribute("value")) || 0;
            text.textContent = p.textContent;
          }
        })
        .catch(function () { /* keep waiting for the POST */ });
    }, 1000);
  });
})();
