// The Isthmus web console: the project's egress allow-list on one page (issue 17, item
// 13): every cluster's rules (the destinations in peered networks its nodes may open
// connections to) in one table, with Add (in a dialog) and Remove (in two steps). Each
// change is a PATCH of the cluster's `egress_allowlist`, as `isthmus cluster update
// --egress / --remove-egress` sends; the cluster's Access tab edits the same list.
"use strict";

function egressRule(r) { return { cidr: r.cidr, ports: r.ports || [], comment: r.comment || "" }; }

/** Replaces the egress list of `cluster` with `rules`. A version moved by the controller's
 *  status writes is no conflict: when the list is still the one shown, the change is
 *  applied to the current version; a list changed by someone else is not overwritten. */
async function patchEgress(cluster, rules) {
  const path = projectPath("/clusters/" + encodeURIComponent(cluster.id));
  const send = (version) => api("PATCH", path, { egress_allowlist: rules }, { "If-Match": '"' + version + '"' });
  let r = await send(cluster.version);
  if (r.status === 412) {
    const now = await api("GET", path);
    const same = now.ok && JSON.stringify(now.data.egress_allowlist) === JSON.stringify(cluster.egress_allowlist);
    if (same) r = await send(now.data.version);
  }
  return r;
}

async function showEgress() {
  const alert = h("p.alert", { role: "alert", id: "page-alert" });
  const list = h("div.table-wrap", { id: "egress-table" });
  const pending = { key: null };
  const memo = {};
  let clusters = [];
  let draw = async () => false;
  const addForm = (close) => {
    const cluster = select(clusters.map((c) => [c.id, c.name]), clusters.length ? clusters[0].id : "");
    const cidr = input({ required: true, placeholder: "172.16.0.0/16" });
    const ports = input({ placeholder: "443, 8443 (empty: every port)" });
    const comment = input({});
    return formShell("Add egress rule", async (form) => {
      const c = clusters.find((x) => x.id === cluster.value);
      if (!c) return showProblem(form, { status: 422, data: { detail: "Choose a cluster", errors: [{ field: "cluster", message: "no cluster chosen" }] } });
      const rule = { cidr: cidr.value.trim(), ports: lines(ports.value).map(Number), comment: comment.value.trim() };
      const r = await patchEgress(c, c.egress_allowlist.map(egressRule).concat([rule]));
      if (!r.ok) return showProblem(form, r);
      close();
      say("Egress rule " + rule.cidr + " added to " + c.name + ".");
      memo.last = null;
      await draw();
    }, [field("egress-cluster", "Cluster", "cluster", cluster),
      // The API names a bad rule as egress_allowlist[N]…: it shows under the CIDR.
      field("egress-cidr", "Destination CIDR (a bare IP is a /32)", "egress_allowlist", cidr),
      field("egress-ports", "Ports (comma separated; empty: every port)", "ports", ports),
      field("egress-comment", "Comment", "comment", comment)], "Add rule");
  };
  const toolbar = canWrite()
    ? h("div.toolbar", {}, createButton("egress-create", "Add egress rule", addForm))
    : viewOnlyNote();
  main().replaceChildren(h("h1", { text: "Egress allow-list" }),
    h("p.note", { text: "Where each cluster's nodes may open connections in your peered networks. Empty: nowhere." }),
    toolbar, alert, list);

  const remove = async (c, index) => {
    pending.key = null;
    const rule = c.egress_allowlist[index];
    const r = await patchEgress(c, c.egress_allowlist.filter((_, i) => i !== index).map(egressRule));
    alert.textContent = r.ok ? "" : "Cannot remove " + rule.cidr + " from " + c.name + ": " + problemText(r);
    if (r.ok) say("Egress rule " + rule.cidr + " removed from " + c.name + ".");
    memo.last = null;
    await draw();
  };
  draw = async () => {
    const all = await listAll(projectPath("/clusters"));
    clusters = all.filter((c) => c.status !== "deleting" && c.status !== "deleted");
    if (!changed(memo, [clusters, pending.key])) return false;
    const base = "#/p/" + encodeURIComponent(state.project.id) + "/clusters/";
    const rows = clusters.flatMap((c) => c.egress_allowlist.map((rule, i) => {
      const key = c.id + "/" + i;
      const what = rule.cidr + " of " + c.name;
      const action = !canWrite() ? null : pending.key !== key
        ? h("button.danger.small", { type: "button", "aria-label": "Remove " + what,
          onclick: () => { pending.key = key; memo.last = null; draw(); } }, "Remove")
        : h("span.actions", {},
          h("button.danger.confirm.small", { type: "button", "aria-label": "Confirm remove " + what,
            onclick: () => remove(c, i) }, "Confirm remove"),
          h("button.small", { type: "button", onclick: () => { pending.key = null; memo.last = null; draw(); } }, "Cancel"));
      return h("tr", { "data-cluster": c.name, "data-cidr": rule.cidr },
        h("td", {}, h("a", { href: base + encodeURIComponent(c.id) + "/access", text: c.name })),
        h("td", {}, h("code", { text: rule.cidr })),
        h("td", { text: rule.ports.length ? rule.ports.join(", ") : "all" }),
        h("td.opt", { text: rule.comment || "" }),
        canWrite() ? h("td", {}, action) : null);
    }));
    const headers = ["Cluster", "Destination", "Ports", h("th.opt", { scope: "col", text: "Comment" })];
    if (canWrite()) headers.push(h("th", { scope: "col", text: "Actions" }));
    list.replaceChildren(table(headers, rows, clusters.length ? "No egress rules: the clusters' nodes reach nothing in your networks." : "No clusters yet."));
    return false;
  };
  return draw;
}
