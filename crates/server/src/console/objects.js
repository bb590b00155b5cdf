// The Isthmus web console: the list and detail pages of every resource kind, drawn from
// the descriptors the server sends (/console/kinds.json, see console/descriptor.rs).
"use strict";

/** Reads the kinds once: their pages, and where each status of each machine stands. */
async function loadKinds() {
  if (state.kinds) return;
  const [response, catalog] = await Promise.all([fetch("/console/kinds.json"), fetch("/console/catalog.json")]);
  const data = await response.json();
  state.catalog = await catalog.json();
  for (const kind of data.kinds) {
    state.machines[kind.name] = kind.phases;
    Object.assign(state.machines, kind.parts);
  }
  state.kinds = data.kinds;
}

function kindNamed(name) { return state.kinds.find((k) => k.name === name); }

/** Where an object stands, as the CLI's --wait and the controller see it: "done",
 *  "failed" or "moving" (a spec the controller has not observed yet is still moving). */
function settledOf(kind, object) {
  if (object.observed_generation < object.generation) return "moving";
  return phaseOf(kind.name, object.status);
}

function phaseOf(machine, status) { return (state.machines[machine] || {})[status] || "moving"; }

const BADGE_CLASS = { done: "ok", failed: "bad", moving: "busy" };

function badge(status, settled) {
  return h("span.badge." + BADGE_CLASS[settled], { text: status, "data-status": status, "data-settled": settled });
}

function objectBadge(kind, object) { return badge(object.status, settledOf(kind, object)); }

function anyMoving(kind, objects) { return objects.some((o) => settledOf(kind, o) === "moving"); }

// ---- Templates: "{field}", "{nested.field}", "{owner.field}", "{field|filter}" ---------

function lookup(object, path) {
  return path.split(".").reduce((v, key) => (v === null || v === undefined ? v : v[key]), object);
}

/** The template filled from `object` (and `ctx.owner`, `ctx.owners`); `empty` when no
 *  placeholder had a value. */
function fill(template, object, ctx) {
  let empty = true;
  const text = template.replace(/\{([\w.]+)(?:\|(\w+))?\}/g, (_, path, filter) => {
    const value = path.startsWith("owner.") ? lookup(ctx.owner, path.slice(6)) : lookup(object, path);
    const shown = showValue(value, filter, ctx);
    if (shown !== "") empty = false;
    return shown;
  });
  return { text, empty };
}

function showValue(value, filter, ctx) {
  if (value === null || value === undefined) return "";
  switch (filter) {
    case "time": return when(value);
    case "join": return value.join(", ");
    case "count": return String(value.length);
    case "owner": return ((ctx.owners && ctx.owners.get(value)) || {}).name || value;
    // A measured figure (a rate, seconds): whole above 10, one decimal below.
    case "round": return typeof value !== "number" ? String(value)
      : Math.abs(value) >= 10 ? Math.round(value).toLocaleString("en-US") : String(Math.round(value * 10) / 10);
    default: return String(value);
  }
}

/** A column's or property's value as a node (code where the descriptor says so), or null
 *  for an empty value the descriptor hides. */
function valueNode(column, object, ctx) {
  const { text, empty } = fill(column.value, object, ctx);
  if (empty && column.empty === null) return null;
  const shown = empty ? column.empty : text;
  return column.code && !empty ? h("code", { text: shown }) : shown;
}

async function objectsById(kind) {
  const objects = await listAll(projectPath("/" + kind.plural));
  return new Map(objects.map((o) => [o.id, o]));
}

// ---- The list page -----------------------------------------------------------------

async function showList(kind) {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: kind.plural + "-table" });
  const pendingDelete = { id: null };
  const memo = {};
  const owner = kind.owner ? kindNamed(kind.owner) : null;
  const ctx = { owner: {}, owners: owner ? await objectsById(owner) : new Map(), ownerKind: owner };
  let redraw = async () => false;
  // Create is a button at the top, as in the cloud consoles: its form opens in a dialog.
  const create = canWrite()
    ? h("div.toolbar", {}, createButton(kind.name + "-create", "Create " + kind.name,
      (close) => createForm(kind, ctx, () => redraw(), close)))
    : viewOnlyNote();
  main().replaceChildren(h("h1", { text: kind.titles }), create, alert, list);

  redraw = async () => {
    const objects = await listAll(projectPath("/" + kind.plural));
    if (!changed(memo, [objects, pendingDelete.id])) return anyMoving(kind, objects);
    const base = "#/p/" + encodeURIComponent(state.project.id) + "/" + kind.plural + "/";
    const rows = objects.map((o) => h("tr", { "data-name": o.name },
      h("td", {}, h("a", { href: base + encodeURIComponent(o.id), text: o.name })),
      kind.columns.map((c) => h("td" + (c.optional ? ".opt" : ""), {}, valueNode(c, o, ctx))),
      h("td", { title: o.status_message }, objectBadge(kind, o)), h("td.opt", { text: when(o.created_at) }),
      canWrite() ? h("td", {}, deleteControl(kind, o, pendingDelete, alert, redraw)) : null));
    const th = (text, optional) => (optional ? h("th.opt", { scope: "col", text }) : text);
    const headers = ["Name", ...kind.columns.map((c) => th(c.label, c.optional)), "Status", th("Created", true)];
    if (canWrite()) headers.push(h("th", { scope: "col" }, h("span", { text: "Actions" })));
    list.replaceChildren(table(headers, rows, "No " + kind.plural + " yet."));
    return anyMoving(kind, objects);
  };
  return redraw;
}

/** The create form from the kind's fields; an API error shows under the field it names.
 *  `close` closes the dialog it is in, once the object is created. */
function createForm(kind, ctx, redraw, close) {
  const controls = kind.form.map((f) => [f, formControl(f, ctx)]);
  linkChoices(controls, ctx);
  return formShell("Create " + kind.name, async (form) => {
    const body = {};
    for (const [f, el] of controls) setPath(body, f.field, formValue(f, el));
    const r = await api("POST", projectPath("/" + kind.plural), body);
    if (!r.ok) return showProblem(form, r);
    clearErrors(form);
    close();
    say(kind.title + " " + r.data.name + " created; " + r.data.status + ".");
    if (kind.open_after_create) {
      location.hash = "#/p/" + encodeURIComponent(state.project.id) + "/" + kind.plural + "/" + encodeURIComponent(r.data.id);
      return;
    }
    await redraw();
  }, controls.map(([f, el]) => labelled(kind.name + "-" + f.id, f, el)), "Create " + kind.name);
}

// ---- Choices from the catalog (/console/catalog.json) --------------------------------

const CHOICE_TEXT = { aws: "AWS", gcp: "GCP", azure: "Azure", local: "Local (this host)",
  "single-node": "Single node", "three-node-multi-zone": "Three nodes, multi-zone" };

/** Replaces a select's options with `values`, keeping its value (else `preferred`, else
 *  the first) when it is still among them. */
function refill(sel, values, preferred) {
  const keep = values.includes(sel.value) ? sel.value : preferred;
  sel.replaceChildren(...values.map((v) => h("option", { value: v, text: CHOICE_TEXT[v] || v })));
  sel.value = values.includes(keep) ? keep : values[0] || "";
}

/** A region offers the regions of the form's provider (or of the chosen owner's: a
 *  peering's network), a topology those of the form's engine; both follow changes. */
function linkChoices(controls, ctx) {
  const by = (c) => (controls.find(([f]) => f.control === c) || [])[1];
  const fieldOf = (c) => (controls.find(([f]) => f.control === c) || [])[0];
  const region = by("region");
  if (region) {
    const provider = by("provider");
    const owner = by("owner");
    const providerName = () => (provider ? provider.value
      : owner && ctx.owners.get(owner.value) ? ctx.owners.get(owner.value).provider : null);
    const update = () => {
      const p = state.catalog.providers.find((x) => x.name === providerName());
      refill(region, p ? p.regions : [], fieldOf("region").value);
    };
    update();
    (provider || owner || region).addEventListener("change", update);
  }
  const topology = by("topology");
  if (topology) {
    const engine = by("engine");
    const update = () => {
      const e = state.catalog.engines.find((x) => x.name === (engine && engine.value));
      refill(topology, e ? e.topologies : [], fieldOf("topology").value);
    };
    update();
    if (engine) engine.addEventListener("change", update);
  }
}

function formControl(f, ctx) {
  switch (f.control) {
    case "select": return select(f.options, f.value);
    case "provider": return select(state.catalog.providers.map((p) => [p.name, CHOICE_TEXT[p.name] || p.name]), f.value);
    case "engine": return select(state.catalog.engines.map((e) => [e.name, e.name]), f.value);
    case "region": case "topology": return h("select");
    case "owner": return select([...ctx.owners.values()].map((o) => [o.id, fill(ctx.ownerKind.option, o, ctx).text]));
    case "lines": return h("textarea", { rows: 2, placeholder: f.placeholder || null });
    case "check": return h("input", { type: "checkbox" });
    default: return input({ value: f.value || null, placeholder: f.placeholder || null, required: true });
  }
}

function formValue(f, el) {
  switch (f.control) {
    case "lines": return lines(el.value);
    case "check": return el.checked;
    case "text": return el.value.trim();
    default: return el.value;
  }
}

function labelled(id, f, el) {
  if (f.control !== "check") return field(id, f.label, f.field, el);
  el.id = id;
  el.dataset.field = f.field;
  return h("div.field.check", {}, el, h("label", { for: id, text: f.label }));
}

/** setPath(body, "peer.region", v): body.peer.region = v. */
function setPath(object, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  for (const key of keys) object = object[key] = object[key] || {};
  object[last] = value;
}

/** Delete in two steps (no modal dialog): "Delete" then "Confirm delete". */
function deleteControl(kind, object, pending, alert, redraw, outcome) {
  if (kind.going.includes(object.status)) return h("span.note", { text: "—" });
  const what = kind.name + " " + object.name;
  if (pending.id !== object.id) {
    return h("button.danger.small", { type: "button", "aria-label": "Delete " + what,
      onclick: () => { pending.id = object.id; redraw(); } }, "Delete");
  }
  return h("span.actions", {},
    h("button.danger.confirm.small", { type: "button", "aria-label": "Confirm delete " + what,
      onclick: async () => {
        pending.id = null;
        const r = await api("DELETE", projectPath("/" + kind.plural + "/" + encodeURIComponent(object.id)));
        alert.textContent = r.ok ? "" : "Cannot delete " + what + ": " + problemText(r);
        if (r.ok) say("Deleting " + what + ".");
        if (outcome) outcome.deleted = r.ok;
        await redraw();
      } }, "Confirm delete"),
    h("button.small", { type: "button", onclick: () => { pending.id = null; redraw(); } }, "Cancel"));
}

// ---- The detail page ---------------------------------------------------------------

/** The object's status (with what it means, from the kind's help), its properties, and
 *  the kind's bespoke panel below them. */
async function showObject(kind, id, tab) {
  const path = projectPath("/" + kind.plural + "/" + encodeURIComponent(id));
  const list = "#/p/" + encodeURIComponent(state.project.id) + "/" + kind.plural;
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const title = h("h1", { text: kind.title });
  const head = h("div", { id: kind.name + "-details" });
  const actions = h("div.actions", { id: kind.name + "-actions" });
  // What lives in this object (a network's peerings and clusters), each kind a table.
  const held = state.kinds.filter((k) => k.owner === kind.name);
  const holds = h("div", { id: kind.name + "-holds" });
  const body = h("div", { id: kind.name + "-panel" });
  main().replaceChildren(h("p", {}, h("a", { href: list, text: "← All " + kind.plural })), title, alert, head, actions, holds, body);
  const pendingDelete = { id: null };
  const help = new Map(kind.help);
  const memo = {};
  let redraw = async () => false;
  const page = { kind, path, base: list + "/" + encodeURIComponent(id), tab: tab || "overview", body, alert,
    refresh: async () => { memo.last = null; await redraw(); } };
  const panel = kind.panel ? PANELS[kind.panel](page) : null;

  redraw = async () => {
    if (panel && panel.editing()) return true; // keep the user's edits; polling resumes after save or cancel
    const r = await api("GET", path);
    if (!r.ok) { alert.textContent = problemText(r); return false; }
    const object = r.data;
    const ctx = { owner: {} };
    if (kind.owner) {
      const owner = await api("GET", projectPath("/" + kindNamed(kind.owner).plural + "/" + encodeURIComponent(object[kind.owner_field])));
      if (owner.ok) ctx.owner = owner.data;
    }
    const children = [];
    for (const k of held) {
      const all = await listAll(projectPath("/" + k.plural));
      children.push([k, all.filter((o) => o[k.owner_field] === object.id)]);
    }
    const busy = settledOf(kind, object) === "moving" || (panel !== null && panel.busy(object));
    if (!changed(memo, [object, ctx.owner, pendingDelete.id, children])) return busy;
    holds.replaceChildren(...children.map(([k, objects]) => {
      const base = "#/p/" + encodeURIComponent(state.project.id) + "/" + k.plural + "/";
      const rows = objects.map((o) => h("tr", { "data-name": o.name },
        h("td", {}, h("a", { href: base + encodeURIComponent(o.id), text: o.name })),
        h("td", { title: o.status_message }, objectBadge(k, o))));
      return h("section", { id: kind.name + "-" + k.plural, "aria-label": k.titles },
        h("h2", { text: k.titles }),
        h("div.table-wrap", {}, table(["Name", "Status"], rows, "No " + k.plural + " in this " + kind.name + ".")));
    }));
    title.textContent = kind.title + " " + object.name;
    const settled = settledOf(kind, object);
    head.replaceChildren(
      h("p.explain." + BADGE_CLASS[settled], { id: kind.name + "-explain" }, h("strong", {}, "Status: "),
        objectBadge(kind, object), " ", help.get(object.status) || object.status_message),
      h("dl.props", {}, kind.details.flatMap((c) => {
        const value = valueNode(c, object, ctx);
        return value === null ? [] : [h("dt", { text: c.label }), h("dd", { id: c.id }, value)];
      })));
    // Delete here too, in the same two steps as on the list; once it is accepted, back
    // to the list (where the object shows as deleting until it is gone).
    actions.replaceChildren(canWrite() ? deleteControl(kind, object, pendingDelete, alert, async () => {
      if (pendingDelete.id === null && alert.textContent === "" && memo.deleted) { location.hash = list; return; }
      memo.last = null;
      await redraw();
    }, memo) : "");
    if (panel) panel.draw(object, ctx);
    return busy;
  };
  return redraw;
}
