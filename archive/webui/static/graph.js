// graph.js: the dataflow graph of a job as SVG, from its spec (every vertex
// and edge) and plan (which vertices are chained into one pipeline), with
// each vertex's figures. Vertices are placed in columns by their longest
// path from a source.
"use strict";

Sluice.graph = function (job, backpressure) {
  const {h, s, fmtNum} = Sluice;
  const spec = job.spec || {vertices: [], edges: []};
  const status = {};
  (job.vertices || []).forEach((v) => { status[v.id] = v; });
  const vertices = spec.vertices || [];
  const terminal = Sluice.terminal(job.state);
  const edges = spec.edges || [];
  if (vertices.length === 0) return h("p", {class: "muted"}, "no graph");

  // rank = longest path from a source
  const preds = {};
  vertices.forEach((v) => { preds[v.id] = []; });
  edges.forEach((e) => { if (preds[e.to]) preds[e.to].push(e.from); });
  const rank = {};
  const visit = (id, seen) => {
    if (rank[id] !== undefined) return rank[id];
    if (seen.has(id)) return 0; // a cycle would be a bad spec; do not loop
    seen.add(id);
    let r = 0;
    (preds[id] || []).forEach((p) => { if (preds[p]) r = Math.max(r, visit(p, seen) + 1); });
    seen.delete(id);
    rank[id] = r;
    return r;
  };
  vertices.forEach((v) => visit(v.id, new Set()));
  const columns = [];
  vertices.forEach((v) => { (columns[rank[v.id]] = columns[rank[v.id]] || []).push(v.id); });

  const W = 200, H = terminal ? 86 : 102, gapX = 90, gapY = 28, pad = 16;
  const tallest = Math.max(...columns.map((c) => (c ? c.length : 0)));
  const height = pad * 2 + tallest * H + (tallest - 1) * gapY;
  const width = pad * 2 + columns.length * W + (columns.length - 1) * gapX;
  const pos = {};
  columns.forEach((col, c) => {
    const colH = col.length * H + (col.length - 1) * gapY;
    const top = (height - colH) / 2;
    col.forEach((id, r) => { pos[id] = {x: pad + c * (W + gapX), y: top + r * (H + gapY)}; });
  });

  const svg = s("svg", {class: "graph", viewBox: `0 0 ${width} ${height}`, width: width, height: height, role: "img", "aria-label": "dataflow graph"});
  svg.append(s("defs", {}, s("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
    s("path", {d: "M 0 0 L 10 5 L 0 10 z", class: "arrow"}))));

  edges.forEach((e) => {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) return;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, dx = Math.max(30, (x2 - x1) / 2);
    const chained = status[e.from] && status[e.to] && status[e.from].pipeline === status[e.to].pipeline;
    const part = e.partitioning || "forward";
    const label = part + (e.key ? " by " + e.key : "") + (e.output ? " (" + e.output + ")" : "");
    svg.append(s("g", {class: "edge " + part + (chained ? " chained" : ""), "data-from": e.from, "data-to": e.to},
      s("path", {d: `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`, "marker-end": "url(#arrow)"}),
      s("text", {x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle"}, chained ? "chained" : label)));
  });

  vertices.forEach((v) => {
    const p = pos[v.id], st = status[v.id] || {metrics: {}};
    const m = st.metrics || {};
    const bp = backpressure ? backpressure[v.id] : undefined;
    const g = s("g", {class: "vertex pipeline-" + ((st.pipeline || 0) % 6), "data-id": v.id, transform: `translate(${p.x},${p.y})`});
    const rect = s("rect", {width: W, height: H, rx: 8});
    if (bp !== undefined) rect.style.fill = `rgba(220, 60, 40, ${Math.min(0.85, bp * 0.85 + 0.04)})`;
    const lines = [
      ["title", v.id],
      ["", `${v.operator} · p=${v.parallelism || st.parallelism || 1}`],
      ["metric", `in ${fmtNum(m.recordsIn || 0)} · out ${fmtNum(m.recordsOut || 0)}`],
      terminal ? null : ["metric rate", `${fmtNum(st.recordsInRate || 0)}/s in · ${fmtNum(st.recordsOutRate || 0)}/s out`],
      bp === undefined ? null : ["metric backpressure", `backpressure ${Math.round(bp * 100)}%`],
    ].filter(Boolean);
    g.append(rect, ...lines.map(([cls, text], i) => s("text", {x: 10, y: 20 + 18 * i, class: cls || undefined}, text)),
      s("title", {}, `${v.id} (${v.operator}), pipeline ${st.pipeline}`));
    svg.append(g);
  });
  return h("div", {class: "graph-wrap"}, svg);
};
