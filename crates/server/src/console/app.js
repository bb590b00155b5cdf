// The Isthmus web console: a small hand-written app over the public REST API (/v1), with
// the user's bearer token kept in sessionStorage. No build step, no framework.
// This file: helpers, the API, forms, routing, login and projects. The pages of each
// resource kind are drawn from the server's descriptors (objects.js), with bespoke panels
// (panels.js); reachability and the audit log are pages of their own (tools.js).
"use strict";

const TOKEN_KEY = "isthmus.token";
// While something on screen is still moving, the page polls fast.
const FAST_POLL_MS = 1500;
const SLOW_POLL_MS = 10000;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY), project: null, role: null, view: 0, timer: null,
  // The registered kinds (/console/kinds.json), in the server's order, and the status
  // machines by name: where each status stands (done, failed, moving).
  kinds: null, machines: {},
};

// ---- DOM helpers -------------------------------------------------------------------

/** h("tag.class", {attr: value, onclick: fn}, children…): a DOM element; text is escaped. */
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function main() { return document.getElementById("main"); }

function say(message) {
  const status = document.getElementById("status");
  status.textContent = message;
}

function when(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

/** Whether `data` differs from what `memo` last saw. Polling redraws only on change, so
 *  the page does not flicker and a focused button keeps its focus. */
function changed(memo, data) {
  const key = JSON.stringify(data);
  if (memo.last === key) return false;
  memo.last = key;
  return true;
}

function canWrite() { return state.role === "operator" || state.role === "admin"; }

// ---- API ---------------------------------------------------------------------------

/** Calls the REST API; resolves to {ok, status, data, etag}. A 401 ends the session. */
async function api(method, path, body, headers) {
  const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
  if (state.token) init.headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, data: { detail: "the server did not answer (" + e.message + ")" } };
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  // A stored token that stops working ends the session (a token being tried at login is
  // not stored yet, and the login form reports it).
  if (response.status === 401 && sessionStorage.getItem(TOKEN_KEY)) {
    logout("Your token was refused (" + (data.detail || "unauthorized") + "). Log in again.");
  }
  return { ok: response.ok, status: response.status, data, etag: response.headers.get("ETag") };
}

function projectPath(rest) { return "/v1/projects/" + encodeURIComponent(state.project.id) + rest; }

/** Every item of a paged list (follows next_cursor). */
async function listAll(path) {
  const items = [];
  let cursor = null;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const r = await api("GET", path + (cursor ? sep + "cursor=" + encodeURIComponent(cursor) : ""));
    if (!r.ok) throw problemText(r);
    items.push(...r.data.items);
    cursor = r.data.next_cursor;
    if (!cursor) return items;
  }
}

function problemText(r) {
  const d = r.data || {};
  const parts = [d.detail || d.title || "HTTP " + r.status];
  // The detail often is the one error's message already: say each thing once.
  for (const e of d.errors || []) {
    if (!parts[0].includes(e.message)) parts.push((e.field ? e.field + ": " : "") + e.message);
  }
  return parts.join(" — ");
}

/** Puts a problem's field errors next to their inputs; the rest goes to the form's alert. */
function showProblem(form, r) {
  clearErrors(form);
  const rest = [];
  for (const e of (r.data && r.data.errors) || []) {
    const field = e.field || "";
    // The control whose field the error names, or the one it is part of
    // (`public_access.allowlist[3].cidr` belongs under `public_access`).
    const input = [...form.querySelectorAll("[data-field]")].find((el) => {
      const f = el.dataset.field;
      return field === f || field.startsWith(f + ".") || field.startsWith(f + "[");
    });
    if (input) {
      input.setAttribute("aria-invalid", "true");
      const slot = document.getElementById(input.id + "-error");
      slot.textContent = slot.textContent ? slot.textContent + " " + e.message : e.message;
    } else {
      rest.push((field ? field + ": " : "") + e.message);
    }
  }
  // The form-level alert carries only what no field shows, so nothing is said twice.
  const alert = form.querySelector(".alert");
  const detail = (r.data && r.data.detail) || "HTTP " + r.status;
  const first = form.querySelector('[aria-invalid="true"]');
  alert.textContent = rest.length ? detail + " — " + rest.join("; ") : first ? "" : detail;
  if (first) first.focus();
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  form.querySelector(".alert").textContent = "";
}

// ---- Form building -----------------------------------------------------------------

/** A labelled input whose API field is `field`; errors for it appear just below. */
function field(id, label, field, control) {
  control.id = id;
  control.name = field;
  control.dataset.field = field;
  control.setAttribute("aria-describedby", id + "-error");
  return h("div.field", {}, h("label", { for: id, text: label }), control,
    h("p.field-error", { id: id + "-error" }));
}

function input(attrs) { return h("input", Object.assign({ type: "text", autocomplete: "off" }, attrs)); }

function select(options, value) {
  return h("select", {}, options.map(([v, text]) => h("option", { value: v, text, selected: v === value })));
}

function formShell(title, onsubmit, fields, submitLabel) {
  const form = h("form.grid", { novalidate: true, "aria-label": title },
    fields,
    h("div.actions", {}, h("button.primary", { type: "submit", text: submitLabel })),
    h("p.alert", { role: "alert" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try { await onsubmit(form); } finally { button.disabled = false; }
  });
  return h("section.panel", {}, h("h2", { text: title }), form);
}

/** A button that opens a modal dialog holding the panel `makePanel(close)` returns (a
 *  form made by formShell): made anew at each opening, so its fields start empty; it
 *  closes on success (the form calls `close`), on Cancel and on Escape. */
function createButton(id, label, makePanel) {
  return h("button.primary", { type: "button", id: id + "-open", onclick: () => openDialog(id, label, makePanel) }, label);
}

function openDialog(id, label, makePanel) {
  const old = document.getElementById(id);
  if (old) old.remove();
  const dialog = h("dialog.dialog", { id, "aria-label": label });
  const close = () => dialog.close();
  dialog.addEventListener("close", () => dialog.remove());
  const panel = makePanel(close);
  panel.querySelector("form > div.actions:last-of-type")
    .append(h("button", { type: "button", onclick: close }, "Cancel"));
  dialog.append(panel);
  main().append(dialog);
  dialog.showModal();
  const first = dialog.querySelector("input, select, textarea");
  if (first) first.focus();
}

function lines(text) { return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean); }

// ---- Copy to clipboard -------------------------------------------------------------

async function copyText(text, what) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (_) {
    // Older browsers and some headless ones: the selection-based fallback.
    const area = h("textarea", { "aria-hidden": "true", style: "position:fixed;left:-9999px" });
    area.value = text;
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  say(copied ? "Copied " + what + " to the clipboard." : "Could not copy; select the text and copy it by hand.");
}

function copyRow(text, what) {
  return h("div.copyrow", {}, h("pre", {}, h("code", { text })),
    h("button.small.copy", { type: "button", "aria-label": "Copy " + what, onclick: () => copyText(text, what) }, "Copy"));
}

// ---- Routing and polling -----------------------------------------------------------

/** Renders the page for the current hash. Each page returns a refresh function that
 *  redraws its live parts and says whether anything is still moving. */
async function route() {
  clearTimeout(state.timer);
  const view = ++state.view;
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (!state.token) return showLogin();
  if (parts.length === 0 || parts[0] === "login") { location.hash = "#/projects"; return; }
  await loadKinds();
  if (parts[0] === "projects") return render(view, showProjects);
  if (parts[0] !== "p" || parts.length < 3) return render(view, notFound);
  if (!(await enterProject(parts[1]))) return;
  if (view !== state.view) return;
  const [, , page, id, tab] = parts;
  const kind = state.kinds.find((k) => k.plural === page);
  const pages = { reachability: showReachability, audit: showAudit, tokens: showTokens, egress: showEgress };
  drawNav(page);
  if (kind) return render(view, () => (id ? showObject(kind, id, tab) : showList(kind)));
  return render(view, pages[page] || notFound);
}

async function render(view, page) {
  const refresh = await page();
  if (view !== state.view) return;
  // Move focus to the new page for keyboard and screen-reader users, unless they are
  // already working in it.
  if (!main().contains(document.activeElement)) main().focus({ preventScroll: true });
  if (typeof refresh !== "function") return;
  const tick = async () => {
    if (view !== state.view) return;
    let busy = false;
    try { busy = await refresh(); } catch (e) { say(String(e)); }
    if (view === state.view) state.timer = setTimeout(tick, busy ? FAST_POLL_MS : SLOW_POLL_MS);
  };
  await tick();
}

async function enterProject(id) {
  if (state.project && state.project.id === id) return true;
  const [project, me] = await Promise.all([
    api("GET", "/v1/projects/" + encodeURIComponent(id)),
    api("GET", "/v1/projects/" + encodeURIComponent(id) + "/me"),
  ]);
  if (!project.ok || !me.ok) {
    main().replaceChildren(h("h1", { text: "Project not found" }),
      h("p", {}, "This token cannot see that project. ", h("a", { href: "#/projects", text: "Choose a project" })));
    return false;
  }
  state.project = project.data;
  state.role = me.data.role;
  return true;
}

function drawNav(page) {
  const nav = document.getElementById("nav");
  const base = "#/p/" + encodeURIComponent(state.project.id) + "/";
  const link = (name, text) => h("a", { href: base + name, text, "aria-current": page === name ? "page" : null });
  nav.replaceChildren(...state.kinds.map((k) => link(k.plural, k.titles)),
    link("egress", "Egress"), link("reachability", "Reachability"), link("audit", "Audit log"),
    ...(state.role === "admin" ? [link("tokens", "Tokens")] : []));
  nav.hidden = false;
  drawWho();
}

function drawWho() {
  const who = document.getElementById("who");
  who.replaceChildren(
    state.project ? h("span", {}, "Project ", h("a", { href: "#/projects", title: "Switch project", text: state.project.name }),
      " · role ", h("strong", { id: "role", text: state.role })) : "",
    h("button", { type: "button", onclick: () => logout("Logged out.") }, "Log out"));
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  Object.assign(state, { token: null, project: null, role: null });
  say(message);
  location.hash = "#/login";
  route();
}

function notFound() {
  main().replaceChildren(h("h1", { text: "No such page" }), h("p", {}, h("a", { href: "#/projects", text: "Projects" })));
}

// ---- Login and projects ------------------------------------------------------------

function showLogin() {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  const token = input({ type: "password", autocomplete: "current-password", required: true, placeholder: "isth_…" });
  const panel = formShell("Log in with an API token", async (form) => {
    clearErrors(form);
    state.token = token.value.trim();
    const r = await api("GET", "/v1/projects?limit=1");
    if (!r.ok) {
      state.token = null;
      showProblem(form, { status: r.status, data: { detail: "That token was refused", errors: [{ field: "token", message: r.data.detail || "unauthorized" }] } });
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    say("Logged in.");
    location.hash = "#/projects";
  }, [field("login-token", "API token", "token", token)], "Log in");
  main().replaceChildren(h("h1", { text: "Isthmus console" }),
    h("p.note", { id: "login-help", text: "Private networking for managed databases. Paste the superuser token from the file `isthmus serve` names on its first start (<data dir>/admin-token, by default ~/.local/share/isthmus/admin-token), or a token made with `isthmus token create`." }),
    panel);
  token.focus();
}

async function showProjects() {
  state.project = null;
  document.getElementById("nav").hidden = true;
  drawWho();
  const list = h("div.table-wrap");
  const create = createButton("project-create", "New project", (close) => {
    const name = input({ required: true });
    return formShell("New project", async (form) => {
      const r = await api("POST", "/v1/projects", { name: name.value.trim() });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      close();
      say("Project " + r.data.name + " created.");
      location.hash = "#/p/" + encodeURIComponent(r.data.id) + "/" + state.kinds[0].plural;
    }, [field("project-name", "Name", "name", name)], "Create project");
  });
  main().replaceChildren(h("h1", { text: "Choose a project" }), h("div.toolbar", {}, create), list);
  return async () => {
    const projects = await listAll("/v1/projects");
    list.replaceChildren(table(["Name", "Id", "Created"], projects.map((p) => h("tr", {},
      h("td", {}, h("a", { href: "#/p/" + encodeURIComponent(p.id) + "/" + state.kinds[0].plural, text: p.name })),
      h("td", {}, h("code", { text: p.id })), h("td", { text: when(p.created_at) }))), "No projects yet: create one with New project."));
    return false;
  };
}

function table(headers, rows, empty) {
  const head = h("tr", {}, headers.map((t) => (typeof t === "string" ? h("th", { scope: "col", text: t }) : t)));
  const body = rows.length ? rows : [h("tr", {}, h("td.empty", { colspan: headers.length, text: empty }))];
  return h("table", {}, h("thead", {}, head), h("tbody", {}, body));
}

function viewOnlyNote() {
  return h("p.note", { id: "view-only", text: "You have view-only access to this project: create and delete are not available." });
}

window.addEventListener("hashchange", route);
route();
