// Roster console: the one script. Pages work without it; it adds copy buttons for tokens
// shown once. (Kept tiny and dependency-free: the Content-Security-Policy allows only this file.)
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var done = function () {
    var status = document.getElementById(button.getAttribute("data-copy") + "-copied");
    if (status) status.textContent = "Copied to the clipboard.";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done);
  } else {
    field.select();
    document.execCommand("copy");
    done();
  }
});
