// The application's one script (the CSP allows no inline script and no eval).
// Keyboard shortcuts of the review page: on a page with a decision form, a key picks the
// decision (v validated, r rejected, u unverifiable) and moves to the reason field; j and k
// go to the next and previous item. Keys typed into a field are never taken.
(function () {
  "use strict";
  function typing(target) {
    var tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) { return; }
    var key = event.key.toLowerCase();
    var choice = document.querySelector('[data-shortcut="' + key + '"]');
    if (!choice) { return; }
    event.preventDefault();
    if (choice.tagName === "A") { window.location.assign(choice.href); return; }
    choice.checked = true;
    choice.dispatchEvent(new Event("change", { bubbles: true }));
    var reason = document.getElementById("reason");
    if (reason) { reason.focus(); }
  });
})();
