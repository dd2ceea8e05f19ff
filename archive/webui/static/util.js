// util.js: DOM builders, number and time formats, API calls. Everything
// that comes from the API is set as text, never parsed as HTML.
"use strict";

const Sluice = {};

// h builds an HTML element: h("td", {class: "num"}, "12", childNode, ...).
Sluice.h = function (tag, attrs, ...children) {
  const el = document.createElement(tag);
  Sluice.setAttrs(el, attrs);
  Sluice.append(el, children);
  return el;
};

// s builds an SVG element.
Sluice.s = function (tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  Sluice.setAttrs(el, attrs);
  Sluice.append(el, children);
  return el;
};

Sluice.setAttrs = function (el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
};

Sluice.append = function (el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
};

Sluice.fmtNum = function (n) {
  if (n === undefined || n === null) return "–";
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + " G";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + " M";
  if (a >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
};

Sluice.fmtBytes = function (n) {
  if (!n) return "0 B";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
};

Sluice.fmtMs = function (ms) {
  if (ms === undefined || ms === null) return "–";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
};

Sluice.fmtTime = function (iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
};

Sluice.duration = function (from, to) {
  if (!from) return undefined;
  const end = to ? new Date(to) : new Date();
  return end - new Date(from);
};

Sluice.terminal = function (state) {
  return state === "FINISHED" || state === "CANCELED" || state === "FAILED";
};

Sluice.badge = function (state) {
  return Sluice.h("span", {class: "state state-" + String(state).toLowerCase()}, state);
};

// getJSON fetches an API path relative to the page; a 404 resolves to
// null when allow404 is set.
Sluice.getJSON = async function (path, allow404) {
  const res = await fetch(path, {headers: {Accept: "application/json"}});
  if (res.status === 404 && allow404) return null;
  const body = await res.json().catch(() => ({error: res.statusText}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
};

Sluice.section = function (id, title, ...children) {
  return Sluice.h("section", {id: id, class: "card"}, Sluice.h("h2", {}, title), ...children);
};
