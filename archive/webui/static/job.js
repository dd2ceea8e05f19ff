// job.js: one job: its summary, dataflow graph, per-vertex figures,
// checkpoints (chart and table), exceptions, subtasks and executors. While
// the job runs (on a coordinator) the page refreshes every 2 s and shows
// live figures: rates, backpressure per vertex, the checkpoint in progress.
"use strict";

Sluice.jobPage = function (root, id) {
  const {h, fmtNum, fmtBytes, fmtMs, fmtTime, badge, duration, section, terminal} = Sluice;
  const base = "v1/jobs/" + encodeURIComponent(id);
  let timer, prevSample, stopped = false; // stopped: the page is left, a late answer is dropped

  // backpressure is the share of time a vertex's subtasks spent waiting for
  // downstream credit: between two refreshes while the job runs, over its
  // whole run once it has ended.
  function backpressure(job) {
    const out = {}, now = Date.now();
    const sample = {at: now, bp: {}};
    (job.vertices || []).forEach((v) => { sample.bp[v.id] = (v.metrics || {}).backpressureMillis || 0; });
    if (!terminal(job.state)) {
      if (prevSample && now > prevSample.at) {
        (job.vertices || []).forEach((v) => {
          const d = sample.bp[v.id] - (prevSample.bp[v.id] || 0);
          out[v.id] = Math.max(0, Math.min(1, d / ((now - prevSample.at) * (v.parallelism || 1))));
        });
      }
      prevSample = sample;
      return Object.keys(out).length ? out : undefined;
    }
    const run = duration(job.startedAt, job.endedAt);
    if (!run) return undefined;
    (job.vertices || []).forEach((v) => { out[v.id] = Math.min(1, sample.bp[v.id] / (run * (v.parallelism || 1))); });
    return out;
  }

  function header(job) {
    const dl = h("dl", {class: "facts"});
    const fact = (k, v) => { if (v !== undefined && v !== null && v !== "") dl.append(h("dt", {}, k), h("dd", {}, v)); };
    fact("Job", h("span", {class: "mono"}, job.id));
    fact("Submitted", fmtTime(job.submittedAt));
    fact("Started", job.startedAt && fmtTime(job.startedAt));
    fact("Ended", job.endedAt && fmtTime(job.endedAt));
    fact("Duration", fmtMs(duration(job.startedAt || job.submittedAt, job.endedAt)));
    fact("Attempt", job.attempt);
    fact("Restarts", (job.restarts || []).length);
    fact("Slots", job.plan && job.plan.slots);
    fact("Bucket", job.bucket);
    fact("Last savepoint", job.lastSavepoint);
    return h("div", {id: "job-header"},
      h("h1", {}, job.name || "(unnamed job)", " ", h("span", {id: "job-state"}, badge(job.state))),
      dl,
      job.error ? h("pre", {class: "error", id: "job-error"}, job.error) : null,
      (job.warnings || []).length ? h("ul", {class: "warnings"}, job.warnings.map((w) => h("li", {}, w))) : null);
  }

  function live(job, cps, bp) {
    // sources are the vertices without inputs, sinks those without outputs
    const edges = (job.spec && job.spec.edges) || [];
    const hasIn = new Set(edges.map((e) => e.to)), hasOut = new Set(edges.map((e) => e.from));
    const sum = (keep, rate) => (job.vertices || []).filter(keep).reduce((a, v) => a + (v[rate] || 0), 0);
    const inRate = sum((v) => !hasIn.has(v.id), "recordsOutRate");
    const outRate = sum((v) => !hasOut.has(v.id), "recordsInRate");
    const pending = ((cps && cps.history) || []).find((c) => c.status === "IN_PROGRESS");
    const maxBp = bp ? Math.max(0, ...Object.values(bp)) : undefined;
    return section("live", "Live",
      h("div", {class: "tiles"},
        h("div", {class: "tile", id: "live-in-rate"}, h("b", {}, fmtNum(inRate) + "/s"), h("span", {}, "records/s out of the sources")),
        h("div", {class: "tile", id: "live-out-rate"}, h("b", {}, fmtNum(outRate) + "/s"), h("span", {}, "records/s into the sinks")),
        h("div", {class: "tile", id: "live-backpressure"}, h("b", {}, maxBp === undefined ? "…" : Math.round(maxBp * 100) + "%"), h("span", {}, "highest backpressure")),
        h("div", {class: "tile", id: "live-checkpoint"},
          h("b", {}, pending ? `#${pending.id}: ${pending.acks}/${pending.subtasks}` : "none"),
          h("span", {}, pending ? "checkpoint in progress (acks)" : "checkpoint in progress"))),
      h("p", {class: "muted"}, "refreshed " + new Date().toLocaleTimeString()));
  }

  function vertexTable(job, bp) {
    const running = !terminal(job.state);
    return section("vertices", "Vertices", h("table", {class: "metrics"},
      h("thead", {}, h("tr", {}, ["Vertex", "Operator", "Parallelism", "Pipeline", "Records in", "Records out", "Bytes in", "Bytes out",
        running ? "In/s" : null, running ? "Out/s" : null, "Backpressure"].filter(Boolean).map((t) => h("th", {}, t)))),
      h("tbody", {}, (job.vertices || []).map((v) => {
        const m = v.metrics || {};
        return h("tr", {"data-id": v.id},
          h("td", {}, v.id), h("td", {}, v.operator), h("td", {class: "num"}, v.parallelism), h("td", {class: "num"}, v.pipeline),
          h("td", {class: "num"}, fmtNum(m.recordsIn || 0)), h("td", {class: "num"}, fmtNum(m.recordsOut || 0)),
          h("td", {class: "num"}, fmtBytes(m.bytesIn || 0)), h("td", {class: "num"}, fmtBytes(m.bytesOut || 0)),
          running ? h("td", {class: "num rate"}, fmtNum(v.recordsInRate || 0)) : null,
          running ? h("td", {class: "num rate"}, fmtNum(v.recordsOutRate || 0)) : null,
          h("td", {class: "num backpressure"}, (bp && bp[v.id] !== undefined ? Math.round(bp[v.id] * 100) + "% · " : "") + fmtMs(m.backpressureMillis || 0)));
      }))));
  }

  function checkpoints(cps) {
    const rows = ((cps && cps.history) || []).slice().sort((a, b) => b.id - a.id);
    return section("checkpoints", "Checkpoints",
      h("p", {class: "muted"}, cps ? `${cps.completed} completed, ${cps.failed} failed` : "no checkpoint data"),
      Sluice.checkpointChart(cps && cps.history),
      rows.length ? h("table", {class: "metrics", id: "checkpoint-table"},
        h("thead", {}, h("tr", {}, ["Id", "Status", "Triggered", "Duration", "Size", "Acks", "Failure"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows.map((c) => h("tr", {"data-id": c.id},
          h("td", {class: "num"}, c.id + (c.savepoint ? " (savepoint)" : "")), h("td", {}, badge(c.status)),
          h("td", {}, fmtTime(c.triggeredAt)), h("td", {class: "num"}, fmtMs(c.durationMs)), h("td", {class: "num"}, fmtBytes(c.bytes)),
          h("td", {class: "num"}, `${c.acks}/${c.subtasks}`), h("td", {class: "error-text"}, c.failure || ""))))) : null);
  }

  function exceptions(ex) {
    const items = (ex && ex.history) || [];
    const one = (e, cls) => h("li", {class: cls},
      h("div", {class: "exception-head"}, h("b", {}, e.kind), e.task ? " " + e.task : "", e.executor ? h("span", {class: "mono muted"}, " " + e.executor) : null,
        e.attempt ? h("span", {class: "muted"}, " attempt " + e.attempt) : null, e.at ? h("span", {class: "muted"}, " · " + fmtTime(e.at)) : null),
      h("pre", {}, e.message));
    return section("exceptions", "Exceptions",
      ex && ex.rootCause ? h("div", {class: "root-cause"}, h("h3", {}, "Root cause"), h("ul", {}, one(ex.rootCause, "exception root"))) : null,
      items.length ? h("ul", {class: "exception-list"}, items.slice().reverse().map((e) => one(e, "exception"))) : h("p", {class: "muted", id: "no-exceptions"}, "no exceptions"));
  }

  function tasks(job) {
    return section("tasks", "Subtasks", h("table", {class: "metrics"},
      h("thead", {}, h("tr", {}, ["Subtask", "Vertices", "State", "Executor", "Attempt", "Error"].map((t) => h("th", {}, t)))),
      h("tbody", {}, (job.tasks || []).map((t) => h("tr", {},
        h("td", {class: "mono"}, `${t.pipeline}.${t.index}`), h("td", {}, (t.vertices || []).join(" → ")), h("td", {}, badge(t.state)),
        h("td", {class: "mono"}, t.executor), h("td", {class: "num"}, t.attempt), h("td", {class: "error-text"}, t.error || ""))))));
  }

  function executors(job) {
    return section("executors", "Executors", h("table", {class: "metrics"},
      h("thead", {}, h("tr", {}, ["Executor", "Slot", "PID", "Peak RSS", "Peak in-flight", "Exit"].map((t) => h("th", {}, t)))),
      h("tbody", {}, (job.executors || []).map((e) => h("tr", {},
        h("td", {class: "mono"}, e.id), h("td", {class: "num"}, e.slot), h("td", {class: "num"}, e.pid || ""),
        h("td", {class: "num"}, fmtBytes(e.maxRssBytes)), h("td", {class: "num"}, fmtBytes(e.maxInflightBytes)),
        h("td", {}, e.exited ? (e.exitInfo || "exited") : "running"))))));
  }

  async function load() {
    clearTimeout(timer);
    let job, cps, ex;
    try {
      [job, cps, ex] = await Promise.all([
        Sluice.getJSON(base),
        Sluice.getJSON(base + "/checkpoints", true),
        Sluice.getJSON(base + "/exceptions", true),
      ]);
    } catch (err) {
      if (stopped || err instanceof Sluice.AuthError) return; // left, or the sign-in form shows
      root.replaceChildren(h("p", {class: "error"}, "cannot load job " + id + ": " + err.message), h("a", {href: "#/"}, "← all jobs"));
      return;
    }
    if (stopped) return;
    const bp = backpressure(job);
    const running = !terminal(job.state);
    document.body.classList.toggle("live", running);
    root.replaceChildren(...[
      h("a", {href: "#/", class: "back"}, "← all jobs"),
      header(job),
      running ? live(job, cps, bp) : null,
      section("graph", "Dataflow", Sluice.graph(job, bp)),
      vertexTable(job, bp),
      checkpoints(cps),
      exceptions(ex),
      tasks(job),
      executors(job)].filter(Boolean));
    if (running) timer = setTimeout(load, 2000);
  }
  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
};
