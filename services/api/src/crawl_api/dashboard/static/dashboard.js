// Live parts of the dashboard: poll the server-rendered fragment of #live and swap it in.
// Like the API's own clients, a run page stops polling once the run reached a terminal
// status (the fragment says data-terminal="true").
(function () {
  "use strict";

  var live = document.getElementById("live");
  var timer = null;

  function finished() {
    var run = live && live.querySelector("[data-terminal]");
    return run !== null && run.getAttribute("data-terminal") === "true";
  }

  function schedule() {
    if (!live || finished()) {
      timer = null;
      return;
    }
    var interval = parseInt(live.getAttribute("data-interval") || "2000", 10);
    timer = window.setTimeout(refresh, interval);
  }

  function refresh() {
    fetch(live.getAttribute("data-live-url"), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        if (response.status === 401) {
          window.location.reload(); // the server sends us to the sign-in page
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null) live.innerHTML = html;
      })
      .catch(function () { /* keep the last good view; try again */ })
      .then(schedule);
  }

  function restart() {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    refresh();
  }

  // Cancel: the button opens a confirmation dialog; only "confirm" sends the request.
  var dialog = document.getElementById("cancel-dialog");
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof Element && target.matches("[data-action=cancel]") && dialog) {
      dialog.showModal();
    }
  });
  if (dialog) {
    dialog.addEventListener("close", function () {
      if (dialog.returnValue !== "confirm") return;
      fetch(dialog.getAttribute("data-cancel-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Requested-With": "dashboard" },
      })
        .then(function (response) {
          if (!response.ok && response.status !== 409) {
            return response.json().then(function (problem) {
              window.alert("Cancel failed: " + (problem.detail || response.status));
            });
          }
          return null;
        })
        .catch(function (error) { window.alert("Cancel failed: " + error); })
        .then(restart);
    });
  }

  if (live) schedule();
})();
