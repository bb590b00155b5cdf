// The Isthmus web console: a small hand-written app over the public REST API (/v1), with
// the user's bearer token kept in sessionStorage. No build step, no framework.
"use strict";

const TOKEN_KEY = "isthmus.token";
// Statuses that change on their own: while one is on screen the page polls fast.
const BUSY = new Set(["provisioning", "pending_acceptance", "pending_peer", "updating", "deleting"]);
const FAST_POLL_MS = 1500;
const SLOW_POLL_MS = 10000;

const state = { token: sessionStorage.getItem(TOKEN_KEY), project: null, role: null, view: 0, timer: null };

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

function badge(status) {
  const kind = status === "active" || status === "running" ? "ok"
    : BUSY.has(status) ? "busy"
      : ["error", "invalid_specification", "rejected_by_peer", "deleted_by_peer"].includes(status) ? "bad" : "";
  return h("span.badge" + (kind ? "." + kind : ""), { text: status, "data-status": status });
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
  if (parts[0] === "projects") return render(view, showProjects);
  if (parts[0] !== "p" || parts.length < 3) return render(view, notFound);
  if (!(await enterProject(parts[1]))) return;
  if (view !== state.view) return;
  const [, , page, id, tab] = parts;
  const pages = {
    networks: () => showNetworks(),
    peerings: () => (id ? showPeering(id) : showPeerings()),
    clusters: () => (id ? showCluster(id, tab || "overview") : showClusters()),
    reachability: () => showReachability(),
    audit: () => showAudit(),
  };
  drawNav(page);
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
  nav.replaceChildren(link("networks", "Networks"), link("peerings", "Peerings"),
    link("clusters", "Clusters"), link("reachability", "Reachability"), link("audit", "Audit log"));
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
    h("p.note", { text: "Private networking for managed databases. Use the token printed by `isthmus serve` or one made with `isthmus token create`." }),
    panel);
  token.focus();
}

async function showProjects() {
  state.project = null;
  document.getElementById("nav").hidden = true;
  drawWho();
  const list = h("div.table-wrap");
  const name = input({ required: true });
  const create = formShell("New project", async (form) => {
    const r = await api("POST", "/v1/projects", { name: name.value.trim() });
    if (!r.ok) return showProblem(form, r);
    clearErrors(form);
    say("Project " + r.data.name + " created.");
    location.hash = "#/p/" + encodeURIComponent(r.data.id) + "/networks";
  }, [field("project-name", "Name", "name", name)], "Create project");
  main().replaceChildren(h("h1", { text: "Choose a project" }), list, create);
  return async () => {
    const projects = await listAll("/v1/projects");
    list.replaceChildren(table(["Name", "Id", "Created"], projects.map((p) => h("tr", {},
      h("td", {}, h("a", { href: "#/p/" + encodeURIComponent(p.id) + "/networks", text: p.name })),
      h("td", {}, h("code", { text: p.id })), h("td", { text: when(p.created_at) }))), "No projects yet: create one below."));
    return false;
  };
}

function table(headers, rows, empty) {
  const head = h("tr", {}, headers.map((t) => (typeof t === "string" ? h("th", { scope: "col", text: t }) : t)));
  const body = rows.length ? rows : [h("tr", {}, h("td.empty", { colspan: headers.length, text: empty }))];
  return h("table", {}, h("thead", {}, head), h("tbody", {}, body));
}

// ---- Networks ----------------------------------------------------------------------

async function showNetworks() {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: "networks-table" });
  const pendingDelete = { id: null };
  const memo = {};
  const children = [h("h1", { text: "Networks" }), alert, list];
  let redraw = async () => false;

  if (canWrite()) {
    const name = input({ required: true });
    const provider = select([["aws", "AWS"], ["gcp", "GCP"], ["azure", "Azure"], ["local", "Local (this host)"]], "aws");
    const region = input({ value: "us-east-1", required: true });
    const cidr = input({ placeholder: "10.0.0.0/16", required: true });
    children.push(formShell("Create network", async (form) => {
      const r = await api("POST", projectPath("/networks"), {
        name: name.value.trim(), provider: provider.value, region: region.value.trim(), cidr_block: cidr.value.trim(),
      });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      form.reset();
      say("Network " + r.data.name + " created; provisioning.");
      await redraw();
    }, [field("network-name", "Name", "name", name), field("network-provider", "Provider", "provider", provider),
      field("network-region", "Region", "region", region), field("network-cidr", "CIDR block", "cidr_block", cidr)],
    "Create network"));
  } else {
    children.push(viewOnlyNote());
  }
  main().replaceChildren(...children);

  redraw = async () => {
    const networks = await listAll(projectPath("/networks"));
    if (!changed(memo, [networks, pendingDelete.id])) return networks.some((n) => BUSY.has(n.status));
    const rows = networks.map((n) => h("tr", { "data-name": n.name },
      h("td", {}, n.name), h("td", { text: n.provider }), h("td.opt", { text: n.region }),
      h("td", {}, h("code", { text: n.cidr_block })),
      h("td", { title: n.status_message }, badge(n.status)), h("td.opt", { text: when(n.created_at) }),
      canWrite() ? h("td", {}, deleteControl("network", n, pendingDelete, alert, redraw)) : null));
    const headers = ["Name", "Provider", h("th.opt", { scope: "col", text: "Region" }), "CIDR", "Status",
      h("th.opt", { scope: "col", text: "Created" })];
    if (canWrite()) headers.push(h("th", { scope: "col" }, h("span", { text: "Actions" })));
    list.replaceChildren(table(headers, rows, "No networks yet."));
    return networks.some((n) => BUSY.has(n.status));
  };
  return redraw;
}

function viewOnlyNote() {
  return h("p.note", { id: "view-only", text: "You have view-only access to this project: create and delete are not available." });
}

/** Delete in two steps (no modal dialog): "Delete" then "Confirm delete". */
function deleteControl(kind, resource, pending, alert, redraw) {
  if (resource.status === "deleting" || resource.status === "deleted") return h("span.note", { text: "—" });
  if (pending.id !== resource.id) {
    return h("button.danger.small", { type: "button", "aria-label": "Delete " + kind + " " + resource.name,
      onclick: () => { pending.id = resource.id; redraw(); } }, "Delete");
  }
  return h("span.actions", {},
    h("button.danger.confirm.small", { type: "button", "aria-label": "Confirm delete " + kind + " " + resource.name,
      onclick: async () => {
        pending.id = null;
        const r = await api("DELETE", projectPath("/" + kind + "s/" + encodeURIComponent(resource.id)));
        alert.textContent = r.ok ? "" : "Cannot delete " + kind + " " + resource.name + ": " + problemText(r);
        if (r.ok) say("Deleting " + kind + " " + resource.name + ".");
        await redraw();
      } }, "Confirm delete"),
    h("button.small", { type: "button", onclick: () => { pending.id = null; redraw(); } }, "Cancel"));
}

// ---- Peerings ----------------------------------------------------------------------

const PEERING_HELP = {
  provisioning: "Isthmus is requesting the peering in the cloud. Nothing to do yet.",
  pending_acceptance: "Your action is needed: accept the peering request in your cloud account, then route the platform CIDR through it. The commands below do both.",
  pending_peer: "Your action is needed: create the matching peering (GCP) or grant the role (Azure) on your side. Run the commands below.",
  active: "The peering is active. Your route tables must send the Local Address through the peering (commands below).",
  invalid_specification: "The cloud refused the request as specified. Check the peer account, network id and region, then delete this peering and create it again.",
  rejected_by_peer: "The request was rejected on your side. Delete this peering, and create it again when you are ready to accept.",
  deleted_by_peer: "The peering was deleted on your side. Delete it here too, or create it again.",
  error: "Isthmus hit an error talking to the cloud and keeps retrying. Nothing to do unless it persists.",
  deleting: "Isthmus is removing the peering.",
  deleted: "The peering is gone.",
};

async function networksById() {
  const networks = await listAll(projectPath("/networks"));
  return new Map(networks.map((n) => [n.id, n]));
}

async function showPeerings() {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: "peerings-table" });
  const pendingDelete = { id: null };
  const memo = {};
  const children = [h("h1", { text: "Peerings" }), alert, list];
  let redraw = async () => false;
  const networks = await networksById();

  if (canWrite()) {
    const name = input({ required: true });
    const network = select([...networks.values()].map((n) => [n.id, n.name + " (" + n.cidr_block + ")"]));
    const account = input({ required: true });
    const peerNetwork = input({ required: true, placeholder: "vpc-…" });
    const region = input({ value: "us-east-1", required: true });
    const routes = h("textarea", { rows: 2, placeholder: "192.168.0.0/16" });
    const transit = h("input", { type: "checkbox" });
    transit.id = "peering-transit";
    children.push(formShell("Create peering", async (form) => {
      const r = await api("POST", projectPath("/peerings"), {
        name: name.value.trim(), network_id: network.value,
        peer: { account_id: account.value.trim(), network_id: peerNetwork.value.trim(), region: region.value.trim() },
        routes: lines(routes.value), allow_gateway_transit: transit.checked,
      });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      say("Peering " + r.data.name + " created.");
      location.hash = "#/p/" + encodeURIComponent(state.project.id) + "/peerings/" + encodeURIComponent(r.data.id);
    }, [field("peering-name", "Name", "name", name), field("peering-network", "Network", "network_id", network),
      field("peering-account", "Peer account id", "peer.account_id", account),
      field("peering-peer-network", "Peer network (VPC id)", "peer.network_id", peerNetwork),
      field("peering-region", "Peer region", "peer.region", region),
      field("peering-routes", "Remote routes (one per line)", "routes", routes),
      h("div.field.check", {}, transit, h("label", { for: "peering-transit", text: "Allow gateway transit (Azure)" }))],
    "Create peering"));
  } else {
    children.push(viewOnlyNote());
  }
  main().replaceChildren(...children);

  redraw = async () => {
    const peerings = await listAll(projectPath("/peerings"));
    if (!changed(memo, [peerings, pendingDelete.id])) return peerings.some((p) => BUSY.has(p.status));
    const base = "#/p/" + encodeURIComponent(state.project.id) + "/peerings/";
    const rows = peerings.map((p) => h("tr", { "data-name": p.name },
      h("td", {}, h("a", { href: base + encodeURIComponent(p.id), text: p.name })),
      h("td.opt", { text: (networks.get(p.network_id) || {}).name || p.network_id }),
      h("td.opt", {}, p.peer.account_id + " / " + p.peer.network_id),
      h("td", { text: p.routes.join(", ") }), h("td", {}, badge(p.status)),
      h("td.opt", { text: when(p.created_at) }),
      canWrite() ? h("td", {}, deleteControl("peering", p, pendingDelete, alert, redraw)) : null));
    const headers = ["Name", h("th.opt", { scope: "col", text: "Network" }), h("th.opt", { scope: "col", text: "Peer" }),
      "Remote routes", "Status", h("th.opt", { scope: "col", text: "Created" })];
    if (canWrite()) headers.push("Actions");
    list.replaceChildren(table(headers, rows, "No peerings yet."));
    return peerings.some((p) => BUSY.has(p.status));
  };
  return redraw;
}

async function showPeering(id) {
  const path = projectPath("/peerings/" + encodeURIComponent(id));
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const body = h("div", { id: "peering-details" });
  const title = h("h1", { text: "Peering" });
  const back = h("p", {}, h("a", { href: "#/p/" + encodeURIComponent(state.project.id) + "/peerings", text: "← All peerings" }));
  main().replaceChildren(back, title, alert, body);
  let editing = false;
  let current = null;
  const memo = {};

  const routesForm = () => {
    const routes = h("textarea", { rows: 3 });
    routes.value = current.routes.join("\n");
    return formShell("Edit routes", async (form) => {
      const r = await api("PATCH", path, { routes: lines(routes.value) }, { "If-Match": '"' + current.version + '"' });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      editing = false;
      say("Routes saved; applying.");
      await redraw();
    }, [field("peering-routes-edit", "Remote routes (one per line)", "routes", routes),
      h("div.actions", {}, h("button", { type: "button", onclick: () => { editing = false; redraw(); } }, "Cancel"))], "Save routes");
  };

  const redraw = async () => {
    if (editing) return true; // keep the user's edits; polling resumes after save or cancel
    const r = await api("GET", path);
    if (!r.ok) { alert.textContent = problemText(r); return false; }
    const p = (current = r.data);
    const network = await api("GET", projectPath("/networks/" + encodeURIComponent(p.network_id)));
    if (!changed(memo, [p, network.data])) return BUSY.has(p.status);
    title.textContent = "Peering " + p.name;
    const help = PEERING_HELP[p.status] || "";
    const waiting = p.status === "pending_acceptance" || p.status === "pending_peer";
    const controls = h("div.actions", {},
      h("button", { type: "button", id: "peering-refresh", onclick: async () => {
        const rr = await api("POST", path + "/refresh");
        alert.textContent = rr.ok ? "" : problemText(rr);
        say("Refreshing from the cloud.");
        await redraw();
      } }, "Refresh"),
      canWrite() ? h("button", { type: "button", id: "peering-edit-routes", onclick: () => { editing = true; memo.last = null; drawEditor(); } }, "Edit routes") : null);
    body.replaceChildren(
      h("p.explain" + (p.status === "active" ? ".ok" : ""), { id: "peering-explain" }, h("strong", {}, "Status: "), badge(p.status), " ", help),
      h("dl.props", {},
        h("dt", { text: "Local Address" }), h("dd", { id: "local-address" }, h("code", { text: network.ok ? network.data.cidr_block : "?" })),
        h("dt", { text: "Remote Address" }), h("dd", { id: "remote-address" }, h("code", { text: p.routes.join(", ") })),
        h("dt", { text: "Network" }), h("dd", { text: network.ok ? network.data.name + " (" + network.data.provider + ", " + network.data.region + ")" : p.network_id }),
        h("dt", { text: "Peer" }), h("dd", { text: p.peer.account_id + " / " + p.peer.network_id + " / " + p.peer.region }),
        h("dt", { text: "Cloud peering id" }), h("dd", {}, h("code", { text: p.provider_peering_id || "not yet requested" })),
        h("dt", { text: "Status message" }), h("dd", { text: p.status_message || "—" }),
        p.warnings.length ? [h("dt", { text: "Warnings" }), h("dd", { text: p.warnings.join(" ") })] : null),
      controls,
      h("h2", { text: waiting ? "Run these on your side" : "Customer commands" }),
      p.customer_actions.length
        ? h("ul.copylist", { id: "customer-actions" }, p.customer_actions.map((a, i) =>
          h("li", {}, h("span", { text: a.description }), copyRow(a.command, "command " + (i + 1)))))
        : h("p.note", { text: "No commands yet." }));
    return BUSY.has(p.status);
  };
  const drawEditor = () => {
    body.querySelector(".actions").after(routesForm());
    body.querySelector("#peering-routes-edit").focus();
  };
  return redraw;
}

// ---- Clusters ----------------------------------------------------------------------

async function showClusters() {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: "clusters-table" });
  const pendingDelete = { id: null };
  const memo = {};
  const children = [h("h1", { text: "Clusters" }), alert, list];
  let redraw = async () => false;
  const networks = await networksById();

  if (canWrite()) {
    const name = input({ required: true });
    const network = select([...networks.values()].map((n) => [n.id, n.name + " (" + n.cidr_block + ")"]));
    const engine = input({ value: "probe", required: true });
    const topology = select([["single-node", "Single node"], ["three-node-multi-zone", "Three nodes, multi-zone"]], "single-node");
    children.push(formShell("Create cluster", async (form) => {
      const r = await api("POST", projectPath("/clusters"), {
        name: name.value.trim(), network_id: network.value, engine: engine.value.trim(), topology: topology.value,
      });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      form.reset();
      say("Cluster " + r.data.name + " created; provisioning.");
      await redraw();
    }, [field("cluster-name", "Name", "name", name), field("cluster-network", "Network", "network_id", network),
      field("cluster-engine", "Engine", "engine", engine), field("cluster-topology", "Topology", "topology", topology)],
    "Create cluster"));
  } else {
    children.push(viewOnlyNote());
  }
  main().replaceChildren(...children);

  redraw = async () => {
    const clusters = await listAll(projectPath("/clusters"));
    if (!changed(memo, [clusters, pendingDelete.id])) return clusters.some((c) => BUSY.has(c.status));
    const base = "#/p/" + encodeURIComponent(state.project.id) + "/clusters/";
    const rows = clusters.map((c) => h("tr", { "data-name": c.name },
      h("td", {}, h("a", { href: base + encodeURIComponent(c.id), text: c.name })),
      h("td.opt", { text: (networks.get(c.network_id) || {}).name || c.network_id }),
      h("td.opt", { text: c.engine + ", " + c.topology }), h("td", { text: String(c.nodes.length) }),
      h("td", {}, badge(c.status)), h("td.opt", { text: when(c.created_at) }),
      canWrite() ? h("td", {}, deleteControl("cluster", c, pendingDelete, alert, redraw)) : null));
    const headers = ["Name", h("th.opt", { scope: "col", text: "Network" }), h("th.opt", { scope: "col", text: "Engine" }),
      "Nodes", "Status", h("th.opt", { scope: "col", text: "Created" })];
    if (canWrite()) headers.push("Actions");
    list.replaceChildren(table(headers, rows, "No clusters yet."));
    return clusters.some((c) => BUSY.has(c.status));
  };
  return redraw;
}

async function showCluster(id, tab) {
  const path = projectPath("/clusters/" + encodeURIComponent(id));
  const base = "#/p/" + encodeURIComponent(state.project.id) + "/clusters/" + encodeURIComponent(id);
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const title = h("h1", { text: "Cluster" });
  const body = h("div", { id: "cluster-" + tab });
  const tabLink = (name, text) => h("a", { href: base + (name === "overview" ? "" : "/" + name), text, "aria-current": tab === name ? "page" : null });
  const ca = h("a", { id: "ca-download", download: "ca.pem", href: "#", "aria-disabled": "true" }, "Download the CA certificate (ca.pem)");
  main().replaceChildren(
    h("p", {}, h("a", { href: "#/p/" + encodeURIComponent(state.project.id) + "/clusters", text: "← All clusters" })),
    title, alert,
    h("nav.tabs", { "aria-label": "Cluster sections" }, tabLink("overview", "Overview"), tabLink("addresses", "Addresses"), tabLink("access", "Access")),
    body, h("p", {}, ca));
  fetch(projectPath("/ca.pem"), { headers: { Authorization: "Bearer " + state.token } })
    .then((r) => (r.ok ? r.blob() : null))
    .then((blob) => {
      if (!blob) { ca.textContent = "No CA certificate on this server."; return; }
      ca.href = URL.createObjectURL(blob);
      ca.removeAttribute("aria-disabled");
    })
    .catch(() => { ca.textContent = "The CA certificate could not be fetched."; });

  let editing = false;
  const memo = {};
  const redraw = async () => {
    if (editing) return true;
    const r = await api("GET", path);
    if (!r.ok) { alert.textContent = problemText(r); return false; }
    const c = r.data;
    if (!changed(memo, c)) return BUSY.has(c.status) || c.nodes.some((n) => BUSY.has(n.status));
    title.textContent = "Cluster " + c.name;
    if (tab === "addresses") drawAddresses(body, c);
    else if (tab === "access") drawAccess(body, c, path, () => { editing = true; memo.last = null; }, async () => { editing = false; await redraw(); });
    else drawOverview(body, c);
    return BUSY.has(c.status) || c.nodes.some((n) => BUSY.has(n.status));
  };
  return redraw;
}

function drawOverview(body, c) {
  body.replaceChildren(
    h("dl.props", {},
      h("dt", { text: "Status" }), h("dd", {}, badge(c.status), " ", c.status_message),
      h("dt", { text: "DNS name" }), h("dd", {}, h("code", { text: c.dns_name })),
      h("dt", { text: "Engine" }), h("dd", { text: c.engine + " (" + c.topology + ")" }),
      h("dt", { text: "Created" }), h("dd", { text: when(c.created_at) })),
    h("h2", { text: "Nodes" }),
    h("div.table-wrap", { id: "nodes" }, table(["#", "IP", "DNS name", "Zone", "Status"], c.nodes.map((n) => h("tr", {},
      h("td", { text: String(n.index) }), h("td", {}, h("code", { text: n.ip })), h("td", {}, h("code", { text: n.dns_name })),
      h("td", { text: n.zone }), h("td", {}, badge(n.status)))), "No nodes yet.")));
}

function drawAddresses(body, c) {
  body.replaceChildren(h("h2", { text: "Addresses" }),
    c.addresses.length
      ? h("ul.copylist", { id: "addresses" }, c.addresses.map((a) => h("li", { "data-name": a.name },
        h("strong", { text: a.name }), copyRow(a.uri, a.name))))
      : h("p.note", { text: "Addresses appear once the cluster is running." }));
}

/** "CIDR comment" lines → allow-list entries (the API names a bad line by its index). */
function parseAllowlist(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [cidr, ...comment] = l.split(/\s+/);
    return { cidr, comment: comment.join(" ") };
  });
}

function allowlistText(list) {
  return list.map((e) => (e.comment ? e.cidr + " " + e.comment : e.cidr)).join("\n");
}

function drawAccess(body, c, path, startEdit, done) {
  const enabled = h("input", { type: "checkbox", checked: c.public_access.enabled, disabled: !canWrite() });
  enabled.id = "public-enabled";
  const list = h("textarea", { rows: 4, disabled: !canWrite(), placeholder: "203.0.113.0/24 office" });
  list.value = allowlistText(c.public_access.allowlist);
  const privateList = h("textarea", { rows: 4, disabled: !canWrite(), placeholder: "empty: every peered source" });
  privateList.value = allowlistText(c.private_allowlist || []);
  [enabled, list, privateList].forEach((el) => el.addEventListener("input", startEdit));
  const patch = async (f, body, message) => {
    const r = await api("PATCH", path, body, { "If-Match": '"' + c.version + '"' });
    if (!r.ok) return showProblem(f, r);
    say(message);
    await done();
  };
  const form = formShell("Public access", (f) =>
    patch(f, { public_access: { enabled: enabled.checked, allowlist: parseAllowlist(list.value) } }, "Public access saved."),
  [h("div.field.check", {}, enabled, h("label", { for: "public-enabled", text: "Reachable from the internet" })),
    field("public-allowlist", "Allow-list (one CIDR per line, optional comment after it)", "public_access", list)], "Save public access");
  const privateForm = formShell("Private allow-list", (f) =>
    patch(f, { private_allowlist: parseAllowlist(privateList.value) }, "Private allow-list saved."),
  [field("private-allowlist", "Peered sources that may connect (empty: all)", "private_allowlist", privateList)],
  "Save private allow-list");
  for (const fm of [form, privateForm]) if (!canWrite()) fm.querySelector("button[type=submit]").remove();
  const endpoint = c.public_endpoint
    ? h("p", {}, "Public endpoint: ", h("code", { text: c.public_endpoint.dns_name }), " (" + c.public_endpoint.ip + ")")
    : h("p.note", { text: "No public endpoint: public access is off." });
  const warnings = (c.warnings || []).map((w) => h("p.warning", { text: w }));
  body.replaceChildren(endpoint, ...warnings, form, privateForm);
}

// ---- Reachability ------------------------------------------------------------------

/** One hop of the analyzer's path as a line of text. */
function hopText(hop) {
  switch (hop.hop) {
    case "source": return "From " + hop.ip + " (" + (hop.network || "unknown network") + ")";
    case "peering": return "Over peering " + hop.name + " (" + hop.status + ")";
    case "route_matched": return "Matches route " + hop.route;
    case "transit_route_matched": return "Matches gateway-transit route " + hop.route;
    case "gateway": return "Through the gateway of " + hop.network;
    case "public_endpoint": return "At public endpoint " + hop.dns_name + " (" + hop.ip + ")";
    case "firewall": return "Firewall " + hop.rule + ": " + hop.verdict;
    case "destination": return "To " + hop.node + " " + hop.ip + ":" + hop.port;
    default: return JSON.stringify(hop);
  }
}

async function showReachability() {
  const clusters = await listAll(projectPath("/clusters"));
  const from = input({ required: true, placeholder: "192.168.1.10 or lab-vpc/host" });
  const to = select(clusters.map((c) => [c.id, c.name + " (" + c.dns_name + ")"]));
  const port = input({ type: "number", min: 1, max: 65535, placeholder: "the engine's port" });
  const result = h("section", { id: "reach-result", "aria-live": "polite" });
  const form = formShell("Check reachability", async (f) => {
    const body = { from: from.value.trim(), to: to.value };
    if (port.value) body.port = Number(port.value);
    const r = await api("POST", projectPath("/reachability"), body);
    if (!r.ok) { result.replaceChildren(); return showProblem(f, r); }
    clearErrors(f);
    drawVerdicts(result, r.data);
  }, [field("reach-from", "Source (IPv4 address, or lab VPC/HOST)", "from", from),
    field("reach-to", "Destination cluster", "to", to), field("reach-port", "TCP port (optional)", "port", port)], "Check");
  main().replaceChildren(h("h1", { text: "Reachability" }),
    h("p.note", { text: "May this source open a connection to this cluster? The analyzer follows the peerings, routes and firewall, node by node, and says what to change when the answer is no." }),
    clusters.length ? form : h("p.note", { text: "No clusters yet: create one first." }), result);
}

function drawVerdicts(result, reach) {
  result.replaceChildren(
    h("h2", {}, "Verdict: ", h("span.badge." + (reach.allowed ? "ok" : "bad"), { id: "reach-verdict", text: reach.allowed ? "allowed" : "denied" }),
      " on port " + reach.port),
    ...reach.verdicts.map((v, i) => {
      const dest = v.hops.find((hop) => hop.hop === "destination");
      return h("div.panel.verdict", { "data-reason": v.reason },
        h("h3", { text: (dest ? dest.node + " " + dest.ip : "Node " + (i + 1)) + ": " + v.reason }),
        h("p", { text: v.explanation }),
        h("ol.hops", {}, v.hops.map((hop) => h("li", { text: hopText(hop) }))),
        v.fix ? h("div.fix", {}, h("p", {}, h("strong", {}, "Fix: "), v.fix.summary),
          v.fix.commands.map((c, j) => copyRow(c, "fix command " + (j + 1)))) : null);
    }));
}

// ---- Audit log ---------------------------------------------------------------------

async function showAudit() {
  const list = h("div.table-wrap", { id: "audit-table" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  main().replaceChildren(h("h1", { text: "Audit log" }),
    h("p.note", { text: "Every change to this project, oldest first: who (token or controller), what, and when." }), list, more);
  const rows = [];
  let cursor = null;
  const load = async () => {
    const r = await api("GET", projectPath("/events?limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "")));
    if (!r.ok) { list.textContent = problemText(r); return; }
    for (const e of r.data.items) {
      rows.push(h("tr", {}, h("td", { text: String(e.seq) }), h("td.opt", { text: when(e.time) }), h("td", { text: e.actor }),
        h("td", {}, h("code", { text: e.action })), h("td", { text: e.resource_kind }), h("td.opt", {}, h("code", { text: e.resource_id }))));
    }
    cursor = r.data.next_cursor;
    more.hidden = !cursor;
    list.replaceChildren(table(["#", h("th.opt", { scope: "col", text: "Time" }), "Actor", "Action", "Kind",
      h("th.opt", { scope: "col", text: "Resource" })], rows, "Nothing has happened yet."));
  };
  more.addEventListener("click", load);
  await load();
}

window.addEventListener("hashchange", route);
route();
