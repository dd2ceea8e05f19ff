// app.js: the router. #/ is the job list (#/?state=FAILED&name=x filters
// it), #/jobs/<id> a job.
"use strict";

(function () {
  let cleanup;
  function route() {
    if (cleanup) cleanup();
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
  window.addEventListener("hashchange", route);
  route();
})();
