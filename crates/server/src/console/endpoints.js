// The Isthmus web console: private endpoints. The endpoint service's panel (its
// customers' connections with Accept and Reject, and what the customer runs) and the
// private-endpoint part of a cluster's Addresses tab.
"use strict";

/** The operator's decision is on its way to the provider (or the service is going). */
function connectionMoving(c) {
  if (c.status === "deleting") return true;
  if (c.decision === "accepted") return c.status === "pending_acceptance";
  if (c.decision === "rejected") return c.status === "pending_acceptance" || c.status === "available";
  return false;
}

function endpointServicePanel(page) {
  const connectionsPath = page.path + "/connections/";
  const decide = async (c, verb) => {
    const r = await api("POST", connectionsPath + encodeURIComponent(c.id) + "/" + verb, {});
    if (!r.ok) { page.alert.textContent = problemText(r); return; }
    page.alert.textContent = "";
    // A reject of an available connection cuts its flows: the answer's warnings say which.
    const warnings = (r.data.warnings || []).join(" ");
    say((verb === "accept" ? "Accepting " : "Rejecting ") + c.endpoint_id + "." + (warnings ? " " + warnings : ""));
    await page.refresh();
  };
  const buttons = (c) => {
    if (!canWrite() || connectionMoving(c)) return null;
    const accept = c.status === "pending_acceptance"
      ? h("button.small", { type: "button", id: "epc-accept-" + c.id, "aria-label": "Accept " + c.endpoint_id,
        onclick: () => decide(c, "accept") }, "Accept") : null;
    const reject = c.status === "pending_acceptance" || c.status === "available"
      ? h("button.small.danger", { type: "button", id: "epc-reject-" + c.id, "aria-label": "Reject " + c.endpoint_id,
        onclick: () => decide(c, "reject") }, "Reject") : null;
    return accept || reject ? h("span.actions", {}, accept, reject) : null;
  };
  const row = (s, c) => h("tr", { id: "epc-" + c.id, "data-status": c.status },
    h("td", {}, h("code", { text: c.endpoint_id }), h("div.scope.epc-id", { text: c.id })),
    h("td", {}, h("code", { text: c.principal }), h("div.scope", { text: c.network })),
    h("td.epc-state", { title: c.status_message },
      badge(c.status, connectionMoving(c) ? "moving" : phaseOf("endpoint_connection", c.status)),
      h("div.scope.epc-provider-state", { text: providerName(s.provider) + ": " + c.provider_state })),
    h("td.opt.epc-counters", { text: c.connections + " conn., " + bytesText(c.bytes) }),
    h("td", {}, buttons(c)));
  const draw = (s) => {
    const todo = s.customer_actions || [];
    page.body.replaceChildren(
      h("h2", { text: "Connections" }),
      h("div.table-wrap", { id: "endpoint-connections" },
        table(["Endpoint", "Principal and network", "State", h("th.opt", { scope: "col", text: "Counters" }),
          h("th", { scope: "col" }, h("span", { text: "Actions" }))],
        s.connections.map((c) => row(s, c)), "No connections yet: customers create endpoints with the commands below.")),
      h("h2", { text: "Run these on the customer's side" }),
      todo.length
        ? h("ul.copylist", { id: "customer-actions" }, todo.map((a, i) =>
          h("li", {}, h("span", { text: a.description }), copyRow(a.command, "command " + (i + 1)))))
        : h("p.note", { id: "customer-actions-none", text: "Nothing left to run on the customer's side." }));
  };
  // A decision on its way to the provider settles in seconds: watch it closely.
  return { draw, editing: () => false, busy: (s) => s.connections.some(connectionMoving) };
}

function providerName(provider) {
  return { aws: "AWS", gcp: "GCP", azure: "Azure", local: "Lab" }[provider] || provider;
}

function bytesText(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

/** The cluster's endpoint services on its Addresses tab: each service name customers
 *  point an endpoint at, and for each available connection the name that resolves to
 *  the endpoint inside that customer's VPC. Fetched when the tab is drawn. */
async function drawEndpointAddresses(section, cluster) {
  const services = (await listAll(projectPath("/endpoint-services"))).filter((s) => s.cluster_id === cluster.id);
  if (!services.length) {
    section.replaceChildren(h("h3", { text: "Private endpoint: from customers' VPCs" }),
      h("p.note", { id: "endpoint-addresses-none", text: "No endpoint service publishes this cluster." }));
    return;
  }
  const items = services.flatMap((s) => {
    const service = h("li", { "data-name": s.service_name, "data-scope": "private endpoint service" },
      h("strong", { text: s.name }), " ", h("span.scope", { text: "private endpoint service name" }),
      copyRow(s.service_name, "service name of " + s.name));
    const resolved = s.connections.filter((c) => c.status === "available").map((c) =>
      h("li", { "data-name": s.cluster_dns_name, "data-scope": "private endpoint", "data-endpoint": c.endpoint_id },
        h("strong", { text: s.cluster_dns_name }), " ",
        h("span.scope", { text: "private endpoint: resolves to " + c.endpoint_id + " inside " + c.network }),
        copyRow(s.cluster_dns_name, "private endpoint name for " + c.endpoint_id)));
    return [service, ...resolved];
  });
  section.replaceChildren(h("h3", { text: "Private endpoint: from customers' VPCs" }),
    h("ul.copylist", { id: "endpoint-addresses" }, items));
}
