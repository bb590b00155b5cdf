// The Isthmus web console: the reachability analyzer and the audit log.
"use strict";

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
  const kind = h("select", { id: "audit-kind" }, h("option", { value: "", text: "Every kind" }));
  const actor = h("select", { id: "audit-actor" }, h("option", { value: "", text: "Everyone" }));
  const search = h("input", { id: "audit-search", type: "search", placeholder: "name, id or action" });
  const filters = h("div.filters", { role: "search", "aria-label": "Filter the audit log" },
    h("div.field", {}, h("label", { for: "audit-kind", text: "Kind" }), kind),
    h("div.field", {}, h("label", { for: "audit-actor", text: "Actor" }), actor),
    h("div.field", {}, h("label", { for: "audit-search", text: "Search" }), search));
  main().replaceChildren(h("h1", { text: "Audit log" }),
    h("p.note", { text: "Every change to this project, newest first: who (a token's name, or the controller), what, and when." }),
    filters, list);
  // Every page of the log, then newest first; token ids read as their names where this
  // token may list the tokens, else they stay ids.
  const events = [];
  let cursor = null;
  do {
    const r = await api("GET", projectPath("/events?limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "")));
    if (!r.ok) { list.textContent = problemText(r); return; }
    events.push(...r.data.items);
    cursor = r.data.next_cursor;
  } while (cursor);
  events.reverse();
  const names = new Map();
  // The project's tokens (an admin may list them) and, for the superuser, every token.
  for (const path of [projectPath("/tokens"), "/v1/tokens"]) {
    const tokens = await api("GET", path);
    if (tokens.ok) for (const t of tokens.data) names.set("token:" + t.id, t.name);
  }
  const actorName = (a) => names.get(a) || a;
  const objectName = (e) => (e.after && e.after.name) || (e.before && e.before.name) || "";
  for (const k of [...new Set(events.map((e) => e.resource_kind))].sort()) kind.append(h("option", { value: k, text: k }));
  for (const a of [...new Set(events.map((e) => actorName(e.actor)))].sort()) actor.append(h("option", { value: a, text: a }));
  const draw = () => {
    const text = search.value.trim().toLowerCase();
    const shown = events.filter((e) => (!kind.value || e.resource_kind === kind.value)
      && (!actor.value || actorName(e.actor) === actor.value)
      && (!text || [objectName(e), e.resource_id, e.action].some((v) => v.toLowerCase().includes(text))));
    const rows = shown.map((e) => h("tr", { "data-seq": String(e.seq) }, h("td", { text: String(e.seq) }),
      h("td.opt", { text: when(e.time) }), h("td", { text: actorName(e.actor) }),
      h("td", {}, h("code", { text: e.action })), h("td", { text: objectName(e) }),
      h("td.opt", {}, h("code", { text: e.resource_id }))));
    list.replaceChildren(table(["#", h("th.opt", { scope: "col", text: "Time" }), "Actor", "Action", "Name",
      h("th.opt", { scope: "col", text: "Resource" })], rows,
      events.length ? "No event matches the filters." : "Nothing has happened yet."));
  };
  for (const el of [kind, actor]) el.addEventListener("change", draw);
  search.addEventListener("input", draw);
  draw();
}

// ---- Tokens ------------------------------------------------------------------------

/** The project's tokens (an admin's page): who may act here, with which role; create one
 *  (its secret is shown once) or revoke one in two steps. */
async function showTokens() {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: "tokens-table" });
  const secret = h("div", { id: "token-secret" });
  const pending = { id: null };
  let draw = async () => {};
  const create = createButton("token-create", "Create token", (close) => {
    const name = h("input", { type: "text", autocomplete: "off" });
    const role = select([["viewer", "viewer: read"], ["operator", "operator: also change"], ["admin", "admin: also tokens"]], "viewer");
    return formShell("Create token", async (form) => {
      const r = await api("POST", projectPath("/tokens"), { name: name.value.trim(), role: role.value });
      if (!r.ok) return showProblem(form, r);
      close();
      secret.replaceChildren(h("section.panel", { "aria-label": "New token secret" },
        h("h2", { text: "Secret of " + r.data.token.name }),
        h("p.note", { text: "Shown only now: store it safely." }), copyRow(r.data.secret, "token secret")));
      say("Token " + r.data.token.name + " created.");
      await draw();
    }, [field("token-name", "Name", "name", name), field("token-role", "Role", "role", role)], "Create token");
  });
  main().replaceChildren(h("h1", { text: "Tokens" }),
    h("p.note", { text: "API tokens with a role in this project. A secret is shown once, when its token is created." }),
    h("div.toolbar", {}, create), alert, secret, list);
  draw = async () => {
    const r = await api("GET", projectPath("/tokens"));
    if (!r.ok) { list.textContent = problemText(r); return; }
    const rows = r.data.map((t) => {
      const what = "token " + t.name;
      const gone = Boolean(t.revoked_at);
      const revoke = gone ? h("span.note", { text: "revoked" }) : pending.id !== t.id
        ? h("button.danger.small", { type: "button", "aria-label": "Revoke " + what,
          onclick: () => { pending.id = t.id; draw(); } }, "Revoke")
        : h("span.actions", {},
          h("button.danger.confirm.small", { type: "button", "aria-label": "Confirm revoke " + what,
            onclick: async () => {
              pending.id = null;
              const done = await api("DELETE", projectPath("/tokens/" + encodeURIComponent(t.id)));
              alert.textContent = done.ok ? "" : "Cannot revoke " + what + ": " + problemText(done);
              if (done.ok) say("Revoked " + what + ".");
              await draw();
            } }, "Confirm revoke"),
          h("button.small", { type: "button", onclick: () => { pending.id = null; draw(); } }, "Cancel"));
      return h("tr", { "data-name": t.name }, h("td", { text: t.name }), h("td", { text: t.role }),
        h("td.opt", { text: when(t.created_at) }), h("td.opt", { text: t.expires_at ? when(t.expires_at) : "never" }),
        h("td", {}, revoke));
    });
    list.replaceChildren(table(["Name", "Role", h("th.opt", { scope: "col", text: "Created" }),
      h("th.opt", { scope: "col", text: "Expires" }), h("th", { scope: "col", text: "Actions" })], rows, "No tokens."));
  };
  await draw();
}
