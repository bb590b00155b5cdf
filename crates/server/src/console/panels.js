// The Isthmus web console: the bespoke panels of a kind's detail page, below its status
// and properties. A panel is made once per page with `page` (kind, path, base, tab, body,
// alert, refresh) and answers draw(object, ctx), editing() (redraws wait while true) and
// busy(object) (poll fast).
"use strict";

const PANELS = { peering: peeringPanel, cluster: clusterPanel, vpn_gateway: vpnGatewayPanel,
  endpoint_service: endpointServicePanel };

// ---- Peerings: refresh, route editing, and what the customer runs -------------------

function waitsOnCustomer(p) { return p.status === "pending_acceptance" || p.status === "pending_peer"; }

function peeringPanel(page) {
  let editing = false;
  let current = null;
  const routesForm = () => {
    const routes = h("textarea", { rows: 3 });
    routes.value = current.routes.join("\n");
    return formShell("Edit routes", async (form) => {
      const r = await api("PATCH", page.path, { routes: lines(routes.value) }, { "If-Match": '"' + current.version + '"' });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      editing = false;
      say("Routes saved; applying.");
      await page.refresh();
    }, [field("peering-routes-edit", "Remote routes (one per line)", "routes", routes),
      h("div.actions", {}, h("button", { type: "button", onclick: () => { editing = false; page.refresh(); } }, "Cancel"))], "Save routes");
  };
  const edit = () => {
    editing = true;
    page.body.querySelector(".actions").after(routesForm());
    page.body.querySelector("#peering-routes-edit").focus();
  };
  const draw = (p) => {
    current = p;
    const controls = h("div.actions", {},
      h("button", { type: "button", id: "peering-refresh", onclick: async () => {
        const r = await api("POST", page.path + "/refresh");
        page.alert.textContent = r.ok ? "" : problemText(r);
        say("Refreshing from the cloud.");
        await page.refresh();
      } }, "Refresh"),
      canWrite() ? h("button", { type: "button", id: "peering-edit-routes", onclick: edit }, "Edit routes") : null);
    // Only what is still to do: nothing once the peering is active, failed or going (a
    // list stored before then is stale); the status help above says what happened.
    const todo = waitsOnCustomer(p) || p.status === "provisioning" ? p.customer_actions : [];
    page.body.replaceChildren(controls,
      h("h2", { text: "Run these on your side" }),
      todo.length
        ? h("ul.copylist", { id: "customer-actions" }, todo.map((a, i) =>
          h("li", {}, h("span", { text: a.description }), copyRow(a.command, "command " + (i + 1)))))
        : h("p.note", { id: "customer-actions-none", text: p.status === "provisioning" ? "No commands yet." : "Nothing left to run on your side." }));
  };
  // Waiting on the customer is settled, but they are about to act: keep watching closely.
  return { draw, editing: () => editing, busy: waitsOnCustomer };
}

// ---- Clusters: nodes, addresses, access ------------------------------------------

function clusterPanel(page) {
  const tabLink = (name, text) => h("a", { href: page.base + (name === "overview" ? "" : "/" + name), text,
    "aria-current": page.tab === name ? "page" : null });
  const body = h("div", { id: "cluster-" + page.tab });
  const ca = h("a", { id: "ca-download", download: "ca.pem", href: "#", "aria-disabled": "true" }, "Download the CA certificate (ca.pem)");
  page.body.replaceChildren(
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
  const draw = (c) => {
    if (page.tab === "addresses") drawAddresses(body, c);
    else if (page.tab === "access") drawAccess(body, c, page.path, () => { editing = true; }, async () => { editing = false; await page.refresh(); });
    else drawNodes(body, c);
  };
  const busy = (c) => c.nodes.some((n) => phaseOf("node", n.status) === "moving");
  return { draw, editing: () => editing, busy };
}

function drawNodes(body, c) {
  body.replaceChildren(h("h2", { text: "Nodes" }),
    h("div.table-wrap", { id: "nodes" }, table(["#", "IP", "DNS name", "Zone", "Status"], c.nodes.map((n) => h("tr", {},
      h("td", { text: String(n.index) }), h("td", {}, h("code", { text: n.ip })), h("td", {}, h("code", { text: n.dns_name })),
      h("td", { text: n.zone }), h("td", {}, badge(n.status, phaseOf("node", n.status))))), "No nodes yet.")));
}

/** `uri` by the public name: each of `names` (the cluster's and its nodes') as host becomes
 *  `pub`; seeds that become the same are kept once (as `isthmus cluster addresses`). */
function publicUri(uri, names, pub) {
  const seeds = [];
  for (let seed of uri.split(",")) {
    for (const n of names) seed = seed.split("//" + n + ":").join("//" + pub + ":").split("@" + n + ":").join("@" + pub + ":");
    if (!seeds.includes(seed)) seeds.push(seed);
  }
  return seeds.join(",");
}

function drawAddresses(body, c) {
  if (!c.addresses.length) {
    body.replaceChildren(h("h2", { text: "Addresses" }), h("p.note", { text: "Addresses appear once the cluster is running." }));
    return;
  }
  const item = (scope, a, uri) => h("li", { "data-name": a.name, "data-scope": scope },
    h("strong", { text: a.name }), " ", h("span.scope", { text: scope }), copyRow(uri, scope + " " + a.name));
  const pub = c.public_access.enabled && c.public_endpoint ? c.public_endpoint.dns_name : null;
  const endpoints = h("section", { id: "cluster-endpoint-addresses" });
  const names = [c.dns_name].concat(c.nodes.map((n) => n.dns_name)).filter(Boolean).sort((a, b) => b.length - a.length);
  body.replaceChildren(h("h2", { text: "Addresses" }),
    h("h3", { text: "Private: from peered networks" }),
    h("ul.copylist", { id: "addresses" }, c.addresses.map((a) => item("private", a, a.uri))),
    h("h3", { text: "Public: from the public allow-list" }),
    pub
      ? h("ul.copylist", { id: "public-addresses" }, c.addresses.map((a) => item("public", a, publicUri(a.uri, names, pub))))
      : h("p.note", { id: "public-addresses-off", text: "Public access is off: no public address." }),
    endpoints);
  drawEndpointAddresses(endpoints, c).catch((e) => { endpoints.textContent = String(e); });
}

/** Egress rules as lines: "CIDR[:PORT,PORT] comment". */
function egressText(rules) {
  return rules.map((r) => r.cidr + (r.ports.length ? ":" + r.ports.join(",") : "") + (r.comment ? " " + r.comment : "")).join("\n");
}

/** "CIDR[:PORT,PORT] comment" lines → egress rules (a bad port is left for the API to name). */
function parseEgress(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [target, ...comment] = l.split(/\s+/);
    const [cidr, ports] = target.split(":");
    return { cidr, ports: ports ? ports.split(",").filter(Boolean).map(Number) : [], comment: comment.join(" ") };
  });
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
  const egressList = h("textarea", { rows: 4, disabled: !canWrite(), placeholder: "empty: no destination in peered networks" });
  egressList.value = egressText(c.egress_allowlist || []);
  [enabled, list, privateList, egressList].forEach((el) => el.addEventListener("input", startEdit));
  const patch = async (f, body, message) => {
    let r = await api("PATCH", path, body, { "If-Match": '"' + c.version + '"' });
    // The controller's status writes move the version too. When what this form edits is
    // still what it was drawn from, the edit applies to the current version (as the
    // CLI's re-read); a change by someone else is shown, not overwritten.
    if (r.status === 412) {
      const now = await api("GET", path);
      const same = now.ok && Object.keys(body).every((k) => JSON.stringify(now.data[k]) === JSON.stringify(c[k]));
      if (same) r = await api("PATCH", path, body, { "If-Match": '"' + now.data.version + '"' });
    }
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
  const egressForm = formShell("Egress allow-list", (f) =>
    patch(f, { egress_allowlist: parseEgress(egressList.value) }, "Egress allow-list saved."),
  [field("egress-allowlist", "Destinations in peered networks the nodes may connect to (CIDR[:PORT,PORT] comment; empty: none)", "egress_allowlist", egressList)],
  "Save egress allow-list");
  for (const fm of [form, privateForm, egressForm]) if (!canWrite()) fm.querySelector("button[type=submit]").remove();
  const endpoint = c.public_endpoint
    ? h("p", {}, "Public endpoint: ", h("code", { text: c.public_endpoint.dns_name }), " (" + c.public_endpoint.ip + ")")
    : h("p.note", { text: "No public endpoint: public access is off." });
  const warnings = (c.warnings || []).map((w) => h("p.warning", { text: w }));
  body.replaceChildren(endpoint, ...warnings, form, privateForm, egressForm);
}

// ---- VPN gateways: clients with their states, add, revoke, rotate, config ---------------

function vpnGatewayPanel(page) {
  const clientsPath = page.path + "/clients";
  const list = h("div", { id: "vpn-clients" });
  const secret = h("div", { id: "vpn-secret" });
  let adding = false;
  // A private key the server made is in one answer only: shown here until the next action.
  const showSecret = (c, key) => {
    secret.replaceChildren(h("p.note", { text: "The private key of " + c.name + ", shown once (Isthmus does not keep it):" }),
      copyRow(key, "private key"));
  };
  const download = async (c, qr) => {
    const url = clientsPath + "/" + encodeURIComponent(c.id) + "/config" + (qr ? "?format=qr" : "");
    const r = await fetch(url, { headers: { Authorization: "Bearer " + state.token } });
    if (!r.ok) { page.alert.textContent = "The config of " + c.name + " could not be downloaded."; return; }
    const link = h("a", { href: URL.createObjectURL(await r.blob()), download: c.name + (qr ? ".png" : ".conf") });
    document.body.append(link);
    link.click();
    link.remove();
    say("Downloaded the config of " + c.name + ".");
  };
  const act = async (c, method, path, done) => {
    const r = await api(method, path, method === "POST" ? {} : undefined);
    if (!r.ok) { page.alert.textContent = problemText(r); return; }
    page.alert.textContent = "";
    done(r.data);
    await load();
  };
  const row = (c) => h("tr", { id: "vpn-client-" + c.id },
    h("td", { text: c.name }), h("td", {}, h("code", { text: c.address })),
    h("td.vpn-state", { text: c.status }), h("td", { text: c.last_handshake_at ? when(c.last_handshake_at) : "never" }),
    h("td", { text: String(c.denied_flows) }), h("td", { text: when(c.expires_at) }),
    h("td.actions", {},
      h("button.small", { type: "button", id: "vpn-config-" + c.id, onclick: () => download(c, false) }, "Config"),
      h("button.small", { type: "button", id: "vpn-qr-" + c.id, onclick: () => download(c, true) }, "QR"),
      canWrite() && c.status !== "deleting" ? h("button.small", { type: "button", id: "vpn-rotate-" + c.id,
        onclick: () => act(c, "POST", clientsPath + "/" + encodeURIComponent(c.id) + "/rotate",
          (rotated) => { if (rotated.private_key) showSecret(rotated, rotated.private_key); say("Rotated the key of " + c.name + "."); }) }, "Rotate") : null,
      canWrite() && c.status !== "deleting" ? h("button.small", { type: "button", id: "vpn-revoke-" + c.id,
        onclick: () => act(c, "DELETE", projectPath("/vpn-clients/" + encodeURIComponent(c.id)),
          () => say("Revoking " + c.name + ".")) }, "Revoke") : null));
  const load = async () => {
    const r = await api("GET", clientsPath);
    if (!r.ok) { page.alert.textContent = problemText(r); return; }
    list.replaceChildren(r.data.length
      ? h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Address", "State", "Last handshake", "Denied", "Expires", ""].map((t) => h("th", { text: t })))),
        h("tbody", {}, r.data.map(row)))
      : h("p.note", { text: "No clients yet." }));
  };
  const addForm = () => {
    const name = h("input", { type: "text" });
    const grants = h("textarea", { rows: 2, placeholder: "CLUSTER_ID:5432" });
    return formShell("Add a client", async (form) => {
      const parsed = grants.value.split("\n").map((g) => g.trim()).filter(Boolean).map((g) => {
        const [cluster_id, ports] = g.split(":");
        return { cluster_id, ports: (ports || "").split(",").filter((p) => p).map(Number) };
      });
      const r = await api("POST", clientsPath, { name: name.value, grants: parsed });
      if (!r.ok) return showProblem(form, r);
      clearErrors(form);
      adding = false;
      if (r.data.private_key) showSecret(r.data, r.data.private_key);
      say("Added " + r.data.name + ".");
      await page.refresh();
      await load();
    }, [field("vpn-client-name", "Name", "name", name),
      field("vpn-client-grants", "Grants (CLUSTER_ID:PORT,PORT, one per line)", "grants", grants),
      h("div.actions", {}, h("button", { type: "button", onclick: () => { adding = false; page.refresh(); load(); } }, "Cancel"))], "Add client");
  };
  const draw = () => {
    const controls = h("div.actions", {},
      h("button", { type: "button", id: "vpn-clients-refresh", onclick: load }, "Refresh clients"),
      canWrite() ? h("button", { type: "button", id: "vpn-client-add", onclick: () => {
        adding = true;
        controls.after(addForm());
        page.body.querySelector("#vpn-client-name").focus();
      } }, "Add client") : null);
    page.body.replaceChildren(controls, secret, h("h2", { text: "Clients" }), list);
    load();
  };
  return { draw, editing: () => adding, busy: () => false };
}
