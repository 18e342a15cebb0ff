// The pages work without this script; with it, times follow the browser's time zone.
(function () {
  "use strict";
  function fillOffsets() {
    document.querySelectorAll("input[name=tz_offset]").forEach(function (input) {
      var form = input.form;
      var field = form && form.querySelector("input[type=datetime-local]");
      var when = field && field.value ? new Date(field.value) : new Date();
      input.value = String(when.getTimezoneOffset());
    });
  }
  document.addEventListener("submit", fillOffsets, true);
  document.addEventListener("DOMContentLoaded", function () {
    fillOffsets();
    document.querySelectorAll("time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when)) {
        node.textContent = when.toLocaleString(document.documentElement.lang, {
          weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
        });
      }
    });
  });
})();
