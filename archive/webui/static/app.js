// app.js: the router. #/ is the job list (#/?state=FAILED&name=x filters
// it), #/jobs/<id> a job. #token=<token> signs in (see util.js) and
// leaves the address bar at once.
"use strict";

(function () {
  let cleanup;

  // takeToken keeps a token handed over in the address (#token=...) like
  // one entered in the sign-in form, and removes it from the address bar
  // and the history.
  function takeToken() {
    const m = location.hash.match(/^#token=([^&]*)$/);
    if (!m) return;
    let token = "";
    try {
      token = decodeURIComponent(m[1]).trim();
    } catch (err) {
      // malformed: the sign-in form asks for the token
    }
    if (token) Sluice.setToken(token);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function route() {
    if (cleanup) cleanup();
    cleanup = undefined;
    takeToken();
    document.body.classList.remove("live");
    const root = document.getElementById("app");
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    const m = path.match(/^\/jobs\/([^/]+)$/);
    if (m) {
      document.title = "Sluice · job " + decodeURIComponent(m[1]);
      cleanup = Sluice.jobPage(root, decodeURIComponent(m[1]));
    } else {
      document.title = "Sluice · jobs";
      cleanup = Sluice.listPage(root, new URLSearchParams(query || ""));
    }
  }
  Sluice.route = route;

  document.getElementById("sign-out").addEventListener("click", (ev) => {
    ev.preventDefault();
    Sluice.setToken("");
    route();
  });
  Sluice.showSignOut();

  window.addEventListener("hashchange", route);
  route();
})();
