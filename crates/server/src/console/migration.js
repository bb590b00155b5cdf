// The Isthmus web console: the migration page's panel. Lag and copy rate over the last
// ten minutes as a small chart (the series the controller keeps in progress.history), the
// per-stream counters, and the cut-over: a button, a confirmation that says what it does,
// then the report with each moved consumer's proof. Loaded after panels.js, whose PANELS
// it adds itself to.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element (h() makes HTML elements only). */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Drawn at the panel's own width (text stays 12 px on a phone and on a laptop), and as
// tall as a phone's width allows.
const CHART = { h: 180, left: 44, right: 52, top: 12, bottom: 26 };
const LAG_COLOUR = "#cf222e";
const RATE_COLOUR = "#0b5cad";

/** 12345 → "12.3k", 0.5 → "0.5": short enough for an axis. */
function short(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return n >= 10 || Number.isInteger(n) ? n.toFixed(0) : n.toFixed(1);
}

function clock(iso) { return iso ? iso.slice(11, 19) : ""; }

/** Lag (events, left axis) and rate (events/s, right axis) against time, each line on its
 *  own scale; the caption says the latest figures in words. */
function migrationChart(history, pixels) {
  const c = Object.assign({ w: Math.max(300, Math.min(1200, Math.round(pixels))) }, CHART);
  const width = c.w - c.left - c.right, height = c.h - c.top - c.bottom;
  const times = history.map((s) => Date.parse(s.at));
  const t0 = times[0], t1 = Math.max(times[times.length - 1], t0 + 1);
  const lagMax = Math.max(1, ...history.map((s) => s.lag_events));
  const rateMax = Math.max(1, ...history.map((s) => s.rate));
  const x = (t) => c.left + ((t - t0) / (t1 - t0)) * width;
  const y = (v, max) => c.top + height - (v / max) * height;
  const line = (values, max, colour, id) => svg("polyline", { id, fill: "none", stroke: colour, "stroke-width": 2,
    "stroke-linejoin": "round", points: values.map((v, i) => x(times[i]).toFixed(1) + "," + y(v, max).toFixed(1)).join(" ") });
  const last = history[history.length - 1];
  const summary = "Lag and copy rate over " + Math.round((t1 - t0) / 60000) + " min: lag now " + last.lag_events +
    " events, copying " + Math.round(last.rate) + " events/s (highest " + Math.round(rateMax) + "/s)";
  const label = (text, attrs) => svg("text", Object.assign({ "font-size": 12, fill: "#57606a" }, attrs), text);
  return h("figure.panel", { id: "migration-chart" },
    svg("svg", { viewBox: "0 0 " + c.w + " " + c.h, width: "100%", role: "img", "aria-label": summary },
      svg("title", {}, summary),
      svg("rect", { x: c.left, y: c.top, width, height, fill: "#fff", stroke: "#d0d7de" }),
      svg("line", { x1: c.left, x2: c.left + width, y1: c.top + height / 2, y2: c.top + height / 2, stroke: "#eaeef2" }),
      label(short(Math.round(lagMax)), { x: c.left - 6, y: c.top + 10, "text-anchor": "end", fill: LAG_COLOUR }),
      label("0", { x: c.left - 6, y: c.top + height, "text-anchor": "end" }),
      label(short(rateMax) + "/s", { x: c.left + width + 6, y: c.top + 10, fill: RATE_COLOUR }),
      label("0/s", { x: c.left + width + 6, y: c.top + height }),
      label(clock(history[0].at), { x: c.left, y: c.h - 6 }),
      label(clock(last.at) + " UTC", { x: c.left + width, y: c.h - 6, "text-anchor": "end" }),
      line(history.map((s) => s.rate), rateMax, RATE_COLOUR, "migration-chart-rate"),
      line(history.map((s) => s.lag_events), lagMax, LAG_COLOUR, "migration-chart-lag")),
    h("figcaption.note", {},
      h("span.legend-lag", { text: "━ Lag (events, left)" }), " · ",
      h("span.legend-rate", { text: "━ Copied events/s (right)" }),
      " — one sample per 5 s, the last 10 minutes."));
}

function streamTable(progress) {
  const rows = (progress.streams || []).map((s) => {
    const filtered = Object.entries(s.filtered || {}).map(([why, n]) => why + ": " + n).join(", ");
    return h("tr", { "data-stream": s.stream },
      h("td", {}, h("code", { text: s.stream })),
      h("td", { text: s.source_first_seq + "–" + s.source_end_seq }),
      h("td", { text: String(s.copied_through) }),
      h("td", { text: String(s.target_last_seq) }),
      h("td", { text: String(s.source_gaps) }),
      h("td", { text: filtered || "0" }));
  });
  return h("div.table-wrap", { id: "migration-streams" },
    table(["Stream", "Source range", "Copied through", "Target last", "Deleted/purged in source", "Filtered"], rows,
      "No stream reported yet."));
}

function cutoverReport(report) {
  const ends = Object.entries(report.end || {}).map(([stream, seq]) => stream + " #" + seq).join(", ");
  const rows = (report.consumers || []).map((p) => h("tr", { "data-consumer": p.consumer },
    h("td", {}, h("code", { text: p.stream + " / " + p.consumer })),
    h("td", { text: String(p.source_ack_floor) }),
    h("td", { text: String(p.target_start) }),
    h("td", { text: String(p.source_remaining) }),
    h("td", { text: String(p.target_remaining) }),
    h("td", { text: String(p.lag) })));
  return h("section", { id: "migration-cutover-report", "aria-label": "Cut-over report" },
    h("p", { text: "Waited until the source's end was in the target: " + (ends || "no streams") + "." }),
    h("div.table-wrap", {}, table(["Consumer", "Source ack floor", "Target start", "Left on source", "Left on target", "Lag"],
      rows, "The source had no durable consumers to move.")));
}

const CUTOVER_READY = ["live", "ready_for_cutover"];
const RUNNING = ["provisioning", "copying", "live", "ready_for_cutover", "cut_over"];

/** The panel keeps its parts between progress updates: the chart and the stream table are
 *  drawn again, but the cut-over section is rebuilt only when what it offers changes (a
 *  button appears, the confirmation opens, the report arrives). A user's click on a button
 *  therefore never lands on one that a progress update replaced under the pointer. */
function migrationPanel(page) {
  let confirming = false;
  let sending = false;
  let current = null;
  const chart = h("div", { id: "migration-chart-slot" });
  const streams = h("div", { id: "migration-streams-slot" });
  const cut = h("div", { id: "migration-cutover-slot" });
  let cutKey = null;
  const cutover = async (button) => {
    sending = true;
    button.disabled = true;
    button.textContent = "Cutting over…";
    say("Cutting over: waiting for the source's end in the target.");
    const r = await api("POST", page.path + "/cutover", { timeout_seconds: 120 });
    sending = false;
    confirming = false;
    page.alert.textContent = r.ok ? "" : "Cut-over refused: " + problemText(r);
    say(r.ok ? "Cut over; the replicator stops." : "The cut-over was refused.");
    await page.refresh();
  };
  const notReady = (m) => m.status === "ready_for_cutover" ? ""
    : "Not ready yet: " + (m.progress.warning || "events are still being copied") +
      ". The cut-over waits for them, or is refused if the copy cannot catch up.";
  const confirmBox = (m) => h("div.panel", { id: "migration-cutover-confirm", role: "group", "aria-label": "Confirm the cut-over" },
    h("p", {}, h("strong", { text: "Stop every writer of the source first. " }),
      "The cut-over waits (up to 2 minutes) until the source's last event is in the target, then recreates the " +
      "source's durable consumers on the target at their translated positions. The replicator then stops; " +
      "this cannot be undone."),
    h("p.warning", { id: "migration-cutover-not-ready", text: notReady(m), hidden: notReady(m) === "" }),
    h("div.actions", {},
      h("button.primary", { type: "button", id: "migration-cutover-go", onclick: (e) => cutover(e.currentTarget) }, "Confirm cut-over"),
      h("button", { type: "button", id: "migration-cutover-cancel", onclick: () => { confirming = false; draw(current); } }, "Cancel")));
  const openButton = () => h("div.actions", {}, h("button", { type: "button", id: "migration-cutover",
    onclick: () => {
      confirming = true;
      draw(current);
      // In full view above the status bar, the safe choice (Cancel) beside the focus.
      document.getElementById("migration-cutover-confirm").scrollIntoView({ block: "center" });
      document.getElementById("migration-cutover-go").focus({ preventScroll: true });
    } }, "Cut over…"));
  const unavailable = (m) => RUNNING.includes(m.status) ? "The cut-over opens once the copy has caught up (live)." : "No cut-over was made.";
  /** What the cut-over section offers now: rebuilt only when this changes. */
  const offer = (m) => m.cutover ? "report:" + JSON.stringify(m.cutover)
    : confirming ? "confirm"
      : canWrite() && CUTOVER_READY.includes(m.status) ? "button" : "note";
  const drawCutover = (m) => {
    const key = offer(m);
    if (key !== cutKey) {
      cutKey = key;
      cut.replaceChildren(key.startsWith("report:") ? cutoverReport(m.cutover)
        : key === "confirm" ? confirmBox(m)
          : key === "button" ? openButton()
            : h("p.note", { id: "migration-cutover-unavailable", text: unavailable(m) }));
      return;
    }
    // The same offer: only its words follow the progress.
    const warning = document.getElementById("migration-cutover-not-ready");
    if (key === "confirm" && warning) { warning.textContent = notReady(m); warning.hidden = notReady(m) === ""; }
    const note = document.getElementById("migration-cutover-unavailable");
    if (key === "note" && note) note.textContent = unavailable(m);
  };
  const draw = (m) => {
    current = m;
    const p = m.progress || {};
    const history = p.history || [];
    if (!page.body.contains(cut)) {
      page.body.replaceChildren(h("h2", { text: "Lag and rate" }), chart, h("h2", { text: "Streams" }), streams,
        h("h2", { text: "Cut-over" }), cut);
    }
    chart.replaceChildren(history.length >= 2 ? migrationChart(history, page.body.clientWidth - 30)
      : h("p.note", { id: "migration-chart-none", text: "The chart starts once the replicator has reported twice (every 5 s)." }));
    streams.replaceChildren(streamTable(p));
    drawCutover(m);
  };
  // The chart is drawn at the panel's width: drawn again when the window changes size
  // (until the page is left).
  const resized = () => {
    if (!page.body.isConnected) { window.removeEventListener("resize", resized); return; }
    if (current && !confirming && !sending) draw(current);
  };
  window.addEventListener("resize", resized);
  return { draw, editing: () => confirming || sending, busy: (m) => RUNNING.includes(m.status) };
}

PANELS.migration = migrationPanel;
