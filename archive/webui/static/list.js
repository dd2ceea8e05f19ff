// list.js: the job list, with filters (state, name, end time) and pages.
// A history server filters and pages in the index; a coordinator answers
// with every job it has, which this page filters itself.
"use strict";

Sluice.listPage = function (root, params) {
  const {h, fmtTime, fmtMs, badge, duration} = Sluice;
  const filters = {
    state: params.get("state") || "",
    name: params.get("name") || "",
    from: params.get("from") || "",
    to: params.get("to") || "",
  };
  const tokens = [""]; // the continuation token of each page shown so far
  let timer, stopped = false; // stopped: the page is left, a late answer is dropped

  const stateSel = h("select", {name: "state", id: "filter-state"},
    ["", "FINISHED", "CANCELED", "FAILED", "RUNNING", "CREATED", "SCHEDULED", "RESTARTING", "CANCELING", "FAILING"]
      .map((st) => h("option", {value: st, selected: st === filters.state}, st || "any state")));
  const nameIn = h("input", {name: "name", id: "filter-name", placeholder: "name contains", value: filters.name});
  const fromIn = h("input", {name: "from", id: "filter-from", type: "datetime-local", value: filters.from});
  const toIn = h("input", {name: "to", id: "filter-to", type: "datetime-local", value: filters.to});
  const form = h("form", {class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (stateSel.value) q.set("state", stateSel.value);
    if (nameIn.value) q.set("name", nameIn.value);
    if (fromIn.value) q.set("from", fromIn.value);
    if (toIn.value) q.set("to", toIn.value);
    location.hash = "#/?" + q.toString();
  }}, stateSel, nameIn, h("label", {}, "ended from ", fromIn), h("label", {}, " to ", toIn), h("button", {type: "submit"}, "Filter"));

  const tbody = h("tbody", {});
  const table = h("table", {id: "jobs", class: "jobs"},
    h("thead", {}, h("tr", {}, ["Name", "Job", "State", "Submitted", "Ended", "Duration"].map((t) => h("th", {}, t)))), tbody);
  const prev = h("button", {id: "page-prev"}, "← Newer");
  const next = h("button", {id: "page-next"}, "Older →");
  const info = h("span", {class: "muted", id: "page-info"});
  root.replaceChildren(h("h1", {}, "Jobs"), form, table, h("div", {class: "pager"}, prev, next, info));

  const iso = (local) => (local ? new Date(local).toISOString() : "");
  const keep = (j) => {
    if (filters.state && j.state !== filters.state) return false;
    if (filters.name && !String(j.name || "").toLowerCase().includes(filters.name.toLowerCase())) return false;
    const end = j.endedAt ? new Date(j.endedAt) : null;
    if (filters.from && (!end || end < new Date(filters.from))) return false;
    if (filters.to && (!end || end > new Date(filters.to))) return false;
    return true;
  };

  async function load() {
    clearTimeout(timer);
    const q = new URLSearchParams({limit: "50"});
    if (filters.state) q.set("state", filters.state);
    if (filters.name) q.set("name", filters.name);
    if (filters.from) q.set("from", iso(filters.from));
    if (filters.to) q.set("to", iso(filters.to));
    const token = tokens[tokens.length - 1];
    if (token) q.set("next", token);
    let list;
    try {
      list = await Sluice.getJSON("v1/jobs?" + q.toString());
    } catch (err) {
      if (stopped || err instanceof Sluice.AuthError) return; // left, or the sign-in form shows
      tbody.replaceChildren(h("tr", {}, h("td", {colspan: 6, class: "error"}, "cannot list jobs: " + err.message)));
      return;
    }
    if (stopped) return;
    const jobs = (list.jobs || []).filter(keep);
    tbody.replaceChildren(...jobs.map((j) => h("tr", {class: "job-row", "data-id": j.id, "data-state": j.state},
      h("td", {}, h("a", {href: "#/jobs/" + encodeURIComponent(j.id), class: "job-link"}, j.name || "(unnamed)")),
      h("td", {class: "mono"}, j.id),
      h("td", {}, badge(j.state)),
      h("td", {}, fmtTime(j.submittedAt)),
      h("td", {}, fmtTime(j.endedAt)),
      h("td", {class: "num"}, fmtMs(duration(j.submittedAt, j.endedAt))))));
    if (jobs.length === 0) tbody.append(h("tr", {}, h("td", {colspan: 6, class: "muted"}, "no jobs")));
    prev.disabled = tokens.length <= 1;
    next.disabled = !list.next;
    next.onclick = () => { tokens.push(list.next); load(); };
    info.textContent = `page ${tokens.length} · ${jobs.length} job(s)`;
    if (tokens.length === 1) timer = setTimeout(load, 5000); // new jobs show within seconds
  }
  prev.onclick = () => { tokens.pop(); load(); };
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
};
