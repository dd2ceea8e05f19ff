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

// The access token of a coordinator started with --token. The page and its
// scripts load without it; the API answers 401, and the page then asks for
// it (Sluice.signIn). It is kept in sessionStorage (this tab only, gone when
// the tab closes) and sent as "Authorization: Bearer ..." on every API call.
// A history server needs none.
Sluice.tokenKey = "sluice.token";
Sluice.tokenInPage = ""; // where the token is kept when storage is disabled, until a reload

Sluice.token = function () {
  try {
    return sessionStorage.getItem(Sluice.tokenKey) || "";
  } catch (err) {
    return Sluice.tokenInPage;
  }
};

Sluice.setToken = function (token) {
  try {
    if (token) sessionStorage.setItem(Sluice.tokenKey, token);
    else sessionStorage.removeItem(Sluice.tokenKey);
  } catch (err) {
    Sluice.tokenInPage = token || "";
  }
  Sluice.showSignOut();
};

// showSignOut shows the header's "sign out" link while a token is kept.
Sluice.showSignOut = function () {
  const out = document.getElementById("sign-out");
  if (out) out.hidden = !Sluice.token();
};

// AuthError is what getJSON throws on 401, once the sign-in form shows:
// a page that catches it leaves the form in place.
Sluice.AuthError = class extends Error {};

// getJSON fetches an API path relative to the page; a 404 resolves to
// null when allow404 is set. A 401 shows the sign-in form and throws an
// AuthError.
Sluice.getJSON = async function (path, allow404) {
  const headers = {Accept: "application/json"};
  const token = Sluice.token();
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path, {headers: headers});
  if (res.status === 404 && allow404) return null;
  const body = await res.json().catch(() => ({error: res.statusText}));
  if (res.status === 401) {
    if (token === Sluice.token()) { // else the token changed meanwhile: a late answer, for a page left
      let msg = "";
      if (token) { // refused: forget it
        Sluice.setToken("");
        msg = "The token was refused (" + (body.error || res.statusText) + "). Try again.";
      }
      Sluice.signIn(msg);
    }
    throw new Sluice.AuthError(body.error || res.statusText);
  }
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
};

// signIn shows the sign-in form in place of the page (once, however many
// calls were refused), with msg as its error when set. Submitting keeps the
// token and shows the page again (Sluice.route, set by app.js).
Sluice.signIn = function (msg) {
  const {h} = Sluice;
  let form = document.getElementById("signin");
  if (!form) {
    const input = h("input", {type: "password", id: "signin-token", name: "token", placeholder: "access token",
      autocomplete: "current-password", required: true});
    form = h("section", {id: "signin", class: "card signin"},
      h("h1", {}, "Sign in"),
      h("p", {}, "This coordinator requires an access token."),
      h("p", {class: "muted"}, "The coordinator's --token (SLUICE_TOKEN). It is kept in this browser tab only, until sign out or the tab closes."),
      h("form", {id: "signin-form", class: "filters", onsubmit: (ev) => {
        ev.preventDefault();
        const token = input.value.trim();
        if (!token) return;
        Sluice.setToken(token);
        Sluice.route();
      }}, input, h("button", {type: "submit", id: "signin-submit"}, "Sign in")),
      h("p", {id: "signin-error", class: "error", role: "alert", hidden: true}));
    document.getElementById("app").replaceChildren(form);
    document.body.classList.remove("live");
    document.title = "Sluice · sign in";
    input.focus();
  }
  if (msg) {
    const err = document.getElementById("signin-error");
    err.textContent = msg;
    err.hidden = false;
  }
};

Sluice.section = function (id, title, ...children) {
  return Sluice.h("section", {id: id, class: "card"}, Sluice.h("h2", {}, title), ...children);
};
