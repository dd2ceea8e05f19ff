// chart.js: checkpoint duration (line, right axis) and size (bars, left
// axis) over the checkpoints of a job, as SVG.
"use strict";

Sluice.checkpointChart = function (history) {
  const {h, s, fmtBytes, fmtMs} = Sluice;
  const rows = (history || []).slice().sort((a, b) => a.id - b.id);
  if (rows.length === 0) return h("p", {class: "muted", id: "checkpoint-chart-empty"}, "no checkpoints");
  const W = 760, H = 240, L = 70, R = 70, T = 16, B = 40;
  const iw = W - L - R, ih = H - T - B;
  const maxBytes = Math.max(1, ...rows.map((r) => r.bytes || 0));
  const maxDur = Math.max(1, ...rows.map((r) => r.durationMs || 0));
  const step = iw / rows.length;
  const bw = Math.max(2, Math.min(40, step * 0.6));
  const x = (i) => L + step * i + step / 2;
  const yb = (v) => T + ih - (v / maxBytes) * ih;
  const yd = (v) => T + ih - (v / maxDur) * ih;

  const svg = s("svg", {id: "checkpoint-chart", class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "checkpoint duration and size"});
  // axes and grid
  [0, 0.5, 1].forEach((f) => {
    const y = T + ih - f * ih;
    svg.append(s("line", {x1: L, x2: W - R, y1: y, y2: y, class: "grid"}),
      s("text", {x: L - 6, y: y + 4, "text-anchor": "end", class: "axis bytes"}, fmtBytes(maxBytes * f)),
      s("text", {x: W - R + 6, y: y + 4, class: "axis duration"}, fmtMs(maxDur * f)));
  });
  rows.forEach((r, i) => {
    const cls = "bar " + String(r.status || "").toLowerCase().replace("_", "-") + (r.savepoint ? " savepoint" : "");
    svg.append(s("rect", {x: x(i) - bw / 2, y: yb(r.bytes || 0), width: bw, height: Math.max(1, T + ih - yb(r.bytes || 0)), class: cls, "data-id": r.id},
      s("title", {}, `checkpoint ${r.id} ${r.status}: ${fmtBytes(r.bytes || 0)}, ${fmtMs(r.durationMs || 0)}` + (r.failure ? ` (${r.failure})` : ""))));
  });
  const done = rows.map((r, i) => [r, i]).filter(([r]) => r.status !== "IN_PROGRESS");
  if (done.length > 0) {
    svg.append(s("path", {class: "duration-line", d: done.map(([r, i], k) => `${k ? "L" : "M"} ${x(i)} ${yd(r.durationMs || 0)}`).join(" ")}));
    done.forEach(([r, i]) => svg.append(s("circle", {cx: x(i), cy: yd(r.durationMs || 0), r: 3.5, class: "duration-point " + String(r.status).toLowerCase()})));
  }
  const every = Math.max(1, Math.ceil(rows.length / 12));
  rows.forEach((r, i) => {
    if (i % every === 0) svg.append(s("text", {x: x(i), y: H - B + 16, "text-anchor": "middle", class: "axis"}, String(r.id)));
  });
  svg.append(s("text", {x: L + iw / 2, y: H - 6, "text-anchor": "middle", class: "axis"}, "checkpoint"));
  return h("div", {class: "chart-wrap"}, svg,
    h("div", {class: "legend"}, h("span", {class: "key bytes"}, "size"), h("span", {class: "key duration"}, "duration"),
      h("span", {class: "key failed"}, "failed")));
};
